import Tensors

/// The outputs of one pass of a solver over the grid.
struct ForwardResult<Scalar: TensorScalar> {
    /// The states at the save indices, by grid index.
    var saved: [Int: Variable<Scalar>]
    /// ∫ r |dt| by the trapezoidal rule, `[batch, 1]`, when a running cost was given.
    var cost: Variable<Scalar>?
    var finalState: SolverState<Scalar>
    var path: SDEPath<Scalar>?
}

/// Steps `solver` over every interval of `grid`, keeping the states at `saveIndices`
/// (grid indices) and, if asked, the whole path. Records a graph exactly when the
/// caller's thread records one.
func integrateForward<Terms: SDETerms, Path: BrownianPath>(
    _ terms: Terms, solver: any SDESolver, grid: TimeGrid, brownian: Path, x0: Variable<Terms.Scalar>,
    saveIndices: [Int], runningCost: RunningCost<Terms.Scalar>?, recordPath: Bool,
    onStep: ((SDEStep<Terms.Scalar>) -> Void)?
) -> ForwardResult<Terms.Scalar> where Path.Scalar == Terms.Scalar {
    let times = grid.points
    let saveSet = Set(saveIndices)
    var state = solver.initialState(terms, at: times[0], x0)
    var saved: [Int: Variable<Terms.Scalar>] = saveSet.contains(0) ? [0: x0] : [:]
    var path = recordPath ? SDEPath(times: times, states: [x0], increments: []) : nil

    var cost: Variable<Terms.Scalar>?
    var costRate = runningCost.map { $0(times[0], x0) }

    for n in 0..<grid.stepCount {
        let increment = brownian.increment(from: times[n], to: times[n + 1])
        let previous = state.y
        state = solver.step(terms, from: times[n], to: times[n + 1], state, increment)

        if let runningCost, let rate = costRate {
            let nextRate = runningCost(times[n + 1], state.y)
            let piece = runningCost.trapezoid(rate, nextRate, step: times[n + 1] - times[n])
            cost = cost.map { $0 + piece } ?? piece
            costRate = nextRate
        }
        if saveSet.contains(n + 1) {
            saved[n + 1] = state.y
        }
        if recordPath {
            path!.states.append(state.y)
            path!.increments.append(increment)
        }
        onStep?(SDEStep(index: n, t0: times[n], t1: times[n + 1], x0: previous, x1: state.y, increment: increment))
    }
    return ForwardResult(saved: saved, cost: cost, finalState: state, path: path)
}
