import Foundation
import Imaging
import Tensors

/// The wall time of one training step of the shipped prior's architecture, to compare
/// DEFT's fine-tuning with the prior's training in the same run and on the same load.
struct PriorStepTiming {
    /// The batch and step count of the shipped prior's training run (models/README.md).
    static let batchSize = 32
    static let shippedSteps = 3500

    let seconds: [Double]

    var median: Double {
        let sorted = seconds.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Returns the estimated training time of the shipped prior: its 3500 steps at
    /// `stepSeconds` each.
    static func estimatedTrainingSeconds(stepSeconds: Double) -> Double { Double(shippedSteps) * stepSeconds }

    /// Times `steps` training steps of a freshly initialised prior on `images`, after one
    /// untimed step that allocates the optimiser state.
    static func measure(images: Tensor<Float>, steps: Int, seed: UInt64) throws -> PriorStepTiming {
        let configuration = PriorTrainingConfiguration(steps: steps + 1, batchSize: batchSize, seed: seed)
        let trainer = PriorTrainer(configuration: configuration, images: images)
        try trainer.trainStep()
        var seconds: [Double] = []
        for _ in 0..<steps {
            let start = Date()
            try trainer.trainStep()
            seconds.append(Date().timeIntervalSince(start))
        }
        return PriorStepTiming(seconds: seconds)
    }
}
