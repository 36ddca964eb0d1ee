import Foundation
import ImageReconstruction
import Imaging
import Tensors
import XCTest

/// A method that returns noise from its generator, so that a batch's result depends on the
/// batch's random stream.
private struct NoiseMethod: ReconstructionMethod {
    var name = "dps"
    var settings = "noise, scale 0.3"
    var trainedParameterCount = 0
    var fineTuningSeconds: Double? = 0

    func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float> {
        let side = ImagingTask.imageSide
        return Tensor.normal(shape: [y.shape[0], 1, side, side], standardDeviation: 0.3, using: &generator)
    }
}

final class EvaluationJournalTests: XCTestCase {
    private let settings = EvaluationJournal.Settings(
        task: "inpainting", seed: 3, imageCount: 5, batchSize: 2, priorChecksum: "prior", classifierChecksum: "classifier")

    /// Five random images in [−1, 1] with labels, scored by an untrained classifier.
    private func makeEvaluation() -> ReconstructionEvaluation {
        var generator = PhiloxRandom(seed: 11)
        let side = ImagingTask.imageSide
        let truth = Tensor<Float>.uniform(shape: [5, 1, side, side], lower: -1, upper: 1, using: &generator)
        let classifier = FashionClassifier<Float>(using: &generator)
        let task = ImagingTask.inpainting
        return ReconstructionEvaluation(
            task: task, likelihood: task.observationModel(), classifier: classifier, truth: truth, labels: [0, 1, 2, 3, 4],
            batchSize: 2, seed: 3)
    }

