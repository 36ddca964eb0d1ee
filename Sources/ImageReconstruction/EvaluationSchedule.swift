import Foundation

/// The order in which a resumable benchmark runs the batches of its tasks' journals, and
/// when it stops for a time limit.
///
/// Batches run batch-major: batch b of every pending configuration of every task, then
/// batch b + 1. Tables taken over the leading batches that every method has finished then
/// compare the same images whenever a run stops, and all methods of a task run each batch
/// in one session. Before a task's batch the schedule checks that the batch ends before the
/// deadline, at the mean time its configurations took so far. A configuration without a
/// recorded batch counts as taking no time, so a task batch whose pending configurations
/// have no recorded batch yet always starts.
public struct EvaluationSchedule {
    /// One method configuration of a task: a default that the tables report, or a point of
    /// the step sweep.
    public struct Entry: Sendable {
        public let key: String
        public let isApplicable: Bool
        /// Whether the configuration belongs to the step sweep, which runs only on the
        /// batches that start below `sweepImageCount`.
        public let isSweep: Bool

        public init(key: String, isApplicable: Bool, isSweep: Bool) {
            self.key = key
            self.isApplicable = isApplicable
            self.isSweep = isSweep
        }
    }

    /// The reason `run` returned.
    public enum Stop: Equatable, Sendable {
        /// Every batch of every task has run.
        case finished
        /// The batch `batch` of task `task` would have ended after the deadline, at about
        /// `expectedSeconds` from the moment of the check.
        case timeLimit(task: Int, batch: Int, expectedSeconds: Double)
    }

    /// Every task's configurations, in the order they run within a batch.
    public let entries: [[Entry]]
    /// The number of leading images on which the sweep's configurations run.
    public let sweepImageCount: Int

    public init(entries: [[Entry]], sweepImageCount: Int) {
        precondition(sweepImageCount >= 0, "EvaluationSchedule: sweepImageCount \(sweepImageCount) must not be negative")
        self.entries = entries
        self.sweepImageCount = sweepImageCount
    }

    /// Returns the keys of task `task`'s configurations that still have to run batch
    /// `index` of `journal`: those that apply, lack the batch, and, for the sweep, whose
    /// batch starts below `sweepImageCount`.
    public func pendingKeys(task: Int, batch index: Int, journal: EvaluationJournal) -> [String] {
        let firstImage = index * journal.settings.batchSize
        return entries[task].filter { entry in
            entry.isApplicable && (!entry.isSweep || firstImage < sweepImageCount) && !journal.contains(entry.key, batch: index)
        }.map(\.key)
    }

    /// Runs every pending batch in batch-major order.
    ///
    /// - Parameters:
    ///   - journals: returns task `task`'s current journal, with the batches that
    ///     `runBatch` has recorded so far. Every journal must have the same batch count.
    ///   - deadline: the time by which the run must end, or nil for no limit.
    ///   - now: the clock, `Date.init` outside tests.
    ///   - runBatch: runs configuration `key` on batch `batch` of task `task` and records
    ///     it in that task's journal.
    /// - Returns: `.finished`, or `.timeLimit` with the task batch that was not started.
    public func run(
        journals: (_ task: Int) -> EvaluationJournal, deadline: Date?, now: () -> Date = Date.init,
        runBatch: (_ task: Int, _ batch: Int, _ key: String) throws -> Void
    ) rethrows -> Stop {
        guard !entries.isEmpty else { return .finished }
        let batchCount = journals(0).batchCount
        for task in entries.indices {
            precondition(
                journals(task).batchCount == batchCount,
                "EvaluationSchedule: task \(task)'s journal has \(journals(task).batchCount) batches, task 0's has \(batchCount)")
        }

        for index in 0..<batchCount {
            for task in entries.indices {
                let journal = journals(task)
                let pending = pendingKeys(task: task, batch: index, journal: journal)
                guard !pending.isEmpty else { continue }
                if let deadline {
                    let expected = journal.expectedSeconds(of: pending)
                    if now().addingTimeInterval(expected) > deadline {
                        return .timeLimit(task: task, batch: index, expectedSeconds: expected)
                    }
                }
                for key in pending {
                    try runBatch(task, index, key)
                }
            }
        }
        return .finished
    }
}

extension EvaluationJournal {
    /// Returns the mean seconds of the recorded batches of configuration `key`, or nil
    /// before its first.
    public func meanBatchSeconds(_ key: String) -> Double? {
        guard let batches = configurations[key]?.batches, !batches.isEmpty else { return nil }
        return batches.map(\.seconds).reduce(0, +) / Double(batches.count)
    }

    /// Returns the expected seconds of one batch of every configuration in `keys`: the sum
    /// of their mean batch times, counting a configuration without a batch as 0.
    public func expectedSeconds(of keys: [String]) -> Double {
        keys.compactMap(meanBatchSeconds).reduce(0, +)
    }
}
