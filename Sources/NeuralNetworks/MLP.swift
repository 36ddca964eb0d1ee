import Tensors

/// A multilayer perceptron: `y = L_k(a(L_{k-1}(… a(L_1(x)))))`, where each `L_i` is a
/// `Linear` layer and `a` the activation.
///
/// `sizes = [d_0, d_1, …, d_k]` gives `k` linear layers, `L_i: d_{i-1} → d_i`. The
/// activation follows every layer but the last, so the output is unbounded. Input
/// `[..., d_0]`, output `[..., d_k]`. Parameter names: `layers.{i}.weight` and
/// `layers.{i}.bias` with `i` counting linear layers from 0.
public final class MLP<Scalar: TensorScalar>: Layer {
    /// The linear layers, input side first.
    public let layers: [Linear<Scalar>]
    public let activation: Activation
    // The layers' weights and biases in the arrays that `perceptron` takes, built once
    // instead of on every call.
    private let weights: [Variable<Scalar>]
    private let biases: [Variable<Scalar>?]

    /// Creates a perceptron from existing layers, whose sizes must chain.
    public init(layers: [Linear<Scalar>], activation: Activation) {
        precondition(!layers.isEmpty, "MLP: at least one layer is needed")
        for (previous, next) in zip(layers, layers.dropFirst()) {
            precondition(
                previous.outputSize == next.inputSize,
                "MLP: a layer of output size \(previous.outputSize) feeds one of input size \(next.inputSize)")
        }
        self.layers = layers
        self.activation = activation
        weights = layers.map { $0.weight }
        biases = layers.map { $0.bias }
    }

    /// Creates a perceptron with layer sizes `sizes` and parameters drawn from `generator`.
    ///
    /// - Parameters:
    ///   - sizes: `[inputSize, hidden sizes…, outputSize]`, at least two positive entries.
    ///   - activation: applied after every layer but the last.
    ///   - initialization: the distribution of the hidden layers' parameters.
    ///   - outputInitialization: the distribution of the last layer's parameters.
    ///     `.zeros` makes the network start as the zero function. The last layer still
    ///     gets non-zero gradients from the first step, because the hidden features
    ///     are non-zero.
    ///   - generator: the source of the draws, used layer by layer from the input side.
    public convenience init(
        sizes: [Int], activation: Activation = .silu,
        initialization: ParameterInitialization = .pytorchDefault,
        outputInitialization: ParameterInitialization = .pytorchDefault,
        using generator: inout PhiloxRandom
    ) {
        precondition(sizes.count >= 2, "MLP: sizes \(sizes) needs an input and an output size")
        var layers: [Linear<Scalar>] = []
        for index in 0..<(sizes.count - 1) {
            let isLast = index == sizes.count - 2
            layers.append(Linear(
                inputSize: sizes[index], outputSize: sizes[index + 1],
                initialization: isLast ? outputInitialization : initialization, using: &generator))
        }
        self.init(layers: layers, activation: activation)
    }

    /// The layer sizes `[d_0, …, d_k]`.
    public var sizes: [Int] {
        [layers[0].inputSize] + layers.map(\.outputSize)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        layers.enumerated().flatMap { index, layer in layer.namedParameters(prefix: "layers.\(index)") }
    }

    /// Applies the layers as one operation (`perceptron`): every layer of a block of rows
    /// runs on one core, backwards too.
    public func callAsFunction(_ input: Variable<Scalar>) -> Variable<Scalar> {
        let shapes = rowShapes(forInput: input.shape)
        let rows = input.rank == 2 ? input : input.reshaped(to: shapes.rows)
        let output = perceptron(rows, weights: weights, biases: biases, activation: activation.elementFunction)
        return input.rank == 2 ? output : output.reshaped(to: shapes.output)
    }

    /// Evaluates the perceptron without a graph, every layer of a block of rows on one
    /// core (see `perceptronForward`). Input `[..., d_0]`, output `[..., d_k]`.
    public func inferring(from input: Tensor<Scalar>) -> Tensor<Scalar> {
        let shapes = rowShapes(forInput: input.shape)
        let rows = input.rank == 2 ? input : input.reshaped(to: shapes.rows)
        let output = perceptronForward(
            rows, weights: weights.map { $0.value }, biases: biases.map { $0?.value },
            activation: activation.elementFunction)
        return input.rank == 2 ? output : output.reshaped(to: shapes.output)
    }

    /// Returns the row-matrix shape `[rows, d_0]` of an input `[..., d_0]` and the shape
    /// `[..., d_k]` of its output. Stops with the shape named when its last axis is not d_0.
    private func rowShapes(forInput shape: [Int]) -> (rows: [Int], output: [Int]) {
        let inputSize = layers[0].inputSize
        precondition(
            !shape.isEmpty && shape.last == inputSize,
            "MLP: input of shape \(shape) must end with the input size \(inputSize)")
        return ([-1, inputSize], Array(shape.dropLast()) + [layers[layers.count - 1].outputSize])
    }

    /// Sets the last layer's weight and bias to zero in place, so the network returns 0.
    public func zeroOutputLayer() {
        layers[layers.count - 1].zeroParameters()
    }
}
