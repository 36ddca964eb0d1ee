import Tensors

/// An element-wise activation function, chosen by value (for example in `MLP`).
///
/// Each case applies the differentiable function of the same name from `Tensors`:
/// `silu(x) = x σ(x)`, `tanh(x)`, `relu(x) = max(x, 0)`, and `identity(x) = x`.
public enum Activation: Sendable, Equatable {
    case silu
    case tanh
    case relu
    case identity

    /// Applies the activation to every element of `x`.
    public func callAsFunction<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
        switch self {
        case .silu: Tensors.silu(x)
        case .tanh: Tensors.tanh(x)
        case .relu: Tensors.relu(x)
        case .identity: x
        }
    }

    /// The element-wise function of the activation, nil for the identity.
    var elementFunction: UnaryFunction? {
        switch self {
        case .silu: .silu
        case .tanh: .tanh
        case .relu: .relu
        case .identity: nil
        }
    }
}
