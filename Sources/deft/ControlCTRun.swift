import ControlObjectives
import Foundation
import Imaging
import NeuralNetworks
import SDECore
import Samplers
import Tensors

/// The settings of a `deft control --problem ct` run.
struct ControlCTSettings {
    var priorPath: String
    var imageIndex: Int
    var objective: String
    var gradient: String
    var steps: Int
    var trainingSteps: Int
    var batchSize: Int
    var learningRate: Double
    var guidanceScale: Double
    var sampleCount: Int
    var seed: UInt64
}

/// The results of a CT run, encoded with snake-case keys.
struct ControlCTReport: Codable {
    var problem = "ct"
    var task: String
    var imageIndex: Int
    var objective: String
    var gradient: String
    var steps: Int
    var trainingSteps: Int
    var batchSize: Int
    var guidanceScale: Double
    var controlParameters: Int
    var losses: [Double]
    var trainingSeconds: Double
    var secondsPerStep: Double
    var peakResidentKilobytes: Int?
    var pseudoInversePSNR: Double
    var pseudoInverseSSIM: Double
    var initialMeanPSNR: Double
    var initialMeanSSIM: Double
    var sampleMeanPSNR: Double
    var sampleMeanSSIM: Double
    var samplePSNRs: [Double]

    func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self)
    }
}

/// Fits a likelihood-informed image h-transform of the shipped Fashion-MNIST prior to one
/// few-angle CT observation (`ImagingTask.ct`: 16 angles, σ_y = 0.1) of one evaluation image
/// by a control objective, and compares samples of the conditioned model with the truth.
///
/// The model is `ImageLikelihoodInformedHTransform` with initial guidance factor
/// s₀(t) = κ ᾱ(t), the exact ratio of Jᵀg to g / √ᾱ for a N(0, I) prior, and γ = σ_y².
/// Paths are Euler–Maruyama on the VP SDE of the prior's DDPM schedule from t = 1 to 0 on
/// a uniform grid, with the prior memoised by `NoisePredictorScore`.
struct ControlCTRun {
    let settings: ControlCTSettings
    let onProgress: (ControlProgress) -> Void

    /// The CT problem of one image: truth, observation, pseudo-inverse and control problem.
    struct Problem {
        let truth: Tensor<Float>
        let observation: Tensor<Float>
        let pseudoInverse: Tensor<Float>
        let process: ContinuousDDPM
        let score: NoisePredictorScore<UNetNoisePredictor<Float>>
        let control: ControlProblem<VariancePreservingSDE<Float, ContinuousDDPM>>
    }

    /// Builds the problem from the prior file and evaluation image `settings.imageIndex`.
    func makeProblem() throws -> Problem {
        let prior = try UNetNoisePredictor<Float>(contentsOf: URL(fileURLWithPath: settings.priorPath))
        let side = prior.architecture.imageSize
        guard side == ImagingTask.imageSide else {
            throw ControlCommandError("the prior's images are \(side) × \(side), but the CT operator is built for \(ImagingTask.imageSide) × \(ImagingTask.imageSide)")
        }
        let images = try FashionMNIST.load(.evaluation, as: Float.self, paddedTo32: true).images
        let truth = images.slice(alongAxis: 0, settings.imageIndex..<(settings.imageIndex + 1))

        // The observation y = A x + σ_y ξ, drawn from its own stream of the seed.
        guard let operator_ = ImagingTask.ct.observationModel(as: Float.self) as? RadonTransformOperator<Float> else {
            preconditionFailure("ImagingTask.ct must build a RadonTransformOperator")
        }
        var generator = PhiloxRandom(seed: settings.seed, stream: 11)
        let observation = operator_.sample(given: truth, using: &generator)
        let pseudoInverse = operator_.pseudoInverse(observation)

        let process = ContinuousDDPM(schedule: prior.schedule)
        let score = NoisePredictorScore(
            predictor: prior, sampleShape: [1, side, side], alphaBar: { process.alphaBar($0) },
            modelTime: { process.modelTime($0) })
        let d = side * side
        let imageShape = [1, 1, side, side]
        let terminalCost = TerminalCost<Float> { x, _ in
            let batch = x.shape[0]
            let observations = Tensor<Float>(zeros: [batch] + observation.shape.dropFirst()) + observation
            return operator_.logLikelihood(of: observations, given: x.reshaped(to: [batch] + imageShape.dropFirst()))
        }
        let control = ControlProblem(
            forward: VariancePreservingSDE<Float, ContinuousDDPM>(process: process), priorScore: { t, x in score(t, x) },
            terminalCost: terminalCost, grid: TimeGrid(from: 1, to: 0, steps: settings.steps), dimension: d)
        return Problem(
            truth: truth, observation: observation, pseudoInverse: pseudoInverse, process: process, score: score,
            control: control)
    }

