import Foundation
import SDECore
import Tensors

/// The convergence measurements of `deft sde-notebook`: strong and weak errors of every
/// SDECore solver against exact solutions, and the consistency checks of the virtual
/// Brownian tree.
struct SDEConvergenceMeasurements {
    let sizes: SDENotebookSizes

    /// The errors of one solver on one problem, against the step count.
    struct Series {
        var problem: String
        var solver: String
        var kind: String
        var theory: Double
        var stepCounts: [Int]
        var errors: [Double]
        /// The standard error of each error; zero where the error is computed without sampling.
        var standardErrors: [Double]
        /// The least-squares slope of log error against log h.
        var slope: Double
        /// The standard deviation of the slopes fitted to disjoint groups of paths, over
        /// √groups; nil where the errors are computed without sampling.
        var slopeStandardError: Double?
    }

    static let strongStepCounts = [8, 16, 32, 64, 128]
    static let weakStepCounts = [4, 8, 16, 32, 64]
    /// The paths are split into this many disjoint groups to estimate the spread of a slope.
    static let groupCount = 4

    // MARK: Strong errors

    /// Returns E|X_N − X(T)| on geometric Brownian motion dX = 0.5 X dt + X dW, X₀ = 1,
    /// against its exact solution on the same Brownian path, for the solvers that handle
    /// diagonal noise. σ² is large against μ, so Euler–Maruyama's order-½ term dominates.
    func strongOnGeometricBrownianMotion() throws -> [Series] {
        let paths = sizes.convergencePaths
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 2024)
        let wT = tree.increment(from: 0, to: 1).dW
        let solvers: [any SDESolver] = [EulerMaruyama(), Milstein(), Heun(), ReversibleHeun()]
        return try solvers.map { solver in
            let gbm = GeometricBrownianMotion<Double>(mu: 0.5, sigma: 1.0, interpretation: solver.interpretation)
            let exact = gbm.exactSolution(from: x0, at: 1, brownian: wT)
            let differences = try Self.strongStepCounts.map { steps in
                (try terminal(gbm, solver, tree, x0: x0, steps: steps) - exact).applying(.abs).scalars
            }
            return strongSeries(
                problem: "GBM", solver: solver.name, theory: solver.order(for: gbm.noiseType).strong, differences: differences)
        }
    }

    /// Returns E|X_N − X(T)| on Ornstein–Uhlenbeck dX = −X dt + dW, X₀ = 1, for every
    /// solver. Additive noise gives every method strong order 1, and SRA1 order 2 because
    /// its h² error terms contain f″ or t-derivatives of g, which vanish here.
    func strongOnOrnsteinUhlenbeck() throws -> [Series] {
        let paths = sizes.convergencePaths
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 77, levyArea: .spaceTime)
        let ou = OrnsteinUhlenbeck<Double>(theta: 1, sigma: 1)
        let reference = Self.ornsteinUhlenbeckReference(theta: 1, sigma: 1, x0: x0, tree: tree)
        let solvers: [any SDESolver] = [EulerMaruyama(), Milstein(), Heun(), ReversibleHeun(), SRA1()]
        return try solvers.map { solver in
            let differences = try Self.strongStepCounts.map { steps in
                (try terminal(ou, solver, tree, x0: x0, steps: steps) - reference).applying(.abs).scalars
            }
            let theory = solver is SRA1 ? 2.0 : solver.order(for: ou.noiseType).strong
            return strongSeries(problem: "OU", solver: solver.name, theory: theory, differences: differences)
        }
    }

    /// X_T of dX = −θX dt + σ dW on 2¹¹ steps of the exact transition
    /// X(t+h) = e^{−θh} X(t) + σ ∫ e^{−θ(t+h−s)} dW(s), the integral expanded to first
    /// order in θh as ΔW − θh (½ ΔW + H). The neglected part has a standard deviation of
    /// about θ² h^{5/2} / √20 per step, about 1e-7 summed over the grid.
    static func ornsteinUhlenbeckReference(
        theta: Double, sigma: Double, x0: Tensor<Double>, tree: VirtualBrownianTree<Double>
    ) -> Tensor<Double> {
        let steps = 2048
        let h = 1.0 / Double(steps)
        var x = x0
        for k in 0..<steps {
            let increment = tree.increment(from: Double(k) * h, to: Double(k + 1) * h)
            let dW = increment.dW
            let integral = dW - (dW * 0.5 + increment.spaceTimeLevyArea!) * (theta * h)
            x = x * Foundation.exp(-theta * h) + integral * sigma
        }
        return x
    }

    /// Builds a series from per-path absolute errors, one array per step count.
    private func strongSeries(problem: String, solver: String, theory: Double, differences: [[Double]]) -> Series {
        let summaries = differences.map(NotebookStatistics.meanAndStandardError)
        let groupSlopes = groups(of: differences[0].count).map { range in
            NotebookStatistics.logLogSlope(steps: Self.strongStepCounts, errors: differences.map { NotebookStatistics.mean($0[range]) })
        }
        return Series(
            problem: problem, solver: solver, kind: "strong", theory: theory, stepCounts: Self.strongStepCounts,
            errors: summaries.map(\.mean), standardErrors: summaries.map(\.standardError),
            slope: NotebookStatistics.logLogSlope(steps: Self.strongStepCounts, errors: summaries.map(\.mean)),
            slopeStandardError: NotebookStatistics.standardDeviation(groupSlopes) / Double(groupSlopes.count).squareRoot())
    }

    // MARK: Weak errors

    /// Returns |E X_N − E X(T)| on GBM dX = X dt + 0.5 X dW, X₀ = 1, estimated by the mean
    /// of the paired differences X_N − X(T) on shared Brownian paths, whose spread is of
    /// the order of the strong error rather than of X itself.
    func weakOnGeometricBrownianMotion() throws -> [Series] {
        let paths = sizes.convergencePaths
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 31)
        let wT = tree.increment(from: 0, to: 1).dW
        let solvers: [any SDESolver] = [EulerMaruyama(), Milstein(), Heun(), ReversibleHeun()]
        return try solvers.map { solver in
            let gbm = GeometricBrownianMotion<Double>(mu: 1.0, sigma: 0.5, interpretation: solver.interpretation)
            let exact = gbm.exactSolution(from: x0, at: 1, brownian: wT)
            let differences = try Self.weakStepCounts.map { steps in
                (try terminal(gbm, solver, tree, x0: x0, steps: steps) - exact).scalars
            }
            let summaries = differences.map(NotebookStatistics.meanAndStandardError)
            let errors = summaries.map { Swift.abs($0.mean) }
            let groupSlopes = groups(of: paths).map { range in
                NotebookStatistics.logLogSlope(steps: Self.weakStepCounts, errors: differences.map { Swift.abs(NotebookStatistics.mean($0[range])) })
            }
            return Series(
                problem: "GBM", solver: solver.name, kind: "weak", theory: solver.order(for: gbm.noiseType).weak,
                stepCounts: Self.weakStepCounts, errors: errors, standardErrors: summaries.map(\.standardError),
                slope: NotebookStatistics.logLogSlope(steps: Self.weakStepCounts, errors: errors),
                slopeStandardError: NotebookStatistics.standardDeviation(groupSlopes) / Double(groupSlopes.count).squareRoot())
        }
    }

    /// Returns |E X_N² − E X(T)²| on Ornstein–Uhlenbeck dX = −X dt + dW, X₀ = 1, without
    /// sampling. Every solver's map is affine in the noise here, so E X_N is a noise-free
    /// solve and Var X_N is the sum of the squared responses to one unit-variance impulse
    /// per step (in ΔW, and in H for SRA1). The exact value is e^{−2} + (1 − e^{−2}) / 2.
    func weakOnOrnsteinUhlenbeck() throws -> [Series] {
        let ou = OrnsteinUhlenbeck<Double>(theta: 1, sigma: 1)
        let exact = Foundation.exp(-2.0) + (1 - Foundation.exp(-2.0)) / 2
        let solvers: [any SDESolver] = [EulerMaruyama(), Milstein(), Heun(), ReversibleHeun(), SRA1()]
        return try solvers.map { solver in
            let errors = try Self.weakStepCounts.map { count -> Double in
                let grid = TimeGrid(from: 0, to: 1, steps: count).points
                let mean = try terminal(
                    ou, solver, ImpulseBrownianPath(grid: grid, batch: 1, impulses: false),
                    x0: Tensor(shape: [1, 1], repeating: 1), steps: count).scalar
                var variance = 0.0
                for inLevyArea in [false, true] {
                    let path = ImpulseBrownianPath(grid: grid, impulseInLevyArea: inLevyArea)
                    let responses = try terminal(ou, solver, path, x0: Tensor(zeros: [count, 1]), steps: count)
                    variance += (responses * responses).sum()
                }
                return Swift.abs(mean * mean + variance - exact)
            }
            return Series(
                problem: "OU", solver: solver.name, kind: "weak", theory: solver.order(for: ou.noiseType).weak,
                stepCounts: Self.weakStepCounts, errors: errors, standardErrors: errors.map { _ in 0 },
                slope: NotebookStatistics.logLogSlope(steps: Self.weakStepCounts, errors: errors), slopeStandardError: nil)
        }
    }

    private func terminal<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
        _ sde: SDE, _ solver: any SDESolver, _ path: Path, x0: Tensor<Double>, steps: Int
    ) throws -> Tensor<Double> where SDE.Scalar == Double, Path.Scalar == Double {
        try solve(sde, x0: Variable(x0), from: 0, to: 1, steps: steps, solver: solver, brownian: path, gradient: .detached)
            .terminal.value
    }

    private func groups(of count: Int) -> [Range<Int>] {
        let size = count / Self.groupCount
        return (0..<Self.groupCount).map { $0 * size..<($0 + 1) * size }
    }

    // MARK: Brownian tree

    /// One consistency check of the virtual Brownian tree, with its measured value.
    struct TreeCheck {
        var check: String
        var measured: String
        var expected: String
    }

    /// Returns the consistency checks: additivity over refinements, repeated and
    /// reversed queries, the moments of increments and Lévy areas, and bounded memory.
    func brownianTreeChecks() -> [TreeCheck] {
        var checks: [TreeCheck] = []
        let paths = sizes.treePaths
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 9, levyArea: .spaceTime)

        // W(1) − W(0) in one query against the sum over 2^k equal pieces.
        let whole = tree.increment(from: 0, to: 1).dW
        var largestGap = 0.0
        for level in 1...10 {
            let pieces = 1 << level
            var total = Tensor<Double>(zeros: [paths, 1])
            for k in 0..<pieces {
                total = total + tree.increment(from: Double(k) / Double(pieces), to: Double(k + 1) / Double(pieces)).dW
            }
            largestGap = Swift.max(largestGap, NotebookStatistics.maximumAbsoluteDifference(total, whole))
        }
        checks.append(TreeCheck(
            check: "W(1) − W(0) as one query against the sum of 2^k increments, k = 1…10",
            measured: "max abs difference \(NotebookStatistics.scientific(largestGap))", expected: "rounding (about 1e-15)"))

        // The same query after thousands of others returns the same bits; a reversed one negates.
        let first = tree.increment(from: 0.3, to: 0.7)
        for k in 0..<1000 { _ = tree.increment(from: Double(k) / 1000, to: Double(k + 1) / 1000) }
        let again = tree.increment(from: 0.3, to: 0.7)
        let reversed = tree.increment(from: 0.7, to: 0.3)
        let repeatGap = NotebookStatistics.maximumAbsoluteDifference(first.dW, again.dW)
            + NotebookStatistics.maximumAbsoluteDifference(first.spaceTimeLevyArea!, again.spaceTimeLevyArea!)
        checks.append(TreeCheck(
            check: "W(0.7) − W(0.3) queried again after 1000 other queries",
            measured: "max abs difference \(NotebookStatistics.scientific(repeatGap))", expected: "0 (same bits)"))
        checks.append(TreeCheck(
            check: "the reversed query [0.7, 0.3] against −[0.3, 0.7]",
            measured: "max abs difference \(NotebookStatistics.scientific(NotebookStatistics.maximumAbsoluteDifference(reversed.dW, first.dW * -1)))",
            expected: "0"))

        // Moments over the batch: mean 0, Var ΔW = h, Var H = h/12, Cov(ΔW, H) = 0.
        for h in [1.0 / 8, 1.0 / 64, 1.0 / 512] {
            let increment = tree.increment(from: 0.25, to: 0.25 + h)
            let dW = increment.dW.scalars
            let levyArea = increment.spaceTimeLevyArea!.scalars
            let meanW = NotebookStatistics.meanAndStandardError(dW)
            let sumOfSquaresW: Double = dW.reduce(0) { $0 + $1 * $1 }
            let sumOfSquaresH: Double = levyArea.reduce(0) { $0 + $1 * $1 }
            let sumOfProducts: Double = zip(dW, levyArea).reduce(0) { $0 + $1.0 * $1.1 }
            let varianceRatio = sumOfSquaresW / Double(paths) / h
            let levyRatio = sumOfSquaresH / Double(paths) / (h / 12)
            let correlation = sumOfProducts / (sumOfSquaresW * sumOfSquaresH).squareRoot()
            // A variance estimate from n normal draws has relative standard error √(2/n);
            // a sample correlation of independent draws has standard error 1/√n.
            let relative = (2.0 / Double(paths)).squareRoot()
            checks.append(TreeCheck(
                check: "increments over [0.25, 0.25 + h], h = 1/\(Int(1 / h)), \(paths) paths",
                measured: String(
                    format: "mean ΔW/√h %+.4f, Var ΔW / h %.4f, Var H / (h/12) %.4f, corr(ΔW, H) %+.4f",
                    meanW.mean / h.squareRoot(), varianceRatio, levyRatio, correlation),
                expected: String(
                    format: "0 ± %.4f, 1 ± %.4f, 1 ± %.4f, 0 ± %.4f", 1 / Double(paths).squareRoot(), relative, relative,
                    1 / Double(paths).squareRoot())))
        }

        // Memory: the tree keeps the nodes of one descent, whatever the number of queries.
        let small = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [4, 1], seed: 3, tolerance: 1.0 / 8192)
        var generator = PhiloxRandom(seed: 12)
        for _ in 0..<10_000 {
            let s = Double(generator.nextUniform())
            _ = small.increment(from: s * 0.9, to: s * 0.9 + 0.1 * Double(generator.nextUniform()))
        }
        checks.append(TreeCheck(
            check: "nodes kept after 10,000 random queries (depth \(small.depth))",
            measured: "\(small.cachedNodeCount)", expected: "at most depth + 1 = \(small.depth + 1)"))
        return checks
    }
}

