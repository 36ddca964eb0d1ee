import ControlObjectives
import Foundation
import GaussianOracle
import SDECore
import Tensors

/// `deft control --notebook DIR`: runs the four objective and gradient pairings on one
/// Gaussian problem and writes DIR/control-objectives.md with its figures. The page shows
/// loss curves, the spread of each gradient estimator, time and memory per gradient as
/// the number of solver steps grows, and a sample plot. Every number in it comes from this run.
struct ControlNotebook {
    let folder: URL
    let problemPath: String
    /// Trains 30 steps instead of 300, draws 1000 samples, measures costs at 64 steps only
    /// and spreads over 4 batches, to check the generator quickly; the prose then overstates
    /// the sizes.
    var isQuick = false

    static let pairings = [
        ("relative-entropy", "backprop"), ("relative-entropy", "adjoint"), ("relative-entropy", "stochastic-adjoint"),
        ("vargrad", "detached"), ("trajectory-balance", "detached"),
    ]

    func write() throws {
        let figures = folder.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)
        let options = try CommandLineOptions(
            command: "control", arguments: isQuick ? ["--samples", "1000"] : [], valued: ["reward", "samples", "seed"], boolean: [])
        let steps = 64
        let setup = try ControlCommand.gaussianSetup(path: problemPath, options, steps: steps, gridKind: "quadratic")
        guard case let .gaussian(oracle, _) = setup.reference else { return }

        // 1. Time and memory of one gradient as the number of solver steps grows, measured
        // first, before the allocator keeps freed memory from earlier runs.
        let costs = try (isQuick ? [64] : [64, 256, 1024]).flatMap { n in try gradientCosts(setup, steps: n, model: makeModel(setup.problem)) }

        // 2. Train every pairing with the same settings, keeping the loss of every step.
        var rows: [(settings: ControlSettings, report: ControlReport, losses: [Double], parameters: [String: Tensor<Double>])] = []
        var samplesOfFirst: Tensor<Double>?
        for (objective, gradient) in Self.pairings {
            let settings = ControlSettings(
                objective: objective, gradient: gradient, modelKind: "affine", knotCount: 16, trainingSteps: isQuick ? 30 : 300,
                batchSize: 256, learningRate: 0.2, checkpointInterval: 8)
            var losses: [Double] = []
            Log.info("notebook: training \(objective) with \(gradient) gradients")
            let run = ControlRun(setup: setup, settings: settings, problemName: problemPath) { losses.append($0.loss) }
            let (report, samples, parameters) = try run.run()
            if samplesOfFirst == nil { samplesOfFirst = samples }
            rows.append((settings, report, losses, parameters))
        }

        // 3. The spread of each estimator at h = 0 and at half the trained relative-entropy control.
        let trained = makeModel(setup.problem)
        trained.loadParameterValues(rows[0].parameters)
        let half = makeModel(setup.problem)
        half.loadParameterValues(rows[0].parameters.mapValues { $0 * 0.5 })
        let spreads = try [("h = 0", makeModel(setup.problem)), ("h = ½ h_trained", half)].map { label, model in
            (label, try gradientSpread(setup.problem, model))
        }

