import Foundation
import NeuralNetworks
import Tensors

/// Checkpoints of a `PriorTrainer`: one safetensors file with everything a resumed run
/// needs to continue bit for bit.
///
/// Tensors: `model.<name>` (the parameters), `average.<name>` (their moving average),
/// `adam.m.<name>` and `adam.v.<name>` (Adam's moments) for every U-Net parameter name,
/// and `losses`, the loss of every step so far. Metadata: `format`, `step`,
/// `configuration` (the `PriorTrainingConfiguration` as JSON), `adam.stepCounts` (a JSON
/// array) and `rng`, which states the random position: the next step draws from the
/// Philox stream `seed.split(1).split(step)`.
extension PriorTrainer {
    /// The `format` metadata of a checkpoint.
    public static let checkpointFormat = "deft-prior-checkpoint-1"
    /// The checkpoint's file name in a training folder.
    public static let checkpointFileName = "checkpoint.safetensors"
    /// The averaged network's file name in a training folder, a prior file that
    /// `UNetNoisePredictor(contentsOf:)` reads.
    public static let priorFileName = "prior.safetensors"
    /// The per-step losses' file name in a training folder (CSV: step, loss).
    public static let lossFileName = "loss.csv"

    /// Writes the checkpoint atomically, after checking that every parameter and average is finite.
    /// `extraMetadata` adds entries such as the data used; the keys above take precedence.
    ///
    /// - Throws: `PriorTrainingError.nonFiniteParameter`, leaving an existing file untouched.
    public func writeCheckpoint(to url: URL, extraMetadata: [String: String] = [:]) throws {
        precondition(step > 0, "PriorTrainer.writeCheckpoint: no step has been taken, so Adam has no moments to save")
        try checkParametersAreFinite()

        var tensors: [String: Tensor<Float>] = ["losses": Tensor(shape: [losses.count], scalars: losses)]
        let state = optimizer.state
        for (index, (name, parameter)) in network.namedParameters.enumerated() {
            tensors["model." + name] = parameter.value
            tensors["average." + name] = average.averages[index]
            // Every U-Net parameter gets a gradient at every step, so both moments exist.
            tensors["adam.m." + name] = state.firstMoments[index]!
            tensors["adam.v." + name] = state.secondMoments[index]!
        }
        let configurationJSON = try JSONEncoder.sorted.encode(configuration)
        let stepCountsJSON = try JSONEncoder.sorted.encode(state.stepCounts)
        let metadata = extraMetadata.merging([
            "format": Self.checkpointFormat,
            "step": String(step),
            "configuration": String(decoding: configurationJSON, as: UTF8.self),
            "adam.stepCounts": String(decoding: stepCountsJSON, as: UTF8.self),
            "rng": "Philox-4x32-10, seed \(configuration.seed); step s (0-based) draws from stream split(1).split(s); next s = \(step)",
        ]) { _, own in own }
        try SafeTensorsFile.write(tensors, metadata: metadata, to: url)
    }

    /// Reads the configuration and step stored in a checkpoint.
    public static func checkpointContents(at url: URL) throws -> (configuration: PriorTrainingConfiguration, step: Int) {
        let file = try SafeTensorsFile(contentsOf: url)
        return try checkpointContents(of: file)
    }

    /// Reads a checkpoint's metadata, such as the `data` entry that `train` copies from its `priorMetadata`.
    public static func checkpointMetadata(at url: URL) throws -> [String: String] {
        try SafeTensorsFile(contentsOf: url).metadata
    }

    private static func checkpointContents(of file: SafeTensorsFile) throws -> (configuration: PriorTrainingConfiguration, step: Int) {
        guard file.metadata["format"] == checkpointFormat else {
            throw PriorTrainingError.incompatibleCheckpoint(
                path: file.source, reason: "format '\(file.metadata["format"] ?? "none")' is not \(checkpointFormat)")
        }
        guard let stepText = file.metadata["step"], let step = Int(stepText), step > 0 else {
            throw PriorTrainingError.incompatibleCheckpoint(path: file.source, reason: "metadata 'step' is missing or invalid")
        }
        guard let json = file.metadata["configuration"],
            let configuration = try? JSONDecoder().decode(PriorTrainingConfiguration.self, from: Data(json.utf8))
        else {
            throw PriorTrainingError.incompatibleCheckpoint(path: file.source, reason: "metadata 'configuration' is missing or invalid")
        }
        return (configuration, step)
    }

