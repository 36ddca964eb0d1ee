import Foundation
import SDECore
import Tensors

/// The sample sizes of the SDE notebook: the full page, or a quick run that checks the
/// generator end to end in a few seconds.
struct SDENotebookSizes {
    var convergencePaths: Int
    var treePaths: Int
    var gradientPaths: Int
    var gradientSteps: Int
    var costStepCounts: [Int]
    var costPaths: Int

    static let full = SDENotebookSizes(
        convergencePaths: 4000, treePaths: 20_000, gradientPaths: 4096, gradientSteps: 256,
        costStepCounts: [64, 256, 1024], costPaths: 4096)
    static let quick = SDENotebookSizes(
        convergencePaths: 400, treePaths: 2000, gradientPaths: 256, gradientSteps: 32, costStepCounts: [16, 64],
        costPaths: 256)
}

struct SDENotebookError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// `deft sde-notebook`: runs SDECore's solvers and gradient methods on problems with
/// exact answers and writes DIR/sde-solvers-and-gradients.md with its SVG figures.
enum SDENotebookCommand {
    static let fileName = "sde-solvers-and-gradients.md"

    static let help = """
        usage: deft sde-notebook [--output DIR] [--quick]

        Measures the strong and weak convergence slopes of Euler–Maruyama, Milstein, Heun,
        SRA1 and reversible Heun on geometric Brownian motion and Ornstein–Uhlenbeck, checks
        the virtual Brownian tree's consistency, and compares the gradient of one SDE loss by
        backpropagation, the stochastic adjoint, reversible Heun and a detached path, with
        the time and peak memory of each as the number of steps grows. Writes
        DIR/\(fileName) and its figures in DIR/figures. Takes about two minutes on two cores.

        options:
          --output DIR   folder of the page (default notebooks-md)
          --quick        small sample sizes, to check the generator in seconds; the page
                         then states those sizes and its numbers are noisier
          --quiet        no progress on standard error
          --help         show this text
        """

    static func run(_ arguments: [String]) throws {
        if arguments.contains("--help") {
            print(help)
            return
        }
        // The parent of the cost measurements starts this executable once per configuration.
        if arguments.first == "--gradient-cost" {
            guard arguments.count == 4, let steps = Int(arguments[2]), let paths = Int(arguments[3]) else {
                throw SDENotebookError("usage: deft sde-notebook --gradient-cost METHOD STEPS PATHS")
            }
            try SDEGradientMeasurements.runCostChild(method: arguments[1], steps: steps, paths: paths)
            return
        }
        let options = try CommandLineOptions(command: "sde-notebook", arguments: arguments, valued: ["output"], boolean: ["quick", "quiet"])
        Log.isQuiet = options.flag("quiet")
        let folder = URL(fileURLWithPath: options.string("output") ?? "notebooks-md")
        try SDENotebook(folder: folder, sizes: options.flag("quick") ? .quick : .full, isQuick: options.flag("quick")).write()
    }
}

/// Writes the page and its figures. Every number on it comes from this run; the seeds are
/// fixed, so a rerun on the same build repeats them, timings aside.
struct SDENotebook {
    let folder: URL
    let sizes: SDENotebookSizes
    let isQuick: Bool

