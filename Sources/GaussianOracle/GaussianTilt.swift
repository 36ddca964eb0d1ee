import Foundation

/// A weight ℓ(x₀) = exp(q(x₀)) with q(x₀) = −½ x₀ᵀ Λ x₀ + ηᵀ x₀ + κ and Λ symmetric
/// positive semi-definite: the likelihood p(y | x₀) of a linear Gaussian observation, or
/// the exponentiated reward exp(r(x₀)) of a linear or quadratic reward.
///
/// Conditioning a Gaussian prior on such a weight keeps it Gaussian, which is what makes
/// every quantity of the h-transform closed-form. The one identity everything else
/// uses: for X₀ ~ N(μ, C) with C positive semi-definite (possibly singular),
///
///     ln E[ℓ(X₀)] = q(μ) − ½ ln det(I + C Λ) + ½ gᵀ (I + C Λ)⁻¹ C g,   g = ∇q(μ) = η − Λ μ.
///
/// Derivation: write X₀ = μ + z. Then q(X₀) = q(μ) + gᵀ z − ½ zᵀ Λ z, and completing the
/// square in the Gaussian integral over z gives E[exp(gᵀ z − ½ zᵀ Λ z)]
/// = det(I + C Λ)^{−1/2} exp(½ gᵀ (C⁻¹ + Λ)⁻¹ g), with (C⁻¹ + Λ)⁻¹ = (I + C Λ)⁻¹ C, which
/// stays finite when C is singular. Its gradient in μ is (I + Λ C)⁻¹ (η − Λ μ).
public struct GaussianTilt: Sendable {
    /// q = ln ℓ; its curvature is Λ.
    public let logWeight: QuadraticFunction

    /// Creates the weight exp(−½ x₀ᵀ Λ x₀ + ηᵀ x₀ + κ).
    public init(precision: Matrix, linear: [Double], constant: Double) {
        logWeight = QuadraticFunction(curvature: precision, linear: linear, constant: constant)
        let eigenvalues = (try? logWeight.curvature.symmetricEigendecomposition().values) ?? [-1]
        let scaleOfLambda = Swift.max(1, logWeight.curvature.maximumAbsoluteEntry)
        precondition(
            eigenvalues.allSatisfy { $0 >= -1e-10 * scaleOfLambda },
            "GaussianTilt: the precision Λ must be positive semi-definite; its eigenvalues are \(eigenvalues)")
    }

    /// Returns the likelihood p(y | x₀) = N(y; A x₀, σ² I) of the observation y = A x₀ + σ ξ:
    /// Λ = Aᵀ A / σ², η = Aᵀ y / σ², κ = −‖y‖² / (2σ²) − (k/2) ln(2π σ²) with k = dim y.
    public static func linearObservation(
        operator a: Matrix, noiseStandardDeviation sigma: Double, observation y: [Double]
    ) -> GaussianTilt {
        precondition(sigma > 0, "GaussianTilt.linearObservation: noise standard deviation \(sigma) must be positive")
        precondition(
            y.count == a.rows,
            "GaussianTilt.linearObservation: observation of length \(y.count) does not fit an operator with \(a.rows) rows")
        let variance = sigma * sigma
        let k = Double(a.rows)
        return GaussianTilt(
            precision: a.transposed * a * (1 / variance),
            linear: scale(a.transposed * y, by: 1 / variance),
            constant: -0.5 * dot(y, y) / variance - 0.5 * k * Foundation.log(2 * Double.pi * variance))
    }

    /// Returns the weight of the linear reward r(x₀) = bᵀ x₀: Λ = 0, η = b, κ = 0.
    public static func linearReward(_ b: [Double]) -> GaussianTilt {
        GaussianTilt(precision: Matrix(zeros: b.count, b.count), linear: b, constant: 0)
    }

    /// Returns the weight of the quadratic reward r(x₀) = −½ (x₀ − c)ᵀ Q (x₀ − c): Λ = Q, η = Q c, κ = −½ cᵀ Q c.
    public static func quadraticReward(precision q: Matrix, centre c: [Double]) -> GaussianTilt {
        precondition(q.rows == c.count && q.columns == c.count, "GaussianTilt.quadraticReward: Q \(q.rows) × \(q.columns) does not fit a centre of length \(c.count)")
        let qc = q * c
        return GaussianTilt(precision: q, linear: qc, constant: -0.5 * dot(c, qc))
    }

    public var dimension: Int { logWeight.dimension }
    /// Λ.
    public var precision: Matrix { logWeight.curvature }

    /// Returns ln E[ℓ(X₀)] for X₀ ~ N(μ, C) as a quadratic function of μ for a fixed covariance C:
    /// expanding the identity in the type's documentation with M = (I + C Λ)⁻¹ C,
    ///
    ///     F(μ) = −½ μᵀ (Λ − Λ M Λ) μ + (η − Λ M η)ᵀ μ + κ + ½ ηᵀ M η − ½ ln det(I + C Λ).
    ///
    /// ln det(I + C Λ) is computed as ln det(I + Λ^{1/2} C Λ^{1/2}) (Sylvester's identity),
    /// whose argument is symmetric positive definite.
    public func logExpectation(covariance c: Matrix) -> QuadraticFunction {
        precondition(c.rows == dimension && c.columns == dimension, "GaussianTilt.logExpectation: covariance \(c.rows) × \(c.columns) does not fit dimension \(dimension)")
        let lambda = precision
        let eta = logWeight.linear
        let identity = Matrix(identity: dimension)

        let m = (try! (identity + c * lambda).solve(c)).symmetrized
        let curvature = lambda - lambda * m * lambda
        let linear = subtract(eta, lambda * (m * eta))

        let rootLambda = try! lambda.symmetricSquareRoot()
        let logDeterminant = try! (identity + rootLambda * c * rootLambda).logDeterminantPositiveDefinite()
        let constant = logWeight.constant + 0.5 * dot(eta, m * eta) - 0.5 * logDeterminant
        return QuadraticFunction(curvature: curvature, linear: linear, constant: constant)
    }

    /// Returns the tilted law π(x₀) ∝ N(x₀; m, S) ℓ(x₀) = N(m + P (η − Λ m), P) with
    /// P = (S⁻¹ + Λ)⁻¹ = (I + S Λ)⁻¹ S, written without S⁻¹.
    ///
    /// For an observation this is the posterior p(x₀ | y); for a reward, the target
    /// π ∝ exp(r) p_data.
    public func tilted(_ prior: MultivariateNormal) -> MultivariateNormal {
        precondition(prior.dimension == dimension, "GaussianTilt.tilted: prior dimension \(prior.dimension) differs from \(dimension)")
        let identity = Matrix(identity: dimension)
        let p = (try! (identity + prior.covariance * precision).solve(prior.covariance)).symmetrized
        let mean = add(prior.mean, p * logWeight.gradient(prior.mean))
        return try! MultivariateNormal(mean: mean, covariance: p)
    }

    /// Returns the normaliser ln E[ℓ(X₀)] for X₀ ~ N(m, S): ln p(y) for an observation.
    public func logNormalizer(under prior: MultivariateNormal) -> Double {
        logExpectation(covariance: prior.covariance)(prior.mean)
    }
}
