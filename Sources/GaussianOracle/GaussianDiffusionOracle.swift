import Foundation

/// Closed forms of a variance-preserving diffusion of Gaussian data X₀ ~ N(m, S),
/// conditioned on a weight ℓ(x₀) = exp(q(x₀)): the likelihood p(y | x₀) of a linear
/// observation, or exp(r(x₀)) of a linear or quadratic reward (`GaussianTilt`).
///
/// Every function takes the noise level ᾱ ∈ [0, 1] rather than a time, so the same
/// oracle serves the continuous VP SDE, where ᾱ(t) = exp(−∫₀ᵗ β), and the DDPM chain,
/// where ᾱ_k = ∏_{j≤k} (1 − β_j) exactly. The forward process is
/// X_t = √ᾱ X₀ + √(1 − ᾱ) ε with ε ~ N(0, I), and the derivations are:
///
/// - Marginal: X_t ~ N(√ᾱ m, Σ_t) with Σ_t = ᾱ S + (1 − ᾱ) I; score −Σ_t⁻¹ (x − √ᾱ m).
/// - Denoising posterior p(x₀ | x_t = x) = N(μ_t(x), C_t): (X₀, X_t) is jointly Gaussian
///   with Cov(X₀, X_t) = √ᾱ S, so μ_t(x) = m + √ᾱ S Σ_t⁻¹ (x − √ᾱ m) = a_t + B_t x with
///   B_t = √ᾱ S Σ_t⁻¹ and a_t = (1 − ᾱ) Σ_t⁻¹ m, and C_t = S − ᾱ S Σ_t⁻¹ S = (1 − ᾱ) S Σ_t⁻¹
///   (S and Σ_t commute). For invertible S this is C_t = (S⁻¹ + ᾱ/(1 − ᾱ) I)⁻¹. μ_t is
///   Tweedie's formula (x + (1 − ᾱ) ∇ ln p_t(x)) / √ᾱ.
/// - Conditional likelihood ℓ_t(x) = E[ℓ(X₀) | X_t = x], for an observation p_t(y | x)
///   = N(y; A μ_t(x), A C_t Aᵀ + σ_y² I). Its logarithm is `GaussianTilt.logExpectation`
///   with covariance C_t, evaluated at μ_t(x): a quadratic function of x.
/// - The generalised h-transform h*_t(x) = ∇ₓ ln ℓ_t(x) = B_tᵀ (I + Λ C_t)⁻¹ (η − Λ μ_t(x)).
///   For an observation, by the push-through identity,
///   h*_t(x) = (√ᾱ / (1 − ᾱ)) C_t Aᵀ (A C_t Aᵀ + σ_y² I)⁻¹ (y − A μ_t(x)).
/// - Target (posterior) π = N(μ_π, P) from `GaussianTilt.tilted`; diffused target
///   p_t(x | y) = N(√ᾱ μ_π, ᾱ P + (1 − ᾱ) I), whose score is ∇ ln p_t + h*_t by Bayes.
/// - ε-units: the minimiser of E‖h(H_t, y) + ε_θ(H_t) − ε‖² with the exact
///   ε_θ = −√(1 − ᾱ) ∇ ln p_t is E[ε | H_t, y] − ε_θ(H_t) = −√(1 − ᾱ) h*_t, because
///   E[ε | x_t, y] = −√(1 − ᾱ) ∇ ln p_t(x_t | y) (Tweedie's formula for the forward
///   process started from the posterior).
/// - Conditional Tweedie: E[X₀ | x_t, y] = (x_t + (1 − ᾱ) ∇ ln p_t(x_t | y)) / √ᾱ
///   = μ_t(x_t) + ((1 − ᾱ)/√ᾱ) h*_t(x_t) = x̂₀(x_t) − (√(1 − ᾱ)/√ᾱ) h^φ with h^φ = −√(1 − ᾱ) h*.
///
/// All matrix functions of S are evaluated in its eigenbasis S = V diag(λ) Vᵀ, where Σ_t,
/// B_t and C_t are diagonal; at ᾱ = 1 this gives B = I and C = 0 exactly.
public struct GaussianDiffusionOracle: Sendable {
    /// The data distribution N(m, S).
    public let prior: MultivariateNormal
    /// The likelihood or reward weight ℓ.
    public let tilt: GaussianTilt
    /// The eigendecomposition of S.
    public let priorEigendecomposition: SymmetricEigendecomposition

