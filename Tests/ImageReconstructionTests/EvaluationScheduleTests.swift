import Foundation
import ImageReconstruction
import XCTest

final class EvaluationScheduleTests: XCTestCase {
    /// Five images in batches of 2: batches 0 and 1 of 2 images, batch 2 of 1.
    private func makeJournal(task: String) -> EvaluationJournal {
        EvaluationJournal(settings: EvaluationJournal.Settings(
            task: task, seed: 1, imageCount: 5, batchSize: 2, priorChecksum: "prior", classifierChecksum: "classifier"))
    }

    private func imageCount(batch index: Int) -> Int { index < 2 ? 2 : 1 }

    func testRunOrderIsBatchMajor() throws {
        // Task 0: two defaults, one that does not apply, and a sweep point; task 1: two defaults.
        var journals = [makeJournal(task: "inpainting"), makeJournal(task: "blur")]
        try journals[0].registerNamed("deft", steps: 100)
        try journals[0].registerNamed("dps", steps: 1000)
        try journals[0].registerNamed("ddrm", steps: 20, applicable: false)
        try journals[0].registerNamed("deft", steps: 10)
        try journals[1].registerNamed("deft", steps: 100)
        try journals[1].registerNamed("dps", steps: 1000)
        // A run before this one finished dps's first batch of task 0.
        journals[0].recordBatch("dps/1000", batch: 0, psnr: [20, 20])

        let schedule = EvaluationSchedule(
            entries: [
                [.init(key: "deft/100", isApplicable: true, isSweep: false), .init(key: "dps/1000", isApplicable: true, isSweep: false),
                 .init(key: "ddrm/20", isApplicable: false, isSweep: false), .init(key: "deft/10", isApplicable: true, isSweep: true)],
                [.init(key: "deft/100", isApplicable: true, isSweep: false), .init(key: "dps/1000", isApplicable: true, isSweep: false)],
            ],
            sweepImageCount: 2)
        var ran: [String] = []
        let stop = schedule.run(journals: { journals[$0] }, deadline: nil) { task, index, key in
            ran.append("\(task) \(index) \(key)")
            journals[task].recordBatch(key, batch: index, psnr: Array(repeating: 20, count: imageCount(batch: index)))
        }

        XCTAssertEqual(stop, .finished)
        // The sweep point runs only on batch 0, the one that starts below image 2.
        XCTAssertEqual(ran, [
            "0 0 deft/100", "0 0 deft/10", "1 0 deft/100", "1 0 dps/1000",
            "0 1 deft/100", "0 1 dps/1000", "1 1 deft/100", "1 1 dps/1000",
            "0 2 deft/100", "0 2 dps/1000", "1 2 deft/100", "1 2 dps/1000",
        ])
        XCTAssertEqual(journals[0].finishedBatchCount(["deft/100", "dps/1000", "ddrm/20"]), 3)

        // A second run finds nothing to do.
        var again = 0
        XCTAssertEqual(schedule.run(journals: { journals[$0] }, deadline: nil) { _, _, _ in again += 1 }, .finished)
        XCTAssertEqual(again, 0)
    }

    func testTimeLimitStopsBeforeLateBatch() throws {
        var journal = makeJournal(task: "inpainting")
        try journal.registerNamed("deft", steps: 100)
        try journal.registerNamed("dps", steps: 1000)
        let schedule = EvaluationSchedule(
            entries: [[.init(key: "deft/100", isApplicable: true, isSweep: false), .init(key: "dps/1000", isApplicable: true, isSweep: false)]],
            sweepImageCount: 0)

        // Each batch takes 10 s of DEFT and 60 s of DPS on a clock that only the batches move.
        // Batch 0 has no history, so it starts. Batch 1 is expected to end at 140 s, before the
        // 150 s deadline, and batch 2 at 210 s, after it.
        var clock = Date(timeIntervalSince1970: 0)
        let seconds = ["deft/100": 10.0, "dps/1000": 60.0]
        var ran: [String] = []
        let stop = schedule.run(
            journals: { _ in journal }, deadline: Date(timeIntervalSince1970: 150), now: { clock }
        ) { _, index, key in
            ran.append("\(index) \(key)")
            clock.addTimeInterval(seconds[key]!)
            journal.recordBatch(key, batch: index, psnr: Array(repeating: 20, count: imageCount(batch: index)), seconds: seconds[key]!)
        }

        XCTAssertEqual(ran, ["0 deft/100", "0 dps/1000", "1 deft/100", "1 dps/1000"])
        XCTAssertEqual(stop, .timeLimit(task: 0, batch: 2, expectedSeconds: 70))
        XCTAssertEqual(clock, Date(timeIntervalSince1970: 140))
    }

    func testExpectedSecondsCountsNewConfigurationsAsZero() throws {
        var journal = makeJournal(task: "inpainting")
        try journal.registerNamed("deft", steps: 100)
        try journal.registerNamed("dps", steps: 1000)
        journal.recordBatch("dps/1000", batch: 0, psnr: [20, 20], seconds: 50)
        journal.recordBatch("dps/1000", batch: 1, psnr: [20, 20], seconds: 70)

        XCTAssertEqual(try XCTUnwrap(journal.meanBatchSeconds("dps/1000")), 60, accuracy: 1e-12)
        XCTAssertNil(journal.meanBatchSeconds("deft/100"))
        XCTAssertEqual(journal.expectedSeconds(of: ["deft/100", "dps/1000", "unknown/1"]), 60, accuracy: 1e-12)
    }

    func testPendingKeysFollowSweepImageCount() throws {
        var journal = makeJournal(task: "inpainting")
        try journal.registerNamed("deft", steps: 10)
        let sweep = [EvaluationSchedule.Entry(key: "deft/10", isApplicable: true, isSweep: true)]

        // Batch b starts at image 2b: with 3 sweep images, batches 0 and 1 run the sweep.
        let schedule = EvaluationSchedule(entries: [sweep], sweepImageCount: 3)
        XCTAssertEqual((0..<3).map { schedule.pendingKeys(task: 0, batch: $0, journal: journal) }, [["deft/10"], ["deft/10"], []])
        journal.recordBatch("deft/10", batch: 1, psnr: [20, 20])
        XCTAssertEqual(schedule.pendingKeys(task: 0, batch: 1, journal: journal), [])
    }
}
