import Tensors

/// A two-dimensional convolution layer: `y = conv2d(x, W, stride, padding) + b`.
///
/// Cross-correlation as in PyTorch's `nn.Conv2d`:
/// `y[n, o, i, j] = b[o] + Σ_{c, a, b} W[o, c, a, b] x[n, c, i s - p + a, j s - p + b]`,
/// with zero padding `p` and stride `s`. The input is `[N, C, H, W]` and the output
/// `[N, O, (H + 2p - kH) / s + 1, (W + 2p - kW) / s + 1]`, rounding down. The weight has
/// PyTorch's layout `[O, C, kH, kW]`. Parameter names: `weight`, `bias`.
public final class Conv2D<Scalar: TensorScalar>: Layer {
    /// The filters `W`, `[outputChannels, inputChannels, kernelHeight, kernelWidth]`.
    public let weight: Variable<Scalar>
    /// The bias `b`, `[outputChannels]`, or nil for a layer without one.
    public let bias: Variable<Scalar>?
    public let stride: Int
    public let padding: Int

    public var inputChannels: Int { weight.shape[1] }
    public var outputChannels: Int { weight.shape[0] }

    /// Creates a layer from its parameters, which become trainable leaves.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>?, stride: Int = 1, padding: Int = 0) {
        precondition(
            weight.rank == 4,
            "Conv2D: weight of shape \(weight.shape) must be rank 4, [outputChannels, inputChannels, kH, kW]")
        if let bias {
            precondition(
                bias.shape == [weight.shape[0]],
                "Conv2D: bias of shape \(bias.shape) must be [\(weight.shape[0])], one entry per output channel")
        }
        precondition(stride >= 1, "Conv2D: stride \(stride) must be at least 1")
        precondition(padding >= 0, "Conv2D: padding \(padding) must be non-negative")
        self.weight = Variable(weight, requiresGrad: true)
        self.bias = bias.map { Variable($0, requiresGrad: true) }
        self.stride = stride
        self.padding = padding
    }

    /// Creates a layer with square `kernelSize × kernelSize` filters drawn from `generator`.
    ///
    /// - Parameters:
    ///   - padding: zeros added on each side; `kernelSize / 2` with stride 1 keeps the
    ///     size of odd kernels ("same" padding).
    ///   - initialization: the distribution of `W` and `b`, with
    ///     `fanIn = inputChannels · kernelSize²`, by default PyTorch's
    ///     U(-1/√fanIn, 1/√fanIn).
    ///   - generator: the source of the draws; the same state gives the same parameters.
    public convenience init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        useBias: Bool = true, initialization: ParameterInitialization = .pytorchDefault,
        using generator: inout PhiloxRandom
    ) {
        precondition(
            inputChannels > 0 && outputChannels > 0 && kernelSize > 0,
            "Conv2D: inputChannels \(inputChannels), outputChannels \(outputChannels) and kernelSize \(kernelSize) must be positive")
        let (weight, bias): (Tensor<Scalar>, Tensor<Scalar>) = initialization.makeParameters(
            weightShape: [outputChannels, inputChannels, kernelSize, kernelSize], biasSize: outputChannels,
            fanIn: inputChannels * kernelSize * kernelSize, using: &generator)
        self.init(weight: weight, bias: useBias ? bias : nil, stride: stride, padding: padding)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            input.rank == 4 && input.shape[1] == inputChannels,
            "Conv2D: input of shape \(input.shape) must be [N, \(inputChannels), H, W]")
        return conv2d(input, filter: weight, bias: bias, stride: stride, padding: padding)
    }

    /// Sets the weight and bias to zero in place.
    public func zeroParameters() {
        weight.value = Tensor(zeros: weight.shape)
        bias?.value = Tensor(zeros: [outputChannels])
    }
}
