import SDECore
import Tensors

/// Pseudoinverse-guided diffusion models (ΠGDM; Song, Vahdat, Mardani and Kautz, ICLR 2023):
/// DDIM with a guidance term, a vector–Jacobian product through the ε-network.
///
/// On the DDIM steps τ_S > … > τ₁ (spaced as in `DDIMSampler`), from x at t = τᵢ to s = τᵢ₋₁
/// (ᾱ_s = 1 after τ₁), with x̂₀ Tweedie's estimate and r_t² = 1 − ᾱ_t,
///
///     g   = ((y − A x̂₀)ᵀ (r_t² A Aᵀ + σ_y² I)⁻¹ A ∂x̂₀/∂x)ᵀ
///     c₁  = η √((1 − ᾱ_t/ᾱ_s)(1 − ᾱ_s)/(1 − ᾱ_t)),   c₂ = √(1 − ᾱ_s − c₁²)
///     x_s = √ᾱ_s x̂₀ + c₁ z + c₂ ε_θ(x, t) + w √ᾱ_s √ᾱ_t r_t² g,   z ~ N(0, I).
///
/// g is the gradient of ln N(y; A x̂₀, r_t² A Aᵀ + σ_y² I), the likelihood under the
/// approximation p(x₀ | x_t) ≈ N(x̂₀, r_t² I). The weight √ᾱ_s √ᾱ_t r_t² is that of NVIDIA's
/// reimplementation (`algos/pgdm.py` in `NVlabs/RED-diff`, default `awd: True`,
/// `grad_term_weight: 1`), which is noiseless: there r_t² g = (A⁺y − A⁺A x̂₀)ᵀ ∂x̂₀/∂x for A of
/// full row rank. Here the noisy g replaces that term, so σ_y = 0 gives the same update.
///
/// The inverse is computed by the structure the model offers:
/// - a `SingularValueObservationModel`: exactly, A = U Σ Vᵀ gives
///   Aᵀ(r² A Aᵀ + σ²)⁻¹ = V diag(σᵢ / (r² σᵢ² + σ_y²)) Uᵀ, with gain 0 where σᵢ = 0;
/// - another `LinearObservationModel`: conjugate gradients on (r² A Aᵀ + σ_y² I) w = y − A x̂₀,
///   then Aᵀ w;
/// - a nonlinear model: the isotropic approximation A Aᵀ ≈ I, so the cotangent on x̂₀ is
///   (r² + σ_y²)⁻¹ J_A(x̂₀)ᵀ (y − A(x̂₀)), the gradient of −½‖y − A(x̂₀)‖² / (r² + σ_y²).
///   The `ObservationModel` protocol does not expose σ_y, so it must be given.
///
/// Each step makes one forward pass of the predictor and one VJP through it.
/// The defaults, 100 steps, η = 0 and weight 1, are those of `_configs/algo/pgdm.yaml` in
/// `NVlabs/RED-diff`, the settings under which DEFT was compared with ΠGDM.
public struct PiGDMSampler: PosteriorSampler {
    public let schedule: DDPMSchedule
    /// The steps τ₁ < … < τ_S, 0-based indices into the schedule.
    public let timesteps: [Int]
    /// η ≥ 0, the scale of the noise added on each step.
    public let eta: Double
    /// w, the weight of the guidance.
    public let guidanceWeight: Double
    /// σ_y for nonlinear models; nil reads σ_y from a `LinearObservationModel`.
    public let noiseStandardDeviation: Double?
    /// The iteration limit and relative residual tolerance of conjugate gradients, for linear
    /// models without an SVD.
    public var conjugateGradientIterations = 50
    public var conjugateGradientTolerance = 1e-6

