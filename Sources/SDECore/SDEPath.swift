import Tensors

/// One solver step as seen by an observer: the states at both ends and the Brownian
/// increment between them.
public struct SDEStep<Scalar: TensorScalar> {
    public let index: Int
    public let t0: Double
    public let t1: Double
    /// The state at t0, `[batch, d]`; a constant unless gradients are being recorded.
    public let x0: Variable<Scalar>
    /// The state at t1, `[batch, d]`.
    public let x1: Variable<Scalar>
    public let increment: BrownianIncrement<Scalar>

    /// The signed step t1 − t0.
    public var dt: Double { t1 - t0 }
}

/// A recorded trajectory: the grid, the state at every grid point and the Brownian
/// increment of every step. Memory grows with the number of steps.
public struct SDEPath<Scalar: TensorScalar> {
    /// t₀ … t_N.
    public var times: [Double]
    /// x₀ … x_N, each `[batch, d]`.
    public var states: [Variable<Scalar>]
    /// ΔW₀ … ΔW_{N−1}, each `[batch, m]`.
    public var increments: [BrownianIncrement<Scalar>]

    public var stepCount: Int { increments.count }

    /// Returns the step from `times[index]` to `times[index + 1]`.
    public func step(_ index: Int) -> SDEStep<Scalar> {
        SDEStep(
            index: index, t0: times[index], t1: times[index + 1], x0: states[index], x1: states[index + 1],
            increment: increments[index])
    }

    /// Returns the same path with every state cut from the graph.
    public func detached() -> SDEPath {
        SDEPath(times: times, states: states.map { $0.detached() }, increments: increments)
    }
}

extension SDEPath {
    /// Returns Σₙ term(stepₙ) evaluated without recording, `[batch, k]`, where `term`
    /// returns `[batch, k]` for each step.
    public func sumOverSteps(_ term: (SDEStep<Scalar>) -> Variable<Scalar>) -> Tensor<Scalar> {
        withoutRecording {
            var total: Tensor<Scalar>?
            for index in 0..<stepCount {
                let value = term(step(index).detachedStates()).value
                total = total.map { $0 + value } ?? value
            }
            return total!
        }
    }

    /// Returns the gradient of ⟨cotangent, Σₙ term(stepₙ)⟩ with respect to `parameters`,
    /// differentiating one step at a time with the states held fixed (detached).
    ///
    /// Only one step's graph is alive at a time, so memory does not grow with the number
    /// of steps beyond the recorded path itself. This is the gradient that losses on
    /// detached paths need (log-variance and trajectory-balance losses), where x is a
    /// constant and only the per-step terms depend on the parameters.
    public func gradientOfSumOverSteps(
        cotangent: Tensor<Scalar>, parameters: [Variable<Scalar>],
        _ term: (SDEStep<Scalar>) -> Variable<Scalar>
    ) -> [Tensor<Scalar>] {
        var totals = parameters.map { Tensor<Scalar>(zeros: $0.shape) }
        for index in 0..<stepCount {
            let current = step(index).detachedStates()
            let gradients = GradientRecording.withRecording {
                Tensors.gradients(of: term(current), withRespectTo: parameters, cotangent: cotangent)
            }
            for position in totals.indices {
                totals[position].addScaled(gradients[position], by: 1)
            }
        }
        return totals
    }
}

extension SDEStep {
    func detachedStates() -> SDEStep {
        SDEStep(index: index, t0: t0, t1: t1, x0: x0.detached(), x1: x1.detached(), increment: increment)
    }
}
