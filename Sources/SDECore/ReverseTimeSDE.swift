import Tensors

/// A score function ∇ₓ log pₜ(x): maps (t, x of shape `[batch, d]`) to `[batch, d]`.
public typealias ScoreFunction<Scalar: TensorScalar> = (Double, Variable<Scalar>) -> Variable<Scalar>

/// Returns g gᵀ s for a diffusion g of the given layout and a score s of shape `[batch, d]`.
func diffusionCovarianceProduct<Scalar>(
    _ g: Variable<Scalar>, layout: NoiseType.Layout, _ s: Variable<Scalar>
) -> Variable<Scalar> {
    switch layout {
    case .diagonal:
        return g * g * s
    case .scalar:
        return g * (g * s).sum(alongAxes: [1])
    case .general:
        let (batch, d) = (s.shape[0], s.shape[1])
        let column = s.reshaped(to: [batch, d, 1])
        return matmul(g, matmul(g, column, transposeA: true)).reshaped(to: [batch, d])
    }
}

/// The reverse-time SDE of a forward SDE with additive noise (Anderson, 1982):
/// dX = [f(t, X) − g(t) g(t)ᵀ ∇ log pₜ(X)] dt + g(t) dW̄, solved from T down to 0.
///
/// In this library's convention a solve from T to 0 steps with dt < 0 and increments of
/// variance |dt|, so the drift above is used as written: an Euler–Maruyama step is
/// x − [f − g² s] |dt| + g √|dt| z. The forward noise must be additive, because a
/// state-dependent g adds a divergence term that this type does not include.
public struct ReverseTimeSDE<Forward: StochasticDifferentialEquation>: StochasticDifferentialEquation {
    public typealias Scalar = Forward.Scalar

    public let forward: Forward
    public let score: ScoreFunction<Scalar>
    /// The variables the score reads, listed after the forward SDE's parameters.
    public let scoreParameters: [Variable<Scalar>]

    public init(forward: Forward, scoreParameters: [Variable<Scalar>] = [], score: @escaping ScoreFunction<Scalar>) {
        precondition(
            forward.noiseType.isAdditive,
            "ReverseTimeSDE: the forward SDE has \(forward.noiseType) noise; only additive noise is supported")
        self.forward = forward
        self.score = score
        self.scoreParameters = scoreParameters
    }

    public var noiseType: NoiseType { forward.noiseType }
    public var interpretation: SDEInterpretation { forward.interpretation }
    public var parameters: [Variable<Scalar>] { forward.parameters + scoreParameters }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        let g = forward.diffusion(t, x)
        return forward.drift(t, x) - diffusionCovarianceProduct(g, layout: noiseType.layout, score(t, x))
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        forward.diffusion(t, x)
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        forward.diffusionProduct(t, x, v)
    }
}

/// The probability-flow ODE dx/dt = f(t, x) − ½ g(t) g(t)ᵀ ∇ log pₜ(x) of a forward SDE
/// with additive noise, whose solutions have the same marginals pₜ as the SDE.
///
/// It is an SDE with zero diffusion, so every solver integrates it (Heun is then the
/// second-order Runge–Kutta method) and the Brownian path is ignored. Integrate from T to
/// 0 to sample, or from 0 to T to encode.
public struct ProbabilityFlowODE<Forward: StochasticDifferentialEquation>: StochasticDifferentialEquation {
    public typealias Scalar = Forward.Scalar

    public let forward: Forward
    public let score: ScoreFunction<Scalar>
    public let scoreParameters: [Variable<Scalar>]

    public init(forward: Forward, scoreParameters: [Variable<Scalar>] = [], score: @escaping ScoreFunction<Scalar>) {
        precondition(
            forward.noiseType.isAdditive,
            "ProbabilityFlowODE: the forward SDE has \(forward.noiseType) noise; only additive noise is supported")
        self.forward = forward
        self.score = score
        self.scoreParameters = scoreParameters
    }

    public var noiseType: NoiseType { .additive(forward.noiseType.layout) }
    public var interpretation: SDEInterpretation { forward.interpretation }
    public var parameters: [Variable<Scalar>] { forward.parameters + scoreParameters }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        let g = forward.diffusion(t, x)
        return forward.drift(t, x) - diffusionCovarianceProduct(g, layout: noiseType.layout, score(t, x)) * 0.5
    }

    /// Zeros of the forward diffusion's shape.
    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(zeros: forward.diffusion(t, x.detached()).shape))
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(zeros: x.shape))
    }
}
