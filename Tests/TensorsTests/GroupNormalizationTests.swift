import XCTest
import Tensors

/// groupNorm and groupNormSiLU against direct computations in Double, finite-difference
/// gradients and Float.
final class GroupNormalizationTests: XCTestCase {
    /// Shapes with no, one, two and three spatial axes, one group (layer normalisation),
    /// one channel per group (instance normalisation) and groups in between.
    let cases: [(shape: [Int], groups: Int)] = [
        ([2, 6, 3, 4], 3),
        ([3, 4], 2),
        ([2, 4, 5], 1),
        ([2, 3, 2, 3], 3),
        ([2, 4, 2, 3, 2], 2),
        ([5, 8, 4, 4], 4),
    ]

    func testMatchesDirectComputation() {
        for (shape, groups) in cases {
            let channels = shape[1]
            // An offset and a spread far from 0 and 1 test the centring and the scaling.
            let x = testTensor(shape, seed: 1) * 3 + 5
            let scale = testTensor([channels], seed: 2)
            let offset = testTensor([channels], seed: 3)
            let expected = directGroupNorm(x, groups: groups, scale: scale, offset: offset, epsilon: 1e-5)
            let actual = groupNorm(x, groups: groups, scale: scale, offset: offset)
            XCTAssertEqual(actual.shape, shape)
            XCTAssertLessThan(maxAbsoluteDifference(actual, expected), 1e-12, "shape \(shape), groups \(groups)")
        }
    }

    func testVariableValueMatchesTensor() {
        let x = testTensor([2, 6, 3, 4], seed: 4)
        let scale = testTensor([6], seed: 5)
        let offset = testTensor([6], seed: 6)
        let tensorResult = groupNorm(x, groups: 2, scale: scale, offset: offset, epsilon: 1e-3)
        let variableResult = groupNorm(
            Variable(x, requiresGrad: true), groups: 2, scale: Variable(scale), offset: Variable(offset), epsilon: 1e-3)
        XCTAssertEqual(variableResult.value, tensorResult)
    }

    func testGradients() {
        for (shape, groups) in cases {
            let channels = shape[1]
            let x = testTensor(shape, seed: 7) * 2 + 1
            let scale = testTensor([channels], seed: 8)
            let offset = testTensor([channels], seed: 9)
            let result = checkGradients(at: [x, scale, offset]) {
                groupNorm($0[0], groups: groups, scale: $0[1], offset: $0[2])
            }
            XCTAssertLessThan(result.maxRelativeError, 1e-6, "shape \(shape), groups \(groups): \(result)")
        }
    }

    /// The scale and offset gradients when the input is a constant, the path that skips dx.
    func testParameterGradientsForConstantInput() {
        let x = testTensor([3, 4, 2, 5], seed: 10)
        let cotangent = testTensor([3, 4, 2, 5], seed: 11)
        let scale = Variable(testTensor([4], seed: 12), requiresGrad: true)
        let offset = Variable(testTensor([4], seed: 13), requiresGrad: true)
        let full = vectorJacobianProduct(at: [x, scale.value, offset.value], cotangent: cotangent) {
            groupNorm($0[0], groups: 2, scale: $0[1], offset: $0[2])
        }
        let output = groupNorm(Variable(x), groups: 2, scale: scale, offset: offset)
        let partial = gradients(of: output, withRespectTo: [scale, offset], cotangent: cotangent)
        XCTAssertLessThan(maxAbsoluteDifference(partial[0], full.inputGradients[1]), 1e-12)
        XCTAssertLessThan(maxAbsoluteDifference(partial[1], full.inputGradients[2]), 1e-12)
    }

