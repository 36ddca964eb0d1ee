import Foundation
import Tensors

/// The sinusoidal embedding of a time or noise level:
/// `e(t) = [sin(s t ω_0), …, sin(s t ω_{h-1}), cos(s t ω_0), …, cos(s t ω_{h-1})]`,
/// with `h = dimension / 2` and `ω_k = exp(-ln(maxPeriod) · k / h)` for `k = 0…h-1`.
///
/// The first half contains the sines and the second half the cosines, as in the
/// transformer position encoding written half-and-half. Implementations differ in
/// small ways: DDPM's TensorFlow code divides by `h - 1` where this divides by `h`
/// (so here the slowest frequency is `maxPeriod^(-(h-1)/h)`, not `1/maxPeriod`), and
/// guided-diffusion puts the cosines first. `s` is `timeScale`: discrete DDPM steps
/// `t ∈ {0…999}` are used as they are (`s = 1`), while continuous times `t ∈ [0, 1]`
/// are commonly scaled by `s = 1000` so that the fast frequencies resolve them.
///
/// Input `t` of shape `[N]`, output `[N, dimension]`. The embedding is differentiable
/// in `t`, and it has no parameters.
public final class SinusoidalTimeEmbedding<Scalar: TensorScalar>: Layer {
    /// The output size `2h`, even and positive.
    public let dimension: Int
    /// The longest period is close to `2π maxPeriod`; 10,000 by convention.
    public let maxPeriod: Double
    /// The factor `s` applied to `t` before the sines and cosines.
    public let timeScale: Double
    /// The scaled frequencies `s ω_k`, `[1, h]`.
    let frequencies: Tensor<Scalar>

    /// Creates an embedding of `dimension` entries.
    public init(dimension: Int, maxPeriod: Double = 10_000, timeScale: Double = 1) {
        precondition(
            dimension > 0 && dimension.isMultiple(of: 2),
            "SinusoidalTimeEmbedding: dimension \(dimension) must be even and positive, half sines and half cosines")
        precondition(maxPeriod > 1, "SinusoidalTimeEmbedding: maxPeriod \(maxPeriod) must exceed 1")
        self.dimension = dimension
        self.maxPeriod = maxPeriod
        self.timeScale = timeScale
        let half = dimension / 2
        let scaled = (0..<half).map { k in
            Scalar(timeScale * Foundation.exp(-Foundation.log(maxPeriod) * Double(k) / Double(half)))
        }
        frequencies = Tensor(shape: [1, half], scalars: scaled)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] { [] }

    public func callAsFunction(_ t: Variable<Scalar>) -> Variable<Scalar> {
        precondition(t.rank == 1, "SinusoidalTimeEmbedding: times of shape \(t.shape) must be rank 1, [N]")
        let arguments = t.reshaped(to: [t.shape[0], 1]) * frequencies
        return Variable.concatenate([sin(arguments), cos(arguments)], alongAxis: 1)
    }
}
