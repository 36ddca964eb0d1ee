import SDECore
import Tensors

/// DDPM ancestral sampling (Ho et al., 2020): one predictor call on each of the N steps
/// of a `DDPMSchedule`.
///
/// With 0-based steps k = N − 1, …, 0, ᾱ_k = `schedule.alphaBars[k]` and ᾱ₋₁ = 1, each step
/// draws from the Gaussian reverse transition with mean
///
///     μ_k(x) = (x − β_k / √(1 − ᾱ_k) · ε(x, k)) / √α_k
///            = √ᾱ_{k−1} β_k / (1 − ᾱ_k) · x̂₀ + √α_k (1 − ᾱ_{k−1}) / (1 − ᾱ_k) · x,
///
/// where x̂₀ = (x − √(1 − ᾱ_k) ε) / √ᾱ_k, and variance σ_k² = β̃_k = β_k (1 − ᾱ_{k−1}) / (1 − ᾱ_k)
/// (the posterior variance, exact for a point mass at x₀) or σ_k² = β_k. The last step
/// (k = 0) adds no noise and returns its mean, which equals x̂₀ at k = 0.
///
/// With `clipsDenoised`, x̂₀ is clipped to [−1, 1] before it enters the second form of
/// the mean, as for image data in [−1, 1]; otherwise the first form is used.
public struct DDPMSampler: Sampler {
    /// The variance of each reverse transition.
    public enum Variance: Sendable {
        /// σ_k² = β̃_k = β_k (1 − ᾱ_{k−1}) / (1 − ᾱ_k).
        case posterior
        /// σ_k² = β_k.
        case beta
    }

    public let schedule: DDPMSchedule
    public var variance: Variance
    public var clipsDenoised: Bool

    public init(schedule: DDPMSchedule, variance: Variance = .posterior, clipsDenoised: Bool = false) {
        self.schedule = schedule
        self.variance = variance
        self.clipsDenoised = clipsDenoised
    }

    public var modelEvaluations: Int { schedule.count }

    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, using generator: inout PhiloxRandom
    ) -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        let batch = initial.shape[0]
        var x = initial
        for k in stride(from: schedule.count - 1, through: 0, by: -1) {
            let (beta, alpha, alphaBar) = (schedule.betas[k], schedule.alphas[k], schedule.alphaBars[k])
            let previous = k > 0 ? schedule.alphaBars[k - 1] : 1
            let noise = predictor.predictNoise(x, at: batchTimes(Double(k), batch: batch))

            // The mean μ_k(x).
            var mean: Tensor<Scalar>
            if clipsDenoised {
                let denoised = clippedToUnitRange(
                    (x - noise * Scalar((1 - alphaBar).squareRoot())) * Scalar(1 / alphaBar.squareRoot()))
                mean = denoised * Scalar(previous.squareRoot() * beta / (1 - alphaBar))
                mean = mean + x * Scalar(alpha.squareRoot() * (1 - previous) / (1 - alphaBar))
            } else {
                mean = (x - noise * Scalar(beta / (1 - alphaBar).squareRoot())) * Scalar(1 / alpha.squareRoot())
            }

            // The noise, on every step but the last.
            guard k > 0 else {
                x = mean
                break
            }
            let variance = self.variance == .posterior ? beta * (1 - previous) / (1 - alphaBar) : beta
            x = mean + Tensor<Scalar>.normal(shape: x.shape, using: &generator) * Scalar(variance.squareRoot())
        }
        return x
    }
}
