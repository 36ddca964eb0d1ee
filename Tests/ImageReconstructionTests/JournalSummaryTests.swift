import Foundation
import ImageReconstruction
import Imaging
import XCTest

final class JournalSummaryTests: XCTestCase {
    private let defaultKeys = ["deft/100", "dps/1000", "ddrm/20", "pinv/0"]

    /// Five images in batches of 2, fine-tuned in the first of two runs. DEFT at its
    /// default, DPS, A⁺y and a DDRM that does not apply, and DEFT's sweep point at 10 steps.
    private func makeJournal() throws -> EvaluationJournal {
        var journal = EvaluationJournal(settings: EvaluationJournal.Settings(
            task: "inpainting", seed: 1, imageCount: 5, batchSize: 2, priorChecksum: "prior", classifierChecksum: "classifier"))
        journal.sessions = [journalSession("2026-01-01T00:00:00Z"), journalSession("2026-01-02T00:00:00Z")]
        journal.fineTuning = EvaluationJournal.FineTuning(
            networkFile: "inpainting-h-network.safetensors", networkChecksum: "0", steps: 3000, seconds: 50, calibrationSeconds: 5,
            estimateTimestep: 0, session: 0)
        try journal.registerNamed("deft", steps: 100)
        try journal.registerNamed("dps", steps: 1000)
        try journal.registerNamed("ddrm", steps: 20, applicable: false)
        try journal.registerNamed("pinv", steps: 0)
        try journal.registerNamed("deft", steps: 10)
        return journal
    }

