import Foundation
import Imaging
import SDECore
import Tensors
import XCTest

/// Hand-computed values of the linear operators and their likelihoods.
final class OperatorValueTests: XCTestCase {
    func testSuperResolutionAveragesBlocks() {
        let model = SuperResolutionOperator<Double>(factor: 2, height: 4, width: 6, noiseStandardDeviation: 0)
        let x = Tensor<Double>(shape: [1, 1, 4, 6], scalars: (0..<24).map(Double.init))
        let y = withoutRecording { model.forward(Variable(x)).value }
        XCTAssertEqual(y.shape, [1, 1, 2, 3])
        // Block (0, 0) holds 0, 1, 6, 7; block (1, 2) holds 16, 17, 22, 23.
        XCTAssertEqual(y[0, 0, 0, 0], 3.5, accuracy: 1e-14)
        XCTAssertEqual(y[0, 0, 1, 2], 19.5, accuracy: 1e-14)
    }

    func testBlurKeepsConstantImageWithReflectPadding() {
        let model = GaussianBlurOperator<Double>(kernelSize: 7, blurStandardDeviation: 2, padding: .reflect, height: 5, width: 8, noiseStandardDeviation: 0)
        let y = withoutRecording { model.forward(Variable(Tensor(shape: [1, 1, 5, 8], repeating: 0.3))).value }
        for value in y.scalars { XCTAssertEqual(value, 0.3, accuracy: 1e-14) }
    }

    /// A unit impulse away from the border returns the 2-D kernel g_s g_t.
    func testBlurOfImpulseIsGaussianKernel() {
        let model = GaussianBlurOperator<Double>(kernelSize: 5, blurStandardDeviation: 1, padding: .zero, height: 7, width: 9, noiseStandardDeviation: 0)
        var x = Tensor<Double>(zeros: [1, 1, 7, 9])
        x[0, 0, 3, 4] = 1
        let y = withoutRecording { model.forward(Variable(x)).value }
        let weights = (-2...2).map { exp(-Double($0 * $0) / 2) }
        let total = weights.reduce(0, +)
        XCTAssertEqual(y[0, 0, 3, 4], weights[2] * weights[2] / (total * total), accuracy: 1e-14)
        XCTAssertEqual(y[0, 0, 1, 5], weights[0] * weights[3] / (total * total), accuracy: 1e-14)
        XCTAssertEqual(y[0, 0, 0, 4], 0)
    }

    /// Linear interpolation spreads each pixel over two bins with weights summing to 1,
    /// so every projection of an image has the image's total.
    func testRadonProjectionsPreserveTotal() {
        let model = RadonTransformOperator<Double>(height: 8, width: 11, angleCount: 7, noiseStandardDeviation: 0)
        let x = testTensor([1, 1, 8, 11], seed: 41)
        let total = x.sum()
        let sinogram = model.project(x)
        XCTAssertEqual(sinogram.shape, [1, 1, 7, model.detectorCount])
        for angle in 0..<7 {
            let rowTotal = (0..<model.detectorCount).reduce(0.0) { $0 + sinogram[0, 0, angle, $1] }
            XCTAssertEqual(rowTotal, total, accuracy: 1e-12, "angle \(angle)")
        }
    }

    /// At θ = 0 the detector coordinate is the column offset, so with 3 columns and 5 bins
    /// each column's sum lands exactly on one bin centre.
    func testRadonAtZeroAngleSumsColumns() {
        let model = RadonTransformOperator<Double>(height: 3, width: 3, angleCount: 2, noiseStandardDeviation: 0)
        let x = Tensor<Double>(shape: [1, 1, 3, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let sinogram = model.project(x)
        let row = (0..<model.detectorCount).map { sinogram[0, 0, 0, $0] }
        let columnSums = [12.0, 15, 18]
        // D = ⌈2√2⌉ + 2 = 5 bins centred on 2; column j sits at s = j − 1, bin j + 1.
        XCTAssertEqual(model.detectorCount, 5)
        XCTAssertEqual(row, [0] + columnSums + [0])
    }

    /// Missing pixels are not measurements: the normalising constant counts observed ones only,
    /// and entries of y at missing pixels do not change the likelihood.
    func testInpaintingLikelihoodCountsObservedPixels() {
        let mask: Tensor<Double> = InpaintingMask.box(height: 4, width: 5, top: 1, left: 1, boxHeight: 2, boxWidth: 3)
        let model = InpaintingOperator(mask: mask, noiseStandardDeviation: 0.2)
        let x = testTensor([1, 1, 4, 5], seed: 42)
        var y = testTensor([1, 1, 4, 5], seed: 43) * mask
        let residual = (y - x * mask).scalars
        let squaredNorm = residual.reduce(0) { $0 + $1 * $1 }
        let expected = -squaredNorm / (2 * 0.04) - 7 * log(2 * Double.pi * 0.04)
        XCTAssertEqual(model.logLikelihood(of: y, given: Variable(x)).value[0], expected, accuracy: 1e-12)

        y[0, 0, 1, 1] = 5
        XCTAssertEqual(model.logLikelihood(of: y, given: Variable(x)).value[0], expected, accuracy: 1e-12)
    }

    func testInpaintingSampleIsZeroAtMissingPixels() {
        var generator = PhiloxRandom(seed: 44, stream: 0)
        let masks: Tensor<Double> = InpaintingMask.randomBoxes(count: 4, height: 6, width: 6, boxHeight: 3, boxWidth: 2, using: &generator)
        let model = InpaintingOperator(mask: masks, noiseStandardDeviation: 0.5)
        let y = model.sample(given: Tensor(shape: [4, 1, 6, 6], repeating: 1), using: &generator)
        for (value, observed) in zip(y.scalars, masks.scalars) where observed == 0 {
            XCTAssertEqual(value, 0)
        }
        XCTAssertEqual(model.measurementCounts(observationShape: y.shape), [30, 30, 30, 30])
    }

    func testRandomMasksHaveExactCounts() {
        var generator = PhiloxRandom(seed: 45, stream: 0)
        let pixels: Tensor<Double> = InpaintingMask.randomPixels(count: 5, height: 28, width: 28, observedFraction: 0.1, using: &generator)
        let boxes: Tensor<Double> = InpaintingMask.randomBoxes(count: 5, height: 28, width: 28, boxHeight: 14, boxWidth: 10, using: &generator)
        for index in 0..<5 {
            XCTAssertEqual(pixels.slice(alongAxis: 0, index..<(index + 1)).sum(), 78)
            XCTAssertEqual(boxes.slice(alongAxis: 0, index..<(index + 1)).sum(), Double(784 - 140))
        }
        // Independent draws differ.
        XCTAssertNotEqual(pixels.slice(alongAxis: 0, 0..<1), pixels.slice(alongAxis: 0, 1..<2))
    }
}
