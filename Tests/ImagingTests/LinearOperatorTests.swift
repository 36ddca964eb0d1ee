import Foundation
import Imaging
import SDECore
import Tensors
import XCTest

final class LinearOperatorTests: XCTestCase {
    /// ⟨A x, y⟩ = ⟨x, Aᵀ y⟩. Double rounding over a few thousand products gives about 1e-15;
    /// Float about 1e-7 per product, so 1e-5 relative leaves a wide margin for both.
    func testAdjointMatchesTranspose() {
        for testCase in linearCases(Double.self, noise: 0.1) {
            checkAdjoint(testCase, tolerance: 1e-12)
        }
        for testCase in linearCases(Float.self, noise: 0.1) {
            checkAdjoint(testCase, tolerance: 1e-5)
        }
    }

    private func checkAdjoint<Scalar: TensorScalar>(_ testCase: LinearCase<Scalar>, tolerance: Double) {
        let model = testCase.model
        let x = Tensor<Scalar>(testTensor(testCase.inputShape, seed: 3))
        let ax = withoutRecording { model.forward(Variable(x)).value }
        let y = Tensor<Scalar>(testTensor(ax.shape, seed: 4))
        let lhs = innerProduct(ax, y)
        let rhs = innerProduct(x, model.adjoint(y))
        XCTAssertEqual(lhs, rhs, accuracy: tolerance * abs(lhs), "\(testCase.name) in \(Scalar.self)")
    }

    /// The gradient of the log-likelihood is Aᵀ(y − A x)/σ² (σ > 0) or Aᵀ(y − A x) (σ = 0).
    func testLogLikelihoodGradientIsAdjointResidual() {
        for sigma in [0.1, 0.0] {
            for testCase in linearCases(Double.self, noise: sigma) {
                let model = testCase.model
                let x = testTensor(testCase.inputShape, seed: 5)
                let y = model.sample(given: testTensor(testCase.inputShape, seed: 6), using: &generator)
                let gradient = model.logLikelihoodGradient(of: y, at: x)
                let ax = withoutRecording { model.forward(Variable(x)).value }
                let expected = model.adjoint(y - ax) * (sigma > 0 ? 1 / (sigma * sigma) : 1)
                XCTAssertLessThan(relativeDifference(gradient, expected), 1e-12, "\(testCase.name), σ = \(sigma)")
            }
        }
    }

    private var generator = PhiloxRandom(seed: 11, stream: 0)

    /// Central finite differences of ln p(y | x) in Double, at σ_y = 0.1 and σ_y = 0.
    func testLogLikelihoodFiniteDifferences() {
        for sigma in [0.1, 0.0] {
            for testCase in linearCases(Double.self, noise: sigma) {
                let model = testCase.model
                let y = model.sample(given: testTensor(testCase.inputShape, seed: 8), using: &generator)
                let check = checkGradients(at: [testTensor(testCase.inputShape, seed: 9)]) { inputs in
                    model.logLikelihood(of: y, given: inputs[0])
                }
                XCTAssertLessThan(check.maxRelativeError, 1e-6, "\(testCase.name), σ = \(sigma): \(check)")
            }
        }
    }

    /// A A⁺ A = A, checked on random inputs. The CGLS pseudo-inverse of the Radon transform
    /// is iterative, so it gets a looser bound than the closed forms.
    func testPseudoInverseSatisfiesPenroseIdentity() {
        for testCase in linearCases(Double.self, noise: 0.1) {
            let model = testCase.model
            if let radon = model as? RadonTransformOperator<Double> {
                radon.pseudoInverseIterations = 500
                radon.pseudoInverseTolerance = 1e-13
            }
            let x = testTensor(testCase.inputShape, seed: 12)
            let ax = withoutRecording { model.forward(Variable(x)).value }
            let reconstructed = withoutRecording { model.forward(Variable(model.pseudoInverse(ax))).value }
            let tolerance = model is RadonTransformOperator<Double> ? 1e-8 : 1e-10
            XCTAssertLessThan(relativeDifference(reconstructed, ax), tolerance, testCase.name)
        }
    }

    /// The pseudo-inverse of a full-row-rank operator is a right inverse: A A⁺ y = y.
    func testPseudoInverseOfSuperResolutionIsUpsampling() {
        let model = SuperResolutionOperator<Double>(factor: 4, height: 32, width: 48, noiseStandardDeviation: 0)
        let y = testTensor([2, 1, 8, 12], seed: 13)
        let upsampled = model.pseudoInverse(y)
        XCTAssertEqual(upsampled[1, 0, 5, 9], y[1, 0, 1, 2], accuracy: 1e-12)
        XCTAssertEqual(upsampled[0, 0, 31, 47], y[0, 0, 7, 11], accuracy: 1e-12)
        XCTAssertLessThan(relativeDifference(withoutRecording { model.forward(Variable(upsampled)).value }, y), 1e-12)
    }

    func testOperatorsReturnIdenticalBitsTwice() {
        for testCase in linearCases(Float.self, noise: 0.1) {
            let model = testCase.model
            let x = Tensor<Float>(testTensor(testCase.inputShape, seed: 14))
            let first = withoutRecording { model.forward(Variable(x)).value }
            let second = withoutRecording { model.forward(Variable(x)).value }
            XCTAssertEqual(first, second, testCase.name)
            XCTAssertEqual(model.adjoint(first), model.adjoint(second), testCase.name)

            var generatorA = PhiloxRandom(seed: 3, stream: 1)
            var generatorB = PhiloxRandom(seed: 3, stream: 1)
            XCTAssertEqual(model.sample(given: x, using: &generatorA), model.sample(given: x, using: &generatorB), testCase.name)
        }
    }
}
