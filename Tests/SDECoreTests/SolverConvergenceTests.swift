import Foundation
import SDECore
import Tensors
import XCTest

/// Convergence orders of every solver against exact solutions.
///
/// Strong errors E|X_N − X(T)| use 1000 paths on one Brownian tree, shared by the solver
/// and the exact solution; their relative standard error is about 3 %, which moves a
/// slope fitted over a factor of 16 in h by about 0.02. Slopes must lie within 0.15 of the
/// order theory gives for the problem.
final class SolverConvergenceTests: XCTestCase {
    let stepCounts = [8, 16, 32, 64, 128]
    let tolerance = 0.15

    func terminal<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
        _ sde: SDE, _ solver: any SDESolver, _ path: Path, x0: Tensor<Double>, steps: Int
    ) throws -> Tensor<Double> where SDE.Scalar == Double, Path.Scalar == Double {
        try solve(sde, x0: Variable(x0), from: 0, to: 1, steps: steps, solver: solver, brownian: path, gradient: .detached)
            .terminal.value
    }

    func slope(_ errors: [Double], steps: [Int]) -> Double {
        logLogSlope(stepSizes: steps.map { 1 / Double($0) }, errors: errors)
    }

    /// X_T of dX = −θX dt + σ dW on a grid of 2¹¹ steps: the exact transition
    /// X(t+h) = e^{−θh} X(t) + σ ∫ e^{−θ(t+h−s)} dW(s), with the integral expanded to first
    /// order in θh as ΔW − θh (½ ΔW + H). The neglected part has a standard deviation of
    /// about θ² h^{5/2} / √20 per step, about 1e-7 summed over the grid.
    func ornsteinUhlenbeckReference(theta: Double, sigma: Double, x0: Tensor<Double>, tree: VirtualBrownianTree<Double>) -> Tensor<Double> {
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

    func testStrongOrdersOnGeometricBrownianMotion() throws {
        let paths = 1000
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 2024)
        let wT = tree.increment(from: 0, to: 1).dW
        // σ² large against μ, so the order-½ term of Euler–Maruyama dominates its error.
        let cases: [(any SDESolver, Double)] = [(EulerMaruyama(), 0.5), (Milstein(), 1.0), (Heun(), 1.0), (ReversibleHeun(), 1.0)]
        for (solver, theory) in cases {
            let gbm = GeometricBrownianMotion<Double>(mu: 0.5, sigma: 1.0, interpretation: solver.interpretation)
            XCTAssertEqual(solver.order(for: gbm.noiseType).strong, theory, solver.name)
            let exact = gbm.exactSolution(from: x0, at: 1, brownian: wT)
            let errors = try stepCounts.map { steps in
                try (terminal(gbm, solver, tree, x0: x0, steps: steps) - exact).applying(.abs).mean()
            }
            let measured = slope(errors, steps: stepCounts)
            print("strong order, GBM, \(solver.name): \(measured) (theory \(theory))")
            XCTAssertEqual(measured, theory, accuracy: tolerance, "\(solver.name): \(errors)")
        }
    }

    /// On Ornstein–Uhlenbeck every method but SRA1 has strong order 1 (additive noise).
    /// SRA1 is of order 1.5 for additive noise in general. With linear drift and constant
    /// σ, the error terms of order h² in its Itô–Taylor expansion (those with f″ or with
    /// t-derivatives of g) vanish, so its strong order on this problem is 2.
    func testStrongOrdersOnOrnsteinUhlenbeck() throws {
        let paths = 1000
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 77, levyArea: .spaceTime)
        let ou = OrnsteinUhlenbeck<Double>(theta: 1, sigma: 1)
        let reference = ornsteinUhlenbeckReference(theta: 1, sigma: 1, x0: x0, tree: tree)
        let cases: [(any SDESolver, Double)] = [
            (EulerMaruyama(), 1.0), (Milstein(), 1.0), (Heun(), 1.0), (ReversibleHeun(), 1.0), (SRA1(), 2.0),
        ]
        for (solver, theory) in cases {
            let errors = try stepCounts.map { steps in
                try (terminal(ou, solver, tree, x0: x0, steps: steps) - reference).applying(.abs).mean()
            }
            let measured = slope(errors, steps: stepCounts)
            print("strong order, OU, \(solver.name): \(measured) (theory \(theory))")
            XCTAssertEqual(measured, theory, accuracy: tolerance, "\(solver.name): \(errors)")
        }
        XCTAssertEqual(SRA1().order(for: ou.noiseType).strong, 1.5)
    }

    /// SRA1's order 1.5 shows with a non-linear drift: dX = sin(2X) dt + dW, against SRA1
    /// itself on 2¹¹ steps, whose own error (about C (2⁻¹¹)^1.5) is 64 times below the
    /// finest test error.
    func testSRA1StrongOrderWithNonlinearDrift() throws {
        let paths = 1000
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 0.5)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 5, levyArea: .spaceTime)
        let sde = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), drift: { _, x in sin(x * 2) },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: 1)) })
        let reference = try terminal(sde, SRA1(), tree, x0: x0, steps: 2048)
        let errors = try stepCounts.map { steps in
            try (terminal(sde, SRA1(), tree, x0: x0, steps: steps) - reference).applying(.abs).mean()
        }
        let measured = slope(errors, steps: stepCounts)
        print("strong order, dX = sin(2X) dt + dW, SRA1: \(measured) (theory 1.5)")
        XCTAssertEqual(measured, 1.5, accuracy: tolerance, "\(errors)")
    }

    /// Weak errors |E X_N − E X(T)| on GBM, estimated by the mean of X_N − X(T) over
    /// 4000 paths sharing the Brownian path. The paired differences have standard
    /// deviation of the order of the strong error, so the standard error at 64 steps
    /// (about 1e-3) is 5 % of the weak error there.
    func testWeakOrdersOnGeometricBrownianMotion() throws {
        let paths = 4000
        let steps = [4, 8, 16, 32, 64]
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 31)
        let wT = tree.increment(from: 0, to: 1).dW
        for solver in [EulerMaruyama(), Milstein(), Heun(), ReversibleHeun()] as [any SDESolver] {
            let gbm = GeometricBrownianMotion<Double>(mu: 1.0, sigma: 0.5, interpretation: solver.interpretation)
            let theory = solver.order(for: gbm.noiseType).weak
            XCTAssertEqual(theory, 1.0, solver.name)
            let exact = gbm.exactSolution(from: x0, at: 1, brownian: wT)
            let errors = try steps.map { count in
                Swift.abs(try (terminal(gbm, solver, tree, x0: x0, steps: count) - exact).mean())
            }
            let measured = slope(errors, steps: steps)
            print("weak order, GBM, \(solver.name): \(measured) (theory \(theory))")
            XCTAssertEqual(measured, theory, accuracy: tolerance, "\(solver.name): \(errors)")
        }
    }

    /// Weak errors of E X_T² on Ornstein–Uhlenbeck, computed without sampling: every
    /// solver's map is affine in the noise here, so E X_N comes from a noise-free solve and
    /// Var X_N is the sum of squared responses to one unit-variance impulse per step (in
    /// ΔW, and in H for SRA1). The exact value is e^{−2θ} x₀² + σ² (1 − e^{−2θ}) / (2θ).
    func testWeakOrdersOnOrnsteinUhlenbeck() throws {
        let (theta, sigma) = (1.0, 1.0)
        let ou = OrnsteinUhlenbeck<Double>(theta: theta, sigma: sigma)
        let exact = Foundation.exp(-2 * theta) + sigma * sigma * (1 - Foundation.exp(-2 * theta)) / (2 * theta)
        let steps = [4, 8, 16, 32, 64]
        for solver in [EulerMaruyama(), Milstein(), Heun(), SRA1(), ReversibleHeun()] as [any SDESolver] {
            let errors = try steps.map { count -> Double in
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
            let theory = solver.order(for: ou.noiseType).weak
            let measured = slope(errors, steps: steps)
            print("weak order, OU, \(solver.name): \(measured) (theory \(theory))")
            XCTAssertEqual(measured, theory, accuracy: tolerance, "\(solver.name): \(errors)")
        }
    }
}
