import ControlObjectives
import Foundation
import GaussianOracle
import NeuralNetworks
import SDECore
import Tensors

/// `deft reward-notebook`: samples π ∝ exp(r) p for Gaussian and mixture priors with a
/// control fitted by the relative-entropy objective, estimates ln Z by importance sampling,
/// and writes DIR/reward-tilting.md with its SVG figures.
enum RewardNotebookCommand {
    static let fileName = "reward-tilting.md"

    static let help = """
        usage: deft reward-notebook [--output DIR] [--quick]

        Tilts a 2-D Gaussian prior by a linear and a quadratic reward, and the two-mode
        mixture ½ N((-4, 0), I) + ½ N((4, 0), I) by a linear and a quadratic reward. For each,
        fits an h-transform by the relative-entropy objective, samples the tilted law, and
        estimates ln Z = ln E_p[exp r(X₀)] by importance sampling with the learned control
        and with no control, against the closed forms. Writes DIR/\(fileName) and its
        figures in DIR/figures. Takes three to eight minutes on two cores, depending on load.

        options:
          --output DIR   folder of the page (default notebooks-md)
          --quick        few training steps and samples, to check the generator in seconds;
                         the page then states those sizes
          --quiet        no progress on standard error
          --help         show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        let options = try CommandLineOptions(command: "reward-notebook", arguments: arguments, valued: ["output"], boolean: ["quick", "quiet"])
        Log.isQuiet = options.flag("quiet")
        let folder = URL(fileURLWithPath: options.string("output") ?? "notebooks-md")
        let sizes = options.flag("quick")
            ? RewardNotebook.Sizes(steps: 32, trainingSteps: 30, batchSize: 64, samples: 1000, isQuick: true)
            : RewardNotebook.Sizes(steps: 100, trainingSteps: 300, batchSize: 256, samples: 20_000, isQuick: false)
        try RewardNotebook(folder: folder, sizes: sizes).write()
    }
}

struct RewardNotebook {
    struct Sizes {
        /// Euler–Maruyama steps from T to 0.
        var steps: Int
        var trainingSteps: Int
        var batchSize: Int
        /// Paths for the samples and for each ln Z estimate.
        var samples: Int
        var isQuick: Bool
    }

    /// One prior and reward with the closed forms of its tilted law.
    struct Case {
        var name: String
        var reward: String
        var problem: ControlProblem<VPSDE<Double>>
        var exactLogNormalizer: Double
        var exactMean: [Double]
        /// The tilted law, for a Gaussian prior.
        var exactTarget: MultivariateNormal?
        /// The prior and the tilted component weights, for a mixture.
        var mixture: (prior: GaussianMixturePrior, weights: [Double], components: [MultivariateNormal])?
        var usesFeatures: Bool
    }

    /// The measurements of one case.
    struct Result {
        var losses: [Double]
        var trainingSeconds: Double
        var learned: LogNormalizerEstimate
        var uncontrolled: LogNormalizerEstimate
        var samples: Tensor<Double>
    }

    let folder: URL
    let sizes: Sizes
    let seed: UInt64 = 3
    let sde = VPSDE<Double>()

    /// N((0.5, −0.5), [[1, 0.4], [0.4, 0.8]]), the prior of examples/control-gaussian-2d.json.
    static let gaussianPrior = try! MultivariateNormal(mean: [0.5, -0.5], covariance: Matrix([[1, 0.4], [0.4, 0.8]]))

    func write() throws {
        let started = Date()
        let figures = folder.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)

        let quadraticPrecision = Matrix([[4, 0], [0, 1]])
        let cases = [
            gaussianCase(name: "Gaussian", reward: "r(x) = x₁ − 0.5 x₂", tilt: .linearReward([1, -0.5])),
            gaussianCase(
                name: "Gaussian", reward: "r(x) = −½ (x − c)ᵀ Q (x − c), Q = diag(4, 1), c = (1, 1)",
                tilt: .quadraticReward(precision: quadraticPrecision, centre: [1, 1])),
            mixtureCase(reward: "r(x) = 0.5 x₁", tilt: .linearReward([0.5, 0])),
            mixtureCase(
                reward: "r(x) = −½ ‖x − c‖² / 4, c = (2, 2)",
                tilt: .quadraticReward(precision: Matrix(identity: 2) * 0.25, centre: [2, 2])),
        ]
        var results: [Result] = []
        for (index, entry) in cases.enumerated() {
            Log.info("notebook: \(entry.name), \(entry.reward)")
            results.append(try run(entry, index: index))
        }

        try writeFigures(cases: cases, results: results, into: figures)
        var page = header()
        page += resultTables(cases: cases, results: results)
        page += String(
            format: "\n---\nGenerated in %.0f s on %d cores. The training times are wall-clock times of this run and "
                + "include whatever else the machine was running.\n", Date().timeIntervalSince(started),
            ProcessInfo.processInfo.activeProcessorCount)
        try writeAtomically(Data(page.utf8), to: folder.appendingPathComponent(RewardNotebookCommand.fileName))
        Log.info("wrote \(folder.appendingPathComponent(RewardNotebookCommand.fileName).path)")
    }

    // MARK: Cases

    private func grid() -> TimeGrid {
        ControlCommand.grid(steps: sizes.steps, kind: "quadratic", horizon: sde.horizon)
    }

    private func gaussianCase(name: String, reward: String, tilt: GaussianTilt) -> Case {
        let oracle = GaussianDiffusionOracle(prior: Self.gaussianPrior, tilt: tilt)
        let scoreMaps = ScoreMapCache(oracle: oracle, sde: sde)
        let problem = ControlProblem(
            forward: sde, priorScore: { t, x in scoreMaps.scoreMap(at: t)(x) }, terminalCost: terminalCost(tilt),
            grid: grid(), dimension: 2)
        return Case(
            name: name, reward: reward, problem: problem, exactLogNormalizer: oracle.logNormalizer,
            exactMean: oracle.target.mean, exactTarget: oracle.target, mixture: nil, usesFeatures: false)
    }

    /// The tilt of a mixture Σₖ wₖ N(mₖ, sₖ I) by exp(q) is Σₖ wₖ Zₖ πₖ / Z, with Zₖ and πₖ
    /// the normaliser and the tilted law of component k, and Z = Σₖ wₖ Zₖ.
    private func mixtureCase(reward: String, tilt: GaussianTilt) -> Case {
        let prior = GaussianMixturePrior.twoModes
        let components = (0..<prior.componentCount).map { k in
            try! MultivariateNormal(mean: prior.means[k], covariance: Matrix(identity: 2) * prior.variances[k])
        }
        let logWeights = (0..<prior.componentCount).map { k in Foundation.log(prior.weights[k]) + tilt.logNormalizer(under: components[k]) }
        let largest = logWeights.max()!
        let logNormalizer = largest + Foundation.log(logWeights.map { Foundation.exp($0 - largest) }.reduce(0, +))
        let weights = logWeights.map { Foundation.exp($0 - logNormalizer) }
        let tilted = components.map { tilt.tilted($0) }
        let mean = (0..<2).map { i in zip(weights, tilted).reduce(0) { $0 + $1.0 * $1.1.mean[i] } }
        let problem = ControlProblem(
            forward: sde, priorScore: prior.scoreFunction(sde: sde), terminalCost: terminalCost(tilt), grid: grid(),
            dimension: 2)
        return Case(
            name: "two-mode mixture", reward: reward, problem: problem, exactLogNormalizer: logNormalizer, exactMean: mean,
            exactTarget: nil, mixture: (prior, weights, tilted), usesFeatures: true)
    }

    /// The terminal cost whose log-weight is the tilt's q(x) = −½ xᵀ Λ x + ηᵀ x + κ, the
    /// reward itself, so the tilt's closed-form ln Z is the one being estimated.
    private func terminalCost(_ tilt: GaussianTilt) -> TerminalCost<Double> {
        let q = tilt.logWeight
        let precision = q.curvature.elements
        return .reward { x in
            let quadratic = matmul(x, Variable(Tensor(shape: [2, 2], scalars: precision))) * x
            let linear = matmul(x, Variable(Tensor(shape: [2, 1], scalars: q.linear)))
            return (quadratic.sum(alongAxes: [1]) * -0.5 + linear).reshaped(to: [x.shape[0]]) + q.constant
        }
    }

    // MARK: Training and estimates

    private func run(_ entry: Case, index: Int) throws -> Result {
        let problem = entry.problem
        let knots = (0..<16).map { Foundation.pow(Double($0) / 15, 2) * problem.horizon }
        var generator = PhiloxRandom(seed: seed, stream: 7)
        let features = entry.usesFeatures
            ? AffineHTransform<Double>.randomFeatures(dimension: 2, count: 16, scale: 0.5, using: &generator) : nil
        let model = AffineHTransform<Double>(dimension: 2, timeBasis: .piecewiseLinear(knots: knots), stateFeatures: features)
        let uncontrolled = AffineHTransform<Double>(dimension: 2, timeBasis: .piecewiseLinear(knots: knots))

        // Adam with a cosine decay to 1 % and a moving average over the last two thirds.
        let schedule = CosineDecay(initialRate: 0.1, finalRate: 0.001, decaySteps: sizes.trainingSteps)
            .withLinearWarmup(steps: Swift.min(10, sizes.trainingSteps / 10))
        let trainer = ControlTrainer(
            problem: problem, model: model, objective: .relativeEntropy(gradient: .backpropagation),
            configuration: .init(batchSize: sizes.batchSize, learningRate: schedule, adamBetas: (0.9, 0.9), seed: seed))
        let average = ExponentialMovingAverage(parameters: model.parameters, decay: 0.97)
        var losses: [Double] = []
        let started = Date()
        try trainer.train(steps: sizes.trainingSteps) { step in
            if step.index >= sizes.trainingSteps / 3 { average.update() }
            losses.append(step.loss)
        }
        let trainingSeconds = Date().timeIntervalSince(started)
        average.copyAveragesIntoParameters()

        let base = seed &+ UInt64(1000 * (index + 1))
        return Result(
            losses: losses, trainingSeconds: trainingSeconds,
            learned: try problem.estimateLogNormalizer(model, randomness: problem.randomness(batch: sizes.samples, seed: base + 1)),
            uncontrolled: try problem.estimateLogNormalizer(uncontrolled, randomness: problem.randomness(batch: sizes.samples, seed: base + 2)),
            samples: try problem.sample(model, randomness: problem.randomness(batch: sizes.samples, seed: base + 3)))
    }

    // MARK: Page

    private func header() -> String {
        var text = """
            # Reward tilting: sampling π ∝ exp(r) p and estimating ln Z

