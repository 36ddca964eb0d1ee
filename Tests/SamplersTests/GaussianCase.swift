import Foundation
import GaussianOracle
import SDECore
import Samplers
import Tensors
import XCTest

/// Gaussian data N(m, S) in 3-D with S = R diag(λ) Rᵀ for a fixed rotation R, so that in
/// the coordinates y = Rᵀ x the data are independent N(m̃ᵢ, λᵢ) with m̃ = Rᵀ m.
///
/// The exact ε-model is affine in each of those coordinates,
/// ε(y, ᾱ) = pᵢ y + qᵢ with pᵢ = √(1 − ᾱ) / (ᾱ λᵢ + 1 − ᾱ) and qᵢ = −pᵢ √ᾱ m̃ᵢ, so every sampler
/// driven by it is a chain of affine maps plus Gaussian noise, and the exact law of its
/// output is Gaussian with moments that a scalar recursion per coordinate gives.
struct GaussianCase {
    static let mean = [0.8, -0.5, 0.2]
    static let eigenvalues = [0.3, 0.8, 1.5]
    /// A rotation by 0.6 rad about the z axis after 0.4 rad about the x axis.
    static let rotation: Matrix = {
        let (a, b) = (0.6, 0.4)
        let z = Matrix([[cos(a), -sin(a), 0], [sin(a), cos(a), 0], [0, 0, 1]])
        let x = Matrix([[1, 0, 0], [0, cos(b), -sin(b)], [0, sin(b), cos(b)]])
        return z * x
    }()

    static var covariance: Matrix {
        rotation * Matrix(diagonal: eigenvalues) * rotation.transposed
    }

    static var prior: MultivariateNormal {
        try! MultivariateNormal(mean: mean, covariance: covariance)
    }

    /// m̃ = Rᵀ m.
    static var rotatedMean: [Double] {
        rotation.transposed * mean
    }

    /// Returns the ε-model coefficients (p, q) of coordinate i at noise level ᾱ.
    static func epsilonCoefficients(_ i: Int, alphaBar: Double) -> (p: Double, q: Double) {
        let p = (1 - alphaBar).squareRoot() / (alphaBar * eigenvalues[i] + 1 - alphaBar)
        return (p, -p * alphaBar.squareRoot() * rotatedMean[i])
    }

    /// Returns the law N(R μ̃, R diag(ṽ) Rᵀ) of x from the means μ̃ and variances ṽ of the rotated coordinates.
    static func law(rotatedMeans: [Double], rotatedVariances: [Double]) -> (mean: [Double], covariance: Matrix) {
        (rotation * rotatedMeans, rotation * Matrix(diagonal: rotatedVariances) * rotation.transposed)
    }

    /// Propagates N(0, 1) in each rotated coordinate through steps y ← a y + b + σ z, where
    /// `step(i, n)` returns (a, b, σ²) for coordinate i at step n, and returns the law of x.
    static func chainLaw(steps: Int, step: (Int, Int) -> (a: Double, b: Double, variance: Double)) -> (mean: [Double], covariance: Matrix) {
        var means = [Double](repeating: 0, count: 3)
        var variances = [Double](repeating: 1, count: 3)
        for n in 0..<steps {
            for i in 0..<3 {
                let (a, b, variance) = step(i, n)
                means[i] = a * means[i] + b
                variances[i] = a * a * variances[i] + variance
            }
        }
        return law(rotatedMeans: means, rotatedVariances: variances)
    }
}

/// A noise predictor that counts its calls and records the times it was called at.
final class CountingPredictor<Base: NoisePredictor>: NoisePredictor {
    typealias Scalar = Base.Scalar
    let base: Base
    private(set) var calls = 0
    private(set) var times: [Double] = []

    init(_ base: Base) {
        self.base = base
    }

    func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        calls += 1
        times.append(Double(t.scalars[0]))
        return base.predictNoise(x, at: t)
    }
}

/// Asserts that samples `[n, 3]` have mean and covariance within 4 standard errors of
/// `law`, plus `allowance` (for a law that is only approximately the samples' own).
///
/// Four standard errors make a false failure of any one of the 9 checks about 6e-5 likely.
/// The seeds are fixed, so a pass is reproducible.
func assertMoments(
    _ samples: Tensor<Double>, match law: (mean: [Double], covariance: Matrix), allowance: Double = 0,
    _ label: String, file: StaticString = #filePath, line: UInt = #line
) {
    let moments = SampleMoments(samples)
    let meanErrors = moments.meanStandardErrors
    let covarianceErrors = moments.covarianceStandardErrors(reference: law.covariance)
    for i in 0..<3 {
        XCTAssertEqual(
            moments.mean[i], law.mean[i], accuracy: 4 * meanErrors[i] + allowance, "\(label): mean \(i)", file: file, line: line)
        for j in 0...i {
            XCTAssertEqual(
                moments.covariance[i, j], law.covariance[i, j], accuracy: 4 * covarianceErrors[i, j] + allowance,
                "\(label): covariance (\(i), \(j))", file: file, line: line)
        }
    }
}

/// Returns the largest entry-wise gap between a law and N(m, S).
func distanceToData(_ law: (mean: [Double], covariance: Matrix)) -> (mean: Double, covariance: Double) {
    let meanGap = zip(law.mean, GaussianCase.mean).map { Swift.abs($0 - $1) }.max()!
    return (meanGap, (law.covariance - GaussianCase.covariance).maximumAbsoluteEntry)
}