/// A deterministic stand-in for a Brownian path on a fixed grid: batch row n receives one
/// impulse in step n (ΔW = √h, or H = √(h/12) when `impulseInLevyArea`), every other
/// increment is zero. Without impulses (`impulses: false`) the path is identically zero.
///
/// For a solver map that is affine in the noise (linear drift, additive noise), row n of
/// the terminal state started from x₀ = 0 is the response to a unit-variance noise input
/// in step n, so Var X_N is the sum of the squared responses.
final class ImpulseBrownianPath: BrownianPath {
    typealias Scalar = Double

    let grid: [Double]
    let impulses: Bool
    let impulseInLevyArea: Bool
    let shape: [Int]
    let levyArea = LevyArea.spaceTime

    init(grid: [Double], batch: Int? = nil, impulses: Bool = true, impulseInLevyArea: Bool = false) {
        self.grid = grid
        self.impulses = impulses
        self.impulseInLevyArea = impulseInLevyArea
        shape = [batch ?? grid.count - 1, 1]
    }

    var t0: Double { Swift.min(grid[0], grid[grid.count - 1]) }
    var t1: Double { Swift.max(grid[0], grid[grid.count - 1]) }

    func increment(from s: Double, to t: Double) -> BrownianIncrement<Double> {
        var dW = Tensor<Double>(zeros: shape)
        var levyArea = Tensor<Double>(zeros: shape)
        if impulses, let step = grid.firstIndex(of: s), step + 1 < grid.count, grid[step + 1] == t {
            let h = Swift.abs(t - s)
            if impulseInLevyArea {
                levyArea[step, 0] = (h / 12).squareRoot()
            } else {
                dW[step, 0] = h.squareRoot()
            }
        }
        return BrownianIncrement(dW: dW, spaceTimeLevyArea: levyArea)
    }
}

