import Tensors

/// An error raised before integration starts, when an SDE, a solver, a Brownian path and
/// a gradient method do not fit together. The message names the parts and the reason.
public struct SDESetupError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Orders of convergence as the step size h → 0: the strong order p bounds
/// E|X_N − X(T)| ≤ C hᵖ on the same Brownian path; the weak order q bounds
/// |E φ(X_N) − E φ(X(T))| ≤ C h^q for smooth φ.
public struct ConvergenceOrder: Sendable, Equatable {
    public var strong: Double
    public var weak: Double

    public init(strong: Double, weak: Double) {
        self.strong = strong
        self.weak = weak
    }
}

/// A solver's state between steps: the solution `y` plus whatever else the method
/// carries from step to step (reversible Heun keeps ŷ and f(ŷ)).
public struct SolverState<Scalar: TensorScalar> {
    public var y: Variable<Scalar>
    public var auxiliary: [Variable<Scalar>]

    public init(y: Variable<Scalar>, auxiliary: [Variable<Scalar>] = []) {
        self.y = y
        self.auxiliary = auxiliary
    }
}

/// A fixed-step SDE solver.
///
/// A solver states the interpretation it converges to and its orders for each noise
/// type, and rejects at set-up (`validate`) the SDEs it cannot integrate. A step maps
/// the state at t0 to the state at t1 (t1 < t0 when running backwards) given the
/// Brownian increment over [t0, t1]; steps are built from `Variable` operations, so
/// recording them gives gradients by backpropagation.
public protocol SDESolver {
    var name: String { get }

    /// The interpretation of the stochastic integral the solver converges to. Solvers
    /// accept SDEs of the other interpretation only when the noise is additive, where
    /// the two agree.
    var interpretation: SDEInterpretation { get }

    /// The Lévy area the solver needs from the Brownian path.
    var levyArea: LevyArea { get }

    /// Whether recording a step's operations gives its exact derivative. False when the
    /// step itself uses a vector–Jacobian product, which is not differentiable again.
    var supportsBackpropagation: Bool { get }

    /// Returns the strong and weak orders for SDEs with noise of this type.
    func order(for noiseType: NoiseType) -> ConvergenceOrder

    /// Throws `SDESetupError` when the solver cannot integrate an SDE with this noise type
    /// and interpretation.
    func validate(noiseType: NoiseType, interpretation: SDEInterpretation) throws

    /// Returns the state the first step starts from.
    func initialState<Terms: SDETerms>(_ terms: Terms, at t: Double, _ y: Variable<Terms.Scalar>) -> SolverState<Terms.Scalar>

    /// Advances `state` from `t0` to `t1` with the Brownian increment over [t0, t1].
    func step<Terms: SDETerms>(
        _ terms: Terms, from t0: Double, to t1: Double, _ state: SolverState<Terms.Scalar>,
        _ increment: BrownianIncrement<Terms.Scalar>
    ) -> SolverState<Terms.Scalar>
}

extension SDESolver {
    public var levyArea: LevyArea { .none }
    public var supportsBackpropagation: Bool { true }

    /// The strong order for general (non-commutative, state-dependent) noise.
    public var strongOrder: Double { order(for: .general).strong }
    /// The weak order for general noise.
    public var weakOrder: Double { order(for: .general).weak }

    public func initialState<Terms: SDETerms>(_ terms: Terms, at t: Double, _ y: Variable<Terms.Scalar>) -> SolverState<Terms.Scalar> {
        SolverState(y: y)
    }

    /// Throws unless the interpretations agree or the noise is additive.
    public func validateInterpretation(of noiseType: NoiseType, _ interpretation: SDEInterpretation) throws {
        if interpretation != self.interpretation && !noiseType.isAdditive {
            throw SDESetupError(
                "\(name) converges to the \(self.interpretation) solution, but the SDE is \(interpretation) "
                    + "with \(noiseType) noise; convert it with converted(to: .\(self.interpretation == .ito ? "ito" : "stratonovich")) "
                    + "or choose a \(interpretation) solver")
        }
    }

    public func validate(noiseType: NoiseType, interpretation: SDEInterpretation) throws {
        try validateInterpretation(of: noiseType, interpretation)
    }
}
