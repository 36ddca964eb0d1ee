import SDECore
import Tensors

/// Denoising diffusion restoration models (DDRM; Kawar, Elad, Ermon and Song, NeurIPS 2022):
/// a DDIM-like sampler run in the spectral space of A = U Σ Vᵀ, where y gives each
/// component x̄ = Vᵀx₀ with a singular value sᵢ > 0 an independent noisy measurement
/// ȳᵢ = (Uᵀy)ᵢ / sᵢ of noise σ_y / sᵢ.
///
/// The steps are those of the official `efficient_generalized_steps` (`functions/denoising.py`
/// in `bahjat-kawar/ddrm`): τ = 0, N/S, 2N/S, …, visited downwards, then a final step to
/// ᾱ = 1. They work on the variance-exploding variable x̄_t = Vᵀx_t / √ᾱ_t with noise level
/// σ_t = √(1 − ᾱ_t) / √ᾱ_t. From t to the next level σ′, with x̄₀ = Vᵀx̂₀ and ε̄ = Vᵀε_θ,
/// component i is drawn as
///
///     missing (i ≥ r, or sᵢ = 0):     x̄₀ᵢ + √(1 − η²) σ′ ε̄ᵢ + η σ′ z
///     less noisy than y (sᵢσ′ < σ_y): x̄₀ᵢ + √(1 − η²) σ′ sᵢ (ȳᵢ − x̄₀ᵢ) / σ_y + η σ′ z
///     noisier than y (sᵢσ′ > σ_y):    (1 − η_b) x̄₀ᵢ + η_b ȳᵢ + √(σ′² − η_b² σ_y² / sᵢ²) z
///
/// with z ~ N(0, 1), and x_next = √ᾱ′ V x̄_next. The start draws each observed component with
/// sᵢ σ_T > σ_y as ȳᵢ + √(σ_T² − σ_y²/sᵢ²) z and every other one as σ_T z, using `initial` as z,
/// then scales by √ᾱ_T. The official code divides by σ_T instead, which differs from √ᾱ_T by
/// a factor √(1 − ᾱ_T), 1 − 5.3e-5 for the linear schedule at step 950. With σ_y = 0 no
/// component is less noisy than y, and the last step returns x̄₀ on every component.
///
/// Defaults are those of the official README's example command: S = 20, η = 0.85 and
/// η_b = 1. One forward pass of the predictor per step, no VJP. Needs a
/// `SingularValueObservationModel`.
public struct DDRMSampler: PosteriorSampler {
    public let schedule: DDPMSchedule
    /// The steps τ in increasing order, 0-based indices into the schedule.
    public let timesteps: [Int]
    /// η, the share of fresh noise on the missing and less noisy components.
    public let eta: Double
    /// η_b, the weight of the measurement on the components noisier than y.
    public let etaB: Double

    public init(schedule: DDPMSchedule, steps: Int = 20, eta: Double = 0.85, etaB: Double = 1) {
        precondition(
            steps >= 1 && steps <= schedule.count, "DDRMSampler: steps \(steps) must lie in 1…\(schedule.count), the schedule's length")
        precondition(eta >= 0 && eta <= 1, "DDRMSampler: eta \(eta) must lie in [0, 1]")
        precondition(etaB >= 0 && etaB <= 1, "DDRMSampler: etaB \(etaB) must lie in [0, 1]")
        self.schedule = schedule
        let skip = schedule.count / steps
        timesteps = (0..<steps).map { $0 * skip }
        self.eta = eta
        self.etaB = etaB
    }

    public var name: String { "ddrm" }
    /// S forward passes, no VJP.
    public var modelEvaluations: Int { timesteps.count }

    /// True for models with a singular value decomposition.
    public func supports<Scalar: TensorScalar>(_ likelihood: any ObservationModel<Scalar>) -> Bool {
        likelihood is any SingularValueObservationModel<Scalar>
    }

    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, observation y: Tensor<Predictor.Scalar>,
        likelihood: any ObservationModel<Predictor.Scalar>, from initial: Tensor<Predictor.Scalar>,
        using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        checkBatch(y, initial)
        guard let model = likelihood as? any SingularValueObservationModel<Scalar> else {
            throw PosteriorSamplerError.needsSingularValues(method: name, likelihood)
        }
        let batch = initial.shape[0]
        let n = initial.scalarCount / batch
        let spectrum = SpectralMeasurement(model, observation: y, signalCount: n)
        let sigmaY = Double(model.noiseStandardDeviation)

