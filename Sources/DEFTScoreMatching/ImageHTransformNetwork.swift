import NeuralNetworks
import Tensors

/// The sizes and input conventions of an `ImageHTransformNetwork`, stored as JSON in its
/// weight files.
///
/// The defaults (8 base channels, multipliers [1, 2, 2], 4 groups) give 30,466 parameters
/// for one image channel and two feature channels, 6.7 % of the 455,809 of the shipped
/// Fashion-MNIST prior (32 base channels, [1, 2, 2]).
public struct ImageHTransformArchitecture: Codable, Equatable, Sendable {
    /// C, the channels of the state (and of x̂₀, g and the output).
    public var channels: Int
    /// The channels of the extra conditioning images, such as y and the inpainting mask; 0 for none.
    public var featureChannels: Int
    /// The U-Net's first-level channels.
    public var baseChannels: Int
    /// The U-Net's channel multiplier per level.
    public var channelMultipliers: [Int]
    public var residualBlocksPerLevel: Int
    /// The groups of every group normalisation of the U-Net.
    public var groups: Int
    /// The factor on t inside both time embeddings: 1 for DDPM steps, about 1000 / T for
    /// continuous times on [0, T].
    public var timeScale: Double
    /// The size of NN2's sinusoidal time embedding, even.
    public var guidanceEmbeddingDimension: Int
    /// NN2's hidden layer sizes.
    public var guidanceHiddenSizes: [Int]
    /// The factor s on g where it enters the U-Net as an input channel (the guidance term
    /// uses g itself).
    ///
    /// A Gaussian likelihood has g = Aᵀ(y − A x̂₀) / σ_y², hundreds of times larger than
    /// the other inputs for σ_y = 0.05. With s = σ_y² (or 1 / the typical size of g) the
    /// U-Net's inputs are of order 1.
    public var gradientInputScale: Double
    /// The interval that x̂₀ is clamped to before g and the inputs are formed, nil for
    /// none (see `HTransform.tweedieBounds`). [−1, 1] suits image data: near the last
    /// DDPM step x̂₀ divides by √ᾱ ≈ 0.006 and leaves the data range by far, so g there
    /// carries no information about y.
    public var tweedieBounds: ClosedRange<Double>?
    /// v, the mean per-pixel variance of the data, which sets NN2's initial value
    /// s₀(t) together with `observationNoise`; nil for s₀ = 1.
    public var dataVariance: Double?
    /// σ_y, the standard deviation of the observation noise, which sets s₀(t) together
    /// with `dataVariance`; nil for s₀ = 1.
    public var observationNoise: Double?
    /// λ, the mean eigenvalue of A Aᵀ on the range of A, used by s₀(t); nil for 1. It is 1
    /// for inpainting and 1/16 for 4× average pooling.
    public var operatorGain: Double?
    /// The form of g, the likelihood input and guidance direction. Nil, as in files written
    /// before this setting existed, means `.gradient`.
    public var likelihoodGuidance: LikelihoodGuidance?

    public init(
        channels: Int = 1, featureChannels: Int = 0, baseChannels: Int = 8, channelMultipliers: [Int] = [1, 2, 2],
        residualBlocksPerLevel: Int = 1, groups: Int = 4, timeScale: Double = 1, guidanceEmbeddingDimension: Int = 32,
        guidanceHiddenSizes: [Int] = [32], gradientInputScale: Double = 1, tweedieBounds: ClosedRange<Double>? = -1...1,
        dataVariance: Double? = nil, observationNoise: Double? = nil, operatorGain: Double? = nil,
        likelihoodGuidance: LikelihoodGuidance = .gradient
    ) {
        self.channels = channels
        self.featureChannels = featureChannels
        self.baseChannels = baseChannels
        self.channelMultipliers = channelMultipliers
        self.residualBlocksPerLevel = residualBlocksPerLevel
        self.groups = groups
        self.timeScale = timeScale
        self.guidanceEmbeddingDimension = guidanceEmbeddingDimension
        self.guidanceHiddenSizes = guidanceHiddenSizes
        self.gradientInputScale = gradientInputScale
        self.tweedieBounds = tweedieBounds
        self.dataVariance = dataVariance
        self.observationNoise = observationNoise
        self.operatorGain = operatorGain
        self.likelihoodGuidance = likelihoodGuidance
    }