    private func temporaryURL() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).json")
    }

    func testResumedBatchesMatchOneRun() throws {
        let evaluation = makeEvaluation()
        let method = NoiseMethod()
        let single = try evaluation.run(.applicable(method), progress: { _ in })

        // Batches 2 and 0 in one session, written out, then batch 1 after reading the file back.
        var journal = EvaluationJournal(settings: settings)
        try journal.register(.applicable(method), steps: 1000, journalPath: "journal")
        let key = EvaluationJournal.key(method: "dps", steps: 1000)
        for index in [2, 0] {
            journal.record(try evaluation.runBatch(method, index: index), key: key, batch: index, session: 0)
        }
        XCTAssertEqual(journal.finishedBatchCount([key]), 1, "batch 1 is missing, so only batch 0 leads")
        XCTAssertNil(journal.result(key, batches: 3))
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try journal.write(to: url)

        var resumed = try EvaluationJournal(contentsOf: url, expected: settings)
        XCTAssertFalse(resumed.contains(key, batch: 1))
        resumed.record(try evaluation.runBatch(method, index: 1), key: key, batch: 1, session: 1)
        XCTAssertEqual(resumed.finishedBatchCount([key]), 3)
        let result = try XCTUnwrap(resumed.result(key, batches: 3))

        // The journal rounds scores to 4 decimals, so they agree to half of 1e-4.
        XCTAssertEqual(result.scores.count, 5)
        for (journalled, direct) in zip(result.scores.psnr, single.scores.psnr) {
            XCTAssertEqual(journalled, direct, accuracy: 5.1e-5)
        }
        for (journalled, direct) in zip(result.scores.ssim, single.scores.ssim) {
            XCTAssertEqual(journalled, direct, accuracy: 5.1e-5)
        }
        for (journalled, direct) in zip(result.scores.dataConsistency, single.scores.dataConsistency) {
            XCTAssertEqual(journalled, direct, accuracy: 5.1e-5)
        }
        XCTAssertEqual(result.scores.correctLabels, single.scores.correctLabels)
        XCTAssertEqual(result.settings, method.settings)
        XCTAssertEqual(resumed.sessions(of: [key], batches: 3), [0, 1])
        XCTAssertEqual(resumed.result(key, batches: 1)?.scores.count, 2)
    }

    func testReadingRejectsOtherSettings() throws {
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try EvaluationJournal(settings: settings).write(to: url)

        var other = settings
        other.batchSize = 4
        XCTAssertThrowsError(try EvaluationJournal(contentsOf: url, expected: other)) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("batch size 2 in the journal, 4 in this run"), message)
            XCTAssertFalse(message.contains("seed"), "only the settings that differ are named: \(message)")
            XCTAssertTrue(message.contains("choose another journal folder"), message)
        }
        XCTAssertNoThrow(try EvaluationJournal(contentsOf: url, expected: settings))
    }

    func testReadingRejectsOtherFiles() throws {
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("{\"task\": 1}".utf8).write(to: url)
        XCTAssertThrowsError(try EvaluationJournal(contentsOf: url, expected: settings)) { error in
            XCTAssertTrue(String(describing: error).contains("is not a valid evaluation journal"), "\(error)")
        }
        let missing = temporaryURL()
        XCTAssertThrowsError(try EvaluationJournal(contentsOf: missing, expected: settings)) { error in
            XCTAssertTrue(String(describing: error).contains("cannot be read"), "\(error)")
        }
    }

    func testRegisterRejectsChangedSettings() throws {
        var journal = EvaluationJournal(settings: settings)
        try journal.register(.applicable(NoiseMethod()), steps: 1000, journalPath: "journal")
        XCTAssertNoThrow(try journal.register(.applicable(NoiseMethod()), steps: 1000, journalPath: "journal"))

        var changed = NoiseMethod()
        changed.settings = "noise, scale 0.5"
        XCTAssertThrowsError(try journal.register(.applicable(changed), steps: 1000, journalPath: "journal")) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("noise, scale 0.3"), message)
            XCTAssertTrue(message.contains("noise, scale 0.5"), message)
        }
        XCTAssertNoThrow(try journal.register(.applicable(changed), steps: 500, journalPath: "journal"), "another step count is another key")
    }

    func testNotApplicableConfigurationNeedsNoBatches() throws {
        var journal = EvaluationJournal(settings: settings)
        try journal.register(.notApplicable(name: "ddrm", reason: "no SVD"), steps: 20, journalPath: "journal")
        let key = EvaluationJournal.key(method: "ddrm", steps: 20)
        XCTAssertEqual(journal.finishedBatchCount([key]), journal.batchCount)
        let result = try XCTUnwrap(journal.result(key, batches: 3))
        XCTAssertFalse(result.isApplicable)
        XCTAssertEqual(result.settings, "not applicable: no SVD")
    }

    func testFinishedBatchesSkipNotApplicable() throws {
        let evaluation = makeEvaluation()
        var journal = EvaluationJournal(settings: settings)
        try journal.register(.applicable(NoiseMethod()), steps: 1000, journalPath: "journal")
        try journal.register(.notApplicable(name: "ddrm", reason: "no SVD"), steps: 20, journalPath: "journal")
        let (noise, ddrm) = (EvaluationJournal.key(method: "dps", steps: 1000), EvaluationJournal.key(method: "ddrm", steps: 20))
        for index in 0..<2 {
            journal.record(try evaluation.runBatch(NoiseMethod(), index: index), key: noise, batch: index, session: 0)
        }
        XCTAssertEqual(journal.finishedBatchCount([noise, ddrm]), 2)
        XCTAssertEqual(journal.finishedBatchCount([noise, ddrm, "pigdm/100"]), 0, "an unknown key has no batches")
        XCTAssertEqual(journal.imageCount(batches: 2), 4)
        XCTAssertEqual(journal.imageCount(batches: 3), 5)
    }

    func testSplitBatchesNameSessions() throws {
        let evaluation = makeEvaluation()
        var journal = EvaluationJournal(settings: settings)
        var other = NoiseMethod()
        other.name = "deft"
        try journal.register(.applicable(NoiseMethod()), steps: 1000, journalPath: "journal")
        try journal.register(.applicable(other), steps: 100, journalPath: "journal")
        let keys = [EvaluationJournal.key(method: "dps", steps: 1000), EvaluationJournal.key(method: "deft", steps: 100)]

        // Both methods record batch 0 in session 0. For batch 1, dps records in session 0 and deft in session 1.
        journal.record(try evaluation.runBatch(NoiseMethod(), index: 0), key: keys[0], batch: 0, session: 0)
        journal.record(try evaluation.runBatch(other, index: 0), key: keys[1], batch: 0, session: 0)
        journal.record(try evaluation.runBatch(NoiseMethod(), index: 1), key: keys[0], batch: 1, session: 0)
        journal.record(try evaluation.runBatch(other, index: 1), key: keys[1], batch: 1, session: 1)

        let split = journal.splitBatches(of: keys, batches: 2)
        XCTAssertEqual(split.map(\.batch), [1])
        XCTAssertEqual(split.first?.sessions, ["dps/1000": 0, "deft/100": 1])
        XCTAssertTrue(journal.splitBatches(of: keys, batches: 1).isEmpty)
        XCTAssertEqual(journal.sessions(of: keys, batches: 2), [0, 1])
    }

    func testNonFiniteScoresSurviveFile() throws {
        var journal = EvaluationJournal(settings: settings)
        try journal.register(.applicable(NoiseMethod()), steps: 1000, journalPath: "journal")
        var scores = ReconstructionScores()
        scores.psnr = [.infinity, 20]
        scores.ssim = [1, 0.5]
        scores.correctLabels = [true, false]
        scores.dataConsistency = [.nan, -.infinity]
        let key = EvaluationJournal.key(method: "dps", steps: 1000)
        journal.record(BatchOutcome(reconstructions: Tensor(shape: [2, 1, 1, 1], repeating: 0), scores: scores, seconds: 1), key: key, batch: 0, session: 0)

        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try journal.write(to: url)
        let read = try EvaluationJournal(contentsOf: url, expected: settings)
        let batch = try XCTUnwrap(read.configurations[key]?.batches.first)
        XCTAssertEqual(batch.psnr, [.infinity, 20])
        XCTAssertTrue(batch.dataConsistency[0].isNaN)
        XCTAssertEqual(batch.dataConsistency[1], -.infinity)
        XCTAssertEqual(batch.correctLabels, [true, false])
    }

    func testDiscardRemovesOneMethod() throws {
        var journal = EvaluationJournal(settings: settings)
        journal.fineTuning = EvaluationJournal.FineTuning(
            networkFile: "inpainting-h-network.safetensors", networkChecksum: "0", steps: 3000, seconds: 50, calibrationSeconds: 5,
            estimateTimestep: 0, session: 0)
        let deft = [try journal.registerNamed("deft", steps: 100), try journal.registerNamed("deft", steps: 10)]
        let dps = try journal.registerNamed("dps", steps: 1000)
        for key in deft + [dps] {
            journal.recordBatch(key, batch: 0, psnr: [20, 20])
        }

        XCTAssertEqual(journal.discard(method: "dps"), ["dps/1000"])
        XCTAssertNil(journal.configurations[dps])
        XCTAssertNotNil(journal.fineTuning, "discarding a baseline keeps DEFT's h-network")
        XCTAssertTrue(journal.contains("deft/100", batch: 0))

        XCTAssertEqual(journal.discard(method: "deft"), ["deft/10", "deft/100"])
        XCTAssertTrue(journal.configurations.isEmpty)
        XCTAssertNil(journal.fineTuning, "the next run fine-tunes afresh")
        XCTAssertEqual(journal.discard(method: "ddrm"), [])

        // A discarded method registers again under new settings.
        XCTAssertNoThrow(try journal.register(
            .applicable(NamedMethod(name: "dps", settings: "dps, new step size")), steps: 1000, journalPath: "journal"))
    }

    func testFileChecksumIsFNV1a() throws {
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try Data().write(to: url)
        XCTAssertEqual(try fileChecksum(url), "cbf29ce484222325")
        try Data("a".utf8).write(to: url)
        XCTAssertEqual(try fileChecksum(url), "af63dc4c8601ec8c")
    }
}