    /// Trains the control, samples it, and writes `samples.png`, `samples.npy` and
    /// `summary.json` into the folder that `makeFolder` creates once training has
    /// succeeded. Returns the report and the folder.
    func run(makeFolder: () throws -> URL) throws -> (report: ControlCTReport, folder: URL) {
        let problem = try makeProblem()
        let control = problem.control
        let process = problem.process
        let kappa = settings.guidanceScale
        var generator = PhiloxRandom(seed: settings.seed, stream: 7)
        let guidance = ReconstructionGuidance(
            alphaBar: { process.alphaBar($0) }, priorScore: control.priorScore, terminalCost: control.terminalCost)
        let model = ImageLikelihoodInformedHTransform<Float>(
            imageShape: [1, ImagingTask.imageSide, ImagingTask.imageSide], guidance: guidance, baseChannels: 16,
            channelMultipliers: [1, 2], groups: 4, timeScale: 1000, gradientInputScale: 0.01,
            initialGuidanceScale: { kappa * process.alphaBar($0) }, using: &generator)
        Log.info("control network: \(model.parameterCount) parameters (U-Net 16, 32 channels, and NN2)")

        // Samples of the initial model: reconstruction guidance alone.
        let sampleRandomness = control.randomness(batch: settings.sampleCount, seed: settings.seed &+ 2_000_003)
        let initialSamples = try images(control.sample(model, randomness: sampleRandomness))
        guard initialSamples.scalars.allSatisfy(\.isFinite) else {
            throw ControlCommandError(
                "the samples of the initial control are not finite: the guidance term diverges on this grid; "
                    + "lower --guidance-scale (now \(kappa)) or raise --steps (now \(settings.steps))")
        }

        let normalizer = ScalarLogNormalizer<Float>()
        let schedule = CosineDecay(
            initialRate: settings.learningRate, finalRate: settings.learningRate / 10, decaySteps: settings.trainingSteps
        ).withLinearWarmup(steps: Swift.max(1, Swift.min(5, settings.trainingSteps / 5)))
        let trainer = ControlTrainer(
            problem: control, model: model, objective: try objective(normalizer: normalizer),
            configuration: .init(
                batchSize: settings.batchSize, learningRate: schedule, adamBetas: (0.9, 0.99), maximumGradientNorm: 1,
                seed: settings.seed))
        var losses: [Double] = []
        let started = Date()
        for _ in 0..<settings.trainingSteps {
            let step = try trainer.step()
            losses.append(step.loss)
            let memory = ProcessMemory.current()
            onProgress(ControlProgress(
                step: step.index, loss: step.loss, seconds: step.seconds, peakResidentKilobytes: memory.peak,
                residentKilobytes: memory.resident))
            guard step.loss.isFinite else {
                throw ControlCommandError(
                    "the loss at training step \(step.index) is \(step.loss): the paths diverged; lower --learning-rate "
                        + "(now \(settings.learningRate)) or --guidance-scale (now \(kappa))")
            }
        }
        let trainingSeconds = Date().timeIntervalSince(started)

        let samples = try images(control.sample(model, randomness: sampleRandomness))
        let report = makeReport(
            problem, samples: samples, initialSamples: initialSamples, losses: losses, trainingSeconds: trainingSeconds,
            parameterCount: model.parameterCount)

        // The grid: truth, A⁺y, the initial and trained sample means, then the samples.
        let panels = [problem.truth, problem.pseudoInverse, initialSamples.mean(alongAxes: [0]).reshaped(to: problem.truth.shape),
                      samples.mean(alongAxes: [0]).reshaped(to: problem.truth.shape), samples]
        let grid = Tensor.concatenate(panels, alongAxis: 0)
        let columns = 4
        let folder = try makeFolder()
        try imageGrid(upsampleNearest2d(grid, factor: 2), rows: (grid.shape[0] + columns - 1) / columns, columns: columns)
            .writePNG(to: folder.appendingPathComponent("samples.png"))
        try NumPyFile.write(samples, to: folder.appendingPathComponent("samples.npy"))
        try writeAtomically(try report.jsonData(), to: folder.appendingPathComponent("summary.json"))
        return (report, folder)
    }