    func testTablesCoverCommonLeadingBatches() throws {
        var journal = try makeJournal()
        // DEFT has batches 0 and 1, DPS and A⁺y all three. DEFT's batch 1 ran in the second run.
        journal.recordBatch("deft/100", batch: 0, psnr: [24, 22], seconds: 2)
        journal.recordBatch("deft/100", batch: 1, psnr: [26, 20], seconds: 2, session: 1)
        for index in 0..<3 {
            let count = index < 2 ? 2 : 1
            journal.recordBatch("dps/1000", batch: index, psnr: Array(repeating: 21, count: count), seconds: 12)
            journal.recordBatch("pinv/0", batch: index, psnr: Array(repeating: 15, count: count), seconds: 0)
        }
        journal.recordBatch("deft/10", batch: 0, psnr: [22, 21], seconds: 0.2)

        let summary = try XCTUnwrap(JournalSummary(
            task: .inpainting, journal: journal, defaultKeys: defaultKeys, sweepKeys: ["deft/10"],
            groundTruthCorrectLabels: [true, false, true, true, false]))
        XCTAssertEqual(summary.report.imageCount, 4)
        XCTAssertEqual(summary.report.results.map(\.name), ["deft", "dps", "ddrm", "pinv"])
        XCTAssertEqual(summary.report.results[0].scores.means.psnr, 23, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(summary.report.groundTruthTop1), 0.75, accuracy: 1e-12, "3 of the 4 reported images")

        // The sweep covers batch 0 alone, with DPS and DEFT's default over the same 2 images, and leaves A⁺y out.
        XCTAssertEqual(summary.sweepImageCount, 2)
        XCTAssertEqual(summary.sweep, [
            SweepPoint(method: "deft", steps: 100, psnr: 23, secondsPerImage: 1),
            SweepPoint(method: "dps", steps: 1000, psnr: 21, secondsPerImage: 6),
            SweepPoint(method: "deft", steps: 10, psnr: 21.5, secondsPerImage: 0.1),
        ])
        XCTAssertEqual(summary.dpsPSNR, 21)
        XCTAssertEqual(summary.timeToReachDPS("deft"), SweepPoint(method: "deft", steps: 10, psnr: 21.5, secondsPerImage: 0.1))
        XCTAssertNil(summary.timeToReachDPS("pigdm"), "ΠGDM has no sweep point")

        XCTAssertEqual(summary.sessions.map(\.started), ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"])
        XCTAssertEqual(summary.splitBatches.map(\.batch), [1])
        XCTAssertEqual(summary.splitBatches.first?.sessions["deft/100"], "2026-01-02T00:00:00Z")
        XCTAssertEqual(summary.splitBatches.first?.sessions["dps/1000"], "2026-01-01T00:00:00Z")
    }

    func testNoSummaryBeforeFirstBatchOrFineTuning() throws {
        var journal = try makeJournal()
        journal.recordBatch("dps/1000", batch: 0, psnr: [21, 21])
        journal.recordBatch("pinv/0", batch: 0, psnr: [15, 15])
        XCTAssertNil(JournalSummary(task: .inpainting, journal: journal, defaultKeys: defaultKeys, sweepKeys: []), "DEFT has no batch")

        journal.recordBatch("deft/100", batch: 0, psnr: [22, 22])
        XCTAssertNotNil(JournalSummary(task: .inpainting, journal: journal, defaultKeys: defaultKeys, sweepKeys: []))
        journal.fineTuning = nil
        XCTAssertNil(JournalSummary(task: .inpainting, journal: journal, defaultKeys: defaultKeys, sweepKeys: []))
    }

    func testGroundTruthTop1NeedsAllLabels() throws {
        var journal = try makeJournal()
        for key in ["deft/100", "dps/1000", "pinv/0"] {
            journal.recordBatch(key, batch: 0, psnr: [20, 20])
        }
        let short = try XCTUnwrap(JournalSummary(
            task: .inpainting, journal: journal, defaultKeys: defaultKeys, sweepKeys: [], groundTruthCorrectLabels: [true]))
        XCTAssertNil(short.report.groundTruthTop1)
        XCTAssertNil(short.report.groundTruthSentence)
        let known = try XCTUnwrap(JournalSummary(
            task: .inpainting, journal: journal, defaultKeys: defaultKeys, sweepKeys: [], groundTruthCorrectLabels: [true, false]))
        XCTAssertEqual(
            known.report.groundTruthSentence,
            "The classifier labels 50.0 % of these ground-truth images correctly, the top-1 of a perfect reconstruction.")
        XCTAssertTrue(known.report.markdown.contains("50.0 % of these ground-truth images"))
    }

    func testPairedComparisonAgainstBestBaselines() throws {
        var journal = try makeJournal()
        try journal.registerNamed("pigdm", steps: 100)
        // Per-image PSNR differences to DPS of 1, 3, −1 and 5 dB: mean 2, sample variance
        // (1 + 1 + 9 + 9) / 3 = 20/3, standard error √(20/3 / 4) = √(5/3). ΠGDM has the best
        // top-1 (3 of 4) and A⁺y, with the highest PSNR, is no baseline.
        journal.recordBatch("deft/100", batch: 0, psnr: [22, 24], correct: [true, false])
        journal.recordBatch("deft/100", batch: 1, psnr: [20, 26], correct: [true, false])
        journal.recordBatch("dps/1000", batch: 0, psnr: [21, 21], correct: [true, true])
        journal.recordBatch("dps/1000", batch: 1, psnr: [21, 21], correct: [false, false])
        journal.recordBatch("pigdm/100", batch: 0, psnr: [20, 20], correct: [true, true])
        journal.recordBatch("pigdm/100", batch: 1, psnr: [20, 20], correct: [true, false])
        journal.recordBatch("pinv/0", batch: 0, psnr: [30, 30])
        journal.recordBatch("pinv/0", batch: 1, psnr: [30, 30])

        let keys = ["deft/100", "dps/1000", "pigdm/100", "ddrm/20", "pinv/0"]
        let summary = try XCTUnwrap(JournalSummary(task: .inpainting, journal: journal, defaultKeys: keys, sweepKeys: []))
        let comparison = try XCTUnwrap(summary.pairedComparison)
        XCTAssertEqual(comparison.bestPSNRBaseline, "dps")
        XCTAssertEqual(comparison.meanPSNRDifference, 2, accuracy: 1e-12)
        XCTAssertEqual(comparison.standardError, (5.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(comparison.bestTop1Baseline, "pigdm")
        XCTAssertEqual(comparison.correctForDEFTAlone, 0)
        XCTAssertEqual(comparison.correctForBaselineAlone, 1)
        XCTAssertEqual(
            comparison.sentence,
            "DEFT minus dps (the best baseline PSNR): +2.00 dB per image, standard error 1.29 dB. Top-1 against pigdm: "
                + "correct for DEFT alone on 0 images, for pigdm alone on 1.")
    }

    func testPairedComparisonNeedsDEFTAndBaseline() throws {
        var journal = try makeJournal()
        journal.recordBatch("deft/100", batch: 0, psnr: [22, 22])
        journal.recordBatch("pinv/0", batch: 0, psnr: [15, 15])
        let alone = try XCTUnwrap(JournalSummary(
            task: .inpainting, journal: journal, defaultKeys: ["deft/100", "ddrm/20", "pinv/0"], sweepKeys: []))
        XCTAssertNil(alone.pairedComparison, "A⁺y and a method that does not apply are no baselines")

        journal.recordBatch("dps/1000", batch: 0, psnr: [21, 21])
        let withoutDEFT = try XCTUnwrap(JournalSummary(
            task: .inpainting, journal: journal, defaultKeys: ["dps/1000", "pinv/0"], sweepKeys: []))
        XCTAssertNil(withoutDEFT.pairedComparison, "no DEFT to compare")
        let both = try XCTUnwrap(JournalSummary(
            task: .inpainting, journal: journal, defaultKeys: ["deft/100", "dps/1000"], sweepKeys: []))
        XCTAssertEqual(both.pairedComparison?.bestPSNRBaseline, "dps")
    }
}
