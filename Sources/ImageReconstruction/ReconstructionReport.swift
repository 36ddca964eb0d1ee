import Foundation
import Imaging

/// The comparison table of one task: every method's mean scores and timings, as Markdown
/// and JSON.
public struct ReconstructionReport {
    public let task: ImagingTask
    public let imageCount: Int
    public let seed: UInt64
    public let results: [MethodResult]
    /// The share of the ground-truth images themselves that the classifier labels with the
    /// true class: the top-1 of a perfect reconstruction. Nil when not known.
    public let groundTruthTop1: Double?
    /// The Fashion-MNIST split whose first `imageCount` images were reconstructed.
    public let split: FashionMNIST.Split

    public init(
        task: ImagingTask, imageCount: Int, seed: UInt64, results: [MethodResult], groundTruthTop1: Double? = nil,
        split: FashionMNIST.Split = .evaluation
    ) {
        self.task = task
        self.imageCount = imageCount
        self.seed = seed
        self.results = results
        self.groundTruthTop1 = groundTruthTop1
        self.split = split
    }

    /// The images, as "The first N Fashion-MNIST evaluation images (test images 0..<N)".
    public var imagesDescription: String {
        let first = split.range.lowerBound
        let source = split.isTestImages ? "test" : "training"
        return "The first \(imageCount) Fashion-MNIST \(split.rawValue) images (\(source) images \(first)..<\(first + imageCount))"
    }

    /// The sentence that states `groundTruthTop1`, or nil without it.
    public var groundTruthSentence: String? {
        groundTruthTop1.map {
            String(format: "The classifier labels %.1f %% of these ground-truth images correctly, the top-1 of a perfect reconstruction.", 100 * $0)
        }
    }

    /// The definitions of the columns, for the Markdown page and help texts.
    public static let columnDefinitions = """
        PSNR, SSIM, top-1 and data consistency are means over the images, computed on
        the reconstruction clipped to [−1, 1]. PSNR and SSIM compare with the ground truth
        on the [0, 1] scale. Top-1 is the share of reconstructions that the shipped
        classifier labels with the true class. Data consistency is ‖y − A(x̂)‖ / (σ_y √m)
        over the m measured entries of y: about 1 is as consistent with y as the noise
        allows, far above 1 contradicts y, well below 1 fits the noise. Sampling time is
        wall-clock seconds per image, scoring excluded. Fine-tuning time and trained
        parameters are the h-network's for DEFT and 0 for training-free methods.
        """

    /// The table alone, one row per method.
    public var markdownTable: String {
        var lines = [
            "| method | settings | PSNR (dB) | SSIM | top-1 | data consistency | fine-tuning (s) | sampling (s/image) | trained parameters |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for result in results {
            guard result.isApplicable else {
                lines.append("| \(result.name) | \(result.settings) | — | — | — | — | — | — | — |")
                continue
            }
            let means = result.scores.means
            let fineTuning = result.fineTuningSeconds.map { String(format: "%.0f", $0) } ?? "unknown"
            lines.append(String(
                format: "| %@ | %@ | %.2f | %.3f | %.1f %% | %.2f | %@ | %.3f | %d |", result.name, result.settings, means.psnr,
                means.ssim, 100 * means.top1, means.dataConsistency, fineTuning, result.sampleSecondsPerImage ?? 0,
                result.trainedParameterCount ?? 0))
        }
        return lines.joined(separator: "\n")
    }

    /// A Markdown page: the task, the data, the table and what its columns mean.
    public var markdown: String {
        """
        # \(task.rawValue): \(task.summary)

        \(imagesDescription), \
        one observation each, seed \(seed).

        \(markdownTable)
        \(groundTruthSentence.map { "\n" + $0 + "\n" } ?? "")
        \(Self.columnDefinitions)

        """
    }

    /// Encodes the report as JSON. The summary form is
    /// `{"task", "methods": [{"name", "psnr", "ssim", "top1", "data_consistency",
    /// "finetune_seconds", "sample_seconds_per_image", "parameters"}]}` with top-1 as a
    /// fraction and nulls for a method that does not apply. The detailed form adds the
    /// image count, the seed, `ground_truth_top1` (null when unknown), each method's
    /// settings and whether it applies.
    ///
    /// A non-finite mean (a diverged sampler) is written as the string "nan", "inf" or "-inf".
    public func jsonData(detailed: Bool) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(JSONReport(report: self, detailed: detailed))
    }
}

/// The JSON layout of `ReconstructionReport.jsonData(detailed:)`.
private struct JSONReport: Encodable {
    let report: ReconstructionReport
    let detailed: Bool

    enum Keys: String, CodingKey {
        case task, images, split, seed, methods
        case groundTruthTop1 = "ground_truth_top1"
    }

    enum MethodKeys: String, CodingKey {
        case name, settings, applicable, psnr, ssim, top1
        case dataConsistency = "data_consistency"
        case fineTuningSeconds = "finetune_seconds"
        case sampleSecondsPerImage = "sample_seconds_per_image"
        case parameters
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(report.task.rawValue, forKey: .task)
        if detailed {
            try container.encode(report.imageCount, forKey: .images)
            try container.encode(report.split.rawValue, forKey: .split)
            try container.encode(report.seed, forKey: .seed)
            try container.encode(report.groundTruthTop1, forKey: .groundTruthTop1)
        }
        var methods = container.nestedUnkeyedContainer(forKey: .methods)
        for result in report.results {
            var method = methods.nestedContainer(keyedBy: MethodKeys.self)
            try method.encode(result.name, forKey: .name)
            if detailed {
                try method.encode(result.settings, forKey: .settings)
                try method.encode(result.isApplicable, forKey: .applicable)
            }
            let means = result.isApplicable ? result.scores.means : nil
            // Optionals go through encode, not encodeIfPresent, so that nil is written as null.
            try method.encode(means?.psnr, forKey: .psnr)
            try method.encode(means?.ssim, forKey: .ssim)
            try method.encode(means?.top1, forKey: .top1)
            try method.encode(means?.dataConsistency, forKey: .dataConsistency)
            try method.encode(result.fineTuningSeconds, forKey: .fineTuningSeconds)
            try method.encode(result.sampleSecondsPerImage, forKey: .sampleSecondsPerImage)
            try method.encode(result.trainedParameterCount, forKey: .parameters)
        }
    }
}
