import Foundation
import Imaging
import SDECore
import Tensors

/// The outcome of one method on an evaluation set: its mean scores and timings, or the
/// reason it does not apply to the task.
public struct MethodResult {
    public let name: String
    /// The method's settings, or the reason it does not apply.
    public let settings: String
    public let isApplicable: Bool
    /// The per-image scores; empty for a method that does not apply.
    public let scores: ReconstructionScores
    public let fineTuningSeconds: Double?
    /// Wall-clock seconds of `reconstruct` per image, scoring excluded.
    public let sampleSecondsPerImage: Double?
    public let trainedParameterCount: Int?
    /// The reconstructions of the first images, for the figure; nil for a method that does
    /// not apply and for a result read from an `EvaluationJournal`.
    public let preview: Tensor<Float>?

    /// A result for a method that cannot run on the task.
    public init(notApplicable name: String, reason: String) {
        self.name = name
        settings = "not applicable: \(reason)"
        isApplicable = false
        scores = ReconstructionScores()
        fineTuningSeconds = nil
        sampleSecondsPerImage = nil
        trainedParameterCount = nil
        preview = nil
    }

    /// A result assembled from recorded scores and times (an `EvaluationJournal`), which
    /// keeps no reconstructions, so its preview is nil.
    init(
        name: String, settings: String, scores: ReconstructionScores, fineTuningSeconds: Double?, sampleSecondsPerImage: Double,
        trainedParameterCount: Int
    ) {
        self.name = name
        self.settings = settings
        isApplicable = true
        self.scores = scores
        self.fineTuningSeconds = fineTuningSeconds
        self.sampleSecondsPerImage = sampleSecondsPerImage
        self.trainedParameterCount = trainedParameterCount
        preview = nil
    }

    init(method: any ReconstructionMethod, scores: ReconstructionScores, sampleSecondsPerImage: Double, preview: Tensor<Float>) {
        name = method.name
        settings = method.settings
        isApplicable = true
        self.scores = scores
        fineTuningSeconds = method.fineTuningSeconds
        self.sampleSecondsPerImage = sampleSecondsPerImage
        trainedParameterCount = method.trainedParameterCount
        self.preview = preview
    }
}

/// The first `count` evaluation images of a task with one noisy observation each, shared
/// by every method so that all see the same y.
///
/// The observations come from Philox stream `(seed, 1)`. Method m reconstructs batch b
/// with the stream `PhiloxRandom(seed: seed, stream: 2 + m).split(b)`, m its index in
/// `methodStreams`, so a result depends only on the seed, the batch size and the
/// method's settings, not on which other methods run.
public struct ReconstructionEvaluation {
    /// The method names in the order that numbers their random streams.
    public static let methodStreams = ["pinv", "deft", "dps", "pigdm", "ddrm", "reddiff"]

    public let task: ImagingTask
    public let likelihood: any GaussianObservationModel<Float>
    public let classifier: FashionClassifier<Float>
    /// The ground truth `[N, 1, 32, 32]` in [−1, 1].
    public let truth: Tensor<Float>
    public let labels: [Int]
    /// y `[N, …]`.
    public let observations: Tensor<Float>
    public let batchSize: Int
    public let seed: UInt64
    /// The number of leading images kept for the figure.
    public let previewCount: Int

    public init(
        task: ImagingTask, likelihood: any GaussianObservationModel<Float>, classifier: FashionClassifier<Float>,
        truth: Tensor<Float>, labels: [Int], batchSize: Int, seed: UInt64, previewCount: Int = 8
    ) {
        precondition(
            truth.shape.count == 4 && Array(truth.shape.dropFirst()) == Array(imageShape(count: 1).dropFirst()),
            "ReconstructionEvaluation: images of shape \(truth.shape) must be [N, 1, \(ImagingTask.imageSide), \(ImagingTask.imageSide)]")
        precondition(labels.count == truth.shape[0], "ReconstructionEvaluation: \(labels.count) labels for \(truth.shape[0]) images")
        precondition(batchSize >= 1, "ReconstructionEvaluation: batch size \(batchSize) must be positive")
        self.task = task
        self.likelihood = likelihood
        self.classifier = classifier
        self.truth = truth
        self.labels = labels
        self.batchSize = batchSize
        self.seed = seed
        self.previewCount = Swift.min(previewCount, truth.shape[0])
        var generator = PhiloxRandom(seed: seed, stream: 1)
        observations = likelihood.sample(given: truth, using: &generator)
    }

