import SDECore
import Tensors

/// Exact drifts of the continuous-time VP SDE for Gaussian data, as the closures that
/// `ReverseTimeSDE`, `solve` and the Girsanov utilities of SDECore take.
extension GaussianDiffusionOracle {
    /// Returns the score (t, x) ↦ ∇ ln p_t(x) with ᾱ = ᾱ(t) of `sde`, for `ReverseTimeSDE`.
    public func scoreFunction<Scalar>(sde: VPSDE<Scalar>) -> ScoreFunction<Scalar> {
        { t, x in scoreMap(alphaBar: sde.alphaBar(t))(x) }
    }

    /// Returns the conditional score (t, x) ↦ ∇ ln p_t(x) + h*_t(x) = ∇ ln p_t(x | y):
    /// `ReverseTimeSDE` with it is the conditional reverse SDE of the exact h-transform.
    public func conditionalScoreFunction<Scalar>(sde: VPSDE<Scalar>) -> ScoreFunction<Scalar> {
        { t, x in conditionalScoreMap(alphaBar: sde.alphaBar(t))(x) }
    }

    /// Returns the h-transform (t, x) ↦ h*_t(x) in score units.
    public func hTransformFunction<Scalar>(sde: VPSDE<Scalar>) -> (Double, Variable<Scalar>) -> Variable<Scalar> {
        { t, x in hTransformMap(alphaBar: sde.alphaBar(t))(x) }
    }

    /// Returns the control of the conditional reverse SDE in the convention of SDECore's
    /// Girsanov utilities, u(t, x) = −√β(t) h*_t(x).
    ///
    /// The reverse SDE is written dX = [f − σ² (∇ ln p_t + h*)] dt + σ dW̄ and solved with
    /// dt < 0, so its drift exceeds the unconditional one by −σ² h* = σ u with σ = √β(t).
    /// In reverse time (τ = T − t) the control is −u = σ h*, whose energy
    /// ½ ∫ σ² ‖h*‖² dτ is the running cost of the control problem.
    public func reverseControlFunction<Scalar>(sde: VPSDE<Scalar>) -> (Double, Variable<Scalar>) -> Variable<Scalar> {
        { t, x in hTransformMap(alphaBar: sde.alphaBar(t)).scaled(by: -sde.beta(t).squareRoot())(x) }
    }

    /// Returns the drift of the conditional reverse SDE at time t as an affine map,
    /// x ↦ −½ β(t) x − β(t) (∇ ln p_t(x) + h*_t(x)).
    public func conditionalReverseDrift<Scalar>(sde: VPSDE<Scalar>, at t: Double) -> AffineMap {
        let beta = sde.beta(t)
        let contraction = AffineMap(weight: Matrix(identity: dimension) * (-0.5 * beta), offset: Array(repeating: 0, count: dimension))
        return contraction + conditionalScoreMap(alphaBar: sde.alphaBar(t)).scaled(by: -beta)
    }
}

/// Returns the exact law of the Euler–Maruyama chain
/// x_{n+1} = x_n + (F_n x_n + c_n) Δt_n + g_n ΔW_n of a linear SDE with isotropic additive
/// noise, started from a Gaussian: the recursion μ ← (I + F Δt) μ + c Δt,
/// Σ ← (I + F Δt) Σ (I + F Δt)ᵀ + g² |Δt| I.
///
/// Compared with the continuous solution's law, it measures the discretisation error of a
/// simulation without sampling noise; compared with samples, it isolates the sampling error.
///
/// - Parameters:
///   - grid: the time points t₀, …, t_N (decreasing for a reverse-time solve).
///   - drift: the drift at tₙ as an affine map x ↦ Fₙ x + cₙ.
///   - diffusion: the scalar gₙ at tₙ.
public func eulerMaruyamaLaw(
    start: MultivariateNormal, grid: TimeGrid, drift: (Double) -> AffineMap, diffusion: (Double) -> Double
) -> MultivariateNormal {
    let d = start.dimension
    var mean = start.mean
    var covariance = start.covariance
    for n in 0..<grid.stepCount {
        let (t, dt) = (grid.points[n], grid.points[n + 1] - grid.points[n])
        let map = drift(t)
        let transition = Matrix(identity: d) + map.weight * dt
        let g = diffusion(t)
        mean = add(transition * mean, scale(map.offset, by: dt))
        covariance = (transition * covariance * transition.transposed + Matrix(identity: d) * (g * g * Swift.abs(dt))).symmetrized
    }
    return try! MultivariateNormal(mean: mean, covariance: covariance)
}
