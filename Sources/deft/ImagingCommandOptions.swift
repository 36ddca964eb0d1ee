import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// The options that `deft finetune`, `deft evaluate` and `deft demo` share: the task, the
/// input files, the fine-tuning and sampling settings.
enum ImagingCommandOptions {
    static let taskNames = ImagingTask.allCases.map(\.rawValue).joined(separator: ", ")

    /// Returns the task of `--task`, inpainting by default.
    static func task(_ options: CommandLineOptions) throws -> ImagingTask {
        let name = options.string("task") ?? ImagingTask.inpainting.rawValue
        guard let task = ImagingTask(name: name) else {
            throw CommandLineError.invalidValue(command: options.command, option: "task", value: name, expected: "one of \(taskNames)")
        }
        return task
    }

    /// Returns the URL of an input file, checking that it exists.
    static func existingFile(_ options: CommandLineOptions, _ option: String, default defaultPath: String?) throws -> URL {
        guard let path = options.string(option) ?? defaultPath else {
            throw ImagingCommandError.missingOption(command: options.command, option: option)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            let hint = defaultPath == path ? "run from the repository root or pass --\(option) FILE" : "check the path given to --\(option)"
            throw ImagingCommandError.fileNotFound(option: option, path: path, hint: hint)
        }
        return URL(fileURLWithPath: path)
    }

    static func prior(_ options: CommandLineOptions) throws -> (predictor: UNetNoisePredictor<Float>, path: String) {
        let url = try existingFile(options, "prior", default: SampleCommand.defaultPriorPath)
        return (try UNetNoisePredictor<Float>(contentsOf: url), url.path)
    }

    static func classifier(_ options: CommandLineOptions) throws -> FashionClassifier<Float> {
        let url = try existingFile(options, "classifier", default: FashionClassifier<Float>.defaultWeightsPath)
        return try FashionClassifier<Float>(contentsOf: url)
    }

    /// The Fashion-MNIST files that `FashionMNIST.load` reads for the fine-tuning and evaluation splits.
    static let dataFileNames = [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    ]

    static func dataDirectory(_ options: CommandLineOptions) -> URL {
        options.string("data").map { URL(fileURLWithPath: $0) } ?? FashionMNIST.defaultDirectory
    }