// MARK: Statistics

/// Sample statistics and formatting shared by the SDE and reward notebooks.
enum NotebookStatistics {
    static func mean<C: Collection>(_ values: C) -> Double where C.Element == Double {
        values.reduce(0, +) / Double(values.count)
    }

    static func standardDeviation(_ values: [Double]) -> Double {
        let average = mean(values)
        return (values.reduce(0) { $0 + ($1 - average) * ($1 - average) } / Double(values.count - 1)).squareRoot()
    }

    /// Returns the sample mean and the standard error of the mean.
    static func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
        (mean(values), standardDeviation(values) / Double(values.count).squareRoot())
    }

    /// Returns the least-squares slope of log(errors) against log(h) with h = 1 / steps.
    static func logLogSlope(steps: [Int], errors: [Double]) -> Double {
        let xs = steps.map { Foundation.log(1 / Double($0)) }
        let ys = errors.map { Foundation.log($0) }
        let (meanX, meanY) = (mean(xs), mean(ys))
        let numerator = zip(xs, ys).reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        let denominator = xs.reduce(0) { $0 + ($1 - meanX) * ($1 - meanX) }
        return numerator / denominator
    }

    static func maximumAbsoluteDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    }

    static func scientific(_ value: Double) -> String {
        String(format: "%.2e", value)
    }
}
