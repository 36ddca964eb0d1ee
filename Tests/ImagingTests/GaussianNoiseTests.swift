import Foundation
import Imaging
import Tensors
import XCTest

final class GaussianNoiseTests: XCTestCase {
    func testLogLikelihoodMatchesGaussianDensity() {
        let residual = Tensor<Double>(shape: [2, 3], scalars: [0.1, -0.2, 0.3, 0, 0.5, -1])
        let noise = GaussianNoise<Double>(standardDeviation: 0.5)
        let value = noise.logLikelihood(residual: Variable(residual), measurementCounts: [3, 2]).value

        // Element 0: ‖r‖² = 0.14; element 1 counts only 2 measurements.
        let expected0 = -0.14 / 0.5 - 1.5 * log(2 * Double.pi * 0.25)
        let expected1 = -1.25 / 0.5 - 1.0 * log(2 * Double.pi * 0.25)
        XCTAssertEqual(value.shape, [2])
        XCTAssertEqual(value[0], expected0, accuracy: 1e-12)
        XCTAssertEqual(value[1], expected1, accuracy: 1e-12)
    }

    func testNoiselessLogLikelihoodIsHalfSquaredNorm() {
        let residual = Tensor<Double>(shape: [1, 2], scalars: [3, 4])
        let value = GaussianNoise<Double>(standardDeviation: 0).logLikelihood(residual: Variable(residual), measurementCounts: [2]).value
        XCTAssertEqual(value[0], -12.5, accuracy: 1e-12)
    }
}
