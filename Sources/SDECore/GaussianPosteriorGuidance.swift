import Tensors

extension LinearObservationModel {
    /// Returns Aᵀ (r² A Aᵀ + σ_y² I)⁻¹ (y − A x̂₀) for each batch element, with one
    /// variance r² per element. It is the gradient in x̂₀ of ln N(y; A x̂₀, σ_y² I + r² A Aᵀ),
    /// the likelihood of y when x₀ ~ N(x̂₀, r² I).
    ///
    /// With r² = 0 it is the plain likelihood gradient Aᵀ(y − A x̂₀) / σ_y². The inverse is
    /// computed by the structure the model offers:
    /// - a `SingularValueObservationModel`: exactly, A = U Σ Vᵀ gives
    ///   Aᵀ(r² A Aᵀ + σ_y² I)⁻¹ = V diag(sᵢ / (r² sᵢ² + σ_y²)) Uᵀ, with gain 0 where sᵢ = 0;
    /// - otherwise conjugate gradients on (r² A Aᵀ + σ_y² I) w = y − A x̂₀, then Aᵀ w.
    ///
    /// - Parameters:
    ///   - y: the observations `[N, …]`.
    ///   - x: the estimates x̂₀ `[N, …]`.
    ///   - posteriorVariances: r² for each of the N elements, non-negative.
    ///   - noiseStandardDeviation: σ_y; nil takes the model's.
    public func gaussianPosteriorGradient(
        of y: Tensor<Scalar>, at x: Tensor<Scalar>, posteriorVariances: [Double], noiseStandardDeviation: Double? = nil,
        conjugateGradientIterations: Int = 50, conjugateGradientTolerance: Double = 1e-6
    ) -> Tensor<Scalar> {
        let batch = x.shape[0]
        precondition(
            posteriorVariances.count == batch && posteriorVariances.allSatisfy { $0 >= 0 && $0.isFinite },
            "gaussianPosteriorGradient: \(posteriorVariances.count) variances for a batch of \(batch); each must be finite and non-negative")
        let sigma = noiseStandardDeviation ?? Double(self.noiseStandardDeviation)
        let residual = y - withoutRecording { forward(Variable(x)).value }

        if let spectral = self as? any SingularValueObservationModel<Scalar> {
            return spectral.spectralPosteriorGradient(
                residual: residual, signalCount: x.scalarCount / batch, posteriorVariances: posteriorVariances, sigma: sigma)
        }

        let variances: Tensor<Scalar> = Tensor(
            shape: [batch] + Array(repeating: 1, count: residual.rank - 1), scalars: posteriorVariances.map { Scalar($0) })
        let solution = conjugateGradients(residual, iterations: conjugateGradientIterations, relativeTolerance: conjugateGradientTolerance) { w in
            let projected = withoutRecording { forward(Variable(adjoint(w))).value }
            return projected * variances + w * Scalar(sigma * sigma)
        }
        return adjoint(solution)
    }
}

extension SingularValueObservationModel {
    /// Returns V diag(sᵢ / (r_b² sᵢ² + σ²)) Uᵀ residual_b for each batch element b.
    fileprivate func spectralPosteriorGradient(
        residual: Tensor<Scalar>, signalCount: Int, posteriorVariances: [Double], sigma: Double
    ) -> Tensor<Scalar> {
        let values = singularValues.scalars.map { Double($0) }
        let rank = values.count
        let batch = posteriorVariances.count

        // A zero sᵢ carries no measurement, so its gain is 0, where the formula gives 0/0 once σ_y = 0.
        var gains = [Scalar](repeating: 0, count: batch * rank)
        for (b, r2) in posteriorVariances.enumerated() {
            for (i, s) in values.enumerated() where s > 0 {
                gains[b * rank + i] = Scalar(s / (r2 * s * s + sigma * sigma))
            }
        }
        let weighted = applyUTranspose(residual) * Tensor(shape: [batch, rank], scalars: gains)
        guard rank < signalCount else { return applyV(weighted) }
        let padding = Tensor<Scalar>(zeros: [batch, signalCount - rank])
        return applyV(Tensor.concatenate([weighted, padding], alongAxis: 1))
    }
}

/// Solves `M w = b` for each batch element by conjugate gradients from `w = 0`, with `M`
/// symmetric positive semi-definite and applied by `apply`.
///
/// Each element has its own step sizes. The iteration stops after `iterations` steps or once
/// `‖b − M w‖ ≤ relativeTolerance · ‖b‖` for every element.
public func conjugateGradients<Scalar: TensorScalar>(
    _ b: Tensor<Scalar>, iterations: Int, relativeTolerance: Double, apply: (Tensor<Scalar>) -> Tensor<Scalar>
) -> Tensor<Scalar> {
    let batch = b.shape[0]
    func squaredNorms(_ x: Tensor<Scalar>) -> [Double] {
        (x * x).reshaped(to: [batch, -1]).sum(alongAxes: [1]).scalars.map { Double($0) }
    }
    func factors(_ values: [Double]) -> Tensor<Scalar> {
        Tensor(shape: [batch] + Array(repeating: 1, count: b.rank - 1), scalars: values.map { Scalar($0) })
    }

    var solution = Tensor<Scalar>(zeros: b.shape)
    var residual = b
    var direction = b
    var gamma = squaredNorms(residual)
    let thresholds = gamma.map { relativeTolerance * relativeTolerance * $0 }

    for _ in 0..<iterations {
        if zip(gamma, thresholds).allSatisfy({ $0 <= $1 }) { break }

        let product = apply(direction)
        let curvature = (direction * product).reshaped(to: [batch, -1]).sum(alongAxes: [1]).scalars.map { Double($0) }
        let alpha = (0..<batch).map { curvature[$0] > 0 ? gamma[$0] / curvature[$0] : 0 }
        solution = solution + direction * factors(alpha)
        residual = residual - product * factors(alpha)

        let newGamma = squaredNorms(residual)
        let beta = (0..<batch).map { gamma[$0] > 0 ? newGamma[$0] / gamma[$0] : 0 }
        direction = residual + direction * factors(beta)
        gamma = newGamma
    }
    return solution
}
