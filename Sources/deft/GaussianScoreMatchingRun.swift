import DEFTScoreMatching
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors

/// DEFT fine-tuning on a Gaussian problem file, in Float. It trains the h-transform
/// network against the oracle's exact ε-model on paired draws (x₀, y) ~ p(x₀, y) and
/// measures its error against the exact h*. Then it samples the posterior of the file's
/// observation with the corrected model.
struct GaussianScoreMatchingRun {
    struct Settings {
        var trainingSteps = 4000
        var batchSize = 256
        /// Reverse-SDE steps for continuous schedules; DDPM schedules sample with all N steps.
        var samplingSteps = 512
        /// Whether to run the sampler a second time, on the same noise, with the exact
        /// conditional noise predictor, to separate the sampler's error from the network's.
        var comparesWithExactSampler = false
    }

    struct Result {
        var hRelativeError: Double
        var samples: Tensor<Float>
        /// The same sampler's output with the exact correction, when requested.
        var exactSamples: Tensor<Float>?
        var trainingSeconds: Double
        /// The loss of every training step.
        var losses: [Double]
        /// h^φ in score units at each query, nil where the network is not defined.
        var learnedQueries: [[Double]?]
    }

    let problem: GaussianProblem
    let settings: Settings

    func run(queries: [(t: Double, alphaBar: Double, x: [Double])]) throws -> Result {
        let prior = problem.prior
        switch problem.schedule {
        case let .vpLinear(betaMin, betaMax, horizon):
            let sde = VPSDE<Float>(schedule: .linear(betaMin: betaMin, betaMax: betaMax), horizon: horizon)
            let predictor = GaussianNoisePredictor<Float>(prior: prior, sde: sde)
            let evaluationTimes = (1...50).map { horizon * Double($0) / 50 }
            return try train(
                predictor: predictor, schedule: sde, timeScale: 1000 / horizon, evaluationTimes: evaluationTimes,
                learnedQueries: queries.map { ($0.t, $0.x) },
                sample: { predictor, initial in
                    let grid = TimeGrid(from: horizon, to: 0, steps: settings.samplingSteps)
                    let brownian = GridBrownianPath<Float>(grid: grid, shape: initial.shape, seed: problem.seed &+ 3)
                    return try sampleReverseSDE(predictor: predictor, sde: sde, initial: initial, grid: grid, brownian: brownian)
                })
        case let .ddpm(steps, betaStart, betaEnd):
            let schedule = DDPMSchedule.linear(betaStart: betaStart, betaEnd: betaEnd, count: steps)
            let predictor = GaussianNoisePredictor<Float>(prior: prior, schedule: schedule)
            // Model time k ∈ {0, …, N − 1} has ᾱ = alphaBars[k], which is ᾱ_{k+1} in the
            // file's 1-based steps, so query step k maps to model time k − 1.
            let evaluationTimes = (1...50).map { Double(Swift.max(Int((Double($0) * Double(steps) / 50).rounded()) - 1, 0)) }
            return try train(
                predictor: predictor, schedule: schedule, timeScale: 1, evaluationTimes: evaluationTimes,
                learnedQueries: queries.map { ($0.t >= 1 ? $0.t - 1 : nil, $0.x) },
                sample: { predictor, initial in
                    var generator = PhiloxRandom(seed: problem.seed, stream: 3)
                    return sampleAncestral(predictor: predictor, schedule: schedule, initial: initial, using: &generator)
                })
        }
    }