    public var imageCount: Int { truth.shape[0] }

    /// Whether the classifier labels each ground-truth image with its true class.
    public var groundTruthCorrectLabels: [Bool] {
        zip(classifier.predictedClasses(truth), labels).map { $0 == $1 }
    }

    /// The share of the ground-truth images that the classifier labels correctly, the top-1
    /// of a perfect reconstruction.
    public var groundTruthTop1: Double {
        classifier.accuracy(truth, labels: labels)
    }

    /// The number of batches of `batchSize` images, the last one possibly smaller.
    public var batchCount: Int { (imageCount + batchSize - 1) / batchSize }

    /// Returns the range of the images in batch `index`.
    public func batchRange(_ index: Int) -> Range<Int> {
        precondition(index >= 0 && index < batchCount, "ReconstructionEvaluation: batch \(index) is outside 0..<\(batchCount)")
        return index * batchSize..<Swift.min((index + 1) * batchSize, imageCount)
    }

    /// Runs `entry` on every image in batches of `batchSize` and scores it. `progress`
    /// receives one line per batch.
    public func run(_ entry: MethodEntry, progress: (String) -> Void) throws -> MethodResult {
        let method: any ReconstructionMethod
        switch entry {
        case .applicable(let applicable):
            method = applicable
        case .notApplicable(let name, let reason):
            progress("\(name): not applicable to \(task.rawValue): \(reason)")
            return MethodResult(notApplicable: name, reason: reason)
        }

        var scores = ReconstructionScores()
        var previews: [Tensor<Float>] = []
        var samplingSeconds = 0.0
        for index in 0..<batchCount {
            let range = batchRange(index)
            let batch = try runBatch(method, index: index)
            samplingSeconds += batch.seconds
            scores.append(batch.scores)
            if range.lowerBound < previewCount {
                previews.append(batch.reconstructions.slice(alongAxis: 0, 0..<Swift.min(range.count, previewCount - range.lowerBound)))
            }
            let left = samplingSeconds / Double(range.upperBound) * Double(imageCount - range.upperBound)
            progress(String(
                format: "%@: images %d..<%d of %d in %.1f s (%.2f s per image), about %@ left", method.name, range.lowerBound,
                range.upperBound, imageCount, batch.seconds, batch.seconds / Double(range.count), formattedDuration(left)))
        }
        return MethodResult(
            method: method, scores: scores, sampleSecondsPerImage: samplingSeconds / Double(imageCount),
            preview: Tensor.concatenate(previews, alongAxis: 0))
    }

    /// Runs `method` on batch `index` alone and scores it. The batch draws from its own
    /// random stream (see the type's notes), so it gives the same reconstructions whether
    /// it runs alone or within `run`.
    public func runBatch(_ method: any ReconstructionMethod, index: Int) throws -> BatchOutcome {
        guard let stream = Self.methodStreams.firstIndex(of: method.name) else {
            preconditionFailure("ReconstructionEvaluation: method '\(method.name)' has no random stream; add it to methodStreams")
        }
        let range = batchRange(index)
        let y = observations.slice(alongAxis: 0, range)
        var generator = PhiloxRandom(seed: seed, stream: UInt64(2 + stream)).split(UInt64(index))

        let start = Date()
        let reconstructions = try method.reconstruct(y, using: &generator)
        let seconds = Date().timeIntervalSince(start)

        var scores = ReconstructionScores()
        scores.append(
            reconstructions: reconstructions, truth: truth.slice(alongAxis: 0, range), labels: Array(labels[range]),
            observation: y, likelihood: likelihood, classifier: classifier)
        return BatchOutcome(reconstructions: reconstructions, scores: scores, seconds: seconds)
    }
}

/// One method's reconstructions of one batch, their scores and the time they took.
public struct BatchOutcome {
    public let reconstructions: Tensor<Float>
    public let scores: ReconstructionScores
    /// Wall-clock seconds of `reconstruct`, scoring excluded.
    public let seconds: Double

    public init(reconstructions: Tensor<Float>, scores: ReconstructionScores, seconds: Double) {
        self.reconstructions = reconstructions
        self.scores = scores
        self.seconds = seconds
    }
}

/// Formats seconds as "42 s", "3 min 20 s" or "2 h 5 min".
public func formattedDuration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    if whole < 60 { return "\(whole) s" }
    if whole < 3600 { return "\(whole / 60) min \(whole % 60) s" }
    return "\(whole / 3600) h \((whole % 3600) / 60) min"
}
