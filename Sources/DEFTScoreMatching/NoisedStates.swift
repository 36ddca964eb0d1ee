import Tensors

/// Training states of DEFT's score-matching loss with the frozen prior's prediction at
/// each: clean samples x₀, times t, noise ε, the noised states
/// x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε and ε_θ(x_t, t).
///
/// Everything here is independent of the observation, so a set of noised states can be
/// paired with fresh observations of its x₀ without evaluating the prior again
/// (`PriorEvaluationPool`).
public struct NoisedStates<Scalar: TensorScalar> {
    /// X₀, `[N, …]`.
    public var x0: Tensor<Scalar>
    /// The times t, one per sample, as the schedule drew them.
    public var times: [Double]
    /// ε, shaped like `x0`.
    public var noise: Tensor<Scalar>
    /// x_t, shaped like `x0`.
    public var state: Tensor<Scalar>
    /// ε_θ(x_t, t), shaped like `x0`.
    public var priorNoise: Tensor<Scalar>

    public init(x0: Tensor<Scalar>, times: [Double], noise: Tensor<Scalar>, state: Tensor<Scalar>, priorNoise: Tensor<Scalar>) {
        let shape = x0.shape
        precondition(
            times.count == shape[0] && noise.shape == shape && state.shape == shape && priorNoise.shape == shape,
            "NoisedStates: \(times.count) times, noise \(noise.shape), states \(state.shape) and prior predictions \(priorNoise.shape) must match x0 \(shape)")
        self.x0 = x0
        self.times = times
        self.noise = noise
        self.state = state
        self.priorNoise = priorNoise
    }

    /// The number N of states.
    public var count: Int { times.count }

    /// Returns the states at `indices`, in that order, repeats allowed.
    public func gathering(atIndices indices: [Int]) -> NoisedStates {
        NoisedStates(
            x0: x0.gathering(atIndices: indices), times: indices.map { times[$0] }, noise: noise.gathering(atIndices: indices),
            state: state.gathering(atIndices: indices), priorNoise: priorNoise.gathering(atIndices: indices))
    }

    /// Returns the states of `parts` one after the other.
    public static func concatenate(_ parts: [NoisedStates]) -> NoisedStates {
        precondition(!parts.isEmpty, "NoisedStates.concatenate: no parts")
        return NoisedStates(
            x0: Tensor.concatenate(parts.map(\.x0), alongAxis: 0), times: parts.flatMap(\.times),
            noise: Tensor.concatenate(parts.map(\.noise), alongAxis: 0), state: Tensor.concatenate(parts.map(\.state), alongAxis: 0),
            priorNoise: Tensor.concatenate(parts.map(\.priorNoise), alongAxis: 0))
    }
}
