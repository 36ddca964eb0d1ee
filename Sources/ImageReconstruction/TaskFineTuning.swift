import DEFTScoreMatching
import Foundation
import Imaging
import SDECore
import Tensors

/// A DEFT h-network fine-tuned for one task, with what the run measured.
public struct FineTunedNetwork {
    public let task: ImagingTask
    public let network: ImageHTransformNetwork<Float>
    /// Wall-clock seconds of the training steps, the network's set-up excluded.
    public let seconds: Double
    /// The loss of every step, in order.
    public let losses: [Double]
    public let configuration: DEFTImageFineTuningConfiguration

    /// The metadata keys that `save(to:prior:)` writes besides the network's own.
    public static let secondsKey = "finetune_seconds"

    /// Writes the network atomically with the run's settings and time in its metadata.
    public func save(to url: URL, prior: String) throws {
        let training = configuration.training
        try network.save(to: url, metadata: [
            Self.secondsKey: String(format: "%.3f", seconds),
            "steps": String(training.steps),
            "batch_size": String(training.batchSize),
            "learning_rate": String(training.learningRate),
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
/// (`TaskConditioning`), which replace those of `configuration.architecture`.
///
/// - Parameter progress: receives the trainer's reports, every `training.reportInterval` steps.
public func fineTuneDEFT(
    task: ImagingTask, prior: UNetNoisePredictor<Float>, images: Tensor<Float>, configuration: DEFTImageFineTuningConfiguration,
    progress: ((DEFTTrainingProgress) -> Void)? = nil
) -> FineTunedNetwork {
    let likelihood: any GaussianObservationModel<Float> = task.observationModel()
    let conditioning = TaskConditioning(task: task, likelihood: likelihood)
    let features: ((Tensor<Float>) -> Tensor<Float>)? = conditioning.featureChannels > 0 ? { conditioning.features($0)! } : nil
    var taskConfiguration = configuration.withObservationNoise(Double(likelihood.noiseStandardDeviation))
    taskConfiguration.architecture.likelihoodGuidance = conditioning.likelihoodGuidance
    let fineTuning = DEFTImageFineTuning(
        prior: prior, schedule: prior.schedule, images: images, observationModel: conditioning.guidanceLikelihood, features: features,
        task: task.rawValue, configuration: taskConfiguration)
    let seconds = fineTuning.train(progress: progress)
    return FineTunedNetwork(
        task: task, network: fineTuning.network, seconds: seconds, losses: fineTuning.trainer.losses,
        configuration: fineTuning.configuration)
}

/// A weight file of an h-network that does not fit the task it is used for.
public struct HTransformMismatchError: Error, CustomStringConvertible {
    public let description: String
}

/// Loads an h-network written by `FineTunedNetwork.save` for `task`, with its recorded
/// fine-tuning seconds (nil when the file has none).
///
/// - Throws: `HTransformFileError` for a file of another format or task,
///   `HTransformMismatchError` when its feature channels are not the task's.
public func loadFineTunedNetwork(
    contentsOf url: URL, task: ImagingTask
) throws -> (network: ImageHTransformNetwork<Float>, fineTuningSeconds: Double?) {
    let network = try ImageHTransformNetwork<Float>(contentsOf: url, expectedTask: task.rawValue)
    let expected = TaskConditioning.featureChannels(for: task)
    guard network.architecture.featureChannels == expected else {
        throw HTransformMismatchError(description: """
            \(url.path): the network takes \(network.architecture.featureChannels) feature channels, \
            the \(task.rawValue) task gives \(expected); fine-tune a new one with 'deft finetune --task \(task.rawValue)'
            """)
    }
    let metadata = try SafeTensorsFile(contentsOf: url).metadata
    return (network, metadata[FineTunedNetwork.secondsKey].flatMap(Double.init))
}
