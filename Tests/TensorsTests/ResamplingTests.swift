import XCTest
import Tensors

/// avgPool2d and upsampleNearest2d against direct loops, their adjoint relation and
/// finite-difference gradients.
final class ResamplingTests: XCTestCase {
    func testAvgPoolMatchesDirectLoop() {
        for (shape, kernelSize) in [([2, 3, 4, 6], 2), ([1, 2, 6, 9], 3), ([2, 1, 3, 5], 1)] {
            let x = testTensor(shape, seed: 1)
            let pooled = avgPool2d(x, kernelSize: kernelSize)
            XCTAssertEqual(pooled.shape, [shape[0], shape[1], shape[2] / kernelSize, shape[3] / kernelSize])
            var maxError = 0.0
            for n in 0..<shape[0] {
                for c in 0..<shape[1] {
                    for i in 0..<(shape[2] / kernelSize) {
                        for j in 0..<(shape[3] / kernelSize) {
                            var sum = 0.0
                            for a in 0..<kernelSize {
                                for b in 0..<kernelSize { sum += x[n, c, i * kernelSize + a, j * kernelSize + b] }
                            }
                            maxError = max(maxError, abs(pooled[n, c, i, j] - sum / Double(kernelSize * kernelSize)))
                        }
                    }
                }
            }
            XCTAssertLessThan(maxError, 1e-15, "shape \(shape), kernelSize \(kernelSize)")
        }
    }

    func testUpsampleMatchesDirectLoop() {
        for (shape, factor) in [([2, 3, 2, 3], 2), ([1, 2, 3, 1], 3), ([2, 1, 3, 5], 1)] {
            let x = testTensor(shape, seed: 2)
            let upsampled = upsampleNearest2d(x, factor: factor)
            XCTAssertEqual(upsampled.shape, [shape[0], shape[1], shape[2] * factor, shape[3] * factor])
            for n in 0..<shape[0] {
                for c in 0..<shape[1] {
                    for i in 0..<(shape[2] * factor) {
                        for j in 0..<(shape[3] * factor) {
                            XCTAssertEqual(upsampled[n, c, i, j], x[n, c, i / factor, j / factor])
                        }
                    }
                }
            }
        }
    }

    /// ⟨avgPool(x), y⟩ = ⟨x, upsample(y)⟩ / k², exact up to rounding of sums of 216 terms.
    func testPoolingIsScaledAdjointOfUpsampling() {
        let x = testTensor([2, 3, 6, 6], seed: 3)
        let y = testTensor([2, 3, 2, 2], seed: 4)
        let lhs = (avgPool2d(x, kernelSize: 3) * y).sum()
        let rhs = (x * upsampleNearest2d(y, factor: 3)).sum() / 9
        XCTAssertEqual(lhs, rhs, accuracy: 1e-13)
    }

    func testGradients() {
        let x = testTensor([2, 3, 4, 6], seed: 5)
        let pool = checkGradients(at: [x]) { avgPool2d($0[0], kernelSize: 2) }
        XCTAssertLessThan(pool.maxRelativeError, 1e-6, "\(pool)")

        let upsample = checkGradients(at: [x]) { upsampleNearest2d($0[0], factor: 3) }
        XCTAssertLessThan(upsample.maxRelativeError, 1e-6, "\(upsample)")
    }

    /// Sizes large enough to split across cores; Float against Double to Float rounding.
    func testFloatMatchesDoubleOnLargeBatch() {
        let x = testTensor([16, 8, 32, 32], seed: 6)
        let pooled = avgPool2d(Tensor<Float>(x), kernelSize: 2)
        XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(pooled), avgPool2d(x, kernelSize: 2)), 1e-6)
        let upsampled = upsampleNearest2d(Tensor<Float>(x), factor: 2)
        XCTAssertLessThan(maxAbsoluteDifference(Tensor<Double>(upsampled), upsampleNearest2d(x, factor: 2)), 1e-6)
    }
}
