import Tensors

/// The vector fields a solver evaluates: the drift f(t, y) and the diffusion applied to a
/// noise vector, g(t, y) v.
///
/// Solvers see an SDE only through this protocol, so the adjoint system (whose diffusion
/// is never formed as a matrix) is stepped by the same solver code as a user's SDE.
/// States are `[batch, d]` for an SDE; the adjoint system uses its own flat layout.
public protocol SDETerms {
    associatedtype Scalar: TensorScalar

    var noiseType: NoiseType { get }

    /// Returns f(t, y), of the shape of `y`.
    func drift(_ t: Double, _ y: Variable<Scalar>) -> Variable<Scalar>

    /// Returns g(t, y) v for a noise vector `v` of shape `[batch, m]`; the result has the
    /// shape of `y`.
    func diffusionProduct(_ t: Double, _ y: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar>
}

/// An SDE dX = f(t, X) dt + g(t, X) dW with state X of shape `[batch, d]` and Brownian
/// motion W of shape `[batch, m]`.
///
/// Drift and diffusion are computed on `Variable`s, so gradients flow to the state and to
/// the `parameters` they read. Time may run in either direction: a solve from t0 to
/// t1 < t0 steps with negative dt and increments W(tₙ₊₁) − W(tₙ), whose variance is
/// |dt|, which is how reverse-time diffusion SDEs are sampled. The shape of
/// `diffusion(t, x)` is set by `noiseType` (see `NoiseType`).
public protocol StochasticDifferentialEquation: SDETerms {
    var interpretation: SDEInterpretation { get }

    /// The variables that drift and diffusion read and that gradients are taken with
    /// respect to. Each must have `requiresGrad`.
    var parameters: [Variable<Scalar>] { get }

    /// Returns g(t, x): `[batch, d]` for scalar and diagonal noise, `[batch, d, m]` for
    /// general noise.
    func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar>

    /// Returns the Itô–Stratonovich drift correction c(t, x) = ½ Σⱼ (∂gⱼ/∂x) gⱼ, computed on
    /// variables so that it is differentiable, or nil when the SDE does not supply it.
    ///
    /// The Stratonovich drift of an Itô SDE is f − c. The stochastic adjoint of an Itô SDE
    /// with state-dependent noise needs c and its derivatives, which vector–Jacobian
    /// products of g alone cannot give.
    func itoCorrection(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar>?

    /// Whether `itoCorrection` returns a value; true by default for additive noise.
    var providesItoCorrection: Bool { get }
}

extension StochasticDifferentialEquation {
    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        applyDiffusion(diffusion(t, x), layout: noiseType.layout, to: v)
    }

    /// Zero for additive noise; nil otherwise, unless a conforming type supplies it.
    public func itoCorrection(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar>? {
        noiseType.isAdditive ? Variable(Tensor(zeros: x.shape)) : nil
    }

    public var providesItoCorrection: Bool { noiseType.isAdditive }

    /// Returns the number m of Brownian motions for states shaped like `x`, read from the
    /// diffusion at time `t` for general noise.
    public func noiseDimension(_ t: Double, _ x: Variable<Scalar>) -> Int {
        if let m = noiseType.noiseDimension(stateDimension: x.shape[1]) {
            return m
        }
        return withoutRecording { diffusion(t, x.detached()).shape[2] }
    }
}

/// Returns g v for a diffusion `g` of the given layout and noise `v` of shape `[batch, m]`.
public func applyDiffusion<Scalar>(
    _ g: Variable<Scalar>, layout: NoiseType.Layout, to v: Tensor<Scalar>
) -> Variable<Scalar> {
    switch layout {
    case .diagonal, .scalar:
        precondition(g.rank == 2, "A \(layout) diffusion must have shape [batch, d], got \(g.shape)")
        // Without a gradient to carry, multiplying the values skips building a graph node.
        return g.requiresGrad ? g * v : Variable(g.value * v)
    case .general:
        precondition(g.rank == 3, "A general diffusion must have shape [batch, d, m], got \(g.shape)")
        let (batch, d, m) = (g.shape[0], g.shape[1], g.shape[2])
        precondition(v.shape == [batch, m], "Noise of shape \(v.shape) does not fit a diffusion of shape \(g.shape)")
        return matmul(g, Variable(v.reshaped(to: [batch, m, 1]))).reshaped(to: [batch, d])
    }
}

/// An SDE given by closures for its drift, diffusion and, optionally, Itô correction.
///
/// The closures read their parameters from their surroundings. List those variables in
/// `parameters`, so that the adjoint and reversible gradient methods can differentiate
/// with respect to them.
public struct ClosureSDE<Scalar: TensorScalar>: StochasticDifferentialEquation {
    public let noiseType: NoiseType
    public let interpretation: SDEInterpretation
    public let parameters: [Variable<Scalar>]
    private let driftFunction: (Double, Variable<Scalar>) -> Variable<Scalar>
    private let diffusionFunction: (Double, Variable<Scalar>) -> Variable<Scalar>
    private let correctionFunction: ((Double, Variable<Scalar>) -> Variable<Scalar>)?

    public init(
        noiseType: NoiseType, interpretation: SDEInterpretation = .ito, parameters: [Variable<Scalar>] = [],
        drift: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>,
        diffusion: @escaping (Double, Variable<Scalar>) -> Variable<Scalar>,
        itoCorrection: ((Double, Variable<Scalar>) -> Variable<Scalar>)? = nil
    ) {
        self.noiseType = noiseType
        self.interpretation = interpretation
        self.parameters = parameters
        driftFunction = drift
        diffusionFunction = diffusion
        correctionFunction = itoCorrection
    }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        driftFunction(t, x)
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        diffusionFunction(t, x)
    }

    public func itoCorrection(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar>? {
        if let correctionFunction { return correctionFunction(t, x) }
        return noiseType.isAdditive ? Variable(Tensor(zeros: x.shape)) : nil
    }

    public var providesItoCorrection: Bool { correctionFunction != nil || noiseType.isAdditive }
}
