import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// `deft evaluate`: reconstructs evaluation images of one task with DEFT and the baselines
/// and scores them side by side.
enum EvaluateCommand {
    static let help = """
        usage: deft evaluate [--task NAME] [--h-network FILE] [options]

        Reconstructs the first --images Fashion-MNIST evaluation images (test images
        0..<N; with --split validation, test images 1000..<1000 + N) from one noisy
        observation each, with every method of --methods on the same prior and
        observations, and scores them. Writes results.md (the table), results.json
        and reconstructions.png (rows: ground truth, the observation shown as an image,
        then each method) into a new folder under --output, and prints the table.

        methods (--methods, comma-separated, default all):
          deft     the fine-tuned h-network of --h-network with DDIM
          dps      DPS, every step of the prior's schedule (1000 for the shipped prior)
          pigdm    ΠGDM
          ddrm     DDRM (linear tasks only; CT through the dense SVD of A)
          reddiff  RED-diff
          pinv     the pseudo-inverse A⁺y (linear tasks only)
        A method that cannot run on the task is listed as not applicable. A method whose
        reconstructions contain NaN or ±∞ (a diverged sampler or a corrupt prior or
        h-network file) keeps its row, with nan in the scores, and gets a warning on
        standard error; such pixels are drawn black in reconstructions.png.

        Cost: DPS passes back through the prior at every step of its schedule. With the
        shipped prior it took 3 min 7 s for 8 images on two shared cores, about 23 s per
        image, so the default 1000 images take about 6 hours for DPS alone; use --images
        or --methods to shorten a first run.

        columns:
        \(ReconstructionReport.columnDefinitions)

        tasks (--task): \(ImagingCommandOptions.taskNames)

        options:
          --task NAME             the inverse problem (default inpainting)
          --h-network FILE        network from 'deft finetune' for the same task (required
                                  unless --methods leaves out deft)
          --methods LIST          methods to run (default deft,dps,pigdm,ddrm,reddiff,pinv)
          --images N              evaluation images, 1 to 1000 (default 1000)
          --split NAME            evaluation (test images 0..<1000, the benchmark's) or
                                  validation (test images 1000..<2000, for choosing
                                  settings without looking at the evaluation images);
                                  default evaluation
        \(ImagingCommandOptions.samplingOptionsHelp)
          --seed N                seed of the observation noise and the samplers (default 0)
          --prior FILE            prior file (default models/fashion-mnist-prior.safetensors)
          --classifier FILE       classifier weights (default models/fashion-classifier.safetensors)
          --data DIR              folder of the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
          --output DIR            parent folder of the run folder (default runs)
          --json                  print the table as JSON instead of Markdown
          --quiet                 no progress on standard error
          --help                  show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "evaluate", arguments: arguments,
            valued: ImagingCommandOptions.deftSamplingOptions.union([
                "task", "h-network", "methods", "images", "split", "pigdm-steps", "ddrm-steps", "reddiff-steps", "batch-size",
                "seed", "prior", "classifier", "data", "output",
            ]),
            boolean: ImagingCommandOptions.deftSamplingFlags.union(["json", "quiet"]))
        Log.isQuiet = options.flag("quiet")
        let task = try ImagingCommandOptions.task(options)
        let methodList = options.string("methods") ?? MethodCatalogue.names.joined(separator: ",")
        guard let methods = MethodCatalogue.parseList(methodList) else {
            throw CommandLineError.invalidValue(
                command: "evaluate", option: "methods", value: methodList,
                expected: "a comma-separated list of \(MethodCatalogue.names.joined(separator: ", "))")
        }
        let imageCount = try options.int("images", default: 1000, range: 1...1000)
        let splitName = options.string("split") ?? FashionMNIST.Split.evaluation.rawValue
        guard let split = FashionMNIST.Split(rawValue: splitName), split.isTestImages else {
            throw CommandLineError.invalidValue(
                command: "evaluate", option: "split", value: splitName, expected: "evaluation or validation")
        }
        let batchSize = try options.int("batch-size", default: 32, range: 1...1000)
        let seed = try ImagingCommandOptions.seed(options)

        let (prior, _) = try ImagingCommandOptions.prior(options)
        let schedule = prior.schedule
        var deftSampling = try ImagingCommandOptions.deftSampling(options, scheduleCount: schedule.count)
        let baselineSteps = try ImagingCommandOptions.baselineSteps(options, scheduleCount: schedule.count)
        var network: (network: ImageHTransformNetwork<Float>, fineTuningSeconds: Double?)?
        if methods.contains("deft") {
            let url = try ImagingCommandOptions.existingFile(options, "h-network", default: nil)
            let loaded = try loadFineTunedNetwork(contentsOf: url, task: task)
            deftSampling = try ImagingCommandOptions.withCalibratedReadOut(
                deftSampling, calibrated: loaded.estimateTimestep, options: options, scheduleCount: schedule.count, source: url.path)
            network = (loaded.network, loaded.fineTuningSeconds)
        }
        let classifier = try ImagingCommandOptions.classifier(options)

        let likelihood: any GaussianObservationModel<Float> = task.observationModel()
        let entries = try ImagingCommandOptions.methodEntries(
            methods, task: task, likelihood: likelihood, prior: prior, network: network, deftSampling: deftSampling,
            baselineSteps: baselineSteps)
        let directory = try ImagingCommandOptions.checkedDataDirectory(options)
        let runFolder = try RunFolder.create(in: ImagingCommandOptions.outputParent(options), prefix: "evaluate-\(task.rawValue)")
        if methods.contains("dps") && imageCount > 50 {
            Log.info("note: DPS took about 23 s per image with the shipped prior on two shared cores, so \(imageCount) images may take about \(formattedDuration(23 * Double(imageCount))) for DPS alone")
        }
        let report: ReconstructionReport
        do {
            report = try ImagingCommandOptions.evaluate(
                entries: entries, task: task, likelihood: likelihood, classifier: classifier, directory: directory,
                imageCount: imageCount, batchSize: batchSize, seed: seed, runFolder: runFolder, split: split)
        } catch {
            RunFolder.removeIfEmpty(runFolder)
            throw error
        }
        ImagingCommandOptions.warnAboutNonFiniteResults(report)

        if options.flag("json") {
            print(String(decoding: try report.jsonData(detailed: true), as: UTF8.self))
        } else {
            print(report.markdown)
        }
    }
}