    /// Returns the factor on g, besides s, where g enters the U-Net at the noise level ᾱ:
    /// 1 for `.gradient`, and (σ_y² + λ r²) / σ_y² for `.gaussianPosterior`.
    ///
    /// The Gaussian posterior g shrinks like σ_y² / (σ_y² + λ r²) as r² grows with t, so
    /// without the factor the channel would be near zero at high noise. With it, the channel
    /// equals ∇ ln p(y | x̂₀) when A Aᵀ = λ I and keeps its size for other operators.
    public func gradientInputFactor(alphaBar: Double) -> Double {
        guard usesGaussianPosteriorGuidance, let noise = observationNoise, let variance = posteriorVariance(alphaBar: alphaBar) else {
            return 1
        }
        return (noise * noise + (operatorGain ?? 1) * variance) / (noise * noise)
    }

    /// Whether g is the Gaussian posterior gradient rather than ∇ ln p(y | x̂₀).
    public var usesGaussianPosteriorGuidance: Bool { likelihoodGuidance == .gaussianPosterior }

    /// r², the variance of each pixel of x₀ given x_t at the noise level ᾱ for data
    /// x₀ ~ N(μ, v I), v = `dataVariance`: r² = v (1 − ᾱ) / (ᾱ v + 1 − ᾱ). Nil without a data variance.
    public func posteriorVariance(alphaBar: Double) -> Double? {
        guard let variance = dataVariance else { return nil }
        return variance * (1 - alphaBar) / (alphaBar * variance + 1 - alphaBar)
    }

    /// NN2's initial value s₀ at the noise level ᾱ:
    ///
    ///     s₀ = ᾱ v / (ᾱ v + 1 − ᾱ) · σ_y² / (σ_y² + λ r²),   r² = v (1 − ᾱ) / (ᾱ v + 1 − ᾱ),
    ///
    /// with v = `dataVariance`, σ_y = `observationNoise` and λ = `operatorGain`; 1 when v
    /// or σ_y is nil. For data x₀ ~ N(μ, v I) and y = A x₀ + σ_y ξ with A Aᵀ = λ I, the
    /// Tweedie estimate x̂₀ has the Jacobian √ᾱ v / (ᾱ v + 1 − ᾱ) · I in x_t, x₀ given
    /// x_t has the variance r² per pixel, and y given x_t is N(A x̂₀, σ_y² I + λ r² I).
    /// The optimal h-transform −√(1 − ᾱ) ∇_{x_t} ln p(y | x_t) is then exactly c_t s₀ g.
    /// s₀ tends to 1 as ᾱ → 1 and to 0 as ᾱ → 0; for other data and operators
    /// c_t s₀ g is only a starting point.
    ///
    /// With `.gaussianPosterior` guidance g is already Aᵀ(σ_y² I + r² A Aᵀ)⁻¹(y − A x̂₀), so
    /// s₀ = ᾱ v / (ᾱ v + 1 − ᾱ), and c_t s₀ g is the optimal h-transform for Gaussian data
    /// and any linear A, with no assumption on A Aᵀ.
    public func initialGuidanceScale(alphaBar: Double) -> Double {
        guard let variance = dataVariance, let noise = observationNoise, let posteriorVariance = posteriorVariance(alphaBar: alphaBar) else {
            return 1
        }
        let jacobianFactor = alphaBar * variance / (alphaBar * variance + 1 - alphaBar)
        if usesGaussianPosteriorGuidance {
            return jacobianFactor
        }
        let gain = operatorGain ?? 1
        let noiseVariance = noise * noise
        return jacobianFactor * noiseVariance / (noiseVariance + gain * posteriorVariance)
    }

    /// NN1's U-Net: 3 C + `featureChannels` input channels (x_t, x̂₀, s g, features), C
    /// output channels.
    public var unetConfiguration: UNetConfiguration {
        UNetConfiguration(
            inputChannels: 3 * channels + featureChannels, outputChannels: channels, baseChannels: baseChannels,
            channelMultipliers: channelMultipliers, residualBlocksPerLevel: residualBlocksPerLevel, groups: groups,
            timeScale: timeScale)
    }

