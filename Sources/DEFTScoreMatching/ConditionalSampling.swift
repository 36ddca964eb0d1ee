import SDECore
import Tensors

/// Samples by DDPM ancestral sampling (Ho et al., 2020) with any noise predictor; with a
/// `ConditionedNoisePredictor` this is DEFT's conditional sampler.
///
/// With 0-based steps i = N − 1, …, 0, ᾱᵢ = `schedule.alphaBars[i]` and ᾱ₋₁ = 1, each step is
///
///     x ← (x − βᵢ / √(1 − ᾱᵢ) · ε̂(x, i)) / √αᵢ + σᵢ z,   σᵢ² = β̃ᵢ = βᵢ (1 − ᾱᵢ₋₁) / (1 − ᾱᵢ),
///
/// with no noise on the last step. The predictor is called with time i, as the
/// `NoisePredictor` convention for discrete schedules has it.
///
/// - Parameters:
///   - initial: x at step N − 1, usually N(0, I) draws, `[batch, d]`.
///   - generator: the source of the z.
/// - Returns: the samples x₀, `[batch, d]`.
public func sampleAncestral<Predictor: NoisePredictor>(
    predictor: Predictor, schedule: DDPMSchedule, initial: Tensor<Predictor.Scalar>,
    using generator: inout PhiloxRandom
) -> Tensor<Predictor.Scalar> {
    typealias Scalar = Predictor.Scalar
    let batch = initial.shape[0]
    var x = initial
    for i in stride(from: schedule.count - 1, through: 0, by: -1) {
        let (beta, alphaBar) = (schedule.betas[i], schedule.alphaBars[i])
        let predicted = predictor.predictNoise(x, at: Tensor(shape: [batch], repeating: Scalar(i)))
        x = (x - predicted * Scalar(beta / (1 - alphaBar).squareRoot())) * Scalar(1 / (1 - beta).squareRoot())
        if i > 0 {
            let previous = schedule.alphaBars[i - 1]
            let sigma = (beta * (1 - previous) / (1 - alphaBar)).squareRoot()
            x = x + Tensor<Scalar>.normal(shape: x.shape, using: &generator) * Scalar(sigma)
        }
    }
    return x
}

/// Samples by integrating the reverse-time VP SDE
/// dX = [−½ β(t) X − β(t) ∇ ln p_t(X)] dt + √β(t) dW̄ from T down to `endTime`, with the
/// score read from a noise predictor, ∇ ln p_t(x) = −ε̂(x, t) / √(1 − ᾱ(t)).
///
/// With a `ConditionedNoisePredictor` the score is that of p_t(x | y), which makes this
/// DEFT's conditional sampler for continuous-time models. The solve is detached (no
/// graph) on `steps` equal steps, driven by a virtual Brownian tree seeded with `seed`.
/// `endTime` must be positive when the solver evaluates the drift at the end of a step
/// (Heun), because the score's factor 1/√(1 − ᾱ) diverges at t = 0. Euler–Maruyama only
/// evaluates it at the start of each step, so 0 is fine there.
public func sampleReverseSDE<Predictor: NoisePredictor>(
    predictor: Predictor, sde: VPSDE<Predictor.Scalar>, initial: Tensor<Predictor.Scalar>, steps: Int,
    seed: UInt64, endTime: Double = 0, solver: any SDESolver = EulerMaruyama()
) throws -> Tensor<Predictor.Scalar> {
    let brownian = VirtualBrownianTree<Predictor.Scalar>(from: Swift.min(0, endTime), to: sde.horizon, shape: initial.shape, seed: seed)
    return try sampleReverseSDE(
        predictor: predictor, sde: sde, initial: initial, grid: TimeGrid(from: sde.horizon, to: endTime, steps: steps),
        brownian: brownian, solver: solver)
}

/// Samples by the reverse-time VP SDE as above, on the given grid (from T down to the end
/// time) and Brownian path, for example to share the noise between two samplers.
public func sampleReverseSDE<Predictor: NoisePredictor, Path: BrownianPath>(
    predictor: Predictor, sde: VPSDE<Predictor.Scalar>, initial: Tensor<Predictor.Scalar>, grid: TimeGrid,
    brownian: Path, solver: any SDESolver = EulerMaruyama()
) throws -> Tensor<Predictor.Scalar> where Path.Scalar == Predictor.Scalar {
    typealias Scalar = Predictor.Scalar
    let batch = initial.shape[0]
    let reverse = ReverseTimeSDE(forward: sde) { t, x in
        let predicted = predictor.predictNoise(x, at: Tensor(shape: [batch], repeating: Scalar(t)))
        return predicted * Scalar(-1 / sde.marginalStandardDeviation(t))
    }
    let solution = try solve(reverse, x0: Variable(initial), grid: grid, solver: solver, brownian: brownian, gradient: .detached)
    return solution.terminal.value
}
