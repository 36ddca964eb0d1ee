import NeuralNetworks
import Tensors

/// The learned positive factor NN2(t) = s₀(t) · exp(MLP(embedding(t))) on the guidance term
/// of the likelihood-informed h-transforms.
///
/// The perceptron's last layer starts at zero, so NN2 starts at s₀(t). The exponential
/// keeps NN2 positive and lets training change it by orders of magnitude across t. The
/// guidance needs that range because the Jacobian-free term g / √ᾱ overshoots h* by a
/// factor of order 1/ᾱ at high noise. Parameter names: `network.layers.{i}.*`.
public final class GuidanceScale<Scalar: TensorScalar>: Module {
    public let embedding: SinusoidalTimeEmbedding<Scalar>
    /// ln(NN2 / s₀): embedding(t) → ℝ.
    public let network: MLP<Scalar>
    /// s₀(t) > 0, the factor at initialisation.
    public let initialScale: (Double) -> Double

    /// Creates the factor, equal to `initialScale(t)` until trained.
    ///
    /// - Parameters:
    ///   - hiddenSizes: the perceptron's hidden layer sizes.
    ///   - embeddingDimension: the size of the sinusoidal time embedding, even.
    ///   - timeScale: the factor on t inside the embedding; about 1000 / T for t ∈ [0, T].
    ///   - initialScale: s₀(t), positive; 1 by default, so the model starts from the
    ///     Jacobian-free guidance term itself.
    ///   - generator: the source of the hidden layers' initial parameters.
    public init(
        hiddenSizes: [Int] = [32], embeddingDimension: Int = 16, timeScale: Double = 1000,
        initialScale: @escaping (Double) -> Double = { _ in 1 }, using generator: inout PhiloxRandom
    ) {
        embedding = SinusoidalTimeEmbedding(dimension: embeddingDimension, timeScale: timeScale)
        network = MLP(
            sizes: [embeddingDimension] + hiddenSizes + [1], activation: .silu, outputInitialization: .zeros,
            using: &generator)
        self.initialScale = initialScale
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        network.namedParameters(prefix: "network")
    }

    /// Evaluates NN2(t), `[1, 1]`, differentiably in the parameters.
    public func callAsFunction(_ t: Double) -> Variable<Scalar> {
        let scale = initialScale(t)
        precondition(scale > 0 && scale.isFinite, "GuidanceScale: the initial scale s₀(\(t)) = \(scale) must be positive and finite")
        let features = embedding(Variable(Tensor(shape: [1], repeating: Scalar(t))))
        return exp(network(features)) * Scalar(scale)
    }
}
