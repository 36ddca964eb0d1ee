import DEFTScoreMatching
import Foundation
import Imaging
import SDECore
import Tensors

/// A DEFT h-network fine-tuned for one task, with what the run measured.
public struct FineTunedNetwork {
    public let task: ImagingTask
    public let network: ImageHTransformNetwork<Float>
    /// Wall-clock seconds of the training steps and of the read-out calibration, the
    /// network's set-up excluded.
    public let seconds: Double
    /// The part of `seconds` spent calibrating the read-out step.
    public let calibrationSeconds: Double
    /// The calibrated read-out step t* for `DEFTSampling.estimateTimestep`.
    public let estimateTimestep: Int
    /// The validation error of the read-out at every DDIM step, from the calibration.
    public let readOutErrors: [(timestep: Int, meanSquaredError: Double)]
    /// The loss of every step, in order.
    public let losses: [Double]
    public let configuration: DEFTImageFineTuningConfiguration

    /// The metadata keys that `save(to:prior:)` writes besides the network's own.
    public static let secondsKey = "finetune_seconds"
    public static let estimateTimestepKey = "estimate_timestep"

    /// Writes the network atomically with the run's settings and time in its metadata.
    public func save(to url: URL, prior: String) throws {
        let training = configuration.training
        try network.save(to: url, metadata: [
            Self.secondsKey: String(format: "%.3f", seconds),
            Self.estimateTimestepKey: String(estimateTimestep),
            "steps": String(training.steps),
            "batch_size": String(training.batchSize),
            "learning_rate": String(training.learningRate),
            "prior_reuse": String(training.priorReuse),
            "seed": String(configuration.seed),
            "prior": prior,
        ])
    }

    /// The loss of every step as CSV with the header `step,loss`, steps counted from 1.
    public var lossCSV: String {
        "step,loss\n" + losses.enumerated().map { "\($0.offset + 1),\($0.element)" }.joined(separator: "\n") + "\n"
    }
}

/// Fine-tunes the DEFT h-network for `task` on `images` (the fine-tuning split) over the
/// frozen `prior`, with the task's feature channels and likelihood guidance
/// (`TaskConditioning`), which replace those of `configuration.architecture`, then
/// calibrates the read-out step for `sampling`.
///
/// Calibration: the first `validationCount` images get fresh observations, seeded by the
/// configuration's seed, and DEFT reconstructs them with `sampling`'s steps, η and K. t* is
/// the DDIM step whose read-out (the mean of Tweedie's estimates) has the least squared
/// error, or 0 (the finished samples) when that is the last step or no error is finite.
/// Reading out at a noisy step averages the rest of each path analytically, which
/// pays where the posterior is wide (inpainting, super-resolution) and costs where the
/// h-network is less exact than a finished path (CT, whose posterior is narrow). The
/// calibration takes one sampling pass over the validation images.
///
/// - Parameter progress: receives the trainer's reports, every `training.reportInterval` steps.
public func fineTuneDEFT(
    task: ImagingTask, prior: UNetNoisePredictor<Float>, images: Tensor<Float>, configuration: DEFTImageFineTuningConfiguration,
    sampling: DEFTSampling = DEFTSampling(), validationCount: Int = 8, progress: ((DEFTTrainingProgress) -> Void)? = nil
) -> FineTunedNetwork {
    precondition(
        validationCount >= 1 && validationCount <= images.shape[0],
        "fineTuneDEFT: validationCount \(validationCount) must lie in 1...\(images.shape[0]), the fine-tuning images")
    let likelihood: any GaussianObservationModel<Float> = task.observationModel()
    let conditioning = TaskConditioning(task: task, likelihood: likelihood)
    let features: ((Tensor<Float>) -> Tensor<Float>)? = conditioning.featureChannels > 0 ? { conditioning.features($0)! } : nil
    var taskConfiguration = configuration.withObservationNoise(Double(likelihood.noiseStandardDeviation))
    taskConfiguration.architecture.likelihoodGuidance = conditioning.likelihoodGuidance
    let fineTuning = DEFTImageFineTuning(
        prior: prior, schedule: prior.schedule, images: images, observationModel: conditioning.guidanceLikelihood, features: features,
        task: task.rawValue, configuration: taskConfiguration)
    let trainingSeconds = fineTuning.train(progress: progress)

    // The read-out step with the least error on the validation images.
    let start = Date()
    let method = DEFTMethod(
        prior: prior, network: fineTuning.network, conditioning: conditioning, sampling: sampling, fineTuningSeconds: nil)
    let truth = images.slice(alongAxis: 0, 0..<validationCount)
    var generator = PhiloxRandom(seed: configuration.seed, stream: 7)
    let y = likelihood.sample(given: truth, using: &generator)
    let errors = method.readOutErrors(y, truth: truth, using: &generator)
    let lastStep = errors.map(\.timestep).min()!
    let best = errors.filter { $0.meanSquaredError.isFinite }.min { $0.meanSquaredError < $1.meanSquaredError }
    let calibrationSeconds = Date().timeIntervalSince(start)

    return FineTunedNetwork(
        task: task, network: fineTuning.network, seconds: trainingSeconds + calibrationSeconds,
        calibrationSeconds: calibrationSeconds, estimateTimestep: best.map { $0.timestep == lastStep ? 0 : $0.timestep } ?? 0,
        readOutErrors: errors, losses: fineTuning.trainer.losses, configuration: fineTuning.configuration)
}

/// A weight file of an h-network that does not fit the task it is used for.
public struct HTransformMismatchError: Error, CustomStringConvertible {
    public let description: String
}

/// Loads an h-network written by `FineTunedNetwork.save` for `task`, with its recorded
/// fine-tuning seconds and calibrated read-out step (nil when the file has none).
///
/// - Throws: `HTransformFileError` for a file of another format or task,
///   `HTransformMismatchError` when its feature channels are not the task's.
public func loadFineTunedNetwork(
    contentsOf url: URL, task: ImagingTask
) throws -> (network: ImageHTransformNetwork<Float>, fineTuningSeconds: Double?, estimateTimestep: Int?) {
    let network = try ImageHTransformNetwork<Float>(contentsOf: url, expectedTask: task.rawValue)
    let expected = TaskConditioning.featureChannels(for: task)
    guard network.architecture.featureChannels == expected else {
        throw HTransformMismatchError(description: """
            \(url.path): the network takes \(network.architecture.featureChannels) feature channels, \
            the \(task.rawValue) task gives \(expected); fine-tune a new one with 'deft finetune --task \(task.rawValue)'
            """)
    }
    let metadata = try SafeTensorsFile(contentsOf: url).metadata
    return (
        network, metadata[FineTunedNetwork.secondsKey].flatMap(Double.init),
        metadata[FineTunedNetwork.estimateTimestepKey].flatMap(Int.init)
    )
}