    /// Returns `dataDirectory(options)` after checking that a folder given with `--data`
    /// contains the four Fashion-MNIST files, so that a wrong path fails before any run
    /// folder is created.
    static func checkedDataDirectory(_ options: CommandLineOptions) throws -> URL {
        guard let path = options.string("data") else { return FashionMNIST.defaultDirectory }
        let directory = URL(fileURLWithPath: path)
        let missing = dataFileNames.filter { !FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path) }
        guard missing.isEmpty else {
            throw ImagingCommandError.missingDataFiles(path: path, files: missing)
        }
        return directory
    }

    static func seed(_ options: CommandLineOptions) throws -> UInt64 {
        UInt64(try options.int("seed", default: 0, range: 0...Int.max))
    }

    static func outputParent(_ options: CommandLineOptions) -> URL {
        URL(fileURLWithPath: options.string("output") ?? "runs")
    }

    // MARK: - Fine-tuning

    static let fineTuningOptionsHelp = """
          --finetune-steps N      fine-tuning steps (default \(DEFTImageFineTuningConfiguration.defaultTraining.steps))
          --finetune-batch-size N images per fine-tuning step (default \(DEFTImageFineTuningConfiguration.defaultTraining.batchSize))
          --learning-rate X       peak Adam learning rate (default \(DEFTImageFineTuningConfiguration.defaultTraining.learningRate))
          --base-channels N       first-level channels of the h-network's U-Net, a multiple of 4 (default \(ImageHTransformArchitecture().baseChannels))
        \(priorReuseHelp)
        """

    static let priorReuseHelp = """
          --prior-reuse R         training draws per evaluation of the frozen prior, from a
                                  pool of \(DEFTTrainingConfiguration().priorPoolCapacity) noised states, each drawn with fresh
                                  observation noise; must divide the batch size (default 1:
                                  the prior is evaluated at every draw)
        """

    /// Returns the fine-tuning settings from the options named by `stepsOption` and
    /// `batchSizeOption` and from `--learning-rate`, `--base-channels` and `--prior-reuse`.
    static func fineTuningConfiguration(
        _ options: CommandLineOptions, stepsOption: String, batchSizeOption: String, seed: UInt64
    ) throws -> DEFTImageFineTuningConfiguration {
        var training = DEFTImageFineTuningConfiguration.defaultTraining
        let steps = try options.int(stepsOption, default: training.steps, range: 1...10_000_000)
        let batchSize = try options.int(batchSizeOption, default: training.batchSize, range: 1...4096)
        let learningRate = try options.double("learning-rate", default: training.learningRate, range: 1e-8...1)
        let reuse = try options.int("prior-reuse", default: training.priorReuse, range: 1...batchSize)
        guard batchSize % reuse == 0 else {
            throw CommandLineError.invalidValue(
                command: options.command, option: "prior-reuse", value: String(reuse),
                expected: "a divisor of the batch size \(batchSize), so that every step evaluates the prior on batch size / R states")
        }
        // The warm-up must end before the last step; short runs (tests, smoke runs) get a tenth of their steps.
        let warmup = Swift.min(training.warmupSteps, steps / 10)
        training = DEFTTrainingConfiguration(
            steps: steps, batchSize: batchSize, learningRate: learningRate, finalLearningRate: training.finalLearningRate,
            warmupSteps: warmup, averageDecay: training.averageDecay, maximumGradientNorm: training.maximumGradientNorm,
            reportInterval: Swift.max(1, Swift.min(training.reportInterval, steps / 10)), priorReuse: reuse,
            priorPoolCapacity: Swift.max(training.priorPoolCapacity, batchSize))
        var architecture = ImageHTransformArchitecture()
        architecture.baseChannels = try options.int("base-channels", default: architecture.baseChannels, range: 1...256)
        guard architecture.baseChannels % architecture.groups == 0 else {
            throw CommandLineError.invalidValue(
                command: options.command, option: "base-channels", value: String(architecture.baseChannels),
                expected: "a multiple of the U-Net's \(architecture.groups) normalisation groups")
        }
        return DEFTImageFineTuningConfiguration(training: training, architecture: architecture, seed: seed)
    }

    /// Fine-tunes the h-network for `task` and calibrates its read-out step for `sampling`
    /// (by default DEFT's, with the steps capped at the prior's schedule), logging the
    /// progress lines.
    static func fineTune(
        task: ImagingTask, prior: UNetNoisePredictor<Float>, directory: URL, configuration: DEFTImageFineTuningConfiguration,
        sampling: DEFTSampling? = nil
    ) throws -> FineTunedNetwork {
        let sampling = sampling ?? DEFTSampling(steps: Swift.min(DEFTSampling().steps, prior.schedule.count))
        let images = try FashionMNIST.load(.fineTuning, as: Float.self, paddedTo32: true, directory: directory).images
        let training = configuration.training
        Log.info("fine-tuning DEFT for \(task.rawValue): \(training.steps) steps of \(training.batchSize) images from the 1000 fine-tuning images")
        let fineTuned = fineTuneDEFT(task: task, prior: prior, images: images, configuration: configuration, sampling: sampling) { report in
            Log.info(String(
                format: "fine-tuning step %d/%d  loss %.4f  %.2f steps/s  about %@ left", report.step, report.totalSteps,
                report.loss, report.stepsPerSecond, formattedDuration(report.secondsLeft)))
        }
        Log.info(String(
            format: "read-out step t* = %d, the least error on the validation images (%.1f s)", fineTuned.estimateTimestep,
            fineTuned.calibrationSeconds))
        return fineTuned
    }

    // MARK: - Evaluation

    static let samplingOptionsHelp = """
          --deft-steps N          DEFT's DDIM steps per sample (default 100)
          --deft-eta X            DEFT's DDIM noise scale η, 0 to 1 (default 1)
          --deft-samples K        DEFT posterior samples averaged into each reconstruction (default 4)
          --deft-estimate-step T  stop DEFT's paths at schedule step T and average Tweedie's
                                  estimates there; 0 averages finished samples (default: the
                                  step calibrated at fine-tuning, 0 for older networks)
          --deft-independent      draw the noise of DEFT's K paths independently instead of
                                  in antithetic pairs (one path's noise the negation of
                                  the other's)
          --pigdm-steps N         ΠGDM's DDIM steps (default 100)
          --ddrm-steps N          DDRM's steps (default 20)
          --reddiff-steps N       RED-diff's steps (default 1000)
          --batch-size N          images per sampler call (default 32)
        """

    /// Returns the baselines' step counts from `--pigdm-steps`, `--ddrm-steps` and `--reddiff-steps`.
    static func baselineSteps(_ options: CommandLineOptions, scheduleCount: Int) throws -> BaselineSteps {
        func steps(_ option: String) throws -> Int? {
            options.string(option) == nil ? nil : try options.int(option, default: 0, range: 1...scheduleCount)
        }
        return BaselineSteps(pigdm: try steps("pigdm-steps"), ddrm: try steps("ddrm-steps"), reddiff: try steps("reddiff-steps"))
    }

    /// Returns `sampling` with the read-out step `calibrated` (from fine-tuning or an
    /// h-network file, nil when it has none) unless `--deft-estimate-step` set it.
    static func withCalibratedReadOut(
        _ sampling: DEFTSampling, calibrated: Int?, options: CommandLineOptions, scheduleCount: Int, source: String
    ) throws -> DEFTSampling {
        guard options.string("deft-estimate-step") == nil, let calibrated else { return sampling }
        guard (0..<scheduleCount).contains(calibrated) else {
            throw CommandLineError.invalidValue(
                command: options.command, option: "deft-estimate-step", value: "\(calibrated) (from \(source))",
                expected: "a step in 0...\(scheduleCount - 1) of the prior's schedule; give --deft-estimate-step or fine-tune the network again")
        }
        var calibratedSampling = sampling
        calibratedSampling.estimateTimestep = calibrated
        return calibratedSampling
    }

    /// The valued option names read by `deftSampling`.
    static let deftSamplingOptions: Set<String> = ["deft-steps", "deft-eta", "deft-samples", "deft-estimate-step"]
    /// The flags read by `deftSampling`.
    static let deftSamplingFlags: Set<String> = ["deft-independent"]

    /// DEFT's sampling settings from `--deft-steps`, `--deft-eta`, `--deft-samples`,
    /// `--deft-estimate-step` and `--deft-independent`, with
    /// `DEFTSampling`'s defaults (the steps capped at a shorter schedule's length).
    static func deftSampling(_ options: CommandLineOptions, scheduleCount: Int) throws -> DEFTSampling {
        let defaults = DEFTSampling()
        return DEFTSampling(
            steps: try options.int("deft-steps", default: Swift.min(defaults.steps, scheduleCount), range: 1...scheduleCount),
            eta: try options.double("deft-eta", default: defaults.eta, range: 0...1),
            samplesPerObservation: try options.int("deft-samples", default: defaults.samplesPerObservation, range: 1...64),
            estimateTimestep: try options.int(
                "deft-estimate-step", default: defaults.estimateTimestep, range: 0...(scheduleCount - 1)),
            antitheticPairs: !options.flag("deft-independent"))
    }

    /// Builds the entries of `names` in table order; `deft` needs `network`.
    static func methodEntries(
        _ names: [String], task: ImagingTask, likelihood: any GaussianObservationModel<Float>, prior: UNetNoisePredictor<Float>,
        network: (network: ImageHTransformNetwork<Float>, fineTuningSeconds: Double?)?, deftSampling: DEFTSampling,
        baselineSteps: BaselineSteps
    ) throws -> [MethodEntry] {
        try names.map { name in
            switch name {
            case "deft":
                guard let network else { preconditionFailure("methodEntries: deft requested without a network") }
                return .applicable(DEFTMethod(
                    prior: prior, network: network.network, conditioning: TaskConditioning(task: task, likelihood: likelihood),
                    sampling: deftSampling, fineTuningSeconds: network.fineTuningSeconds))
            case "pinv":
                return MethodCatalogue.pseudoInverse(task: task, likelihood: likelihood)
            default:
                return try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: baselineSteps)
            }
        }
    }

    /// Runs every method on the first `imageCount` evaluation images and writes
    /// results.md, results.json and reconstructions.png into `runFolder`.
    static func evaluate(
        entries: [MethodEntry], task: ImagingTask, likelihood: any GaussianObservationModel<Float>,
        classifier: FashionClassifier<Float>, directory: URL, imageCount: Int, batchSize: Int, seed: UInt64, runFolder: URL,
        split: FashionMNIST.Split = .evaluation
    ) throws -> ReconstructionReport {
        let dataset = try FashionMNIST.load(split, as: Float.self, paddedTo32: true, directory: directory)
        let run = ReconstructionEvaluation(
            task: task, likelihood: likelihood, classifier: classifier,
            truth: dataset.images.slice(alongAxis: 0, 0..<imageCount), labels: Array(dataset.labels[0..<imageCount]),
            batchSize: batchSize, seed: seed)
        Log.info("reconstructing \(imageCount) \(split.rawValue) images for \(task.summary)")
        let results = try entries.map { try run.run($0, progress: Log.info) }
        let report = ReconstructionReport(
            task: task, imageCount: imageCount, seed: seed, results: results, groundTruthTop1: run.groundTruthTop1, split: split)

        let preview = run.previewCount
        let grid = ReconstructionFigure.grid(
            task: task, truth: run.truth.slice(alongAxis: 0, 0..<preview), observations: run.observations.slice(alongAxis: 0, 0..<preview),
            results: results)
        try grid.writePNG(to: runFolder.appendingPathComponent("reconstructions.png"))
        let rows = ReconstructionFigure.rowNames(results: results).joined(separator: ", ")
        let page = report.markdown + "\nreconstructions.png shows the first \(preview) images; rows, top to bottom: \(rows).\n"
        try writeAtomically(Data(page.utf8), to: runFolder.appendingPathComponent("results.md"))
        try writeAtomically(try report.jsonData(detailed: true), to: runFolder.appendingPathComponent("results.json"))
        Log.info("wrote \(runFolder.path)/results.md, results.json and reconstructions.png")
        return report
    }
}