        // 4. Figures and the page.
        let start = MultivariateNormal.standard(dimension: setup.problem.dimension)
        let alphaBarAtHorizon = setup.problem.forward.alphaBar(setup.problem.horizon)
        let optimalCost = oracle.optimalControlCost(start: start, alphaBarAtHorizon: alphaBarAtHorizon)
        try writeFigures(rows: rows.map { ($0.settings, $0.losses) }, optimalCost: optimalCost, samples: samplesOfFirst!, oracle: oracle, figures: figures, seed: setup.seed)
        let page = markdown(rows: rows.map { ($0.settings, $0.report) }, spreads: spreads, costs: costs, oracle: oracle, setup: setup, steps: steps)
            + (try ctSection(figures: figures))
        try writeAtomically(Data(page.utf8), to: folder.appendingPathComponent("control-objectives.md"))
        Log.info("wrote \(folder.path)/control-objectives.md")
    }

    private func makeModel(_ problem: ControlProblem<VPSDE<Double>>) -> AffineHTransform<Double> {
        let knots = (0..<16).map { Foundation.pow(Double($0) / 15, 2) * problem.horizon }
        return AffineHTransform(dimension: problem.dimension, timeBasis: .piecewiseLinear(knots: knots))
    }

    // MARK: Measurements

    struct Spread {
        var name: String
        var meanNorm: Double
        var standardDeviation: Double
    }

    /// Returns, per estimator, ‖mean gradient‖ and √(tr Cov) of one batch's gradient over
    /// 16 independent batches of 256 paths (4 with `isQuick`).
    private func gradientSpread(_ problem: ControlProblem<VPSDE<Double>>, _ model: AffineHTransform<Double>) throws -> [Spread] {
        let reference = try problem.relativeEntropy(model, randomness: problem.randomness(batch: 8192, seed: 900), gradient: .detached).loss
        let normalizer = ScalarLogNormalizer<Double>(initialValue: -reference)
        let estimators: [(String, (PathRandomness<Double>) throws -> [Tensor<Double>])] = [
            ("relative entropy, backpropagation", { try problem.relativeEntropy(model, randomness: $0).gradients }),
            ("relative entropy, checkpointed adjoint", { try problem.relativeEntropy(model, randomness: $0, gradient: .checkpointed()).gradients }),
            ("relative entropy, stochastic adjoint", { try problem.relativeEntropy(model, randomness: $0, gradient: .adjoint(), checkpointInterval: 8).gradients }),
            ("log-variance (VarGrad), detached", { try problem.logVariance(model, randomness: $0).gradients }),
            ("trajectory balance (k = −J), detached", { Array(try problem.trajectoryBalance(model, logNormalizer: normalizer, randomness: $0).gradients.dropLast()) }),
        ]
        return try estimators.map { name, estimate in
            let batchCount = isQuick ? 4 : 16
            let draws = try (0..<batchCount).map { seed in
                Tensor.concatenate(try estimate(problem.randomness(batch: 256, seed: 1000 + UInt64(seed))).map { $0.reshaped(to: [-1]) }, alongAxis: 0)
            }
            let mean = draws.dropFirst().reduce(draws[0], +) * (1.0 / Double(batchCount))
            let variance = draws.reduce(0.0) { $0 + (($1 - mean) * ($1 - mean)).sum() } / Double(batchCount - 1)
            return Spread(name: name, meanNorm: (mean * mean).sum().squareRoot(), standardDeviation: variance.squareRoot())
        }
    }

    struct Cost {
        var name: String
        var steps: Int
        var seconds: Double
        var peakIncreaseKilobytes: Int?
    }

    /// Returns the time and the rise of the peak resident memory of one gradient of each
    /// method at h = 0, with 1024 paths on `steps` solver steps.
    private func gradientCosts(_ setup: ControlSetup, steps: Int, model: AffineHTransform<Double>) throws -> [Cost] {
        let base = setup.problem
        let problem = ControlProblem(
            forward: base.forward, priorScore: base.priorScore, terminalCost: base.terminalCost,
            grid: ControlCommand.grid(steps: steps, kind: "quadratic", horizon: base.horizon), dimension: base.dimension)
        let randomness = problem.randomness(batch: 1024, seed: 77)
        let methods: [(String, () throws -> Void)] = [
            ("relative entropy, backpropagation", { _ = try problem.relativeEntropy(model, randomness: randomness) }),
            ("relative entropy, checkpointed adjoint (⌈log₂ N⌉ states)", { _ = try problem.relativeEntropy(model, randomness: randomness, gradient: .checkpointed()) }),
            ("relative entropy, stochastic adjoint (state every 8 steps)", { _ = try problem.relativeEntropy(model, randomness: randomness, gradient: .adjoint(), checkpointInterval: 8) }),
            ("log-variance, stored path", { _ = try problem.logVariance(model, randomness: randomness) }),
            ("log-variance, recomputed path", { _ = try problem.logVariance(model, randomness: randomness, memory: .recomputedPath) }),
        ]
        return try methods.map { name, method in
            let before = ProcessMemory.resetPeak()
            let started = Date()
            try method()
            let seconds = Date().timeIntervalSince(started)
            let peak = ProcessMemory.current().peak
            let increase = before.flatMap { residentBefore in peak.map { $0 - residentBefore } }
            return Cost(name: name, steps: steps, seconds: seconds, peakIncreaseKilobytes: increase)
        }
    }

    // MARK: Output

    private func writeFigures(
        rows: [(ControlSettings, [Double])], optimalCost: Double, samples: Tensor<Double>, oracle: GaussianDiffusionOracle,
        figures: URL, seed: UInt64
    ) throws {
        var entropy = SVGLinePlot(title: "Relative entropy per training step", xLabel: "step", yLabel: "batch loss")
        var detached = SVGLinePlot(title: "Detached objectives per training step", xLabel: "step", yLabel: "batch loss", logarithmicY: true)
        for (settings, losses) in rows {
            let series = SVGLinePlot.Series(label: "\(settings.objective), \(settings.gradient)", points: losses.enumerated().map { (Double($0.offset), $0.element) })
            if settings.objective == "relative-entropy" { entropy.series.append(series) } else { detached.series.append(series) }
        }
        let steps = Double(rows[0].1.count - 1)
        entropy.series.append(.init(label: "continuous-time J*", points: [(0, optimalCost), (steps, optimalCost)], style: .dashed))
        try writeAtomically(Data(entropy.render().utf8), to: figures.appendingPathComponent("control-relative-entropy-loss.svg"))
        try writeAtomically(Data(detached.render().utf8), to: figures.appendingPathComponent("control-detached-loss.svg"))

        var generator = PhiloxRandom(seed: seed, stream: 11)
        let exact: Tensor<Double> = oracle.target.sample(count: 1000, using: &generator)
        let learned = samples.slice(alongAxis: 0, 0..<1000)
        var scatter = SVGLinePlot(title: "1000 samples of the learned control and of the exact posterior", xLabel: "x₁", yLabel: "x₂")
        for (label, points) in [("relative entropy, backpropagation", learned), ("exact posterior", exact)] {
            let values = points.scalars
            scatter.series.append(.init(label: label, points: (0..<points.shape[0]).map { (values[2 * $0], values[2 * $0 + 1]) }, style: .markers))
        }
        try writeAtomically(Data(scatter.render().utf8), to: figures.appendingPathComponent("control-samples.svg"))
    }

    private func markdown(
        rows: [(ControlSettings, ControlReport)], spreads: [(String, [Spread])], costs: [Cost], oracle: GaussianDiffusionOracle,
        setup: ControlSetup, steps: Int
    ) -> String {
        let first = rows[0].1
        var page = """
            # Stochastic control objectives on a Gaussian problem

            This page compares the objectives of `ControlObjectives` that learn the generalised
            h-transform of a frozen prior from one observation: the relative entropy
            E[½ ∫ ‖u‖² dt − ln p(y | X₀)] with gradients by backpropagation through the solver,
            by the checkpointed (discrete) adjoint or by the stochastic adjoint, and the
            log-variance (VarGrad) and trajectory-balance losses on detached paths. The prior
            N(m, S) has an exact score, so every number can be set against the closed forms.
            The checkpointed adjoint (`--gradient adjoint`) gives backpropagation's gradient to
            rounding with ⌈log₂ N⌉ stored states, so its training run repeats backpropagation's.
            The stochastic adjoint (`--gradient stochastic-adjoint`) solves the adjoint SDE
            backwards, and on this contracting SDE its reconstruction of the state drifts, so
            its gradient differs from backpropagation's by percents even with a stored state
            every 8 steps.

            Regenerate it from the package root (about a minute on two cores):

                swift run -c release deft control --notebook notebooks-md --problem \(problemPath)

            ## Problem and settings

            `\(problemPath)`: prior, observation operator, noise and observation as in the file; VP
            SDE with β from 0.1 to 20 on [0, 1]. Paths start from N(0, I) at T = 1 and take \(steps)
            Euler–Maruyama steps on the grid tₙ = (1 − n/\(steps))². The h-transform is affine in x with
            16 hat functions in t (knots (k/15)²), trained for 300 steps of 256 paths with Adam
            (β₂ = 0.9, learning rate 0.2 decayed to 0.002) and a moving average of the parameters.
            The posterior mean is \(format(oracle.target.mean)); continuous-time J* = \(String(format: "%.4f", first.optimalCost ?? .nan)),
            the log-variance floor Var[ln p_T(y | X_T)] = \(String(format: "%.2e", first.logVarianceFloor ?? .nan)) and
            E[ln p_T(y | X_T)] = \(String(format: "%.4f", first.expectedTerminalLogLikelihood ?? .nan)), all over X_T ~ N(0, I).
            On a finite grid the objectives optimise the Euler–Maruyama chain instead: its J* lies
            above the continuous one by O(step), and its log-variance floor contains an O(step) term
            from the covariance that a mean shift cannot change (the tests compute both exactly).

            ## Results

            | objective | gradient | final loss | W2 to posterior | relative error of h | time per step | peak RSS |
            | --- | --- | ---: | ---: | ---: | ---: | ---: |

            """
        for (settings, report) in rows {
            let peak = report.peakResidentKilobytes.map { String(format: "%.0f MB", Double($0) / 1024) } ?? "n/a"
            page += "| \(settings.objective) | \(settings.gradient) | \(String(format: "%.4f", report.finalLoss)) | \(String(format: "%.4f", report.w2ToPosterior ?? .nan)) | \(String(format: "%.4f", report.hRelativeError ?? .nan)) | \(String(format: "%.4f s", report.secondsPerStep)) | \(peak) |\n"
        }
        if let k = rows.last?.1.logNormalizer {
            page += "\nThe learned trajectory-balance constant is k = \(String(format: "%.4f", k)), against E[ln p_T(y | X_T)] = \(String(format: "%.4f", first.expectedTerminalLogLikelihood ?? .nan)) in continuous time.\n"
        }
        page += """

            The final loss is evaluated on 4096 fresh paths with the averaged parameters. The
            relative error of h is √(Σₙ δₙ E‖σ (h_θ − h*)‖² / Σₙ δₙ E‖σ h*‖²) over 2048 paths of the
            learned control. Peak RSS is the process's VmHWM after each run, so it only grows.

            ![Relative-entropy loss per step](figures/control-relative-entropy-loss.svg)

            ![Detached losses per step](figures/control-detached-loss.svg)

            ![Samples](figures/control-samples.svg)

            ## Spread of the gradient estimators

            Each estimator is evaluated on 16 independent batches of 256 paths at two controls.
            In expectation the log-variance and trajectory-balance gradients (the latter with k
            at −J) are twice the relative-entropy gradient, so compare their spread with
            twice the pathwise one.

            | control | estimator | ‖mean gradient‖ | √(tr Cov) of one batch | ratio |
            | --- | --- | ---: | ---: | ---: |

            """
        for (label, list) in spreads {
            for spread in list {
                page += "| \(label) | \(spread.name) | \(String(format: "%.4f", spread.meanNorm)) | \(String(format: "%.4f", spread.standardDeviation)) | \(String(format: "%.2f", spread.standardDeviation / spread.meanNorm)) |\n"
            }
        }
        page += """

            ## Time and memory of one gradient

            One gradient with 1024 paths at h = 0 as the number of solver steps grows, measured
            before any training. The memory column is the rise of the peak resident set size
            (VmHWM, reset through /proc/self/clear_refs) over the resident size before the call:
            backpropagation keeps the solver's graph, the checkpointed adjoint ⌈log₂ N⌉ states
            and one step's graph, the stochastic adjoint every eighth state, the stored-path
            log-variance loss the path's values, and the recomputed one nothing beyond one step.
            Memory that the allocator freed in an earlier call is reused without a rise, so the
            rows of one size are an upper bound for those measured after them.

            | method | steps | time | peak rise |
            | --- | ---: | ---: | ---: |

            """
        for cost in costs {
            let rise = cost.peakIncreaseKilobytes.map { String(format: "%.1f MB", Double($0) / 1024) } ?? "n/a"
            page += "| \(cost.name) | \(cost.steps) | \(String(format: "%.3f s", cost.seconds)) | \(rise) |\n"
        }
        page += "\nMeasured on \(ProcessInfo.processInfo.activeProcessorCount) cores; times include whatever else the machine was running.\n"
        return page
    }

    private func format(_ values: [Double]) -> String {
        "(" + values.map { String(format: "%.4f", $0) }.joined(separator: ", ") + ")"
    }
}

extension ProcessMemory {
    /// Resets the peak resident set size (VmHWM) to the current one by writing 5 to
    /// /proc/self/clear_refs, and returns the current resident size in kB, or nil when the
    /// kernel does not allow it.
    static func resetPeak() -> Int? {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return nil }
        handle.write(Data("5".utf8))
        try? handle.close()
        return current().resident
    }
}
