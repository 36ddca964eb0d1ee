import NeuralNetworks
import SDECore
import Tensors

/// Observations for a batch of N samples: what the h-transform is conditioned on.
public struct ObservationBatch<Scalar: TensorScalar> {
    /// y, `[N, …]`.
    public var observation: Tensor<Scalar>
    /// The likelihood p(y | x₀). When the operator varies across the batch, this model
    /// applies each sample's own operator.
    public var likelihood: any ObservationModel<Scalar>
    /// Extra network inputs (y itself, a mask, operator parameters), `[N, c]` for
    /// vector states or `[N, c, H, W]` for images, or nil.
    public var features: Tensor<Scalar>?

    public init(observation: Tensor<Scalar>, likelihood: any ObservationModel<Scalar>, features: Tensor<Scalar>? = nil) {
        self.observation = observation
        self.likelihood = likelihood
        self.features = features
    }

    /// The number N of observations.
    public var count: Int { observation.shape[0] }
}

/// A frozen noise predictor ε_θ with its noise schedule, and the trainable h-transform
/// network h^φ that corrects it: the DEFT model.
///
/// States may have any shape `[N, …]`: vectors for `HTransformNetwork`, images
/// `[N, C, H, W]` for `ImageHTransformNetwork`. The prior is only ever evaluated inside
/// `withoutRecording`, so no gradient reaches its parameters and it may be a closed model
/// that offers nothing but a forward pass.
public struct DEFTModel<Predictor: NoisePredictor, Schedule: NoiseLevelSchedule> {
    public typealias Scalar = Predictor.Scalar

    public let prior: Predictor
    public let schedule: Schedule
    public let network: any HTransform<Scalar>
    public init(prior: Predictor, schedule: Schedule, network: any HTransform<Scalar>) {
        self.prior = prior
        self.schedule = schedule
        self.network = network
    }

    /// Evaluates the frozen prior and forms the network inputs at states `x` `[N, …]` and
    /// times `t` `[N]`: the Tweedie estimate x̂₀ = (x − √(1 − ᾱ) ε_θ) / √ᾱ (clamped to
    /// the network's `tweedieBounds` when it has them) and the likelihood gradient g = ∇_{x̂₀} ln p(y | x̂₀).
    /// Returns the prior's prediction ε_θ(x, t) too.
    public func networkInputs(
        state x: Tensor<Scalar>, time t: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>
    ) -> (inputs: HTransformInputs<Scalar>, priorNoise: Tensor<Scalar>) {
        let priorNoise = withoutRecording { prior.predictNoise(Variable(x), at: t).value }
        return (networkInputs(state: x, time: t, priorNoise: priorNoise, conditioning: conditioning), priorNoise)
    }

    /// Forms the network inputs as `networkInputs(state:time:conditioning:)` does, from the
    /// prior's prediction ε_θ(x, t) given as `priorNoise`.
    public func networkInputs(
        state x: Tensor<Scalar>, time t: Tensor<Scalar>, priorNoise: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>
    ) -> HTransformInputs<Scalar> {
        let batch = x.shape[0]
        precondition(t.shape == [batch], "DEFTModel: times of shape \(t.shape) must be [\(batch)]")
        precondition(conditioning.count == batch, "DEFTModel: \(conditioning.count) observations for \(batch) states")
        precondition(priorNoise.shape == x.shape, "DEFTModel: prior predictions of shape \(priorNoise.shape) for states \(x.shape)")

        let levels = t.scalars.map { schedule.alphaBar(at: Double($0)) }
        let signal: Tensor<Scalar> = perSampleFactors(levels.map { $0.squareRoot() }, rank: x.rank)
        let noiseScale: Tensor<Scalar> = perSampleFactors(levels.map { (1 - $0).squareRoot() }, rank: x.rank)

        var tweedie = (x - priorNoise * noiseScale) / signal
        if let bounds = network.tweedieBounds {
            tweedie = tweedie
                .applying(.maximum, Tensor(shape: [1], repeating: Scalar(bounds.lowerBound)))
                .applying(.minimum, Tensor(shape: [1], repeating: Scalar(bounds.upperBound)))
        }
        let gradient = likelihoodGuidance(conditioning: conditioning, tweedie: tweedie, alphaBars: levels)
        return HTransformInputs(
            state: x, tweedie: tweedie, likelihoodGradient: gradient, time: t,
            alphaBar: Tensor(levels.map { Scalar($0) }), features: conditioning.features)
    }

    /// Returns g at the Tweedie estimates: ∇_{x̂₀} ln p(y | x̂₀), or, for a network with a
    /// `guidancePosteriorVariance`, the gradient of ln N(y; A x̂₀, σ_y² I + r² A Aᵀ).
    func likelihoodGuidance(conditioning: ObservationBatch<Scalar>, tweedie: Tensor<Scalar>, alphaBars: [Double]) -> Tensor<Scalar> {
        let variances = alphaBars.compactMap { network.guidancePosteriorVariance(alphaBar: $0) }
        guard variances.count == alphaBars.count else {
            return conditioning.likelihood.logLikelihoodGradient(of: conditioning.observation, at: tweedie)
        }
        guard let linear = conditioning.likelihood as? any LinearObservationModel<Scalar> else {
            preconditionFailure(
                "DEFTModel: the h-network's Gaussian posterior guidance needs a LinearObservationModel, not \(type(of: conditioning.likelihood)); "
                    + "build the network with likelihoodGuidance .gradient for a nonlinear observation")
        }
        return linear.gaussianPosteriorGradient(of: conditioning.observation, at: tweedie, posteriorVariances: variances)
    }

