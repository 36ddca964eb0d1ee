import Foundation
import SDECore
import Tensors

/// DDIM sampling (Song, Meng and Ermon, ICLR 2021) on S of the N steps of a `DDPMSchedule`,
/// with exactly one predictor call per step, S in all.
///
/// The steps τ₁ < … < τ_S are spaced evenly and end at the last step: τᵢ = round(i N / S) − 1
/// (0-based), so S = 10 of N = 1000 visits 999, 899, …, 99, and S = N visits every step.
/// From x at τᵢ, with ᾱ = ᾱ_{τᵢ}, ᾱ′ = ᾱ_{τᵢ₋₁} (ᾱ′ = 1 after τ₁) and ε = ε(x, τᵢ),
///
///     x̂₀ = (x − √(1 − ᾱ) ε) / √ᾱ
///     σ  = η √((1 − ᾱ′) / (1 − ᾱ)) √(1 − ᾱ / ᾱ′)
///     x′ = √ᾱ′ x̂₀ + √(1 − ᾱ′ − σ²) ε + σ z,   z ~ N(0, I).
///
/// η = 0 is the deterministic DDIM, a discretisation of the probability-flow ODE;
/// η = 1 with S = N is DDPM ancestral sampling with the posterior variance. The last step
/// returns x̂₀ at τ₁ (σ = 0 there). With `clipsDenoised`, x̂₀ is clipped to [−1, 1] and ε
/// recomputed from it, ε = (x − √ᾱ x̂₀) / √(1 − ᾱ).
public struct DDIMSampler: Sampler {
    public let schedule: DDPMSchedule
    /// The steps τ₁ < … < τ_S, 0-based indices into the schedule.
    public let timesteps: [Int]
    /// η ≥ 0, the scale of the noise added on each step.
    public let eta: Double
    public var clipsDenoised: Bool
    /// K ≥ 1, the copies of one batch of paths that the sampler's input stacks, with rows
    /// k·N ..< (k + 1)·N holding copy k.
    ///
    /// With K > 1 each step's noise is drawn in antithetic pairs across the copies, as
    /// `antitheticNoise` draws starts: copy 2j + 1 gets −z where copy 2j gets z. Started
    /// from `antitheticNoise` too, paired paths mirror each other in all their noise. For a
    /// predictor affine in x (Gaussian data) the pair's mean output then has no variance,
    /// whatever η.
    public var antitheticCopies: Int = 1

    /// Creates a sampler of `steps` steps, 1 ≤ `steps` ≤ N.
    public init(schedule: DDPMSchedule, steps: Int, eta: Double = 0, clipsDenoised: Bool = false) {
        precondition(
            steps >= 1 && steps <= schedule.count,
            "DDIMSampler: steps \(steps) must lie in 1…\(schedule.count), the schedule's length")
        precondition(eta >= 0 && eta.isFinite, "DDIMSampler: eta \(eta) must be finite and non-negative")
        self.schedule = schedule
        self.eta = eta
        self.clipsDenoised = clipsDenoised
        let n = Double(schedule.count)
        timesteps = (1...steps).map { i in Int((Double(i) * n / Double(steps)).rounded()) - 1 }
    }

    public var steps: Int { timesteps.count }
    public var modelEvaluations: Int { timesteps.count }

    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, using generator: inout PhiloxRandom
    ) -> Tensor<Predictor.Scalar> {
        run(predictor, from: initial, through: 0, using: &generator)
    }

    /// Runs the steps τ_S, …, τⱼ, where τⱼ is the first step at or below `timestep`, and
    /// returns Tweedie's estimate x̂₀(x_τⱼ) = (x_τⱼ − √(1 − ᾱ_τⱼ) ε(x_τⱼ, τⱼ)) / √ᾱ_τⱼ there
    /// instead of stepping on; the steps below τⱼ are skipped.
    ///
    /// `timestep` ≤ τ₁ gives `sample`'s result, whose last step returns x̂₀ at τ₁. With a
    /// predictor of the conditional noise, x̂₀(x_t) estimates E[x₀ | x_t, y], and its mean
    /// over draws of x_t estimates the posterior mean E[x₀ | y] with no more variance than
    /// the mean of as many finished samples (E[x₀ | x_t, y] averages x₀ over the rest of the
    /// path).
    public func denoisedEstimate<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, at timestep: Int,
        using generator: inout PhiloxRandom
    ) -> Tensor<Predictor.Scalar> {
        precondition(
            timestep >= 0 && timestep < schedule.count,
            "DDIMSampler: timestep \(timestep) must lie in 0..<\(schedule.count), the schedule's steps")
        return run(predictor, from: initial, through: timestep, using: &generator)
    }

    /// Runs every step like `sample` and passes Tweedie's estimate x̂₀ of each step to
    /// `observe` with the step τᵢ, from τ_S down to τ₁; returns the finished samples.
    ///
    /// One pass gives what `denoisedEstimate` would return at every step.
    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, using generator: inout PhiloxRandom,
        observingDenoised observe: (_ timestep: Int, _ denoised: Tensor<Predictor.Scalar>) -> Void
    ) -> Tensor<Predictor.Scalar> {
        withoutActuallyEscaping(observe) { observe in
            run(predictor, from: initial, through: 0, using: &generator, observe: observe)
        }
    }

    /// Runs the steps from τ_S down to the first step at or below `stop` and returns x̂₀ there.
    private func run<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, through stop: Int,
        using generator: inout PhiloxRandom, observe: ((Int, Tensor<Predictor.Scalar>) -> Void)? = nil
    ) -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        let batch = initial.shape[0]
        precondition(
            antitheticCopies >= 1 && batch % antitheticCopies == 0,
            "DDIMSampler: a batch of \(batch) paths does not split into antitheticCopies = \(antitheticCopies) copies")
        var x = initial
        for i in stride(from: timesteps.count - 1, through: 0, by: -1) {
            let alphaBar = schedule.alphaBars[timesteps[i]]
            let previous = i > 0 ? schedule.alphaBars[timesteps[i - 1]] : 1
            var noise = predictor.predictNoise(x, at: batchTimes(Double(timesteps[i]), batch: batch))

            // Tweedie's estimate x̂₀, clipped if asked, with ε made consistent with it.
            var denoised = (x - noise * Scalar((1 - alphaBar).squareRoot())) * Scalar(1 / alphaBar.squareRoot())
            if clipsDenoised {
                denoised = clippedToUnitRange(denoised)
                noise = (x - denoised * Scalar(alphaBar.squareRoot())) * Scalar(1 / (1 - alphaBar).squareRoot())
            }
            observe?(timesteps[i], denoised)
            if i == 0 || timesteps[i] <= stop {
                return denoised
            }

            // The step to ᾱ′.
            let sigma = eta * ((1 - previous) / (1 - alphaBar)).squareRoot() * (1 - alphaBar / previous).squareRoot()
            let direction = Swift.max(1 - previous - sigma * sigma, 0).squareRoot()
            x = denoised * Scalar(previous.squareRoot()) + noise * Scalar(direction)
            if sigma > 0 {
                // One copy is the plain draw of the whole batch.
                let z: Tensor<Scalar> = antitheticNoise(
                    shape: [batch / antitheticCopies] + Array(x.shape.dropFirst()), copies: antitheticCopies, using: &generator)
                x = x + z * Scalar(sigma)
            }
        }
        return x
    }
}
