import Foundation
import ImageReconstruction
import Imaging
import Tensors

// benchmark-imaging: DEFT against DPS, ΠGDM, DDRM, RED-diff and A⁺y on the six imaging
// tasks, with the time each method needs to reach DPS's PSNR, resumable from its journals.
// See `BenchmarkOptions.usage`.

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") {
    print(BenchmarkOptions.usage)
    exit(0)
}

do {
    let options = try BenchmarkOptions(arguments: arguments)
    let start = Date()
    let deadline = options.timeLimitMinutes.map { start.addingTimeInterval(60 * $0) }
    let reportOnly = options.timeLimitMinutes == 0 && options.discardedMethods.isEmpty
    // One run per journal folder: two would each rewrite the journals from their own copy.
    if !reportOnly {
        try lockJournalFolder(options.journalDirectory)
    }
    let priorURL = URL(fileURLWithPath: options.priorPath)
    let classifierURL = URL(fileURLWithPath: options.classifierPath)
    let prior = try UNetNoisePredictor<Float>(contentsOf: priorURL)
    let classifier = try FashionClassifier<Float>(contentsOf: classifierURL)
    let priorChecksum = try fileChecksum(priorURL)
    let classifierChecksum = try fileChecksum(classifierURL)
    func journalSettings(_ task: ImagingTask) -> EvaluationJournal.Settings {
        EvaluationJournal.Settings(
            task: task.rawValue, seed: options.seed, imageCount: options.imageCount, batchSize: options.batchSize,
            priorChecksum: priorChecksum, classifierChecksum: classifierChecksum)
    }
    if !options.discardedMethods.isEmpty {
        try discard(options.discardedMethods, tasks: options.tasks, folder: options.journalDirectory, settings: journalSettings)
        exit(0)
    }
    let fineTuningImages = try FashionMNIST.load(.fineTuning, as: Float.self, paddedTo32: true, directory: options.dataDirectory).images
    let evaluation = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true, directory: options.dataDirectory)

    // This run's session, with the prior's step time measured now.
    var session: EvaluationJournal.Session?
    if !reportOnly {
        let loadAtStart = loadAverage()
        let priorStep = try PriorStepTiming.measure(images: fineTuningImages, steps: options.priorSteps, seed: options.seed)
        log(String(format: "prior training step (batch %d): median %.3f s over %d steps", PriorStepTiming.batchSize, priorStep.median, options.priorSteps))
        let formatter = ISO8601DateFormatter()
        session = EvaluationJournal.Session(
            started: formatter.string(from: start), processor: processorName(), cores: ProcessInfo.processInfo.activeProcessorCount,
            loadAverage: loadAtStart, priorStepSeconds: priorStep.median, commit: sourceCommit())
    }

    var plans: [TaskPlan] = []
    for task in options.tasks {
        log("== \(task.summary)")
        let plan = try TaskPlan.prepare(
            task: task, options: options, settings: journalSettings(task), session: session, prior: prior, classifier: classifier,
            fineTuningImages: fineTuningImages, evaluationImages: evaluation)
        if let plan {
            plans.append(plan)
        }
    }

    // Batch b of every configuration of every task, then batch b + 1 (EvaluationSchedule).
    if let session {
        let schedule = EvaluationSchedule(
            entries: plans.map(\.scheduleEntries), sweepImageCount: options.sweepImageCount ?? options.imageCount)
        let batchCount = plans.first?.evaluation.batchCount ?? 0
        let stop = try schedule.run(journals: { plans[$0].journal }, deadline: deadline) { p, index, key in
            let range = plans[p].evaluation.batchRange(index)
            let outcome = try plans[p].runBatch(key, index: index, session: session)
            log(String(
                format: "%@ %@: batch %d of %d (images %d..<%d) in %.1f s, %.3f s per image, mean PSNR %.2f dB",
                plans[p].task.rawValue, key, index + 1, batchCount, range.lowerBound, range.upperBound,
                outcome.seconds, outcome.seconds / Double(range.count), outcome.scores.means.psnr))
        }
        if case .timeLimit(let p, let index, let expected) = stop {
            log("time limit: stopped before \(plans[p].task.rawValue) batch \(index + 1), which would take about \(formattedDuration(expected))")
        }
    }

    // Whether the classifier labels each ground-truth image correctly. Every task has the same images.
    let groundTruthCorrectLabels = plans.first?.evaluation.groundTruthCorrectLabels
    var summaries: [JournalSummary] = []
    for plan in plans {
        if let summary = JournalSummary(
            task: plan.task, journal: plan.journal, defaultKeys: plan.defaultKeys, sweepKeys: plan.sweepKeys,
            groundTruthCorrectLabels: groundTruthCorrectLabels)
        {
            summaries.append(summary)
        } else {
            log("\(plan.task.rawValue): no table yet, since some method has not finished the first batch")
        }
    }
    guard !summaries.isEmpty else {
        log("no task has a table yet, so \(options.resultsPath) is left as it was")
        exit(0)
    }
    let section = ResultsSection(options: options, summaries: summaries)
    try section.write(into: URL(fileURLWithPath: options.resultsPath))
    print(section.markdown)
    log("updated \(options.resultsPath)")
} catch {
    FileHandle.standardError.write(Data("benchmark-imaging: error: \(error)\n".utf8))
    exit(1)
}

