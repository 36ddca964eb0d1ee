import Foundation
import SDECore
import Tensors
import XCTest

/// Sampling data N(m, s²) by solving the VP SDE's reverse-time SDE and probability-flow
/// ODE from t = 1 back to 0 with the exact score of the noised marginals,
/// pₜ = N(√ᾱ(t) m, ᾱ(t) s² + 1 − ᾱ(t)).
final class ReverseTimeSamplingTests: XCTestCase {
    let (m, s) = (1.5, 0.5)
    let paths = 10_000

    func exactScore(_ forward: VPSDE<Double>) -> ScoreFunction<Double> {
        { [m, s] t, x in
            let alphaBar = forward.alphaBar(t)
            let variance = alphaBar * s * s + 1 - alphaBar
            return (x - alphaBar.squareRoot() * m) * (-1 / variance)
        }
    }

    /// Draws X₁ from p₁ exactly.
    func terminalSamples(_ forward: VPSDE<Double>) -> Tensor<Double> {
        var generator = PhiloxRandom(seed: 99)
        let alphaBar = forward.alphaBar(1)
        let standardDeviation = (alphaBar * s * s + 1 - alphaBar).squareRoot()
        return Tensor.normal(shape: [paths, 1], mean: alphaBar.squareRoot() * m, standardDeviation: standardDeviation, using: &generator)
    }

    /// Checks the sample mean and variance against m and s². The standard errors are
    /// s/√n ≈ 0.005 and s²√(2/n) ≈ 0.0035; the tolerances are 4 standard errors plus
    /// `bias`, the allowance for the solver's weak error.
    func assertMoments(_ samples: Tensor<Double>, bias: Double, _ name: String) {
        let values = samples.scalars
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        print("\(name): mean \(mean) (\(m)), variance \(variance) (\(s * s))")
        XCTAssertEqual(mean, m, accuracy: 4 * s / n.squareRoot() + bias, name)
        XCTAssertEqual(variance, s * s, accuracy: 4 * s * s * (2 / n).squareRoot() + bias, name)
    }

    /// Euler–Maruyama on the reverse SDE, 1024 steps. Its weak error is of order
    /// h · max β = 20/1024 ≈ 0.02 times the moments' scale; the allowance is 0.02.
    func testReverseSDERecoversData() throws {
        let forward = VPSDE<Double>()
        let reverse = ReverseTimeSDE(forward: forward, score: exactScore(forward))
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 5)
        let samples = try solve(
            reverse, x0: Variable(terminalSamples(forward)), from: 1, to: 0, steps: 1024, brownian: tree,
            gradient: .detached
        ).terminal.value
        assertMoments(samples, bias: 0.02, "reverse SDE, Euler–Maruyama")
    }

    /// Heun on the probability-flow ODE, 256 steps: a second-order method with error of
    /// order (h · max β)² ≈ 0.006; the allowance is 0.01.
    func testProbabilityFlowRecoversData() throws {
        let forward = VPSDE<Double>()
        let flow = ProbabilityFlowODE(forward: forward, score: exactScore(forward))
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 6)
        let samples = try solve(
            flow, x0: Variable(terminalSamples(forward)), from: 1, to: 0, steps: 256, solver: Heun(), brownian: tree,
            gradient: .detached
        ).terminal.value
        assertMoments(samples, bias: 0.01, "probability flow, Heun")
    }
}
