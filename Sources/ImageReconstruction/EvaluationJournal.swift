import Foundation
import Imaging
import Tensors

/// The per-batch scores and times of a long evaluation on one task, kept in a JSON file so
/// that a run that stops loses at most the batches in progress and a later run resumes it.
///
/// A configuration is one method at one setting (such as "deft/100"). Its batches are the
/// `ReconstructionEvaluation` batches of `batchSize` images. Each batch draws from its own
/// random stream. So with the same build on the same hardware, a resumed run assembles the
/// results of an uninterrupted run, up to the rounding of the stored scores to 4 decimals.
///
/// The journal also records each session that added to it: its commit, its processor and
/// the prior's training step time measured in it. It records the fine-tuning of the task's
/// h-network too, whose time is compared with the prior's step time from the same session.
public struct EvaluationJournal: Codable {
    /// What every batch of the journal depends on; a run with other settings cannot resume it.
    public struct Settings: Codable, Equatable, Sendable {
        public var task: String
        public var seed: UInt64
        public var imageCount: Int
        public var batchSize: Int
        /// FNV-1a checksums of the prior's and the classifier's weight files.
        public var priorChecksum: String
        public var classifierChecksum: String

        public init(task: String, seed: UInt64, imageCount: Int, batchSize: Int, priorChecksum: String, classifierChecksum: String) {
            self.task = task
            self.seed = seed
            self.imageCount = imageCount
            self.batchSize = batchSize
            self.priorChecksum = priorChecksum
            self.classifierChecksum = classifierChecksum
        }
    }

    /// One run that added to the journal.
    public struct Session: Codable, Sendable {
        /// The start, as an ISO 8601 date and time.
        public var started: String
        public var processor: String
        public var cores: Int
        /// The one-minute load average at the start, nil where unknown.
        public var loadAverage: String?
        /// The median wall time of one training step of the prior, measured in this session.
        public var priorStepSeconds: Double
        /// The source's git commit, nil where unknown.
        public var commit: String?

        public init(started: String, processor: String, cores: Int, loadAverage: String?, priorStepSeconds: Double, commit: String?) {
            self.started = started
            self.processor = processor
            self.cores = cores
            self.loadAverage = loadAverage
            self.priorStepSeconds = priorStepSeconds
            self.commit = commit
        }
    }

    /// The fine-tuning of the task's h-network.
    public struct FineTuning: Codable, Sendable {
        /// The network's file name, in the journal's folder.
        public var networkFile: String
        /// The FNV-1a checksum of the network's file (`fileChecksum(_:)`).
        public var networkChecksum: String
        /// The number of training steps.
        public var steps: Int
        public var seconds: Double
        public var calibrationSeconds: Double
        public var estimateTimestep: Int
        /// The index of the session that fine-tuned, in `sessions`.
        public var session: Int

        public init(
            networkFile: String, networkChecksum: String, steps: Int, seconds: Double, calibrationSeconds: Double, estimateTimestep: Int,
            session: Int
        ) {
            self.networkFile = networkFile
            self.networkChecksum = networkChecksum
            self.steps = steps
            self.seconds = seconds
            self.calibrationSeconds = calibrationSeconds
            self.estimateTimestep = estimateTimestep
            self.session = session
        }
    }

    /// The scores and time of one batch of one configuration.
    public struct Batch: Codable, Sendable {
        public var index: Int
        public var session: Int
        /// Wall-clock seconds of the reconstruction, scoring excluded.
        public var seconds: Double
        public var psnr: [Double]
        public var ssim: [Double]
        public var correctLabels: [Bool]
        public var dataConsistency: [Double]

        /// The batch's per-image scores, as rounded when recorded.
        public var scores: ReconstructionScores {
            var scores = ReconstructionScores()
            scores.psnr = psnr
            scores.ssim = ssim
            scores.correctLabels = correctLabels
            scores.dataConsistency = dataConsistency
            return scores
        }
    }

    /// One method at one setting, and its finished batches in index order.
    public struct Configuration: Codable, Sendable {
        public var method: String
        public var steps: Int
        public var settings: String
        public var isApplicable: Bool
        public var trainedParameterCount: Int
        public var fineTuningSeconds: Double?
        public var batches: [Batch] = []
    }

    public var settings: Settings
    public var sessions: [Session] = []
    public var fineTuning: FineTuning?
    /// The configurations by key ("deft/100").
    public var configurations: [String: Configuration] = [:]

    public init(settings: Settings) {
        self.settings = settings
    }

    /// The number of batches that cover the images.
    public var batchCount: Int { (settings.imageCount + settings.batchSize - 1) / settings.batchSize }

