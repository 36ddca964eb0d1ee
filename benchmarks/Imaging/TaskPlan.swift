import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// One method configuration of a task's run: a default that the tables report, or a
/// point of the step sweep.
struct PlannedConfiguration {
    let key: String
    let entry: MethodEntry
    let steps: Int
    let isSweep: Bool
}

/// The state of one task in a run: its journal, its fine-tuned h-network and the method
/// configurations that its batches run.
struct TaskPlan {
    /// The step counts of the sweep; DPS always runs every step of the schedule.
    static let sweepSteps: [String: [Int]] = [
        "deft": [10, 20, 50, 100], "pigdm": [10, 20, 50, 100], "ddrm": [10, 20, 50, 100], "reddiff": [100, 250, 500, 1000],
    ]
    /// The step counts of the methods' defaults; DPS and A⁺y are added by name.
    static let defaultSteps = ["deft": 100, "pigdm": 100, "ddrm": 20, "reddiff": 1000]

    let task: ImagingTask
    let journalURL: URL
    var journal: EvaluationJournal
    let evaluation: ReconstructionEvaluation
    let configurations: [PlannedConfiguration]
    /// The index of this run's session in the journal, once the run has recorded something.
    private(set) var sessionIndex: Int?

    var defaultKeys: [String] { configurations.filter { !$0.isSweep }.map(\.key) }
    var sweepKeys: [String] { configurations.filter(\.isSweep).map(\.key) }
    var scheduleEntries: [EvaluationSchedule.Entry] {
        configurations.map { EvaluationSchedule.Entry(key: $0.key, isApplicable: $0.entry.isApplicable, isSweep: $0.isSweep) }
    }

    /// Loads the task's journal from the journal folder, or starts one. Fine-tunes the
    /// h-network when the journal has none, or else loads the one it recorded. Then
    /// registers every configuration, checking it against the journal's. Returns nil when
    /// `session` is nil (the tables alone) and the task has no journal yet.
    static func prepare(
        task: ImagingTask, options: BenchmarkOptions, settings: EvaluationJournal.Settings, session: EvaluationJournal.Session?,
        prior: UNetNoisePredictor<Float>, classifier: FashionClassifier<Float>, fineTuningImages: Tensor<Float>,
        evaluationImages: (images: Tensor<Float>, labels: [Int])
    ) throws -> TaskPlan? {
        let folder = URL(fileURLWithPath: options.journalDirectory)
        let journalURL = Self.journalURL(task: task, folder: folder)
        let exists = FileManager.default.fileExists(atPath: journalURL.path)
        if !exists && session == nil {
            log("\(task.rawValue): no journal at \(journalURL.path) yet, so no table; run without --time-limit 0 to start it")
            return nil
        }
        var journal = exists ? try EvaluationJournal(contentsOf: journalURL, expected: settings) : EvaluationJournal(settings: settings)
        if let commit = session?.commit {
            // The sessions behind a batch or the h-network, so not those of discarded batches.
            let used = Set(journal.sessions(of: Array(journal.configurations.keys), batches: journal.batchCount))
                .union(journal.fineTuning.map { [$0.session] } ?? [])
            let others = Set(used.compactMap { journal.sessions[$0].commit }).subtracting([commit])
            if !others.isEmpty {
                log("""
                    warning: \(journalURL.path) has batches made by commit \(others.sorted().joined(separator: ", ")), and this \
                    run is \(commit); if a change since then alters a method's results, run with --discard METHODS first, or \
                    choose another journal folder
                    """)
            }
        }
        var sessionIndex: Int?

        let likelihood: any GaussianObservationModel<Float> = task.observationModel()
        let conditioning = TaskConditioning(task: task, likelihood: likelihood)
        let network: ImageHTransformNetwork<Float>
        let record: EvaluationJournal.FineTuning
        if let recorded = journal.fineTuning {
            let url = folder.appendingPathComponent(recorded.networkFile)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw EvaluationJournalError(path: journalURL.path, reason: """
                    records the h-network \(url.path), which is missing; restore it, or choose another journal folder to \
                    fine-tune afresh
                    """)
            }
            let steps = fineTuningConfiguration(options).training.steps
            guard recorded.steps == steps else {
                throw EvaluationJournalError(path: journalURL.path, reason: """
                    records an h-network fine-tuned for \(recorded.steps) steps, but this run asks for \(steps); \
                    run with --finetune-steps \(recorded.steps), discard DEFT's batches and network with --discard deft, or choose \
                    another journal folder
                    """)
            }
            guard try fileChecksum(url) == recorded.networkChecksum else {
                throw EvaluationJournalError(path: journalURL.path, reason: """
                    records the h-network \(url.path) with checksum \(recorded.networkChecksum), but the file has changed; \
                    restore it, or choose another journal folder to fine-tune afresh
                    """)
            }
            network = try loadFineTunedNetwork(contentsOf: url, task: task).network
            record = recorded
        } else {
            guard let session else {
                log("\(task.rawValue): \(journalURL.path) has no fine-tuned h-network yet, so no table")
                return nil
            }
            journal.sessions.append(session)
            sessionIndex = journal.sessions.count - 1
            let fineTuned = fineTuneDEFT(
                task: task, prior: prior, images: fineTuningImages, configuration: fineTuningConfiguration(options)
            ) { report in
                log(String(
                    format: "%@: fine-tuning step %d/%d, loss %.4f, %.2f steps/s", task.rawValue, report.step, report.totalSteps,
                    report.loss, report.stepsPerSecond))
            }
            log(String(
                format: "%@: fine-tuned in %.1f s, read-out step t* = %d calibrated in %.1f s of it", task.rawValue, fineTuned.seconds,
                fineTuned.estimateTimestep, fineTuned.calibrationSeconds))
            let networkFile = "\(task.rawValue)-h-network.safetensors"
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let networkURL = folder.appendingPathComponent(networkFile)
            try fineTuned.save(to: networkURL, prior: options.priorPath)
            network = fineTuned.network
            record = EvaluationJournal.FineTuning(
                networkFile: networkFile, networkChecksum: try fileChecksum(networkURL), steps: fineTuned.configuration.training.steps, seconds: fineTuned.seconds, calibrationSeconds: fineTuned.calibrationSeconds,
                estimateTimestep: fineTuned.estimateTimestep, session: sessionIndex!)
            journal.fineTuning = record
            try journal.write(to: journalURL)
        }

