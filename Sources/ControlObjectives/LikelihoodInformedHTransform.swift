import NeuralNetworks
import Tensors

/// A likelihood-informed h-transform on flat states, in score units:
///
///     h_θ(t, x, y) = NN1([x, x̂₀, γ g, embedding(t), y]) + NN2(t) · g / √ᾱ(t),
///
/// with x̂₀ Tweedie's estimate of the prior, g = ∇ ln ℓ(x̂₀) and γ a fixed factor on the
/// network's copy of g (see `ReconstructionGuidance`). NN1 is a perceptron whose last
/// layer starts at zero and NN2 is a `GuidanceScale`, so at initialisation
/// h = s₀(t) g / √ᾱ(t): with s₀ = 1, the Jacobian-free reconstruction guidance, and
/// the control u = σ_t h = √β(t) g / √ᾱ(t).
///
/// This is DEFT's `HTransformNetwork` moved from ε-units to score units: there the
/// guidance term is c_t g with c_t = −√(1 − ᾱ)/√ᾱ, and dividing an ε-units quantity by
/// −√(1 − ᾱ) gives its score-units value g / √ᾱ.
///
/// x̂₀ and g are computed without recording, so h is differentiable in θ and in x only
/// through NN1's first input. The detached objectives (log-variance, trajectory balance)
/// never differentiate in x, so their gradients are exact. NOTE: with relative entropy
/// and gradients through the paths, the path derivative omits the dependence of x̂₀ and g
/// on x, a stop-gradient that biases the estimate of ∇_θ J.
///
/// Parameter names: `correction.layers.{i}.*` for NN1 and `guidanceScale.network.layers.{i}.*`
/// for NN2.
public final class LikelihoodInformedHTransform<Scalar: TensorScalar>: HTransformModel {
    public let dimension: Int
    public let contextDimension: Int
    public let guidance: ReconstructionGuidance<Scalar>
    /// γ, the factor on g in NN1's input.
    public let gradientInputScale: Double
    public let embedding: SinusoidalTimeEmbedding<Scalar>
    /// NN1: [x, x̂₀, γ g, embedding(t), y] → ℝᵈ.
    public let correction: MLP<Scalar>
    /// NN2.
    public let guidanceScale: GuidanceScale<Scalar>

    /// Creates a model whose output is s₀(t) g / √ᾱ(t).
    ///
    /// - Parameters:
    ///   - dimension: the state dimension d.
    ///   - contextDimension: the context dimension c, 0 for a model of one observation.
    ///   - guidance: the prior and log-weight that give x̂₀ and g.
    ///   - hiddenSizes: NN1's hidden layer sizes.
    ///   - embeddingDimension: the size of NN1's sinusoidal time embedding, even.
    ///   - timeScale: the factor on t inside both embeddings; about 1000 / T for t ∈ [0, T].
    ///   - gradientInputScale: γ; σ_y² for a Gaussian likelihood keeps NN1's input of the
    ///     order of the residual.
    ///   - initialGuidanceScale: s₀(t), positive. s₀ = ᾱ(t) is the ratio of the exact
    ///     guidance Jᵀg (J = ∂x̂₀/∂x) to g / √ᾱ for a N(0, I) prior, and a steadier start
    ///     than s₀ = 1 where the prior's scale is of order 1.
    ///   - generator: the source of the hidden layers' initial parameters.
    public init(
        dimension: Int, contextDimension: Int = 0, guidance: ReconstructionGuidance<Scalar>, hiddenSizes: [Int] = [64, 64],
        embeddingDimension: Int = 16, timeScale: Double = 1000, gradientInputScale: Double = 1,
        initialGuidanceScale: @escaping (Double) -> Double = { _ in 1 }, using generator: inout PhiloxRandom
    ) {
        precondition(dimension > 0 && contextDimension >= 0, "LikelihoodInformedHTransform: dimension \(dimension) must be positive and contextDimension \(contextDimension) non-negative")
        self.dimension = dimension
        self.contextDimension = contextDimension
        self.guidance = guidance
        self.gradientInputScale = gradientInputScale
        embedding = SinusoidalTimeEmbedding(dimension: embeddingDimension, timeScale: timeScale)
        correction = MLP(
            sizes: [3 * dimension + embeddingDimension + contextDimension] + hiddenSizes + [dimension], activation: .silu,
            outputInitialization: .zeros, using: &generator)
        guidanceScale = GuidanceScale(timeScale: timeScale, initialScale: initialGuidanceScale, using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        correction.namedParameters(prefix: "correction") + guidanceScale.namedParameters(prefix: "guidanceScale")
    }

    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?) -> Variable<Scalar> {
        let batch = x.shape[0]
        precondition(x.rank == 2 && x.shape[1] == dimension, "LikelihoodInformedHTransform: x of shape \(x.shape) must be [batch, \(dimension)]")
        if contextDimension > 0 {
            precondition(context?.shape == [batch, contextDimension], "LikelihoodInformedHTransform: the context must have shape [\(batch), \(contextDimension)], got \(context?.shape.description ?? "none")")
        } else {
            precondition(context == nil, "LikelihoodInformedHTransform: a context was given to a model built with contextDimension 0")
        }
        let inputs = guidance.inputs(at: t, x.value, context: context)

        // NN1 on [x, x̂₀, γ g, embedding(t), y].
        var columns = [
            x, Variable(inputs.tweedie), Variable(inputs.logWeightGradient * Scalar(gradientInputScale)),
            embedding(Variable(Tensor(shape: [batch], repeating: Scalar(t)))),
        ]
        if let context {
            columns.append(Variable(context))
        }
        let learned = correction(Variable.concatenate(columns, alongAxis: 1))

        return learned + guidanceScale(t) * Variable(inputs.guidanceTerm)
    }
}
