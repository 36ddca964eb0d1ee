import Foundation
import NeuralNetworks
import SDECore
import Tensors

/// A batch of paired training data: clean samples and their observations.
public struct DEFTTrainingBatch<Scalar: TensorScalar> {
    /// X₀, `[N, …]`.
    public var x0: Tensor<Scalar>
    public var conditioning: ObservationBatch<Scalar>

    public init(x0: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>) {
        precondition(x0.shape[0] == conditioning.count, "DEFTTrainingBatch: \(x0.shape[0]) samples for \(conditioning.count) observations")
        self.x0 = x0
        self.conditioning = conditioning
    }
}

/// The optimisation settings of DEFT fine-tuning.
public struct DEFTTrainingConfiguration: Sendable {
    public var steps: Int
    public var batchSize: Int
    /// The peak learning rate of Adam, reached after `warmupSteps`.
    public var learningRate: Double
    /// The rate at the end of the cosine decay.
    public var finalLearningRate: Double
    public var warmupSteps: Int
    /// The decay of the exponential moving average of the weights (with warm-up).
    public var averageDecay: Double
    /// The bound on the global gradient norm, or nil for no clipping.
    ///
    /// The initial guidance term c_t g of `HTransformNetwork` is far too large near t = T,
    /// so the first gradients are huge. Unclipped, they inflate Adam's second-moment
    /// estimates for thousands of steps. On the Gaussian test problem in two dimensions,
    /// clipping at 1 gave a relative error of 2.6 % after 4000 steps, against more than
    /// 100 % unclipped.
    public var maximumGradientNorm: Double?
    /// Steps between progress reports; 0 for none.
    public var reportInterval: Int
    /// R, the training draws that each evaluation of the prior serves on average: each step
    /// evaluates the prior on `batchSize` / R fresh states and draws its batch from a
    /// `PriorEvaluationPool` of `priorPoolCapacity` states. 1 evaluates the prior on every
    /// state of every batch, with no pool. Only `DEFTTrainer.train(sampleImages:observe:using:progress:)`
    /// uses it, because the pool needs fresh observations of old states.
    public var priorReuse: Int
    /// The capacity of the pool when `priorReuse` > 1.
    public var priorPoolCapacity: Int

    public init(
        steps: Int = 4000, batchSize: Int = 256, learningRate: Double = 2e-3, finalLearningRate: Double = 1e-5,
        warmupSteps: Int = 100, averageDecay: Double = 0.999, maximumGradientNorm: Double? = 1, reportInterval: Int = 500,
        priorReuse: Int = 1, priorPoolCapacity: Int = 256
    ) {
        precondition(steps > 0 && batchSize > 0, "DEFTTrainingConfiguration: steps \(steps) and batchSize \(batchSize) must be positive")
        precondition(warmupSteps >= 0 && warmupSteps < steps, "DEFTTrainingConfiguration: warmupSteps \(warmupSteps) must lie in [0, steps)")
        precondition(
            priorReuse >= 1 && batchSize % priorReuse == 0,
            "DEFTTrainingConfiguration: priorReuse \(priorReuse) must be at least 1 and divide batchSize \(batchSize)")
        precondition(
            priorPoolCapacity >= batchSize,
            "DEFTTrainingConfiguration: priorPoolCapacity \(priorPoolCapacity) must be at least batchSize \(batchSize)")
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.finalLearningRate = finalLearningRate
        self.warmupSteps = warmupSteps
        self.averageDecay = averageDecay
        self.maximumGradientNorm = maximumGradientNorm
        self.reportInterval = reportInterval
        self.priorReuse = priorReuse
        self.priorPoolCapacity = priorPoolCapacity
    }
}

/// One progress report of `DEFTTrainer.train`.
public struct DEFTTrainingProgress: Sendable {
    public let step: Int
    public let totalSteps: Int
    /// The mean loss over the steps since the previous report.
    public let loss: Double
    public let learningRate: Double
    public let stepsPerSecond: Double
    public let secondsLeft: Double
}