    /// Returns the key of `method` at `steps`, such as "deft/100".
    public static func key(method: String, steps: Int) -> String { "\(method)/\(steps)" }

    // MARK: Files

    /// Reads the journal at `url` and checks that it was made with `expected` settings.
    ///
    /// - Throws: `EvaluationJournalError` when the file is not a journal or its settings differ.
    public init(contentsOf url: URL, expected: Settings) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw EvaluationJournalError(path: url.path, reason: "cannot be read: \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            self = try decoder.decode(EvaluationJournal.self, from: data)
        } catch {
            throw EvaluationJournalError(path: url.path, reason: "is not a valid evaluation journal: \(error)")
        }
        let differences = Self.differences(recorded: settings, requested: expected)
        guard differences.isEmpty else {
            throw EvaluationJournalError(path: url.path, reason: """
                was made with other settings than this run's: \(differences.joined(separator: "; ")). Run with the journal's \
                settings, or choose another journal folder to start afresh
                """)
        }
    }

    /// Writes the journal to `url` with `writeAtomically(_:to:)`, so that an interrupted
    /// write leaves the previous journal whole.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        // Compact, because a finished journal contains some 70 000 scores per task.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeAtomically(try encoder.encode(self), to: url)
    }

    /// Returns one phrase for each setting that differs, such as "batch size 32 in the journal, 16 in this run".
    private static func differences(recorded: Settings, requested: Settings) -> [String] {
        var phrases: [String] = []
        func compare<Value: Equatable>(_ name: String, _ journal: Value, _ run: Value) {
            if journal != run {
                phrases.append("\(name) \(journal) in the journal, \(run) in this run")
            }
        }
        compare("task", recorded.task, requested.task)
        compare("seed", recorded.seed, requested.seed)
        compare("image count", recorded.imageCount, requested.imageCount)
        compare("batch size", recorded.batchSize, requested.batchSize)
        if recorded.priorChecksum != requested.priorChecksum {
            phrases.append("the prior's weight file is not the one the journal was made with")
        }
        if recorded.classifierChecksum != requested.classifierChecksum {
            phrases.append("the classifier's weight file is not the one the journal was made with")
        }
        return phrases
    }

    // MARK: Recording

    /// Adds `method` at `steps` under its key, or checks that the journal's configuration
    /// under that key has the same settings.
    ///
    /// - Throws: `EvaluationJournalError` when the key's recorded settings differ, as they do
    ///   when a default of the method changed since the journal was started.
    public mutating func register(_ entry: MethodEntry, steps: Int, journalPath: String) throws {
        let configuration: Configuration
        switch entry {
        case .applicable(let method):
            configuration = Configuration(
                method: method.name, steps: steps, settings: method.settings, isApplicable: true,
                trainedParameterCount: method.trainedParameterCount, fineTuningSeconds: method.fineTuningSeconds)
        case .notApplicable(let name, let reason):
            configuration = Configuration(
                method: name, steps: steps, settings: "not applicable: \(reason)", isApplicable: false, trainedParameterCount: 0,
                fineTuningSeconds: nil)
        }
        let key = Self.key(method: configuration.method, steps: steps)
        if let recorded = configurations[key] {
            guard recorded.settings == configuration.settings, recorded.isApplicable == configuration.isApplicable else {
                throw EvaluationJournalError(path: journalPath, reason: """
                    records \(key) with the settings '\(recorded.settings)', but this run's are '\(configuration.settings)'; \
                    choose another journal folder to start over, or discard the method's batches \
                    (benchmark-imaging --discard \(configuration.method)) to run it again with the new settings
                    """)
            }
            return
        }
        configurations[key] = configuration
    }

    /// Returns whether the configuration `key` has batch `index`.
    public func contains(_ key: String, batch index: Int) -> Bool {
        configurations[key]?.batches.contains { $0.index == index } ?? false
    }

    /// Records the outcome of batch `index` of the registered configuration `key`, with
    /// its scores rounded to 4 decimals.
    public mutating func record(_ outcome: BatchOutcome, key: String, batch index: Int, session: Int) {
        precondition(configurations[key] != nil, "EvaluationJournal: configuration \(key) is not registered")
        precondition(index >= 0 && index < batchCount, "EvaluationJournal: batch \(index) is outside 0..<\(batchCount)")
        let expectedCount = Swift.min(settings.batchSize, settings.imageCount - index * settings.batchSize)
        precondition(
            outcome.scores.count == expectedCount,
            "EvaluationJournal: batch \(index) has \(outcome.scores.count) scores, expected \(expectedCount)")
        func rounded(_ values: [Double]) -> [Double] {
            values.map { $0.isFinite ? ($0 * 10_000).rounded() / 10_000 : $0 }
        }
        let batch = Batch(
            index: index, session: session, seconds: outcome.seconds, psnr: rounded(outcome.scores.psnr),
            ssim: rounded(outcome.scores.ssim), correctLabels: outcome.scores.correctLabels,
            dataConsistency: rounded(outcome.scores.dataConsistency))
        var batches = configurations[key]!.batches.filter { $0.index != index }
        batches.append(batch)
        batches.sort { $0.index < $1.index }
        configurations[key]!.batches = batches
    }

    /// Removes every configuration of `method` with its batches, so that the next run
    /// registers it afresh and runs all its batches again, as after a change to the method's
    /// code. For "deft" the fine-tuning record goes too, so the next run fine-tunes a new
    /// h-network. Returns the removed keys, sorted.
    @discardableResult
    public mutating func discard(method: String) -> [String] {
        let keys = configurations.filter { $0.value.method == method }.map(\.key).sorted()
        for key in keys {
            configurations[key] = nil
        }
        if method == "deft" {
            fineTuning = nil
        }
        return keys
    }

    // MARK: Results

    /// Returns the number of leading batches that every configuration in `keys` has
    /// finished. A configuration that does not apply counts as finished, an unknown key as
    /// unfinished.
    public func finishedBatchCount(_ keys: [String]) -> Int {
        var count = 0
        func finished(_ key: String) -> Bool {
            configurations[key]?.isApplicable == false || contains(key, batch: count)
        }
        while count < batchCount, keys.allSatisfy(finished) {
            count += 1
        }
        return count
    }

    /// Returns the number of images in the first `batches` batches.
    public func imageCount(batches: Int) -> Int {
        Swift.min(batches * settings.batchSize, settings.imageCount)
    }

    /// Returns the result of configuration `key` over its first `batches` batches, or nil
    /// when the key is unknown or a batch is missing. A configuration that does not apply
    /// gives its not-applicable result.
    public func result(_ key: String, batches: Int) -> MethodResult? {
        guard let configuration = configurations[key] else { return nil }
        guard configuration.isApplicable else {
            let reason = configuration.settings.hasPrefix("not applicable: ")
                ? String(configuration.settings.dropFirst("not applicable: ".count)) : configuration.settings
            return MethodResult(notApplicable: configuration.method, reason: reason)
        }
        let leading = configuration.batches.prefix { $0.index < batches }
        guard batches >= 1, leading.count == batches else { return nil }

        var scores = ReconstructionScores()
        var seconds = 0.0
        for batch in leading {
            scores.append(batch.scores)
            seconds += batch.seconds
        }
        return MethodResult(
            name: configuration.method, settings: configuration.settings, scores: scores,
            fineTuningSeconds: configuration.fineTuningSeconds, sampleSecondsPerImage: seconds / Double(scores.count),
            trainedParameterCount: configuration.trainedParameterCount)
    }

    /// Returns the indices of the sessions that recorded the first `batches` batches of `keys`.
    public func sessions(of keys: [String], batches: Int) -> [Int] {
        let indices = keys.compactMap { configurations[$0] }.flatMap { $0.batches.filter { $0.index < batches }.map(\.session) }
        return Array(Set(indices)).sorted()
    }

    /// Returns the batches among the first `batches` whose configurations in `keys` ran in
    /// more than one session, each with the session of every configuration, so that a
    /// table can flag times measured apart.
    public func splitBatches(of keys: [String], batches: Int) -> [(batch: Int, sessions: [String: Int])] {
        var split: [(batch: Int, sessions: [String: Int])] = []
        for index in 0..<Swift.min(batches, batchCount) {
            var sessions: [String: Int] = [:]
            for key in keys {
                if let batch = configurations[key]?.batches.first(where: { $0.index == index }) {
                    sessions[key] = batch.session
                }
            }
            if Set(sessions.values).count > 1 {
                split.append((index, sessions))
            }
        }
        return split
    }
}

/// A journal file that cannot be read or resumed, with the reason and the fix.
public struct EvaluationJournalError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path) \(reason)" }
}

/// Returns the 64-bit FNV-1a checksum of the file at `url` as 16 hexadecimal digits, to
/// tell whether a journal's weight files are the ones it was made with.
public func fileChecksum(_ url: URL) throws -> String {
    let data = try Data(contentsOf: url)
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
    return String(format: "%016llx", hash)
}
