import Tensors

/// Runs the forward pass without recording, storing the states that binomial
/// checkpointing needs, and returns outputs whose pullback is the discrete adjoint.
///
/// The pullback walks the steps backwards. It recomputes each step's start state from the
/// nearest stored state, replaying the same Brownian increments from the path, and takes
/// the vector–Jacobian product of the step map
/// (xₙ, auxiliariesₙ) ↦ (xₙ₊₁, auxiliariesₙ₊₁, running-cost increment). That is the
/// chain rule backpropagation applies, in the same order, so the gradient equals
/// backpropagation's to rounding. At most C solver states are stored, and only one step's
/// graph exists at a time.
func solveWithCheckpoints<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ problem: SolveProblem<SDE, Path>, checkpoints: Int?
) -> (states: [Variable<SDE.Scalar>], cost: Variable<SDE.Scalar>?, path: SDEPath<SDE.Scalar>?) {
    typealias Scalar = SDE.Scalar
    let schedule = BinomialCheckpointing(steps: problem.grid.stepCount, checkpoints: checkpoints)
    let forward = withoutRecording { sweepForward(problem, schedule: schedule) }
    let parameters = problem.parameters

    var values = problem.saveIndices.map { forward.saved[$0]! }
    if let cost = forward.cost { values.append(cost) }
    let checkpointStates = forward.checkpoints
    let auxiliaryShapes = forward.auxiliaryShapes

    let outputs = makeOutputs(values: values, inputs: [problem.x0] + parameters) { cotangents in
        var stateCotangents: [Int: Tensor<Scalar>] = [:]
        for (position, index) in problem.saveIndices.enumerated() {
            guard let cotangent = cotangents[position] else { continue }
            stateCotangents[index] = stateCotangents[index].map { $0 + cotangent } ?? cotangent
        }
        let costCotangent = forward.cost == nil ? nil : cotangents[problem.saveIndices.count]
        return withoutRecording {
            reverseWithCheckpoints(
                problem, schedule: schedule, checkpoints: checkpointStates, auxiliaryShapes: auxiliaryShapes,
                stateCotangents: stateCotangents, costCotangent: costCotangent, parameters: parameters)
        }
    }
    let states = Array(outputs.prefix(problem.saveIndices.count))
    let cost = forward.cost == nil ? nil : outputs[outputs.count - 1]
    return (states, cost, forward.path)
}

/// The values of the checkpointed method's forward pass.
private struct CheckpointedForward<Scalar: TensorScalar> {
    /// The states at the save indices, by grid index.
    var saved: [Int: Tensor<Scalar>]
    /// ∫ r |dt| by the running cost's rule, when one was given.
    var cost: Tensor<Scalar>?
    var path: SDEPath<Scalar>?
    var checkpoints: BinomialCheckpointing.Checkpoints<SolverState<Scalar>>
    /// The shapes of the solver's auxiliary values (reversible Heun's ŷ and f(ŷ)).
    var auxiliaryShapes: [[Int]]
}

