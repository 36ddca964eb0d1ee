import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors
import XCTest

/// Fine-tuning to one observation of a Gaussian prior, for every pairing of an objective
/// with a gradient method, in dimensions 2 and 8, against the closed forms.
///
/// The model is `AffineHTransform` with 16 hat functions in t on knots (k/15)², which
/// contains the exact h-transform up to the interpolation in t. Every run is compared
/// with the discrete-time oracle of the Euler–Maruyama chain it trains on
/// (`DiscreteControlOracle`), because on a finite grid the optimum of each objective is
/// that chain's optimum, not the continuous one. Checks:
/// - the exact law of the learned chain and 100,000 samples are within W2 0.05 of the
///   posterior (the samples' moment errors add about 0.02 in d = 8);
/// - σ_t h_θ is within 5 % of the continuous σ_t h*_t in L²(optimal paths × dt);
/// - the objective at convergence matches its oracle value: J* of the chain for the
///   relative entropy, the chain's log-variance floor within 10 % for the log-variance
///   loss, and k within 0.02 of −J* = E[ln ℓ_T] of the chain for trajectory balance.
final class GaussianFineTuningTests: XCTestCase {
    struct Setting {
        var dimension: Int
        var steps: Int
        var batch: Int
        var iterations: Int
        var learningRate: Double
    }

    /// d = 2 on 64 steps. Every objective converges to about 2 % of the chain's optimum
    /// in 300 steps of 256 paths.
    static let small = Setting(dimension: 2, steps: 64, batch: 256, iterations: 300, learningRate: 0.2)
    /// d = 8 on 100 steps (fewer steps put the chain's own optimum more than 0.04 in W2
    /// from the posterior), with the pathwise relative-entropy gradient.
    static let large = Setting(dimension: 8, steps: 100, batch: 512, iterations: 200, learningRate: 0.2)
    /// d = 8 for the detached objectives, whose gradient estimators (covariances of the
    /// log-ratio with its parameter gradient) are noisier: larger batches, smaller steps.
    static let largeDetached = Setting(dimension: 8, steps: 100, batch: 1024, iterations: 250, learningRate: 0.07)

    struct Outcome {
        let fixture: GaussianControlFixture
        let oracle: DiscreteControlOracle
        let model: AffineHTransform<Double>
        let seconds: Double
    }

    /// Trains from the zero h-transform with Adam (β₂ = 0.9), a cosine learning-rate decay to 1 % and
    /// an exponential moving average (decay 0.97) of the parameters, the log-normaliser's
    /// included, over the last two thirds of the steps, which removes most of the
    /// optimiser's noise.
    func train(_ objective: ControlObjective<Double>, _ setting: Setting, logNormalizer: ScalarLogNormalizer<Double>? = nil) throws -> Outcome {
        let fixture = GaussianControlFixture(dimension: setting.dimension, steps: setting.steps)
        let knots = (0..<16).map { Foundation.pow(Double($0) / 15, 2) }
        let model = AffineHTransform<Double>(dimension: setting.dimension, timeBasis: .piecewiseLinear(knots: knots))
        let schedule = CosineDecay(
            initialRate: setting.learningRate, finalRate: setting.learningRate / 100, decaySteps: setting.iterations
        ).withLinearWarmup(steps: 10)
        let trainer = ControlTrainer(
            problem: fixture.problem, model: model, objective: objective,
            configuration: .init(
                batchSize: setting.batch, learningRate: schedule, adamBetas: (0.9, 0.9), seed: 1))
        let average = ExponentialMovingAverage(parameters: model.parameters + (logNormalizer?.parameters ?? []), decay: 0.97)
        let started = Date()
        try trainer.train(steps: setting.iterations) { step in
            if step.index >= setting.iterations / 3 { average.update() }
        }
        average.copyAveragesIntoParameters()
        return Outcome(fixture: fixture, oracle: DiscreteControlOracle(fixture), model: model, seconds: Date().timeIntervalSince(started))
    }

