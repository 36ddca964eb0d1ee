import Tensors

// Path-measure utilities in the control form of Girsanov's theorem.
//
// Let P be the law of dX = b dt + σ dW and Q^u that of dX = (b + σu) dt + σ dW, with
// the same diffusion σ (`[batch, d, m]`, or `[batch, d]` for diagonal noise) and a
// control u of shape `[batch, m]`. Along a path simulated under a third drift b + σv,
// the P-Brownian increments are v dt + dW, so
//
//     log dQ^u/dP = ∫ u · (v dt + dW) − ½ ∫ ‖u‖² dt,
//
// and under Q^u itself (v = u) the expected value is KL(Q^u ‖ P) = E_Q ½ ∫ ‖u‖² dt.
// Integrals are Itô sums with u and v evaluated at the left end of each step, whichever
// solver produced the path.

/// Returns one step's term of log dQ^u/dP, `[batch, 1]`:
/// u · (v Δt + ΔW) − ½ ‖u‖² Δt for a forward step (Δt > 0).
///
/// For a step backwards in time (Δt < 0), the reverse-time Brownian motion of the solve
/// has increments ΔW over the duration |Δt| while the drift is multiplied by Δt, so the
/// term is −u · (v Δt + ΔW) − ½ ‖u‖² |Δt| (that is, with −u and −v as the reverse-time
/// controls). `samplingControl` v is nil for paths simulated under P.
public func girsanovLogRatioIncrement<Scalar>(
    control u: Variable<Scalar>, samplingControl v: Variable<Scalar>? = nil, dt: Double, dW: Tensor<Scalar>
) -> Variable<Scalar> {
    precondition(u.shape == dW.shape, "girsanovLogRatioIncrement: control of shape \(u.shape) does not match noise \(dW.shape)")
    let sign = Scalar(dt >= 0 ? 1 : -1)
    var driver = Variable(dW)
    if let v {
        precondition(v.shape == dW.shape, "girsanovLogRatioIncrement: sampling control of shape \(v.shape) does not match noise \(dW.shape)")
        driver = driver + v * Scalar(dt)
    }
    let stochastic = (u * driver).sum(alongAxes: [1]) * sign
    let energy = (u * u).sum(alongAxes: [1]) * Scalar(0.5 * Swift.abs(dt))
    return stochastic - energy
}

/// Returns log dQ^u/dP along a recorded path, `[batch, 1]`: the sum of
/// `girsanovLogRatioIncrement` over its steps with u = control(tₙ, xₙ) and, when given,
/// v = samplingControl(tₙ, xₙ).
///
/// Gradients flow to whatever the controls read. If the path's states are part of a
/// recorded graph, they flow through the states too, so call `path.detached()` first for
/// the stop-gradient path of log-variance losses. The graph spans all steps; use
/// `SDEPath.gradientOfSumOverSteps` with `girsanovLogRatioIncrement` to differentiate one
/// step at a time instead.
public func logRadonNikodym<Scalar>(
    along path: SDEPath<Scalar>, control: (Double, Variable<Scalar>) -> Variable<Scalar>,
    samplingControl: ((Double, Variable<Scalar>) -> Variable<Scalar>)? = nil
) -> Variable<Scalar> {
    var total: Variable<Scalar>?
    for index in 0..<path.stepCount {
        let step = path.step(index)
        let term = girsanovLogRatioIncrement(
            control: control(step.t0, step.x0), samplingControl: samplingControl?(step.t0, step.x0), dt: step.dt,
            dW: step.increment.dW)
        total = total.map { $0 + term } ?? term
    }
    return total!
}

/// Returns the running cost ½ ‖u(t, x)‖², whose integral along a path simulated under
/// Q^u is the path KL divergence ½ ∫ ‖u‖² dt (its expectation is KL(Q^u ‖ P)).
public func controlEnergy<Scalar>(
    parameters: [Variable<Scalar>] = [], control: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>
) -> RunningCost<Scalar> {
    RunningCost(parameters: parameters) { t, x in
        let u = control(t, x)
        return (u * u).sum(alongAxes: [1]) * 0.5
    }
}

/// Returns the control u with b_Q − b_P = σu for diagonal noise, u = (b_Q − b_P) / σ
/// element-wise, `[batch, d]`; σ must be non-zero.
public func controlFromDrifts<Scalar>(
    reference bP: Variable<Scalar>, target bQ: Variable<Scalar>, diagonalDiffusion sigma: Variable<Scalar>
) -> Variable<Scalar> {
    precondition(
        bP.shape == bQ.shape && bQ.shape == sigma.shape,
        "controlFromDrifts: drifts \(bP.shape), \(bQ.shape) and diffusion \(sigma.shape) must share the shape [batch, d]")
    return (bQ - bP) / sigma
}

/// Accumulates log dQ^u/dP during a solve: pass `accumulator.observe` as `solve`'s
/// `onStep`. The sum records a graph only when the solve does (backpropagation); for a
/// detached solve it is a constant.
public final class LogRadonNikodymAccumulator<Scalar: TensorScalar> {
    private let control: (Double, Variable<Scalar>) -> Variable<Scalar>
    private let samplingControl: ((Double, Variable<Scalar>) -> Variable<Scalar>)?
    /// The sum so far, `[batch, 1]`; nil before the first step.
    public private(set) var value: Variable<Scalar>?

    public init(
        control: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>,
        samplingControl: ((Double, Variable<Scalar>) -> Variable<Scalar>)? = nil
    ) {
        self.control = control
        self.samplingControl = samplingControl
    }

    public func observe(_ step: SDEStep<Scalar>) {
        let term = girsanovLogRatioIncrement(
            control: control(step.t0, step.x0), samplingControl: samplingControl?(step.t0, step.x0), dt: step.dt,
            dW: step.increment.dW)
        value = value.map { $0 + term } ?? term
    }
}
