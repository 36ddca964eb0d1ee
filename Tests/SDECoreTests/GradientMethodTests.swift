import Foundation
import SDECore
import Tensors
import XCTest

/// Gradients of losses of SDE solutions by backpropagation, the stochastic adjoint,
/// reversible Heun and finite differences, on shared Brownian paths.
final class GradientMethodTests: XCTestCase {
    /// Returns the gradients of `loss(solution)` with respect to x0 and `parameters`.
    func gradients<SDE: StochasticDifferentialEquation>(
        _ sde: SDE, x0: Tensor<Double>, grid: TimeGrid, solver: any SDESolver, brownian: VirtualBrownianTree<Double>,
        method: GradientMethod, parameters: [Variable<Double>], saveAt: SaveAt = .terminal,
        runningCost: RunningCost<Double>? = nil, loss: (SDESolution<Double>) -> Variable<Double>
    ) throws -> [Tensor<Double>] where SDE.Scalar == Double {
        let start = Variable(x0, requiresGrad: true)
        let solution = try solve(
            sde, x0: start, grid: grid, solver: solver, brownian: brownian, gradient: method, saveAt: saveAt,
            runningCost: runningCost)
        return Tensors.gradients(of: loss(solution), withRespectTo: [start] + parameters)
    }

    /// Returns the central difference of `loss` in element `index` of `parameter`, each
    /// side a detached solve on the same Brownian path.
    func finiteDifference(
        _ parameter: Variable<Double>, index: Int = 0, step: Double = 1e-6, loss: () throws -> Double
    ) rethrows -> Double {
        let original = parameter.value
        parameter.value.withUnsafeMutableBufferPointer { $0[index] += step }
        let plus = try loss()
        parameter.value = original
        parameter.value.withUnsafeMutableBufferPointer { $0[index] -= step }
        let minus = try loss()
        parameter.value = original
        return (plus - minus) / (2 * step)
    }

