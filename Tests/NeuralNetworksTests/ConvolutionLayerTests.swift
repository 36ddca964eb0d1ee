import NeuralNetworks
import Tensors
import XCTest

/// Conv2D, GroupNorm and the time-conditioned residual block: values and gradients.
final class ConvolutionLayerTests: XCTestCase {
    func testConv2DComputesCrossCorrelation() {
        // One 3×3 image, one 2×2 filter [[1, 0], [0, -1]] and bias 0.5:
        // y[i, j] = x[i, j] - x[i+1, j+1] + 0.5.
        let layer = Conv2D<Double>(
            weight: Tensor(shape: [1, 1, 2, 2], scalars: [1, 0, 0, -1]), bias: Tensor([0.5]))
        let x = Tensor<Double>(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(layer.inferring(from: x), Tensor(shape: [1, 1, 2, 2], scalars: [-3.5, -3.5, -3.5, -3.5]))
    }

    func testConv2DOutputShapes() {
        var generator = PhiloxRandom(seed: 1)
        let same = Conv2D<Float>(inputChannels: 3, outputChannels: 5, kernelSize: 3, padding: 1, using: &generator)
        let strided = Conv2D<Float>(
            inputChannels: 3, outputChannels: 4, kernelSize: 3, stride: 2, padding: 1, using: &generator)
        let x = Tensor<Float>(zeros: [2, 3, 14, 14])
        XCTAssertEqual(same.inferring(from: x).shape, [2, 5, 14, 14])
        XCTAssertEqual(strided.inferring(from: x).shape, [2, 4, 7, 7])
        XCTAssertEqual(strided.inferring(from: Tensor(zeros: [2, 3, 7, 7])).shape, [2, 4, 4, 4])
        XCTAssertEqual(same.namedParameters.map(\.name), ["weight", "bias"])
    }

    func testConv2DInitialisationBound() {
        var generator = PhiloxRandom(seed: 3)
        let layer = Conv2D<Double>(inputChannels: 4, outputChannels: 8, kernelSize: 3, using: &generator)
        // fanIn = 4 · 3 · 3 = 36, so the bound is 1/6.
        let bound = 1 / 6.0
        XCTAssertTrue(layer.weight.value.scalars.allSatisfy { abs($0) <= bound })
        // 288 uniform draws: P(max |w| < 0.95 bound) = 0.95^288 < 1e-6.
        XCTAssertGreaterThan(layer.weight.value.scalars.map(abs).max()!, 0.95 * bound)
    }

    func testConv2DGradients() {
        var generator = PhiloxRandom(seed: 5)
        let layer = Conv2D<Double>(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, using: &generator)
        assertGradients(at: [testTensor([2, 2, 5, 5])], parameters: layer.parameters) { layer($0[0]) }

        let strided = Conv2D<Double>(
            inputChannels: 2, outputChannels: 2, kernelSize: 3, stride: 2, padding: 1, using: &generator)
        assertGradients(at: [testTensor([1, 2, 6, 6])], parameters: strided.parameters) { strided($0[0]) }
    }

    func testGroupNormNormalisesEachGroup() {
        let layer = GroupNorm<Double>(groups: 2, channels: 4)
        let y = layer.inferring(from: testTensor([3, 4, 5, 5]) * 3 + 1)
        // Each (sample, group) block of 2 channels × 25 pixels has mean 0 and biased
        // variance σ² / (σ² + ε), within 1e-4 of 1 for σ² ≈ 3.
        for sample in 0..<3 {
            for group in 0..<2 {
                let block = y.slice(alongAxis: 0, sample..<(sample + 1)).slice(alongAxis: 1, (2 * group)..<(2 * group + 2))
                let values = block.scalars
                let mean = values.reduce(0, +) / Double(values.count)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
                XCTAssertEqual(mean, 0, accuracy: 1e-12)
                XCTAssertEqual(variance, 1, accuracy: 1e-4)
            }
        }
        XCTAssertEqual(layer.namedParameters.map(\.name), ["scale", "offset"])
    }

    func testGroupNormGradients() {
        let layer = GroupNorm<Double>(
            groups: 2, scale: testTensor([4], seed: 2) + 1.5, offset: testTensor([4], seed: 3))
        assertGradients(at: [testTensor([2, 4, 3, 3])], parameters: layer.parameters) { layer($0[0]) }
    }

    func testGroupNormActivationMatchesComposition() {
        let layer = GroupNorm<Double>(
            groups: 2, scale: testTensor([4], seed: 2) + 1.5, offset: testTensor([4], seed: 3))
        let x = Variable(testTensor([2, 4, 3, 3]))
        for activation in [Activation.silu, .tanh, .relu, .identity] {
            assertClose(layer(x, activation: activation).value, activation(layer(x)).value, tolerance: 1e-12)
        }
        assertGradients(at: [testTensor([2, 4, 3, 3])], parameters: layer.parameters) { layer($0[0], activation: .silu) }
    }

    func testResidualBlockGradients() {
        var generator = PhiloxRandom(seed: 9)
        for (input, output) in [(4, 4), (2, 4)] {
            let block = TimeConditionedResidualBlock<Double>(
                inputChannels: input, outputChannels: output, timeFeatures: 3, groups: 2, using: &generator)
            XCTAssertEqual(block.skip == nil, input == output)
            assertGradients(
                at: [testTensor([2, input, 4, 4]), testTensor([2, 3], seed: 4)], parameters: block.parameters
            ) { block($0[0], timeFeatures: $0[1]) }
        }
    }

    func testResidualBlockParameterNames() {
        var generator = PhiloxRandom(seed: 9)
        let block = TimeConditionedResidualBlock<Float>(
            inputChannels: 2, outputChannels: 4, timeFeatures: 3, groups: 2, using: &generator)
        XCTAssertEqual(block.namedParameters.map(\.name), [
            "norm1.scale", "norm1.offset", "conv1.weight", "conv1.bias", "timeProjection.weight",
            "timeProjection.bias", "norm2.scale", "norm2.offset", "conv2.weight", "conv2.bias",
            "skip.weight", "skip.bias",
        ])
    }
}
