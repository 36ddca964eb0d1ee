import DEFTScoreMatching
import Foundation
import GaussianOracle
import SDECore
import Tensors

/// Writes the notebook `gaussian-theorem-checks.md` and its SVG figures by running the
/// Gaussian theorem checks (a)–(e) with the library: `deft gaussian --notebook DIR`.
///
/// Every number in the notebook is computed by this run. The seeds are fixed, so a rerun
/// on the same build gives the same numbers, timings aside.
struct GaussianNotebook {
    let folder: URL
    /// Cuts path counts and training steps 20-fold (to at least 200), to check the
    /// generator quickly; the page's prose then overstates the sizes.
    var isQuick = false

    static let fileName = "gaussian-theorem-checks.md"
    /// β(t) linear from 0.1 to 20 on [0, T].
    static func schedule(horizon: Double) -> VPSDE<Double> {
        VPSDE(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: horizon)
    }

    /// The test problems: d = 1, 2, 8 with k = 2, 1, 3 observations and σ_y = 0.5.
    static let problems: [GaussianProblem] = [(1, 2), (2, 1), (8, 3)].map { d, k in
        GaussianProblem.generated(
            dimension: d, observationDimension: k, noiseStd: 0.5,
            schedule: .vpLinear(betaMin: 0.1, betaMax: 20, horizon: 1), seed: 7)
    }

    func write() throws {
        let figures = folder.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        let start = Date()
        var text = header()
        if isQuick {
            text += "**Quick run**: path counts and training steps are cut 20-fold, so the sizes in the text do not apply.\n\n"
        }
        Log.info("notebook: problems")
        text += problemSection()
        Log.info("notebook: (a) posterior sampling")
        text += try posteriorSection(figures: figures)
        Log.info("notebook: (b) score matching")
        text += try scoreMatchingSection(figures: figures)
        Log.info("notebook: (c) path measures")
        text += try pathMeasureSection(figures: figures)
        Log.info("notebook: (d) optimal control cost")
        text += try controlSection(figures: figures)
        Log.info("notebook: (e) conditional Tweedie")
        text += tweedieSection()
        text += String(
            format: "\n---\nGenerated in %.0f s on %d cores. The training times are wall-clock times of this run and "
                + "include whatever else the machine was running.\n", Date().timeIntervalSince(start),
            ProcessInfo.processInfo.activeProcessorCount)
        try writeAtomically(Data(text.utf8), to: folder.appendingPathComponent(Self.fileName))
        Log.info("wrote \(folder.appendingPathComponent(Self.fileName).path)")
    }

    // MARK: - Sections

    private func header() -> String {
        """
        # Gaussian theorem checks

        This notebook checks the conditioning theory of the library on Gaussian data, where
        every quantity has a closed form (`GaussianOracle`), and measures how close the
        simulations and DEFT's score matching come to it. All numbers and figures below
        were produced by running the library; regenerate them from the package root with

            swift run -c release deft gaussian --notebook notebooks-md

        Setting: data X₀ ~ N(m, S) with a dense S, a non-square operator A (k × d), the
        observation y = A x₀ + σ_y ξ with σ_y = 0.5, and the VP SDE with β(t) linear from
        0.1 to 20 on [0, T]. The generalised h-transform is h*_t(x) = ∇ₓ ln p_t(y | x), and
        the conditional reverse SDE dX = [f − σ² (∇ ln p_t + h*)] dt + σ dW̄ run from T to 0
        should end at the posterior p(x₀ | y). Simulations use Euler–Maruyama (SDECore's
        `solve`) on grids of 2^k steps.


        """
    }

    private func problemSection() -> String {
        var text = "## The problems\n\n| d | k | ln p(y) | tr posterior covariance | tr prior covariance |\n|---:|---:|---:|---:|---:|\n"
        for problem in Self.problems {
            let oracle = problem.oracle
            text += "| \(problem.dimension) | \(problem.observationDimension) | \(fixed(oracle.logNormalizer, 4)) | "
                + "\(fixed(oracle.target.covariance.trace, 4)) | \(fixed(problem.covariance.trace, 4)) |\n"
        }
        return text + "\n"
    }

