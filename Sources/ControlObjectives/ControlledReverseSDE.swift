import SDECore
import Tensors

/// The controlled reverse-time SDE of a frozen diffusion prior,
///
///     dX = [f(t, X) − σ_t² (∇ ln p_t(X) + h_t(X))] dt + λ σ_t dW̄,
///
/// solved from the horizon T down to 0 (steps with dt < 0, as in `ReverseTimeSDE`). In
/// reverse time τ = T − t this is dX = (b + σ u) dτ + λ σ dW with the prior's reverse
/// drift b = −f + σ² ∇ ln p_t and the control u = σ h. With λ = 1 it is the law Q^u
/// the control objectives act on; λ > 1 gives a noise-inflated reference process for the
/// log-variance loss.
///
/// The forward SDE must have additive diagonal noise (the variance-preserving and
/// variance-exploding SDEs do), so σ_t is the diagonal `forward.diffusion(t, x)`.
public struct ControlledReverseSDE<Forward: StochasticDifferentialEquation>: StochasticDifferentialEquation {
    public typealias Scalar = Forward.Scalar

    public let forward: Forward
    public let priorScore: ScoreFunction<Scalar>
    /// h_t(x) in score units, `[batch, d]`.
    public let hTransform: (Double, Variable<Scalar>) -> Variable<Scalar>
    /// The variables `hTransform` reads, for the adjoint.
    public let parameters: [Variable<Scalar>]
    /// λ, the factor on the diffusion.
    public let noiseScale: Double

    public init(
        forward: Forward, priorScore: @escaping ScoreFunction<Scalar>, parameters: [Variable<Scalar>] = [],
        noiseScale: Double = 1, hTransform: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>
    ) {
        precondition(
            forward.noiseType == .additive(.diagonal),
            "ControlledReverseSDE: the forward SDE has \(forward.noiseType) noise; additive diagonal noise is required")
        precondition(noiseScale > 0, "ControlledReverseSDE: noise scale \(noiseScale) must be positive")
        self.forward = forward
        self.priorScore = priorScore
        self.hTransform = hTransform
        self.parameters = parameters
        self.noiseScale = noiseScale
    }

    public var noiseType: NoiseType { forward.noiseType }
    public var interpretation: SDEInterpretation { forward.interpretation }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        let g = forward.diffusion(t, x)
        return forward.drift(t, x) - g * g * (priorScore(t, x) + hTransform(t, x))
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        noiseScale == 1 ? forward.diffusion(t, x) : forward.diffusion(t, x) * Scalar(noiseScale)
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        noiseScale == 1 ? forward.diffusionProduct(t, x, v) : forward.diffusionProduct(t, x, v * Scalar(noiseScale))
    }
}
