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

    public init(
        steps: Int = 4000, batchSize: Int = 256, learningRate: Double = 2e-3, finalLearningRate: Double = 1e-5,
        warmupSteps: Int = 100, averageDecay: Double = 0.999, maximumGradientNorm: Double? = 1, reportInterval: Int = 500
    ) {
        precondition(steps > 0 && batchSize > 0, "DEFTTrainingConfiguration: steps \(steps) and batchSize \(batchSize) must be positive")
        precondition(warmupSteps >= 0 && warmupSteps < steps, "DEFTTrainingConfiguration: warmupSteps \(warmupSteps) must lie in [0, steps)")
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.finalLearningRate = finalLearningRate
        self.warmupSteps = warmupSteps
        self.averageDecay = averageDecay
        self.maximumGradientNorm = maximumGradientNorm
        self.reportInterval = reportInterval
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
    /// which receives the generator and the batch size.
    public func train(
        sampleBatch: (inout PhiloxRandom, Int) -> DEFTTrainingBatch<Scalar>, using generator: inout PhiloxRandom,
        progress: ((DEFTTrainingProgress) -> Void)? = nil
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
            let batch = sampleBatch(&generator, configuration.batchSize)
            let rate = rates.learningRate(atStep: step)

            model.network.zeroGradients()
            let loss = model.loss(x0: batch.x0, conditioning: batch.conditioning, using: &generator)
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