    private func posteriorSection(figures: URL) throws -> String {
        let sde = Self.schedule(horizon: 1)
        var text = """
            ## (a) The conditional reverse SDE samples the posterior

            Started from the diffused posterior at T = 1, 8000 paths of 256 steps. The mean
            and covariance errors are in units of their standard errors (normal theory, at
            the exact posterior covariance); the W2 distances compare Gaussians with the
            posterior: the one fitted to the samples, and the exact laws of the
            Euler–Maruyama chain at 256 and 1024 steps (sampling-free, from
            `eulerMaruyamaLaw`), which show the discretisation error falling about 4× per
            4× steps (weak order 1).

            | d | max \\|mean error\\| / SE | max \\|covariance error\\| / SE | W2 samples | W2 chain, 256 steps | W2 chain, 1024 steps |
            |---:|---:|---:|---:|---:|---:|

            """
        for problem in Self.problems {
            let oracle = problem.oracle
            let target = oracle.target
            let start = oracle.diffusedTarget(alphaBar: sde.alphaBar(1))
            let paths = try ConditionalPaths(oracle: oracle, sde: sde, startLaw: start, count: size(8000), steps: 256, seed: 3)
            let moments = SampleMoments(paths.terminal)
            let meanErrors = moments.meanStandardErrors
            let covarianceErrors = moments.covarianceStandardErrors(reference: target.covariance)
            let d = problem.dimension
            let meanScore = (0..<d).map { Swift.abs(moments.mean[$0] - target.mean[$0]) / meanErrors[$0] }.max()!
            var covarianceScore = 0.0
            for i in 0..<d {
                for j in 0..<d {
                    covarianceScore = Swift.max(covarianceScore, Swift.abs(moments.covariance[i, j] - target.covariance[i, j]) / covarianceErrors[i, j])
                }
            }
            let chainDistances = [256, 1024].map { steps in
                eulerMaruyamaLaw(
                    start: start, grid: TimeGrid(from: 1, to: 0, steps: steps),
                    drift: { oracle.conditionalReverseDrift(sde: sde, at: $0) }, diffusion: { sde.beta($0).squareRoot() }
                ).wassersteinDistance(to: target)
            }
            text += "| \(d) | \(fixed(meanScore, 2)) | \(fixed(covarianceScore, 2)) | \(scientific(try moments.fittedNormal().wassersteinDistance(to: target))) | "
                + "\(scientific(chainDistances[0])) | \(scientific(chainDistances[1])) |\n"
        }

        text += """

            ### Starting from N(0, I) instead

            The controlled SDE is started in practice from N(0, I), not from the diffused
            posterior. With the exact h* its terminal law is then
            N(μ_π + √ᾱ_T K (μ_ν − √ᾱ_T μ_π), P − ᾱ_T K P + ᾱ_T K Σ_ν Kᵀ) with K = P (ᾱ_T P + (1 − ᾱ_T) I)⁻¹
            (`controlledTerminalLaw`), so the mean is off by −ᾱ_T K μ_π and the error decays
            like ᾱ_T = exp(−(β_min + β_max) T / 2) = exp(−10.05 T). Below, the norm of the
            terminal mean error from simulation (256 steps; the sampling term tr Σ / n is
            subtracted from the squared norm) and in closed form, for horizons T = 0.1 … 0.5.


            """
        let horizons = [0.1, 0.2, 0.3, 0.4, 0.5]
        var plot = SVGLinePlot(
            title: "Terminal mean error from N(0, I)", xLabel: "horizon T", yLabel: "‖E[H₀] − posterior mean‖",
            logarithmicY: true)
        text += "| d | n | T | simulated | closed form | standard error of the norm |\n|---:|---:|---:|---:|---:|---:|\n"
        var rates: [String] = []
        for (problem, count) in [(Self.problems[1], size(10_000)), (Self.problems[2], size(4000))] {
            let oracle = problem.oracle
            let standard = MultivariateNormal.standard(dimension: problem.dimension)
            var measured: [(x: Double, y: Double)] = []
            var noiseScales: [Double] = []
            var predicted: [(x: Double, y: Double)] = []
            for horizon in horizons {
                let sde = Self.schedule(horizon: horizon)
                let paths = try ConditionalPaths(oracle: oracle, sde: sde, startLaw: standard, count: count, steps: 256, seed: 11)
                let moments = SampleMoments(paths.terminal)
                let law = oracle.controlledTerminalLaw(start: standard, alphaBarAtHorizon: sde.alphaBar(horizon))
                let difference = zip(moments.mean, oracle.target.mean).map { $0 - $1 }
                let noise = moments.covariance.trace / Double(count)
                let squared = difference.reduce(0) { $0 + $1 * $1 } - noise
                let closedForm = zip(law.mean, oracle.target.mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                measured.append((horizon, squared > 0 ? squared.squareRoot() : .nan))
                noiseScales.append(noise.squareRoot())
                predicted.append((horizon, closedForm))
                text += "| \(problem.dimension) | \(count) | \(horizon) | \(squared > 0 ? scientific(squared.squareRoot()) : "below noise") | "
                    + "\(scientific(closedForm)) | \(scientific(noise.squareRoot())) |\n"
            }
            // Fit on the horizons where the error is above 3 standard errors of the norm.
            let usable = zip(measured, noiseScales).filter { $0.0.y.isFinite && $0.0.y > 3 * $0.1 }.map(\.0)
            let measuredRate = -slope(usable.map { ($0.x, Foundation.log($0.y)) })
            let predictedRate = -slope(predicted.map { ($0.x, Foundation.log($0.y)) })
            rates.append("d = \(problem.dimension): fitted rate \(fixed(measuredRate, 2)) from simulation (on T ≤ \(usable.last!.x)), \(fixed(predictedRate, 2)) in closed form")
            plot.series.append(.init(label: "d = \(problem.dimension), simulated", points: measured, style: .markers))
            plot.series.append(.init(label: "d = \(problem.dimension), closed form", points: predicted, style: .line))
        }
        let reference = plot.series[1].points[0].y
        plot.series.append(.init(
            label: "ᾱ_T, scaled", points: horizons.map { ($0, reference * Foundation.exp(-10.05 * ($0 - horizons[0]))) }, style: .dashed))
        try writeFigure(plot, named: "gaussian-terminal-error.svg", in: figures)
        text += "\nFitted decay rates of ln ‖error‖ in T (the asymptotic rate is (β_min + β_max)/2 = 10.05):\n\n"
        text += rates.map { "- \($0)" }.joined(separator: "\n")
        text += "\n\n![Terminal mean error against the horizon](figures/gaussian-terminal-error.svg)\n\n"
        return text
    }

    private func scoreMatchingSection(figures: URL) throws -> String {
        var text = """
            ## (b) DEFT score matching recovers h*

            The h-transform network (`HTransformNetwork`, NN1 an MLP 128-128-128 on
            [x_t, x̂₀, g, embedding(t)], NN2(t) = exp(MLP(embedding(t)))) is trained by the
            DEFT loss E‖h^φ(H_t, y) + ε_θ(H_t, t) − ε‖² with the oracle's exact ε-model frozen,
            on fresh paired draws (x₀, y) ~ p(x₀, y) (amortised over y), in Float, with Adam
            (peak rate 2e-3, cosine decay), gradients clipped at norm 1 and an EMA of the
            weights (0.999). The error is the relative L2 error of h^φ against −√(1 − ᾱ) h*
            over 50 times and 2000 pairs. Samples: 10000 draws for the problem's own y from
            N(0, I) at T (reverse SDE with 512 steps, or DDPM ancestral sampling with all
            steps), compared with the posterior through the W2 distance of their fitted
            Gaussian.

            | d | schedule | training steps | training time | relative error of h^φ | W2, DEFT samples | W2, exact-h* samples | sampling-noise scale √(tr P / n) |
            |---:|---|---:|---:|---:|---:|---:|---:|

            """
        let cases: [(GaussianProblem, Int)] = [
            (Self.problems[1], size(4000)),
            (Self.problems[2], size(6000)),
            (GaussianProblem.generated(
                dimension: 2, observationDimension: 1, noiseStd: 0.5,
                schedule: .ddpm(steps: 1000, betaStart: 1e-4, betaEnd: 0.02), seed: 7), size(4000)),
        ]
        var lossPlot = SVGLinePlot(
            title: "DEFT training loss (mean over 100 steps)", xLabel: "step", yLabel: "loss", logarithmicY: true)
        for (fullProblem, steps) in cases {
            let problem = sampled(fullProblem)
            let settings = GaussianScoreMatchingRun.Settings(trainingSteps: steps, batchSize: 256, comparesWithExactSampler: true)
            let run = GaussianScoreMatchingRun(problem: problem, settings: settings)
            let result = try run.run(queries: [])
            let moments = SampleMoments(result.samples)
            let distance = try moments.fittedNormal().wassersteinDistance(to: problem.oracle.target)
            let exactDistance = try SampleMoments(result.exactSamples!).fittedNormal().wassersteinDistance(to: problem.oracle.target)
            let scheduleName: String
            switch problem.schedule {
            case .vpLinear: scheduleName = "VP, β 0.1 → 20"
            case .ddpm(let count, _, _): scheduleName = "DDPM, \(count) steps"
            }
            text += "| \(problem.dimension) | \(scheduleName) | \(steps) | \(fixed(result.trainingSeconds, 1)) s | "
                + "\(percent(result.hRelativeError)) | \(scientific(distance)) | \(scientific(exactDistance)) | "
                + "\(scientific((problem.oracle.target.covariance.trace / Double(problem.samples)).squareRoot())) |\n"
            let averaged = stride(from: 0, to: result.losses.count, by: 100).map { start -> (x: Double, y: Double) in
                let window = result.losses[start..<Swift.min(start + 100, result.losses.count)]
                return (Double(start + window.count), window.reduce(0, +) / Double(window.count))
            }
            lossPlot.series.append(.init(label: "d = \(problem.dimension), \(scheduleName)", points: averaged))
        }
        try writeFigure(lossPlot, named: "gaussian-dsm-loss.svg", in: figures)
        text += """

            Both samplers use the same initial points and noise, so the two W2 columns differ
            only through h^φ − h*; the exact column is the sampler's own error (time
            discretisation plus the sampling noise of a 10000-sample fit). The loss
            starts in the thousands because the initial guidance term c_t g with
            c_t = −√(1 − ᾱ)/√ᾱ is far too large at high noise; NN2 learns to switch it off there.

            ![DEFT training loss](figures/gaussian-dsm-loss.svg)

            The error by time, for the two-dimensional VP problem (relative error at each t,
            and the root-mean-square size of the target −√(1 − ᾱ) h* in ε-units):


            """
        let perTime = try perTimeErrors(problem: Self.problems[1], steps: size(4000))
        var errorPlot = SVGLinePlot(
            title: "Learned h^φ by time, d = 2", xLabel: "t", yLabel: "ε-units", logarithmicY: true)
        errorPlot.series.append(.init(label: "RMS of target −√(1 − ᾱ) h*", points: perTime.map { ($0.t, $0.targetSize) }))
        errorPlot.series.append(.init(label: "RMS error of h^φ", points: perTime.map { ($0.t, $0.errorSize) }))
        try writeFigure(errorPlot, named: "gaussian-dsm-error.svg", in: figures)
        text += "| t | relative error | RMS target |\n|---:|---:|---:|\n"
        for entry in perTime where [0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0].contains(where: { Swift.abs($0 - entry.t) < 1e-9 }) {
            text += "| \(entry.t) | \(percent(entry.errorSize / entry.targetSize)) | \(scientific(entry.targetSize)) |\n"
        }
        text += """

            Near t = T the target is tiny (h* ∝ √ᾱ), so the relative error there is large even
            though the absolute error is small (see the figure); the W2 columns above show
            that the samples hardly suffer from it.

            ![Learned h by time](figures/gaussian-dsm-error.svg)


            """
        return text
    }

    /// Trains the d = 2 VP model again and returns the per-time errors over 20 times.
    private func perTimeErrors(problem: GaussianProblem, steps: Int) throws -> [(t: Double, targetSize: Double, errorSize: Double)] {
        let sde = VPSDE<Float>(schedule: .linear(betaMin: 0.1, betaMax: 20), horizon: 1)
        let predictor = GaussianNoisePredictor<Float>(prior: problem.prior, sde: sde)
        let observationModel: LinearGaussianObservation<Float> = problem.observationModel()
        var generator = PhiloxRandom(seed: problem.seed)
        let network = HTransformNetwork<Float>(dimension: 2, timeScale: 1000, using: &generator)
        let model = DEFTModel(prior: predictor, schedule: sde, network: network)
        let trainer = DEFTTrainer(model: model, configuration: DEFTTrainingConfiguration(steps: steps, batchSize: 256, reportInterval: 0))
        let prior = problem.prior
        func pairedBatch(_ generator: inout PhiloxRandom, _ count: Int) -> DEFTTrainingBatch<Float> {
            let x0 = prior.sample(count: count, using: &generator, as: Float.self)
            let y = observationModel.sample(given: x0, using: &generator)
            return DEFTTrainingBatch(x0: x0, conditioning: ObservationBatch(observation: y, likelihood: observationModel))
        }
        trainer.train(sampleBatch: pairedBatch, using: &generator)
        trainer.useAveragedWeights()

        var evaluation = PhiloxRandom(seed: 99)
        let batch = pairedBatch(&evaluation, 2000)
        let times = [0.02] + (1...20).map { Double($0) / 20 }
        return times.map { t in
            let alphaBar = sde.alphaBar(t)
            let noise = Tensor<Float>.normal(shape: batch.x0.shape, using: &evaluation)
            let state = batch.x0 * Float(alphaBar.squareRoot()) + noise * Float((1 - alphaBar).squareRoot())
            let learned = model.correction(state: state, time: Tensor(shape: [2000], repeating: Float(t)), conditioning: batch.conditioning)
            let exact = observationModel.amortizedHTransform(alphaBar: alphaBar, oracle: problem.oracle)(state, batch.conditioning.observation)
                * Float(-(1 - alphaBar).squareRoot())
            let difference = learned - exact
            return (
                t, (Double((exact * exact).sum()) / 2000).squareRoot(),
                (Double((difference * difference).sum()) / 2000).squareRoot()
            )
        }
    }

    private func pathMeasureSection(figures: URL) throws -> String {
        let sde = Self.schedule(horizon: 1)
        var text = """
            ## (c) Path measures: dQ*/dP = p(y | X₀) / p(y)

            Along each path of the conditional reverse SDE, SDECore's Girsanov sum (for equal
            start laws) plus the start term ln p_T(X_T | y) − ln p_T(X_T) is log dQ*/dP for Q*
            started from the diffused posterior and P from p_T, and should equal
            ln p(y | X₀) − ln p(y). Below, the root-mean-square of the difference over 2000
            paths from N(0, I) at T = 1, against the number of steps: the Itô sum converges with
            strong order ½, so the residual halves per 4× steps. For scale, the standard
            deviation of ln p(y | X₀) over the paths is given too.

            | d | spread of ln p(y \\| X₀) | \((Self.pathStepCounts.map { "\($0) steps" }).joined(separator: " | ")) | fitted order |
            |---:|---:|\(String(repeating: "---:|", count: Self.pathStepCounts.count))---:|

            """
        var plot = SVGLinePlot(
            title: "Residual of log dQ*/dP − ln p(y | X₀)/p(y)", xLabel: "step size Δt", yLabel: "RMS over paths",
            logarithmicX: true, logarithmicY: true)
        for problem in Self.problems {
            let oracle = problem.oracle
            let alphaBar = sde.alphaBar(1)
            let diffused = oracle.diffusedTarget(alphaBar: alphaBar)
            let marginal = oracle.marginal(alphaBar: alphaBar)
            var points: [(x: Double, y: Double)] = []
            var spread = 0.0
            for steps in Self.pathStepCounts {
                let paths = try ConditionalPaths(
                    oracle: oracle, sde: sde, startLaw: .standard(dimension: problem.dimension), count: size(2000), steps: steps, seed: 5)
                let logLikelihood = rows(paths.terminal).map { oracle.tilt.logWeight($0) }
                let starts = rows(paths.start)
                var total = 0.0
                for index in starts.indices {
                    let startTerm = diffused.logDensity(starts[index]) - marginal.logDensity(starts[index])
                    let residual = paths.logRatio[index, 0] + startTerm - (logLikelihood[index] - oracle.logNormalizer)
                    total += residual * residual
                }
                points.append((1 / Double(steps), (total / Double(starts.count)).squareRoot()))
                let mean = logLikelihood.reduce(0, +) / Double(logLikelihood.count)
                spread = (logLikelihood.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(logLikelihood.count - 1)).squareRoot()
            }
            let order = slope(points.map { (Foundation.log($0.x), Foundation.log($0.y)) })
            text += "| \(problem.dimension) | \(fixed(spread, 3)) | " + points.map { scientific($0.y) }.joined(separator: " | ") + " | \(fixed(order, 2)) |\n"
            plot.series.append(.init(label: "d = \(problem.dimension)", points: points, style: .line))
        }
        let first = plot.series[0].points[0]
        plot.series.append(.init(label: "∝ √Δt", points: plot.series[0].points.map { ($0.x, first.y * ($0.x / first.x).squareRoot()) }, style: .dashed))
        try writeFigure(plot, named: "gaussian-girsanov-residual.svg", in: figures)
        text += "\n![Girsanov residual against the step size](figures/gaussian-girsanov-residual.svg)\n\n"
        return text
    }

    static let pathStepCounts = [64, 128, 256, 512, 1024]

    private func controlSection(figures: URL) throws -> String {
        let horizon = 0.15
        let sde = Self.schedule(horizon: horizon)
        let alphaBar = sde.alphaBar(horizon)
        var text = """
            ## (d) h* attains the optimal control cost J*

            Started from a fixed law ν = N(0, I) at T, the control problem
            J(h) = E[½ ∫ σ² ‖h‖² dt − ln p(y | X₀)] has its minimum at h* with
            J* = −E_ν[ln p_T(y | X_T)], by the chain rule of relative entropy over the start
            (`OptimalControlOracle.swift` has the derivation). The expectation is over the
            start law ν, not over the marginal p_T, and the log-variance loss at h* has the
            floor Var_ν[ln p_T(y | X_T)]. To make the start law matter, T = \(horizon) here
            (ᾱ_T = \(fixed(alphaBar, 3))). Monte Carlo: 4000 paths at 128 and 512 steps,
            each path's cost with the Itô sum Σ σ h* · ΔW added as a control variate (mean
            zero), and Richardson extrapolation (4 J₅₁₂ − J₁₂₈)/3 with the standard error bound
            (4 s₅₁₂ + s₁₂₈)/3.

            | d | J(h*), simulated | J* = −E_ν[ln p_T(y \\| X_T)] | −E_{p_T}[ln p_T(y \\| X_T)] | −ln p(y) | floor, simulated | floor, closed form |
            |---:|---:|---:|---:|---:|---:|---:|

            """
        for problem in Self.problems {
            let oracle = problem.oracle
            let standard = MultivariateNormal.standard(dimension: problem.dimension)
            var costs: [(Double, Double)] = []
            var floors: [Double] = []
            for steps in [128, 512] {
                let paths = try ConditionalPaths(oracle: oracle, sde: sde, startLaw: standard, count: size(4000), steps: steps, seed: 5)
                let logLikelihood = rows(paths.terminal).map { oracle.tilt.logWeight($0) }
                let count = logLikelihood.count
                let cost = (0..<count).map { paths.controlEnergy[$0, 0] - logLikelihood[$0] + paths.martingale[$0, 0] }
                let mean = cost.reduce(0, +) / Double(count)
                let variance = cost.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count - 1)
                costs.append((mean, (variance / Double(count)).squareRoot()))
                let ratio = (0..<count).map { paths.logRatio[$0, 0] - logLikelihood[$0] }
                let ratioMean = ratio.reduce(0, +) / Double(count)
                floors.append(ratio.reduce(0) { $0 + ($1 - ratioMean) * ($1 - ratioMean) } / Double(count - 1))
            }
            let cost = (4 * costs[1].0 - costs[0].0) / 3
            let costError = (4 * costs[1].1 + costs[0].1) / 3
            let floor = (4 * floors[1] - floors[0]) / 3
            text += "| \(problem.dimension) | \(fixed(cost, 4)) ± \(fixed(costError, 4)) | "
                + "\(fixed(oracle.optimalControlCost(start: standard, alphaBarAtHorizon: alphaBar), 4)) | "
                + "\(fixed(oracle.optimalControlCost(start: oracle.marginal(alphaBar: alphaBar), alphaBarAtHorizon: alphaBar), 4)) | "
                + "\(fixed(-oracle.logNormalizer, 4)) | \(fixed(floor, 4)) | "
                + "\(fixed(oracle.terminalLogWeightVariance(start: standard, alphaBarAtHorizon: alphaBar), 4)) |\n"
        }

        let problem = Self.problems[2]
        let oracle = problem.oracle
        let horizons = (1...40).map { Double($0) * 0.025 }
        var plot = SVGLinePlot(title: "Optimal cost against the horizon, d = 8, ν = N(0, I)", xLabel: "horizon T", yLabel: "cost")
        plot.series.append(.init(label: "J* = −E_ν[ln p_T(y | X_T)]", points: horizons.map { horizon in
            (horizon, oracle.optimalControlCost(start: .standard(dimension: 8), alphaBarAtHorizon: Self.schedule(horizon: horizon).alphaBar(horizon)))
        }))
        plot.series.append(.init(label: "−E_{p_T}[ln p_T(y | X_T)]", points: horizons.map { horizon in
            let alphaBar = Self.schedule(horizon: horizon).alphaBar(horizon)
            return (horizon, oracle.optimalControlCost(start: oracle.marginal(alphaBar: alphaBar), alphaBarAtHorizon: alphaBar))
        }))
        plot.series.append(.init(label: "−ln p(y)", points: horizons.map { ($0, -oracle.logNormalizer) }, style: .dashed))
        try writeFigure(plot, named: "gaussian-optimal-cost.svg", in: figures)
        text += """

            The simulated cost agrees with J* and not with the value under p_T; as T grows both
            tend to −ln p(y), because E_{p_T}[ln p_T(y | X_T)] = ln p(y) − KL(p_T ‖ p_T(· | y)) and
            ν approaches p_T:

            ![Optimal cost against the horizon](figures/gaussian-optimal-cost.svg)


            """
        return text
    }

