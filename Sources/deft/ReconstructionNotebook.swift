import DEFTScoreMatching
import Foundation
import ImageReconstruction
import Imaging
import SDECore
import Samplers
import Tensors

/// The run behind deft-on-images.md: DEFT fine-tuned for inpainting, the comparison with
/// the baselines, and DEFT's PSNR against its number of DDIM steps.
struct ReconstructionNotebook {
    /// The measurements of the fine-tuning run.
    struct FineTuningRun {
        var losses: [Double]
        /// Wall-clock seconds of the training steps and of the read-out calibration.
        var seconds: Double
        /// The part of `seconds` spent calibrating the read-out step.
        var calibrationSeconds: Double
        var parameterCount: Int
        var network: ImageHTransformNetwork<Float>
        var estimateTimestep: Int
    }

    /// DEFT's scores at one number of DDIM steps.
    struct StepResult {
        var steps: Int
        var result: MethodResult
    }

    let folder: URL
    let sizes: Sizes
    let seed: UInt64
    let prior: UNetNoisePredictor<Float>
    let priorPath: String
    let classifier: FashionClassifier<Float>
    let dataDirectory: URL
    let task = ImagingTask.inpainting

    static let lossFigure = "figures/deft-on-images-loss.svg"
    static let stepsFigure = "figures/deft-on-images-psnr-time.svg"
    static let gridFigure = "imaging/deft-on-images-inpainting.png"

    func write() throws {
        let started = Date()
        for subfolder in ["figures", "imaging"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(subfolder), withIntermediateDirectories: true)
        }

        let likelihood: any GaussianObservationModel<Float> = task.observationModel()
        let conditioning = TaskConditioning(task: task, likelihood: likelihood)
        let fineTuning = try fineTune(likelihood: likelihood, conditioning: conditioning)

