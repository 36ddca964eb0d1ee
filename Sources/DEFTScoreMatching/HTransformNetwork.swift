import NeuralNetworks
import Tensors

/// The DEFT h-transform network with a likelihood-informed term, in the ε-units of the
/// frozen noise predictor:
///
///     h^φ_t(x_t, y) = NN1(x_t, x̂₀, g, t) + NN2(t) · c_t · g,   c_t = −√(1 − ᾱ_t) / √ᾱ_t,
///
/// with g = ∇_{x̂₀} ln p(y | x̂₀) at the Tweedie estimate x̂₀ = x̂₀(x_t). NN1's last layer
/// starts at zero, and NN2(t) = exp(MLP(embedding(t))) with a zero last layer starts at 1.
///
/// NN2 is a positive scale written as an exponential because the guidance term must be
/// switched off almost entirely at high noise: near t = T the optimum of NN2 is of order
/// ᾱ_T (4e-5 for β from 0.1 to 20) while c_t ≈ −150. An additive 1 + MLP would have to
/// reach that value to an absolute accuracy of about 1e-5, an exponential only to a
/// relative one. On the Gaussian test problem in two dimensions (4000 Adam steps), 1 + MLP left a
/// relative error of 52 % in h, the exponential 2.6 %.
///
/// Sign and scale: reconstruction guidance approximates the h-transform
/// h*_t = ∇_{x_t} ln p_t(y | x_t) by ∇_{x_t} ln p(y | x̂₀(x_t)) = (∂x̂₀/∂x_t)ᵀ g. With
/// x̂₀ = (x_t − √(1 − ᾱ) ε_θ(x_t)) / √ᾱ and the Jacobian of ε_θ dropped (no backpropagation
/// through the frozen model), ∂x̂₀/∂x_t ≈ I/√ᾱ, so h* ≈ g/√ᾱ in score units. A score s
/// is −√(1 − ᾱ) s in ε-units, so the network starts at h^φ = −(√(1 − ᾱ)/√ᾱ) g = c_t g: a
/// Jacobian-free reconstruction-guidance step. In conditional-Tweedie form,
/// x̂₀(x_t, y) = x̂₀ − (√(1 − ᾱ)/√ᾱ) h^φ = x̂₀ + ((1 − ᾱ)/ᾱ) g starts as one gradient-ascent
/// step on ln p(y | ·) from x̂₀ with step size (1 − ᾱ)/ᾱ. The trained optimum is
/// h^φ = −√(1 − ᾱ) h*_t.
///
/// Parameter names: `correction.layers.{i}.*` for NN1 and `guidanceScale.layers.{i}.*`
/// for NN2's perceptron.
public final class HTransformNetwork<Scalar: TensorScalar>: HTransform {
    /// The state dimension d.
    public let dimension: Int
    /// The number c of extra conditioning features.
    public let featureDimension: Int
    public let embedding: SinusoidalTimeEmbedding<Scalar>
    /// NN1: [x_t, x̂₀, g, features, embedding(t)] → ℝᵈ.
    public let correction: MLP<Scalar>
    /// ln NN2: embedding(t) → ℝ.
    public let guidanceScale: MLP<Scalar>

    /// Creates a network whose output is exactly c_t g.
    ///
    /// - Parameters:
    ///   - dimension: the state dimension d.
    ///   - featureDimension: the number of extra conditioning features, 0 for none.
    ///   - hiddenSizes: NN1's hidden layer sizes.
    ///   - guidanceHiddenSizes: NN2's hidden layer sizes.
    ///   - embeddingDimension: the size of the sinusoidal time embedding, even.
    ///   - timeScale: the factor on t inside the embedding; 1 for DDPM steps, about
    ///     1000 / T for continuous times on [0, T].
    ///   - generator: the source of the initial parameters.
    public init(
        dimension: Int, featureDimension: Int = 0, hiddenSizes: [Int] = [128, 128, 128],
        guidanceHiddenSizes: [Int] = [64], embeddingDimension: Int = 32, timeScale: Double = 1,
        activation: Activation = .silu, using generator: inout PhiloxRandom
    ) {
        precondition(dimension > 0 && featureDimension >= 0, "HTransformNetwork: dimension \(dimension) must be positive and featureDimension \(featureDimension) non-negative")
        self.dimension = dimension
        self.featureDimension = featureDimension
        embedding = SinusoidalTimeEmbedding(dimension: embeddingDimension, timeScale: timeScale)
        let inputSize = 3 * dimension + featureDimension + embeddingDimension
        correction = MLP(
            sizes: [inputSize] + hiddenSizes + [dimension], activation: activation, outputInitialization: .zeros,
            using: &generator)
        guidanceScale = MLP(
            sizes: [embeddingDimension] + guidanceHiddenSizes + [1], activation: activation, outputInitialization: .zeros,
            using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        correction.namedParameters(prefix: "correction") + guidanceScale.namedParameters(prefix: "guidanceScale")
    }

    /// Returns c_t = −√(1 − ᾱ_t)/√ᾱ_t, the ε-units factor of the Jacobian-free guidance term.
    public static func guidanceCoefficient(alphaBar: Double) -> Double {
        DEFTScoreMatching.guidanceCoefficient(alphaBar: alphaBar)
    }

    /// Evaluates h^φ, `[N, d]`, differentiably in the parameters.
    public func callAsFunction(_ inputs: HTransformInputs<Scalar>) -> Variable<Scalar> {
        let batch = inputs.state.shape[0]
        for (name, tensor) in [("state", inputs.state), ("tweedie", inputs.tweedie), ("likelihoodGradient", inputs.likelihoodGradient)] {
            precondition(tensor.shape == [batch, dimension], "HTransformNetwork: \(name) of shape \(tensor.shape) must be [\(batch), \(dimension)]")
        }
        precondition(inputs.time.shape == [batch] && inputs.alphaBar.shape == [batch], "HTransformNetwork: time \(inputs.time.shape) and alphaBar \(inputs.alphaBar.shape) must be [\(batch)]")
        if featureDimension > 0 {
            precondition(inputs.features?.shape == [batch, featureDimension], "HTransformNetwork: features of shape \(inputs.features?.shape ?? []) must be [\(batch), \(featureDimension)]")
        } else {
            precondition(inputs.features == nil, "HTransformNetwork: features were given to a network built with featureDimension 0")
        }

        // NN1 on the concatenated inputs.
        let timeFeatures = embedding(Variable(inputs.time))
        var columns = [Variable(inputs.state), Variable(inputs.tweedie), Variable(inputs.likelihoodGradient)]
        if let features = inputs.features {
            columns.append(Variable(features))
        }
        columns.append(timeFeatures)
        let learned = correction(Variable.concatenate(columns, alongAxis: 1))

        // NN2(t) c_t g with NN2 = exp(MLP).
        let scaledGradient = jacobianFreeGuidance(likelihoodGradient: inputs.likelihoodGradient, alphaBar: inputs.alphaBar)
        let scale = exp(guidanceScale(timeFeatures))
        return learned + scale * scaledGradient
    }
}
