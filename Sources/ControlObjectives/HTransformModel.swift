import NeuralNetworks
import Tensors

/// A learned generalised h-transform h_θ(t, x) in score units: the correction that, added
/// to the prior score ∇ ln p_t, gives the conditional score ∇ ln p_t(x | y).
///
/// The control of the controlled reverse SDE is u = σ_t h_θ, so the running cost
/// ½ ∫ ‖u‖² dt of the stochastic control objectives is ½ ∫ σ_t² ‖h_θ‖² dt.
///
/// `x` is `[batch, d]` and the result is `[batch, d]`. `context` is `[batch, c]` for a
/// model amortised over observations (row i conditions sample i, usually on its
/// observation yᵢ) and nil for a model fitted to one observation.
public protocol HTransformModel<Scalar>: Module {
    associatedtype Scalar

    /// Evaluates h_θ(t, x), differentiable in `x` and in the parameters.
    func callAsFunction(_ t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?) -> Variable<Scalar>
}

extension HTransformModel {
    /// Evaluates h_θ(t, x) for a model fitted to one observation.
    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        self(t, x, context: nil)
    }
}

/// The zero h-transform: the unconditional reverse SDE of the prior.
public final class ZeroHTransform<Scalar: TensorScalar>: HTransformModel {
    public init() {}

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] { [] }

    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?) -> Variable<Scalar> {
        Variable(Tensor(zeros: x.shape))
    }
}
