/// Closed forms of the stochastic control problem whose solution is the h-transform,
/// for a controlled reverse SDE started from a fixed law ν (in practice N(0, I)) at the
/// horizon T, where the noise level is ᾱ_T.
///
/// The controlled SDE is dH = [f − σ² (∇ ln p_t + h)] dt + σ dW̄ from H_T ~ ν down to 0,
/// with cost J(h) = E_Q[½ ∫₀ᵀ σ² ‖h_t(H_t)‖² dt − ln ℓ(H₀)]. Let P^ν be the unconditional
/// reverse SDE started from ν. Girsanov's theorem with equal start laws gives
/// E_Q[½ ∫ σ² ‖h‖² dt] = KL(Q^h ‖ P^ν). Define Q̃ by dQ̃/dP^ν = ℓ(X₀)/Z; then
/// J(h) = KL(Q^h ‖ Q̃) − ln Z. By the chain rule of relative entropy over the start,
/// KL(Q^h ‖ Q̃) = KL(ν ‖ Q̃_T) + E_{x~ν}[KL(Q^h(· | H_T = x) ‖ Q̃(· | X_T = x))].
/// Q̃_T(x) = ν(x) ℓ_T(x)/Z is fixed, because P^ν given X_T = x has the bridge law of the
/// unconditional process, under which E[ℓ(X₀) | X_T = x] = ℓ_T(x). Q̃ given X_T = x is
/// Doob's transform of that bridge by ℓ_t, the reverse SDE with drift h*_t = ∇ ln ℓ_t,
/// so the second term vanishes exactly at h = h*, and
///
///     J* = KL(ν ‖ ν ℓ_T / Z) − ln Z = −E_{X_T~ν}[ln ℓ_T(X_T)].
///
/// Along each optimal path log dQ*/dP^ν = ln ℓ(X₀) − ln ℓ_T(X_T) (the Doob martingale
/// ratio), so the log-variance loss Var[log dQ/dP^ν − ln ℓ(X₀)] has the floor
/// Var_{X_T~ν}[ln ℓ_T(X_T)], and a trajectory-balance constant converges to
/// E_ν[ln ℓ_T(X_T)]. These expectations are over the start law ν, not over the
/// unconditional marginal p_T; the two differ by O(ᾱ_T).
extension GaussianDiffusionOracle {
    /// Returns E_{X_T~ν}[ln ℓ_T(X_T)], for an observation E_ν[ln p_T(y | X_T)].
    public func expectedTerminalLogWeight(start: MultivariateNormal, alphaBarAtHorizon alphaBar: Double) -> Double {
        checkStart(start)
        return logConditionalWeight(alphaBar: alphaBar).mean(under: start)
    }

    /// Returns Var_{X_T~ν}[ln ℓ_T(X_T)], the floor of the log-variance loss at the optimum.
    public func terminalLogWeightVariance(start: MultivariateNormal, alphaBarAtHorizon alphaBar: Double) -> Double {
        checkStart(start)
        return logConditionalWeight(alphaBar: alphaBar).variance(under: start)
    }

    /// Returns the optimal cost J* = −E_{X_T~ν}[ln ℓ_T(X_T)] of the control problem started from ν.
    public func optimalControlCost(start: MultivariateNormal, alphaBarAtHorizon alphaBar: Double) -> Double {
        -expectedTerminalLogWeight(start: start, alphaBarAtHorizon: alphaBar)
    }

    /// Returns the law of H₀ for the reverse SDE with the exact h* started from ν at the horizon.
    ///
    /// Given H_T = x, H₀ has the law p(x₀ | x_T = x, y) ∝ p_{T|0}(x | x₀) π(x₀), so with
    /// π = N(μ_π, P), Σ_π = ᾱ P + (1 − ᾱ) I and K = P Σ_π⁻¹,
    /// H₀ | H_T = x ~ N(μ_π + √ᾱ K (x − √ᾱ μ_π), P − ᾱ K P). Averaging over x ~ N(μ_ν, Σ_ν):
    ///
    ///     H₀ ~ N(μ_π + √ᾱ K (μ_ν − √ᾱ μ_π), P − ᾱ K P + ᾱ K Σ_ν Kᵀ).
    ///
    /// Started from the diffused target N(√ᾱ μ_π, Σ_π) this is π itself. From N(0, I) the
    /// mean is off by −ᾱ K μ_π and the covariance by ᾱ² K (I − P) Kᵀ, so the error decays
    /// like ᾱ_T = exp(−∫₀ᵀ β).
    public func controlledTerminalLaw(start: MultivariateNormal, alphaBarAtHorizon alphaBar: Double) -> MultivariateNormal {
        checkStart(start)
        checkNoiseLevel(alphaBar)
        let target = self.target
        let p = target.covariance
        let diffused = p * alphaBar + Matrix(identity: dimension) * (1 - alphaBar)
        let gain = (try! diffused.solvePositiveDefinite(p)).transposed
        let root = alphaBar.squareRoot()

        let mean = add(target.mean, scale(gain * subtract(start.mean, scale(target.mean, by: root)), by: root))
        let covariance = p - gain * p * alphaBar + gain * start.covariance * gain.transposed * alphaBar
        return try! MultivariateNormal(mean: mean, covariance: covariance)
    }

    private func checkStart(_ start: MultivariateNormal) {
        precondition(start.dimension == dimension, "GaussianDiffusionOracle: start law of dimension \(start.dimension) differs from \(dimension)")
    }
}
