import SDECore
import Tensors

/// Diffusion posterior sampling (DPS; Chung, Kim, McCann, Klasky and Ye, ICLR 2023): DDPM
/// ancestral sampling on every step of a `DDPMSchedule`, each step followed by a gradient
/// step on the measurement residual of Tweedie's estimate.
///
/// With 0-based steps k = N − 1, …, 0 and x̂₀(x) = (x − √(1 − ᾱ_k) ε_θ(x, k)) / √ᾱ_k kept on the
/// graph through the ε-network,
///
///     x′      = DDPM ancestral step from x (mean μ_k(x), variance β̃_k, no noise at k = 0)
///     x_{k−1} = x′ − ζ ∇ₓ ‖y − A(x̂₀(x))‖
///
/// per sample. This is the update of the official code (`PosteriorSampling.conditioning` in
/// `DPS2022/diffusion-posterior-sampling`, `guided_diffusion/condition_methods.py`), which
/// subtracts `scale` times the gradient of the residual norm. Since ∇‖r‖ = ∇‖r‖² / (2‖r‖),
/// it is a step ζ′/‖r‖ on the squared residual with ζ′ = ζ / 2. The official code takes one
/// norm over the whole batch, which couples the samples. Here each sample has its own
/// norm, so a sample's result does not depend on its batch.
///
/// Only `forward` of the observation model is used, so nonlinear operators work. Each
/// step makes one forward pass of the predictor and one VJP through it.
///
/// Scales of the official FFHQ configurations (`configs/*_config.yaml`): super-resolution 0.3,
/// inpainting 0.5, Gaussian deblurring 0.3, phase retrieval 1.0; the code's default is 1.0.
/// NOTE: these were tuned for 256 × 256 FFHQ with a learned-variance prior. The gradient of
/// a norm scales with the number of measurements, so other image sizes need their own scale.
public struct DPSSampler: PosteriorSampler {
    public let schedule: DDPMSchedule
    /// ζ, the step on the gradient of the residual norm.
    public let scale: Double

    /// The scales of the official configurations, keyed by the task names of `ImagingTask`.
    public static let officialScales: [String: Double] = [
        "super-resolution": 0.3, "inpainting": 0.5, "blur": 0.3, "phase-retrieval": 1.0,
    ]

    public init(schedule: DDPMSchedule, scale: Double = 1.0) {
        precondition(scale >= 0 && scale.isFinite, "DPSSampler: scale \(scale) must be finite and non-negative")
        self.schedule = schedule
        self.scale = scale
    }

    public var name: String { "dps" }
    /// N forward passes, each with one VJP through the predictor.
    public var modelEvaluations: Int { schedule.count }

    /// True for every model: DPS needs only a differentiable `forward`.
    public func supports<Scalar: TensorScalar>(_ likelihood: any ObservationModel<Scalar>) -> Bool {
        true
    }

    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, observation y: Tensor<Predictor.Scalar>,
        likelihood: any ObservationModel<Predictor.Scalar>, from initial: Tensor<Predictor.Scalar>,
        using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        checkBatch(y, initial)
        let batch = initial.shape[0]
        var x = initial
        for k in stride(from: schedule.count - 1, through: 0, by: -1) {
            let (beta, alpha, alphaBar) = (schedule.betas[k], schedule.alphas[k], schedule.alphaBars[k])
            let previous = k > 0 ? schedule.alphaBars[k - 1] : 1

            // ε and the gradient of Σ_b ‖y_b − A(x̂₀(x_b))‖ through the network, in one graph.
            let (noise, gradient) = GradientRecording.withRecording {
                let state = Variable(x, requiresGrad: true)
                let noise = predictor.predictNoise(state, at: batchTimes(Double(k), batch: batch))
                let residual = Variable(y) - likelihood.forward(tweedieEstimate(state, noise: noise, alphaBar: alphaBar))
                let norms = sqrt(square(residual).reshaped(to: [batch, -1]).sum(alongAxes: [1]) + Scalar.leastNormalMagnitude)
                return (noise.value, gradients(of: norms.sum(), withRespectTo: [state])[0])
            }

            // The ancestral step, then the guidance.
            var next = (x - noise * Scalar(beta / (1 - alphaBar).squareRoot())) * Scalar(1 / alpha.squareRoot())
            if k > 0 {
                let variance = beta * (1 - previous) / (1 - alphaBar)
                next = next + Tensor<Scalar>.normal(shape: x.shape, using: &generator) * Scalar(variance.squareRoot())
            }
            x = next - gradient * Scalar(scale)
        }
        return x
    }
}
