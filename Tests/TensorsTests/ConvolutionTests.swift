import XCTest
import Tensors

/// conv2d and convTranspose2d against direct loops in Double, the adjoint identity that
/// ties them together, and finite-difference gradients.
final class ConvolutionTests: XCTestCase {
    /// A convolution case: images [batch, channels, height, width] and a filter
    /// [outputChannels, channels, kernelHeight, kernelWidth].
    struct Case {
        var batch, channels, height, width, outputChannels, kernelHeight, kernelWidth, stride, padding: Int
    }

    /// Square and non-square images and kernels, strides 1 to 3, padding from 0 to more
    /// than the kernel (output positions that see only padding), 1×1 kernels, odd batches
    /// that split unevenly across cores.
    let cases: [Case] = [
        Case(batch: 2, channels: 3, height: 7, width: 5, outputChannels: 4, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Case(batch: 1, channels: 2, height: 6, width: 9, outputChannels: 3, kernelHeight: 2, kernelWidth: 3, stride: 2, padding: 0),
        Case(batch: 3, channels: 3, height: 8, width: 7, outputChannels: 2, kernelHeight: 3, kernelWidth: 2, stride: 3, padding: 2),
        Case(batch: 3, channels: 2, height: 5, width: 4, outputChannels: 2, kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        Case(batch: 2, channels: 4, height: 4, width: 6, outputChannels: 3, kernelHeight: 1, kernelWidth: 1, stride: 2, padding: 1),
        Case(batch: 1, channels: 2, height: 3, width: 4, outputChannels: 2, kernelHeight: 2, kernelWidth: 2, stride: 1, padding: 3),
        Case(batch: 2, channels: 1, height: 5, width: 5, outputChannels: 1, kernelHeight: 5, kernelWidth: 5, stride: 1, padding: 0),
        // Stride 1 with the output as wide as the image, where im2col copies whole shifted
        // planes. In the second, the first kernel rows meet only padding.
        Case(batch: 2, channels: 2, height: 6, width: 7, outputChannels: 3, kernelHeight: 2, kernelWidth: 3, stride: 1, padding: 1),
        Case(batch: 2, channels: 2, height: 2, width: 3, outputChannels: 3, kernelHeight: 5, kernelWidth: 5, stride: 1, padding: 2),
        // Stride 1 without padding on a non-square image: the adjoint runs as a
        // convolution with the flipped filter and padding 2.
        Case(batch: 3, channels: 2, height: 6, width: 4, outputChannels: 3, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0),
        // Batches of small images, whose columns share one GEMM in groups of several
        // images, with a last group that is not full: 3×3 "same", 1×1, and stride 2,
        // whose adjoint runs on col2im.
        Case(batch: 11, channels: 3, height: 5, width: 6, outputChannels: 4, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Case(batch: 9, channels: 3, height: 4, width: 5, outputChannels: 2, kernelHeight: 1, kernelWidth: 1, stride: 1, padding: 0),
        Case(batch: 7, channels: 2, height: 7, width: 5, outputChannels: 3, kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        // 3×3, stride 1, padding 1, which runs by Winograd's F(2×2, 3×3) in 2×2 output
        // blocks: even sizes, and images of one row or column, whose blocks are cut to
        // the image.
        Case(batch: 3, channels: 5, height: 8, width: 6, outputChannels: 4, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Case(batch: 2, channels: 2, height: 1, width: 3, outputChannels: 3, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        Case(batch: 2, channels: 3, height: 4, width: 1, outputChannels: 2, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
    ]

    func testConv2dMatchesDirectLoop() {
        for (index, c) in cases.enumerated() {
            let x = testTensor([c.batch, c.channels, c.height, c.width], seed: 1)
            let filter = testTensor([c.outputChannels, c.channels, c.kernelHeight, c.kernelWidth], seed: 2)
            let bias = testTensor([c.outputChannels], seed: 3)
            let expected = directConv2d(x, filter, bias, stride: c.stride, padding: c.padding)

            let withBias = conv2d(x, filter: filter, bias: bias, stride: c.stride, padding: c.padding)
            XCTAssertEqual(withBias.shape, expected.shape, "case \(index)")
            XCTAssertLessThan(maxAbsoluteDifference(withBias, expected), 1e-12, "case \(index)")

            let withoutBias = conv2d(x, filter: filter, bias: nil, stride: c.stride, padding: c.padding)
            let expectedWithoutBias = directConv2d(x, filter, nil, stride: c.stride, padding: c.padding)
            XCTAssertLessThan(maxAbsoluteDifference(withoutBias, expectedWithoutBias), 1e-12, "case \(index)")
        }
    }

    func testConvTranspose2dMatchesDirectLoop() {
        for (index, c) in cases.enumerated() {
            for outputPadding in Set([0, c.stride - 1]) {
                // convTranspose2d reads [N, Cin, H, W] with a filter [Cin, Cout, kH, kW].
                let x = testTensor([c.batch, c.outputChannels, c.height, c.width], seed: 4)
                let filter = testTensor([c.outputChannels, c.channels, c.kernelHeight, c.kernelWidth], seed: 5)
                let bias = testTensor([c.channels], seed: 6)
                let outputHeight = (c.height - 1) * c.stride - 2 * c.padding + c.kernelHeight + outputPadding
                let outputWidth = (c.width - 1) * c.stride - 2 * c.padding + c.kernelWidth + outputPadding
                guard outputHeight >= 1 && outputWidth >= 1 else { continue }

                let expected = directConvTranspose2d(
                    x, filter, bias, stride: c.stride, padding: c.padding, outputPadding: outputPadding)
                let actual = convTranspose2d(
                    x, filter: filter, bias: bias, stride: c.stride, padding: c.padding, outputPadding: outputPadding)
                XCTAssertEqual(actual.shape, [c.batch, c.channels, outputHeight, outputWidth], "case \(index)")
                XCTAssertLessThan(maxAbsoluteDifference(actual, expected), 1e-12, "case \(index), outputPadding \(outputPadding)")
            }
        }
    }

    /// ⟨conv2d(x, W), y⟩ = ⟨x, convTranspose2d(y, W)⟩ exactly in real arithmetic. Both sides
    /// sum at most a few thousand products of numbers in [-1, 1], so the rounding error in
    /// Double is below 1e-13 and a tolerance of 1e-12 leaves no room for a wrong index.
    func testConvTransposeIsAdjointOfConv() {
        for (index, c) in cases.enumerated() {
            let x = testTensor([c.batch, c.channels, c.height, c.width], seed: 7)
            let filter = testTensor([c.outputChannels, c.channels, c.kernelHeight, c.kernelWidth], seed: 8)
            let convolved = conv2d(x, filter: filter, bias: nil, stride: c.stride, padding: c.padding)
            let y = testTensor(convolved.shape, seed: 9)

            // The output padding that makes the transposed convolution return x's size.
            let outputPadding = (c.height + 2 * c.padding - c.kernelHeight) % c.stride
            XCTAssertEqual(outputPadding, (c.width + 2 * c.padding - c.kernelWidth) % c.stride, "case \(index) needs equal output paddings")
            let transposed = convTranspose2d(
                y, filter: filter, bias: nil, stride: c.stride, padding: c.padding, outputPadding: outputPadding)
            XCTAssertEqual(transposed.shape, x.shape, "case \(index)")

            let lhs = (convolved * y).sum()
            let rhs = (x * transposed).sum()
            XCTAssertEqual(lhs, rhs, accuracy: 1e-12, "case \(index)")
        }
    }

    func testConv2dGradients() {
        for (index, c) in cases.enumerated() {
            let x = testTensor([c.batch, c.channels, c.height, c.width], seed: 10)
            let filter = testTensor([c.outputChannels, c.channels, c.kernelHeight, c.kernelWidth], seed: 11)
            let bias = testTensor([c.outputChannels], seed: 12)
            let result = checkGradients(at: [x, filter, bias]) {
                conv2d($0[0], filter: $0[1], bias: $0[2], stride: c.stride, padding: c.padding)
            }
            XCTAssertLessThan(result.maxRelativeError, 1e-6, "case \(index): \(result)")

            let withoutBias = checkGradients(at: [x, filter]) {
                conv2d($0[0], filter: $0[1], bias: nil, stride: c.stride, padding: c.padding)
            }
            XCTAssertLessThan(withoutBias.maxRelativeError, 1e-6, "case \(index) without bias: \(withoutBias)")
        }
    }

    func testConvTranspose2dGradients() {
        for (index, c) in cases.enumerated() {
            let outputPadding = c.stride - 1
            let outputHeight = (c.height - 1) * c.stride - 2 * c.padding + c.kernelHeight + outputPadding
            let outputWidth = (c.width - 1) * c.stride - 2 * c.padding + c.kernelWidth + outputPadding
            guard outputHeight >= 1 && outputWidth >= 1 else { continue }
            let x = testTensor([c.batch, c.outputChannels, c.height, c.width], seed: 13)
            let filter = testTensor([c.outputChannels, c.channels, c.kernelHeight, c.kernelWidth], seed: 14)
            let bias = testTensor([c.channels], seed: 15)
            let result = checkGradients(at: [x, filter, bias]) {
                convTranspose2d(
                    $0[0], filter: $0[1], bias: $0[2], stride: c.stride, padding: c.padding, outputPadding: outputPadding)
            }
            XCTAssertLessThan(result.maxRelativeError, 1e-6, "case \(index): \(result)")
        }
    }

    /// A pullback that skips the input gradient (the input is a constant) must still give
    /// the filter and bias gradients of the full pullback.
    func testGradientsForConstantInput() {
        let x = testTensor([2, 3, 6, 5], seed: 16)
        let filter = testTensor([4, 3, 3, 2], seed: 17)
        let bias = testTensor([4], seed: 18)
        let cotangent = testTensor([2, 4, 3, 3], seed: 19)

        let full = vectorJacobianProduct(at: [x, filter, bias], cotangent: cotangent) {
            conv2d($0[0], filter: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        let filterVariable = Variable(filter, requiresGrad: true)
        let biasVariable = Variable(bias, requiresGrad: true)
        let output = conv2d(Variable(x), filter: filterVariable, bias: biasVariable, stride: 2, padding: 1)
        let partial = gradients(of: output, withRespectTo: [filterVariable, biasVariable], cotangent: cotangent)

        XCTAssertEqual(output.shape, cotangent.shape)
        XCTAssertLessThan(maxAbsoluteDifference(partial[0], full.inputGradients[1]), 1e-12)
        XCTAssertLessThan(maxAbsoluteDifference(partial[1], full.inputGradients[2]), 1e-12)
    }

    /// Float against Double on the same data: every output sums at most 3·3·8 = 72 products,
    /// so the Float rounding error is about 72 · 6e-8 ≈ 4e-6 of the sum of |products|.
    func testFloatMatchesDouble() {
        let x = testTensor([3, 8, 9, 7], seed: 20)
        let filter = testTensor([5, 8, 3, 3], seed: 21)
        let bias = testTensor([5], seed: 22)
        let y = testTensor([3, 5, 5, 4], seed: 23)

        let double = conv2d(x, filter: filter, bias: bias, stride: 2, padding: 1)
        let float = conv2d(Tensor<Float>(x), filter: Tensor<Float>(filter), bias: Tensor<Float>(bias), stride: 2, padding: 1)
        XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(float), double), 1e-5)

        let doubleTransposed = convTranspose2d(y, filter: filter, bias: nil, stride: 2, padding: 1, outputPadding: 1)
        let floatTransposed = convTranspose2d(
            Tensor<Float>(y), filter: Tensor<Float>(filter), bias: nil, stride: 2, padding: 1, outputPadding: 1)
        XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(floatTransposed), doubleTransposed), 1e-5)

        let doubleGradients = vectorJacobianProduct(at: [x, filter], cotangent: y) {
            conv2d($0[0], filter: $0[1], bias: nil, stride: 2, padding: 1)
        }
        let floatGradients = vectorJacobianProduct(at: [Tensor<Float>(x), Tensor<Float>(filter)], cotangent: Tensor<Float>(y)) {
            conv2d($0[0], filter: $0[1], bias: nil, stride: 2, padding: 1)
        }
        // The filter gradient sums 3 · 5 · 4 = 60 products per element.
        for (float, double) in zip(floatGradients.inputGradients, doubleGradients.inputGradients) {
            XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(float), double), 1e-5)
        }
    }

    /// Float against Double for a U-Net-sized Winograd convolution, 32 → 16 channels at
    /// 14×14: each output sums 288 products of numbers in [-1, 1], up to about 20 in size.
    /// The error was 6e-6 when this test was written (1.5e-5 for the same sums on
    /// im2col), and a wrong transform coefficient would make it of order 1.
    func testWinogradFloatMatchesDouble() {
        let x = testTensor([3, 32, 14, 14], seed: 24)
        let filter = testTensor([16, 32, 3, 3], seed: 25)
        let bias = testTensor([16], seed: 26)
        let double = conv2d(x, filter: filter, bias: bias, stride: 1, padding: 1)
        let float = conv2d(Tensor<Float>(x), filter: Tensor<Float>(filter), bias: Tensor<Float>(bias), stride: 1, padding: 1)
        XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(float), double), 1e-4)
    }

    // MARK: Direct loops

    func directConv2d(_ x: Tensor<Double>, _ filter: Tensor<Double>, _ bias: Tensor<Double>?, stride: Int, padding: Int) -> Tensor<Double> {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outputChannels, kernelHeight, kernelWidth) = (filter.shape[0], filter.shape[2], filter.shape[3])
        let outputHeight = (height + 2 * padding - kernelHeight) / stride + 1
        let outputWidth = (width + 2 * padding - kernelWidth) / stride + 1
        var y = Tensor<Double>(zeros: [batch, outputChannels, outputHeight, outputWidth])
        for n in 0..<batch {
            for o in 0..<outputChannels {
                for i in 0..<outputHeight {
                    for j in 0..<outputWidth {
                        var sum = bias?[o] ?? 0
                        for c in 0..<channels {
                            for a in 0..<kernelHeight {
                                for b in 0..<kernelWidth {
                                    let (row, column) = (i * stride - padding + a, j * stride - padding + b)
                                    guard row >= 0 && row < height && column >= 0 && column < width else { continue }
                                    sum += filter[o, c, a, b] * x[n, c, row, column]
                                }
                            }
                        }
                        y[n, o, i, j] = sum
                    }
                }
            }
        }
        return y
    }

