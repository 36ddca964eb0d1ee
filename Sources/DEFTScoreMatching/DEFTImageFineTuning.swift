import Foundation
import NeuralNetworks
import SDECore
import Tensors

/// The settings of `DEFTImageFineTuning`.
public struct DEFTImageFineTuningConfiguration: Sendable {
    /// Adam, schedule, moving average and clipping; see `defaultTraining`.
    public var training: DEFTTrainingConfiguration
    /// The network's sizes. `channels` and `featureChannels` are overwritten from the
    /// images and the features closure, and `gradientInputScale` too unless
    /// `estimatesGradientInputScale` is false.
    public var architecture: ImageHTransformArchitecture
    /// Whether to set `architecture.gradientInputScale` to 1 / RMS(g) over a batch of
    /// network inputs at random times, so that the U-Net's g channel is of order 1
    /// whatever the operator and σ_y.
    public var estimatesGradientInputScale: Bool
    /// σ_y, the standard deviation of the observation noise. With it the network starts
    /// at c_t s₀(t) g (see `ImageHTransformArchitecture.initialGuidanceScale`), with v
    /// measured on the images and λ estimated from the operator. Nil takes σ_y from a
    /// `LinearObservationModel` and otherwise keeps s₀ = 1.
    public var observationNoise: Double?
    /// Whether to estimate λ, the mean eigenvalue of A Aᵀ, for s₀(t); false keeps λ = 1,
    /// which is exact for inpainting.
    public var estimatesOperatorGain: Bool
    /// The seed of the initial parameters, the batches, times and noise.
    public var seed: UInt64

    /// The default optimisation: 1000 steps of batch 16, Adam with the learning rate
    /// warmed up over 100 steps to 1e-3 and decayed by a cosine to 1e-5, a moving average
    /// of decay 0.995, and the gradient norm clipped at 1.
    ///
    /// The budget is a tenth of the prior's training. In one run of `benchmark-imaging` a
    /// fine-tuning step of batch 16 on the shipped Fashion-MNIST prior took 0.16 s and a
    /// prior training step of batch 32 took 0.58 s, so 1000 steps cost about 8 % of the
    /// prior's 3500 steps. On inpainting, 750 steps gave 0.2 dB less PSNR than 1500.
    public static var defaultTraining: DEFTTrainingConfiguration {
        DEFTTrainingConfiguration(
            steps: 1000, batchSize: 16, learningRate: 1e-3, finalLearningRate: 1e-5, warmupSteps: 100,
            averageDecay: 0.995, maximumGradientNorm: 1, reportInterval: 50)
    }

    public init(
        training: DEFTTrainingConfiguration = Self.defaultTraining,
        architecture: ImageHTransformArchitecture = ImageHTransformArchitecture(),
        estimatesGradientInputScale: Bool = true, observationNoise: Double? = nil, estimatesOperatorGain: Bool = true,
        seed: UInt64 = 0
    ) {
        self.training = training
        self.architecture = architecture
        self.estimatesGradientInputScale = estimatesGradientInputScale
        self.observationNoise = observationNoise
        self.estimatesOperatorGain = estimatesOperatorGain
        self.seed = seed
    }

    /// Returns these settings with `observationNoise` set to σ_y.
    public func withObservationNoise(_ standardDeviation: Double) -> Self {
        var copy = self
        copy.observationNoise = standardDeviation
        return copy
    }
}

