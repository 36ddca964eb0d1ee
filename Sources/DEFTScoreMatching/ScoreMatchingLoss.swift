import SDECore
import Tensors

/// Observations for a batch of N samples: what the h-transform is conditioned on.
public struct ObservationBatch<Scalar: TensorScalar> {
    /// y, `[N, …]`.
    public var observation: Tensor<Scalar>
    /// The likelihood p(y | x₀). When the operator varies across the batch, this model
    /// applies each sample's own operator.
    public var likelihood: any ObservationModel<Scalar>
    /// Extra network inputs, `[N, c]` (y itself, a mask, operator parameters), or nil.
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
/// The prior is only ever evaluated inside `withoutRecording`, so no gradient reaches its
/// parameters and it may be a closed model that offers nothing but a forward pass.
public struct DEFTModel<Predictor: NoisePredictor, Schedule: NoiseLevelSchedule> {
    public typealias Scalar = Predictor.Scalar

    public let prior: Predictor
    public let schedule: Schedule
    public let network: HTransformNetwork<Scalar>

    public init(prior: Predictor, schedule: Schedule, network: HTransformNetwork<Scalar>) {
        self.prior = prior
        self.schedule = schedule
        self.network = network
    }

    /// Evaluates the frozen prior and forms the network inputs at states `x` `[N, d]` and
    /// times `t` `[N]`: the Tweedie estimate x̂₀ = (x − √(1 − ᾱ) ε_θ) / √ᾱ and the likelihood
    /// gradient g = ∇_{x̂₀} ln p(y | x̂₀). Returns the prior's prediction ε_θ(x, t) too.
    public func networkInputs(
        state x: Tensor<Scalar>, time t: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>
    ) -> (inputs: HTransformInputs<Scalar>, priorNoise: Tensor<Scalar>) {
        let batch = x.shape[0]
        precondition(t.shape == [batch], "DEFTModel: times of shape \(t.shape) must be [\(batch)]")
        precondition(conditioning.count == batch, "DEFTModel: \(conditioning.count) observations for \(batch) states")

        let levels = t.scalars.map { schedule.alphaBar(at: Double($0)) }
        let signal = Tensor<Scalar>(shape: [batch, 1], scalars: levels.map { Scalar($0.squareRoot()) })
        let noiseScale = Tensor<Scalar>(shape: [batch, 1], scalars: levels.map { Scalar((1 - $0).squareRoot()) })

        let priorNoise = withoutRecording { prior.predictNoise(Variable(x), at: t).value }
        let tweedie = (x - priorNoise * noiseScale) / signal
        let gradient = conditioning.likelihood.logLikelihoodGradient(of: conditioning.observation, at: tweedie)
        let inputs = HTransformInputs(
            state: x, tweedie: tweedie, likelihoodGradient: gradient, time: t,
            alphaBar: Tensor(levels.map { Scalar($0) }), features: conditioning.features)
        return (inputs, priorNoise)
    }

    /// Returns h^φ_t(x, y) in ε-units, `[N, d]`, without recording.
    public func correction(state x: Tensor<Scalar>, time t: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>) -> Tensor<Scalar> {
        let (inputs, _) = networkInputs(state: x, time: t, conditioning: conditioning)
        return withoutRecording { network(inputs).value }
    }

    /// Returns the conditional Tweedie estimate
    /// x̂₀(x_t, y) = x̂₀(x_t) − (√(1 − ᾱ_t)/√ᾱ_t) h^φ_t(x_t, y) ≈ E[X₀ | X_t = x_t, y], `[N, d]`.
    ///
    /// It is Tweedie's formula for the conditional ε-model ε_θ + h^φ, so the learned
    /// h-transform acts as a correction of the unconditional denoised estimate.
    public func conditionalTweedie(state x: Tensor<Scalar>, time t: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>) -> Tensor<Scalar> {
        let (inputs, _) = networkInputs(state: x, time: t, conditioning: conditioning)
        let correction = withoutRecording { network(inputs).value }
        let factors = Tensor<Scalar>(
            shape: [x.shape[0], 1],
            scalars: inputs.alphaBar.scalars.map { Scalar((1 - Double($0)).squareRoot() / Double($0).squareRoot()) })
        return inputs.tweedie - correction * factors
    }

    /// Returns the DEFT score-matching loss in its DDPM form (denoising score matching with the
    /// posterior as data, amortised over observations):
    ///
    ///     L(φ) = E_{(X₀, Y), ε, t} ‖h^φ_t(H_t, Y) + ε_θ(H_t, t) − ε‖²,   H_t = √ᾱ_t X₀ + √(1 − ᾱ_t) ε,
    ///
    /// estimated on one batch: the mean over samples of the squared norm over dimensions.
    /// Its minimiser is h^φ = E[ε | H_t, Y] − ε_θ(H_t), which for an exact ε_θ is
    /// −√(1 − ᾱ_t) ∇ ln p_t(y | H_t). Gradients reach the network's parameters only.
    ///
    /// - Parameters:
    ///   - x0: clean samples, `[N, d]`, drawn jointly with the observations.
    ///   - conditioning: their observations.
    ///   - generator: the source of t and ε.
    public func loss(
        x0: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>, using generator: inout PhiloxRandom
    ) -> Variable<Scalar> {
        let (batch, d) = (x0.shape[0], x0.shape[1])
        precondition(x0.rank == 2 && d == network.dimension, "DEFTModel.loss: x0 of shape \(x0.shape) must be [N, \(network.dimension)]")

        let times = (0..<batch).map { _ in schedule.randomTime(using: &generator) }
        let noise = Tensor<Scalar>.normal(shape: [batch, d], using: &generator)
        let levels = times.map { schedule.alphaBar(at: $0) }
        let signal = Tensor<Scalar>(shape: [batch, 1], scalars: levels.map { Scalar($0.squareRoot()) })
        let noiseScale = Tensor<Scalar>(shape: [batch, 1], scalars: levels.map { Scalar((1 - $0).squareRoot()) })
        let state = x0 * signal + noise * noiseScale

        let (inputs, priorNoise) = networkInputs(
            state: state, time: Tensor(times.map { Scalar($0) }), conditioning: conditioning)
        let residual = network(inputs) + (priorNoise - noise)
        return (residual * residual).sum() / Scalar(batch)
    }
}
