import Tensors

/// The value and gradient of a control objective on one batch of paths.
public struct ControlLossEvaluation<Scalar: TensorScalar> {
    /// The batch estimate of the objective.
    public var loss: Double
    /// ∂loss/∂θ for the model's parameters, in their order, followed by those of the
    /// log-normaliser model when the objective has one.
    public var gradients: [Tensor<Scalar>]
    /// The paths' end points X₀, `[batch, d]`.
    public var samples: Tensor<Scalar>
    /// Per path: ½ ∫ ‖u‖² dt − ln ℓ(X₀) for the relative entropy, log dQ^u/dP − ln ℓ(X₀)
    /// for the detached objectives; `[batch]`.
    public var pathCosts: Tensor<Scalar>
}
