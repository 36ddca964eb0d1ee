import Foundation
import NeuralNetworks
import SDECore
import Tensors

/// An importance-sampling estimate of ln Z = ln E_P[ℓ(X₀)] from paths of a control.
public struct LogNormalizerEstimate: Sendable {
    /// ln Ẑ = logsumexp(ln ℓ(X₀ᵢ) − log dQ^u/dP(pathᵢ)) − ln N.
    public var logNormalizer: Double
    /// The delta-method standard error of ln Ẑ, sd(wᵢ) / (√N mean(wᵢ)) for the weights wᵢ.
    public var standardError: Double
    /// (Σ wᵢ)² / Σ wᵢ², between 1 and N; N when the control is optimal.
    public var effectiveSampleSize: Double
    public var sampleCount: Int
}

extension ControlProblem {
    /// Estimates ln Z = ln E_P[ℓ(X₀)], the log-evidence ln p(y) of an observation or the
    /// log-normaliser of the tilted law π ∝ exp(r) p_data, by importance sampling with the
    /// path law of `model` as proposal:
    ///
    ///     Z = E_{Q^u}[ℓ(X₀) dP/dQ^u],   ln Ẑ = logsumexp_i(ln ℓ(X₀ᵢ) − log dQ^u/dP(pathᵢ)) − ln N,
    ///
    /// with the discrete Girsanov log-ratio of on-policy Euler–Maruyama paths. The estimate
    /// is consistent for any control. At h* each weight is ℓ_T(X_T), so the spread of the
    /// weights is that of ℓ_T over the start law, which vanishes as the horizon grows. P
    /// here is the prior's reverse chain started from N(0, I) on this grid, so Z differs
    /// from E_{p_data}[ℓ] by the start-law and discretisation errors of that chain.
    public func estimateLogNormalizer<Model: HTransformModel>(
        _ model: Model, randomness: PathRandomness<Scalar>, context: Tensor<Scalar>? = nil
    ) throws -> LogNormalizerEstimate where Model.Scalar == Scalar {
        let paths = try detachedLogRatios(
            model, reference: .onPolicy, randomness: randomness, context: context, memory: .recomputedPath,
            solver: EulerMaruyama())
        let logWeights = paths.values.scalars.map { -Double($0) }
        return LogNormalizerEstimate(logWeights: logWeights)
    }
}

extension LogNormalizerEstimate {
    /// Summarises importance log-weights ln wᵢ with SDECore's `logNormalizerEstimate` and
    /// `effectiveSampleSize`.
    public init(logWeights: [Double]) {
        precondition(!logWeights.isEmpty, "LogNormalizerEstimate: no weights")
        let tensor = Tensor<Double>(logWeights)
        let count = Double(logWeights.count)
        let largest = logWeights.max()!
        let scaled = logWeights.map { Foundation.exp($0 - largest) }
        let mean = scaled.reduce(0, +) / count
        let meanOfSquares = scaled.reduce(0) { $0 + $1 * $1 } / count
        let variance = Swift.max(0, meanOfSquares - mean * mean) * count / Swift.max(count - 1, 1)

        logNormalizer = SDECore.logNormalizerEstimate(logWeights: tensor)
        standardError = variance.squareRoot() / (count.squareRoot() * mean)
        effectiveSampleSize = SDECore.effectiveSampleSize(logWeights: tensor)
        sampleCount = logWeights.count
    }
}
