import NeuralNetworks
import SDECore
import Tensors

/// The stochastic control problem whose solution is the generalised h-transform of a
/// frozen diffusion prior for a terminal weight ℓ (a likelihood or an exponentiated
/// reward):
///
///     minimise over h   J(h) = E_{Q^h}[½ ∫₀ᵀ σ_t² ‖h_t(X_t)‖² dt − ln ℓ(X₀)],
///
/// where Q^h is the law of `ControlledReverseSDE` started from N(0, I) at the horizon T.
/// The control is u = σ h. The minimiser is h* = ∇ ln ℓ_t with ℓ_t(x) = E[ℓ(X₀) | X_t = x],
/// and J(h*) = −E_{X_T~N(0,I)}[ln ℓ_T(X_T)].
///
/// The solver steps on `grid`, from T down to the last point (0, or a small t_min where the
/// prior score is singular at 0). Every objective simulates Euler–Maruyama paths unless a
/// solver is given: for that scheme the discrete Girsanov log-ratio of `logRadonNikodym`
/// is exact for the discrete-time chain, not only in the limit of small steps.
public struct ControlProblem<Forward: StochasticDifferentialEquation> {
    public typealias Scalar = Forward.Scalar

    public let forward: Forward
    /// The frozen prior score ∇ ln p_t(x).
    public let priorScore: ScoreFunction<Scalar>
    public let terminalCost: TerminalCost<Scalar>
    /// The solver's grid, decreasing from the horizon T.
    public let grid: TimeGrid
    /// The state dimension d.
    public let dimension: Int

    public init(
        forward: Forward, priorScore: @escaping ScoreFunction<Scalar>, terminalCost: TerminalCost<Scalar>,
        grid: TimeGrid, dimension: Int
    ) {
        precondition(!grid.isIncreasing, "ControlProblem: the grid must decrease from the horizon T towards 0, got \(grid.t0) → \(grid.t1)")
        precondition(grid.t1 >= 0, "ControlProblem: the grid ends at \(grid.t1) < 0")
        precondition(
            forward.noiseType == .additive(.diagonal),
            "ControlProblem: the forward SDE has \(forward.noiseType) noise; additive diagonal noise is required")
        precondition(dimension > 0, "ControlProblem: dimension \(dimension) must be positive")
        self.forward = forward
        self.priorScore = priorScore
        self.terminalCost = terminalCost
        self.grid = grid
        self.dimension = dimension
    }

    /// The horizon T, where paths start.
    public var horizon: Double { grid.t0 }

    /// Draws the randomness of `batch` paths: starts from N(0, I) and a Brownian path on
    /// the grid, both determined by `seed`.
    public func randomness(batch: Int, seed: UInt64) -> PathRandomness<Scalar> {
        precondition(batch > 0, "ControlProblem.randomness: batch \(batch) must be positive")
        // The starts use stream 1 of the seed; the Brownian path splits stream 0 by step.
        var generator = PhiloxRandom(seed: seed, stream: 1)
        let start = Tensor<Scalar>.normal(shape: [batch, dimension], using: &generator)
        let brownian = GridBrownianPath<Scalar>(grid: grid, shape: [batch, dimension], seed: seed)
        return PathRandomness(start: start, brownian: brownian)
    }

    /// Returns the SDE with h-transform `model` (λ = 1 gives Q^h).
    public func controlledSDE<Model: HTransformModel>(
        _ model: Model, context: Tensor<Scalar>? = nil, noiseScale: Double = 1
    ) -> ControlledReverseSDE<Forward> where Model.Scalar == Scalar {
        ControlledReverseSDE(
            forward: forward, priorScore: priorScore, parameters: model.parameters, noiseScale: noiseScale
        ) { t, x in model(t, x, context: context) }
    }

    /// Returns the control u = σ_t h_t(x), `[batch, d]`.
    public func control<Model: HTransformModel>(
        _ model: Model, at t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>? = nil
    ) -> Variable<Scalar> where Model.Scalar == Scalar {
        model(t, x, context: context) * forward.diffusion(t, x)
    }

    /// Draws samples X₀ of the controlled SDE without recording gradients, `[batch, d]`.
    public func sample<Model: HTransformModel>(
        _ model: Model, randomness: PathRandomness<Scalar>, context: Tensor<Scalar>? = nil,
        solver: any SDESolver = EulerMaruyama()
    ) throws -> Tensor<Scalar> where Model.Scalar == Scalar {
        try solve(
            controlledSDE(model, context: context), x0: Variable(randomness.start), grid: grid, solver: solver,
            brownian: randomness.brownian, gradient: .detached
        ).terminal.value
    }
}

/// The randomness of a batch of paths: the starts X_T ~ N(0, I), `[batch, d]`, and the
/// Brownian path that drives them. Objectives evaluated on the same randomness see the
/// same noise, which is how their gradients are compared.
public struct PathRandomness<Scalar: TensorScalar> {
    public let start: Tensor<Scalar>
    public let brownian: GridBrownianPath<Scalar>

    public init(start: Tensor<Scalar>, brownian: GridBrownianPath<Scalar>) {
        precondition(start.shape == brownian.shape, "PathRandomness: starts of shape \(start.shape) and a Brownian path of shape \(brownian.shape) must agree")
        self.start = start
        self.brownian = brownian
    }

    public var batch: Int { start.shape[0] }
}