            A reward r tilts a frozen diffusion prior p into π(x₀) ∝ exp(r(x₀)) p(x₀), with
            normaliser Z = E_p[exp r(X₀)]. `ControlObjectives` learns the h-transform that
            steers the prior's reverse SDE to π by minimising the relative entropy
            E[½ ∫ ‖u‖² dt − r(X₀)], and `ControlProblem.estimateLogNormalizer` estimates ln Z by
            importance sampling with the controlled paths as proposal. For a Gaussian prior and
            a linear or quadratic reward π is Gaussian and ln Z closed-form (`GaussianTilt`);
            for a mixture of Gaussians π is the mixture of the tilted components, reweighted by
            their normalisers. Every number and figure below comes from one run; regenerate
            them from the package root (three to eight minutes on two cores) with

                swift run -c release deft reward-notebook --output notebooks-md

            The same fits can be run one at a time with `deft control --problem FILE.json
            --reward linear:B1,B2` or `--reward quadratic:FILE.json` (Gaussian problem files).

            ## Settings

            Priors: the Gaussian N((0.5, −0.5), [[1, 0.4], [0.4, 0.8]]) with its exact score, and
            ½ N((−4, 0), I) + ½ N((4, 0), I) with its exact score, both on the VP SDE with β
            from 0.1 to 20 on [0, 1]. Paths start from N(0, I) at T = 1 and take \(sizes.steps)
            Euler–Maruyama steps on the grid tₙ = (1 − n/\(sizes.steps))². The h-transform is affine
            in x with 16 hat functions in t (knots (k/15)²), plus 16 random tanh features of x for
            the mixture, trained for \(sizes.trainingSteps) steps of \(sizes.batchSize) paths by the relative entropy with
            backpropagation through the solver (Adam, β₂ = 0.9, learning rate 0.1 decayed to
            0.001, moving average of the parameters over the last two thirds). Each ln Z estimate
            and the samples use \(sizes.samples) fresh paths.

