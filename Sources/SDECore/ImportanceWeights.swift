import Foundation
import Tensors

// Self-normalised importance sampling from log-weights wᵢ = log dQ/dP (Xᵢ), i = 1…N.
// Every function subtracts max wᵢ before exponentiating, so log-weights of any size work.

/// Returns log Σᵢ exp(xᵢ) over all elements of `x`, as a rank-0 variable. Its gradient
/// is the softmax of x.
public func logSumExp<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    let shift = x.value.scalars.max()!
    let weights = exp(x.value - shift)
    let total = weights.sum()
    let value = Tensor(Scalar(Foundation.log(Double(total))) + shift)
    return Variable(value: value, parents: [x]) { dy in
        [weights * (dy.scalar / total)]
    }
}

/// Returns the normalised weights exp(wᵢ) / Σⱼ exp(wⱼ), of the shape of `logWeights`.
public func normalizedImportanceWeights<Scalar>(_ logWeights: Tensor<Scalar>) -> Tensor<Scalar> {
    let shift = logWeights.scalars.max()!
    let weights = exp(logWeights - shift)
    return weights / weights.sum()
}

/// Returns the effective sample size (Σ exp wᵢ)² / Σ exp(2wᵢ), between 1 (one weight
/// dominates) and N (equal weights).
public func effectiveSampleSize<Scalar>(logWeights: Tensor<Scalar>) -> Double {
    let weights = normalizedImportanceWeights(logWeights)
    return 1 / Double((weights * weights).sum())
}

/// Returns the estimate log((1/N) Σ exp wᵢ) = logsumexp(w) − log N of log E_P[dQ/dP],
/// which is log Z when the wᵢ are unnormalised log-densities of a target against the
/// sampling law. It is biased low by Jensen's inequality, by about Var(exp w) / (2N) for
/// normalised weights.
public func logNormalizerEstimate<Scalar>(logWeights: Tensor<Scalar>) -> Double {
    let shift = Double(logWeights.scalars.max()!)
    let total = Double(exp(logWeights - Scalar(shift)).sum())
    return Foundation.log(total) + shift - Foundation.log(Double(logWeights.scalarCount))
}