    private func train<Schedule: NoiseLevelSchedule>(
        predictor: GaussianNoisePredictor<Float>, schedule: Schedule, timeScale: Double, evaluationTimes: [Double],
        learnedQueries: [(modelTime: Double?, x: [Double])],
        sample: (any NoisePredictor<Float>, Tensor<Float>) throws -> Tensor<Float>
    ) throws -> Result {
        let prior = problem.prior
        let oracle = problem.oracle
        let observationModel: LinearGaussianObservation<Float> = problem.observationModel()
        let generator = PhiloxRandom(seed: problem.seed)
        var initialization = generator.split(0)
        var training = generator.split(1)
        var evaluation = generator.split(2)
        var sampling = generator.split(3)

        let network = HTransformNetwork<Float>(dimension: problem.dimension, timeScale: timeScale, using: &initialization)
        let model = DEFTModel(prior: predictor, schedule: schedule, network: network)
        let trainer = DEFTTrainer(
            model: model,
            configuration: DEFTTrainingConfiguration(steps: settings.trainingSteps, batchSize: settings.batchSize))
        func pairedBatch(_ generator: inout PhiloxRandom, _ count: Int) -> DEFTTrainingBatch<Float> {
            let x0 = prior.sample(count: count, using: &generator, as: Float.self)
            let y = observationModel.sample(given: x0, using: &generator)
            return DEFTTrainingBatch(x0: x0, conditioning: ObservationBatch(observation: y, likelihood: observationModel))
        }

        Log.info("training the h-transform network (\(network.parameterCount) parameters) for \(settings.trainingSteps) steps")
        let start = Date()
        trainer.train(sampleBatch: pairedBatch, using: &training) { progress in
            Log.info(String(
                format: "train step %d/%d  loss %.4f  lr %.2e  %.0f steps/s  %.1f s left", progress.step, progress.totalSteps,
                progress.loss, progress.learningRate, progress.stepsPerSecond, progress.secondsLeft))
        }
        let trainingSeconds = Date().timeIntervalSince(start)
        trainer.useAveragedWeights()

        let batch = pairedBatch(&evaluation, 2000)
        let error = model.relativeCorrectionError(
            x0: batch.x0, conditioning: batch.conditioning, times: evaluationTimes,
            reference: { state, t in
                let alphaBar = schedule.alphaBar(at: t)
                let exact = observationModel.amortizedHTransform(alphaBar: alphaBar, oracle: oracle)
                return exact(state, batch.conditioning.observation) * Float(-(1 - alphaBar).squareRoot())
            }, using: &evaluation)

        let count = problem.samples
        let observations = Tensor<Float>(
            shape: [count, problem.observationDimension],
            scalars: Array(repeating: problem.observation.map { Float($0) }, count: count).flatMap { $0 })
        let conditioning = ObservationBatch(observation: observations, likelihood: observationModel)
        let initial = Tensor<Float>.normal(shape: [count, problem.dimension], using: &sampling)
        Log.info("sampling \(count) conditional samples")
        let samples = try sample(ConditionedNoisePredictor(model: model, conditioning: conditioning), initial)
        var exactSamples: Tensor<Float>?
        if settings.comparesWithExactSampler {
            Log.info("sampling again with the exact correction")
            let exact = GaussianConditionalNoisePredictor<Float>(oracle: oracle, alphaBar: { schedule.alphaBar(at: $0) })
            exactSamples = try sample(exact, initial)
        }

        let learnedValues = learnedQueries.map { modelTime, x -> [Double]? in
            guard let modelTime else { return nil }
            let alphaBar = schedule.alphaBar(at: modelTime)
            guard alphaBar < 1 else { return nil }
            let state = Tensor<Float>(shape: [1, problem.dimension], scalars: x.map { Float($0) })
            let single = ObservationBatch(
                observation: Tensor<Float>(shape: [1, problem.observationDimension], scalars: problem.observation.map { Float($0) }),
                likelihood: observationModel)
            let correction = model.correction(state: state, time: Tensor([Float(modelTime)]), conditioning: single)
            return correction.scalars.map { Double($0) / -(1 - alphaBar).squareRoot() }
        }
        return Result(
            hRelativeError: error, samples: samples, exactSamples: exactSamples, trainingSeconds: trainingSeconds, losses: trainer.losses,
            learnedQueries: learnedValues)
    }
}
