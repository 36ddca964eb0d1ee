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
    let reportOnly = options.timeLimitMinutes == 0
    let priorURL = URL(fileURLWithPath: options.priorPath)
    let classifierURL = URL(fileURLWithPath: options.classifierPath)
    let prior = try UNetNoisePredictor<Float>(contentsOf: priorURL)
    let classifier = try FashionClassifier<Float>(contentsOf: classifierURL)
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
            loadAverage: loadAtStart, priorStepSeconds: priorStep.median)
    }

    let priorChecksum = try fileChecksum(priorURL)
    let classifierChecksum = try fileChecksum(classifierURL)
    var plans: [TaskPlan] = []
    for task in options.tasks {
        log("== \(task.summary)")
        let settings = EvaluationJournal.Settings(
            task: task.rawValue, seed: options.seed, imageCount: options.imageCount, batchSize: options.batchSize,
            priorChecksum: priorChecksum, classifierChecksum: classifierChecksum)
        plans.append(try TaskPlan.prepare(
            task: task, options: options, settings: settings, session: session, prior: prior, classifier: classifier,
            fineTuningImages: fineTuningImages, evaluationImages: evaluation))
    }

    // Batch b of every configuration of every task, then batch b + 1.
    if let session {
        let sweepImages = options.sweepImageCount ?? options.imageCount
        let batchCount = plans.first?.evaluation.batchCount ?? 0
        rounds: for index in 0..<batchCount {
            for p in plans.indices {
                let range = plans[p].evaluation.batchRange(index)
                for configuration in plans[p].configurations {
                    guard case .applicable = configuration.entry else { continue }
                    guard !configuration.isSweep || range.lowerBound < sweepImages else { continue }
                    guard !plans[p].journal.contains(configuration.key, batch: index) else { continue }
                    if let deadline {
                        let expected = plans[p].meanBatchSeconds(configuration.key) ?? 0
                        if Date().addingTimeInterval(expected) > deadline {
                            log("time limit: stopped before \(plans[p].task.rawValue) \(configuration.key) batch \(index) (about \(formattedDuration(expected)))")
                            break rounds
                        }
                    }
                    let outcome = try plans[p].runBatch(configuration, index: index, session: session)
                    log(String(
                        format: "%@ %@: batch %d of %d (images %d..<%d) in %.1f s, %.3f s per image, mean PSNR %.2f dB",
                        plans[p].task.rawValue, configuration.key, index + 1, batchCount, range.lowerBound, range.upperBound,
                        outcome.seconds, outcome.seconds / Double(range.count), outcome.scores.means.psnr))
                }
            }
        }
    }

    let section = ResultsSection(
        options: options, benchmarks: plans.compactMap(TaskBenchmark.init(plan:)), runSeconds: Date().timeIntervalSince(start))
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

/// Returns the processor's model name from /proc/cpuinfo, or "unknown".
func processorName() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
    return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
}
