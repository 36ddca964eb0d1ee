import Foundation
import SDECore
import Tensors
import XCTest

final class SolverBehaviourTests: XCTestCase {
    let allSolvers: [any SDESolver] = [EulerMaruyama(), Milstein(), Heun(), SRA1(), ReversibleHeun()]

    /// Every solver, with zero diffusion, solves dX = (−X + sin t) dt, X₀ = 1, whose
    /// solution is 1.5 e^{−t} + (sin t − cos t)/2. Euler–Maruyama and Milstein are
    /// first-order ODE methods here and the others second-order, so the error at h = 0.01
    /// must be below h^p (the error constant is about ½ max|x″| ≤ 1) and halving h must
    /// divide it by 2^p within 25 %. The same bounds apply to solving backwards from t = 2 to 0.
    func testZeroDiffusionMatchesODESolution() throws {
        let sde = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), drift: { t, x in -x + Foundation.sin(t) },
            diffusion: { _, x in Variable(Tensor(zeros: x.shape)) })
        func exact(_ t: Double) -> Double { 1.5 * Foundation.exp(-t) + (Foundation.sin(t) - Foundation.cos(t)) / 2 }

        for solver in allSolvers {
            let order = solver is EulerMaruyama || solver is Milstein ? 1.0 : 2.0
            for (t0, t1) in [(0.0, 2.0), (2.0, 0.0)] {
                var errors: [Double] = []
                for steps in [200, 400] {
                    let grid = TimeGrid(from: t0, to: t1, steps: steps)
                    let path = ImpulseBrownianPath(grid: grid.points, batch: 1, impulses: false)
                    let x = try solve(
                        sde, x0: Variable(Tensor(shape: [1, 1], repeating: exact(t0))), grid: grid, solver: solver,
                        brownian: path, gradient: .detached
                    ).terminal.value.scalar
                    errors.append(Swift.abs(x - exact(t1)))
                }
                XCTAssertLessThan(errors[0], Foundation.pow(0.01, order), "\(solver.name) from \(t0) to \(t1)")
                XCTAssertEqual(errors[0] / errors[1], Foundation.pow(2, order), accuracy: 0.25 * Foundation.pow(2, order), "\(solver.name)")
            }
        }
    }

    /// GBM with μ = 1.2, σ = 1.1, X₀ = 0.5, T = 1: E[X_T] = X₀ e^{μT} = 1.6601 read as Itô
    /// and X₀ e^{(μ + σ²/2)T} = 3.0400 read as Stratonovich. Each solver, given the same
    /// coefficients labelled with its own interpretation, must hit its value. 20,000 paths
    /// give standard errors of about 0.018 (Itô) and 0.033 (Stratonovich); the tolerance is
    /// 4 standard errors plus 1 % for the weak discretisation error at h = 1/256 (about
    /// 0.4 % for these solvers, from the weak-order tests' constants).
    func testEachSolverConvergesToItsInterpretation() throws {
        let paths = 20_000
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 12)
        let x0 = Variable(Tensor<Double>(shape: [paths, 1], repeating: 0.5))
        let expected: [SDEInterpretation: Double] = [
            .ito: 0.5 * Foundation.exp(1.2),
            .stratonovich: 0.5 * Foundation.exp(1.2 + 0.5 * 1.1 * 1.1),
        ]
        XCTAssertEqual(expected[.ito]!, 1.6601, accuracy: 5e-5)
        XCTAssertEqual(expected[.stratonovich]!, 3.0400, accuracy: 5e-5)

        for solver in [EulerMaruyama(), Milstein(), Heun(), ReversibleHeun()] as [any SDESolver] {
            let gbm = GeometricBrownianMotion<Double>(mu: 1.2, sigma: 1.1, interpretation: solver.interpretation)
            let x = try solve(gbm, x0: x0, from: 0, to: 1, steps: 256, solver: solver, brownian: tree, gradient: .detached)
            let (mean, standardError) = meanAndStandardError(x.terminal.value.scalars)
            let target = expected[solver.interpretation]!
            print("E[X_T], \(solver.name): \(mean) ± \(standardError) (\(solver.interpretation) value \(target))")
            XCTAssertEqual(mean, target, accuracy: 4 * standardError + 0.01 * target, solver.name)
        }
    }

    func testSetupRejectsMismatches() throws {
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [2, 1], seed: 1)
        let x0 = Variable(Tensor<Double>(shape: [2, 1], repeating: 1))
        let itoGBM = GeometricBrownianMotion<Double>(mu: 1, sigma: 1)
        let stratonovichGBM = GeometricBrownianMotion<Double>(mu: 1, sigma: 1, interpretation: .stratonovich)

        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        // Interpretation mismatches with state-dependent noise.
        XCTAssertTrue(message { _ = try solve(itoGBM, x0: x0, from: 0, to: 1, steps: 4, solver: Heun(), brownian: tree) }
            .contains("Stratonovich solution"))
        XCTAssertTrue(message { _ = try solve(stratonovichGBM, x0: x0, from: 0, to: 1, steps: 4, brownian: tree) }
            .contains("Itô solution"))
        // Noise types a solver cannot handle.
        XCTAssertTrue(message { _ = try solve(itoGBM, x0: x0, from: 0, to: 1, steps: 4, solver: SRA1(), brownian: tree) }
            .contains("SRA1 needs additive noise"))
        let general = ClosureSDE<Double>(
            noiseType: .general, drift: { _, x in x }, diffusion: { _, x in x.reshaped(to: [2, 1, 1]) })
        XCTAssertTrue(message { _ = try solve(general, x0: x0, from: 0, to: 1, steps: 4, solver: Milstein(), brownian: tree) }
            .contains("Milstein needs diagonal noise"))
        // Missing Lévy area, wrong Brownian shape, grid outside the path.
        let ou = OrnsteinUhlenbeck<Double>(theta: 1, sigma: 1)
        XCTAssertTrue(message { _ = try solve(ou, x0: x0, from: 0, to: 1, steps: 4, solver: SRA1(), brownian: tree) }
            .contains("space-time Lévy area"))
        let wide = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [2, 3], seed: 1)
        XCTAssertTrue(message { _ = try solve(ou, x0: x0, from: 0, to: 1, steps: 4, brownian: wide) }.contains("[2, 1]"))
        XCTAssertTrue(message { _ = try solve(ou, x0: x0, from: 0, to: 2, steps: 4, brownian: tree) }.contains("outside"))
        // Gradient methods a solver or an SDE does not support.
        XCTAssertTrue(message { _ = try solve(itoGBM, x0: x0, from: 0, to: 1, steps: 4, solver: Milstein(), brownian: tree) }
            .contains("backpropagation"))
        XCTAssertTrue(message {
            _ = try solve(stratonovichGBM, x0: x0, from: 0, to: 1, steps: 4, solver: Heun(), brownian: tree, gradient: .reversible)
        }.contains("ReversibleHeun"))
        let noCorrection = ClosureSDE<Double>(noiseType: .diagonal, drift: { _, x in x }, diffusion: { _, x in x * 0.5 })
        XCTAssertTrue(message {
            _ = try solve(noCorrection, x0: x0, from: 0, to: 1, steps: 4, brownian: tree, gradient: .adjoint(backwardSolver: Heun()))
        }.contains("Itô correction"))
        XCTAssertTrue(message {
            _ = try solve(itoGBM, x0: x0, from: 0, to: 1, steps: 4, solver: Milstein(), brownian: tree, gradient: .adjoint())
        }.contains("cannot solve the adjoint SDE"))
        XCTAssertTrue(message {
            _ = try solve(itoGBM, x0: x0, from: 0, to: 1, steps: 4, brownian: tree, gradient: .adjoint())
        }.contains("cannot solve the adjoint SDE"))
        XCTAssertThrowsError(try noCorrection.converted(to: .stratonovich))
        // Accepted: the same pieces when they fit.
        XCTAssertNoThrow(try solve(itoGBM.converted(to: .stratonovich), x0: x0, from: 0, to: 1, steps: 4, solver: Heun(), brownian: tree))
        XCTAssertNoThrow(try solve(ou, x0: x0, from: 0, to: 1, steps: 4, solver: Heun(), brownian: tree))
        XCTAssertNoThrow(try solve(itoGBM, x0: x0, from: 0, to: 1, steps: 4, brownian: tree, gradient: .adjoint(backwardSolver: Heun())))
    }

    /// The Stratonovich form of Itô GBM has drift (μ − ½σ²) X, and converting back restores μX.
    func testConversionBetweenInterpretations() throws {
        let gbm = GeometricBrownianMotion<Double>(mu: 0.7, sigma: 0.4)
        let x = Variable(fixedTensor([3, 2]))
        let stratonovich = try gbm.converted(to: .stratonovich)
        XCTAssertEqual(stratonovich.interpretation, .stratonovich)
        XCTAssertLessThan(maxAbsoluteDifference(stratonovich.drift(0, x).value, x.value * (0.7 - 0.08)), 1e-15)
        let back = try GeometricBrownianMotion<Double>(mu: 0.62, sigma: 0.4, interpretation: .stratonovich).converted(to: .ito)
        XCTAssertLessThan(maxAbsoluteDifference(back.drift(0, x).value, x.value * 0.7), 1e-15)
    }

    /// One Euler–Maruyama step by hand for each noise layout: scalar noise drives both
    /// components with the one increment, diagonal noise each with its own, and general
    /// noise mixes m = 3 increments through a [2, 3] matrix.
    func testDiffusionProductPerLayout() throws {
        let x0 = fixedTensor([4, 2], seed: 1) + 2
        let g = fixedTensor([4, 2], seed: 2)
        let matrix = fixedTensor([4, 2, 3], seed: 3)
        let cases: [(NoiseType, Tensor<Double>, Int)] = [(.scalar, g, 1), (.diagonal, g, 2), (.general, matrix, 3)]
        for (noiseType, diffusion, m) in cases {
            let sde = ClosureSDE<Double>(
                noiseType: noiseType, drift: { _, x in x * 0.5 }, diffusion: { _, _ in Variable(diffusion) })
            let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [4, m], seed: 4)
            let x1 = try solve(sde, x0: Variable(x0), from: 0, to: 0.25, steps: 1, brownian: tree).terminal.value
            let dW = tree.increment(from: 0, to: 0.25).dW
            let noise = noiseType.layout == .general
                ? matmul(matrix, dW.reshaped(to: [4, 3, 1])).reshaped(to: [4, 2])
                : diffusion * dW
            XCTAssertLessThan(maxAbsoluteDifference(x1, x0 + x0 * 0.125 + noise), 1e-15, "\(noiseType)")
        }
    }

    /// A detached Euler–Maruyama solve updates the state in one fused pass. It must give
    /// the bits of the recorded steps y + f h + g ΔW, both for diagonal noise that depends
    /// on the state and for scalar noise, whose product g ΔW broadcasts ΔW.
    func testDetachedEulerMaruyamaMatchesRecordedSteps() throws {
        let drift: (Double, Variable<Float>) -> Variable<Float> = { t, x in tanh(x) * Float(0.7) - x * Float(t) }
        let cases: [(NoiseType, Int)] = [(.diagonal, 3), (.scalar, 1)]
        for (noiseType, noiseDimension) in cases {
            let sde = ClosureSDE<Float>(noiseType: noiseType, drift: drift, diffusion: { _, x in sigmoid(x) })
            let x0 = Tensor<Float>(fixedTensor([64, 3]))
            let path = GridBrownianPath<Float>(grid: TimeGrid(from: 0, to: 1, steps: 50), shape: [64, noiseDimension], seed: 4)
            let detached = try solve(sde, x0: Variable(x0), from: 0, to: 1, steps: 50, brownian: path, gradient: .detached)
            let recorded = try solve(
                sde, x0: Variable(x0, requiresGrad: true), from: 0, to: 1, steps: 50, brownian: path,
                gradient: .backpropagation)
            XCTAssertTrue(recorded.terminal.requiresGrad, "the reference solve must take the recorded path")
            XCTAssertEqual(detached.terminal.value, recorded.terminal.value, "\(noiseType) noise")
        }
    }
}
