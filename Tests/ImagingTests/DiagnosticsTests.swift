import Foundation
import Imaging
import SDECore
import Tensors
import XCTest

final class DiagnosticsTests: XCTestCase {
    func testDataConsistencyOfInpaintingIgnoresMissingPixels() {
        let mask: Tensor<Double> = InpaintingMask.box(height: 3, width: 4, top: 0, left: 0, boxHeight: 1, boxWidth: 4)
        let model = InpaintingOperator(mask: mask, noiseStandardDeviation: 0.5)
        let x = Tensor<Double>(zeros: [1, 1, 3, 4])
        var y = Tensor<Double>(shape: [1, 1, 3, 4], repeating: 0.5) * mask
        y[0, 0, 0, 0] = 100  // a missing pixel
        // 8 observed residuals of 0.5: ‖r‖ = √2 and χ² = 2 / (8 · 0.25) = 1.
        XCTAssertEqual(dataConsistency(of: x, observation: y, under: model)[0], 2.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(reducedChiSquared(of: x, observation: y, under: model)[0], 1, accuracy: 1e-12)
    }

    /// For the true image, ‖y − A x‖² / σ² is χ² with m degrees of freedom, so the reduced
    /// χ² has mean 1 and standard deviation √(2/m) = 0.0255 for m = 48 · 64 measurements;
    /// the bound 0.13 is 5 standard deviations.
    func testReducedChiSquaredOfTruthIsNearOne() {
        var generator = PhiloxRandom(seed: 61, stream: 0)
        let model = SuperResolutionOperator<Double>(factor: 2, height: 96, width: 128, noiseStandardDeviation: 0.1)
        let x = testTensor([3, 1, 96, 128], seed: 62)
        let y = model.sample(given: x, using: &generator)
        for value in reducedChiSquared(of: x, observation: y, under: model) {
            XCTAssertEqual(value, 1, accuracy: 0.13)
        }
    }

    func testCoverageOfHandComputedQuantiles() {
        // One pixel, samples 0…10: the 80 % interval is [1, 9] (positions 1 and 9).
        let samples = (0...10).map { Tensor<Double>(shape: [1], scalars: [Double($0)]) }
        let inside = credibleIntervalCoverage(samples: samples, truth: Tensor([9.0]), levels: [0.8])[0]
        XCTAssertEqual(inside.coverage, 1)
        XCTAssertEqual(inside.meanWidth, 8, accuracy: 1e-12)
        let outside = credibleIntervalCoverage(samples: samples, truth: Tensor([9.5]), levels: [0.8])[0]
        XCTAssertEqual(outside.coverage, 0)
        // The 50 % interval interpolates: positions 2.5 and 7.5.
        let half = credibleIntervalCoverage(samples: samples, truth: Tensor([2.4]), levels: [0.5])[0]
        XCTAssertEqual(half.coverage, 0)
        XCTAssertEqual(half.meanWidth, 5, accuracy: 1e-12)
    }

    /// Truth and S = 201 samples drawn from one law: the interval ends are the order
    /// statistics 11 and 191 (ℓ = 0.9) or 51 and 151 (ℓ = 0.5), so a new draw falls inside
    /// with probability 180/202 = 0.8911 or 100/202 = 0.4950. Over 5000 pixels the standard
    /// error is at most 0.0071, and 0.03 is over 4 standard errors. Samples too narrow by
    /// half cover about 59 % at ℓ = 0.9, far below.
    func testCoverageOfCalibratedPosterior() {
        var generator = PhiloxRandom(seed: 63, stream: 0)
        let truth = Tensor<Double>.normal(shape: [5, 1, 20, 50], using: &generator)
        let samples = (0..<201).map { _ in Tensor<Double>.normal(shape: [5, 1, 20, 50], using: &generator) }
        let result = credibleIntervalCoverage(samples: samples, truth: truth, levels: [0.9, 0.5])
        XCTAssertEqual(result[0].coverage, 180.0 / 202, accuracy: 0.03)
        XCTAssertEqual(result[1].coverage, 100.0 / 202, accuracy: 0.03)
        // The 90 % interval of N(0, 1) is about ±1.645 wide.
        XCTAssertEqual(result[0].meanWidth, 3.29, accuracy: 0.1)

        let narrow = credibleIntervalCoverage(samples: samples.map { $0 * 0.5 }, truth: truth, levels: [0.9])
        XCTAssertLessThan(narrow[0].coverage, 0.7)
    }
}