    func write() throws {
        let started = Date()
        let figures = folder.appendingPathComponent("figures")
        try FileManager.default.createDirectory(at: figures, withIntermediateDirectories: true)

        // Costs first, in child processes, then everything else in this process.
        Log.info("notebook: time and memory of the gradient methods")
        let costs = try SDEGradientMeasurements.costs(stepCounts: sizes.costStepCounts, paths: sizes.costPaths)

        Log.info("notebook: strong and weak convergence")
        let measurements = SDEConvergenceMeasurements(sizes: sizes)
        let strongOU = try measurements.strongOnOrnsteinUhlenbeck()
        let strongGBM = try measurements.strongOnGeometricBrownianMotion()
        let weakOU = try measurements.weakOnOrnsteinUhlenbeck()
        let weakGBM = try measurements.weakOnGeometricBrownianMotion()

        Log.info("notebook: Brownian tree checks")
        let treeChecks = measurements.brownianTreeChecks()

        Log.info("notebook: gradients on one problem")
        var gradients: [(String, SDEGradientMeasurements.PerPathGradient)] = []
        for method in SDEGradientMeasurements.methods {
            gradients.append((method, try SDEGradientMeasurements.gradient(
                method: method, paths: sizes.gradientPaths, steps: sizes.gradientSteps)))
        }

        try writeConvergenceFigure(strongOU, title: "Strong error on Ornstein–Uhlenbeck", references: [1, 2], file: "sde-strong-ou.svg", into: figures)
        try writeConvergenceFigure(strongGBM, title: "Strong error on geometric Brownian motion", references: [0.5, 1], file: "sde-strong-gbm.svg", into: figures)
        try writeConvergenceFigure(weakOU, title: "Weak error of E X_T² on Ornstein–Uhlenbeck", references: [1, 2], file: "sde-weak-ou.svg", into: figures)
        try writeCostFigure(costs, into: figures)

        var page = header()
        page += convergenceSection(strongOU: strongOU, strongGBM: strongGBM, weakOU: weakOU, weakGBM: weakGBM)
        page += treeSection(treeChecks)
        page += gradientSection(gradients)
        page += costSection(costs)
        page += String(
            format: "\n---\nGenerated in %.0f s on %d cores. The times are wall-clock times of this run and include "
                + "whatever else the machine was running.\n", Date().timeIntervalSince(started),
            ProcessInfo.processInfo.activeProcessorCount)
        try writeAtomically(Data(page.utf8), to: folder.appendingPathComponent(SDENotebookCommand.fileName))
        Log.info("wrote \(folder.appendingPathComponent(SDENotebookCommand.fileName).path)")
    }

    // MARK: Page

    private func header() -> String {
        var text = """
            # SDE solvers and their gradients

            This page measures what `SDECore` promises about its solvers and gradient methods,
            on problems whose answers are known in closed form: the convergence orders of
            Euler–Maruyama, Milstein, Heun, SRA1 and reversible Heun, the consistency of the
            virtual Brownian tree, and the agreement, time and memory of the four ways to
            differentiate an SDE loss. Every number and figure below comes from one run;
            regenerate them from the package root (about two minutes on two cores) with

                swift run -c release deft sde-notebook --output notebooks-md

            Slopes are least-squares fits of log error against log h over the step counts
            shown. Their noise is estimated by fitting each of \(SDEConvergenceMeasurements.groupCount) disjoint groups of paths
            separately: the ± is the standard deviation of the group slopes over √\(SDEConvergenceMeasurements.groupCount).
            Errors are given with their standard errors over the paths.

            """
        if isQuick {
            text += "\n**Quick run**: the sample sizes are reduced (\(sizes.convergencePaths) paths per convergence problem), so the numbers are noisier than on the committed page.\n"
        }
        return text
    }

    private func convergenceSection(
        strongOU: [SDEConvergenceMeasurements.Series], strongGBM: [SDEConvergenceMeasurements.Series],
        weakOU: [SDEConvergenceMeasurements.Series], weakGBM: [SDEConvergenceMeasurements.Series]
    ) -> String {
        var text = """

            ## Strong convergence

            E|X_N − X(T)| over \(sizes.convergencePaths) paths, each solver and its reference driven by the same
            virtual Brownian tree. Ornstein–Uhlenbeck dX = −X dt + dW, X₀ = 1, on [0, 1], against
            2¹¹ steps of its exact transition (the tree supplies the space-time Lévy area H that
            the transition's stochastic integral needs, and that SRA1 uses). Additive noise gives
            every method order 1, and SRA1 order 2 on this linear problem (its order-1.5 error
            terms contain f″ or time derivatives of g, which vanish here). Geometric Brownian motion
            dX = 0.5 X dt + X dW, X₀ = 1, against its exact solution x₀ exp((μ − σ²/2) t + σ W)
            (Itô) or x₀ exp(μ t + σ W) (Stratonovich), each solver run in its own interpretation.


            """
        text += seriesTable(strongOU + strongGBM)
        text += """

            ![Strong error on Ornstein–Uhlenbeck](figures/sde-strong-ou.svg)

            ![Strong error on geometric Brownian motion](figures/sde-strong-gbm.svg)

            ## Weak convergence

            On Ornstein–Uhlenbeck the weak error |E X_N² − E X(T)²| is computed without sampling,
            so it has no noise: every solver's map is affine in the noise there, so E X_N is a
            noise-free solve and Var X_N is the sum of the squared responses to one unit impulse
            per step. On GBM dX = X dt + 0.5 X dW the error |E[X_N − X(T)]| is the mean of the
            paired differences over \(sizes.convergencePaths) paths sharing the Brownian path, given with its
            standard error.


            """
        text += seriesTable(weakOU + weakGBM)
        text += "\n![Weak error on Ornstein–Uhlenbeck](figures/sde-weak-ou.svg)\n"
        return text
    }

