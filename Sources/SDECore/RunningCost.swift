import Tensors

/// A running cost r(t, x) ≥ 0 integrated along a solve, ∫ r(t, X_t) |dt|, for losses such
/// as the control energy ½ ∫ ‖u‖² dt.
///
/// `function` maps (t, x of shape `[batch, d]`) to `[batch, 1]`. List in `parameters`
/// the variables it reads that the SDE does not already list, so that the adjoint and
/// reversible gradient methods differentiate with respect to them. The integral is
/// taken by the trapezoidal rule on the solver's grid, ½ (r(tₙ, xₙ) + r(tₙ₊₁, xₙ₊₁)) |h|,
/// whichever solver produced the xₙ.
public struct RunningCost<Scalar: TensorScalar> {
    public let parameters: [Variable<Scalar>]
    private let function: (Double, Variable<Scalar>) -> Variable<Scalar>

    public init(parameters: [Variable<Scalar>] = [], _ function: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>) {
        self.parameters = parameters
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

    /// Returns the trapezoidal increment ½ (r₀ + r₁) |h|.
    func trapezoid(_ r0: Variable<Scalar>, _ r1: Variable<Scalar>, step h: Double) -> Variable<Scalar> {
        (r0 + r1) * Scalar(0.5 * Swift.abs(h))
    }
}