    private func objective(normalizer: ScalarLogNormalizer<Float>) throws -> ControlObjective<Float> {
        switch (settings.objective, settings.gradient) {
        case ("vargrad", "detached"):
            return .logVariance()
        case ("trajectory-balance", "detached"):
            return .trajectoryBalance(logNormalizer: normalizer)
        case ("relative-entropy", "backprop"):
            return .relativeEntropy(gradient: .backpropagation)
        default:
            throw CommandLineError.invalidValue(
                command: "control", option: "gradient", value: settings.gradient,
                expected: "detached for vargrad and trajectory-balance, backprop for relative-entropy on the CT problem")
        }
    }

    /// Reshapes flat samples `[N, d]` to images `[N, 1, H, W]`.
    private func images(_ samples: Tensor<Float>) -> Tensor<Float> {
        samples.reshaped(to: [samples.shape[0], 1, ImagingTask.imageSide, ImagingTask.imageSide])
    }

    private func makeReport(
        _ problem: Problem, samples: Tensor<Float>, initialSamples: Tensor<Float>, losses: [Double],
        trainingSeconds: Double, parameterCount: Int
    ) -> ControlCTReport {
        let truth = unitIntervalImages(fromSymmetric: problem.truth)
        func quality(_ image: Tensor<Float>) -> (psnr: Double, ssim: Double) {
            let unit = unitIntervalImages(fromSymmetric: image.reshaped(to: problem.truth.shape))
            return (peakSignalToNoiseRatio(unit, reference: truth)[0], structuralSimilarity(unit, reference: truth)[0])
        }
        let pseudoInverse = quality(problem.pseudoInverse)
        let initialMean = quality(initialSamples.mean(alongAxes: [0]))
        let sampleMean = quality(samples.mean(alongAxes: [0]))
        let references = Tensor.concatenate(Array(repeating: truth, count: samples.shape[0]), alongAxis: 0)
        return ControlCTReport(
            task: ImagingTask.ct.summary, imageIndex: settings.imageIndex, objective: settings.objective,
            gradient: settings.gradient, steps: settings.steps, trainingSteps: settings.trainingSteps,
            batchSize: settings.batchSize, guidanceScale: settings.guidanceScale, controlParameters: parameterCount,
            losses: losses, trainingSeconds: trainingSeconds, secondsPerStep: trainingSeconds / Double(settings.trainingSteps),
            peakResidentKilobytes: ProcessMemory.current().peak, pseudoInversePSNR: pseudoInverse.psnr,
            pseudoInverseSSIM: pseudoInverse.ssim, initialMeanPSNR: initialMean.psnr, initialMeanSSIM: initialMean.ssim,
            sampleMeanPSNR: sampleMean.psnr, sampleMeanSSIM: sampleMean.ssim,
            samplePSNRs: peakSignalToNoiseRatio(unitIntervalImages(fromSymmetric: samples), reference: references))
    }
}