    private func seriesTable(_ series: [SDEConvergenceMeasurements.Series]) -> String {
        let steps = series[0].stepCounts
        var text = "| problem | solver | " + steps.map { "N = \($0)" }.joined(separator: " | ") + " | fitted slope | theory |\n"
        text += "| --- | --- | " + steps.map { _ in "---:" }.joined(separator: " | ") + " | ---: | ---: |\n"
        for entry in series {
            let errors = zip(entry.errors, entry.standardErrors).map { error, standardError in
                standardError > 0 ? "\(NotebookStatistics.scientific(error)) ± \(String(format: "%.1e", standardError))" : NotebookStatistics.scientific(error)
            }
            let slope = entry.slopeStandardError.map { String(format: "%.2f ± %.3f", entry.slope, $0) } ?? String(format: "%.2f", entry.slope)
            text += "| \(entry.problem) | \(entry.solver) | " + errors.joined(separator: " | ") + " | \(slope) | \(formatOrder(entry.theory)) |\n"
        }
        return text
    }

    private func treeSection(_ checks: [SDEConvergenceMeasurements.TreeCheck]) -> String {
        var text = """

            ## Brownian tree consistency

            `VirtualBrownianTree` (seed 9, space-time Lévy area, leaves 2⁻²⁰ wide) rebuilds any
            increment from its Philox seed by bisection, so queries must agree with each other
            whatever their order. The expected column gives the rounding level or the
            standard error of each sample statistic over the batch.

            | check | measured | expected |
            | --- | --- | --- |

            """
        for check in checks {
            text += "| \(check.check) | \(check.measured) | \(check.expected) |\n"
        }
        return text
    }

    private func gradientSection(_ gradients: [(String, SDEGradientMeasurements.PerPathGradient)]) -> String {
        let exact = SDEGradientMeasurements.exactGradient
        let chain = SDEGradientMeasurements.eulerChainGradient(steps: sizes.gradientSteps)
        let reference = gradients.first { $0.0 == "backprop-heun" }!.1
        var text = """

            ## One loss, four gradient paths

            Ornstein–Uhlenbeck dX = θ (μ − X) dt + σ dW with θ = 0.7, μ = 0, σ = 0.5, X₀ = 1 on
            [0, 1], \(sizes.gradientSteps) steps, \(sizes.gradientPaths) paths on one `GridBrownianPath` (seed 5), loss E[X_T²].
            θ and μ are per-path parameters, so each method yields every path's own derivative
            and the table gives their mean ± standard error. Exact continuous-time values:
            dE/dθ = \(String(format: "%.5f", exact.theta)), dE/dμ = \(String(format: "%.5f", exact.mu)); for the Euler–Maruyama chain at this step
            \(String(format: "%.5f", chain.theta)) and \(String(format: "%.5f", chain.mu)).
            The detached method differentiates no state: on the recorded Euler–Maruyama path it
            forms the score-function estimate (F − b) ∇ ln p(path), with ln p the sum of the
            Gaussian transition log-densities, differentiated step by step by
            `SDEPath.gradientOfSumOverSteps`, and the baseline b for path i the mean of F over
            the others. It agrees with the others in expectation only, so its per-path values
            are compared through the means. The last column compares the per-path values with
            backpropagation through reversible Heun on the same path.

            | method | dE/dθ | dE/dμ | max per-path \\|difference\\| from backpropagation through reversible Heun |
            | --- | ---: | ---: | ---: |

            """
        for (method, gradient) in gradients {
            let theta = NotebookStatistics.meanAndStandardError(gradient.theta)
            let mu = NotebookStatistics.meanAndStandardError(gradient.mu)
            let difference = Swift.max(
                zip(gradient.theta, reference.theta).map { Swift.abs($0 - $1) }.max()!,
                zip(gradient.mu, reference.mu).map { Swift.abs($0 - $1) }.max()!)
            let differenceText = method == "detached" ? "not pathwise" : NotebookStatistics.scientific(difference)
            text += String(
                format: "| %@ | %.5f ± %.5f | %.5f ± %.5f | %@ |\n", SDEGradientMeasurements.label(method), theta.mean,
                theta.standardError, mu.mean, mu.standardError, differenceText)
        }
        text += """

            Backpropagation and the exact reversal differentiate the same discrete solution,
            so they agree to rounding. The adjoint integrates the adjoint SDE backwards with the
            same solver, reconstructing the states on the way, so it matches the discrete
            gradient only up to discretisation error; the last column shows how closely here.
            Euler–Maruyama is a different discrete solution, O(h) away from reversible Heun's.

            """
        return text
    }