    /// Scatters each input pixel times the filter onto its output window, the definition of
    /// a transposed convolution, independent of conv2d.
    func directConvTranspose2d(
        _ x: Tensor<Double>, _ filter: Tensor<Double>, _ bias: Tensor<Double>?, stride: Int, padding: Int, outputPadding: Int
    ) -> Tensor<Double> {
        let (batch, inputChannels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outputChannels, kernelHeight, kernelWidth) = (filter.shape[1], filter.shape[2], filter.shape[3])
        let outputHeight = (height - 1) * stride - 2 * padding + kernelHeight + outputPadding
        let outputWidth = (width - 1) * stride - 2 * padding + kernelWidth + outputPadding
        var y = Tensor<Double>(zeros: [batch, outputChannels, outputHeight, outputWidth])
        for n in 0..<batch {
            for o in 0..<outputChannels {
                for row in 0..<outputHeight {
                    for column in 0..<outputWidth { y[n, o, row, column] = bias?[o] ?? 0 }
                }
            }
            for i in 0..<inputChannels {
                for h in 0..<height {
                    for w in 0..<width {
                        for o in 0..<outputChannels {
                            for a in 0..<kernelHeight {
                                for b in 0..<kernelWidth {
                                    let (row, column) = (h * stride - padding + a, w * stride - padding + b)
                                    guard row >= 0 && row < outputHeight && column >= 0 && column < outputWidth else { continue }
                                    y[n, o, row, column] += x[n, i, h, w] * filter[i, o, a, b]
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}

func maxAbsoluteDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.shape == b.shape, "maxAbsoluteDifference: shapes \(a.shape) and \(b.shape) differ")
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}