            """
        if sizes.isQuick {
            text += "\n**Quick run**: the sizes are reduced, so the fits are rough and the numbers noisy.\n"
        }
        return text
    }

    private func resultTables(cases: [Case], results: [Result]) -> String {
        var text = """

            ## ln Z

            ln Ẑ = logsumexp(ln wᵢ) − ln N with the discrete Girsanov weights of the paths; ± is
            its delta-method standard error sd(w) / (√N mean(w)), and ESS = (Σ w)² / Σ w². Both
            estimates are consistent for the normaliser of the prior's discrete reverse chain
            started from N(0, I), which differs from the exact ln Z of p by the start-law and
            discretisation errors of that chain. "No control" is plain Monte Carlo of exp r over
            the prior chain's samples.

            | prior | reward | exact ln Z | learned control: ln Ẑ | ESS | no control: ln Ẑ | ESS |
            | --- | --- | ---: | ---: | ---: | ---: | ---: |

            """
        for (entry, result) in zip(cases, results) {
            text += String(
                format: "| %@ | %@ | %.4f | %.4f ± %.1e | %.0f | %.4f ± %.1e | %.0f |\n", entry.name, entry.reward,
                entry.exactLogNormalizer, result.learned.logNormalizer, result.learned.standardError,
                result.learned.effectiveSampleSize, result.uncontrolled.logNormalizer, result.uncontrolled.standardError,
                result.uncontrolled.effectiveSampleSize)
        }
        text += """

            ## Samples of the learned control