extension ImagingCommandOptions {
    /// Logs one warning for each method whose reconstructions were not finite (NaN PSNR),
    /// because the report keeps their rows with nan scores.
    static func warnAboutNonFiniteResults(_ report: ReconstructionReport) {
        for result in report.results where result.isApplicable {
            let failed = result.scores.psnr.filter { !$0.isFinite }.count
            guard failed > 0 else { continue }
            Log.warning(
                "\(result.name): \(failed) of \(result.scores.count) reconstructions contain NaN or ±∞; the sampler diverged "
                    + "or the prior or h-network file is corrupt, so its scores are nan")
        }
    }
}

/// An input that `deft finetune`, `deft evaluate` or `deft demo` cannot use.
enum ImagingCommandError: Error, CustomStringConvertible {
    case missingOption(command: String, option: String)
    case fileNotFound(option: String, path: String, hint: String)
    case missingDataFiles(path: String, files: [String])

    var description: String {
        switch self {
        case .missingOption(let command, let option):
            return "'deft \(command)' needs --\(option); run 'deft \(command) --help'"
        case .fileNotFound(let option, let path, let hint):
            return "--\(option) file not found: \(path); \(hint)"
        case .missingDataFiles(let path, let files):
            return "--data folder '\(path)' lacks the Fashion-MNIST files \(files.joined(separator: ", ")); "
                + "pass the folder that contains the gzip-compressed IDX files"
        }
    }
}