    /// The number of scalar parameters of the network, counted without building it.
    public var parameterCount: Int {
        let sizes = [guidanceEmbeddingDimension] + guidanceHiddenSizes + [1]
        let guidance = zip(sizes, sizes.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 + $1.1 }
        return unetConfiguration.parameterCount + guidance
    }

    /// Stops with a message naming the first invalid setting.
    func validate() {
        precondition(channels > 0, "ImageHTransformArchitecture: channels \(channels) must be positive")
        precondition(featureChannels >= 0, "ImageHTransformArchitecture: featureChannels \(featureChannels) must be non-negative")
        precondition(
            gradientInputScale > 0 && gradientInputScale.isFinite,
            "ImageHTransformArchitecture: gradientInputScale \(gradientInputScale) must be positive and finite")
        precondition(
            guidanceHiddenSizes.allSatisfy { $0 > 0 },
            "ImageHTransformArchitecture: guidanceHiddenSizes \(guidanceHiddenSizes) must be positive")
        for (name, value) in [("dataVariance", dataVariance), ("observationNoise", observationNoise), ("operatorGain", operatorGain)] {
            if let value {
                precondition(value > 0 && value.isFinite, "ImageHTransformArchitecture: \(name) \(value) must be positive and finite")
            }
        }
        precondition(
            !usesGaussianPosteriorGuidance || dataVariance != nil,
            "ImageHTransformArchitecture: likelihoodGuidance .gaussianPosterior needs dataVariance and observationNoise")
        precondition(
            (dataVariance == nil) == (observationNoise == nil),
            "ImageHTransformArchitecture: dataVariance \(String(describing: dataVariance)) and observationNoise "
                + "\(String(describing: observationNoise)) must be both set or both nil")
    }
}

/// The form of g, the likelihood term that DEFT's h-network takes as input and scales
/// into its guidance term.
public enum LikelihoodGuidance: String, Codable, Sendable {
    /// g = ∇_{x̂₀} ln p(y | x̂₀), for any observation model.
    case gradient
    /// g = Aᵀ(σ_y² I + r_t² A Aᵀ)⁻¹(y − A x̂₀), the gradient of the likelihood of y when
    /// x₀ ~ N(x̂₀, r_t² I), with r_t² from the data variance; linear observations only. It
    /// weighs each singular direction of A by its own signal-to-noise ratio, which matters
    /// when the singular values spread widely (blur, CT).
    case gaussianPosterior
}

/// The DEFT h-transform network on images `[N, C, H, W]`: a small U-Net plus the
/// likelihood-informed term, in the ε-units of the frozen noise predictor,
///
///     h^φ_t(x_t, y) = NN1([x_t, x̂₀, s g, features], t) + NN2(t) · c_t · g,   c_t = −√(1 − ᾱ_t) / √ᾱ_t,
///
/// with g = ∇_{x̂₀} ln p(y | x̂₀) at the Tweedie estimate x̂₀ = x̂₀(x_t) (clamped to
/// `tweedieBounds`), s = `gradientInputScale` times `gradientInputFactor` and the inputs stacked as channels. It is
/// `HTransformNetwork` with NN1 a U-Net: the same guidance term, sign and scale (see
/// there). NN1's output convolution starts at zero, and NN2(t) = s₀(t) exp(MLP(embedding(t)))
/// with a zero last layer starts at s₀(t) (`ImageHTransformArchitecture.initialGuidanceScale`),
/// so the network starts at exactly c_t s₀(t) g, the optimum for Gaussian data. Without
/// a data variance and σ_y in the architecture s₀ = 1 and the start is c_t g, which for
/// σ_y = 0.05 is of order 1e5 per pixel near the last DDPM step.
///
/// Height and width must be multiples of 2^(L − 1) for L U-Net levels.
///
/// Parameter names: `correction.*` for NN1 (the `UNet` names) and
/// `guidanceScale.layers.{i}.*` for NN2's perceptron.
public final class ImageHTransformNetwork<Scalar: TensorScalar>: HTransform {
    public let architecture: ImageHTransformArchitecture
    /// The name of the task the network is trained for, such as `inpainting`, stored in
    /// its weight file; nil for none.
    public let task: String?
    /// NN1.
    public let correction: UNet<Scalar>
    public let guidanceEmbedding: SinusoidalTimeEmbedding<Scalar>
    /// ln(NN2 / s₀): embedding(t) → ℝ.
    public let guidanceScale: MLP<Scalar>

