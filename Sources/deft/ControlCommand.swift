import ControlObjectives
import Foundation
import GaussianOracle
import SDECore
import Tensors

/// `deft control`: fits the h-transform of a frozen prior to one observation (or tilts it
/// by a reward) with a stochastic control objective, then samples the conditioned model.
enum ControlCommand {
    static let help = """
        usage: deft control --problem FILE.json|mixture|ct [options]
               deft control --notebook DIR [--problem FILE.json] [--quick]

        Learns the h-transform h_t(x) of a frozen diffusion prior by minimising a
        stochastic control objective over paths of the controlled reverse SDE
        dX = [f - σ² (∇ ln p_t + h)] dt + σ dW̄ started from N(0, I) at the horizon T,
        then draws samples of the conditioned model. The problems (the first two with
        an exact prior score):

          FILE.json  a Gaussian problem in the format of 'deft gaussian' (a vp-linear
                     schedule is required). The results are compared with the closed
                     forms: posterior, h*, J*, the log-variance floor Var[ln p_T(y | X_T)]
                     and E[ln p_T(y | X_T)] over X_T ~ N(0, I), all in continuous time.
          mixture    ½ N((-4, 0), I) + ½ N((4, 0), I) on the VP SDE with β from 0.1 to 20,
                     observed through y = x + σ ξ (default y = (1, 0), σ = 2); the mode
                     masses of the samples are compared with the exact posterior weights.
          ct         the shipped Fashion-MNIST prior (--prior) observed by few-angle CT
                     (16 angles, σ_y = 0.1) of evaluation image --image-index. The
                     control is a small U-Net plus a learned multiple of the
                     reconstruction-guidance term. The run writes samples.png (truth,
                     A⁺y by CGLS, sample means before and after training, samples) and
                     prints the PSNR and SSIM of the sample mean. Defaults for ct:
                     vargrad with detached gradients, 50 steps, 30 training steps of
                     4 paths, learning rate 0.001, 8 samples.

        Each training step prints its loss, time and the process's peak and current
        resident memory (VmHWM, VmRSS) to standard error. The samples are written to
        samples.npy and the results to summary.json in a new folder under --output.

        options:
          --problem P           FILE.json, mixture or ct
          --objective O         relative-entropy (default), vargrad or trajectory-balance
          --gradient G          for relative-entropy: backprop (default); adjoint, the
                                discrete adjoint with binomial checkpointing (backprop's
                                gradient, with memory flat in --steps); or
                                stochastic-adjoint, which solves the adjoint SDE
                                backwards and on this contracting SDE is percent-level
                                off backprop's gradient even with checkpoints. detached
                                (default for the others) for vargrad and
                                trajectory-balance
          --reward R            tilt a Gaussian prior by exp(r) instead of conditioning it
                                on the observation: linear:B1,B2,... for r(x) = b·x, or
                                quadratic:FILE.json for r(x) = -½ (x - c)ᵀ Q (x - c), with
                                keys "precision" (d rows) and "centre" (d numbers)
          --observation Y1,...  the mixture's observation (default 1,0)
          --noise-std S         the mixture's observation noise σ (default 2)
          --steps N             solver steps from T to 0 (default 100)
          --grid G              quadratic (default for a Gaussian problem: steps finest
                                near t = 0) or uniform (default for the mixture)
          --model M             affine (default for a Gaussian problem), features (affine
                                in x and 16 random tanh features; default for the mixture)
                                or mlp
          --knots K             hat functions in t of the affine models (default 16)
          --training-steps N    optimisation steps (default 300)
          --batch-size N        paths per step (default 256)
          --learning-rate R     Adam's initial learning rate, decayed to 1 % (default 0.1)
          --checkpoints C       with --gradient adjoint, the most states stored at once
                                (default ⌈log₂ steps⌉)
          --checkpoint-interval K
                                with --gradient stochastic-adjoint, keep every K-th
                                state for the backward pass (default 8)
          --prior FILE          ct: the prior file (default models/fashion-mnist-prior.safetensors)
          --image-index N       ct: the Fashion-MNIST evaluation image, 0 to 999 (default 0)
          --guidance-scale K    ct: the guidance factor at initialisation is K ᾱ(t)
                                (default 0.0003; 0.001 diverged on image 0 with 50 steps)
          --samples N           samples drawn after training (default: the problem file's
                                samples, else 10000)
          --seed N              seed of every random draw (default: the problem file's seed, else 0)
          --output DIR          parent folder of the run folder (default runs), created
                                before training so that an unusable folder fails at once
          --json                print the results as JSON on standard output
          --notebook DIR        compare the objectives on FILE.json (default
                                examples/control-gaussian-2d.json) and write
                                DIR/control-objectives.md with its figures
          --quick               with --notebook: 30 training steps and fewer paths, to
                                check the generator in seconds
          --quiet               no progress on standard error
          --help                show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(
            command: "control", arguments: arguments,
            valued: [
                "problem", "objective", "gradient", "reward", "observation", "noise-std", "steps", "grid", "model",
                "knots", "training-steps", "batch-size", "learning-rate", "checkpoints", "checkpoint-interval", "samples", "seed",
                "output", "notebook", "prior", "image-index", "guidance-scale",
            ],
            boolean: ["json", "quiet", "quick"])
        Log.isQuiet = options.flag("quiet")

        if let folder = options.string("notebook") {
            try ControlNotebook(
                folder: URL(fileURLWithPath: folder), problemPath: options.string("problem") ?? "examples/control-gaussian-2d.json",
                isQuick: options.flag("quick")
            ).write()
            return
        }
        guard let problemName = options.string("problem") else {
            throw CommandLineError.missingValue(command: "control", option: "problem")
        }
        if problemName == "ct" {
            try ControlCTCommand.run(options)
            return
        }
        let objective = options.string("objective") ?? "relative-entropy"
        guard ["relative-entropy", "vargrad", "log-variance", "trajectory-balance"].contains(objective) else {
            throw CommandLineError.invalidValue(
                command: "control", option: "objective", value: objective, expected: "relative-entropy, vargrad or trajectory-balance")
        }
        let gradient = options.string("gradient") ?? (objective == "relative-entropy" ? "backprop" : "detached")
        guard ["backprop", "adjoint", "stochastic-adjoint", "detached"].contains(gradient) else {
            throw CommandLineError.invalidValue(
                command: "control", option: "gradient", value: gradient, expected: "backprop, adjoint, stochastic-adjoint or detached")
        }

        let isMixture = problemName == "mixture"
        guard isMixture || FileManager.default.fileExists(atPath: problemName) else {
            throw CommandLineError.invalidValue(
                command: "control", option: "problem", value: problemName,
                expected: "ct, mixture (lower case) or the path of a Gaussian problem file, and no file '\(problemName)' exists")
        }
        let steps = try options.int("steps", default: 100, range: 2...100_000)
        let gridKind = options.string("grid") ?? (isMixture ? "uniform" : "quadratic")
        guard gridKind == "uniform" || gridKind == "quadratic" else {
            throw CommandLineError.invalidValue(command: "control", option: "grid", value: gridKind, expected: "uniform or quadratic")
        }
        let setup = try isMixture
            ? mixtureSetup(options, steps: steps, gridKind: gridKind)
            : gaussianSetup(path: problemName, options, steps: steps, gridKind: gridKind)

        let modelKind = options.string("model") ?? (isMixture ? "features" : "affine")
        guard ["affine", "features", "mlp"].contains(modelKind) else {
            throw CommandLineError.invalidValue(command: "control", option: "model", value: modelKind, expected: "affine, features or mlp")
        }
        // Without --checkpoints the checkpointed adjoint stores its default ⌈log₂ steps⌉ states.
        let checkpoints = options.string("checkpoints") == nil ? nil : try options.int("checkpoints", default: 1, range: 1...1_000_000)
        let settings = ControlSettings(
            objective: objective == "log-variance" ? "vargrad" : objective, gradient: gradient, modelKind: modelKind,
            knotCount: try options.int("knots", default: 16, range: 2...10_000),
            trainingSteps: try options.int("training-steps", default: 300, range: 1...10_000_000),
            batchSize: try options.int("batch-size", default: 256, range: 2...10_000_000),
            learningRate: try options.double("learning-rate", default: 0.1, range: 1e-8...10),
            checkpointInterval: try options.int("checkpoint-interval", default: 8, range: 1...1_000_000),
            checkpoints: checkpoints)

        // The run folder is created before training, so that a bad --output fails at once.
        let folder = try RunFolder.create(in: URL(fileURLWithPath: options.string("output") ?? "runs"), prefix: "control")
        Log.info("deft control: \(problemName), \(settings.objective) with \(gradient) gradients, \(steps) steps, \(settings.trainingSteps) training steps of \(settings.batchSize) paths")
        let run = ControlRun(setup: setup, settings: settings, problemName: problemName) { progress in
            let memory = [progress.peakResidentKilobytes.map { "VmHWM \($0) kB" }, progress.residentKilobytes.map { "VmRSS \($0) kB" }]
                .compactMap { $0 }.joined(separator: ", ")
            Log.info(String(format: "step %d  loss %.6f  %.3f s  ", progress.step, progress.loss, progress.seconds) + memory)
        }
        let (report, samples, _): (ControlReport, Tensor<Double>, [String: Tensor<Double>])
        do {
            (report, samples, _) = try run.run()
        } catch {
            RunFolder.removeIfEmpty(folder)
            throw error
        }

        try writeAtomically(try report.jsonData(), to: folder.appendingPathComponent("summary.json"))
        try NumPyFile.write(samples, to: folder.appendingPathComponent("samples.npy"))
        Log.info("wrote \(folder.path)/summary.json and samples.npy")

        if options.flag("json") {
            print(String(decoding: try report.jsonData(), as: UTF8.self))
        } else {
            print(text(report))
        }
    }

    // MARK: Problems

    static func grid(steps: Int, kind: String, horizon: Double) -> TimeGrid {
        let power = kind == "quadratic" ? 2.0 : 1.0
        return TimeGrid(points: (0...steps).map { n in horizon * Foundation.pow(1 - Double(n) / Double(steps), power) })
    }

    static func gaussianSetup(path: String, _ options: CommandLineOptions, steps: Int, gridKind: String) throws -> ControlSetup {
        let file = try GaussianProblem(contentsOf: URL(fileURLWithPath: path))
        guard case let .vpLinear(betaMin, betaMax, horizon) = file.schedule else {
            throw ControlCommandError("the problem's schedule must be vp-linear: the control objectives solve the continuous VP SDE")
        }
        let sde = VPSDE<Double>(schedule: .linear(betaMin: betaMin, betaMax: betaMax), horizon: horizon)
        let prior = file.prior
        let d = prior.dimension

        let tilt: GaussianTilt
        let terminalCost: TerminalCost<Double>
        var isReward = false
        if let reward = options.string("reward") {
            (tilt, terminalCost) = try parseReward(reward, dimension: d)
            isReward = true
        } else {
            tilt = file.observationModel(Double.self).tilt(observation: file.observation)
            terminalCost = .likelihood(file.observationModel(Double.self), observation: Tensor(file.observation))
        }
        let oracle = GaussianDiffusionOracle(prior: prior, tilt: tilt)
        let scoreMaps = ScoreMapCache(oracle: oracle, sde: sde)
        let problem = ControlProblem(
            forward: sde, priorScore: { t, x in scoreMaps.scoreMap(at: t)(x) }, terminalCost: terminalCost,
            grid: grid(steps: steps, kind: gridKind, horizon: horizon), dimension: d)
        return ControlSetup(
            problem: problem, reference: .gaussian(oracle, isReward: isReward),
            sampleCount: try options.int("samples", default: file.samples, range: 2...100_000_000),
            seed: UInt64(try options.int("seed", default: Int(file.seed), range: 0...Int.max)))
    }

    static func mixtureSetup(_ options: CommandLineOptions, steps: Int, gridKind: String) throws -> ControlSetup {
        if options.string("reward") != nil {
            throw ControlCommandError("--reward applies to Gaussian problem files; the mixture is conditioned on --observation")
        }
        let prior = GaussianMixturePrior.twoModes
        let y = try options.string("observation").map { try numbers($0, option: "observation") } ?? [1, 0]
        guard y.count == 2 else {
            throw CommandLineError.invalidValue(command: "control", option: "observation", value: options.string("observation")!, expected: "two numbers")
        }
        let sigma = try options.double("noise-std", default: 2, range: 1e-6...1e6)
        let observation = LinearGaussianObservation<Double>(operator: Matrix(identity: 2), noiseStandardDeviation: sigma)

        // Posterior weights ∝ wₖ N(y; mₖ, (sₖ + σ²) I).
        let logWeights = (0..<prior.componentCount).map { k in
            let component = try! MultivariateNormal(mean: prior.means[k], covariance: Matrix(identity: 2) * prior.variances[k])
            return Foundation.log(prior.weights[k]) + observation.evidence(prior: component).logDensity(y)
        }
        let largest = logWeights.max()!
        let unnormalised = logWeights.map { Foundation.exp($0 - largest) }
        let weights = unnormalised.map { $0 / unnormalised.reduce(0, +) }

        let sde = VPSDE<Double>()
        let problem = ControlProblem(
            forward: sde, priorScore: prior.scoreFunction(sde: sde), terminalCost: .likelihood(observation, observation: Tensor(y)),
            grid: grid(steps: steps, kind: gridKind, horizon: sde.horizon), dimension: 2)
        return ControlSetup(
            problem: problem, reference: .mixture(prior, weights: weights),
            sampleCount: try options.int("samples", default: 10_000, range: 2...100_000_000),
            seed: UInt64(try options.int("seed", default: 0, range: 0...Int.max)))
    }

    /// Parses `linear:B1,B2,...` or `quadratic:FILE.json` into the reward's tilt and cost.
    static func parseReward(_ text: String, dimension d: Int) throws -> (GaussianTilt, TerminalCost<Double>) {
        if text.hasPrefix("linear:") {
            let b = try numbers(String(text.dropFirst("linear:".count)), option: "reward")
            guard b.count == d else {
                throw CommandLineError.invalidValue(command: "control", option: "reward", value: text, expected: "linear:B1,...,B\(d) with \(d) numbers")
            }
            return (.linearReward(b), .reward(Rewards.linear(b)))
        }
        if text.hasPrefix("quadratic:") {
            let url = URL(fileURLWithPath: String(text.dropFirst("quadratic:".count)))
            guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any],
                let rows = object["precision"] as? [[Double]], let centre = object["centre"] as? [Double],
                rows.count == d, rows.allSatisfy({ $0.count == d }), centre.count == d
            else {
                throw ControlCommandError("\(url.path) must hold \"precision\" (\(d) rows of \(d) numbers) and \"centre\" (\(d) numbers)")
            }
            let q = Matrix(rows)
            return (.quadraticReward(precision: q, centre: centre), .reward(Rewards.quadratic(precision: q.elements, centre: centre)))
        }
        throw CommandLineError.invalidValue(command: "control", option: "reward", value: text, expected: "linear:B1,B2,... or quadratic:FILE.json")
    }

    static func numbers(_ text: String, option: String) throws -> [Double] {
        try text.split(separator: ",").map { part in
            guard let value = Double(part.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw CommandLineError.invalidValue(command: "control", option: option, value: text, expected: "comma-separated numbers")
            }
            return value
        }
    }

    static func text(_ report: ControlReport) -> String {
        var lines = [
            "\(report.problem): \(report.objective) with \(report.gradient) gradients",
            String(format: "final loss %.6f; %.1f s of training, %.3f s per step", report.finalLoss, report.trainingSeconds, report.secondsPerStep),
            "sample mean \(report.sampleMean.map { String(format: "%.4f", $0) }.joined(separator: ", "))",
        ]
        if let w2 = report.w2ToPosterior, let error = report.hRelativeError {
            lines.append(String(format: "W2 to the target %.4f; relative error of h %.4f", w2, error))
        }
        if let cost = report.optimalCost, let floor = report.logVarianceFloor, let expected = report.expectedTerminalLogLikelihood {
            lines.append(String(format: "J* %.4f; log-variance floor %.6f; E[ln p_T(y | X_T)] %.4f", cost, floor, expected))
        }
        if let k = report.logNormalizer {
            lines.append(String(format: "learned log-normaliser k %.4f", k))
        }
        if let estimate = report.logNormalizerEstimate, let exact = report.logNormalizerExact {
            lines.append(String(format: "ln Z estimate %.4f ± %.4f; exact %.4f", estimate, report.logNormalizerStandardError ?? .nan, exact))
        }
        if let masses = report.modeMasses, let weights = report.exactModeWeights {
            lines.append("mode masses \(masses.map { String(format: "%.3f", $0) }.joined(separator: ", ")); exact \(weights.map { String(format: "%.3f", $0) }.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}

/// An invalid `deft control` request, with the reason and what to do instead.
struct ControlCommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The prior's score maps by time, each computed once, because the solver evaluates the
/// score at the same grid times in every training step.
final class ScoreMapCache: @unchecked Sendable {
    private let oracle: GaussianDiffusionOracle
    private let sde: VPSDE<Double>
    private var maps: [Double: AffineMap] = [:]
    private let lock = NSLock()

    init(oracle: GaussianDiffusionOracle, sde: VPSDE<Double>) {
        self.oracle = oracle
        self.sde = sde
    }

    func scoreMap(at t: Double) -> AffineMap {
        lock.withLock {
            if let map = maps[t] { return map }
            let map = oracle.scoreMap(alphaBar: sde.alphaBar(t))
            maps[t] = map
            return map
        }
    }
}
