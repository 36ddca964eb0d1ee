import Foundation
import Imaging

/// One configuration of a method in a step sweep, with its mean PSNR and time.
public struct SweepPoint: Equatable, Sendable {
    public var method: String
    public var steps: Int
    public var psnr: Double
    public var secondsPerImage: Double

    public init(method: String, steps: Int, psnr: Double, secondsPerImage: Double) {
        self.method = method
        self.steps = steps
        self.psnr = psnr
        self.secondsPerImage = secondsPerImage
    }
}

/// The tables of one task, assembled from its journal: the methods at their defaults over
/// the leading batches that all of them have finished, and the step sweep over the
/// leading batches that every sweep configuration has finished too.
public struct JournalSummary {
    public let task: ImagingTask
    public let fineTuning: EvaluationJournal.FineTuning
    /// The session that fine-tuned, whose prior step time prices the fine-tuning.
    public let fineTuningSession: EvaluationJournal.Session
    /// Every method at its defaults, over the images that all of them have finished.
    public let report: ReconstructionReport
    /// The diffusion methods at every step count, defaults included, over the first
    /// `sweepImageCount` images. A⁺y is left out.
    public let sweep: [SweepPoint]
    public let sweepImageCount: Int
    /// The journal's sessions that fine-tuned or recorded the reported batches, in order.
    public let sessions: [EvaluationJournal.Session]
    /// The reported batches whose configurations ran in more than one session, with the
    /// start of the session of each configuration.
    public let splitBatches: [(batch: Int, sessions: [String: String])]

    /// Returns the summary of `journal`, or nil while it has no fine-tuned h-network or
    /// some configuration in `defaultKeys` has not finished the first batch.
    ///
    /// - Parameters:
    ///   - defaultKeys: the configurations that the main table reports, in its row order.
    ///   - sweepKeys: the sweep's other configurations.
    ///   - groundTruthCorrectLabels: whether the classifier labels each evaluation image,
    ///     from the first, correctly (`ReconstructionEvaluation.groundTruthCorrectLabels`),
    ///     for the report's `groundTruthTop1`; nil leaves it unknown.
    public init?(
        task: ImagingTask, journal: EvaluationJournal, defaultKeys: [String], sweepKeys: [String], groundTruthCorrectLabels: [Bool]? = nil
    ) {
        guard let fineTuning = journal.fineTuning else { return nil }
        let batches = journal.finishedBatchCount(defaultKeys)
        guard batches >= 1 else { return nil }
        let results = defaultKeys.compactMap { journal.result($0, batches: batches) }
        guard results.count == defaultKeys.count else { return nil }

        self.task = task
        self.fineTuning = fineTuning
        fineTuningSession = journal.sessions[fineTuning.session]
        let imageCount = journal.imageCount(batches: batches)
        let groundTruthTop1 = groundTruthCorrectLabels.flatMap { labels -> Double? in
            guard labels.count >= imageCount else { return nil }
            return Double(labels.prefix(imageCount).filter { $0 }.count) / Double(imageCount)
        }
        report = ReconstructionReport(
            task: task, imageCount: imageCount, seed: journal.settings.seed, results: results, groundTruthTop1: groundTruthTop1)

        // The sweep's images are a leading part of the table's.
        let allKeys = defaultKeys + sweepKeys
        let sweepBatches = Swift.min(batches, journal.finishedBatchCount(allKeys))
        sweepImageCount = journal.imageCount(batches: sweepBatches)
        let sessionIndices = Set(journal.sessions(of: defaultKeys, batches: batches))
            .union(journal.sessions(of: sweepKeys, batches: sweepBatches)).union([fineTuning.session])
        sessions = sessionIndices.sorted().map { journal.sessions[$0] }

        // The sweep's batches first, since they cover more configurations.
        let split = journal.splitBatches(of: allKeys, batches: sweepBatches) + journal.splitBatches(of: defaultKeys, batches: batches)
        var seen = Set<Int>()
        splitBatches = split.filter { seen.insert($0.batch).inserted }.sorted { $0.batch < $1.batch }.map { entry in
            (entry.batch, entry.sessions.mapValues { journal.sessions[$0].started })
        }

        var sweep: [SweepPoint] = []
        if sweepBatches >= 1 {
            for key in allKeys {
                guard let configuration = journal.configurations[key], configuration.method != "pinv",
                      let result = journal.result(key, batches: sweepBatches), result.isApplicable
                else { continue }
                sweep.append(SweepPoint(
                    method: result.name, steps: configuration.steps, psnr: result.scores.means.psnr,
                    secondsPerImage: result.sampleSecondsPerImage ?? 0))
            }
        }
        self.sweep = sweep
    }