/// DEFT fine-tuning of an `ImageHTransformNetwork` on top of a frozen image ε-model, and
/// the conditional model it gives.
///
/// Each training step draws a batch of clean images uniformly with replacement from
/// `images`, a fresh observation y = A(x₀) + noise for each from `observationModel`, a time
/// and ε per image, and takes one `DEFTTrainer` step on the score-matching loss. Only the
/// h-transform network is trained, and the prior is evaluated without recording.
///
/// The caller supplies the task: the observation model (any batch size) and a closure
/// that turns observations `[N, …]` into the network's extra input channels
/// `[N, c, H, W]`, for example y and the inpainting mask, or nil for none.
public final class DEFTImageFineTuning<Predictor: NoisePredictor, Schedule: NoiseLevelSchedule>
where Predictor.Scalar: OptimizerScalar {
    public typealias Scalar = Predictor.Scalar

    /// The clean training images `[M, C, H, W]`.
    public let images: Tensor<Scalar>
    public let observationModel: any ObservationModel<Scalar>
    public let features: ((Tensor<Scalar>) -> Tensor<Scalar>)?
    public let configuration: DEFTImageFineTuningConfiguration
    public let network: ImageHTransformNetwork<Scalar>
    public let model: DEFTModel<Predictor, Schedule>
    public let trainer: DEFTTrainer<Predictor, Schedule>
    /// The generator of the training batches, advanced by `train`.
    private var generator: PhiloxRandom

    /// Builds the network for the task, with the architecture's channel counts read from
    /// `images` and from `features` applied to one observation.
    ///
    /// - Parameters:
    ///   - prior: the frozen ε-model, taking the schedule's times.
    ///   - images: the clean fine-tuning images `[M, C, H, W]`, in the prior's data range.
    ///   - task: the name stored in the network's weight file.
    public init(
        prior: Predictor, schedule: Schedule, images: Tensor<Scalar>, observationModel: any ObservationModel<Scalar>,
        features: ((Tensor<Scalar>) -> Tensor<Scalar>)?, task: String,
        configuration: DEFTImageFineTuningConfiguration = DEFTImageFineTuningConfiguration()
    ) {
        precondition(images.rank == 4 && images.shape[0] > 0, "DEFTImageFineTuning: images of shape \(images.shape) must be [M, C, H, W] with M > 0")
        self.images = images
        self.observationModel = observationModel
        self.features = features

        let root = PhiloxRandom(seed: configuration.seed)
        var initialization = root.split(0)
        generator = root.split(1)

        var architecture = configuration.architecture
        architecture.channels = images.shape[1]
        let first = images.slice(alongAxis: 0, 0..<1)
        var probe = root.split(2)
        let probeFeatures = features?(observationModel.sample(given: first, using: &probe))
        if let probeFeatures {
            precondition(
                probeFeatures.rank == 4 && probeFeatures.shape[0] == 1 && Array(probeFeatures.shape[2...]) == Array(images.shape[2...]),
                "DEFTImageFineTuning: features of one observation have shape \(probeFeatures.shape), expected [1, c, \(images.shape[2]), \(images.shape[3])]")
        }
        architecture.featureChannels = probeFeatures?.shape[1] ?? 0

        let linearNoise = (observationModel as? any LinearObservationModel<Scalar>).map { Double($0.noiseStandardDeviation) }
        if let noise = configuration.observationNoise ?? linearNoise {
            architecture.observationNoise = noise
            architecture.dataVariance = Self.meanPixelVariance(of: images)
            architecture.operatorGain = configuration.estimatesOperatorGain
                ? Self.estimateOperatorGain(observationModel: observationModel, images: images, using: &probe) : nil
        }
        precondition(
            !architecture.usesGaussianPosteriorGuidance || observationModel is any LinearObservationModel<Scalar>,
            "DEFTImageFineTuning: likelihoodGuidance .gaussianPosterior needs a LinearObservationModel, not \(type(of: observationModel))")

        // The scale of g is measured after the data variance is set, because the Gaussian
        // posterior form of g depends on it.
        if configuration.estimatesGradientInputScale {
            architecture.gradientInputScale = Self.estimateGradientInputScale(
                prior: prior, schedule: schedule, images: images, observationModel: observationModel, features: features,
                architecture: architecture, using: &probe)
        }

        var resolved = configuration
        resolved.architecture = architecture
        resolved.observationNoise = architecture.observationNoise
        self.configuration = resolved
        network = ImageHTransformNetwork(architecture: architecture, task: task, using: &initialization)
        model = DEFTModel(prior: prior, schedule: schedule, network: network)
        trainer = DEFTTrainer(model: model, configuration: resolved.training)
    }

    /// Returns the observations and features of a batch of clean images, one fresh
    /// observation each.
    public func conditioning(forCleanImages x0: Tensor<Scalar>, using generator: inout PhiloxRandom) -> ObservationBatch<Scalar> {
        conditioning(for: observationModel.sample(given: x0, using: &generator))
    }

    /// Returns the conditioning of the network on observations `[N, …]`: y, the
    /// observation model and the features.
    public func conditioning(for observations: Tensor<Scalar>) -> ObservationBatch<Scalar> {
        ObservationBatch(observation: observations, likelihood: observationModel, features: features?(observations))
    }

    /// Returns ε_θ + h^φ for observations `[N, …]`, a `NoisePredictor` for batches of N
    /// states: give it to a sampler (DDIM with 100 steps, for example) with initial
    /// noise `[N, C, H, W]` to draw one posterior sample per observation.
    public func conditionedPredictor(for observations: Tensor<Scalar>) -> ConditionedNoisePredictor<Predictor, Schedule> {
        ConditionedNoisePredictor(model: model, conditioning: conditioning(for: observations))
    }

    /// Draws a training batch: images uniform with replacement and their observations.
    public func trainingBatch(using generator: inout PhiloxRandom, size: Int) -> DEFTTrainingBatch<Scalar> {
        let x0 = trainingImages(using: &generator, size: size)
        return DEFTTrainingBatch(x0: x0, conditioning: conditioning(forCleanImages: x0, using: &generator))
    }

    /// Draws `size` training images uniformly with replacement.
    public func trainingImages(using generator: inout PhiloxRandom, size: Int) -> Tensor<Scalar> {
        let count = images.shape[0]
        let indices = (0..<size).map { _ in Swift.min(Int(generator.nextUniform() * Double(count)), count - 1) }
        return images.gathering(atIndices: indices)
    }

    /// Runs the configured training steps, then copies the moving average into the
    /// network, ready for sampling and saving. Returns the wall time in seconds.
    ///
    /// With `training.priorReuse` R > 1 each evaluation of the prior serves about R
    /// training draws, each with a fresh observation (`PriorEvaluationPool`).
    @discardableResult
    public func train(progress: ((DEFTTrainingProgress) -> Void)? = nil) -> Double {
        let start = Date()
        trainer.train(
            sampleImages: { self.trainingImages(using: &$0, size: $1) },
            observe: { self.conditioning(forCleanImages: $0, using: &$1) }, using: &generator, progress: progress)
        trainer.useAveragedWeights()
        return Date().timeIntervalSince(start)
    }

    /// Returns v, the variance of each pixel across the images `[M, C, H, W]`, averaged
    /// over the pixels.
    static func meanPixelVariance(of images: Tensor<Scalar>) -> Double {
        let count = images.shape[0]
        let pixels = images.scalarCount / count
        var sums = [Double](repeating: 0, count: pixels)
        var squares = [Double](repeating: 0, count: pixels)
        images.withUnsafeBufferPointer { values in
            for image in 0..<count {
                for pixel in 0..<pixels {
                    let value = Double(values[image * pixels + pixel])
                    sums[pixel] += value
                    squares[pixel] += value * value
                }
            }
        }
        let total = zip(sums, squares).reduce(0.0) { $0 + $1.1 / Double(count) - ($1.0 / Double(count)) * ($1.0 / Double(count)) }
        return Swift.max(total / Double(pixels), .leastNormalMagnitude)
    }

    /// Returns an estimate of λ, the mean eigenvalue of A Aᵀ on the range of A, at up to 16
    /// training images x₀:
    ///
    ///     λ̂ = Σ ‖J_Aᵀ w‖² / Σ ‖w‖²,   w = (A(x₀ + δ z) − A(x₀)) / δ ≈ J_A z,   z ~ N(0, I),   δ = 0.01,
    ///
    /// the Rayleigh quotient of A Aᵀ at vectors of its range, with J_A the Jacobian of the
    /// forward map at x₀. Its expectation tr((AᵀA)²) / tr(AᵀA) equals λ when
    /// A Aᵀ = λ I on the range and weights the larger eigenvalues more otherwise.
    static func estimateOperatorGain(
        observationModel: any ObservationModel<Scalar>, images: Tensor<Scalar>, using generator: inout PhiloxRandom
    ) -> Double {
        let step = 0.01
        let count = Swift.min(16, images.shape[0])
        let x0 = images.slice(alongAxis: 0, 0..<count)
        let z = Tensor<Scalar>.normal(shape: x0.shape, using: &generator)

        let (base, shifted) = withoutRecording {
            (observationModel.forward(Variable(x0)).value, observationModel.forward(Variable(x0 + z * Scalar(step))).value)
        }
        let rangeVector = (shifted - base) * Scalar(1 / step)
        let pulledBack = vectorJacobianProduct(at: [x0], cotangent: rangeVector) { observationModel.forward($0[0]) }.inputGradients[0]

        let rangeNorm = Double((rangeVector * rangeVector).sum())
        let pulledNorm = Double((pulledBack * pulledBack).sum())
        precondition(
            rangeNorm.isFinite && pulledNorm.isFinite,
            "DEFTImageFineTuning: the operator gain probe is not finite (‖w‖² = \(rangeNorm), ‖Aᵀw‖² = \(pulledNorm))")
        return rangeNorm > 0 && pulledNorm > 0 ? pulledNorm / rangeNorm : 1
    }

    /// Returns 1 / RMS(g) over the network inputs of 64 training images at uniform random
    /// times, with g times `gradientInputFactor`: the scale that makes the U-Net's g channel of order 1.
    static func estimateGradientInputScale(
        prior: Predictor, schedule: Schedule, images: Tensor<Scalar>, observationModel: any ObservationModel<Scalar>,
        features: ((Tensor<Scalar>) -> Tensor<Scalar>)?, architecture: ImageHTransformArchitecture,
        using generator: inout PhiloxRandom
    ) -> Double {
        var initialization = PhiloxRandom(seed: 0)
        let probeNetwork = ImageHTransformNetwork<Scalar>(architecture: architecture, using: &initialization)
        let model = DEFTModel(prior: prior, schedule: schedule, network: probeNetwork)

        let count = Swift.min(64, images.shape[0])
        let x0 = images.slice(alongAxis: 0, 0..<count)
        let times = (0..<count).map { _ in schedule.randomTime(using: &generator) }
        let levels = times.map { schedule.alphaBar(at: $0) }
        let noise = Tensor<Scalar>.normal(shape: x0.shape, using: &generator)
        let state = x0 * (perSampleFactors(levels.map { $0.squareRoot() }, rank: 4) as Tensor<Scalar>)
            + noise * (perSampleFactors(levels.map { (1 - $0).squareRoot() }, rank: 4) as Tensor<Scalar>)
        let observations = observationModel.sample(given: x0, using: &generator)
        let conditioning = ObservationBatch(observation: observations, likelihood: observationModel, features: features?(observations))

        let (inputs, _) = model.networkInputs(state: state, time: Tensor(times.map { Scalar($0) }), conditioning: conditioning)
        let factors: Tensor<Scalar> = perSampleFactors(levels.map { architecture.gradientInputFactor(alphaBar: $0) }, rank: 4)
        let gradient = inputs.likelihoodGradient * factors
        let meanSquare = Double((gradient * gradient).sum()) / Double(gradient.scalarCount)
        precondition(meanSquare.isFinite, "DEFTImageFineTuning: the likelihood gradient g is not finite at the probe batch")
        return meanSquare > 0 ? 1 / meanSquare.squareRoot() : 1
    }
}
