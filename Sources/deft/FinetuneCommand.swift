import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// `deft finetune`: fine-tunes the DEFT h-network for one imaging task on the shipped prior.
enum FinetuneCommand {
    static let defaults = DEFTImageFineTuningConfiguration.defaultTraining

    static let help = """
        usage: deft finetune [options]

        Fine-tunes a DEFT h-network (a small U-Net plus the likelihood-informed guidance
        term) for one imaging task, on top of the frozen prior, by denoising score matching
        on the 1000 Fashion-MNIST fine-tuning images (training images 59000..<60000), each
        step with fresh observation noise. Then calibrates the read-out step t* (see 'deft
        evaluate --help', --deft-estimate-step): DEFT with its default sampling reconstructs
        8 of the fine-tuning images from fresh observations, and t* is the DDIM step whose
        read-out has the least squared error. Prints progress (step, loss, steps per second,
        time left) on standard error. Writes the network (h-network.safetensors, with the
        task, settings, t* and fine-tuning seconds, calibration included, in its metadata)
        and the loss of every step
        (loss.csv) into a new folder under --output, and prints the network's path for
        'deft evaluate --h-network'.

        tasks (--task): \(ImagingCommandOptions.taskNames)

        options:
          --task NAME             the inverse problem (default inpainting)
          --steps N               fine-tuning steps (default \(defaults.steps))
          --batch-size N          images per step (default \(defaults.batchSize))
          --learning-rate X       peak Adam learning rate (default \(defaults.learningRate))
          --base-channels N       first-level channels of the h-network's U-Net, a multiple of 4 (default 8)
        \(ImagingCommandOptions.priorReuseHelp)
          --seed N                seed of the initial weights, batches and noise (default 0)
          --prior FILE            prior file (default models/fashion-mnist-prior.safetensors)
          --data DIR              folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output DIR            parent folder of the run folder (default runs)
          --quiet                 no progress on standard error
          --help                  show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "finetune", arguments: arguments,
            valued: ["task", "steps", "batch-size", "learning-rate", "base-channels", "prior-reuse", "seed", "prior", "data", "output"], boolean: ["quiet"])
        Log.isQuiet = options.flag("quiet")
        let task = try ImagingCommandOptions.task(options)
        let seed = try ImagingCommandOptions.seed(options)
        let configuration = try ImagingCommandOptions.fineTuningConfiguration(
            options, stepsOption: "steps", batchSizeOption: "batch-size", seed: seed)
        let (prior, priorPath) = try ImagingCommandOptions.prior(options)
        let directory = try ImagingCommandOptions.checkedDataDirectory(options)
        let runFolder = try RunFolder.create(in: ImagingCommandOptions.outputParent(options), prefix: "finetune-\(task.rawValue)")

        let result: FineTunedNetwork
        do {
            result = try ImagingCommandOptions.fineTune(task: task, prior: prior, directory: directory, configuration: configuration)
        } catch {
            RunFolder.removeIfEmpty(runFolder)
            throw error
        }
        let networkURL = runFolder.appendingPathComponent("h-network.safetensors")
        try result.save(to: networkURL, prior: priorPath)
        try writeAtomically(Data(result.lossCSV.utf8), to: runFolder.appendingPathComponent("loss.csv"))

        let tail = result.losses.suffix(Swift.max(1, result.losses.count / 10))
        print("task: \(task.summary)")
        print(String(
            format: "h-network: %d trained parameters (%.1f %% of the prior's %d)", result.network.parameterCount,
            100 * Double(result.network.parameterCount) / Double(prior.network.parameterCount), prior.network.parameterCount))
        let trainingSeconds = result.seconds - result.calibrationSeconds
        print(String(
            format: "fine-tuning: %d steps of %d images in %.1f s (%.3f s per step); mean loss of the last %d steps %.4f",
            result.losses.count, configuration.training.batchSize, trainingSeconds, trainingSeconds / Double(result.losses.count),
            tail.count, tail.reduce(0, +) / Double(tail.count)))
        print(String(
            format: "read-out step: t* = %d, calibrated in %.1f s on 8 fine-tuning images with DEFT's default sampling",
            result.estimateTimestep, result.calibrationSeconds))
        print("wrote \(networkURL.path) and loss.csv")
        print("next: deft evaluate --task \(task.rawValue) --h-network \(networkURL.path)")
    }
}
