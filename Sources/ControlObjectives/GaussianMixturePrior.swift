import Foundation
import SDECore
import Tensors

/// A mixture of isotropic Gaussians p_data = Σₖ wₖ N(mₖ, sₖ I) and its exact scores under
/// the variance-preserving forward process: an exactly known prior for examples and tests.
///
/// X_t = √ᾱ X₀ + √(1 − ᾱ) ε maps component k to N(√ᾱ mₖ, vₖ I) with vₖ = ᾱ sₖ + 1 − ᾱ,
/// so the diffused law is the mixture Σₖ wₖ N(√ᾱ mₖ, vₖ I) and, with responsibilities
/// rₖ(x) ∝ wₖ N(x; √ᾱ mₖ, vₖ I) and component scores sₖ(x) = −(x − √ᾱ mₖ)/vₖ,
///
///     ∇ ln p_t(x) = Σₖ rₖ(x) sₖ(x).
///
/// The score is a differentiable operation whose Jacobian is the symmetric matrix
/// −(Σₖ rₖ/vₖ) I + Σₖ rₖ (sₖ − s̄)(sₖ − s̄)ᵀ with s̄ the score (from ∇rₖ = rₖ (sₖ − s̄)),
/// so the adjoint and backpropagation through a reverse solve both work; it has no
/// second derivative.
public struct GaussianMixturePrior: Sendable {
    public let weights: [Double]
    /// mₖ, each of length d.
    public let means: [[Double]]
    /// sₖ > 0.
    public let variances: [Double]

    public init(weights: [Double], means: [[Double]], variances: [Double]) {
        precondition(!weights.isEmpty && weights.count == means.count && means.count == variances.count, "GaussianMixturePrior: \(weights.count) weights, \(means.count) means and \(variances.count) variances must agree and be non-empty")
        precondition(weights.allSatisfy { $0 > 0 }, "GaussianMixturePrior: weights \(weights) must be positive")
        precondition(variances.allSatisfy { $0 > 0 }, "GaussianMixturePrior: variances \(variances) must be positive")
        precondition(Set(means.map(\.count)).count == 1 && means[0].count > 0, "GaussianMixturePrior: the means must share one positive length")
        let total = weights.reduce(0, +)
        self.weights = weights.map { $0 / total }
        self.means = means
        self.variances = variances
    }

    /// ½ N((−4, 0), I) + ½ N((4, 0), I).
    public static var twoModes: GaussianMixturePrior {
        GaussianMixturePrior(weights: [0.5, 0.5], means: [[-4, 0], [4, 0]], variances: [1, 1])
    }

    public var dimension: Int { means[0].count }
    public var componentCount: Int { weights.count }

    /// Returns the responsibilities rₖ(x) of the components of p_t at noise level ᾱ,
    /// `[batch, K]`, for x of shape `[batch, d]`.
    public func responsibilities<Scalar: TensorScalar>(_ x: Tensor<Scalar>, alphaBar: Double) -> Tensor<Scalar> {
        let logits = componentLogDensities(x, alphaBar: alphaBar)
        let shifted = exp(logits - logits.max(alongAxes: [1]))
        return shifted / shifted.sum(alongAxes: [1])
    }

    /// Returns ln p_t(x) at noise level ᾱ, `[batch]`.
    public func logDensity<Scalar: TensorScalar>(_ x: Tensor<Scalar>, alphaBar: Double) -> Tensor<Scalar> {
        let logits = componentLogDensities(x, alphaBar: alphaBar)
        let largest = logits.max(alongAxes: [1])
        return (log(exp(logits - largest).sum(alongAxes: [1])) + largest).reshaped(to: [x.shape[0]])
    }

