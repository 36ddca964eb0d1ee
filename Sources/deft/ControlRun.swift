import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors

/// The conditioning problem of a `deft control` run: a frozen prior with an exact score,
/// a terminal weight (likelihood or reward) and, where they exist, the closed forms to
/// compare with.
struct ControlSetup {
    enum Reference {
        /// A Gaussian prior: the oracle gives the target, h*, J*, the floor and ln Z.
        case gaussian(GaussianDiffusionOracle, isReward: Bool)
        /// A Gaussian mixture with a linear Gaussian likelihood: exact mode weights.
        case mixture(GaussianMixturePrior, weights: [Double])
    }

    let problem: ControlProblem<VPSDE<Double>>
    let reference: Reference
    let sampleCount: Int
    let seed: UInt64
}

/// The hyperparameters of a run.
struct ControlSettings {
    var objective: String
    var gradient: String
    var modelKind: String
    var knotCount: Int
    var trainingSteps: Int
    var batchSize: Int
    var learningRate: Double
    /// The stochastic adjoint's interval between stored states.
    var checkpointInterval: Int
    /// The checkpointed adjoint's number of stored states, nil for ⌈log₂ N⌉.
    var checkpoints: Int? = nil
}

/// One line of progress: step, loss, time and memory.
struct ControlProgress: Codable {
    var step: Int
    var loss: Double
    var seconds: Double
    var peakResidentKilobytes: Int?
    var residentKilobytes: Int?
}

/// The results of a run, encoded with snake-case keys. Fields that do not apply to the
/// problem are left out.
struct ControlReport: Codable {
    var problem: String
    var objective: String
    var gradient: String
    var finalLoss: Double
    var trainingSeconds: Double
    var secondsPerStep: Double
    var peakResidentKilobytes: Int?
    var sampleMean: [Double]
    var sampleCovariance: [[Double]]
    var posteriorMean: [Double]?
    var w2ToPosterior: Double?
    var hRelativeError: Double?
    var optimalCost: Double?
    var logVarianceFloor: Double?
    var expectedTerminalLogLikelihood: Double?
    var logNormalizer: Double?
    var logNormalizerEstimate: Double?
    var logNormalizerStandardError: Double?
    var logNormalizerExact: Double?
    var modeMasses: [Double]?
    var exactModeWeights: [Double]?

    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }
}

/// Trains an h-transform on a `ControlSetup` and evaluates it.
struct ControlRun {
    let setup: ControlSetup
    let settings: ControlSettings
    let problemName: String
    let onProgress: (ControlProgress) -> Void

    /// Returns the report, the samples X₀ of the trained control and its parameters.
    func run() throws -> (report: ControlReport, samples: Tensor<Double>, parameters: [String: Tensor<Double>]) {
        let problem = setup.problem
        let d = problem.dimension
        let knots = (0..<settings.knotCount).map { Foundation.pow(Double($0) / Double(settings.knotCount - 1), 2) * problem.horizon }
        var generator = PhiloxRandom(seed: setup.seed, stream: 7)
        switch settings.modelKind {
        case "affine":
            return try run(AffineHTransform<Double>(dimension: d, timeBasis: .piecewiseLinear(knots: knots)))
        case "features":
            let features = AffineHTransform<Double>.randomFeatures(dimension: d, count: 16, scale: 0.5, using: &generator)
            return try run(AffineHTransform<Double>(dimension: d, timeBasis: .piecewiseLinear(knots: knots), stateFeatures: features))
        default:
            return try run(MLPHTransform<Double>(dimension: d, timeScale: 1000 / problem.horizon, using: &generator))
        }
    }