    func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        let difference = ((a - b) * (a - b)).sum().squareRoot()
        let scale = Swift.max((a * a).sum(), (b * b).sum()).squareRoot()
        return scale == 0 ? 0 : difference / scale
    }

    func relativeError(_ a: Double, _ b: Double) -> Double {
        Swift.abs(a - b) / Swift.max(Swift.abs(a), Swift.abs(b))
    }

    // MARK: Geometric Brownian motion against exact pathwise derivatives

    /// For Itô GBM, X_T = x₀ exp((μ − σ²/2) T + σ W_T), so with L = mean(X_T):
    /// ∂L/∂μ = mean(T X_T), ∂L/∂σ = mean((W_T − σT) X_T), ∂L/∂x₀ᵢ = X_T,ᵢ / (x₀ᵢ B).
    /// Every method runs 1024 steps. Some runs are of strong order 1 in every pass: Heun
    /// or reversible Heun on the Stratonovich form, and Milstein forward with a Heun
    /// adjoint. Their pathwise errors are of order h ≈ 1e-3 times the solution's scale,
    /// and the tolerance is 1 %. With an Euler–Maruyama forward pass the adjoint starts from a terminal
    /// state of strong order ½ (√h ≈ 0.03), and the tolerance is 5 %.
    func testGeometricBrownianMotionAgainstExactDerivatives() throws {
        let batch = 64
        let steps = 1024
        let x0 = Tensor<Double>(shape: [batch, 1], repeating: 1) + fixedTensor([batch, 1], seed: 3) * 0.5
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 1], seed: 8)
        let grid = TimeGrid(from: 0, to: 1, steps: steps)
        let gbm = GeometricBrownianMotion<Double>(mu: 0.5, sigma: 0.6)
        let stratonovich = try gbm.converted(to: .stratonovich)

        let xT = gbm.exactSolution(from: x0, at: 1, brownian: tree.increment(from: 0, to: 1).dW)
        let wT = tree.increment(from: 0, to: 1).dW
        let exactMu = xT.mean()
        let exactSigma = ((wT - 0.6) * xT).mean()
        let exactX0 = xT / x0 / Double(batch)

        let loss: (SDESolution<Double>) -> Variable<Double> = { $0.terminal.mean() }
        let parameters = [gbm.mu, gbm.sigma]
        let results: [(String, [Tensor<Double>], Double)] = [
            ("backpropagation (Heun)", try gradients(
                stratonovich, x0: x0, grid: grid, solver: Heun(), brownian: tree, method: .backpropagation,
                parameters: parameters, loss: loss), 0.01),
            ("adjoint (Euler–Maruyama forward, Heun backward)", try gradients(
                gbm, x0: x0, grid: grid, solver: EulerMaruyama(), brownian: tree,
                method: .adjoint(backwardSolver: Heun()), parameters: parameters, loss: loss), 0.05),
            ("adjoint (Milstein forward, Heun backward)", try gradients(
                gbm, x0: x0, grid: grid, solver: Milstein(), brownian: tree,
                method: .adjoint(backwardSolver: Heun()), parameters: parameters, loss: loss), 0.01),
            ("reversible Heun", try gradients(
                stratonovich, x0: x0, grid: grid, solver: ReversibleHeun(), brownian: tree, method: .reversible,
                parameters: parameters, loss: loss), 0.01),
        ]
        for (name, gradient, tolerance) in results {
            print("GBM gradients, \(name): dμ \(gradient[1].scalar) dσ \(gradient[2].scalar) (exact \(exactMu), \(exactSigma))")
            XCTAssertLessThan(relativeError(gradient[0], exactX0), tolerance, name)
            XCTAssertLessThan(relativeError(gradient[1].scalar, exactMu), tolerance, name)
            XCTAssertLessThan(relativeError(gradient[2].scalar, exactSigma), tolerance, name)
        }

        // Backpropagation is the exact derivative of the discrete Heun solution: finite
        // differences of that solution on the same path agree to rounding.
        let discreteLoss = {
            try solve(stratonovich, x0: Variable(x0), grid: grid, solver: Heun(), brownian: tree, gradient: .detached)
                .terminal.value.mean()
        }
        XCTAssertLessThan(relativeError(try finiteDifference(gbm.mu, loss: discreteLoss), results[0].1[1].scalar), 1e-6)
        XCTAssertLessThan(relativeError(try finiteDifference(gbm.sigma, loss: discreteLoss), results[0].1[2].scalar), 1e-6)
    }

    // MARK: Ornstein–Uhlenbeck against the closed form

    /// dX = −θX dt + 0.5 dW, X₀ = 1, T = 1, θ = 0.7, loss X_T². From
    /// E[X_T²] = e^{−2θT} + σ² (1 − e^{−2θT}) / (2θ), E[X_T²] = 0.3811332 and
    /// dE/dθ = −2T e^{−2θT} + σ² [4θT e^{−2θT} − 2 (1 − e^{−2θT})] / (4θ²) = −0.5973182.
    ///
    /// θ is a per-path parameter of shape [4000, 1], so the gradient of the batch mean of
    /// X_T² gives every path's pathwise derivative, whose sample standard error (about
    /// 0.007) sets the tolerance for the Monte Carlo checks: 4 standard errors plus 0.005
    /// for the weak error at h = 1/256. On the shared path, backpropagation and
    /// reversible Heun must match finite differences of their own discrete solutions to
    /// 1e-6, and the adjoint must match backpropagation to 1 % (both O(h) from the
    /// continuous derivative).
    func testOrnsteinUhlenbeckGradientMatchesClosedForm() throws {
        let (theta0, sigma, paths, steps) = (0.7, 0.5, 4000, 256)
        let mean = Foundation.exp(-2 * theta0) + sigma * sigma * (1 - Foundation.exp(-2 * theta0)) / (2 * theta0)
        let derivative = -2 * Foundation.exp(-2 * theta0)
            + sigma * sigma * (4 * theta0 * Foundation.exp(-2 * theta0) - 2 * (1 - Foundation.exp(-2 * theta0))) / (4 * theta0 * theta0)
        XCTAssertEqual(mean, 0.3811332, accuracy: 5e-8)
        XCTAssertEqual(derivative, -0.5973182, accuracy: 5e-8)

        let theta = Variable(Tensor<Double>(shape: [paths, 1], repeating: theta0), requiresGrad: true)
        let ou = ClosureSDE<Double>(
            noiseType: .additive(.diagonal), parameters: [theta], drift: { _, x in -(theta * x) },
            diffusion: { _, x in Variable(Tensor(shape: x.shape, repeating: sigma)) })
        let x0 = Tensor<Double>(shape: [paths, 1], repeating: 1)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [paths, 1], seed: 21)
        let grid = TimeGrid(from: 0, to: 1, steps: steps)
        let loss: (SDESolution<Double>) -> Variable<Double> = { square($0.terminal).mean() }

        func perPath(_ method: GradientMethod, _ solver: any SDESolver) throws -> [Double] {
            let gradient = try gradients(
                ou, x0: x0, grid: grid, solver: solver, brownian: tree, method: method, parameters: [theta], loss: loss)
            return (gradient[1] * Double(paths)).scalars
        }
        let backpropagation = try perPath(.backpropagation, EulerMaruyama())
        let adjoint = try perPath(.adjoint(), EulerMaruyama())
        let reversible = try perPath(.reversible, ReversibleHeun())

        let terminal = try solve(ou, x0: Variable(x0), grid: grid, brownian: tree, gradient: .detached).terminal.value
        let (meanEstimate, meanError) = meanAndStandardError((terminal * terminal).scalars)
        print("OU: E[X_T²] ≈ \(meanEstimate) ± \(meanError) (exact \(mean))")
        XCTAssertEqual(meanEstimate, mean, accuracy: 4 * meanError + 0.005)

        for (name, values) in [("backpropagation", backpropagation), ("adjoint", adjoint), ("reversible Heun", reversible)] {
            let (estimate, standardError) = meanAndStandardError(values)
            print("OU: dE/dθ by \(name) ≈ \(estimate) ± \(standardError) (exact \(derivative))")
            XCTAssertEqual(estimate, derivative, accuracy: 4 * standardError + 0.005, name)
        }

        // Finite differences on the same path: moving every θᵢ by ε moves the batch mean by
        // ε Σᵢ ∂L/∂θᵢ, the mean of the per-path derivatives.
        func discreteLoss(_ solver: any SDESolver) -> () throws -> Double {
            { try solve(ou, x0: Variable(x0), grid: grid, solver: solver, brownian: tree, gradient: .detached).terminal.value
                .applying(.square).mean() }
        }
        func shiftAll(_ step: Double, _ loss: () throws -> Double) rethrows -> Double {
            let original = theta.value
            theta.value = original + step
            let plus = try loss()
            theta.value = original - step
            let minus = try loss()
            theta.value = original
            return (plus - minus) / (2 * step)
        }
        let finiteEuler = try shiftAll(1e-6, discreteLoss(EulerMaruyama()))
        let finiteReversible = try shiftAll(1e-6, discreteLoss(ReversibleHeun()))
        let average = { (values: [Double]) in values.reduce(0, +) / Double(values.count) }
        XCTAssertLessThan(relativeError(average(backpropagation), finiteEuler), 1e-6)
        XCTAssertLessThan(relativeError(average(reversible), finiteReversible), 1e-6)
        XCTAssertLessThan(relativeError(average(adjoint), average(backpropagation)), 0.01)
    }

    // MARK: A neural drift with general noise

    /// A 2-state SDE with 3 noise channels: drift W₂ tanh(W₁ x + b₁) + b₂ (8 hidden units)
    /// and the state-dependent general diffusion g(x)ᵢⱼ = Sᵢⱼ (1 + 0.2 tanh xᵢ), read as
    /// Stratonovich. The loss uses the states at t = 0.5 and t = 1 and the running cost
    /// ∫ ½‖x‖² dt.
    struct NeuralSDE {
        let w1 = Variable(fixedTensor([2, 8], seed: 11) * 0.8, requiresGrad: true)
        let b1 = Variable(fixedTensor([1, 8], seed: 12) * 0.3, requiresGrad: true)
        let w2 = Variable(fixedTensor([8, 2], seed: 13) * 0.8, requiresGrad: true)
        let b2 = Variable(fixedTensor([1, 2], seed: 14) * 0.3, requiresGrad: true)
        let s = Variable(fixedTensor([1, 2, 3], seed: 15) * 0.5, requiresGrad: true)

        var parameters: [Variable<Double>] { [w1, b1, w2, b2, s] }

        var sde: ClosureSDE<Double> {
            let (w1, b1, w2, b2, s) = (self.w1, self.b1, self.w2, self.b2, self.s)
            return ClosureSDE(
                noiseType: .general, interpretation: .stratonovich, parameters: parameters,
                drift: { _, x in matmul(tanh(matmul(x, w1) + b1), w2) + b2 },
                diffusion: { _, x in s * (tanh(x) * 0.2 + 1).reshaped(to: [x.shape[0], 2, 1]) })
        }

        let runningCost = RunningCost<Double> { _, x in (x * x).sum(alongAxes: [1]) * 0.5 }
        let leftPointCost = RunningCost<Double>(rule: .leftPoint) { t, x in (x * x).sum(alongAxes: [1]) * (0.5 + t) }

        func loss(_ solution: SDESolution<Double>) -> Variable<Double> {
            (solution.states[0] * solution.states[0]).mean() + solution.states[1].mean() + solution.runningCost!.mean()
        }
    }

    /// Backpropagation through Heun and the reversible method are exact derivatives of
    /// their discrete solutions (checked against finite differences in
    /// `testGradientsMatchFiniteDifferences`), while the adjoint approximates the
    /// continuous derivative. The gap is O(h) for the commutative part of the noise and
    /// O(√h) times the non-commutative part, which the factor 0.2 tanh xᵢ keeps small. The
    /// measured gaps at h = 2⁻⁹ are at most 3e-5; the tolerance is 1e-3. Reversible Heun's
    /// exact gradient must equal backpropagation through the same solver to 1e-9.
    func testNeuralGeneralNoiseMethodsAgree() throws {
        let model = NeuralSDE()
        let batch = 16
        let x0 = fixedTensor([batch, 2], seed: 20)
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 3], seed: 4)
        let grid = TimeGrid(from: 0, to: 1, steps: 512)
        let saveAt = SaveAt.times([0.5, 1])
        func run(_ method: GradientMethod, _ solver: any SDESolver) throws -> [Tensor<Double>] {
            try gradients(
                model.sde, x0: x0, grid: grid, solver: solver, brownian: tree, method: method,
                parameters: model.parameters, saveAt: saveAt, runningCost: model.runningCost, loss: model.loss)
        }
        let backpropagation = try run(.backpropagation, Heun())
        let adjoint = try run(.adjoint(), Heun())
        let adjointReversible = try run(.adjoint(), ReversibleHeun())
        let reversible = try run(.reversible, ReversibleHeun())
        let backpropagationReversible = try run(.backpropagation, ReversibleHeun())

        for index in backpropagation.indices {
            let name = index == 0 ? "x0" : "parameter \(index - 1)"
            XCTAssertLessThan(relativeError(reversible[index], backpropagationReversible[index]), 1e-9, name)
            XCTAssertLessThan(relativeError(adjoint[index], backpropagation[index]), 1e-3, name)
            XCTAssertLessThan(relativeError(adjointReversible[index], reversible[index]), 1e-3, name)
            print("neural SDE, \(name): adjoint vs backpropagation \(relativeError(adjoint[index], backpropagation[index])), "
                + "reversible vs Heun backpropagation \(relativeError(reversible[index], backpropagation[index]))")
        }
    }

    /// Backpropagation through every solver that supports it, and the reversible method,
    /// against central finite differences of the same discrete solve (relative error
    /// below 1e-6), with saved intermediate states and a running cost, forwards and
    /// backwards in time, with the trapezoidal and the left-point rule for the cost.
    func testGradientsMatchFiniteDifferences() throws {
        let model = NeuralSDE()
        let batch = 2
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 3], seed: 6)
        let cases: [(any SDESolver, GradientMethod)] = [
            (EulerMaruyama(), .backpropagation), (Heun(), .backpropagation), (ReversibleHeun(), .backpropagation),
            (ReversibleHeun(), .reversible),
        ]
        for (solver, method) in cases {
            for (t0, t1, cost) in [(0.0, 1.0, model.runningCost), (1.0, 0.0, model.runningCost), (0.0, 1.0, model.leftPointCost)] {
                // Euler–Maruyama needs an Itô SDE; the Stratonovich neural SDE's conversion
                // would need an Itô correction, so relabel its noise as Itô instead.
                let base = model.sde
                let sde = solver.interpretation == .ito
                    ? ClosureSDE(
                        noiseType: .general, interpretation: .ito, parameters: model.parameters,
                        drift: base.drift, diffusion: base.diffusion)
                    : base
                let result = checkGradients(at: [fixedTensor([batch, 2], seed: 30)], parameters: model.parameters) { inputs in
                    let solution = try! solve(
                        sde, x0: inputs[0], from: t0, to: t1, steps: 6, solver: solver, brownian: tree, gradient: method,
                        saveAt: .times([0.5, t1]), runningCost: cost)
                    return Variable.concatenate([solution.states[0], solution.states[1], solution.runningCost!], alongAxis: 1)
                }
                XCTAssertLessThan(
                    result.maxRelativeError, 1e-6, "\(solver.name), \(method), from \(t0) to \(t1), \(cost.rule): \(result)")
            }
        }
        // SRA1 needs additive noise: the same drift with the constant diffusion S.
        let additive = ClosureSDE<Double>(
            noiseType: .additive(.general), parameters: model.parameters, drift: model.sde.drift,
            diffusion: { [s = model.s] _, x in s + Variable(Tensor(zeros: [x.shape[0], 2, 3])) })
        let spaceTimeTree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 3], seed: 6, levyArea: .spaceTime)
        let result = checkGradients(at: [fixedTensor([batch, 2], seed: 30)], parameters: model.parameters) { inputs in
            try! solve(additive, x0: inputs[0], from: 0, to: 1, steps: 6, solver: SRA1(), brownian: spaceTimeTree).terminal
        }
        XCTAssertLessThan(result.maxRelativeError, 1e-6, "SRA1: \(result)")
    }

    /// The adjoint of a solve backwards in time (t from 1 to 0, as when sampling a reverse
    /// diffusion) with a running cost. The running cost enters the adjoint with the sign
    /// of the direction, so a sign error would show here. Additive OU noise makes Euler–
    /// Maruyama's strong order 1, and the adjoint must match backpropagation to 1 % at
    /// h = 2⁻⁸.
    func testAdjointBackwardsInTimeWithRunningCost() throws {
        let ou = OrnsteinUhlenbeck<Double>(theta: 0.8, mean: 0.3, sigma: 0.6)
        let batch = 32
        let x0 = fixedTensor([batch, 2], seed: 40) + 1
        let tree = VirtualBrownianTree<Double>(from: 0, to: 1, shape: [batch, 2], seed: 41)
        let loss: (SDESolution<Double>) -> Variable<Double> = { ($0.terminal * $0.terminal).mean() + $0.runningCost!.mean() }
        let grid = TimeGrid(from: 1, to: 0, steps: 256)
        for rule in [RunningCost<Double>.Rule.trapezoid, .leftPoint] {
            let cost = RunningCost<Double>(rule: rule) { t, x in (x * x).sum(alongAxes: [1]) * (0.5 + t) }
            let backpropagation = try gradients(
                ou, x0: x0, grid: grid, solver: EulerMaruyama(), brownian: tree, method: .backpropagation,
                parameters: ou.parameters, runningCost: cost, loss: loss)
            let adjoint = try gradients(
                ou, x0: x0, grid: grid, solver: EulerMaruyama(), brownian: tree, method: .adjoint(),
                parameters: ou.parameters, runningCost: cost, loss: loss)
            for index in backpropagation.indices {
                XCTAssertLessThan(relativeError(adjoint[index], backpropagation[index]), 0.01, "\(rule), input \(index)")
            }
        }
    }
}