    /// Returns ∇ ln p_t(x) at noise level ᾱ, `[batch, d]`, differentiable in x.
    public func score<Scalar: TensorScalar>(_ x: Variable<Scalar>, alphaBar: Double) -> Variable<Scalar> {
        precondition(x.rank == 2 && x.shape[1] == dimension, "GaussianMixturePrior.score: x of shape \(x.shape) must be [batch, \(dimension)]")
        precondition(alphaBar >= 0 && alphaBar <= 1, "GaussianMixturePrior.score: ᾱ = \(alphaBar) must lie in [0, 1]")
        let responsibilities = responsibilities(x.value, alphaBar: alphaBar)
        let componentScores = (0..<componentCount).map { k in
            (x.value - centre(k, alphaBar: alphaBar, Scalar.self)) * Scalar(-1 / diffusedVariance(k, alphaBar: alphaBar))
        }
        let columns = (0..<componentCount).map { responsibilities.slice(alongAxis: 1, $0..<($0 + 1)) }
        var score = Tensor<Scalar>(zeros: x.shape)
        var curvature = Tensor<Scalar>(zeros: [x.shape[0], 1])
        for k in 0..<componentCount {
            score += columns[k] * componentScores[k]
            curvature += columns[k] * Scalar(1 / diffusedVariance(k, alphaBar: alphaBar))
        }

        // Jᵀ c = −(Σₖ rₖ/vₖ) c + Σₖ rₖ (sₖ − s̄) ((sₖ − s̄) · c), row by row.
        let deviations = componentScores.map { $0 - score }
        return Variable(value: score, parents: [x]) { cotangent in
            var result = -(cotangent * curvature)
            for k in 0..<componentCount {
                let projection = (deviations[k] * cotangent).sum(alongAxes: [1])
                result += deviations[k] * (columns[k] * projection)
            }
            return [result]
        }
    }

    /// Returns the score function (t, x) ↦ ∇ ln p_t(x) of the VP SDE `sde`.
    public func scoreFunction<Scalar: TensorScalar>(sde: VPSDE<Scalar>) -> ScoreFunction<Scalar> {
        { t, x in score(x, alphaBar: sde.alphaBar(t)) }
    }

    /// Draws `count` samples of p_data, `[count, d]`.
    public func sample<Scalar: TensorScalar>(count: Int, using generator: inout PhiloxRandom) -> Tensor<Scalar> {
        let d = dimension
        var scalars = [Scalar]()
        scalars.reserveCapacity(count * d)
        for _ in 0..<count {
            let u = generator.nextUniform()
            var component = 0
            var cumulative = weights[0]
            while u >= cumulative && component < componentCount - 1 {
                component += 1
                cumulative += weights[component]
            }
            let standardDeviation = variances[component].squareRoot()
            for i in 0..<d {
                scalars.append(Scalar(means[component][i] + standardDeviation * generator.nextNormal()))
            }
        }
        return Tensor(shape: [count, d], scalars: scalars)
    }

    /// ln wₖ + ln N(x; √ᾱ mₖ, vₖ I) for each component, `[batch, K]`.
    private func componentLogDensities<Scalar: TensorScalar>(_ x: Tensor<Scalar>, alphaBar: Double) -> Tensor<Scalar> {
        let d = Double(dimension)
        let columns = (0..<componentCount).map { k -> Tensor<Scalar> in
            let v = diffusedVariance(k, alphaBar: alphaBar)
            let offset = x - centre(k, alphaBar: alphaBar, Scalar.self)
            let constant = Foundation.log(weights[k]) - 0.5 * d * Foundation.log(2 * Double.pi * v)
            return (offset * offset).sum(alongAxes: [1]) * Scalar(-0.5 / v) + Scalar(constant)
        }
        return Tensor.concatenate(columns, alongAxis: 1)
    }

    /// √ᾱ mₖ as a row `[1, d]`.
    private func centre<Scalar: TensorScalar>(_ k: Int, alphaBar: Double, _ type: Scalar.Type) -> Tensor<Scalar> {
        Tensor(shape: [1, dimension], scalars: means[k].map { Scalar($0 * alphaBar.squareRoot()) })
    }

    /// vₖ = ᾱ sₖ + 1 − ᾱ.
    private func diffusedVariance(_ k: Int, alphaBar: Double) -> Double {
        alphaBar * variances[k] + 1 - alphaBar
    }
}