    /// Returns h^φ_t(x, y) in ε-units, shaped like `x`, without recording.
    public func correction(state x: Tensor<Scalar>, time t: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>) -> Tensor<Scalar> {
        let (inputs, _) = networkInputs(state: x, time: t, conditioning: conditioning)
        return withoutRecording { network(inputs).value }
    }

    /// Returns the conditional Tweedie estimate
    /// x̂₀(x_t, y) = x̂₀(x_t) − (√(1 − ᾱ_t)/√ᾱ_t) h^φ_t(x_t, y) ≈ E[X₀ | X_t = x_t, y], shaped like `x`.
    ///
    /// It is Tweedie's formula for the conditional ε-model ε_θ + h^φ, so the learned
    /// h-transform acts as a correction of the unconditional denoised estimate. The
    /// estimate x̂₀(x_t) here is never clamped, even for a network with `tweedieBounds`, so that the
    /// formula stays the exact Tweedie estimate of ε_θ + h^φ.
    public func conditionalTweedie(state x: Tensor<Scalar>, time t: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>) -> Tensor<Scalar> {
        let (inputs, priorNoise) = networkInputs(state: x, time: t, conditioning: conditioning)
        let correction = withoutRecording { network(inputs).value }
        let levels = inputs.alphaBar.scalars.map { Double($0) }
        let signal: Tensor<Scalar> = perSampleFactors(levels.map { $0.squareRoot() }, rank: x.rank)
        let noiseScale: Tensor<Scalar> = perSampleFactors(levels.map { (1 - $0).squareRoot() }, rank: x.rank)
        return (x - (priorNoise + correction) * noiseScale) / signal
    }

    /// Returns the DEFT score-matching loss in its DDPM form (denoising score matching with the
    /// posterior as data, amortised over observations):
    ///
    ///     L(φ) = E_{(X₀, Y), ε, t} ‖h^φ_t(H_t, Y) + ε_θ(H_t, t) − ε‖²,   H_t = √ᾱ_t X₀ + √(1 − ᾱ_t) ε,
    ///
    /// estimated on one batch: the mean over samples of the squared norm over all other
    /// axes, so images `[N, C, H, W]` give the same value as their flattening to
    /// `[N, C·H·W]`. Its minimiser is h^φ = E[ε | H_t, Y] − ε_θ(H_t), which for an exact
    /// ε_θ is −√(1 − ᾱ_t) ∇ ln p_t(y | H_t). Gradients reach the network's parameters only.
    ///
    /// - Parameters:
    ///   - x0: clean samples, `[N, …]`, drawn jointly with the observations.
    ///   - conditioning: their observations.
    ///   - generator: the source of t (first, one per sample) and then ε.
    public func loss(
        x0: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>, using generator: inout PhiloxRandom
    ) -> Variable<Scalar> {
        loss(noised: noisedStates(x0: x0, using: &generator), conditioning: conditioning)
    }

    /// Draws a time t (first, one per sample) and then ε for each clean sample of `x0`
    /// `[N, …]`, forms H_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε and evaluates the frozen prior there,
    /// without recording.
    public func noisedStates(x0: Tensor<Scalar>, using generator: inout PhiloxRandom) -> NoisedStates<Scalar> {
        let batch = x0.shape[0]
        precondition(x0.rank >= 2, "DEFTModel.noisedStates: x0 of shape \(x0.shape) must be [N, …] with at least one axis after the batch")

        let times = (0..<batch).map { _ in schedule.randomTime(using: &generator) }
        let noise = Tensor<Scalar>.normal(shape: x0.shape, using: &generator)
        let levels = times.map { schedule.alphaBar(at: $0) }
        let signal: Tensor<Scalar> = perSampleFactors(levels.map { $0.squareRoot() }, rank: x0.rank)
        let noiseScale: Tensor<Scalar> = perSampleFactors(levels.map { (1 - $0).squareRoot() }, rank: x0.rank)
        let state = x0 * signal + noise * noiseScale

        let priorNoise = withoutRecording { prior.predictNoise(Variable(state), at: Tensor(times.map { Scalar($0) })).value }
        return NoisedStates(x0: x0, times: times, noise: noise, state: state, priorNoise: priorNoise)
    }

    /// Returns the score-matching loss of `loss(x0:conditioning:using:)` at noised states
    /// whose prior predictions are already known, so the prior is not evaluated.
    /// `conditioning` contains one observation of each state's x₀.
    public func loss(noised: NoisedStates<Scalar>, conditioning: ObservationBatch<Scalar>) -> Variable<Scalar> {
        let inputs = networkInputs(
            state: noised.state, time: Tensor(noised.times.map { Scalar($0) }), priorNoise: noised.priorNoise,
            conditioning: conditioning)
        let residual = network(inputs) + (noised.priorNoise - noised.noise)
        return (residual * residual).sum() / Scalar(noised.count)
    }
}
