import GaussianOracle
import SDECore
import Tensors

/// A Gaussian inverse problem for tests: N(m, S) with a non-diagonal S (for d > 1), a
/// non-square operator A of k ≠ d rows, noise σ_y and one observation y drawn from p(y).
struct GaussianTestProblem {
    let prior: MultivariateNormal
    let observationModel: LinearGaussianObservation<Double>
    let observation: [Double]
    let oracle: GaussianDiffusionOracle

    var dimension: Int { prior.dimension }
    var operatorMatrix: Matrix { observationModel.operatorMatrix }
    var noiseStd: Double { observationModel.noiseStd }

    /// d = 1 gets k = 2 rows, d = 2 gets k = 1 and d = 8 gets k = 3.
    init(dimension d: Int, noiseStd: Double = 0.5, seed: UInt64 = 7) {
        var generator = PhiloxRandom(seed: seed)
        let k = d == 1 ? 2 : (d == 2 ? 1 : 3)

        // S = L Lᵀ / d + 0.3 I with a dense L, so S is well conditioned and not diagonal.
        let l = Matrix(Tensor<Double>.normal(shape: [d, d], using: &generator))
        let s = l * l.transposed * (1 / Double(d)) + Matrix(identity: d) * 0.3
        let m = Tensor<Double>.normal(shape: [d], using: &generator).scalars
        prior = try! MultivariateNormal(mean: m, covariance: s)

        let a = Matrix(Tensor<Double>.normal(shape: [k, d], using: &generator))
        observationModel = LinearGaussianObservation(operator: a, noiseStandardDeviation: noiseStd)

        let x0 = prior.sample(count: 1, using: &generator, as: Double.self)
        observation = observationModel.sample(given: x0, using: &generator).scalars
        oracle = GaussianDiffusionOracle(prior: prior, tilt: observationModel.tilt(observation: observation))
    }
}

/// Returns the largest absolute entry of x − y.
func maximumDifference(_ x: [Double], _ y: [Double]) -> Double {
    precondition(x.count == y.count, "maximumDifference: lengths \(x.count) and \(y.count) differ")
    return zip(x, y).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

/// Returns the largest absolute entry of x − y.
func maximumDifference(_ x: Matrix, _ y: Matrix) -> Double {
    (x - y).maximumAbsoluteEntry
}

/// Central finite-difference gradient of f at x with step h.
func finiteDifferenceGradient(_ f: ([Double]) -> Double, at x: [Double], step h: Double = 1e-5) -> [Double] {
    (0..<x.count).map { i in
        var plus = x
        var minus = x
        plus[i] += h
        minus[i] -= h
        return (f(plus) - f(minus)) / (2 * h)
    }
}

/// Conditions a joint Gaussian on some of its coordinates: returns E[X_a | X_b = value]
/// and Cov[X_a | X_b] by the generic formula Σ_ab Σ_bb⁻¹ (value − μ_b), built from the
/// joint covariance alone, for independent checks of the oracle's closed forms.
func conditionJointGaussian(
    mean: [Double], covariance: Matrix, keep a: [Int], given b: [Int], value: [Double]
) -> (mean: [Double], covariance: Matrix) {
    func block(_ rows: [Int], _ columns: [Int]) -> Matrix {
        Matrix(rows.map { i in columns.map { j in covariance[i, j] } })
    }
    let sigmaAB = block(a, b)
    let sigmaBB = block(b, b)
    let gain = try! sigmaBB.solvePositiveDefinite(sigmaAB.transposed).transposed
    let shift = b.indices.map { value[$0] - mean[b[$0]] }
    let conditionalMean = a.indices.map { mean[a[$0]] + (gain * shift)[$0] }
    let conditionalCovariance = block(a, a) - gain * sigmaAB.transposed
    return (conditionalMean, conditionalCovariance)
}

/// ln ℓ(xᵢ) for each row of x under a quadratic log-weight, `[n]`.
func evaluateRows(_ function: QuadraticFunction, _ x: Tensor<Double>) -> [Double] {
    (0..<x.shape[0]).map { row in function(x.slice(alongAxis: 0, row..<(row + 1)).scalars) }
}

/// Returns the sample mean and the standard error of the mean of `values`.
func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0, +) / n
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    return (mean, (variance / n).squareRoot())
}
