import SDECore
import Tensors

/// The reconstruction-guidance quantities at a batch of states x_t, `[batch, d]` each.
public struct GuidanceInputs<Scalar: TensorScalar> {
    /// Tweedie's estimate x̂₀ = (x_t + (1 − ᾱ) ∇ ln p_t(x_t)) / √ᾱ.
    public var tweedie: Tensor<Scalar>
    /// g = ∇ ln ℓ(x̂₀), the gradient of the terminal log-weight at x̂₀.
    public var logWeightGradient: Tensor<Scalar>
    /// The Jacobian-free guidance term g / √ᾱ(t), in score units.
    public var guidanceTerm: Tensor<Scalar>
}

/// Jacobian-free reconstruction guidance for a frozen variance-preserving prior: the
/// approximation
///
///     h*_t(x) = ∇ₓ ln E[ℓ(X₀) | X_t = x] ≈ ∇ₓ ln ℓ(x̂₀(x)) ≈ g / √ᾱ(t),   g = ∇ ln ℓ(x̂₀),
///
/// where the second step drops the Jacobian of the prior's ε-prediction inside
/// ∂x̂₀/∂x = (I − √(1 − ᾱ) ∂ε/∂x) / √ᾱ, so no derivative of the prior is needed.
///
/// Units: the result is in score units, like `HTransformModel`, and the control is
/// u = σ_t g / √ᾱ(t). DEFT's `HTransformNetwork` writes the same term in the ε-units
/// of the noise predictor, c_t g with c_t = −√(1 − ᾱ)/√ᾱ. A score-units h is
/// −√(1 − ᾱ) h in ε-units, so c_t g in ε-units is −c_t g / √(1 − ᾱ) = g / √ᾱ here.
///
/// Everything is computed without recording a graph, so the guidance inputs are
/// constants in x and in the model's parameters.
public struct ReconstructionGuidance<Scalar: TensorScalar> {
    /// ᾱ(t) = exp(−∫₀ᵗ β) of the forward SDE.
    public let alphaBar: (Double) -> Double
    /// The frozen prior score ∇ ln p_t(x).
    public let priorScore: ScoreFunction<Scalar>
    /// ∇ ln ℓ(x₀, context), `[batch, d]` → `[batch, d]`.
    public let logWeightGradient: (Tensor<Scalar>, Tensor<Scalar>?) -> Tensor<Scalar>

    public init(
        alphaBar: @escaping (Double) -> Double, priorScore: @escaping ScoreFunction<Scalar>,
        logWeightGradient: @escaping (Tensor<Scalar>, Tensor<Scalar>?) -> Tensor<Scalar>
    ) {
        self.alphaBar = alphaBar
        self.priorScore = priorScore
        self.logWeightGradient = logWeightGradient
    }

    /// Creates the guidance of a terminal cost, with g = ∇ ln ℓ by one reverse-mode pass
    /// through the cost's log-weight.
    public init(
        alphaBar: @escaping (Double) -> Double, priorScore: @escaping ScoreFunction<Scalar>,
        terminalCost: TerminalCost<Scalar>
    ) {
        self.init(alphaBar: alphaBar, priorScore: priorScore) { x, context in
            terminalCost.logWeightGradient(at: x, context: context)
        }
    }

    /// Evaluates x̂₀, g and g / √ᾱ at time `t` for states `x` of shape `[batch, d]`.
    public func inputs(at t: Double, _ x: Tensor<Scalar>, context: Tensor<Scalar>? = nil) -> GuidanceInputs<Scalar> {
        precondition(x.rank == 2, "ReconstructionGuidance: x of shape \(x.shape) must be [batch, d]")
        let level = alphaBar(t)
        precondition(level > 0 && level <= 1, "ReconstructionGuidance: ᾱ(\(t)) = \(level) must lie in (0, 1]")

        let score = withoutRecording { priorScore(t, Variable(x)).value }
        precondition(score.shape == x.shape, "ReconstructionGuidance: the prior score has shape \(score.shape); expected \(x.shape)")
        let tweedie = (x + score * Scalar(1 - level)) * Scalar(1 / level.squareRoot())

        let gradient = logWeightGradient(tweedie, context)
        precondition(gradient.shape == x.shape, "ReconstructionGuidance: the log-weight gradient has shape \(gradient.shape); expected \(x.shape)")
        return GuidanceInputs(
            tweedie: tweedie, logWeightGradient: gradient, guidanceTerm: gradient * Scalar(1 / level.squareRoot()))
    }
}

extension ControlProblem {
    /// Returns the reconstruction guidance of this problem's prior score and terminal cost.
    public func reconstructionGuidance<VPScalar>() -> ReconstructionGuidance<Scalar> where Forward == VPSDE<VPScalar> {
        let forward = self.forward
        return ReconstructionGuidance(alphaBar: { forward.alphaBar($0) }, priorScore: priorScore, terminalCost: terminalCost)
    }
}
