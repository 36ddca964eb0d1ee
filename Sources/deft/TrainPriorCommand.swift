import Foundation
import Imaging
import Tensors

/// `deft train-prior`: trains the Fashion-MNIST image prior, a DDPM ε-model U-Net.
enum TrainPriorCommand {
    static let help = """
        usage: deft train-prior [options]

        Trains a U-Net ε-model by DDPM denoising score matching (1000 steps, β linear from
        1e-4 to 0.02, ε-prediction, mean squared error) on the Fashion-MNIST prior-training
        split (training images 0..<59000), padded to 32×32 and scaled to [−1, 1]. Adam with
        a linear warm-up and cosine decay to a tenth of the learning rate, gradient norm
        clipped at 1, and a moving average of the parameters.

        Writes into --output, atomically, every --checkpoint-every steps and at the end:
          checkpoint.safetensors  parameters, average, Adam moments, step, losses, RNG position
          prior.safetensors       the averaged network, for 'deft sample' and the samplers
          loss.csv                the loss of every step
        If --output already has checkpoint.safetensors, training resumes from it (as with
        --resume), keeping its architecture and seed; --steps, --batch-size,
        --learning-rate, --warmup-steps and --average-decay may be changed. A NaN or
        infinite loss stops training with an error and keeps the last checkpoint.

        options:
          --steps N              total optimiser steps (default 4000)
          --batch-size N         images per step (default 32)
          --learning-rate X      peak Adam learning rate (default 0.001)
          --warmup-steps N       steps of linear warm-up, at most a tenth of --steps (default 100)
          --average-decay X      decay of the parameter average (default 0.998)
          --base-channels N      channels of the first U-Net level, even (default 32)
          --multipliers LIST     channel multiplier of each level, comma-separated (default 1,2,2)
          --groups N             groups of each group normalisation (default 8)
          --seed N               seed of the initial parameters and every draw (default 0)
          --images N             train on the first N images of the split (default 59000)
          --data DIR             folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output DIR           training folder (default runs/prior)
          --checkpoint-every N   steps between checkpoints (default 250)
          --resume               require a checkpoint in --output and resume from it
          --quiet                no progress on standard error
          --help                 show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "train-prior", arguments: arguments,
            valued: [
                "steps", "batch-size", "learning-rate", "warmup-steps", "average-decay", "base-channels",
                "multipliers", "groups", "seed", "images", "data", "output", "checkpoint-every",
            ],
            boolean: ["resume", "quiet"])
        Log.isQuiet = options.flag("quiet")

        var architecture = PriorArchitecture()
        architecture.baseChannels = try options.int("base-channels", default: 32, range: 2...1024)
        architecture.channelMultipliers = try multipliers(options)
        architecture.groups = try options.int("groups", default: 8, range: 1...1024)
        guard architecture.baseChannels.isMultiple(of: 2),
            architecture.unetConfiguration.levelChannels.allSatisfy({ $0.isMultiple(of: architecture.groups) })
        else {
            throw CommandLineError.invalidValue(
                command: "train-prior", option: "base-channels", value: String(architecture.baseChannels),
                expected: "an even number whose level channels \(architecture.unetConfiguration.levelChannels) are multiples of --groups \(architecture.groups)")
        }
        var configuration = PriorTrainingConfiguration(
            architecture: architecture,
            steps: try options.int("steps", default: 4000, range: 1...10_000_000),
            batchSize: try options.int("batch-size", default: 32, range: 1...100_000),
            learningRate: try options.double("learning-rate", default: 1e-3, range: 1e-12...1),
            warmupSteps: try options.int("warmup-steps", default: 100, range: 0...10_000_000),
            averageDecay: try options.double("average-decay", default: 0.998, range: 0...1),
            seed: UInt64(try options.int("seed", default: 0, range: 0...Int.max)))
        let imageCount = try options.int("images", default: 59_000, range: 1...59_000)
        let dataDirectory = options.string("data").map { URL(fileURLWithPath: $0) } ?? FashionMNIST.defaultDirectory
        let folder = URL(fileURLWithPath: options.string("output") ?? "runs/prior")
        let checkpointInterval = try options.int("checkpoint-every", default: 250, range: 1...10_000_000)

        // Resume when asked, or when the folder already contains a checkpoint.
        let checkpointURL = folder.appendingPathComponent(PriorTrainer.checkpointFileName)
        let hasCheckpoint = FileManager.default.fileExists(atPath: checkpointURL.path)
        if options.flag("resume") && !hasCheckpoint {
            throw CommandLineError.invalidValue(
                command: "train-prior", option: "output", value: folder.path,
                expected: "a folder with \(PriorTrainer.checkpointFileName), because --resume was given")
        }
        if hasCheckpoint {
            configuration = try resumedConfiguration(checkpointURL, requested: configuration, options: options)
        }

        Log.info("loading \(imageCount) images of the Fashion-MNIST prior-training split")
        let images = try FashionMNIST.load(.priorTraining, as: Float.self, paddedTo32: true, directory: dataDirectory)
            .images.slice(alongAxis: 0, 0..<imageCount)
        let trainer = hasCheckpoint
            ? try PriorTrainer(resumingFrom: checkpointURL, configuration: configuration, images: images)
            : PriorTrainer(configuration: configuration, images: images)
        Log.info(
            "\(hasCheckpoint ? "resuming at step \(trainer.step)" : "starting"): U-Net with \(trainer.network.parameterCount) parameters, "
                + "batch \(configuration.batchSize), \(configuration.steps) steps, writing to \(folder.path)")

        let priorMetadata = [
            "data": "Fashion-MNIST training images 0..<\(imageCount) (prior-training split), padded to 32x32, in [-1, 1]",
            "command": "deft train-prior " + arguments.joined(separator: " "),
        ]
        let start = Date()
        let firstStep = trainer.step
        try trainer.train(
            until: configuration.steps, folder: folder, checkpointInterval: checkpointInterval,
            priorMetadata: priorMetadata, reportInterval: 50
        ) { progress in
            Log.info(String(
                format: "step %d/%d  loss %.4f  %.2f steps/s  %@ left", progress.step, progress.lastStep,
                progress.meanLoss, progress.stepsPerSecond, formatDuration(progress.secondsLeft)))
        }

        let recent = trainer.losses.suffix(100)
        let meanRecent = recent.reduce(0.0) { $0 + Double($1) } / Double(Swift.max(recent.count, 1))
        print(String(
            format: "trained steps %d to %d in %@; mean loss of the last %d steps %.4f",
            firstStep, trainer.step, formatDuration(Date().timeIntervalSince(start)), recent.count, meanRecent))
        print("wrote \(folder.appendingPathComponent(PriorTrainer.priorFileName).path)")
    }

    /// Parses `--multipliers` as comma-separated positive integers.
    private static func multipliers(_ options: CommandLineOptions) throws -> [Int] {
        guard let text = options.string("multipliers") else { return [1, 2, 2] }
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.count <= 6, values.allSatisfy({ ($0 ?? 0) > 0 && $0! <= 64 }) else {
            throw CommandLineError.invalidValue(
                command: "train-prior", option: "multipliers", value: text,
                expected: "1 to 6 comma-separated integers from 1 to 64, such as 1,2,2")
        }
        let result = values.map { $0! }
        guard 32 % (1 << (result.count - 1)) == 0 else {
            throw CommandLineError.invalidValue(
                command: "train-prior", option: "multipliers", value: text,
                expected: "at most 6 levels, so that 32×32 images halve exactly")
        }
        return result
    }

    /// Returns the checkpoint's configuration with the options given on this command line
    /// that may change on resume. An architecture or seed option that contradicts the
    /// checkpoint is an error naming the option.
    private static func resumedConfiguration(
        _ url: URL, requested: PriorTrainingConfiguration, options: CommandLineOptions
    ) throws -> PriorTrainingConfiguration {
        let (saved, step) = try PriorTrainer.checkpointContents(at: url)
        let fixed: [(option: String, requested: String, saved: String)] = [
            ("base-channels", String(requested.architecture.baseChannels), String(saved.architecture.baseChannels)),
            ("multipliers", requested.architecture.channelMultipliers.map(String.init).joined(separator: ","),
             saved.architecture.channelMultipliers.map(String.init).joined(separator: ",")),
            ("groups", String(requested.architecture.groups), String(saved.architecture.groups)),
            ("seed", String(requested.seed), String(saved.seed)),
        ]
        for entry in fixed where options.string(entry.option) != nil && entry.requested != entry.saved {
            throw CommandLineError.invalidValue(
                command: "train-prior", option: entry.option, value: entry.requested,
                expected: "\(entry.saved), the value of the checkpoint \(url.path) at step \(step); use another --output to start afresh")
        }

        var configuration = saved
        if options.string("steps") != nil { configuration.steps = requested.steps }
        if options.string("batch-size") != nil { configuration.batchSize = requested.batchSize }
        if options.string("learning-rate") != nil { configuration.learningRate = requested.learningRate }
        if options.string("warmup-steps") != nil { configuration.warmupSteps = requested.warmupSteps }
        if options.string("average-decay") != nil { configuration.averageDecay = requested.averageDecay }
        guard configuration.steps >= step else {
            throw CommandLineError.invalidValue(
                command: "train-prior", option: "steps", value: String(configuration.steps),
                expected: "at least \(step), the step of the checkpoint \(url.path)")
        }
        return configuration
    }
}

/// Formats seconds as `1h02m`, `12m05s` or `42s`.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    if total >= 3600 { return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60) }
    if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return "\(total)s"
}