/// Trains the h-transform network of a `DEFTModel` by the score-matching loss with Adam,
/// a linear warm-up into a cosine decay, and an exponential moving average of the weights.
/// The frozen prior is never updated.
public final class DEFTTrainer<Predictor: NoisePredictor, Schedule: NoiseLevelSchedule>
where Predictor.Scalar: OptimizerScalar {
    public typealias Scalar = Predictor.Scalar

    public let model: DEFTModel<Predictor, Schedule>
    public let configuration: DEFTTrainingConfiguration
    public let optimizer: Adam<Scalar>
    public let average: ExponentialMovingAverage<Scalar>
    /// The loss of every step taken so far.
    public private(set) var losses: [Double] = []

    public init(model: DEFTModel<Predictor, Schedule>, configuration: DEFTTrainingConfiguration) {
        self.model = model
        self.configuration = configuration
        optimizer = Adam(parameters: model.network.parameters, learningRate: Scalar(configuration.learningRate))
        average = ExponentialMovingAverage(
            parameters: model.network.parameters, decay: Scalar(configuration.averageDecay), warmup: true)
    }

    /// Runs `configuration.steps` optimisation steps on fresh batches from `sampleBatch`,
    /// which receives the generator and the batch size. The prior is evaluated on every
    /// state of every batch, so `configuration.priorReuse` must be 1.
    public func train(
        sampleBatch: (inout PhiloxRandom, Int) -> DEFTTrainingBatch<Scalar>, using generator: inout PhiloxRandom,
        progress: ((DEFTTrainingProgress) -> Void)? = nil
    ) {
        precondition(
            configuration.priorReuse == 1,
            "DEFTTrainer: priorReuse \(configuration.priorReuse) needs fresh observations of pooled states; use train(sampleImages:observe:using:progress:)")
        run(using: &generator, progress: progress) { generator in
            let batch = sampleBatch(&generator, configuration.batchSize)
            return model.loss(x0: batch.x0, conditioning: batch.conditioning, using: &generator)
        }
    }

    /// Runs `configuration.steps` optimisation steps on clean samples from `sampleImages`
    /// (which receives the generator and a count) paired with fresh observations from
    /// `observe`.
    ///
    /// With `configuration.priorReuse` 1 a step draws a batch of clean samples, then their
    /// observations, then t and ε, the draws of `train(sampleBatch:using:progress:)` with a
    /// batch of `observe(sampleImages(…))`. With R > 1 the states come from a
    /// `PriorEvaluationPool`: it is first filled with `priorPoolCapacity` fresh states, and
    /// each step adds `batchSize` / R fresh ones and draws its batch from it, observing
    /// every drawn x₀ afresh.
    public func train(
        sampleImages: (inout PhiloxRandom, Int) -> Tensor<Scalar>,
        observe: (Tensor<Scalar>, inout PhiloxRandom) -> ObservationBatch<Scalar>, using generator: inout PhiloxRandom,
        progress: ((DEFTTrainingProgress) -> Void)? = nil
    ) {
        let batchSize = configuration.batchSize
        guard configuration.priorReuse > 1 else {
            run(using: &generator, progress: progress) { generator in
                let x0 = sampleImages(&generator, batchSize)
                return model.loss(x0: x0, conditioning: observe(x0, &generator), using: &generator)
            }
            return
        }

        let freshCount = batchSize / configuration.priorReuse
        var pool = PriorEvaluationPool<Scalar>(capacity: configuration.priorPoolCapacity)
        while !pool.isFull {
            pool.insert(model.noisedStates(x0: sampleImages(&generator, Swift.min(batchSize, pool.capacity - pool.count)), using: &generator))
        }
        run(using: &generator, progress: progress) { generator in
            pool.insert(model.noisedStates(x0: sampleImages(&generator, freshCount), using: &generator))
            let noised = pool.draw(batchSize, using: &generator)
            return model.loss(noised: noised, conditioning: observe(noised.x0, &generator))
        }
    }

    /// Runs the optimisation steps with the loss of each step from `stepLoss`.
    private func run(
        using generator: inout PhiloxRandom, progress: ((DEFTTrainingProgress) -> Void)?,
        stepLoss: (inout PhiloxRandom) -> Variable<Scalar>
    ) {
        let schedule = CosineDecay(
            initialRate: configuration.learningRate, finalRate: configuration.finalLearningRate,
            decaySteps: configuration.steps - configuration.warmupSteps)
        let rates: any LearningRateSchedule = configuration.warmupSteps > 0
            ? schedule.withLinearWarmup(steps: configuration.warmupSteps) : schedule
        let start = Date()
        var lossSinceReport = 0.0
        var stepsSinceReport = 0

        for step in 0..<configuration.steps {
            let rate = rates.learningRate(atStep: step)

            model.network.zeroGradients()
            let loss = stepLoss(&generator)
            loss.backward()
            if let bound = configuration.maximumGradientNorm {
                clipGradientNorm(model.network.parameters, maxNorm: Scalar(bound))
            }
            optimizer.learningRate = Scalar(rate)
            optimizer.step()
            average.update()

            let value = Double(loss.value.scalar)
            losses.append(value)
            lossSinceReport += value
            stepsSinceReport += 1
            let interval = configuration.reportInterval
            if let progress, interval > 0, (step + 1) % interval == 0 || step + 1 == configuration.steps {
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double(step + 1) / Swift.max(elapsed, 1e-9)
                progress(DEFTTrainingProgress(
                    step: step + 1, totalSteps: configuration.steps, loss: lossSinceReport / Double(stepsSinceReport),
                    learningRate: rates.learningRate(atStep: step), stepsPerSecond: rate,
                    secondsLeft: Double(configuration.steps - step - 1) / rate))
                lossSinceReport = 0
                stepsSinceReport = 0
            }
        }
    }

    /// Copies the moving averages into the network, for sampling and evaluation after
    /// training.
    public func useAveragedWeights() {
        average.copyAveragesIntoParameters()
    }
}
