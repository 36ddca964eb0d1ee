import NeuralNetworks
import SDECore
import Tensors

/// The rule that turns the running cost ½ ∫ σ_t² ‖h_t‖² dt into a sum over the solver's steps.
public enum RunningCostQuadrature: Sendable {
    /// ½ Σₙ ‖u(tₙ, xₙ)‖² δₙ: for Euler–Maruyama paths, E[½ Σₙ ‖uₙ‖² δₙ] is exactly the
    /// relative entropy KL(Q^u ‖ P) of the discrete-time chains. Backpropagation and the
    /// checkpointed adjoint only.
    case leftPoint
    /// ½ Σₙ ½ (‖uₙ‖² + ‖uₙ₊₁‖²) δₙ, accumulated by `solve` as a `RunningCost`, which every
    /// gradient method (the adjoint and reversible Heun included) differentiates.
    case trapezoid
}

extension ControlProblem {
    /// Evaluates the relative-entropy (stochastic control) objective
    /// J(h) = E[½ ∫ σ_t² ‖h_t(X_t)‖² dt − ln ℓ(X₀)] on paths of Q^h, with gradients through
    /// the paths.
    ///
    /// J(h) = KL(Q^h ‖ P) − E_{Q^h}[ln ℓ(X₀)] = KL(Q^h ‖ Q̃) − ln Z for the target path law
    /// dQ̃/dP = ℓ(X₀)/Z, so its minimiser is h* and J(h*) = −E[ln ℓ_T(X_T)] over the start law.
    ///
    /// - Parameters:
    ///   - gradient: `.backpropagation` records the solver's graph (memory grows with the
    ///     steps) and gives the exact gradient of the discrete objective.
    ///     `.checkpointed(checkpoints:)`, the discrete adjoint with binomial checkpointing,
    ///     gives the same gradient to rounding while storing at most C states (default
    ///     ⌈log₂ N⌉) and recomputing the rest. `.adjoint` solves the stochastic adjoint SDE
    ///     backwards on the same Brownian path, reconstructing the state as it goes: memory
    ///     is constant in the steps and the gradient is that of the continuous objective up
    ///     to discretisation error. `.reversible` (with `ReversibleHeun`) is exact and
    ///     constant in memory. `.detached` returns the value with no gradients.
    ///   - quadrature: the running-cost rule; by default left-point for backpropagation, the
    ///     checkpointed adjoint and detached evaluation, trapezoid otherwise.
    ///   - solver: the forward solver, Euler–Maruyama by default.
    ///   - checkpointInterval: for `.adjoint` only, keep every k-th state of the forward pass
    ///     and restart the backward reconstruction of the state from it. The reverse-time
    ///     diffusion contracts towards the data, so reconstructing its states backwards in
    ///     time amplifies the solver's local errors. On the d = 2 Gaussian problem of the
    ///     tests, at 192 to 48 steps, the gradient was 40 % to 88 % off backpropagation's
    ///     without stored states and 1.4 % to 23 % with one every 8 steps, which costs N / k
    ///     stored states. Nil (the default) stores none.
    /// - Throws: `SDESetupError` when the solver, gradient method and quadrature do not fit.
    public func relativeEntropy<Model: HTransformModel>(
        _ model: Model, randomness: PathRandomness<Scalar>, gradient: GradientMethod = .backpropagation,
        quadrature: RunningCostQuadrature? = nil, context: Tensor<Scalar>? = nil,
        solver: any SDESolver = EulerMaruyama(), checkpointInterval: Int? = nil
    ) throws -> ControlLossEvaluation<Scalar> where Model.Scalar == Scalar {
        if checkpointInterval != nil && !isStochasticAdjoint(gradient) {
            throw SDESetupError("checkpointInterval applies to the stochastic adjoint .adjoint only; pass nil")
        }
        let quadrature = quadrature ?? defaultQuadrature(for: gradient)
        let sde = controlledSDE(model, context: context)
        let parameters = model.parameters
        let batch = randomness.batch
        let start = Variable(randomness.start)

        let terminal: Variable<Scalar>
        let runningCost: Variable<Scalar>
        switch quadrature {
        case .leftPoint:
            if case .adjoint = gradient {
                throw SDESetupError("The adjoint integrates running costs by the trapezoidal rule; pass quadrature: .trapezoid")
            }
            if case .reversible = gradient {
                throw SDESetupError("Reversible Heun integrates running costs by the trapezoidal rule; pass quadrature: .trapezoid")
            }
            if case .checkpointed = gradient {
                // Through `solve`'s running cost, which the checkpointed adjoint differentiates.
                // The sum is the one that the step observer below accumulates.
                let energy = RunningCost<Scalar>(parameters: parameters, rule: .leftPoint) { t, x in
                    let u = control(model, at: t, x, context: context)
                    return (u * u).sum(alongAxes: [1]) * 0.5
                }
                let solution = try solve(
                    sde, x0: start, grid: grid, solver: solver, brownian: randomness.brownian, gradient: gradient,
                    runningCost: energy)
                terminal = solution.terminal
                runningCost = solution.runningCost!
            } else {
                var cost = Variable(Tensor<Scalar>(zeros: [batch, 1]))
                let solution = try solve(
                    sde, x0: start, grid: grid, solver: solver, brownian: randomness.brownian, gradient: gradient
                ) { step in
                    let u = control(model, at: step.t0, step.x0, context: context)
                    cost = cost + (u * u).sum(alongAxes: [1]) * Scalar(0.5 * Swift.abs(step.dt))
                }
                terminal = solution.terminal
                runningCost = cost
            }
        case .trapezoid:
            let energy = controlEnergy(parameters: parameters) { t, x in control(model, at: t, x, context: context) }
            var saveTimes = [grid.t1]
            if let checkpointInterval {
                precondition(checkpointInterval >= 1, "ControlProblem.relativeEntropy: checkpoint interval \(checkpointInterval) must be positive")
                saveTimes = stride(from: checkpointInterval, to: grid.stepCount, by: checkpointInterval).map { grid.points[$0] } + saveTimes
            }
            let solution = try solve(
                sde, x0: start, grid: grid, solver: solver, brownian: randomness.brownian, gradient: gradient,
                saveAt: .times(saveTimes), runningCost: energy)
            terminal = solution.terminal
            runningCost = solution.runningCost!
        }

        let pathCosts = runningCost.reshaped(to: [batch]) + terminalCost(terminal, context: context)
        let loss = pathCosts.mean()
        let gradients: [Tensor<Scalar>]
        if case .detached = gradient {
            gradients = parameters.map { Tensor(zeros: $0.shape) }
        } else {
            gradients = Tensors.gradients(of: loss, withRespectTo: parameters)
        }
        return ControlLossEvaluation(
            loss: Double(loss.value.scalar), gradients: gradients, samples: terminal.value, pathCosts: pathCosts.value)
    }

    private func defaultQuadrature(for gradient: GradientMethod) -> RunningCostQuadrature {
        switch gradient {
        case .backpropagation, .detached, .checkpointed: .leftPoint
        case .adjoint, .reversible: .trapezoid
        }
    }

    private func isStochasticAdjoint(_ gradient: GradientMethod) -> Bool {
        if case .adjoint = gradient { return true }
        return false
    }
}
