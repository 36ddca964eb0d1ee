import Tensors

/// A noise-prediction (ε) model of a variance-preserving diffusion:
/// `ε_θ(x_t, t) ≈ −√(1 − ᾱ_t) ∇ ln p_t(x_t)`.
///
/// The frozen prior, the Gaussian oracle's exact model and a DEFT-corrected model all
/// conform, so a sampler drives each of them through the same call. The time `t` is in
/// the units the model was trained with: the DDPM step index `k ∈ {0, …, N−1}` for
/// discrete schedules, or the continuous time for a VP SDE. The sampler that drives the
/// model uses the matching schedule.
public protocol NoisePredictor<Scalar>: AnyObject {
    associatedtype Scalar: TensorScalar

    /// Predicts ε for a batch `x` of shape `[N, …]` at times `t` of shape `[N]`.
    ///
    /// The result is a `Variable`, so that methods which differentiate through the
    /// prior (DPS, ΠGDM) can; DEFT and the samplers call it inside `withoutRecording`.
    func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar>
}

extension NoisePredictor {
    /// Predicts ε without recording a graph.
    public func predictNoise(_ x: Tensor<Scalar>, at t: Tensor<Scalar>) -> Tensor<Scalar> {
        withoutRecording { predictNoise(Variable(x), at: t).value }
    }

    /// Tweedie's estimate of the clean sample, `x̂₀ = (x_t − √(1 − ᾱ) ε_θ(x_t, t)) / √ᾱ`,
    /// with `alphaBar` the per-sample ᾱ at `t`, shape `[N]`.
    public func tweedie(_ x: Variable<Scalar>, at t: Tensor<Scalar>, alphaBar: Tensor<Scalar>) -> Variable<Scalar> {
        let shape = [x.shape[0]] + Array(repeating: 1, count: x.rank - 1)
        let signal = sqrt(alphaBar).reshaped(to: shape)
        let noise = sqrt(1 - alphaBar).reshaped(to: shape)
        return (x - predictNoise(x, at: t) * noise) / signal
    }
}