            The sample mean has standard error √(diag Cov / N). For the Gaussian cases W2 is the
            Wasserstein distance between the Gaussian fitted to the samples and the exact π; for
            the mixture, the mode masses assign each sample to the nearest prior mean, against the
            exact tilted weights (standard error √(p (1 − p) / N)).

            | prior | reward | sample mean | exact mean | W2 or mode masses (exact) | training time |
            | --- | --- | --- | --- | --- | ---: |

            """
        for (entry, result) in zip(cases, results) {
            let moments = SampleMoments(result.samples)
            let count = Double(moments.count)
            let meanText = (0..<2).map { i in
                String(format: "%.3f ± %.3f", moments.mean[i], (moments.covariance[i, i] / count).squareRoot())
            }.joined(separator: ", ")
            let exactMean = entry.exactMean.map { String(format: "%.3f", $0) }.joined(separator: ", ")
            var fit = ""
            if let target = entry.exactTarget, let fitted = try? moments.fittedNormal() {
                fit = String(format: "W2 %.4f", fitted.wassersteinDistance(to: target))
            } else if let mixture = entry.mixture {
                let masses = modeMasses(result.samples, prior: mixture.prior)
                fit = zip(masses, mixture.weights).map { String(format: "%.3f ± %.3f (%.3f)", $0, ($0 * (1 - $0) / count).squareRoot(), $1) }
                    .joined(separator: ", ")
            }
            text += String(format: "| %@ | %@ | (%@) | (%@) | %@ | %.1f s |\n", entry.name, entry.reward, meanText, exactMean, fit, result.trainingSeconds)
        }
        text += """

            ![Training loss per step](figures/reward-loss.svg)

            ![Samples of the tilted Gaussian](figures/reward-gaussian-samples.svg)

            ![Samples of the tilted mixture](figures/reward-mixture-samples.svg)

            """
        return text
    }

    /// Returns the fraction of samples nearest to each component mean.
    private func modeMasses(_ samples: Tensor<Double>, prior: GaussianMixturePrior) -> [Double] {
        var counts = [Int](repeating: 0, count: prior.componentCount)
        let values = samples.scalars
        let (n, d) = (samples.shape[0], samples.shape[1])
        for i in 0..<n {
            let row = values[(i * d)..<((i + 1) * d)]
            let distances = prior.means.map { mean in zip(row, mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
            counts[distances.indices.min { distances[$0] < distances[$1] }!] += 1
        }
        return counts.map { Double($0) / Double(n) }
    }

    // MARK: Figures

    private func writeFigures(cases: [Case], results: [Result], into figures: URL) throws {
        var loss = SVGLinePlot(title: "Relative entropy per training step", xLabel: "step", yLabel: "batch loss")
        for (index, (entry, result)) in zip(cases, results).enumerated() {
            loss.series.append(.init(
                label: "\(index + 1). \(entry.name), \(index % 2 == 0 ? "linear" : "quadratic")",
                points: result.losses.enumerated().map { (Double($0.offset), $0.element) }))
        }
        try writeAtomically(Data(loss.render().utf8), to: figures.appendingPathComponent("reward-loss.svg"))

        // 1000 samples of the learned control against 1000 exact draws of π.
        var generator = PhiloxRandom(seed: seed, stream: 11)
        let gaussianExact: Tensor<Double> = cases[1].exactTarget!.sample(count: 1000, using: &generator)
        try writeScatter(
            title: "Quadratic reward on the Gaussian: 1000 samples", learned: results[1].samples, exact: gaussianExact,
            file: "reward-gaussian-samples.svg", into: figures)
        let mixture = cases[2].mixture!
        let mixtureExact = Tensor.concatenate(
            (0..<1000).map { _ -> Tensor<Double> in
                let component = generator.nextUniform() < mixture.weights[0] ? 0 : 1
                return mixture.components[component].sample(count: 1, using: &generator)
            }, alongAxis: 0)
        try writeScatter(
            title: "Linear reward on the mixture: 1000 samples", learned: results[2].samples, exact: mixtureExact,
            file: "reward-mixture-samples.svg", into: figures)
    }

    private func writeScatter(title: String, learned: Tensor<Double>, exact: Tensor<Double>, file: String, into figures: URL) throws {
        var scatter = SVGLinePlot(title: title, xLabel: "x₁", yLabel: "x₂")
        for (label, points) in [("learned control", learned.slice(alongAxis: 0, 0..<Swift.min(1000, learned.shape[0]))), ("exact π", exact)] {
            let values = points.scalars
            scatter.series.append(.init(label: label, points: (0..<points.shape[0]).map { (values[2 * $0], values[2 * $0 + 1]) }, style: .markers))
        }
        try writeAtomically(Data(scatter.render().utf8), to: figures.appendingPathComponent(file))
    }
}
