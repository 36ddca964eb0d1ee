import Foundation
import ImageReconstruction
import Imaging

/// One configuration of a method in the step sweep, with its mean PSNR and time.
struct SweepPoint {
    var method: String
    var steps: Int
    var psnr: Double
    var secondsPerImage: Double
}

/// The tables of one task, assembled from its journal over the leading batches that every
/// configuration has finished.
struct TaskBenchmark {
    let task: ImagingTask
    let fineTuning: EvaluationJournal.FineTuning
    /// The prior's training step time in the session that fine-tuned.
    let fineTuningPriorStepSeconds: Double
    /// Every method at its defaults, over the images that all of them have finished.
    let report: ReconstructionReport
    /// The sweep over the images that every sweep configuration has finished; DPS's point
    /// is over the same images.
    let sweep: [SweepPoint]
    let sweepImageCount: Int
    /// The journal's sessions that fine-tuned or recorded the reported batches.
    let sessions: [EvaluationJournal.Session]
    /// The session that fine-tuned.
    let fineTuningSession: EvaluationJournal.Session
    /// The reported batches whose methods ran in more than one session, with the session
    /// start of each method configuration.
    let splitBatches: [(batch: Int, sessions: [String: String])]

    /// Returns DEFT against the baseline with the best mean PSNR (A⁺y excluded): the mean
    /// per-image PSNR difference with its standard error, and against the baseline with
    /// the best top-1, the images that only DEFT or only that baseline labels correctly.
    var pairedComparison: String? {
        let applicable = report.results.filter { $0.isApplicable && $0.scores.count > 0 }
        guard let deft = applicable.first(where: { $0.name == "deft" }) else { return nil }
        let baselines = applicable.filter { $0.name != "deft" && $0.name != "pinv" }
        guard let bestPSNR = baselines.max(by: { $0.scores.means.psnr < $1.scores.means.psnr }),
              let bestTop1 = baselines.max(by: { $0.scores.means.top1 < $1.scores.means.top1 })
        else { return nil }

        let differences = zip(deft.scores.psnr, bestPSNR.scores.psnr).map { $0 - $1 }
        let count = Double(differences.count)
        let mean = differences.reduce(0, +) / count
        let variance = differences.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Swift.max(count - 1, 1)
        let standardError = (variance / count).squareRoot()
        let pairs = zip(deft.scores.correctLabels, bestTop1.scores.correctLabels)
        let onlyDEFT = pairs.filter { $0 && !$1 }.count
        let onlyBaseline = pairs.filter { !$0 && $1 }.count
        return String(
            format: "DEFT minus %@ (the best baseline PSNR): %+.2f dB per image, standard error %.2f dB. Top-1 against %@: "
                + "correct for DEFT alone on %d images, for %@ alone on %d.",
            bestPSNR.name, mean, standardError, bestTop1.name, onlyDEFT, bestTop1.name, onlyBaseline)
    }

    /// DPS's mean PSNR at its published 1000 steps, over the sweep's images.
    var dpsPSNR: Double? {
        sweep.first { $0.method == "dps" }?.psnr
    }

    /// Returns the sweep point with the minimum sampling time per image at which `method`
    /// reaches DPS's PSNR, or nil when no configuration does.
    func timeToReachDPS(_ method: String) -> SweepPoint? {
        guard let target = dpsPSNR else { return nil }
        return sweep.filter { $0.method == method && $0.psnr >= target }.min { $0.secondsPerImage < $1.secondsPerImage }
    }

    /// Returns the task's tables, or nil while some default configuration has not finished
    /// its first batch.
    init?(plan: TaskPlan) {
        let journal = plan.journal
        guard let fineTuning = journal.fineTuning else { return nil }
        let batches = journal.finishedBatchCount(plan.defaultKeys)
        guard batches >= 1 else { return nil }
        let results = plan.defaultKeys.compactMap { journal.result($0, batches: batches) }
        guard results.count == plan.defaultKeys.count else { return nil }

        task = plan.task
        self.fineTuning = fineTuning
        fineTuningSession = journal.sessions[fineTuning.session]
        fineTuningPriorStepSeconds = fineTuningSession.priorStepSeconds
        report = ReconstructionReport(
            task: plan.task, imageCount: journal.imageCount(batches: batches), seed: journal.settings.seed, results: results)

        // The diffusion methods' defaults are points of the sweep too.
        let sweepBatches = Swift.min(batches, journal.finishedBatchCount(plan.defaultKeys + plan.sweepKeys))
        sweepImageCount = journal.imageCount(batches: sweepBatches)
        let sessionIndices = Set(journal.sessions(of: plan.defaultKeys, batches: batches))
            .union(journal.sessions(of: plan.sweepKeys, batches: sweepBatches)).union([fineTuning.session])
        sessions = sessionIndices.sorted().map { journal.sessions[$0] }
        // The sweep's batches first, since they cover more configurations.
        let split = journal.splitBatches(of: plan.defaultKeys + plan.sweepKeys, batches: sweepBatches)
            + journal.splitBatches(of: plan.defaultKeys, batches: batches)
        var seen = Set<Int>()
        splitBatches = split.filter { seen.insert($0.batch).inserted }.sorted { $0.batch < $1.batch }.map { entry in
            (entry.batch, entry.sessions.mapValues { journal.sessions[$0].started })
        }
        var sweep: [SweepPoint] = []
        if sweepBatches >= 1 {
            for configuration in plan.configurations where configuration.entry.name != "pinv" {
                guard let result = journal.result(configuration.key, batches: sweepBatches), result.isApplicable else { continue }
                sweep.append(SweepPoint(
                    method: result.name, steps: configuration.steps, psnr: result.scores.means.psnr,
                    secondsPerImage: result.sampleSecondsPerImage ?? 0))
            }
        }
        self.sweep = sweep
    }
}
