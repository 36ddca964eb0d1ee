import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import Tensors

/// One configuration of a method in the step sweep, with its mean PSNR and time.
struct SweepPoint {
    var method: String
    var steps: Int
    var psnr: Double
    var secondsPerImage: Double
}

/// The benchmark of one task: DEFT's fine-tuning, every method at its defaults, and the
/// step sweep.
struct TaskBenchmark {
    /// The step counts of the sweep; DPS always runs every step of the schedule.
    static let sweepSteps: [String: [Int]] = [
        "deft": [10, 20, 50, 100], "pigdm": [10, 20, 50, 100], "ddrm": [10, 20, 50, 100], "reddiff": [100, 250, 500, 1000],
    ]
    /// The step counts that the default run already measured.
    static let defaultSteps = ["deft": 100, "pigdm": 100, "ddrm": 20, "reddiff": 1000]

    let task: ImagingTask
    let fineTuned: FineTunedNetwork
    let report: ReconstructionReport
    let sweep: [SweepPoint]

    /// DPS's mean PSNR at its published 1000 steps.
    var dpsPSNR: Double? {
        report.results.first { $0.name == "dps" && $0.isApplicable }.map { $0.scores.means.psnr }
    }

    /// Returns the sweep point with the minimum sampling time per image at which `method`
    /// reaches DPS's PSNR, or nil when no configuration does.
    func timeToReachDPS(_ method: String) -> SweepPoint? {
        guard let target = dpsPSNR else { return nil }
        return sweep.filter { $0.method == method && $0.psnr >= target }.min { $0.secondsPerImage < $1.secondsPerImage }
    }

    static func run(
        task: ImagingTask, options: BenchmarkOptions, prior: UNetNoisePredictor<Float>, classifier: FashionClassifier<Float>,
        fineTuningImages: Tensor<Float>, evaluation: (images: Tensor<Float>, labels: [Int])
    ) throws -> TaskBenchmark {
        let likelihood: any GaussianObservationModel<Float> = task.observationModel()
        let conditioning = TaskConditioning(task: task, likelihood: likelihood)

        // Fine-tuning.
        let fineTuned = fineTuneDEFT(
            task: task, prior: prior, images: fineTuningImages, configuration: fineTuningConfiguration(options)
        ) { report in
            log(String(format: "%@: fine-tuning step %d/%d, loss %.4f, %.2f steps/s", task.rawValue, report.step, report.totalSteps, report.loss, report.stepsPerSecond))
        }
        log(String(
            format: "%@: fine-tuned in %.1f s, read-out step t* = %d calibrated in %.1f s of it", task.rawValue, fineTuned.seconds,
            fineTuned.estimateTimestep, fineTuned.calibrationSeconds))

        // Every method at its defaults.
        let evaluationRun = ReconstructionEvaluation(
            task: task, likelihood: likelihood, classifier: classifier,
            truth: evaluation.images.slice(alongAxis: 0, 0..<options.imageCount),
            labels: Array(evaluation.labels[0..<options.imageCount]), batchSize: options.batchSize, seed: options.seed)
        func deft(steps: Int) -> MethodEntry {
            .applicable(DEFTMethod(
                prior: prior, network: fineTuned.network, conditioning: conditioning, sampling: DEFTSampling(steps: steps, estimateTimestep: fineTuned.estimateTimestep),
                fineTuningSeconds: fineTuned.seconds))
        }
        var entries = [deft(steps: defaultSteps["deft"]!)]
        for name in MethodCatalogue.baselineNames {
            entries.append(try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior))
        }
        entries.append(MethodCatalogue.pseudoInverse(task: task, likelihood: likelihood))
        let results = try entries.map { try evaluationRun.run($0, progress: log) }
        let report = ReconstructionReport(task: task, imageCount: options.imageCount, seed: options.seed, results: results)

        // The sweep: the diffusion methods' defaults again as points, then the other step counts.
        var sweep: [SweepPoint] = []
        for result in results where result.isApplicable && result.name != "pinv" {
            let steps = defaultSteps[result.name] ?? (result.name == "dps" ? prior.schedule.count : 0)
            sweep.append(SweepPoint(
                method: result.name, steps: steps, psnr: result.scores.means.psnr, secondsPerImage: result.sampleSecondsPerImage ?? 0))
        }
        for (name, stepCounts) in sweepSteps.sorted(by: { $0.key < $1.key }) {
            guard results.contains(where: { $0.name == name && $0.isApplicable }) else { continue }
            for steps in stepCounts where steps != defaultSteps[name] && steps <= prior.schedule.count {
                let entry: MethodEntry
                switch name {
                case "deft": entry = deft(steps: steps)
                case "pigdm": entry = try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: BaselineSteps(pigdm: steps))
                case "ddrm": entry = try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: BaselineSteps(ddrm: steps))
                default: entry = try MethodCatalogue.baseline(name, task: task, likelihood: likelihood, prior: prior, steps: BaselineSteps(reddiff: steps))
                }
                let result = try evaluationRun.run(entry, progress: log)
                sweep.append(SweepPoint(
                    method: name, steps: steps, psnr: result.scores.means.psnr, secondsPerImage: result.sampleSecondsPerImage ?? 0))
            }
        }
        return TaskBenchmark(task: task, fineTuned: fineTuned, report: report, sweep: sweep)
    }

    /// Returns the library's fine-tuning defaults, with `--finetune-steps` when given.
    static func fineTuningConfiguration(_ options: BenchmarkOptions) -> DEFTImageFineTuningConfiguration {
        let defaults = DEFTImageFineTuningConfiguration.defaultTraining
        guard let steps = options.fineTuningSteps else {
            return DEFTImageFineTuningConfiguration(training: defaults, seed: options.seed)
        }
        // The warm-up must end before the last step, so short runs get a tenth of their steps.
        let training = DEFTTrainingConfiguration(
            steps: steps, batchSize: defaults.batchSize, learningRate: defaults.learningRate, finalLearningRate: defaults.finalLearningRate,
            warmupSteps: Swift.min(defaults.warmupSteps, steps / 10), averageDecay: defaults.averageDecay,
            maximumGradientNorm: defaults.maximumGradientNorm, reportInterval: Swift.max(1, Swift.min(defaults.reportInterval, steps / 10)))
        return DEFTImageFineTuningConfiguration(training: training, seed: options.seed)
    }
}

/// Progress on standard error, so that standard output carries only the tables.
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