    /// Creates a run in the state a checkpoint saved: parameters, averages, Adam's moments
    /// and step counts, the step and the losses.
    ///
    /// `configuration` may differ from the saved one in `steps`, `batchSize`, the
    /// learning-rate settings and `averageDecay`, but not in `architecture` or `seed`.
    ///
    /// - Throws: `PriorTrainingError.incompatibleCheckpoint` for a file of another format,
    ///   architecture or seed, or with missing tensors; `WeightFileError` for a malformed file.
    public convenience init(resumingFrom url: URL, configuration: PriorTrainingConfiguration, images: Tensor<Float>) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        let (saved, savedStep) = try Self.checkpointContents(of: file)
        guard saved.architecture == configuration.architecture else {
            throw PriorTrainingError.incompatibleCheckpoint(
                path: url.path, reason: "architecture \(saved.architecture) differs from the requested \(configuration.architecture)")
        }
        guard saved.seed == configuration.seed else {
            throw PriorTrainingError.incompatibleCheckpoint(
                path: url.path, reason: "seed \(saved.seed) differs from the requested \(configuration.seed)")
        }
        self.init(configuration: configuration, images: images)

        func tensor(_ name: String, shape: [Int]) throws -> Tensor<Float> {
            guard file.tensorInfo[name] != nil else {
                throw PriorTrainingError.incompatibleCheckpoint(path: url.path, reason: "tensor '\(name)' is missing")
            }
            return try file.tensor(name, as: Float.self, shape: shape)
        }

        var state = optimizer.state
        var averages = average.averages
        for (index, (name, parameter)) in network.namedParameters.enumerated() {
            let shape = parameter.value.shape
            parameter.value = try tensor("model." + name, shape: shape)
            averages[index] = try tensor("average." + name, shape: shape)
            state.firstMoments[index] = try tensor("adam.m." + name, shape: shape)
            state.secondMoments[index] = try tensor("adam.v." + name, shape: shape)
        }
        guard let countsJSON = file.metadata["adam.stepCounts"],
            let counts = try? JSONDecoder().decode([Int].self, from: Data(countsJSON.utf8)),
            counts.count == state.stepCounts.count
        else {
            throw PriorTrainingError.incompatibleCheckpoint(
                path: url.path, reason: "metadata 'adam.stepCounts' is missing or does not list \(state.stepCounts.count) parameters")
        }
        state.stepCounts = counts
        optimizer.state = state
        average.averages = averages
        losses = try tensor("losses", shape: [savedStep]).scalars
        step = savedStep
    }
}

/// The figures of a progress report.
public struct PriorTrainingProgress: Sendable {
    /// The number of steps taken.
    public var step: Int
    /// The step the run stops at.
    public var lastStep: Int
    /// The mean loss of the steps since the previous report.
    public var meanLoss: Double
    /// Steps per second since this call to `train` started.
    public var stepsPerSecond: Double
    /// The estimated seconds to `lastStep` at that rate.
    public var secondsLeft: Double
}