    private func tweedieSection() -> String {
        var text = """
            ## (e) The conditional Tweedie estimate

            With the exact ε-units correction h^φ = −√(1 − ᾱ) h*, the estimate
            x̂₀(x_t) − (√(1 − ᾱ)/√ᾱ) h^φ should equal E[X₀ | x_t, y]. The reference here is
            computed independently of h*, from the diffused posterior:
            E[X₀ | x_t, y] = μ_π + √ᾱ P (ᾱ P + (1 − ᾱ) I)⁻¹ (x_t − √ᾱ μ_π). Largest absolute
            difference over 100 states x_t ~ p_t(· | y):

            | d | ᾱ = 0.9 | ᾱ = 0.5 | ᾱ = 0.1 | ᾱ = 0.01 |
            |---:|---:|---:|---:|---:|

            """
        for problem in Self.problems {
            let oracle = problem.oracle
            let target = oracle.target
            var differences: [String] = []
            for alphaBar in [0.9, 0.5, 0.1, 0.01] {
                var generator = PhiloxRandom(seed: 13)
                let states = rows(oracle.diffusedTarget(alphaBar: alphaBar).sample(count: 100, using: &generator, as: Double.self))
                let diffusedCovariance = target.covariance * alphaBar + Matrix(identity: problem.dimension) * (1 - alphaBar)
                let gain = (try! diffusedCovariance.solvePositiveDefinite(target.covariance)).transposed * alphaBar.squareRoot()
                var largest = 0.0
                for x in states {
                    let reference = zip(target.mean, gain * zip(x, target.mean).map { $0 - alphaBar.squareRoot() * $1 }).map { $0 + $1 }
                    let correction = oracle.noiseCorrectionMap(alphaBar: alphaBar)(x)
                    let estimate = zip(oracle.tweedieMean(x, alphaBar: alphaBar), correction).map {
                        $0 - (1 - alphaBar).squareRoot() / alphaBar.squareRoot() * $1
                    }
                    largest = Swift.max(largest, zip(estimate, reference).map { Swift.abs($0 - $1) }.max()!)
                }
                differences.append(scientific(largest))
            }
            text += "| \(problem.dimension) | " + differences.joined(separator: " | ") + " |\n"
        }
        return text + "\nThe differences are at the level of rounding in Double.\n"
    }

