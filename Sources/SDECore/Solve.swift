import Tensors

/// The states a solve returns.
public enum SaveAt: Sendable {
    /// The state at t1 only.
    case terminal
    /// The state at every grid point, t0 included.
    case everyStep
    /// The states at these times, which are added to the grid as points.
    case times([Double])
}

/// The way gradients of a solve's outputs reach x0 and the parameters.
///
/// | method | memory in N steps | gradient of | solvers |
/// | --- | --- | --- | --- |
/// | `backpropagation` | O(N) graph | the discrete solution, exactly | all but Milstein |
/// | `adjoint` | O(1) | the continuous solution, to discretisation error | all forward; backward solver must integrate the adjoint SDE (general noise): Euler–Maruyama (additive noise only), Heun, reversible Heun |
/// | `reversible` | O(1) | the discrete solution, exactly (up to rounding) | reversible Heun |
/// | `checkpointed` | C states, O(N log N) steps for C ≈ log₂ N | the discrete solution, exactly (up to rounding) | all; Milstein when the SDE supplies `itoCorrection` |
/// | `detached` | none (states are constants) | nothing through the path | all |
public enum GradientMethod {
    /// Record the solver's operations and backpropagate through them.
    case backpropagation
    /// The stochastic adjoint (Li, Wong, Chen and Duvenaud, AISTATS 2020): solve the
    /// adjoint SDE backwards in time on the same Brownian path, reconstructing the state
    /// on the way. Each evaluation costs one vector–Jacobian product of the drift and one
    /// of the diffusion product. Itô SDEs with state-dependent noise are converted to
    /// Stratonovich form first, which needs their `itoCorrection`. `backwardSolver`
    /// defaults to the forward solver.
    case adjoint(backwardSolver: (any SDESolver)? = nil)
    /// Reverse the reversible Heun method step by step to reconstruct the states, and
    /// take each step's vector–Jacobian product: the exact gradient of the discrete
    /// solution without storing it (Kidger et al., 2021).
    case reversible
    /// The discrete adjoint with binomial checkpointing, as diffrax's
    /// `RecursiveCheckpointAdjoint`: store at most `checkpoints` solver states (default
    /// ⌈log₂ N⌉), recompute the others from them on the same Brownian path, and
    /// backpropagate through one step at a time. The gradient is backpropagation's, to
    /// rounding, for every solver; see `BinomialCheckpointing` for the schedule.
    case checkpointed(checkpoints: Int? = nil)
    /// Simulate without recording. The returned states and running cost are constants;
    /// differentiate per-step terms afterwards with `SDEPath.gradientOfSumOverSteps`.
    case detached
}

/// The result of `solve`.
public struct SDESolution<Scalar: TensorScalar> {
    /// The save times, in solve order.
    public let times: [Double]
    /// The state at each save time, `[batch, d]`.
    public let states: [Variable<Scalar>]
    /// ∫ r(t, X_t) |dt| along the solve by the cost's quadrature rule, `[batch, 1]`, when a
    /// running cost was given.
    public let runningCost: Variable<Scalar>?
    /// The recorded path (every grid point and increment), when asked for.
    public let path: SDEPath<Scalar>?
    /// The grid the solver stepped on, save times included.
    public let grid: TimeGrid

    /// The state at the last save time.
    public var terminal: Variable<Scalar> { states[states.count - 1] }
}

