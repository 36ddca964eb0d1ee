import GaussianOracle
import SDECore
import Samplers
import Tensors
import XCTest

/// `LinearObservationModel.gaussianPosteriorGradient` by its spectral path and by
/// conjugate gradients, against the dense formula Aᵀ(r² A Aᵀ + σ_y² I)⁻¹(y − A x̂₀).
final class GaussianPosteriorGradientTests: XCTestCase {
    private let operatorMatrix = Matrix([[1, 0.5, 0, -0.3], [0, 0.4, 1, 0.6], [0.2, 0, 0.1, 2]])
    private let sigma = 0.1
    private let variances = [0, 0.3, 2.0]

    /// Returns the dense formula for each row of `x` and `y`, with its own r².
    private func reference(x: Tensor<Double>, y: Tensor<Double>) throws -> [[Double]] {
        let a = operatorMatrix
        var rows: [[Double]] = []
        for (b, r2) in variances.enumerated() {
            let signal = Array(x.scalars[b * a.columns..<(b + 1) * a.columns])
            let observation = Array(y.scalars[b * a.rows..<(b + 1) * a.rows])
            let residual = zip(observation, a * signal).map { $0 - $1 }
            let covariance = r2 * (a * a.transposed) + sigma * sigma * Matrix(identity: a.rows)
            rows.append(a.transposed * (try covariance.solvePositiveDefinite(residual)))
        }
        return rows
    }

    private func inputs() -> (x: Tensor<Double>, y: Tensor<Double>) {
        var generator = PhiloxRandom(seed: 4)
        return (Tensor<Double>.normal(shape: [3, 4], using: &generator), Tensor<Double>.normal(shape: [3, 3], using: &generator))
    }

    func testConjugateGradientPathMatchesFormula() throws {
        let model = LinearGaussianObservation<Double>(operator: operatorMatrix, noiseStandardDeviation: sigma)
        let (x, y) = inputs()
        let expected = try reference(x: x, y: y)
        let result = model.gaussianPosteriorGradient(of: y, at: x, posteriorVariances: variances, conjugateGradientTolerance: 1e-14)

        // Conjugate gradients on a 3 × 3 system is exact after 3 steps, up to rounding
        // amplified by the condition number of r² A Aᵀ + σ_y² I (about 1e3 here).
        for b in 0..<3 {
            for i in 0..<4 {
                XCTAssertEqual(result.scalars[b * 4 + i], expected[b][i], accuracy: 1e-9 * Swift.max(1, Swift.abs(expected[b][i])), "row \(b), entry \(i)")
            }
        }
    }

    func testSpectralPathMatchesFormula() throws {
        let base = LinearGaussianObservation<Double>(operator: operatorMatrix, noiseStandardDeviation: sigma)
        let model = try DenseSingularValueObservation(wrapping: base, signalShape: [4])
        let (x, y) = inputs()
        let expected = try reference(x: x, y: y)
        let result = model.gaussianPosteriorGradient(of: y, at: x, posteriorVariances: variances)

        for b in 0..<3 {
            for i in 0..<4 {
                XCTAssertEqual(result.scalars[b * 4 + i], expected[b][i], accuracy: 1e-10 * Swift.max(1, Swift.abs(expected[b][i])), "row \(b), entry \(i)")
            }
        }
    }

    func testZeroVarianceIsLikelihoodGradient() {
        let model = LinearGaussianObservation<Double>(operator: operatorMatrix, noiseStandardDeviation: sigma)
        let (x, y) = inputs()
        let gradient = model.logLikelihoodGradient(of: y, at: x)
        let result = model.gaussianPosteriorGradient(of: y, at: x, posteriorVariances: [0, 0, 0], conjugateGradientTolerance: 1e-14)

        for (value, expected) in zip(result.scalars, gradient.scalars) {
            XCTAssertEqual(value, expected, accuracy: 1e-9 * Swift.max(1, Swift.abs(expected)))
        }
    }
}