/// Steps over the grid as `integrateForward` does (same states, same running-cost sum)
/// and stores the solver states that the schedule's sweep keeps. Call it without recording.
private func sweepForward<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ problem: SolveProblem<SDE, Path>, schedule: BinomialCheckpointing
) -> CheckpointedForward<SDE.Scalar> where Path.Scalar == SDE.Scalar {
    typealias Scalar = SDE.Scalar
    let (sde, solver, points) = (problem.sde, problem.solver, problem.grid.points)
    let x0 = problem.x0.detached()
    let saveSet = Set(problem.saveIndices)
    var saved: [Int: Tensor<Scalar>] = saveSet.contains(0) ? [0: x0.value] : [:]
    var path = problem.recordPath ? SDEPath(times: points, states: [x0], increments: []) : nil
    var cost: Variable<Scalar>?
    var rateAtStart = problem.runningCost.map { $0(points[0], x0) }

    let (end, checkpoints) = schedule.sweep(from: solver.initialState(sde, at: points[0], x0)) { state, n in
        let increment = problem.brownian.increment(from: points[n], to: points[n + 1])
        let next = solver.step(sde, from: points[n], to: points[n + 1], state, increment)

        if let runningCost = problem.runningCost, let rate = rateAtStart {
            // One evaluation of r per grid point: the end of a step is the next step's start.
            let width = Swift.abs(points[n + 1] - points[n])
            let piece: Variable<Scalar>
            switch runningCost.rule {
            case .leftPoint:
                piece = rate * Scalar(width)
                rateAtStart = n + 1 == schedule.steps ? nil : runningCost(points[n + 1], next.y)
            case .trapezoid:
                let rateAtEnd = runningCost(points[n + 1], next.y)
                piece = (rate + rateAtEnd) * Scalar(0.5 * width)
                rateAtStart = rateAtEnd
            }
            cost = cost.map { $0 + piece } ?? piece
        }
        if saveSet.contains(n + 1) {
            saved[n + 1] = next.y.value
        }
        if problem.recordPath {
            path!.states.append(next.y)
            path!.increments.append(increment)
        }
        problem.onStep?(SDEStep(index: n, t0: points[n], t1: points[n + 1], x0: state.y, x1: next.y, increment: increment))
        return next
    }
    return CheckpointedForward(
        saved: saved, cost: cost?.value, path: path, checkpoints: checkpoints, auxiliaryShapes: end.auxiliary.map(\.shape))
}

/// Returns the cotangents of x0 and of each parameter, reversing the steps by the schedule.
private func reverseWithCheckpoints<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ problem: SolveProblem<SDE, Path>, schedule: BinomialCheckpointing,
    checkpoints: BinomialCheckpointing.Checkpoints<SolverState<SDE.Scalar>>, auxiliaryShapes: [[Int]],
    stateCotangents: [Int: Tensor<SDE.Scalar>], costCotangent: Tensor<SDE.Scalar>?, parameters: [Variable<SDE.Scalar>]
) -> [Tensor<SDE.Scalar>?] where Path.Scalar == SDE.Scalar {
    typealias Scalar = SDE.Scalar
    let (sde, solver, points) = (problem.sde, problem.solver, problem.grid.points)
    let shape = problem.x0.shape
    let costShape = [shape[0], 1]

    // The cotangents of xₙ and of the solver's auxiliary values at the current n.
    var stateAdjoints = [stateCotangents[schedule.steps] ?? Tensor(zeros: shape)] + auxiliaryShapes.map { Tensor(zeros: $0) }
    var parameterGradients = parameters.map { Tensor<Scalar>(zeros: $0.shape) }

    let advance: (SolverState<Scalar>, Int) -> SolverState<Scalar> = { state, n in
        solver.step(sde, from: points[n], to: points[n + 1], state, problem.brownian.increment(from: points[n], to: points[n + 1]))
    }
    // A second backpropagation through the same outputs finds the checkpoints consumed and sweeps again.
    let store = checkpoints.count > 0
        ? checkpoints : schedule.sweep(from: solver.initialState(sde, at: points[0], problem.x0.detached()), advance: advance).checkpoints
    _ = schedule.reverse(store, advance: advance) { state, n in
        let (t0, t1) = (points[n], points[n + 1])
        let increment = problem.brownian.increment(from: t0, to: t1)
        var cotangents = stateAdjoints
        if problem.runningCost != nil {
            cotangents.append(costCotangent ?? Tensor(zeros: costShape))
        }
        let product = vectorJacobianProduct(
            at: [state.y.value] + state.auxiliary.map(\.value), cotangent: flattenedConcatenation(cotangents),
            parameters: parameters
        ) { inputs in
            let start = SolverState(y: inputs[0], auxiliary: Array(inputs.dropFirst()))
            let end = differentiableStep(solver, sde, from: t0, to: t1, start, increment)
            var pieces = [end.y] + end.auxiliary
            if let runningCost = problem.runningCost {
                pieces.append(runningCost.increment(rateAtStart: runningCost(t0, inputs[0]), from: t0, to: t1, end: end.y))
            }
            return Variable.concatenate(pieces.map { $0.reshaped(to: [-1]) }, alongAxis: 0)
        }

        stateAdjoints = product.inputGradients
        for index in parameterGradients.indices {
            parameterGradients[index].addScaled(product.parameterGradients[index], by: 1)
        }
        if let cotangent = stateCotangents[n] {
            stateAdjoints[0] = stateAdjoints[0] + cotangent
        }
    }
    if auxiliaryShapes.isEmpty {
        return [stateAdjoints[0]] + parameterGradients
    }

    // The start state's auxiliary values are functions of x0 (reversible Heun: ŷ₀ = x0 and f(t₀, x0)).
    let product = vectorJacobianProduct(
        at: [problem.x0.value], cotangent: flattenedConcatenation(stateAdjoints), parameters: parameters
    ) { inputs in
        let start = solver.initialState(sde, at: points[0], inputs[0])
        return Variable.concatenate(([start.y] + start.auxiliary).map { $0.reshaped(to: [-1]) }, alongAxis: 0)
    }
    for index in parameterGradients.indices {
        parameterGradients[index].addScaled(product.parameterGradients[index], by: 1)
    }
    return [product.inputGradients[0]] + parameterGradients
}