extension PriorTrainer {
    /// Trains until `lastStep` steps have been taken, reporting progress and writing into `folder`.
    ///
    /// Every `checkpointInterval` steps and at `lastStep`, it writes the checkpoint, the
    /// averaged network as a prior file and the losses (file names `checkpointFileName`,
    /// `priorFileName`, `lossFileName`), each atomically. A non-finite loss, gradient or
    /// parameter stops training with a `PriorTrainingError` before anything is written, so
    /// the folder keeps the last good checkpoint.
    ///
    /// - Parameters:
    ///   - folder: where files go, created if needed; nil writes nothing.
    ///   - priorMetadata: extra metadata of the prior file, such as the data used.
    ///   - reportInterval: steps between calls to `report`.
    public func train(
        until lastStep: Int, folder: URL?, checkpointInterval: Int, priorMetadata: [String: String] = [:],
        reportInterval: Int = 50, report: (PriorTrainingProgress) -> Void = { _ in }
    ) throws {
        precondition(checkpointInterval > 0, "PriorTrainer.train: checkpointInterval \(checkpointInterval) must be positive")
        precondition(reportInterval > 0, "PriorTrainer.train: reportInterval \(reportInterval) must be positive")
        if let folder {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }

        let start = Date()
        let firstStep = step
        var lossSinceReport = 0.0
        var stepsSinceReport = 0
        while step < lastStep {
            lossSinceReport += Double(try trainStep())
            stepsSinceReport += 1

            if step % reportInterval == 0 || step == lastStep {
                let rate = Double(step - firstStep) / Swift.max(Date().timeIntervalSince(start), 1e-9)
                report(PriorTrainingProgress(
                    step: step, lastStep: lastStep, meanLoss: lossSinceReport / Double(stepsSinceReport),
                    stepsPerSecond: rate, secondsLeft: Double(lastStep - step) / rate))
                lossSinceReport = 0
                stepsSinceReport = 0
            }
            if let folder, step % checkpointInterval == 0 || step == lastStep {
                try writeFiles(to: folder, priorMetadata: priorMetadata)
            }
        }
    }

    /// Writes the checkpoint, the prior file and the losses into `folder`; `priorMetadata`
    /// goes into the metadata of the first two.
    public func writeFiles(to folder: URL, priorMetadata: [String: String] = [:]) throws {
        try writeCheckpoint(to: folder.appendingPathComponent(Self.checkpointFileName), extraMetadata: priorMetadata)

        var metadata = priorMetadata
        metadata["step"] = String(step)
        metadata["training"] = String(decoding: try JSONEncoder.sorted.encode(configuration), as: UTF8.self)
        try averagedPredictor().write(to: folder.appendingPathComponent(Self.priorFileName), metadata: metadata)

        var csv = "step,loss\n"
        for (index, loss) in losses.enumerated() {
            csv += "\(index + 1),\(loss)\n"
        }
        try writeAtomically(Data(csv.utf8), to: folder.appendingPathComponent(Self.lossFileName))
    }
}

extension JSONEncoder {
    /// An encoder with sorted keys, so equal values give equal text.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension PriorTrainer {
    /// The parameters of a checkpoint that `predictor(fromCheckpoint:weights:)` reads.
    public enum CheckpointWeights: String, Sendable {
        /// The moving average `average.*`, what `train` writes as the prior file.
        case average
        /// The optimiser's current parameters `model.*`.
        case trained
    }

    /// Reads one set of a checkpoint's parameters as a noise predictor, without the training data.
    public static func predictor(fromCheckpoint url: URL, weights: CheckpointWeights) throws -> UNetNoisePredictor<Float> {
        let file = try SafeTensorsFile(contentsOf: url)
        let (configuration, _) = try checkpointContents(of: file)
        var generator = PhiloxRandom(seed: 0)
        let network = UNet<Float>(configuration: configuration.architecture.unetConfiguration, using: &generator)
        let prefix = weights == .average ? "average." : "model."
        var values: [String: Tensor<Float>] = [:]
        for (name, parameter) in network.namedParameters {
            guard file.tensorInfo[prefix + name] != nil else {
                throw PriorTrainingError.incompatibleCheckpoint(path: url.path, reason: "tensor '\(prefix + name)' is missing")
            }
            values[name] = try file.tensor(prefix + name, as: Float.self, shape: parameter.value.shape)
        }
        network.loadParameterValues(values)
        return UNetNoisePredictor(network: network, architecture: configuration.architecture)
    }
}