    /// Creates a network whose output is exactly c_t s₀(t) g, with parameters drawn from `generator`.
    public init(architecture: ImageHTransformArchitecture, task: String? = nil, using generator: inout PhiloxRandom) {
        architecture.validate()
        self.architecture = architecture
        self.task = task
        correction = UNet(configuration: architecture.unetConfiguration, outputInitialization: .zeros, using: &generator)
        guidanceEmbedding = SinusoidalTimeEmbedding(
            dimension: architecture.guidanceEmbeddingDimension, timeScale: architecture.timeScale)
        guidanceScale = MLP(
            sizes: [architecture.guidanceEmbeddingDimension] + architecture.guidanceHiddenSizes + [1], activation: .silu,
            outputInitialization: .zeros, using: &generator)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        correction.namedParameters(prefix: "correction") + guidanceScale.namedParameters(prefix: "guidanceScale")
    }

    public var tweedieBounds: ClosedRange<Double>? { architecture.tweedieBounds }

    public func guidancePosteriorVariance(alphaBar: Double) -> Double? {
        architecture.usesGaussianPosteriorGuidance ? architecture.posteriorVariance(alphaBar: alphaBar) : nil
    }

    /// Evaluates h^φ, `[N, C, H, W]`, differentiably in the parameters.
    public func callAsFunction(_ inputs: HTransformInputs<Scalar>) -> Variable<Scalar> {
        evaluate(
            state: Variable(inputs.state), tweedie: Variable(inputs.tweedie),
            likelihoodGradient: Variable(inputs.likelihoodGradient), features: inputs.features.map { Variable($0) },
            time: inputs.time, alphaBar: inputs.alphaBar)
    }

    /// Evaluates h^φ, `[N, C, H, W]`, differentiably in the parameters and in the image
    /// inputs x_t, x̂₀, g and the features `[N, c, H, W]`.
    public func evaluate(
        state: Variable<Scalar>, tweedie: Variable<Scalar>, likelihoodGradient: Variable<Scalar>, features: Variable<Scalar>?,
        time: Tensor<Scalar>, alphaBar: Tensor<Scalar>
    ) -> Variable<Scalar> {
        let shape = state.shape
        let channels = architecture.channels
        precondition(
            shape.count == 4 && shape[1] == channels,
            "ImageHTransformNetwork: state of shape \(shape) must be [N, \(channels), H, W]")
        let batch = shape[0]
        for (name, input) in [("tweedie", tweedie), ("likelihoodGradient", likelihoodGradient)] {
            precondition(input.shape == shape, "ImageHTransformNetwork: \(name) of shape \(input.shape) must match the state's \(shape)")
        }
        precondition(
            time.shape == [batch] && alphaBar.shape == [batch],
            "ImageHTransformNetwork: time \(time.shape) and alphaBar \(alphaBar.shape) must be [\(batch)]")
        let featureShape = [batch, architecture.featureChannels, shape[2], shape[3]]
        if architecture.featureChannels > 0 {
            precondition(
                features?.shape == featureShape,
                "ImageHTransformNetwork: features of shape \(features?.shape ?? []) must be \(featureShape)")
        } else {
            precondition(features == nil, "ImageHTransformNetwork: features were given to a network built with featureChannels 0")
        }

        // NN1 on the inputs stacked as channels.
        let inputFactors: Tensor<Scalar> = perSampleFactors(
            alphaBar.scalars.map { architecture.gradientInputScale * architecture.gradientInputFactor(alphaBar: Double($0)) }, rank: 4)
        var planes = [state, tweedie, likelihoodGradient * inputFactors]
        if let features {
            planes.append(features)
        }
        let times = Variable(time)
        let learned = correction(Variable.concatenate(planes, alongAxis: 1), times)

        // NN2(t) c_t g with NN2 = s₀ exp(MLP).
        let coefficients: Tensor<Scalar> = perSampleFactors(
            alphaBar.scalars.map {
                guidanceCoefficient(alphaBar: Double($0)) * architecture.initialGuidanceScale(alphaBar: Double($0))
            }, rank: 4)
        let scale = exp(guidanceScale(guidanceEmbedding(times))).reshaped(to: [batch, 1, 1, 1])
        return learned + scale * (likelihoodGradient * coefficients)
    }
}
