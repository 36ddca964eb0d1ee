import Foundation
import Tensors

/// Additive Gaussian measurement noise `y = A(x) + σ_y ξ`, `ξ ~ N(0, I)`, shared by the
/// image operators.
///
/// σ_y is in the units of `y`, which for every operator here are those of the data, the
/// [−1, 1] pixel scale. For σ_y > 0 the log-likelihood of one batch element with `m`
/// measured entries is
///
///     ln p(y | x) = −‖y − A(x)‖² / (2σ_y²) − (m/2) ln(2πσ_y²).
///
/// At σ_y = 0 the density is a point mass, so the library uses the unnormalised
/// `−½‖y − A(x)‖²` instead: its gradient `−J_Aᵀ (A(x) − y)` is finite and points towards
/// data consistency, which is what guidance methods need. `sample` then returns `A(x)`.
public struct GaussianNoise<Scalar: TensorScalar>: Sendable {
    /// σ_y ≥ 0.
    public var standardDeviation: Scalar

    public init(standardDeviation: Scalar) {
        precondition(standardDeviation >= 0, "GaussianNoise: standard deviation \(standardDeviation) must be ≥ 0")
        self.standardDeviation = standardDeviation
    }

    /// Returns `ln p(y | x)` per batch element, shape `[N]`, from the residual
    /// `y − A(x)` of shape `[N, …]`; `measurementCounts[i]` is `m` for element `i`.
    public func logLikelihood(residual: Variable<Scalar>, measurementCounts: [Int]) -> Variable<Scalar> {
        let batch = residual.shape[0]
        precondition(
            measurementCounts.count == batch,
            "GaussianNoise: \(measurementCounts.count) measurement counts for a batch of \(batch)")

        let squaredNorms = square(residual).reshaped(to: [batch, -1]).sum(alongAxes: [1]).reshaped(to: [batch])
        guard standardDeviation > 0 else {
            return squaredNorms * Scalar(-0.5)
        }

        let variance = Double(standardDeviation) * Double(standardDeviation)
        let constants = measurementCounts.map { Scalar(-0.5 * Double($0) * Foundation.log(2 * Double.pi * variance)) }
        return squaredNorms * Scalar(-0.5 / variance) + Tensor(shape: [batch], scalars: constants)
    }

    /// Returns `clean + σ_y ξ`, with the noise multiplied by `mask` (broadcast) when given,
    /// so that unmeasured entries stay exactly 0.
    public func perturb(_ clean: Tensor<Scalar>, mask: Tensor<Scalar>? = nil, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        guard standardDeviation > 0 else { return clean }
        var noise = Tensor<Scalar>.normal(shape: clean.shape, standardDeviation: standardDeviation, using: &generator)
        if let mask {
            noise = noise * mask
        }
        return clean + noise
    }
}
