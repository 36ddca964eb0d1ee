import NeuralNetworks
import Tensors

/// An h-transform given by a perceptron on the state, a time embedding and the context:
/// h_θ(t, x, y) = MLP([x, embedding(t), y]).
///
/// The last layer starts at zero, so training starts from the prior. Parameter names:
/// `network.layers.{i}.weight` and `network.layers.{i}.bias`.
public final class MLPHTransform<Scalar: TensorScalar>: HTransformModel {
    public let dimension: Int
    public let contextDimension: Int
    public let embedding: SinusoidalTimeEmbedding<Scalar>
    public let network: MLP<Scalar>

    /// Creates the network.
    ///
    /// - Parameters:
    ///   - dimension: the state dimension d.
    ///   - contextDimension: the context dimension c, 0 for a model of one observation.
    ///   - hiddenSizes: the hidden layer sizes.
    ///   - embeddingDimension: the size of the sinusoidal time embedding, even.
    ///   - timeScale: the factor on t inside the embedding; about 1000 / T resolves times on [0, T].
    ///   - generator: the source of the initial hidden-layer parameters.
    public init(
        dimension: Int, contextDimension: Int = 0, hiddenSizes: [Int] = [64, 64], embeddingDimension: Int = 16,
        timeScale: Double = 1000, activation: Activation = .silu, using generator: inout PhiloxRandom
    ) {
        precondition(dimension > 0 && contextDimension >= 0, "MLPHTransform: dimension \(dimension) must be positive and contextDimension \(contextDimension) non-negative")
        self.dimension = dimension
        self.contextDimension = contextDimension
        embedding = SinusoidalTimeEmbedding(dimension: embeddingDimension, timeScale: timeScale)
        network = MLP(
            sizes: [dimension + embeddingDimension + contextDimension] + hiddenSizes + [dimension], activation: activation,
            outputInitialization: .zeros, using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        network.namedParameters(prefix: "network")
    }

    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?) -> Variable<Scalar> {
        let batch = x.shape[0]
        precondition(x.rank == 2 && x.shape[1] == dimension, "MLPHTransform: x of shape \(x.shape) must be [batch, \(dimension)]")
        var columns = [x, embedding(Variable(Tensor(shape: [batch], repeating: Scalar(t))))]
        if contextDimension > 0 {
            guard let context, context.shape == [batch, contextDimension] else {
                preconditionFailure("MLPHTransform: the context must have shape [\(batch), \(contextDimension)], got \(context?.shape.description ?? "none")")
            }
            columns.append(Variable(context))
        } else {
            precondition(context == nil, "MLPHTransform: a context was given to a model built with contextDimension 0")
        }
        return network(Variable.concatenate(columns, alongAxis: 1))
    }
}