    public init(
        schedule: DDPMSchedule, steps: Int = 100, eta: Double = 0, guidanceWeight: Double = 1,
        noiseStandardDeviation: Double? = nil
    ) {
        precondition(eta >= 0 && eta <= 1, "PiGDMSampler: eta \(eta) must lie in [0, 1]")
        precondition(guidanceWeight >= 0 && guidanceWeight.isFinite, "PiGDMSampler: guidanceWeight \(guidanceWeight) must be finite and non-negative")
        precondition(
            noiseStandardDeviation.map { $0 >= 0 && $0.isFinite } ?? true,
            "PiGDMSampler: noiseStandardDeviation \(noiseStandardDeviation!) must be finite and non-negative")
        self.schedule = schedule
        timesteps = DDIMSampler(schedule: schedule, steps: steps).timesteps
        self.eta = eta
        self.guidanceWeight = guidanceWeight
        self.noiseStandardDeviation = noiseStandardDeviation
    }

    public var name: String { "pigdm" }
    /// S forward passes, each with one VJP through the predictor.
    public var modelEvaluations: Int { timesteps.count }

    /// True for linear models, and for nonlinear ones when `noiseStandardDeviation` is set.
    public func supports<Scalar: TensorScalar>(_ likelihood: any ObservationModel<Scalar>) -> Bool {
        likelihood is any LinearObservationModel<Scalar> || noiseStandardDeviation != nil
    }

    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, observation y: Tensor<Predictor.Scalar>,
        likelihood: any ObservationModel<Predictor.Scalar>, from initial: Tensor<Predictor.Scalar>,
        using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        checkBatch(y, initial)
        let linear = likelihood as? any LinearObservationModel<Scalar>
        guard let sigma = noiseStandardDeviation ?? linear.map({ Double($0.noiseStandardDeviation) }) else {
            let type = String(describing: Swift.type(of: likelihood))
            throw PosteriorSamplerError(
                method: name, modelType: type,
                message: "ΠGDM needs σ_y, which nonlinear \(type) does not expose: pass noiseStandardDeviation to PiGDMSampler")
        }

        let batch = initial.shape[0]
        var x = initial
        for i in stride(from: timesteps.count - 1, through: 0, by: -1) {
            let alphaBar = schedule.alphaBars[timesteps[i]]
            let previous = i > 0 ? schedule.alphaBars[timesteps[i - 1]] : 1
            let r2 = 1 - alphaBar

            let (noise, denoised, guidance) = GradientRecording.withRecording {
                let state = Variable(x, requiresGrad: true)
                let noise = predictor.predictNoise(state, at: batchTimes(Double(timesteps[i]), batch: batch))
                let denoised = tweedieEstimate(state, noise: noise, alphaBar: alphaBar)
                let guidance: Tensor<Scalar>
                if let linear {
                    let cotangent = linear.gaussianPosteriorGradient(
                        of: y, at: denoised.value, posteriorVariances: Array(repeating: r2, count: batch), noiseStandardDeviation: sigma,
                        conjugateGradientIterations: conjugateGradientIterations, conjugateGradientTolerance: conjugateGradientTolerance)
                    guidance = gradients(of: denoised, withRespectTo: [state], cotangent: cotangent)[0]
                } else {
                    let prediction = likelihood.forward(denoised)
                    let cotangent = (y - prediction.value) * Scalar(1 / (r2 + sigma * sigma))
                    guidance = gradients(of: prediction, withRespectTo: [state], cotangent: cotangent)[0]
                }
                return (noise.value, denoised.value, guidance)
            }

            // The DDIM step to ᾱ_s, plus the weighted guidance.
            let c1 = eta * ((1 - alphaBar / previous) * (1 - previous) / (1 - alphaBar)).squareRoot()
            let c2 = Swift.max(1 - previous - c1 * c1, 0).squareRoot()
            var next = denoised * Scalar(previous.squareRoot()) + noise * Scalar(c2)
            if c1 > 0 {
                next = next + Tensor<Scalar>.normal(shape: x.shape, using: &generator) * Scalar(c1)
            }
            x = next + guidance * Scalar(guidanceWeight * (previous * alphaBar).squareRoot() * r2)
        }
        return x
    }
}
