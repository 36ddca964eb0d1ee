import Foundation
import Tensors

/// The multivariate normal distribution N(μ, Σ) on ℝᵈ with a symmetric positive definite
/// covariance Σ.
///
/// Densities, scores and samples use the Cholesky factor L of Σ (Σ = L Lᵀ), computed once
/// at construction.
public struct MultivariateNormal: Sendable {
    public let mean: [Double]
    public let covariance: Matrix
    /// L with Σ = L Lᵀ, lower triangular.
    public let choleskyFactor: Matrix

    /// Creates N(mean, covariance).
    ///
    /// - Throws: `MatrixFactorizationError` when the covariance is not positive definite.
    public init(mean: [Double], covariance: Matrix) throws {
        precondition(
            covariance.rows == mean.count && covariance.columns == mean.count,
            "MultivariateNormal: covariance \(covariance.rows) × \(covariance.columns) does not fit a mean of length \(mean.count)")
        self.mean = mean
        self.covariance = covariance.symmetrized
        choleskyFactor = try self.covariance.choleskyFactor()
    }

    /// Returns the standard normal N(0, I) on ℝᵈ.
    public static func standard(dimension d: Int) -> MultivariateNormal {
        try! MultivariateNormal(mean: Array(repeating: 0, count: d), covariance: Matrix(identity: d))
    }

    public var dimension: Int { mean.count }

    /// ln det Σ.
    public var logDeterminant: Double {
        2 * choleskyFactor.diagonal.reduce(0) { $0 + Foundation.log($1) }
    }

    /// Σ⁻¹.
    public var precision: Matrix {
        try! covariance.inversePositiveDefinite()
    }

    /// Returns ln N(x; μ, Σ) = −½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ ln det Σ − (d/2) ln 2π.
    public func logDensity(_ x: [Double]) -> Double {
        let whitened = forwardSubstitute(subtract(x, mean))
        return -0.5 * dot(whitened, whitened) - 0.5 * logDeterminant - 0.5 * Double(dimension) * Foundation.log(2 * Double.pi)
    }

    /// Returns the score ∇ₓ ln N(x; μ, Σ) = −Σ⁻¹ (x − μ).
    public func score(_ x: [Double]) -> [Double] {
        scale(try! covariance.solvePositiveDefinite(subtract(x, mean)), by: -1)
    }

    /// Draws `count` samples μ + L z with z ~ N(0, I), as a `[count, d]` tensor.
    public func sample<Scalar: TensorScalar>(
        count: Int, using generator: inout PhiloxRandom, as type: Scalar.Type = Scalar.self
    ) -> Tensor<Scalar> {
        let z = Tensor<Double>.normal(shape: [count, dimension], using: &generator)
        let correlated = matmul(z, choleskyFactor.tensor(Double.self), transposeB: true)
        return Tensor<Scalar>(correlated + Tensor(shape: [1, dimension], scalars: mean))
    }

    /// Returns the law of M X + c for X ~ N(μ, Σ): N(M μ + c, M Σ Mᵀ).
    ///
    /// - Throws: `MatrixFactorizationError` when M Σ Mᵀ is singular (M of deficient rank).
    public func affineTransformed(by map: Matrix, offset: [Double]) throws -> MultivariateNormal {
        try MultivariateNormal(mean: add(map * mean, offset), covariance: map * covariance * map.transposed)
    }

    /// Returns the relative entropy KL(self ‖ other)
    /// = ½ [tr(Σ₂⁻¹ Σ₁) + (μ₂ − μ₁)ᵀ Σ₂⁻¹ (μ₂ − μ₁) − d + ln det Σ₂ − ln det Σ₁].
    public func klDivergence(to other: MultivariateNormal) -> Double {
        precondition(other.dimension == dimension, "klDivergence: dimensions \(dimension) and \(other.dimension) differ")
        let difference = subtract(other.mean, mean)
        let traceTerm = try! other.covariance.solvePositiveDefinite(covariance).trace
        let meanTerm = dot(difference, try! other.covariance.solvePositiveDefinite(difference))
        return 0.5 * (traceTerm + meanTerm - Double(dimension) + other.logDeterminant - logDeterminant)
    }

    /// Returns the 2-Wasserstein distance between Gaussians,
    /// W₂² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}).
    public func wassersteinDistance(to other: MultivariateNormal) -> Double {
        precondition(other.dimension == dimension, "wassersteinDistance: dimensions \(dimension) and \(other.dimension) differ")
        let root = try! covariance.symmetricSquareRoot()
        let cross = try! (root * other.covariance * root).symmetricSquareRoot()
        let meanPart = dot(subtract(mean, other.mean), subtract(mean, other.mean))
        let covariancePart = covariance.trace + other.covariance.trace - 2 * cross.trace
        return Swift.max(meanPart + covariancePart, 0).squareRoot()
    }

    /// Solves L w = v by forward substitution.
    private func forwardSubstitute(_ v: [Double]) -> [Double] {
        var w = v
        for i in 0..<dimension {
            var total = w[i]
            for j in 0..<i {
                total -= choleskyFactor[i, j] * w[j]
            }
            w[i] = total / choleskyFactor[i, i]
        }
        return w
    }
}

/// The sample mean and unbiased sample covariance of the rows of a `[count, d]` tensor.
public struct SampleMoments: Sendable {
    public let count: Int
    public let mean: [Double]
    /// (1 / (n − 1)) Σᵢ (xᵢ − x̄)(xᵢ − x̄)ᵀ.
    public let covariance: Matrix

    public init<Scalar: TensorScalar>(_ samples: Tensor<Scalar>) {
        precondition(samples.rank == 2 && samples.shape[0] >= 2, "SampleMoments: samples of shape \(samples.shape) must be [count ≥ 2, d]")
        let (n, d) = (samples.shape[0], samples.shape[1])
        let x = Tensor<Double>(samples)
        let mean = x.mean(alongAxes: [0])
        let centred = x - mean
        let scatter = matmul(centred, centred, transposeA: true)
        count = n
        self.mean = mean.scalars
        covariance = Matrix(scatter * (1 / Double(n - 1))).symmetrized
        precondition(self.mean.count == d)
    }

    /// The standard error of each coordinate's sample mean, √(Σᵢᵢ / n).
    public var meanStandardErrors: [Double] {
        covariance.diagonal.map { ($0 / Double(count)).squareRoot() }
    }

    /// Returns the standard error of each sample covariance entry under normality,
    /// √((Σᵢⱼ² + Σᵢᵢ Σⱼⱼ) / (n − 1)), evaluated at `reference` (the true covariance when
    /// it is known, which makes the error itself exact rather than estimated).
    public func covarianceStandardErrors(reference: Matrix? = nil) -> Matrix {
        let sigma = reference ?? covariance
        let d = sigma.rows
        var errors = Matrix(zeros: d, d)
        for i in 0..<d {
            for j in 0..<d {
                errors[i, j] = ((sigma[i, j] * sigma[i, j] + sigma[i, i] * sigma[j, j]) / Double(count - 1)).squareRoot()
            }
        }
        return errors
    }

    /// Returns the Gaussian N(mean, covariance) fitted to the samples.
    public func fittedNormal() throws -> MultivariateNormal {
        try MultivariateNormal(mean: mean, covariance: covariance)
    }
}
