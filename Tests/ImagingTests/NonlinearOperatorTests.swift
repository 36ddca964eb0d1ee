import Foundation
import Imaging
import SDECore
import Tensors
import XCTest

final class NonlinearOperatorTests: XCTestCase {
    /// |F pad(x)| against a direct O(n²) sum of the unitary DFT definition.
    func testPhaseRetrievalMatchesDirectFourierSum() {
        let (height, width) = (5, 7)
        let model = PhaseRetrievalOperator<Double>(height: height, width: width, oversampling: 2, noiseStandardDeviation: 0)
        XCTAssertEqual([model.paddedHeight, model.paddedWidth], [10, 14])
        let x = testTensor([2, 1, height, width], seed: 31)
        let y = withoutRecording { model.forward(Variable(x)).value }
        XCTAssertEqual(y.shape, [2, 1, 10, 14])

        for (b, u, v) in [(0, 0, 0), (0, 3, 5), (1, 9, 13), (1, 4, 0)] {
            var real = 0.0
            var imaginary = 0.0
            for h in 0..<height {
                for w in 0..<width {
                    let angle = -2 * Double.pi * (Double(u * h) / 10 + Double(v * w) / 14)
                    real += x[b, 0, h, w] * cos(angle)
                    imaginary += x[b, 0, h, w] * sin(angle)
                }
            }
            let expected = (real * real + imaginary * imaginary).squareRoot() / (10.0 * 14.0).squareRoot()
            XCTAssertEqual(y[b, 0, u, v], expected, accuracy: 1e-12, "coefficient (\(u), \(v)) of element \(b)")
        }
    }

    /// The unitary transform keeps the norm: ‖|F pad(x)|‖ = ‖x‖.
    func testPhaseRetrievalPreservesNorm() {
        let model = PhaseRetrievalOperator<Double>(height: 6, width: 4, oversampling: 1.5, noiseStandardDeviation: 0)
        let x = testTensor([1, 2, 6, 4], seed: 32)
        let y = withoutRecording { model.forward(Variable(x)).value }
        XCTAssertEqual(y.shape, [1, 2, 9, 6])
        XCTAssertEqual(innerProduct(y, y), innerProduct(x, x), accuracy: 1e-12 * innerProduct(x, x))
    }

    /// Random images have no zero Fourier coefficient, so ln p(y | x) is smooth there.
    func testPhaseRetrievalLogLikelihoodFiniteDifferences() {
        var generator = PhiloxRandom(seed: 33, stream: 0)
        for sigma in [0.05, 0.0] {
            let model = PhaseRetrievalOperator<Double>(height: 5, width: 6, oversampling: 2, noiseStandardDeviation: sigma)
            let y = model.sample(given: testTensor([2, 1, 5, 6], seed: 34), using: &generator)
            let check = checkGradients(at: [testTensor([2, 1, 5, 6], seed: 35)]) { inputs in
                model.logLikelihood(of: y, given: inputs[0])
            }
            XCTAssertLessThan(check.maxRelativeError, 1e-6, "σ = \(sigma): \(check)")
        }
    }

    func testHighDynamicRangeClipsTwiceTheImage() {
        let model = HighDynamicRangeOperator<Double>(noiseStandardDeviation: 0)
        let x = Tensor<Double>(shape: [1, 1, 1, 6], scalars: [-0.9, -0.5, -0.2, 0, 0.3, 0.75])
        let y = withoutRecording { model.forward(Variable(x)).value }
        XCTAssertEqual(y.scalars, [-1, -1, -0.4, 0, 0.6, 1])
    }

    /// Finite differences away from the kinks |x| = ½: the inputs keep a margin of 0.02
    /// there, far above the step 1e-5.
    func testHighDynamicRangeLogLikelihoodFiniteDifferences() {
        var generator = PhiloxRandom(seed: 36, stream: 0)
        let x = testTensor([2, 1, 4, 5], seed: 37).scalars.map { abs(abs($0) - 0.5) < 0.02 ? $0 * 0.9 : $0 }
        let point = Tensor(shape: [2, 1, 4, 5], scalars: x)
        for sigma in [0.05, 0.0] {
            let model = HighDynamicRangeOperator<Double>(noiseStandardDeviation: sigma)
            let y = model.sample(given: testTensor([2, 1, 4, 5], seed: 38), using: &generator)
            let check = checkGradients(at: [point]) { inputs in model.logLikelihood(of: y, given: inputs[0]) }
            XCTAssertLessThan(check.maxRelativeError, 1e-6, "σ = \(sigma): \(check)")
        }
    }

    func testNonlinearOperatorsReturnIdenticalBitsTwice() {
        let x = Tensor<Float>(testTensor([2, 1, 8, 6], seed: 39))
        let models: [any ObservationModel<Float>] = [
            PhaseRetrievalOperator(height: 8, width: 6, noiseStandardDeviation: 0.1),
            HighDynamicRangeOperator(noiseStandardDeviation: 0.1),
        ]
        for model in models {
            let first = withoutRecording { model.forward(Variable(x)).value }
            XCTAssertEqual(first, withoutRecording { model.forward(Variable(x)).value })
            let y = first + 0.01
            XCTAssertEqual(model.logLikelihoodGradient(of: y, at: x), model.logLikelihoodGradient(of: y, at: x))
        }
    }
}
