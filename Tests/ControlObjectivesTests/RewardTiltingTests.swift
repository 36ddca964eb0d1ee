import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// Reward tilting of a Gaussian prior N(m, S): π ∝ exp(r) N(m, S) and ln Z = ln E[exp r(X₀)].
///
/// For r(x) = bᵀ x, π = N(m + S b, S) and ln Z = bᵀ m + ½ bᵀ S b. For
/// r(x) = −½ (x − c)ᵀ Q (x − c), π has precision S⁻¹ + Q and mean (S⁻¹ + Q)⁻¹ (S⁻¹ m + Q c),
/// and ln Z = −½ (m − c)ᵀ (S + Q⁻¹)⁻¹ (m − c) − ½ ln det(I + S Q). `GaussianTilt` gives
/// both; the linear case is also checked by hand below.
final class RewardTiltingTests: XCTestCase {
    /// Trains by relative entropy with backpropagation (d = 2, 64 steps, 300 steps of 256
    /// paths), then checks 100,000 samples against π (W2 < 0.05) and the importance-
    /// sampling estimate of ln Z from 20,000 paths against the closed form (0.02). The
    /// estimate targets the chain's own Z, E[exp r] under the prior's Euler–Maruyama chain
    /// started from N(0, I), which the oracle also gives; its gap to the closed form is
    /// printed.
    func checkTilt(tilt: GaussianTilt, reward: @escaping (Variable<Double>) -> Variable<Double>, name: String) throws {
        let fixture = GaussianControlFixture(dimension: 2, steps: 64, tilt: tilt, reward: reward)
        let oracle = DiscreteControlOracle(fixture)
        let knots = (0..<16).map { Foundation.pow(Double($0) / 15, 2) }
        let model = AffineHTransform<Double>(dimension: 2, timeBasis: .piecewiseLinear(knots: knots))
        let trainer = ControlTrainer(
            problem: fixture.problem, model: model, objective: .relativeEntropy(gradient: .backpropagation),
            configuration: .init(
                batchSize: 256, learningRate: CosineDecay(initialRate: 0.2, finalRate: 0.002, decaySteps: 300).withLinearWarmup(steps: 10),
                adamBetas: (0.9, 0.9), seed: 2))
        let average = ExponentialMovingAverage(parameters: model.parameters, decay: 0.97)
        try trainer.train(steps: 300) { step in
            if step.index >= 100 { average.update() }
        }
        average.copyAveragesIntoParameters()

        let samples = try fixture.problem.sample(model, randomness: fixture.problem.randomness(batch: 100_000, seed: 31))
        let distance = try SampleMoments(samples).fittedNormal().wassersteinDistance(to: fixture.target)
        let estimate = try fixture.problem.estimateLogNormalizer(model, randomness: fixture.problem.randomness(batch: 20_000, seed: 32))
        let exact = fixture.oracle.logNormalizer
        let chainLaw = oracle.lawAndCost(of: Array(repeating: AffineMap(weight: Matrix(zeros: 2, 2), offset: [0, 0]), count: fixture.grid.stepCount)).law
        let chainLogNormalizer = tilt.logNormalizer(under: chainLaw)
        print("\(name): W2 \(distance); ln Z estimate \(estimate.logNormalizer) ± \(estimate.standardError) (ESS \(estimate.effectiveSampleSize) of \(estimate.sampleCount)), exact \(exact), chain \(chainLogNormalizer)")
        XCTAssertLessThan(distance, 0.05, name)
        XCTAssertEqual(estimate.logNormalizer, exact, accuracy: 0.02, name)
    }

    func testLinearReward() throws {
        let b = [0.8, -0.5]
        let tilt = GaussianTilt.linearReward(b)
        let fixture = GaussianControlFixture(dimension: 2, steps: 64, tilt: tilt, reward: Rewards.linear(b))
        let (m, s) = (fixture.prior.mean, fixture.prior.covariance)
        let shifted = zip(m, s * b).map { $0 + $1 }
        XCTAssertEqual(fixture.target.mean[0], shifted[0], accuracy: 1e-12)
        XCTAssertEqual(fixture.target.mean[1], shifted[1], accuracy: 1e-12)
        XCTAssertEqual(fixture.oracle.logNormalizer, dotProduct(b, m) + 0.5 * dotProduct(b, s * b), accuracy: 1e-12)
        try checkTilt(tilt: tilt, reward: Rewards.linear(b), name: "linear reward")
    }

    func testQuadraticReward() throws {
        let q = Matrix([[2, 0.5], [0.5, 1]])
        let centre = [1.0, -1.0]
        try checkTilt(
            tilt: .quadraticReward(precision: q, centre: centre),
            reward: Rewards.quadratic(precision: q.elements, centre: centre), name: "quadratic reward")
    }
}