/// Progress on standard error, so that standard output carries only the tables.
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Returns the one-minute load average from /proc/loadavg, or nil where that file does not exist.
func loadAverage() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return text.split(separator: " ").first.map(String.init)
}

/// Returns the processor's model name from /proc/cpuinfo, or "unknown".
func processorName() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
    return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
}

/// Returns the working directory's git commit, abbreviated and marked "-dirty" when files
/// other than the default journals (`benchmarks/imaging-journal`) and
/// `benchmarks/RESULTS.md` have uncommitted changes, or nil where git or the repository is
/// missing. A session records it, since its results depend on the code. The journals and
/// the results page are left out because a resumed run finds them changed by the run
/// before it.
/// NOTE: this is the commit of the folder the run starts in, which need not be the source
/// that the binary was built from.
func sourceCommit() -> String? {
    guard let commit = gitOutput(["rev-parse", "--short", "HEAD"]), !commit.isEmpty,
        let changes = gitOutput(["status", "--porcelain", "--", ":(top)", ":(top,exclude)benchmarks/imaging-journal", ":(top,exclude)benchmarks/RESULTS.md"])
    else {
        return nil
    }
    return changes.isEmpty ? commit : commit + "-dirty"
}

/// Returns what `git` with `arguments` prints, trimmed, or nil when it fails.
func gitOutput(_ arguments: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git"] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        return nil
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A journal folder that another run is using.
struct JournalFolderLockError: Error, CustomStringConvertible {
    let description: String
}

/// Creates the journal folder if needed and takes an exclusive lock on its `.lock` file
/// for the rest of the process, or throws when another run holds it.
func lockJournalFolder(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let lockPath = URL(fileURLWithPath: path).appendingPathComponent(".lock").path
    let descriptor = open(lockPath, O_RDWR | O_CREAT, 0o644)
    guard descriptor >= 0 else {
        throw JournalFolderLockError(description: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
    }
    // The descriptor stays open, and the lock held, until the process exits.
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
        throw JournalFolderLockError(description: """
            another benchmark-imaging run is using the journal folder \(path); wait for it to finish or choose another \
            folder with --journal
            """)
    }
}

/// Removes the batches of `methods` from the journals of `tasks` in `folder`, checking
/// each journal against `settings`, and logs the removed keys and batch counts.
func discard(
    _ methods: [String], tasks: [ImagingTask], folder: String, settings: (ImagingTask) -> EvaluationJournal.Settings
) throws {
    for task in tasks {
        let url = TaskPlan.journalURL(task: task, folder: URL(fileURLWithPath: folder))
        guard FileManager.default.fileExists(atPath: url.path) else {
            log("\(task.rawValue): no journal at \(url.path), so nothing to discard")
            continue
        }
        var journal = try EvaluationJournal(contentsOf: url, expected: settings(task))
        for method in methods {
            let batchCount = journal.configurations.values.filter { $0.method == method }.map(\.batches.count).reduce(0, +)
            let network = method == "deft" && journal.fineTuning != nil ? " and the h-network's fine-tuning record" : ""
            let keys = journal.discard(method: method)
            log("\(task.rawValue): discarded \(batchCount) batches of \(keys.isEmpty ? method : keys.joined(separator: ", "))\(network)")
        }
        try journal.write(to: url)
    }
}