/// Solves an SDE on a time grid: the library's one entry point for integration, in the
/// manner of torchsde's `sdeint`.
///
/// - Parameters:
///   - sde: the SDE; its interpretation and noise type must fit `solver`.
///   - x0: the initial state, `[batch, d]`. Make it require a gradient to get one.
///   - grid: the time points; t1 < t0 solves backwards in time.
///   - solver: the stepping method (default Euler–Maruyama).
///   - brownian: the Brownian path, `[batch, m]`, defined on an interval that contains the
///     grid; it must generate space-time Lévy area when the solver needs it. The adjoint
///     and reversible methods query it again on the backward pass.
///   - gradient: how gradients flow (see `GradientMethod`).
///   - saveAt: which states to return.
///   - runningCost: an integral ∫ r |dt| to accumulate along the path.
///   - recordPath: keep every state and increment (memory grows with the steps).
///   - onStep: called after every forward step, for streaming accumulations.
/// - Throws: `SDESetupError` when the pieces do not fit, before any step is taken.
public func solve<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ sde: SDE, x0: Variable<SDE.Scalar>, grid: TimeGrid, solver: any SDESolver = EulerMaruyama(),
    brownian: Path, gradient: GradientMethod = .backpropagation, saveAt: SaveAt = .terminal,
    runningCost: RunningCost<SDE.Scalar>? = nil, recordPath: Bool = false,
    onStep: ((SDEStep<SDE.Scalar>) -> Void)? = nil
) throws -> SDESolution<SDE.Scalar> where Path.Scalar == SDE.Scalar {
    // Set-up: the save grid, then every compatibility check before the first step.
    var grid = grid
    let saveTimes: [Double]
    switch saveAt {
    case .terminal:
        saveTimes = [grid.t1]
    case .everyStep:
        saveTimes = grid.points
    case let .times(times):
        precondition(!times.isEmpty, "solve: SaveAt.times needs at least one time")
        grid = grid.inserting(times)
        saveTimes = times.sorted(by: grid.isIncreasing ? (<) : (>))
    }
    let saveIndices = saveTimes.map { grid.index(of: $0)! }
    try validateSetup(sde, x0: x0, grid: grid, solver: solver, brownian: brownian, gradient: gradient)

    let problem = SolveProblem(
        sde: sde, x0: x0, grid: grid, solver: solver, brownian: brownian, saveIndices: saveIndices,
        runningCost: runningCost, recordPath: recordPath, onStep: onStep)
    let result: (states: [Variable<SDE.Scalar>], cost: Variable<SDE.Scalar>?, path: SDEPath<SDE.Scalar>?)
    switch gradient {
    case .backpropagation:
        let forward = problem.integrate(x0: x0)
        result = (saveIndices.map { forward.saved[$0]! }, forward.cost, forward.path)
    case .detached:
        let forward = withoutRecording { problem.integrate(x0: x0.detached()) }
        result = (saveIndices.map { forward.saved[$0]! }, forward.cost, forward.path)
    case let .adjoint(backwardSolver):
        result = try solveWithAdjoint(problem, backwardSolver: backwardSolver ?? solver)
    case .reversible:
        result = solveWithReversibleHeun(problem)
    case let .checkpointed(checkpoints):
        result = solveWithCheckpoints(problem, checkpoints: checkpoints)
    }
    return SDESolution(
        times: saveTimes, states: result.states, runningCost: result.cost, path: result.path, grid: grid)
}

/// Solves with `steps` equal steps from t0 to t1; see `solve(_:x0:grid:…)`.
public func solve<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ sde: SDE, x0: Variable<SDE.Scalar>, from t0: Double, to t1: Double, steps: Int,
    solver: any SDESolver = EulerMaruyama(), brownian: Path, gradient: GradientMethod = .backpropagation,
    saveAt: SaveAt = .terminal, runningCost: RunningCost<SDE.Scalar>? = nil, recordPath: Bool = false,
    onStep: ((SDEStep<SDE.Scalar>) -> Void)? = nil
) throws -> SDESolution<SDE.Scalar> where Path.Scalar == SDE.Scalar {
    try solve(
        sde, x0: x0, grid: TimeGrid(from: t0, to: t1, steps: steps), solver: solver, brownian: brownian,
        gradient: gradient, saveAt: saveAt, runningCost: runningCost, recordPath: recordPath, onStep: onStep)
}