private func flattenedConcatenation<Scalar>(_ tensors: [Tensor<Scalar>]) -> Tensor<Scalar> {
    Tensor.concatenate(tensors.map { $0.reshaped(to: [-1]) }, alongAxis: 0)
}

/// Returns `solver`'s step as a graph whose backpropagation is the step's exact derivative.
///
/// Milstein's own step computes g ∂g/∂x by a vector–Jacobian product outside the graph.
/// For diagonal noise that product is twice the Itô correction c = ½ Σⱼ (∂gⱼ/∂x) gⱼ, so
/// here the correction term ½ g (∂g/∂x) (ΔW² − |h|) is recorded as c (ΔW² − |h|) from the
/// SDE's differentiable `itoCorrection`. Its value equals Milstein's step to rounding.
func differentiableStep<SDE: StochasticDifferentialEquation>(
    _ solver: any SDESolver, _ sde: SDE, from t0: Double, to t1: Double, _ state: SolverState<SDE.Scalar>,
    _ increment: BrownianIncrement<SDE.Scalar>
) -> SolverState<SDE.Scalar> {
    typealias Scalar = SDE.Scalar
    guard solver is Milstein else {
        return solver.step(sde, from: t0, to: t1, state, increment)
    }
    guard let correction = sde.itoCorrection(t0, state.y) else {
        preconditionFailure("differentiableStep: Milstein needs the SDE's Itô correction; validateCheckpointed rejects SDEs without it")
    }
    let y = state.y
    let h = t1 - t0
    let dW = increment.dW
    let drift = sde.drift(t0, y) * Scalar(h)
    let noise = sde.diffusionProduct(t0, y, dW)
    return SolverState(y: y + drift + noise + correction * (dW * dW - Scalar(Swift.abs(h))))
}

/// Throws unless `GradientMethod.checkpointed(checkpoints:)` can differentiate `solver`'s steps on `sde`.
func validateCheckpointed<SDE: StochasticDifferentialEquation>(
    _ sde: SDE, solver: any SDESolver, checkpoints: Int?
) throws {
    if let checkpoints, checkpoints < 1 {
        throw SDESetupError(
            "GradientMethod.checkpointed needs at least 1 checkpoint (the start state), got \(checkpoints); pass nil for ⌈log₂ N⌉")
    }
    guard !solver.supportsBackpropagation else { return }
    guard solver is Milstein else {
        throw SDESetupError(
            "\(solver.name) cannot be differentiated step by step (its step uses a vector–Jacobian product); "
                + "use .adjoint(backwardSolver: Heun()) or .detached")
    }
    guard sde.providesItoCorrection else {
        throw SDESetupError(
            "The checkpointed adjoint differentiates Milstein's correction through the SDE's Itô correction "
                + "½ Σⱼ (∂gⱼ/∂x) gⱼ, which this SDE does not supply; implement itoCorrection(_:_:) "
                + "or use .adjoint(backwardSolver: Heun())")
    }
}