    private func run<Model: HTransformModel>(_ model: Model) throws -> (report: ControlReport, samples: Tensor<Double>, parameters: [String: Tensor<Double>])
    where Model.Scalar == Double {
        let problem = setup.problem
        let normalizer = ScalarLogNormalizer<Double>()
        let objective = try makeObjective(normalizer: normalizer)
        // A warm-up of a tenth of the steps, at most 10; runs of fewer than 10 steps have none.
        let decay = CosineDecay(
            initialRate: settings.learningRate, finalRate: settings.learningRate / 100, decaySteps: settings.trainingSteps)
        let warmupSteps = Swift.min(10, settings.trainingSteps / 10)
        let schedule: any LearningRateSchedule = warmupSteps > 0 ? decay.withLinearWarmup(steps: warmupSteps) : decay
        let trainer = ControlTrainer(
            problem: problem, model: model, objective: objective,
            configuration: .init(
                batchSize: settings.batchSize, learningRate: schedule, adamBetas: (0.9, 0.9), seed: setup.seed))

        // Adam with a moving average of the parameters over the last two thirds of training.
        let averaged = model.parameters + (isTrajectoryBalance ? normalizer.parameters : [])
        let average = ExponentialMovingAverage(parameters: averaged, decay: 0.97)
        let started = Date()
        try trainer.train(steps: settings.trainingSteps) { step in
            if step.index >= settings.trainingSteps / 3 { average.update() }
            let memory = ProcessMemory.current()
            onProgress(ControlProgress(
                step: step.index, loss: step.loss, seconds: step.seconds, peakResidentKilobytes: memory.peak,
                residentKilobytes: memory.resident))
        }
        let trainingSeconds = Date().timeIntervalSince(started)
        average.copyAveragesIntoParameters()

        // The objective on a fresh batch with the averaged parameters.
        let evaluationRandomness = problem.randomness(batch: Swift.max(settings.batchSize, 4096), seed: setup.seed &+ 1_000_003)
        let finalLoss = try trainer.evaluate(randomness: evaluationRandomness).loss
        let samples = try problem.sample(model, randomness: problem.randomness(batch: setup.sampleCount, seed: setup.seed &+ 2_000_003))
        let moments = SampleMoments(samples)

        var report = ControlReport(
            problem: problemName, objective: settings.objective, gradient: settings.gradient, finalLoss: finalLoss,
            trainingSeconds: trainingSeconds, secondsPerStep: trainingSeconds / Double(settings.trainingSteps),
            peakResidentKilobytes: ProcessMemory.current().peak, sampleMean: moments.mean,
            sampleCovariance: moments.covariance.rowArrays)
        if isTrajectoryBalance {
            report.logNormalizer = normalizer.value.value.scalars[0]
        }

        switch setup.reference {
        case let .gaussian(oracle, isReward):
            let start = MultivariateNormal.standard(dimension: problem.dimension)
            let alphaBarAtHorizon = problem.forward.alphaBar(problem.horizon)
            report.posteriorMean = oracle.target.mean
            report.w2ToPosterior = try moments.fittedNormal().wassersteinDistance(to: oracle.target)
            report.hRelativeError = try hRelativeError(model, oracle: oracle)
            report.optimalCost = oracle.optimalControlCost(start: start, alphaBarAtHorizon: alphaBarAtHorizon)
            report.logVarianceFloor = oracle.terminalLogWeightVariance(start: start, alphaBarAtHorizon: alphaBarAtHorizon)
            report.expectedTerminalLogLikelihood = oracle.expectedTerminalLogWeight(start: start, alphaBarAtHorizon: alphaBarAtHorizon)
            if isReward {
                let estimate = try problem.estimateLogNormalizer(model, randomness: problem.randomness(batch: setup.sampleCount, seed: setup.seed &+ 3_000_003))
                report.logNormalizerEstimate = estimate.logNormalizer
                report.logNormalizerStandardError = estimate.standardError
                report.logNormalizerExact = oracle.logNormalizer
            }
        case let .mixture(prior, weights):
            report.modeMasses = modeMasses(samples, prior: prior)
            report.exactModeWeights = weights
        }
        return (report, samples, model.parameterValues)
    }

    private var isTrajectoryBalance: Bool { settings.objective == "trajectory-balance" }

    private func makeObjective(normalizer: ScalarLogNormalizer<Double>) throws -> ControlObjective<Double> {
        switch (settings.objective, settings.gradient) {
        case ("relative-entropy", "backprop"):
            return .relativeEntropy(gradient: .backpropagation)
        case ("relative-entropy", "adjoint"):
            return .relativeEntropy(gradient: .checkpointed(checkpoints: settings.checkpoints))
        case ("relative-entropy", "stochastic-adjoint"):
            return .relativeEntropy(gradient: .adjoint(), checkpointInterval: settings.checkpointInterval)
        case ("vargrad", "detached"), ("log-variance", "detached"):
            return .logVariance()
        case ("trajectory-balance", "detached"):
            return .trajectoryBalance(logNormalizer: normalizer)
        default:
            throw CommandLineError.invalidValue(
                command: "control", option: "gradient", value: settings.gradient,
                expected: "backprop, adjoint or stochastic-adjoint for relative-entropy, detached for vargrad and trajectory-balance")
        }
    }

    /// √(Σₙ δₙ E‖σ (h_θ − h*)‖² / Σₙ δₙ E‖σ h*‖²) over 2048 paths of the learned control:
    /// the relative L² error in control units, the metric in which the objectives weigh h.
    private func hRelativeError<Model: HTransformModel>(_ model: Model, oracle: GaussianDiffusionOracle) throws -> Double
    where Model.Scalar == Double {
        let problem = setup.problem
        var (error, norm) = (0.0, 0.0)
        _ = try solve(
            problem.controlledSDE(model), x0: Variable(problem.randomness(batch: 2048, seed: setup.seed &+ 4_000_003).start),
            grid: problem.grid, brownian: problem.randomness(batch: 2048, seed: setup.seed &+ 4_000_003).brownian, gradient: .detached
        ) { step in
            let beta = problem.forward.beta(step.t0)
            let exact = oracle.hTransformMap(alphaBar: problem.forward.alphaBar(step.t0))(step.x0.value)
            let difference = model(step.t0, step.x0).value - exact
            let weight = beta * Swift.abs(step.dt)
            error += weight * Double((difference * difference).sum())
            norm += weight * Double((exact * exact).sum())
        }
        return (error / norm).squareRoot()
    }

    /// Returns the fraction of samples nearest to each component mean.
    private func modeMasses(_ samples: Tensor<Double>, prior: GaussianMixturePrior) -> [Double] {
        var counts = [Int](repeating: 0, count: prior.componentCount)
        let (n, d) = (samples.shape[0], samples.shape[1])
        let scalars = samples.scalars
        for i in 0..<n {
            let row = scalars[(i * d)..<((i + 1) * d)]
            let distances = prior.means.map { mean in zip(row, mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
            counts[distances.indices.min { distances[$0] < distances[$1] }!] += 1
        }
        return counts.map { Double($0) / Double(n) }
    }
}

/// The process's peak and current resident set sizes (VmHWM and VmRSS of
/// /proc/self/status, in kB), nil where the file is missing.
enum ProcessMemory {
    static func current() -> (peak: Int?, resident: Int?) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (nil, nil) }
        func field(_ name: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return (field("VmHWM"), field("VmRSS"))
    }
}