    private func costSection(_ costs: [SDEGradientMeasurements.Cost]) -> String {
        var text = """

            ## Time and memory per step count

            The same gradient with \(sizes.costPaths) paths as the number of steps grows. Each row runs in a
            fresh child process of `deft` (`deft sde-notebook --gradient-cost METHOD STEPS PATHS`),
            and the memory column is the rise of the peak resident set size (VmHWM) during the
            gradient over the peak before it. Backpropagation keeps the solver's graph, so its
            memory grows with the steps; the adjoint and the reversible method keep one state;
            the detached method keeps the recorded path, one state and increment per step.

            | method | steps | time | peak rise |
            | --- | ---: | ---: | ---: |

            """
        for cost in costs {
            text += String(
                format: "| %@ | %d | %.3f s | %.1f MB |\n", SDEGradientMeasurements.label(cost.method), cost.steps, cost.seconds,
                Double(cost.peakRiseKilobytes) / 1024)
        }
        text += "\n![Peak memory rise per gradient](figures/sde-gradient-memory.svg)\n"
        return text
    }

    private func formatOrder(_ order: Double) -> String {
        if order == 0.5 { return "½" }
        if order == 1.5 { return "1.5" }
        return String(format: "%.0f", order)
    }

    // MARK: Figures

    private func writeConvergenceFigure(
        _ series: [SDEConvergenceMeasurements.Series], title: String, references: [Double], file: String, into figures: URL
    ) throws {
        var plot = SVGLinePlot(title: title, xLabel: "step size h", yLabel: "error", logarithmicX: true, logarithmicY: true)
        for entry in series {
            plot.series.append(.init(
                label: entry.solver, points: zip(entry.stepCounts, entry.errors).map { (1 / Double($0), $1) }, style: .line))
        }
        // Reference slopes through the first solver's error at the coarsest step.
        let anchor = (h: 1 / Double(series[0].stepCounts[0]), error: series[0].errors[0])
        for slope in references {
            let points = series[0].stepCounts.map { steps -> (x: Double, y: Double) in
                let h = 1 / Double(steps)
                return (h, anchor.error * Foundation.pow(h / anchor.h, slope))
            }
            plot.series.append(.init(label: "slope \(formatOrder(slope))", points: points, style: .dashed))
        }
        try writeAtomically(Data(plot.render().utf8), to: figures.appendingPathComponent(file))
    }

    private func writeCostFigure(_ costs: [SDEGradientMeasurements.Cost], into figures: URL) throws {
        var plot = SVGLinePlot(
            title: "Peak memory rise of one gradient", xLabel: "steps", yLabel: "MB", logarithmicX: true, logarithmicY: true)
        for method in SDEGradientMeasurements.methods {
            let points = costs.filter { $0.method == method }.map { (Double($0.steps), Swift.max(Double($0.peakRiseKilobytes), 1) / 1024) }
            plot.series.append(.init(label: method, points: points, style: .line))
        }
        try writeAtomically(Data(plot.render().utf8), to: figures.appendingPathComponent("sde-gradient-memory.svg"))
    }
}
