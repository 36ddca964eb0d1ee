import Foundation
import Imaging
import Tensors

/// `deft export-prior`: writes a prior file from a training checkpoint and compares the
/// checkpoint's averaged and trained parameters on held-out images.
enum ExportPriorCommand {
    static let help = """
        usage: deft export-prior --checkpoint FILE [options]

        Prints the DDPM loss per pixel, E‖ε_θ(x_k, k) − ε‖², of the checkpoint's moving
        average and of its trained parameters at steps k = 10, 100, 300, 500, 700, 900 and
        999, on the first --images images of the Fashion-MNIST evaluation split (test images
        0..<1000, never trained on). Then writes the parameters chosen by --weights as a
        prior file for 'deft sample' and the samplers.

        options:
          --checkpoint FILE   checkpoint.safetensors written by 'deft train-prior' (required)
          --weights NAME      average or trained (default average)
          --images N          held-out images to evaluate on, 0 to skip (default 200)
          --seed N            seed of the evaluation noise (default 0)
          --data DIR          folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output FILE       prior file to write (default models/fashion-mnist-prior.safetensors)
          --help              show this text
        """

    static let evaluationSteps = [10, 100, 300, 500, 700, 900, 999]

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "export-prior", arguments: arguments,
            valued: ["checkpoint", "weights", "images", "seed", "data", "output"], boolean: [])
        guard let checkpointPath = options.string("checkpoint") else {
            throw CommandLineError.missingValue(command: "export-prior", option: "checkpoint")
        }
        let checkpoint = URL(fileURLWithPath: checkpointPath)
        let weightsName = options.string("weights") ?? "average"
        guard let weights = PriorTrainer.CheckpointWeights(rawValue: weightsName) else {
            throw CommandLineError.invalidValue(command: "export-prior", option: "weights", value: weightsName, expected: "average or trained")
        }
        let imageCount = try options.int("images", default: 200, range: 0...1000)
        let seed = UInt64(try options.int("seed", default: 0, range: 0...Int.max))
        let directory = options.string("data").map { URL(fileURLWithPath: $0) } ?? FashionMNIST.defaultDirectory
        let output = URL(fileURLWithPath: options.string("output") ?? SampleCommand.defaultPriorPath)

        let (configuration, step) = try PriorTrainer.checkpointContents(at: checkpoint)
        print("checkpoint \(checkpoint.path) at step \(step) of \(configuration.steps)")
        if imageCount > 0 {
            let images = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true, directory: directory)
                .images.slice(alongAxis: 0, 0..<imageCount)
            print("DDPM loss per pixel on \(imageCount) evaluation images, by step k:")
            print("  weights   " + evaluationSteps.map { String(format: "%8d", $0) }.joined())
            for candidate in [PriorTrainer.CheckpointWeights.average, .trained] {
                let predictor = try PriorTrainer.predictor(fromCheckpoint: checkpoint, weights: candidate)
                let losses = denoisingLoss(
                    of: predictor, schedule: predictor.schedule, on: images, atSteps: evaluationSteps, seed: seed)
                print("  " + candidate.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                      + losses.map { String(format: "%8.4f", $0) }.joined())
            }
        }

        let predictor = try PriorTrainer.predictor(fromCheckpoint: checkpoint, weights: weights)
        let saved = try PriorTrainer.checkpointMetadata(at: checkpoint)
        var metadata = [
            "step": String(step),
            "weights": weights.rawValue,
            "training": String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self),
            "command": "deft export-prior " + arguments.joined(separator: " "),
        ]
        metadata["data"] = saved["data"]
        metadata["trainingCommand"] = saved["command"]
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        try predictor.write(to: output, metadata: metadata)
        print("wrote the \(weights.rawValue) parameters to \(output.path)")
    }
}
