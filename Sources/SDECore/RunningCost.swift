import Tensors

/// A running cost r(t, x) ≥ 0 integrated along a solve, ∫ r(t, X_t) |dt|, for losses such
/// as the control energy ½ ∫ ‖u‖² dt.
///
/// `function` maps (t, x of shape `[batch, d]`) to `[batch, 1]`. List in `parameters`
/// the variables it reads that the SDE does not already list, so that the adjoint and
/// reversible gradient methods differentiate with respect to them. The integral is a
/// quadrature on the solver's grid (see `Rule`), whichever solver produced the xₙ. Every
/// gradient method supports both rules: backpropagation and reversible Heun
/// differentiate the sum itself, and the adjoint differentiates the integral.
public struct RunningCost<Scalar: TensorScalar> {
    /// The quadrature rule for ∫ r |dt| on the grid t₀ … t_N.
    public enum Rule: Sendable {
        /// ½ (r(tₙ, xₙ) + r(tₙ₊₁, xₙ₊₁)) |h|, second order for smooth paths.
        case trapezoid
        /// r(tₙ, xₙ) |h|, the Itô sum. For Euler–Maruyama paths, E[½ Σₙ ‖uₙ‖² |h|] is
        /// exactly the relative entropy between the discrete-time chains.
        case leftPoint
    }

    public let parameters: [Variable<Scalar>]
    public let rule: Rule
    private let function: (Double, Variable<Scalar>) -> Variable<Scalar>

    public init(
        parameters: [Variable<Scalar>] = [], rule: Rule = .trapezoid,
        _ function: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>
    ) {
        self.parameters = parameters
        self.rule = rule
        self.function = function
    }

    /// Returns r(t, x), of shape `[batch, 1]`.
    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        let value = function(t, x)
        precondition(
            value.shape == [x.shape[0], 1],
            "RunningCost: r(t, x) has shape \(value.shape); expected [batch, 1] = [\(x.shape[0]), 1]")
        return value
    }

    /// Returns one step's increment of the integral from x₀ at t₀ to x₁ at t₁ under
    /// `rule`, with r(t₀, x₀) = `rateAtStart` already evaluated.
    func increment(
        rateAtStart: Variable<Scalar>, from t0: Double, to t1: Double, end x1: Variable<Scalar>
    ) -> Variable<Scalar> {
        let width = Swift.abs(t1 - t0)
        switch rule {
        case .leftPoint:
            return rateAtStart * Scalar(width)
        case .trapezoid:
            return (rateAtStart + self(t1, x1)) * Scalar(0.5 * width)
        }
    }
}
