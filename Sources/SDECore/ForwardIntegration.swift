import Tensors

/// The outputs of one pass of a solver over the grid.
struct ForwardResult<Scalar: TensorScalar> {
    /// The states at the save indices, by grid index.
    var saved: [Int: Variable<Scalar>]
    /// ∫ r |dt| by the running cost's quadrature rule, `[batch, 1]`, when one was given.
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
    var rateAtStart = runningCost.map { $0(times[0], x0) }

    for n in 0..<grid.stepCount {
        let increment = brownian.increment(from: times[n], to: times[n + 1])
        let previous = state.y
        state = solver.step(terms, from: times[n], to: times[n + 1], state, increment)

        if let runningCost, let rate = rateAtStart {
            // One evaluation of r per grid point: the end of a step is the next step's start.
            let width = Swift.abs(times[n + 1] - times[n])
            let isLast = n + 1 == grid.stepCount
            let piece: Variable<Terms.Scalar>
            switch runningCost.rule {
            case .leftPoint:
                piece = rate * Terms.Scalar(width)
                rateAtStart = isLast ? nil : runningCost(times[n + 1], state.y)
            case .trapezoid:
                let rateAtEnd = runningCost(times[n + 1], state.y)
                piece = (rate + rateAtEnd) * Terms.Scalar(0.5 * width)
                rateAtStart = rateAtEnd
            }
            cost = cost.map { $0 + piece } ?? piece
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
