import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// Trajectory balance amortised over observations: one h-transform h_θ(t, x, y) and one
/// log-normaliser k(y) for every y ~ p(y).
final class AmortizedTrajectoryBalanceTests: XCTestCase {
    /// d = 2 with k = 2, 64 steps. Each path draws its own (x₀, y) from the prior and the
    /// observation model; h_θ is affine in x and y (16 hat functions in t) and k(y) is
    /// quadratic in y, the form of E[ln p_T(y | X_T)] for this problem, so both optima
    /// are representable. For three observations from p(y), the learned k(y) must be
    /// within 0.02 of the chain's −J*(y) (the oracle of each y; the continuous
    /// E[ln p_T(y | X_T)] is printed beside it), and 20,000 conditioned samples within
    /// W2 0.05 of each posterior, as for one observation, after 300 steps of 512 paths.
    func testLearnsLogNormalizerAcrossObservations() throws {
        let base = GaussianControlFixture(dimension: 2, steps: 64)
        let observationModel = base.observationModel
        let prior = base.prior
        let problem = ControlProblem(
            forward: base.sde, priorScore: base.problem.priorScore, terminalCost: .amortizedLikelihood(observationModel),
            grid: base.grid, dimension: 2)
        let knots = (0..<16).map { Foundation.pow(Double($0) / 15, 2) }
        let model = AffineHTransform<Double>(dimension: 2, contextDimension: 2, timeBasis: .piecewiseLinear(knots: knots))
        let normalizer = QuadraticLogNormalizer<Double>(contextDimension: 2)
        let drawObservations: (Int, UInt64) -> Tensor<Double> = { count, seed in
            var generator = PhiloxRandom(seed: seed, stream: 5)
            return observationModel.sample(given: prior.sample(count: count, using: &generator), using: &generator)
        }
        let iterations = 300
        let trainer = ControlTrainer(
            problem: problem, model: model, objective: .trajectoryBalance(logNormalizer: normalizer),
            configuration: .init(
                batchSize: 512, learningRate: CosineDecay(initialRate: 0.1, finalRate: 0.001, decaySteps: iterations).withLinearWarmup(steps: 10),
                adamBetas: (0.9, 0.9), seed: 3),
            contextSampler: drawObservations)
        let average = ExponentialMovingAverage(parameters: model.parameters + normalizer.parameters, decay: 0.97)
        try trainer.train(steps: iterations) { step in
            if step.index >= iterations / 3 { average.update() }
        }
        average.copyAveragesIntoParameters()

        let observations = drawObservations(3, 999)
        for row in 0..<3 {
            let y = observations.slice(alongAxis: 0, row..<(row + 1))
            let fixture = GaussianControlFixture(base, observation: y.scalars)
            let oracle = DiscreteControlOracle(fixture)
            let k = withoutRecording { normalizer(batch: 1, context: y).value.scalars[0] }
            let continuous = fixture.oracle.expectedTerminalLogWeight(start: .standard(dimension: 2), alphaBarAtHorizon: fixture.sde.alphaBar(1))
            let context = Tensor<Double>(zeros: [20_000, 2]) + y
            let samples = try problem.sample(model, randomness: problem.randomness(batch: 20_000, seed: 40 + UInt64(row)), context: context)
            let distance = try SampleMoments(samples).fittedNormal().wassersteinDistance(to: fixture.target)
            print("y = \(y.scalars): k(y) \(k), chain −J* \(-oracle.optimalCost), continuous E[ln p_T(y | X_T)] \(continuous); W2 \(distance)")
            XCTAssertEqual(k, -oracle.optimalCost, accuracy: 0.02, "y = \(y.scalars)")
            XCTAssertLessThan(distance, 0.05, "y = \(y.scalars)")
        }
    }
}
