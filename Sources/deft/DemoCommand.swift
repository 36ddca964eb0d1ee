import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// `deft demo`: the library's main job end to end. Fine-tunes DEFT for an imaging task on
/// the shipped prior, then reconstructs evaluation images with DEFT, every training-free
/// baseline and A⁺y, and scores them side by side.
enum DemoCommand {
    /// The evaluation images of a default run, chosen so that the demo finishes well
    /// within 15 minutes on two cores: it took 9 min 22 s on two shared cores, 3 min 7 s
    /// of it in DPS's 1000 steps, which each pass back through the prior.
    static let defaultImageCount = 8

    static let help = """
        usage: deft demo [options]

        Runs the main job on Fashion-MNIST with the shipped prior: fine-tunes a DEFT
        h-network for --task on the 1000 fine-tuning images, then reconstructs the first
        --images evaluation images from one noisy observation each with DEFT (DDIM), DPS,
        ΠGDM, DDRM, RED-diff and A⁺y, and prints the comparison table. A method that cannot
        run on the task (DDRM and A⁺y on the nonlinear hdr and phase-retrieval) is listed as
        not applicable. Progress goes to standard error. Writes h-network.safetensors,
        loss.csv, results.md, results.json and reconstructions.png (rows: ground truth, the
        observation shown as an image, then each method) into a new folder under --output.
        A method whose reconstructions contain NaN or ±∞ (a diverged sampler or a corrupt
        prior file) keeps its row with nan scores and gets a warning on standard error.

        columns:
        \(ReconstructionReport.columnDefinitions)

        With --json, standard output carries only
        {"task": …, "methods": [{"name", "psnr", "ssim", "top1", "data_consistency",
        "finetune_seconds", "sample_seconds_per_image", "parameters"}, …]}, top-1 as a
        fraction, and nulls for the scores and times of a method that does not apply.

        tasks (--task): \(ImagingCommandOptions.taskNames)

        options:
          --task NAME             the inverse problem (default inpainting)
          --images N              evaluation images, 1 to 1000 (default \(defaultImageCount))
        \(ImagingCommandOptions.fineTuningOptionsHelp)
        \(ImagingCommandOptions.samplingOptionsHelp)
          --seed N                seed of the fine-tuning, the observation noise and the samplers (default 0)
          --prior FILE            prior file (default models/fashion-mnist-prior.safetensors)
          --classifier FILE       classifier weights (default models/fashion-classifier.safetensors)
          --data DIR              folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output DIR            parent folder of the run folder (default runs)
          --json                  print the summary as JSON instead of the Markdown table
          --quiet                 no progress on standard error
          --help                  show this text

        The 2-D mixture check that this command ran before is now 'deft mixture'.
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "demo", arguments: arguments,
            valued: ImagingCommandOptions.deftSamplingOptions.union([
                "task", "images", "finetune-steps", "finetune-batch-size", "learning-rate", "base-channels", "prior-reuse", "pigdm-steps", "ddrm-steps",
                "reddiff-steps", "batch-size", "seed", "prior", "classifier", "data", "output",
            ]),
            boolean: ImagingCommandOptions.deftSamplingFlags.union(["json", "quiet"]))
        Log.isQuiet = options.flag("quiet")
        let start = Date()

        // Every option and input file is checked before the long steps start.
        let task = try ImagingCommandOptions.task(options)
        let imageCount = try options.int("images", default: defaultImageCount, range: 1...1000)
        let batchSize = try options.int("batch-size", default: 32, range: 1...1000)
        let seed = try ImagingCommandOptions.seed(options)
        let configuration = try ImagingCommandOptions.fineTuningConfiguration(
            options, stepsOption: "finetune-steps", batchSizeOption: "finetune-batch-size", seed: seed)
        let (prior, priorPath) = try ImagingCommandOptions.prior(options)
        let deftSampling = try ImagingCommandOptions.deftSampling(options, scheduleCount: prior.schedule.count)
        let baselineSteps = try ImagingCommandOptions.baselineSteps(options, scheduleCount: prior.schedule.count)
        let classifier = try ImagingCommandOptions.classifier(options)
        let directory = try ImagingCommandOptions.checkedDataDirectory(options)
        let runFolder = try RunFolder.create(in: ImagingCommandOptions.outputParent(options), prefix: "demo-\(task.rawValue)")
        do {
            try run(options, task: task, imageCount: imageCount, batchSize: batchSize, seed: seed, configuration: configuration,
                    prior: prior, priorPath: priorPath, deftSampling: deftSampling, baselineSteps: baselineSteps, classifier: classifier,
                    directory: directory, runFolder: runFolder, start: start)
        } catch {
            RunFolder.removeIfEmpty(runFolder)
            throw error
        }
    }

    /// Fine-tunes, reconstructs and reports into `runFolder`, with every input already checked.
    private static func run(
        _ options: CommandLineOptions, task: ImagingTask, imageCount: Int, batchSize: Int, seed: UInt64,
        configuration: DEFTImageFineTuningConfiguration, prior: UNetNoisePredictor<Float>, priorPath: String, deftSampling: DEFTSampling,
        baselineSteps: BaselineSteps, classifier: FashionClassifier<Float>, directory: URL, runFolder: URL, start: Date
    ) throws {
        // Fine-tuning.
        let fineTuned = try ImagingCommandOptions.fineTune(
            task: task, prior: prior, directory: directory, configuration: configuration, sampling: deftSampling)
        let sampling = try ImagingCommandOptions.withCalibratedReadOut(
            deftSampling, calibrated: fineTuned.estimateTimestep, options: options, scheduleCount: prior.schedule.count,
            source: "the calibration")
        try fineTuned.save(to: runFolder.appendingPathComponent("h-network.safetensors"), prior: priorPath)
        try writeAtomically(Data(fineTuned.lossCSV.utf8), to: runFolder.appendingPathComponent("loss.csv"))
        Log.info(String(format: "fine-tuned in %@; wrote h-network.safetensors and loss.csv", formattedDuration(fineTuned.seconds)))

        // Reconstruction and scoring.
        let likelihood: any GaussianObservationModel<Float> = task.observationModel()
        let entries = try ImagingCommandOptions.methodEntries(
            MethodCatalogue.names, task: task, likelihood: likelihood, prior: prior,
            network: (fineTuned.network, fineTuned.seconds), deftSampling: sampling, baselineSteps: baselineSteps)
        let report = try ImagingCommandOptions.evaluate(
            entries: entries, task: task, likelihood: likelihood, classifier: classifier, directory: directory,
            imageCount: imageCount, batchSize: batchSize, seed: seed, runFolder: runFolder)
        ImagingCommandOptions.warnAboutNonFiniteResults(report)
        Log.info("demo finished in \(formattedDuration(Date().timeIntervalSince(start)))")

        if options.flag("json") {
            print(String(decoding: try report.jsonData(detailed: false), as: UTF8.self))
        } else {
            print(report.markdown)
            print("wrote \(runFolder.path)")
        }
    }
}