    // MARK: - Helpers

    private func writeFigure(_ plot: SVGLinePlot, named name: String, in folder: URL) throws {
        try writeAtomically(Data(plot.render().utf8), to: folder.appendingPathComponent(name))
    }

    private func rows(_ tensor: Tensor<Double>) -> [[Double]] {
        (0..<tensor.shape[0]).map { tensor.slice(alongAxis: 0, $0..<($0 + 1)).scalars }
    }

    private func slope(_ points: [(Double, Double)]) -> Double {
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + $1.0 } / n
        let meanY = points.reduce(0) { $0 + $1.1 } / n
        let covariance = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        let variance = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        return covariance / variance
    }

    private func size(_ full: Int) -> Int {
        isQuick ? Swift.max(full / 20, 200) : full
    }

    /// Returns `problem` with its posterior sample count cut by `size`.
    private func sampled(_ problem: GaussianProblem) -> GaussianProblem {
        GaussianProblem(
            mean: problem.mean, covariance: problem.covariance, operatorMatrix: problem.operatorMatrix,
            noiseStd: problem.noiseStd, observation: problem.observation, schedule: problem.schedule, seed: problem.seed,
            samples: size(problem.samples))
    }

    private func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    private func scientific(_ value: Double) -> String {
        String(format: "%.2e", value)
    }

    private func percent(_ value: Double) -> String {
        String(format: "%.1f %%", 100 * value)
    }
}
