import Tensors

/// A residual block conditioned on a time embedding, as in DDPM's U-Net:
///
///     h = conv1(SiLU(norm1(x))) + P e
///     y = conv2(SiLU(norm2(h))) + skip(x)
///
/// `conv1` and `conv2` are 3×3 convolutions with padding 1, and `norm1` and `norm2`
/// group normalisations. `P` is a linear projection of the time features `e`, which the
/// caller has already passed through SiLU, and `P e` is added to every pixel of its
/// channel. `skip` is a 1×1 convolution when the channel count changes, else the
/// identity. There is no dropout.
///
/// Input `x` `[N, inputChannels, H, W]` and `e` `[N, timeFeatures]`; output
/// `[N, outputChannels, H, W]`. Parameter names: `norm1.*`, `conv1.*`,
/// `timeProjection.*`, `norm2.*`, `conv2.*` and, when present, `skip.*`.
public final class TimeConditionedResidualBlock<Scalar: TensorScalar>: Module {
    public let norm1: GroupNorm<Scalar>
    public let conv1: Conv2D<Scalar>
    public let timeProjection: Linear<Scalar>
    public let norm2: GroupNorm<Scalar>
    public let conv2: Conv2D<Scalar>
    /// The 1×1 convolution on the residual path, nil when input and output channels agree.
    public let skip: Conv2D<Scalar>?

    /// Creates a block from its layers, whose channel counts must chain.
    public init(
        norm1: GroupNorm<Scalar>, conv1: Conv2D<Scalar>, timeProjection: Linear<Scalar>,
        norm2: GroupNorm<Scalar>, conv2: Conv2D<Scalar>, skip: Conv2D<Scalar>?
    ) {
        let (input, output) = (conv1.inputChannels, conv1.outputChannels)
        precondition(
            norm1.channels == input && timeProjection.outputSize == output && norm2.channels == output
                && conv2.inputChannels == output && conv2.outputChannels == output,
            "TimeConditionedResidualBlock: layer channel counts do not chain from \(input) to \(output)")
        precondition(
            skip.map { $0.inputChannels == input && $0.outputChannels == output } ?? (input == output),
            "TimeConditionedResidualBlock: a block from \(input) to \(output) channels needs a 1×1 skip convolution exactly when they differ")
        self.norm1 = norm1
        self.conv1 = conv1
        self.timeProjection = timeProjection
        self.norm2 = norm2
        self.conv2 = conv2
        self.skip = skip
    }

    /// Creates a block with PyTorch's default initialisation, drawing `conv1`,
    /// `timeProjection`, `conv2` and `skip` from `generator` in that order.
    public convenience init(
        inputChannels: Int, outputChannels: Int, timeFeatures: Int, groups: Int,
        using generator: inout PhiloxRandom
    ) {
        let conv1 = Conv2D<Scalar>(
            inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1,
            using: &generator)
        let timeProjection = Linear<Scalar>(inputSize: timeFeatures, outputSize: outputChannels, using: &generator)
        let conv2 = Conv2D<Scalar>(
            inputChannels: outputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1,
            using: &generator)
        let skip = inputChannels == outputChannels
            ? nil
            : Conv2D<Scalar>(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, using: &generator)
        self.init(
            norm1: GroupNorm(groups: groups, channels: inputChannels), conv1: conv1, timeProjection: timeProjection,
            norm2: GroupNorm(groups: groups, channels: outputChannels), conv2: conv2, skip: skip)
    }

    public var inputChannels: Int { conv1.inputChannels }
    public var outputChannels: Int { conv1.outputChannels }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        norm1.namedParameters(prefix: "norm1") + conv1.namedParameters(prefix: "conv1")
            + timeProjection.namedParameters(prefix: "timeProjection")
            + norm2.namedParameters(prefix: "norm2") + conv2.namedParameters(prefix: "conv2")
            + (skip?.namedParameters(prefix: "skip") ?? [])
    }

    /// Applies the block to `x` with time features `e = SiLU(embedding)`.
    public func callAsFunction(_ x: Variable<Scalar>, timeFeatures e: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            e.rank == 2 && e.shape[0] == x.shape[0],
            "TimeConditionedResidualBlock: time features of shape \(e.shape) must be [\(x.shape[0]), features]")
        var h = conv1(norm1(x, activation: .silu))

        let timeShift = timeProjection(e).reshaped(to: [x.shape[0], outputChannels, 1, 1])
        h = h + timeShift

        h = conv2(norm2(h, activation: .silu))
        return h + (skip.map { $0(x) } ?? x)
    }
}