        // The start x_T = √ᾱ_T V x̄_T.
        let last = timesteps[timesteps.count - 1]
        let sigmaT = noiseLevel(schedule.alphaBars[last])
        var start = [Double](repeating: 0, count: n)
        var startMeanMask = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let s = spectrum.values[i]
            if s * sigmaT > sigmaY {
                start[i] = (sigmaT * sigmaT - sigmaY * sigmaY / (s * s)).squareRoot()
                startMeanMask[i] = 1
            } else {
                start[i] = sigmaT
            }
        }
        let startBar = spectrum.measurements * row(startMeanMask) + initial.reshaped(to: [batch, n]) * row(start)
        var x = model.applyV(startBar) * Scalar(schedule.alphaBars[last].squareRoot())

        for index in stride(from: timesteps.count - 1, through: 0, by: -1) {
            let t = timesteps[index]
            let alphaBar = schedule.alphaBars[t]
            let nextAlphaBar = index > 0 ? schedule.alphaBars[timesteps[index - 1]] : 1
            let nextSigma = noiseLevel(nextAlphaBar)

            let noise = predictor.predictNoise(x, at: batchTimes(Double(t), batch: batch))
            let denoised = (x - noise * Scalar((1 - alphaBar).squareRoot())) * Scalar(1 / alphaBar.squareRoot())
            let denoisedBar = model.applyVTranspose(denoised)
            let noiseBar = model.applyVTranspose(noise)

            // Per-component coefficients of x̄₀, ȳ, ε̄, (ȳ − x̄₀) and fresh noise.
            let deterministic = ((1 - eta * eta).squareRoot()) * nextSigma
            var onDenoised = [Double](repeating: 1, count: n)
            var onMeasurement = [Double](repeating: 0, count: n)
            var onNoise = [Double](repeating: 0, count: n)
            var onFresh = [Double](repeating: eta * nextSigma, count: n)
            for i in 0..<n {
                let s = spectrum.values[i]
                if s == 0 {
                    onNoise[i] = deterministic
                } else if s * nextSigma < sigmaY {
                    let pull = deterministic * s / sigmaY
                    onDenoised[i] = 1 - pull
                    onMeasurement[i] = pull
                } else if s * nextSigma > sigmaY {
                    onDenoised[i] = 1 - etaB
                    onMeasurement[i] = etaB
                    onFresh[i] = Swift.max(nextSigma * nextSigma - etaB * etaB * sigmaY * sigmaY / (s * s), 0).squareRoot()
                } else {
                    // sᵢσ′ = σ_y, in practice only when both are 0 (the last step with σ_y = 0): the official code keeps x̄₀.
                    onFresh[i] = 0
                }
            }

            var nextBar = denoisedBar * row(onDenoised) + spectrum.measurements * row(onMeasurement) + noiseBar * row(onNoise)
            if onFresh.contains(where: { $0 > 0 }) {
                nextBar = nextBar + Tensor<Scalar>.normal(shape: [batch, n], using: &generator) * row(onFresh)
            }
            x = model.applyV(nextBar) * Scalar(nextAlphaBar.squareRoot())
        }
        return x
    }

    /// σ_t = √(1 − ᾱ) / √ᾱ, the noise level of the variance-exploding variable.
    private func noiseLevel(_ alphaBar: Double) -> Double {
        ((1 - alphaBar) / alphaBar).squareRoot()
    }
}

/// Returns `[1, n]` per-component factors.
private func row<Scalar: TensorScalar>(_ values: [Double]) -> Tensor<Scalar> {
    Tensor(shape: [1, values.count], scalars: values.map { Scalar($0) })
}

/// The observation in DDRM's spectral coordinates: the singular values padded with zeros
/// to the signal dimension n, and ȳ = Σ⁺ Uᵀ y, zero on the missing components.
private struct SpectralMeasurement<Scalar: TensorScalar> {
    /// sᵢ for i < n, 0 past the model's r values.
    let values: [Double]
    /// ȳ, `[N, n]`.
    let measurements: Tensor<Scalar>

    init(_ model: any SingularValueObservationModel<Scalar>, observation y: Tensor<Scalar>, signalCount n: Int) {
        let singular = model.singularValues.scalars.map { Double($0) }
        let rank = singular.count
        precondition(rank <= n, "DDRMSampler: \(rank) singular values for a signal of \(n) entries")
        values = singular + Array(repeating: 0, count: n - rank)
        let inverse = singular.map { $0 > 0 ? 1 / $0 : 0 }
        let observed = model.applyUTranspose(y) * Tensor(shape: [1, rank], scalars: inverse.map { Scalar($0) })
        measurements = rank < n ? Tensor.concatenate([observed, Tensor(zeros: [y.shape[0], n - rank])], alongAxis: 1) : observed
    }
}