    public init(prior: MultivariateNormal, tilt: GaussianTilt) {
        precondition(
            tilt.dimension == prior.dimension,
            "GaussianDiffusionOracle: the weight acts on dimension \(tilt.dimension), the prior has \(prior.dimension)")
        self.prior = prior
        self.tilt = tilt
        priorEigendecomposition = try! prior.covariance.symmetricEigendecomposition()
    }

    public var dimension: Int { prior.dimension }

    // MARK: - The unconditional diffusion

    /// Returns the marginal p_t = N(√ᾱ m, ᾱ S + (1 − ᾱ) I).
    public func marginal(alphaBar: Double) -> MultivariateNormal {
        checkNoiseLevel(alphaBar)
        let covariance = priorFunction { alphaBar * $0 + (1 - alphaBar) }
        return try! MultivariateNormal(mean: scale(prior.mean, by: alphaBar.squareRoot()), covariance: covariance)
    }

    /// Returns the score x ↦ ∇ ln p_t(x) = −Σ_t⁻¹ (x − √ᾱ m). Undefined at ᾱ = 1 for a singular S.
    public func scoreMap(alphaBar: Double) -> AffineMap {
        checkNoiseLevel(alphaBar)
        let inverse = priorFunction { 1 / (alphaBar * $0 + (1 - alphaBar)) }
        return AffineMap(weight: inverse * -1, offset: inverse * scale(prior.mean, by: alphaBar.squareRoot()))
    }

    /// Returns ∇ ln p_t(x).
    public func score(_ x: [Double], alphaBar: Double) -> [Double] {
        scoreMap(alphaBar: alphaBar)(x)
    }

    /// Returns the exact noise prediction x ↦ ε(x) = −√(1 − ᾱ) ∇ ln p_t(x) = E[ε | X_t = x].
    public func noisePredictionMap(alphaBar: Double) -> AffineMap {
        scoreMap(alphaBar: alphaBar).scaled(by: -(1 - alphaBar).squareRoot())
    }

    /// Returns the Tweedie mean x ↦ μ_t(x) = E[X₀ | X_t = x] = a_t + B_t x.
    public func tweedieMap(alphaBar: Double) -> AffineMap {
        checkNoiseLevel(alphaBar)
        let root = alphaBar.squareRoot()
        let b = priorFunction { root * $0 / (alphaBar * $0 + (1 - alphaBar)) }
        let a = priorFunction { (1 - alphaBar) / (alphaBar * $0 + (1 - alphaBar)) } * prior.mean
        return AffineMap(weight: b, offset: a)
    }

    /// Returns E[X₀ | X_t = x].
    public func tweedieMean(_ x: [Double], alphaBar: Double) -> [Double] {
        tweedieMap(alphaBar: alphaBar)(x)
    }

    /// Returns Cov[X₀ | X_t = x] = C_t = (1 − ᾱ) S Σ_t⁻¹, the same for every x; zero at ᾱ = 1.
    public func tweedieCovariance(alphaBar: Double) -> Matrix {
        checkNoiseLevel(alphaBar)
        return priorFunction { (1 - alphaBar) * $0 / (alphaBar * $0 + (1 - alphaBar)) }
    }

    // MARK: - Conditioning

