import Tensors

/// A fully connected layer: `y = x Wᵀ + b`.
///
/// `W` has PyTorch's layout `[outputSize, inputSize]` and `b` is `[outputSize]`. The
/// input is `[..., inputSize]`; leading axes are batch axes and are kept, so the output
/// is `[..., outputSize]`. Parameter names: `weight`, `bias`.
public final class Linear<Scalar: TensorScalar>: Layer {
    /// The weight `W`, `[outputSize, inputSize]`.
    public let weight: Variable<Scalar>
    /// The bias `b`, `[outputSize]`, or nil for a layer without one.
    public let bias: Variable<Scalar>?

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    /// Creates a layer from its parameters, which become trainable leaves.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>?) {
        precondition(weight.rank == 2, "Linear: weight of shape \(weight.shape) must be rank 2, [outputSize, inputSize]")
        if let bias {
            precondition(
                bias.shape == [weight.shape[0]],
                "Linear: bias of shape \(bias.shape) must be [\(weight.shape[0])], one entry per output")
        }
        self.weight = Variable(weight, requiresGrad: true)
        self.bias = bias.map { Variable($0, requiresGrad: true) }
    }

    /// Creates a layer of the given sizes with parameters drawn from `generator`.
    ///
    /// - Parameters:
    ///   - inputSize: the extent of the input's last axis, at least 1.
    ///   - outputSize: the extent of the output's last axis, at least 1.
    ///   - useBias: whether the layer adds `b`.
    ///   - initialization: the distribution of `W` and `b`, with `fanIn = inputSize`;
    ///     by default PyTorch's U(-1/√inputSize, 1/√inputSize).
    ///   - generator: the source of the draws; the same state gives the same parameters.
    public convenience init(
        inputSize: Int, outputSize: Int, useBias: Bool = true,
        initialization: ParameterInitialization = .pytorchDefault, using generator: inout PhiloxRandom
    ) {
        precondition(
            inputSize > 0 && outputSize > 0,
            "Linear: inputSize \(inputSize) and outputSize \(outputSize) must be positive")
        let (weight, bias): (Tensor<Scalar>, Tensor<Scalar>) = initialization.makeParameters(
            weightShape: [outputSize, inputSize], biasSize: outputSize, fanIn: inputSize, using: &generator)
        self.init(weight: weight, bias: useBias ? bias : nil)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            input.rank >= 1 && input.shape.last == inputSize,
            "Linear: input of shape \(input.shape) must end with inputSize \(inputSize)")
        let batchShape = Array(input.shape.dropLast())
        let rows = input.rank == 2 ? input : input.reshaped(to: [-1, inputSize])

        let output = bias.map { affine(rows, weight: weight, bias: $0) } ?? matmul(rows, weight, transposeB: true)

        return input.rank == 2 ? output : output.reshaped(to: batchShape + [outputSize])
    }

    /// Sets the weight and bias to zero in place.
    public func zeroParameters() {
        weight.value = Tensor(zeros: weight.shape)
        bias?.value = Tensor(zeros: [outputSize])
    }
}

/// Returns `x Wᵀ + b` for `x` `[rows, inputSize]` as one GEMM: the output starts as `b` in
/// every row and the product is accumulated onto it (β = 1), which saves the separate
/// pass over the output that adding the bias afterwards takes.
///
/// Pullbacks: `dx = dy W`, `dW = dyᵀ x` and `db = Σ_rows dy`.
private func affine<Scalar>(_ x: Variable<Scalar>, weight: Variable<Scalar>, bias: Variable<Scalar>) -> Variable<Scalar> {
    let (input, w, b) = (x.value, weight.value, bias.value)
    let (rows, inputSize, outputSize) = (input.shape[0], input.shape[1], w.shape[0])
    let value = Tensor<Scalar>(shape: [rows, outputSize]) { output in
        b.withUnsafeBufferPointer { biasBuffer in
            for row in 0..<rows {
                (output.baseAddress! + row * outputSize).initialize(from: biasBuffer.baseAddress!, count: outputSize)
            }
        }
        input.withUnsafeBufferPointer { xBuffer in
            w.withUnsafeBufferPointer { wBuffer in
                Scalar.gemm(
                    transposeA: false, transposeB: true, m: rows, n: outputSize, k: inputSize,
                    alpha: 1, a: xBuffer.baseAddress!, lda: inputSize, b: wBuffer.baseAddress!, ldb: inputSize,
                    beta: 1, c: output.baseAddress!, ldc: outputSize)
            }
        }
    }

    let (inputNeedsGradient, weightNeedsGradient, biasNeedsGradient) = (x.requiresGrad, weight.requiresGrad, bias.requiresGrad)
    return Variable(value: value, parents: [x, weight, bias]) { dy in
        [
            inputNeedsGradient ? matmul(dy, w) : nil,
            weightNeedsGradient ? matmul(dy, input, transposeA: true) : nil,
            biasNeedsGradient ? dy.sum(alongAxes: [0]).reshaped(to: [outputSize]) : nil,
        ]
    }
}
