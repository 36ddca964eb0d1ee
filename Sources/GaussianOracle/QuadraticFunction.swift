/// A quadratic function q(x) = −½ xᵀ U x + vᵀ x + w on ℝᵈ with U symmetric: the form
/// of every log-likelihood, log-reward and log-density in the Gaussian oracle.
public struct QuadraticFunction: Sendable {
    /// U, symmetric.
    public let curvature: Matrix
    /// v.
    public let linear: [Double]
    /// w.
    public let constant: Double

    public init(curvature: Matrix, linear: [Double], constant: Double) {
        precondition(
            curvature.rows == linear.count && curvature.columns == linear.count,
            "QuadraticFunction: curvature \(curvature.rows) × \(curvature.columns) does not fit a linear term of length \(linear.count)")
        self.curvature = curvature.symmetrized
        self.linear = linear
        self.constant = constant
    }

    public var dimension: Int { linear.count }

    /// Returns q(x).
    public func callAsFunction(_ x: [Double]) -> Double {
        -0.5 * dot(x, curvature * x) + dot(linear, x) + constant
    }

    /// Returns ∇q(x) = v − U x.
    public func gradient(_ x: [Double]) -> [Double] {
        subtract(linear, curvature * x)
    }

    /// Returns q(M x + c) as a function of x, with M of shape d × n.
    public func composed(withAffineMap map: Matrix, offset: [Double]) -> QuadraticFunction {
        precondition(map.rows == dimension && offset.count == dimension, "QuadraticFunction.composed: map \(map.rows) × \(map.columns) and offset of length \(offset.count) do not map into ℝ^\(dimension)")
        let gradientAtOffset = gradient(offset)
        return QuadraticFunction(
            curvature: map.transposed * curvature * map,
            linear: map.transposed * gradientAtOffset,
            constant: self(offset))
    }

    /// Returns E[q(X)] for X ~ N(μ, Σ): q(μ) − ½ tr(U Σ).
    public func mean(under law: MultivariateNormal) -> Double {
        self(law.mean) - 0.5 * (curvature * law.covariance).trace
    }

    /// Returns Var[q(X)] for X ~ N(μ, Σ): with X = μ + z and g = ∇q(μ) = v − U μ,
    /// q(X) − q(μ) = gᵀ z − ½ zᵀ U z, whose two terms are uncorrelated (odd and even in z),
    /// so Var = gᵀ Σ g + ½ tr((U Σ)²).
    public func variance(under law: MultivariateNormal) -> Double {
        let g = gradient(law.mean)
        let product = curvature * law.covariance
        return dot(g, law.covariance * g) + 0.5 * (product * product).trace
    }
}