    /// Returns ln ℓ_t(x) = ln E[ℓ(X₀) | X_t = x] as a quadratic function of x; for an observation,
    /// ln p_t(y | x). At ᾱ = 1 it is ln ℓ itself.
    public func logConditionalWeight(alphaBar: Double) -> QuadraticFunction {
        let tweedie = tweedieMap(alphaBar: alphaBar)
        let inMean = tilt.logExpectation(covariance: tweedieCovariance(alphaBar: alphaBar))
        return inMean.composed(withAffineMap: tweedie.weight, offset: tweedie.offset)
    }

    /// Returns the generalised h-transform x ↦ h*_t(x) = ∇ₓ ln ℓ_t(x), in score units.
    public func hTransformMap(alphaBar: Double) -> AffineMap {
        let logWeight = logConditionalWeight(alphaBar: alphaBar)
        return AffineMap(weight: logWeight.curvature * -1, offset: logWeight.linear)
    }

    /// Returns h*_t(x) = ∇ₓ ln p_t(y | x), in score units.
    public func hTransform(_ x: [Double], alphaBar: Double) -> [Double] {
        hTransformMap(alphaBar: alphaBar)(x)
    }

    /// Returns the h-transform in the ε-units of a DDPM noise predictor, −√(1 − ᾱ) h*_t(x): the
    /// correction that, added to the exact ε-model, predicts E[ε | X_t = x, y].
    public func noiseCorrectionMap(alphaBar: Double) -> AffineMap {
        hTransformMap(alphaBar: alphaBar).scaled(by: -(1 - alphaBar).squareRoot())
    }

    /// The conditioned law π ∝ N(m, S) ℓ: the posterior p(x₀ | y) for an observation.
    public var target: MultivariateNormal {
        tilt.tilted(prior)
    }

    /// ln E[ℓ(X₀)] under the prior: the log-evidence ln p(y) for an observation.
    public var logNormalizer: Double {
        tilt.logNormalizer(under: prior)
    }

    /// Returns the target diffused to level ᾱ, p_t(x | y) = N(√ᾱ μ_π, ᾱ P + (1 − ᾱ) I): the law at
    /// which the conditional reverse SDE must start to end exactly at the target.
    public func diffusedTarget(alphaBar: Double) -> MultivariateNormal {
        checkNoiseLevel(alphaBar)
        let target = self.target
        let covariance = target.covariance * alphaBar + Matrix(identity: dimension) * (1 - alphaBar)
        return try! MultivariateNormal(mean: scale(target.mean, by: alphaBar.squareRoot()), covariance: covariance)
    }

    /// Returns the conditional score x ↦ ∇ ln p_t(x) + h*_t(x) = ∇ ln p_t(x | y).
    public func conditionalScoreMap(alphaBar: Double) -> AffineMap {
        scoreMap(alphaBar: alphaBar) + hTransformMap(alphaBar: alphaBar)
    }

    /// Returns the conditional Tweedie estimate E[X₀ | X_t = x, y] = μ_t(x) + ((1 − ᾱ)/√ᾱ) h*_t(x),
    /// that is x̂₀(x) − (√(1 − ᾱ)/√ᾱ) h^φ with the exact ε-units correction h^φ. Needs ᾱ > 0.
    public func conditionalTweedieMap(alphaBar: Double) -> AffineMap {
        precondition(alphaBar > 0, "conditionalTweedieMap: ᾱ = \(alphaBar) must be positive")
        return tweedieMap(alphaBar: alphaBar) + hTransformMap(alphaBar: alphaBar).scaled(by: (1 - alphaBar) / alphaBar.squareRoot())
    }

    // MARK: - Helpers

    /// Returns V diag(f(λ)) Vᵀ for the eigenvalues λ of S.
    func priorFunction(_ function: (Double) -> Double) -> Matrix {
        priorEigendecomposition.applying(function).symmetrized
    }

    func checkNoiseLevel(_ alphaBar: Double) {
        precondition(alphaBar >= 0 && alphaBar <= 1, "GaussianDiffusionOracle: ᾱ = \(alphaBar) must lie in [0, 1]")
    }
}
