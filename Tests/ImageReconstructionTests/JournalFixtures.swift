import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// A method that only names itself, for journals whose batches a test records by hand.
struct NamedMethod: ReconstructionMethod {
    var name: String
    var settings: String
    var trainedParameterCount = 0
    var fineTuningSeconds: Double? = 0

    func reconstruct(_ y: Tensor<Float>, using generator: inout PhiloxRandom) throws -> Tensor<Float> {
        preconditionFailure("NamedMethod \(name) does not reconstruct; record its batches with recordBatch")
    }
}

extension EvaluationJournal {
    /// Registers `method` at `steps` under its key and returns the key.
    @discardableResult
    mutating func registerNamed(_ method: String, steps: Int, applicable: Bool = true) throws -> String {
        let entry: MethodEntry = applicable
            ? .applicable(NamedMethod(name: method, settings: "\(method), \(steps) steps"))
            : .notApplicable(name: method, reason: "no SVD")
        try register(entry, steps: steps, journalPath: "journal")
        return Self.key(method: method, steps: steps)
    }

    /// Records batch `index` of `key` with the given per-image PSNR and top-1, SSIM 0.5 and
    /// data consistency 1 for every image, and `seconds` of sampling.
    mutating func recordBatch(
        _ key: String, batch index: Int, psnr: [Double], correct: [Bool]? = nil, seconds: Double = 1, session: Int = 0
    ) {
        var scores = ReconstructionScores()
        scores.psnr = psnr
        scores.ssim = psnr.map { _ in 0.5 }
        scores.correctLabels = correct ?? psnr.map { _ in true }
        scores.dataConsistency = psnr.map { _ in 1 }
        let outcome = BatchOutcome(reconstructions: Tensor(shape: [psnr.count, 1, 1, 1], repeating: 0), scores: scores, seconds: seconds)
        record(outcome, key: key, batch: index, session: session)
    }
}

/// Returns a session that started at `started`, with a prior step of 0.18 s.
func journalSession(_ started: String) -> EvaluationJournal.Session {
    EvaluationJournal.Session(started: started, processor: "test", cores: 2, loadAverage: "0.00", priorStepSeconds: 0.18, commit: "abc1234")
}