        // The defaults, then the sweep's other step counts.
        func deft(steps: Int) -> MethodEntry {
            .applicable(DEFTMethod(
                prior: prior, network: network, conditioning: conditioning,
                sampling: DEFTSampling(steps: steps, estimateTimestep: record.estimateTimestep), fineTuningSeconds: record.seconds))
        }
        func baseline(_ name: String, steps: Int?) throws -> MethodEntry {
            switch name {
            case "pigdm": return try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: BaselineSteps(pigdm: steps))
            case "ddrm": return try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: BaselineSteps(ddrm: steps))
            case "reddiff": return try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: BaselineSteps(reddiff: steps))
            default: return try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior)
            }
        }
        var configurations: [PlannedConfiguration] = []
        func add(_ entry: MethodEntry, steps: Int, isSweep: Bool) {
            configurations.append(PlannedConfiguration(
                key: EvaluationJournal.key(method: entry.name, steps: steps), entry: entry, steps: steps, isSweep: isSweep))
        }
        // The catalogue clamps step counts to the schedule, and so do the keys.
        let deftSteps = Swift.min(defaultSteps["deft"]!, prior.schedule.count)
        add(deft(steps: deftSteps), steps: deftSteps, isSweep: false)
        for name in MethodCatalogue.baselineNames {
            let steps = Swift.min(defaultSteps[name] ?? prior.schedule.count, prior.schedule.count)
            add(try baseline(name, steps: name == "dps" ? nil : steps), steps: steps, isSweep: false)
        }
        add(MethodCatalogue.pseudoInverse(task: task, likelihood: likelihood), steps: 0, isSweep: false)
        let applicable = Set(configurations.filter(\.entry.isApplicable).map(\.entry.name))
        for (name, stepCounts) in sweepSteps.sorted(by: { $0.key < $1.key }) where applicable.contains(name) {
            for steps in stepCounts where steps <= prior.schedule.count && !configurations.contains(where: { $0.key == EvaluationJournal.key(method: name, steps: steps) }) {
                add(name == "deft" ? deft(steps: steps) : try baseline(name, steps: steps), steps: steps, isSweep: true)
            }
        }
        for configuration in configurations {
            try journal.register(configuration.entry, steps: configuration.steps, journalPath: journalURL.path)
        }

        let evaluation = ReconstructionEvaluation(
            task: task, likelihood: likelihood, classifier: classifier,
            truth: evaluationImages.images.slice(alongAxis: 0, 0..<settings.imageCount),
            labels: Array(evaluationImages.labels[0..<settings.imageCount]), batchSize: settings.batchSize, seed: settings.seed)
        return TaskPlan(
            task: task, journalURL: journalURL, journal: journal, evaluation: evaluation, configurations: configurations,
            sessionIndex: sessionIndex)
    }

    /// Runs the configuration `key` on batch `index`, records it under this run's session
    /// and writes the journal.
    mutating func runBatch(_ key: String, index: Int, session: EvaluationJournal.Session) throws -> BatchOutcome {
        guard case .applicable(let method) = configurations.first(where: { $0.key == key })?.entry else {
            preconditionFailure("TaskPlan: \(key) is not an applicable configuration of \(task.rawValue)")
        }
        let outcome = try evaluation.runBatch(method, index: index)
        if sessionIndex == nil {
            journal.sessions.append(session)
            sessionIndex = journal.sessions.count - 1
        }
        journal.record(outcome, key: key, batch: index, session: sessionIndex!)
        try journal.write(to: journalURL)
        return outcome
    }

    /// Returns the path of `task`'s journal in the journal folder `folder`.
    static func journalURL(task: ImagingTask, folder: URL) -> URL {
        folder.appendingPathComponent("\(task.rawValue).json")
    }

    /// Returns the library's fine-tuning defaults, with `--finetune-steps` when given.
    static func fineTuningConfiguration(_ options: BenchmarkOptions) -> DEFTImageFineTuningConfiguration {
        let defaults = DEFTImageFineTuningConfiguration.defaultTraining
        guard let steps = options.fineTuningSteps else {
            return DEFTImageFineTuningConfiguration(training: defaults, seed: options.seed)
        }
        // The warm-up must end before the last step, so short runs get a tenth of their steps.
        let training = DEFTTrainingConfiguration(
            steps: steps, batchSize: defaults.batchSize, learningRate: defaults.learningRate, finalLearningRate: defaults.finalLearningRate,
            warmupSteps: Swift.min(defaults.warmupSteps, steps / 10), averageDecay: defaults.averageDecay,
            maximumGradientNorm: defaults.maximumGradientNorm, reportInterval: Swift.max(1, Swift.min(defaults.reportInterval, steps / 10)))
        return DEFTImageFineTuningConfiguration(training: training, seed: options.seed)
    }
}