    /// Float against Double on the same data. Normalised values are O(1), and each
    /// statistic sums 2 · 16 = 32 to 128 Float terms, so errors stay near 1e-6; 1e-4 bounds
    /// them with room and still catches any formula error.
    func testFloatMatchesDouble() {
        let x = testTensor([5, 8, 4, 4], seed: 14) * 2 + 1
        let scale = testTensor([8], seed: 15)
        let offset = testTensor([8], seed: 16)
        let cotangent = testTensor([5, 8, 4, 4], seed: 17)

        let double = groupNorm(x, groups: 4, scale: scale, offset: offset)
        let float = groupNorm(Tensor<Float>(x), groups: 4, scale: Tensor<Float>(scale), offset: Tensor<Float>(offset))
        XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(float), double), 1e-5)

        let doubleGradients = vectorJacobianProduct(at: [x, scale, offset], cotangent: cotangent) {
            groupNorm($0[0], groups: 4, scale: $0[1], offset: $0[2])
        }
        let floatGradients = vectorJacobianProduct(
            at: [Tensor<Float>(x), Tensor<Float>(scale), Tensor<Float>(offset)], cotangent: Tensor<Float>(cotangent)
        ) {
            groupNorm($0[0], groups: 4, scale: $0[1], offset: $0[2])
        }
        for (float, double) in zip(floatGradients.inputGradients, doubleGradients.inputGradients) {
            XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(float), double), 1e-4)
        }
    }

    // MARK: groupNormSiLU

    /// The fused op against the two ops in turn, in Double, where SiLU uses libm's tanh.
    func testSiLUMatchesComposition() {
        for (shape, groups) in cases {
            let channels = shape[1]
            let x = testTensor(shape, seed: 18) * 3 + 5
            let scale = testTensor([channels], seed: 19)
            let offset = testTensor([channels], seed: 20)
            let expected = silu(groupNorm(x, groups: groups, scale: scale, offset: offset))
            let fused = groupNormSiLU(x, groups: groups, scale: scale, offset: offset)
            XCTAssertEqual(fused.shape, shape)
            XCTAssertLessThan(maxAbsoluteDifference(fused, expected), 1e-12, "shape \(shape), groups \(groups)")
        }
    }

    func testSiLUGradients() {
        for (shape, groups) in cases {
            let channels = shape[1]
            let x = testTensor(shape, seed: 21) * 2 + 1
            let scale = testTensor([channels], seed: 22)
            let offset = testTensor([channels], seed: 23)
            let result = checkGradients(at: [x, scale, offset]) {
                groupNormSiLU($0[0], groups: groups, scale: $0[1], offset: $0[2])
            }
            XCTAssertLessThan(result.maxRelativeError, 1e-6, "shape \(shape), groups \(groups): \(result)")
        }
    }

    /// The scale and offset gradients when the input is a constant, the path that keeps
    /// the activation's cotangent in a scratch row instead of dx.
    func testSiLUParameterGradientsForConstantInput() {
        let x = testTensor([3, 4, 2, 5], seed: 24)
        let cotangent = testTensor([3, 4, 2, 5], seed: 25)
        let scale = Variable(testTensor([4], seed: 26), requiresGrad: true)
        let offset = Variable(testTensor([4], seed: 27), requiresGrad: true)
        let full = vectorJacobianProduct(at: [x, scale.value, offset.value], cotangent: cotangent) {
            groupNormSiLU($0[0], groups: 2, scale: $0[1], offset: $0[2])
        }
        let output = groupNormSiLU(Variable(x), groups: 2, scale: scale, offset: offset)
        let partial = gradients(of: output, withRespectTo: [scale, offset], cotangent: cotangent)
        XCTAssertLessThan(maxAbsoluteDifference(partial[0], full.inputGradients[1]), 1e-12)
        XCTAssertLessThan(maxAbsoluteDifference(partial[1], full.inputGradients[2]), 1e-12)
    }

    /// In Float the fused op runs the same operations in the same order as group norm and
    /// SiLU in turn, so the values and all three gradients agree bit for bit. A batch of 64
    /// splits across cores, as in a U-Net.
    func testSiLUFloatEqualsComposition() {
        let x = Tensor<Float>(testTensor([64, 8, 6, 5], seed: 28) * 2 + 1)
        let scale = Tensor<Float>(testTensor([8], seed: 29))
        let offset = Tensor<Float>(testTensor([8], seed: 30))
        let cotangent = Tensor<Float>(testTensor([64, 8, 6, 5], seed: 31))

        XCTAssertEqual(
            groupNormSiLU(x, groups: 4, scale: scale, offset: offset),
            silu(groupNorm(x, groups: 4, scale: scale, offset: offset)))

        let fused = vectorJacobianProduct(at: [x, scale, offset], cotangent: cotangent) {
            groupNormSiLU($0[0], groups: 4, scale: $0[1], offset: $0[2])
        }
        let composed = vectorJacobianProduct(at: [x, scale, offset], cotangent: cotangent) {
            silu(groupNorm($0[0], groups: 4, scale: $0[1], offset: $0[2]))
        }
        XCTAssertEqual(fused.value, composed.value)
        XCTAssertEqual(fused.inputGradients[0], composed.inputGradients[0], "input gradient")
        XCTAssertEqual(fused.inputGradients[1], composed.inputGradients[1], "scale gradient")
        XCTAssertEqual(fused.inputGradients[2], composed.inputGradients[2], "offset gradient")
    }

    /// Straight from the definition: mean and biased variance of each (sample, group) by
    /// explicit loops over its elements.
    func directGroupNorm(
        _ x: Tensor<Double>, groups: Int, scale: Tensor<Double>, offset: Tensor<Double>, epsilon: Double
    ) -> Tensor<Double> {
        let (batch, channels) = (x.shape[0], x.shape[1])
        let spatial = x.shape.dropFirst(2).reduce(1, *)
        let perGroup = channels / groups
        let input = x.scalars
        var output = input
        for n in 0..<batch {
            for group in 0..<groups {
                let channelRange = (group * perGroup)..<((group + 1) * perGroup)
                var indices: [Int] = []
                for channel in channelRange {
                    let start = (n * channels + channel) * spatial
                    indices.append(contentsOf: start..<(start + spatial))
                }
                var sum = 0.0
                for index in indices { sum += input[index] }
                let mean = sum / Double(indices.count)
                var squares = 0.0
                for index in indices { squares += (input[index] - mean) * (input[index] - mean) }
                let standardDeviation = (squares / Double(indices.count) + epsilon).squareRoot()
                for index in indices {
                    let channel = (index / spatial) % channels
                    output[index] = scale[channel] * (input[index] - mean) / standardDeviation + offset[channel]
                }
            }
        }
        return Tensor(shape: x.shape, scalars: output)
    }
}