        // The comparison table, DEFT at its largest step count.
        let evaluationImages = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true, directory: dataDirectory)
        let evaluation = ReconstructionEvaluation(
            task: task, likelihood: likelihood, classifier: classifier,
            truth: evaluationImages.images.slice(alongAxis: 0, 0..<sizes.imageCount),
            labels: Array(evaluationImages.labels[0..<sizes.imageCount]), batchSize: 32, seed: seed)
        let entries = try ImagingCommandOptions.methodEntries(
            sizes.methods, task: task, likelihood: likelihood, prior: prior, network: (fineTuning.network, fineTuning.seconds),
            deftSampling: DEFTSampling(steps: sizes.tableDEFTSteps, estimateTimestep: fineTuning.estimateTimestep), baselineSteps: sizes.baselineSteps)
        Log.info("notebook: reconstructing \(sizes.imageCount) evaluation images with \(sizes.methods.joined(separator: ", "))")
        let results = try entries.map { try evaluation.run($0, progress: Log.info) }
        let report = ReconstructionReport(
            task: task, imageCount: sizes.imageCount, seed: seed, results: results, groundTruthTop1: evaluation.groundTruthTop1)

        // DEFT at each step count. The method's random stream does not depend on its steps,
        // so the table's run is the largest step count's and is not repeated.
        var stepResults: [StepResult] = []
        for steps in sizes.deftStepCounts {
            if steps == sizes.tableDEFTSteps, let tableResult = results.first(where: { $0.name == "deft" }) {
                stepResults.append(StepResult(steps: steps, result: tableResult))
                continue
            }
            let method = DEFTMethod(
                prior: prior, network: fineTuning.network, conditioning: conditioning, sampling: DEFTSampling(steps: steps, estimateTimestep: fineTuning.estimateTimestep),
                fineTuningSeconds: fineTuning.seconds)
            stepResults.append(StepResult(steps: steps, result: try evaluation.run(.applicable(method), progress: Log.info)))
        }

        try writeFigures(fineTuning: fineTuning, evaluation: evaluation, results: results, stepResults: stepResults)
        let page = ReconstructionNotebookPage(
            sizes: sizes, seed: seed, priorPath: priorPath, priorParameterCount: prior.network.parameterCount,
            fineTuning: fineTuning, report: report, stepResults: stepResults,
            gridRows: ReconstructionFigure.rowNames(results: results), previewCount: evaluation.previewCount,
            seconds: Date().timeIntervalSince(started))
        let url = folder.appendingPathComponent(ReconstructionNotebookCommand.fileName)
        try writeAtomically(Data(page.markdown.utf8), to: url)
        Log.info("wrote \(url.path)")
    }

    /// Fine-tunes the h-network with the library calls that the page's Swift example shows.
    func fineTune(likelihood: any GaussianObservationModel<Float>, conditioning: TaskConditioning) throws -> FineTuningRun {
        let images = try FashionMNIST.load(.fineTuning, as: Float.self, paddedTo32: true, directory: dataDirectory).images
        let configuration = DEFTImageFineTuningConfiguration(training: sizes.training, seed: seed)

        Log.info("notebook: fine-tuning DEFT for inpainting, \(sizes.training.steps) steps of \(sizes.training.batchSize) images")
        let fineTuned = fineTuneDEFT(
            task: task, prior: prior, images: images, configuration: configuration,
            sampling: DEFTSampling(steps: sizes.tableDEFTSteps)
        ) { report in
            Log.info(String(
                format: "fine-tuning step %d/%d  loss %.4f  %.2f steps/s  about %@ left", report.step, report.totalSteps,
                report.loss, report.stepsPerSecond, formattedDuration(report.secondsLeft)))
        }
        return FineTuningRun(
            losses: fineTuned.losses, seconds: fineTuned.seconds, calibrationSeconds: fineTuned.calibrationSeconds,
            parameterCount: fineTuned.network.parameterCount,
            network: fineTuned.network, estimateTimestep: fineTuned.estimateTimestep)
    }

    func writeFigures(
        fineTuning: FineTuningRun, evaluation: ReconstructionEvaluation, results: [MethodResult], stepResults: [StepResult]
    ) throws {
        // The loss of every step and its mean over a window of 5 % of the steps.
        var loss = SVGLinePlot(title: "DEFT fine-tuning for inpainting", xLabel: "step", yLabel: "score-matching loss")
        let losses = fineTuning.losses
        loss.series.append(.init(label: "loss per step", points: losses.enumerated().map { (Double($0.offset + 1), $0.element) }))
        let window = Swift.max(1, losses.count / 20)
        if window > 1 {
            let means = (window...losses.count).map { end in
                (x: Double(end), y: losses[(end - window)..<end].reduce(0, +) / Double(window))
            }
            loss.series.append(.init(label: "mean of the last \(window) steps", points: means, style: .dashed))
        }
        try writeAtomically(Data(loss.render().utf8), to: folder.appendingPathComponent(Self.lossFigure))

        // PSNR against sampling time: DEFT's step counts as a line, each baseline as a point.
        var steps = SVGLinePlot(
            title: "PSNR against sampling time, inpainting", xLabel: "sampling time per image (s)", yLabel: "mean PSNR (dB)",
            logarithmicX: true)
        steps.series.append(.init(
            label: "DEFT, DDIM " + stepResults.map { String($0.steps) }.joined(separator: "/"),
            points: stepResults.map { ($0.result.sampleSecondsPerImage ?? .nan, $0.result.scores.means.psnr) }))
        for result in results where MethodCatalogue.baselineNames.contains(result.name) && result.isApplicable {
            steps.series.append(.init(
                label: result.name, points: [(result.sampleSecondsPerImage ?? .nan, result.scores.means.psnr)], style: .markers))
        }
        try writeAtomically(Data(steps.render().utf8), to: folder.appendingPathComponent(Self.stepsFigure))

        let preview = evaluation.previewCount
        let grid = ReconstructionFigure.grid(
            task: task, truth: evaluation.truth.slice(alongAxis: 0, 0..<preview),
            observations: evaluation.observations.slice(alongAxis: 0, 0..<preview), results: results)
        try grid.writePNG(to: folder.appendingPathComponent(Self.gridFigure))
    }
}
