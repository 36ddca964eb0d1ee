import NeuralNetworks
import Tensors

/// The likelihood-informed h-transform of `LikelihoodInformedHTransform` for images, with a
/// small `UNet` as NN1, in score units:
///
///     h_θ(t, x) = UNet([x, x̂₀, γ g], t) + NN2(t) · g / √ᾱ(t),
///
/// where the three images are stacked as channels. States are images of shape
/// `imageShape` = [C, H, W] flattened to `[batch, C·H·W]`, the layout of `ControlProblem`.
/// The U-Net's output convolution starts at zero and NN2 at s₀(t), so at initialisation
/// h = s₀(t) g / √ᾱ(t), the Jacobian-free reconstruction guidance for s₀ = 1.
///
/// The model is fitted to one observation: it takes no context. x̂₀ and g are constants
/// in x, as in `LikelihoodInformedHTransform`. Parameter names: `correction.*` for the
/// U-Net and `guidanceScale.network.layers.{i}.*` for NN2.
public final class ImageLikelihoodInformedHTransform<Scalar: TensorScalar>: HTransformModel {
    /// [C, H, W].
    public let imageShape: [Int]
    public let guidance: ReconstructionGuidance<Scalar>
    /// γ, the factor on g in the U-Net's input.
    public let gradientInputScale: Double
    /// NN1: 3C channels [x, x̂₀, γ g] → C channels.
    public let correction: UNet<Scalar>
    /// NN2.
    public let guidanceScale: GuidanceScale<Scalar>

    /// Creates a model whose output is s₀(t) g / √ᾱ(t).
    ///
    /// - Parameters:
    ///   - imageShape: [C, H, W]; H and W must be multiples of 2^(levels − 1).
    ///   - guidance: the prior and log-weight that give x̂₀ and g.
    ///   - baseChannels: the U-Net's first-level channels, even and a multiple of `groups`.
    ///   - channelMultipliers: the channel multiplier of each U-Net level.
    ///   - groups: the groups of every group normalisation.
    ///   - timeScale: the factor on t inside both embeddings; about 1000 / T for t ∈ [0, T].
    ///   - gradientInputScale: γ; σ_y² for a Gaussian likelihood keeps the U-Net's input
    ///     of the order of the back-projected residual.
    ///   - initialGuidanceScale: s₀(t), positive.
    ///   - generator: the source of the initial parameters.
    public init(
        imageShape: [Int], guidance: ReconstructionGuidance<Scalar>, baseChannels: Int = 16,
        channelMultipliers: [Int] = [1, 2], groups: Int = 4, timeScale: Double = 1000, gradientInputScale: Double = 1,
        initialGuidanceScale: @escaping (Double) -> Double = { _ in 1 }, using generator: inout PhiloxRandom
    ) {
        precondition(
            imageShape.count == 3 && imageShape.allSatisfy { $0 > 0 },
            "ImageLikelihoodInformedHTransform: imageShape \(imageShape) must be [C, H, W] with positive sizes")
        self.imageShape = imageShape
        self.guidance = guidance
        self.gradientInputScale = gradientInputScale
        let configuration = UNetConfiguration(
            inputChannels: 3 * imageShape[0], outputChannels: imageShape[0], baseChannels: baseChannels,
            channelMultipliers: channelMultipliers, groups: groups, timeScale: timeScale)
        correction = UNet(configuration: configuration, outputInitialization: .zeros, using: &generator)
        guidanceScale = GuidanceScale(timeScale: timeScale, initialScale: initialGuidanceScale, using: &generator)
    }

    /// The state dimension C·H·W.
    public var dimension: Int { imageShape.reduce(1, *) }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        correction.namedParameters(prefix: "correction") + guidanceScale.namedParameters(prefix: "guidanceScale")
    }

    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?) -> Variable<Scalar> {
        let batch = x.shape[0]
        precondition(x.rank == 2 && x.shape[1] == dimension, "ImageLikelihoodInformedHTransform: x of shape \(x.shape) must be [batch, \(dimension)]")
        precondition(context == nil, "ImageLikelihoodInformedHTransform: the model takes no context, but one was given")
        let inputs = guidance.inputs(at: t, x.value)

        // The U-Net on the three images stacked as channels.
        let images = [batch] + imageShape
        let stacked = Variable.concatenate(
            [
                x.reshaped(to: images), Variable(inputs.tweedie.reshaped(to: images)),
                Variable((inputs.logWeightGradient * Scalar(gradientInputScale)).reshaped(to: images)),
            ], alongAxis: 1)
        let learned = correction(stacked, Variable(Tensor(shape: [batch], repeating: Scalar(t)))).reshaped(to: [batch, dimension])

        return learned + guidanceScale(t) * Variable(inputs.guidanceTerm)
    }
}