    /// DPS's mean PSNR at its published steps, over the sweep's images.
    public var dpsPSNR: Double? {
        sweep.first { $0.method == "dps" }?.psnr
    }

    /// Returns the sweep point with the least sampling time per image at which `method`
    /// reaches DPS's PSNR, or nil when no configuration does.
    public func timeToReachDPS(_ method: String) -> SweepPoint? {
        guard let target = dpsPSNR else { return nil }
        return sweep.filter { $0.method == method && $0.psnr >= target }.min { $0.secondsPerImage < $1.secondsPerImage }
    }

    /// DEFT against the best baselines of the table, or nil without DEFT or a baseline.
    public var pairedComparison: PairedComparison? {
        PairedComparison(report.results)
    }
}

/// DEFT against the baseline with the best mean PSNR, image by image, and against the
/// baseline with the best top-1, by the images that only one of the two labels correctly.
///
/// Paired per-image differences cancel what the images share (how hard each one is), so
/// their standard error is usually smaller than the spread of either method's PSNR. The
/// discordant counts are what McNemar's test compares, because the images that both label
/// alike do not tell which is better.
public struct PairedComparison: Equatable, Sendable {
    public let bestPSNRBaseline: String
    /// The mean over the images of DEFT's PSNR minus the baseline's.
    public let meanPSNRDifference: Double
    /// The standard error of that mean: the differences' sample standard deviation over
    /// the square root of the image count (0 for a single image).
    public let standardError: Double
    public let bestTop1Baseline: String
    /// The images that DEFT labels correctly and the best top-1 baseline does not.
    public let correctForDEFTAlone: Int
    /// The images that the best top-1 baseline labels correctly and DEFT does not.
    public let correctForBaselineAlone: Int

    /// Compares the result named "deft" with the other applicable results over the same
    /// number of images, A⁺y ("pinv") excluded. Returns nil when DEFT or every baseline is
    /// missing. Ties go to the earlier result.
    public init?(_ results: [MethodResult]) {
        let applicable = results.filter { $0.isApplicable && $0.scores.count > 0 }
        guard let deft = applicable.first(where: { $0.name == "deft" }) else { return nil }
        let baselines = applicable.filter { $0.name != "deft" && $0.name != "pinv" && $0.scores.count == deft.scores.count }
        func best(by score: (MethodResult) -> Double) -> MethodResult? {
            baselines.reduce(nil) { best, result in
                guard let best else { return result }
                return score(result) > score(best) ? result : best
            }
        }
        guard let bestPSNR = best(by: { $0.scores.means.psnr }), let bestTop1 = best(by: { $0.scores.means.top1 }) else {
            return nil
        }

        // The mean paired difference and its standard error.
        let differences = zip(deft.scores.psnr, bestPSNR.scores.psnr).map { $0 - $1 }
        let count = Double(differences.count)
        let mean = differences.reduce(0, +) / count
        let variance = differences.count > 1 ? differences.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (count - 1) : 0
        bestPSNRBaseline = bestPSNR.name
        meanPSNRDifference = mean
        standardError = (variance / count).squareRoot()

        let pairs = zip(deft.scores.correctLabels, bestTop1.scores.correctLabels)
        bestTop1Baseline = bestTop1.name
        correctForDEFTAlone = pairs.filter { $0 && !$1 }.count
        correctForBaselineAlone = pairs.filter { !$0 && $1 }.count
    }

    /// One Markdown sentence for the text under a table.
    public var sentence: String {
        String(
            format: "DEFT minus %@ (the best baseline PSNR): %+.2f dB per image, standard error %.2f dB. Top-1 against %@: "
                + "correct for DEFT alone on %d images, for %@ alone on %d.",
            bestPSNRBaseline, meanPSNRDifference, standardError, bestTop1Baseline, correctForDEFTAlone, bestTop1Baseline,
            correctForBaselineAlone)
    }
}
