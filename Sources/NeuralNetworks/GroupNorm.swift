import Tensors

/// Group normalisation (Wu and He, 2018):
/// `y[n, c, …] = γ[c] (x[n, c, …] - μ[n, g]) / √(σ²[n, g] + ε) + β[c]`.
///
/// The `C` channels form `groups` groups of `C / groups` consecutive channels. The mean
/// `μ` and the biased variance `σ²` are taken over a group's channels and all spatial
/// positions of one sample, as in PyTorch's `nn.GroupNorm`. The statistics never mix samples, so
/// the layer behaves the same in training and evaluation. Input `[N, C, ...]`, output of
/// the same shape. Parameter names: `scale` (γ, initially 1) and `offset` (β, initially 0).
public final class GroupNorm<Scalar: TensorScalar>: Layer {
    public let groups: Int
    public let epsilon: Scalar
    /// γ, `[C]`.
    public let scale: Variable<Scalar>
    /// β, `[C]`.
    public let offset: Variable<Scalar>

    public var channels: Int { scale.shape[0] }

    /// Creates a layer from its parameters, which become trainable leaves.
    public init(groups: Int, scale: Tensor<Scalar>, offset: Tensor<Scalar>, epsilon: Scalar = 1e-5) {
        precondition(scale.rank == 1, "GroupNorm: scale of shape \(scale.shape) must be rank 1, [C]")
        precondition(
            offset.shape == scale.shape,
            "GroupNorm: offset of shape \(offset.shape) must match scale of shape \(scale.shape)")
        precondition(
            groups > 0 && scale.shape[0].isMultiple(of: groups),
            "GroupNorm: \(scale.shape[0]) channels do not split into \(groups) equal groups")
        precondition(epsilon > 0, "GroupNorm: epsilon \(epsilon) must be positive")
        self.groups = groups
        self.epsilon = epsilon
        self.scale = Variable(scale, requiresGrad: true)
        self.offset = Variable(offset, requiresGrad: true)
    }

    /// Creates a layer for `channels` channels with γ = 1 and β = 0, as PyTorch does.
    public convenience init(groups: Int, channels: Int, epsilon: Scalar = 1e-5) {
        self.init(
            groups: groups, scale: Tensor(shape: [channels], repeating: 1), offset: Tensor(zeros: [channels]),
            epsilon: epsilon)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        [("scale", scale), ("offset", offset)]
    }

    public func callAsFunction(_ input: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            input.rank >= 2 && input.shape[1] == channels,
            "GroupNorm: input of shape \(input.shape) must be [N, \(channels), ...]")
        return groupNorm(input, groups: groups, scale: scale, offset: offset, epsilon: epsilon)
    }

    /// Applies the layer, then `activation`. SiLU runs fused with the normalisation in one
    /// pass over the data (`groupNormSiLU`) and gives the same values. The other
    /// activations run after the layer.
    public func callAsFunction(_ input: Variable<Scalar>, activation: Activation) -> Variable<Scalar> {
        guard activation == .silu else { return activation(self(input)) }
        precondition(
            input.rank >= 2 && input.shape[1] == channels,
            "GroupNorm: input of shape \(input.shape) must be [N, \(channels), ...]")
        return groupNormSiLU(input, groups: groups, scale: scale, offset: offset, epsilon: epsilon)
    }
}
