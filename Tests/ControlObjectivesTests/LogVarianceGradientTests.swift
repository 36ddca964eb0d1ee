import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// The scaled exact h-transform h_θ = θ h*_t(x), with one parameter θ.
final class ScaledHTransform: HTransformModel {
    typealias Scalar = Double
    let fixture: GaussianControlFixture
    let scale: Variable<Double>

    init(_ fixture: GaussianControlFixture, scale: Double) {
        self.fixture = fixture
        self.scale = Variable(Tensor(shape: [1], repeating: scale), requiresGrad: true)
    }

    var namedParameters: [(name: String, parameter: Variable<Double>)] { [("scale", scale)] }

    func callAsFunction(_ t: Double, _ x: Variable<Double>, context: Tensor<Double>?) -> Variable<Double> {
        fixture.oracle.hTransformMap(alphaBar: fixture.sde.alphaBar(t))(x) * scale
    }
}

/// The expected gradients of the objectives for h_θ = θ h*, against the exact derivative
/// of KL(Q^θ ‖ Q̃) = J(θ) + ln Z of the discrete chain.
///
/// On-policy, with w = log dQ^θ/dP − ln ℓ(X₀) on a detached path, ∇_θ w is the score of
/// the path density, so E[∇w] = 0 and ∇ KL = E[w ∇w]. The log-variance gradient
/// (2/(B − 1)) Σᵢ (wᵢ − w̄) ∇wᵢ has expectation 2 Cov(w, ∇w) = 2 ∇ KL, and the
/// trajectory-balance gradient (2/B) Σᵢ (k + wᵢ) ∇wᵢ has expectation 2 ∇ KL for any k.
/// The pathwise relative-entropy gradient has expectation ∇ J = ∇ KL.
final class LogVarianceGradientTests: XCTestCase {
    /// J(θ) is exact (the chain is linear and Gaussian), so its central difference with
    /// step 1e-4 is exact to about 1e-8. Each estimator is averaged over 48 batches of
    /// 1000 paths (standard errors of 0.7 % for the pathwise gradient and 1.6 % for the
    /// detached ones); the tolerance is 4 standard errors of that average.
    func testExpectedGradientsMatchKLDerivative() throws {
        let fixture = GaussianControlFixture(dimension: 2, steps: 32)
        let oracle = DiscreteControlOracle(fixture)
        let theta = 0.6
        let optimal = fixture.continuousOptimalControls
        func cost(_ scale: Double) -> Double {
            oracle.lawAndCost(of: optimal.map { $0.scaled(by: scale) }).cost
        }
        let derivative = (cost(theta + 1e-4) - cost(theta - 1e-4)) / 2e-4

        let model = ScaledHTransform(fixture, scale: theta)
        let normalizer = ScalarLogNormalizer<Double>(initialValue: -cost(theta) + 0.5)
        var estimates: [String: [Double]] = [:]
        for seed in 0..<48 {
            let randomness = fixture.problem.randomness(batch: 1000, seed: UInt64(500 + seed))
            estimates["relative entropy", default: []].append(
                try fixture.problem.relativeEntropy(model, randomness: randomness).gradients[0].scalar)
            estimates["log-variance", default: []].append(
                try fixture.problem.logVariance(model, randomness: randomness).gradients[0].scalar)
            estimates["trajectory balance", default: []].append(
                try fixture.problem.trajectoryBalance(model, logNormalizer: normalizer, randomness: randomness).gradients[0].scalar)
        }
        for (name, factor) in [("relative entropy", 1.0), ("log-variance", 2.0), ("trajectory balance", 2.0)] {
            let (mean, standardError) = meanAndStandardError(estimates[name]!)
            print("θ = \(theta): \(name) gradient \(mean) ± \(standardError); \(factor) × dKL/dθ = \(factor * derivative)")
            XCTAssertEqual(mean, factor * derivative, accuracy: 4 * standardError, name)
        }
        XCTAssertGreaterThan(Swift.abs(derivative), 0.5, "θ = 0.6 must be far enough from the optimum θ ≈ 1 for the test to mean something")
    }
}
