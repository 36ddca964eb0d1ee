import Foundation
import Imaging
import Tensors

/// `deft control --problem ct`: the image case of `deft control`, with its own defaults.
enum ControlCTCommand {
    // NOTE: these defaults finish in a few minutes on 2 cores, but on image 0 the 30
    // training steps left the sample mean's PSNR where the initial guidance put it
    // (24.65 dB after training, 24.74 dB before, A⁺y 25.95 dB). A learning rate of 0.01
    // diverged at step 5, so improving on the guidance needs more steps, not larger ones.
    static let defaultSteps = 50
    static let defaultTrainingSteps = 30
    static let defaultBatchSize = 4
    static let defaultLearningRate = 1e-3
    static let defaultGuidanceScale = 3e-4
    static let defaultSampleCount = 8

    /// Runs the CT case with the options of `deft control`; options of the other
    /// problems are rejected.
    static func run(_ options: CommandLineOptions) throws {
        for option in ["reward", "observation", "noise-std", "grid", "model", "knots", "checkpoints", "checkpoint-interval"]
        where options.string(option) != nil {
            throw CommandLineError.invalidValue(
                command: "control", option: option, value: options.string(option)!,
                expected: "no value, because --problem ct does not use it")
        }
        var objective = options.string("objective") ?? "vargrad"
        guard ["relative-entropy", "vargrad", "log-variance", "trajectory-balance"].contains(objective) else {
            throw CommandLineError.invalidValue(
                command: "control", option: "objective", value: objective, expected: "vargrad (default), trajectory-balance or relative-entropy")
        }
        if objective == "log-variance" { objective = "vargrad" }
        let gradient = options.string("gradient") ?? (objective == "relative-entropy" ? "backprop" : "detached")
        let supportedGradient = objective == "relative-entropy" ? "backprop" : "detached"
        guard gradient == supportedGradient else {
            throw CommandLineError.invalidValue(
                command: "control", option: "gradient", value: gradient,
                expected: "\(supportedGradient) for --objective \(objective) on the CT problem")
        }
        let settings = ControlCTSettings(
            priorPath: options.string("prior") ?? SampleCommand.defaultPriorPath,
            imageIndex: try options.int("image-index", default: 0, range: 0...(FashionMNIST.Split.evaluation.range.count - 1)),
            objective: objective,
            gradient: gradient,
            steps: try options.int("steps", default: defaultSteps, range: 2...100_000),
            trainingSteps: try options.int("training-steps", default: defaultTrainingSteps, range: 1...10_000_000),
            batchSize: try options.int("batch-size", default: defaultBatchSize, range: 2...10_000),
            learningRate: try options.double("learning-rate", default: defaultLearningRate, range: 1e-8...10),
            guidanceScale: try options.double("guidance-scale", default: defaultGuidanceScale, range: 1e-12...1e12),
            sampleCount: try options.int("samples", default: defaultSampleCount, range: 1...10_000),
            seed: UInt64(try options.int("seed", default: 0, range: 0...Int.max)))

        // The run folder is created before training, so that a bad --output fails at once.
        let folder = try RunFolder.create(in: URL(fileURLWithPath: options.string("output") ?? "runs"), prefix: "control-ct")
        Log.info("deft control: ct, image \(settings.imageIndex), \(settings.objective) with \(settings.gradient) gradients, \(settings.steps) steps, \(settings.trainingSteps) training steps of \(settings.batchSize) paths")
        let run = ControlCTRun(settings: settings) { progress in
            let memory = [progress.peakResidentKilobytes.map { "VmHWM \($0) kB" }, progress.residentKilobytes.map { "VmRSS \($0) kB" }]
                .compactMap { $0 }.joined(separator: ", ")
            Log.info(String(format: "step %d  loss %.6g  %.3f s  ", progress.step, progress.loss, progress.seconds) + memory)
        }
        let report: ControlCTReport
        do {
            report = try run.run { folder }.report
        } catch {
            RunFolder.removeIfEmpty(folder)
            throw error
        }
        Log.info("wrote \(folder.path)/samples.png, samples.npy and summary.json")

        if options.flag("json") {
            print(String(decoding: try report.jsonData(), as: UTF8.self))
        } else {
            print(text(report))
        }
    }

    static func text(_ report: ControlCTReport) -> String {
        [
            "ct: \(report.task), image \(report.imageIndex); \(report.objective) with \(report.gradient) gradients",
            String(
                format: "%d training steps of %d paths on %d SDE steps: %.1f s, %.2f s per step; control network %d parameters",
                report.trainingSteps, report.batchSize, report.steps, report.trainingSeconds, report.secondsPerStep,
                report.controlParameters),
            String(format: "loss %.4g (first step) → %.4g (last step)", report.losses.first ?? .nan, report.losses.last ?? .nan),
            String(format: "A⁺y (CGLS):                      PSNR %.2f dB, SSIM %.3f", report.pseudoInversePSNR, report.pseudoInverseSSIM),
            String(format: "sample mean, guidance only:      PSNR %.2f dB, SSIM %.3f", report.initialMeanPSNR, report.initialMeanSSIM),
            String(format: "sample mean, trained control:    PSNR %.2f dB, SSIM %.3f", report.sampleMeanPSNR, report.sampleMeanSSIM),
            "PSNR of each sample (dB): " + report.samplePSNRs.map { String(format: "%.2f", $0) }.joined(separator: ", "),
        ].joined(separator: "\n")
    }
}