/// Solves with steps of size |dt| from t0 to t1; see `TimeGrid(from:to:dt:)` for the
/// last step and `solve(_:x0:grid:…)` for the rest.
public func solve<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ sde: SDE, x0: Variable<SDE.Scalar>, from t0: Double, to t1: Double, dt: Double,
    solver: any SDESolver = EulerMaruyama(), brownian: Path, gradient: GradientMethod = .backpropagation,
    saveAt: SaveAt = .terminal, runningCost: RunningCost<SDE.Scalar>? = nil, recordPath: Bool = false,
    onStep: ((SDEStep<SDE.Scalar>) -> Void)? = nil
) throws -> SDESolution<SDE.Scalar> where Path.Scalar == SDE.Scalar {
    try solve(
        sde, x0: x0, grid: TimeGrid(from: t0, to: t1, dt: dt), solver: solver, brownian: brownian,
        gradient: gradient, saveAt: saveAt, runningCost: runningCost, recordPath: recordPath, onStep: onStep)
}

/// Everything a gradient method needs to run the forward pass again or backwards.
struct SolveProblem<SDE: StochasticDifferentialEquation, Path: BrownianPath> where Path.Scalar == SDE.Scalar {
    typealias Scalar = SDE.Scalar

    let sde: SDE
    let x0: Variable<Scalar>
    let grid: TimeGrid
    let solver: any SDESolver
    let brownian: Path
    let saveIndices: [Int]
    let runningCost: RunningCost<Scalar>?
    let recordPath: Bool
    let onStep: ((SDEStep<Scalar>) -> Void)?

    func integrate(x0: Variable<Scalar>, alsoSaving extra: [Int] = []) -> ForwardResult<Scalar> {
        integrateForward(
            sde, solver: solver, grid: grid, brownian: brownian, x0: x0,
            saveIndices: saveIndices + extra, runningCost: runningCost,
            recordPath: recordPath, onStep: onStep)
    }

    /// The SDE's and the running cost's parameters that require gradients, each once.
    var parameters: [Variable<Scalar>] {
        var seen = Set<ObjectIdentifier>()
        return (sde.parameters + (runningCost?.parameters ?? [])).filter { parameter in
            parameter.requiresGrad && seen.insert(ObjectIdentifier(parameter)).inserted
        }
    }
}

func validateSetup<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ sde: SDE, x0: Variable<SDE.Scalar>, grid: TimeGrid, solver: any SDESolver, brownian: Path,
    gradient: GradientMethod
) throws {
    guard x0.rank == 2 else {
        throw SDESetupError("x0 has shape \(x0.shape), but the state must have shape [batch, d]")
    }
    let noiseDimension = sde.noiseDimension(grid.t0, x0)
    guard brownian.shape == [x0.shape[0], noiseDimension] else {
        throw SDESetupError(
            "The Brownian path has shape \(brownian.shape), but the SDE with \(sde.noiseType) noise and state \(x0.shape) "
                + "needs [batch, m] = [\(x0.shape[0]), \(noiseDimension)]")
    }
    let (lower, upper) = (Swift.min(grid.t0, grid.t1), Swift.max(grid.t0, grid.t1))
    let slack = 1e-12 * (brownian.t1 - brownian.t0)
    guard lower >= brownian.t0 - slack && upper <= brownian.t1 + slack else {
        throw SDESetupError(
            "The grid spans [\(lower), \(upper)], which lies outside the Brownian path's interval [\(brownian.t0), \(brownian.t1)]")
    }
    try solver.validate(noiseType: sde.noiseType, interpretation: sde.interpretation)
    if solver.levyArea == .spaceTime && brownian.levyArea != .spaceTime {
        throw SDESetupError("\(solver.name) needs space-time Lévy area; create the Brownian path with levyArea: .spaceTime")
    }

    switch gradient {
    case .backpropagation:
        if !solver.supportsBackpropagation {
            throw SDESetupError(
                "\(solver.name) cannot be differentiated by backpropagation (its step uses a vector–Jacobian product); "
                    + "use .adjoint(backwardSolver: Heun()) or .detached")
        }
    case .detached:
        break
    case let .adjoint(backwardSolver):
        try validateAdjoint(sde, solver: backwardSolver ?? solver)
    case .reversible:
        guard solver is ReversibleHeun else {
            throw SDESetupError("GradientMethod.reversible needs the ReversibleHeun solver, not \(solver.name)")
        }
    case let .checkpointed(checkpoints):
        try validateCheckpointed(sde, solver: solver, checkpoints: checkpoints)
    }
}