    /// Checks the samples and the learned h-transform, and returns the relative error of h.
    @discardableResult
    func checkSamplesAndControl(_ outcome: Outcome, _ name: String) throws -> Double {
        let (fixture, oracle) = (outcome.fixture, outcome.oracle)
        let controls = fixture.controls(of: outcome.model)
        let (law, cost) = oracle.lawAndCost(of: controls)
        let samples = try fixture.problem.sample(outcome.model, randomness: fixture.problem.randomness(batch: 100_000, seed: 77))
        let sampleDistance = try SampleMoments(samples).fittedNormal().wassersteinDistance(to: fixture.target)
        let lawDistance = law.wassersteinDistance(to: fixture.target)
        let continuousError = oracle.relativeError(of: controls, to: fixture.continuousOptimalControls)
        let discreteError = oracle.relativeError(of: controls, to: oracle.optimalControls)
        print(String(
            format: "%@: %.1f s; W2 of samples %.4f, of the chain's law %.4f; h error %.4f (against the chain's optimum %.4f); J %.4f, chain J* %.4f, continuous J* %.4f",
            name, outcome.seconds, sampleDistance, lawDistance, continuousError, discreteError, cost, oracle.optimalCost,
            fixture.oracle.optimalControlCost(start: .standard(dimension: fixture.dimension), alphaBarAtHorizon: fixture.sde.alphaBar(1))))
        XCTAssertLessThan(sampleDistance, 0.05, name)
        XCTAssertLessThan(lawDistance, 0.05, name)
        XCTAssertLessThan(continuousError, 0.05, name)
        return continuousError
    }

    // MARK: Relative entropy

    func checkRelativeEntropy(_ gradient: GradientMethod, checkpointInterval: Int?, _ setting: Setting, _ name: String) throws {
        let outcome = try train(.relativeEntropy(gradient: gradient, checkpointInterval: checkpointInterval), setting)
        try checkSamplesAndControl(outcome, name)

        // The left-point estimate on 8192 fresh paths is unbiased for the learned chain's J.
        let evaluation = try outcome.fixture.problem.relativeEntropy(
            outcome.model, randomness: outcome.fixture.problem.randomness(batch: 8192, seed: 78), gradient: .detached)
        let (mean, standardError) = meanAndStandardError(evaluation.pathCosts.scalars)
        print("\(name): loss \(mean) ± \(standardError), chain J* \(outcome.oracle.optimalCost)")
        XCTAssertEqual(mean, outcome.oracle.optimalCost, accuracy: 4 * standardError + 0.01, name)
    }

    func testRelativeEntropyBackpropagation() throws {
        try checkRelativeEntropy(.backpropagation, checkpointInterval: nil, Self.small, "relative entropy, backpropagation, d = 2")
        try checkRelativeEntropy(.backpropagation, checkpointInterval: nil, Self.large, "relative entropy, backpropagation, d = 8")
    }

    func testRelativeEntropyAdjoint() throws {
        try checkRelativeEntropy(.adjoint(), checkpointInterval: 8, Self.small, "relative entropy, adjoint, d = 2")
        try checkRelativeEntropy(.adjoint(), checkpointInterval: 8, Self.large, "relative entropy, adjoint, d = 8")
    }

    /// The checkpointed adjoint, the default adjoint of `deft control`, with its default
    /// ⌈log₂ N⌉ stored states.
    func testRelativeEntropyCheckpointedAdjoint() throws {
        try checkRelativeEntropy(.checkpointed(), checkpointInterval: nil, Self.small, "relative entropy, checkpointed adjoint, d = 2")
    }

    // MARK: Detached objectives

    func checkLogVariance(_ setting: Setting, _ name: String) throws {
        let outcome = try train(.logVariance(), setting)
        try checkSamplesAndControl(outcome, name)

        // The sample variance of 8192 paths has relative standard error √(2/8191) ≈ 1.6 %.
        let evaluation = try outcome.fixture.problem.logVariance(
            outcome.model, randomness: outcome.fixture.problem.randomness(batch: 8192, seed: 79))
        print("\(name): loss \(evaluation.loss), chain floor \(outcome.oracle.logVarianceFloor)")
        XCTAssertEqual(evaluation.loss, outcome.oracle.logVarianceFloor, accuracy: 0.1 * outcome.oracle.logVarianceFloor, name)
    }

    func testLogVariance() throws {
        try checkLogVariance(Self.small, "log-variance, detached, d = 2")
        try checkLogVariance(Self.largeDetached, "log-variance, detached, d = 8")
    }

    func checkTrajectoryBalance(_ setting: Setting, _ name: String) throws {
        let normalizer = ScalarLogNormalizer<Double>()
        let outcome = try train(.trajectoryBalance(logNormalizer: normalizer), setting, logNormalizer: normalizer)
        try checkSamplesAndControl(outcome, name)
        let k = normalizer.value.value.scalars[0]
        print("\(name): k \(k), chain −J* \(-outcome.oracle.optimalCost)")
        XCTAssertEqual(k, -outcome.oracle.optimalCost, accuracy: 0.02, name)
    }

    func testTrajectoryBalance() throws {
        try checkTrajectoryBalance(Self.small, "trajectory balance, detached, d = 2")
        try checkTrajectoryBalance(Self.largeDetached, "trajectory balance, detached, d = 8")
    }
}

/// Returns the sample mean and the standard error of the mean of `values`.
func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (mean, (variance / n).squareRoot())
}
