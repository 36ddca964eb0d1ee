import NeuralNetworks
import Tensors

/// The inputs of the h-transform network for a batch of N states of any shape `[N, …]`:
/// vectors `[N, d]` for the MLP, images `[N, C, H, W]` for the U-Net.
public struct HTransformInputs<Scalar: TensorScalar> {
    /// The noisy state x_t, `[N, …]`.
    public var state: Tensor<Scalar>
    /// The unconditional Tweedie estimate x̂₀(x_t) of the frozen ε-model, shaped like the state.
    public var tweedie: Tensor<Scalar>
    /// The likelihood gradient g = ∇_{x̂₀} ln p(y | x̂₀) at the Tweedie estimate, shaped like the state.
    public var likelihoodGradient: Tensor<Scalar>
    /// The model times t, `[N]`.
    public var time: Tensor<Scalar>
    /// ᾱ at each time, `[N]`.
    public var alphaBar: Tensor<Scalar>
    /// Extra conditioning such as the observation y, a mask or operator parameters when
    /// the network is amortised over them: `[N, c]` for the MLP, `[N, c, H, W]` for the
    /// U-Net, nil for none.
    public var features: Tensor<Scalar>?

    public init(
        state: Tensor<Scalar>, tweedie: Tensor<Scalar>, likelihoodGradient: Tensor<Scalar>, time: Tensor<Scalar>,
        alphaBar: Tensor<Scalar>, features: Tensor<Scalar>? = nil
    ) {
        self.state = state
        self.tweedie = tweedie
        self.likelihoodGradient = likelihoodGradient
        self.time = time
        self.alphaBar = alphaBar
        self.features = features
    }

    /// The batch size N.
    public var count: Int { state.shape[0] }
}

/// A trainable h-transform network h^φ_t(x_t, y) in the ε-units of a frozen noise
/// predictor, shaped like the state: what `DEFTModel` trains and samples with.
///
/// `HTransformNetwork` (an MLP on vectors) and `ImageHTransformNetwork` (a U-Net on
/// images) conform. Both start at the Jacobian-free guidance term c_t g.
public protocol HTransform<Scalar>: Module {
    /// The interval that `DEFTModel` clamps the Tweedie estimate x̂₀ to before it forms g
    /// and this network's inputs, or nil for no clamping.
    ///
    /// It belongs to the network because the network is trained on inputs formed one way
    /// and must be evaluated on inputs formed the same way.
    var tweedieBounds: ClosedRange<Double>? { get }

    /// Evaluates h^φ, shaped like `inputs.state`, differentiably in the parameters.
    func callAsFunction(_ inputs: HTransformInputs<Scalar>) -> Variable<Scalar>

    /// Returns the variance r² of x₀ given x_t that the network's guidance input assumes at
    /// the noise level ᾱ, or nil for the plain likelihood gradient.
    ///
    /// With a value, `DEFTModel` forms g as the gradient of ln N(y; A x̂₀, σ_y² I + r² A Aᵀ)
    /// (`LinearObservationModel.gaussianPosteriorGradient`) instead of ln p(y | x̂₀). It belongs to
    /// the network for the same reason as `tweedieBounds`.
    func guidancePosteriorVariance(alphaBar: Double) -> Double?
}

extension HTransform {
    /// No clamping, the default.
    public var tweedieBounds: ClosedRange<Double>? { nil }

    /// Returns nil, so g is the plain likelihood gradient by default.
    public func guidancePosteriorVariance(alphaBar: Double) -> Double? { nil }
}

/// Returns c_t = −√(1 − ᾱ_t)/√ᾱ_t, the ε-units factor of the Jacobian-free guidance term.
func guidanceCoefficient(alphaBar: Double) -> Double {
    precondition(alphaBar > 0 && alphaBar <= 1, "guidanceCoefficient: ᾱ = \(alphaBar) must lie in (0, 1]")
    return -(1 - alphaBar).squareRoot() / alphaBar.squareRoot()
}

/// Returns one factor per sample, `[N, 1, …, 1]` of the given rank, so that it broadcasts
/// against states `[N, …]`.
func perSampleFactors<Scalar: TensorScalar>(_ values: [Double], rank: Int) -> Tensor<Scalar> {
    precondition(rank >= 1, "perSampleFactors: rank \(rank) must be at least 1")
    return Tensor(shape: [values.count] + Array(repeating: 1, count: rank - 1), scalars: values.map { Scalar($0) })
}

/// Returns the guidance term c_t g with c_t = −√(1 − ᾱ_t)/√ᾱ_t per sample, for likelihood
/// gradients `[N, …]` and ᾱ `[N]`.
func jacobianFreeGuidance<Scalar: TensorScalar>(
    likelihoodGradient: Tensor<Scalar>, alphaBar: Tensor<Scalar>
) -> Tensor<Scalar> {
    let coefficients: Tensor<Scalar> = perSampleFactors(
        alphaBar.scalars.map { guidanceCoefficient(alphaBar: Double($0)) }, rank: likelihoodGradient.rank)
    return likelihoodGradient * coefficients
}
