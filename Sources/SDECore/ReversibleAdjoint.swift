import Tensors

/// Runs reversible Heun forward without recording and returns outputs whose pullback
/// walks the steps backwards. Each step reconstructs (yₙ, ŷₙ, f̂ₙ) from (yₙ₊₁, ŷₙ₊₁, f̂ₙ₊₁)
/// algebraically, then takes the vector–Jacobian product of the forward step map
/// (yₙ, ŷₙ) ↦ (yₙ₊₁, ŷₙ₊₁, running-cost increment). The result is the gradient of the
/// discrete solution, as backpropagation would give, with memory independent of the
/// number of steps.
func solveWithReversibleHeun<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ problem: SolveProblem<SDE, Path>
) -> (states: [Variable<SDE.Scalar>], cost: Variable<SDE.Scalar>?, path: SDEPath<SDE.Scalar>?) {
    typealias Scalar = SDE.Scalar
    let forward = withoutRecording { problem.integrate(x0: problem.x0.detached()) }
    let finalState = forward.finalState
    let parameters = problem.parameters

    var values = problem.saveIndices.map { forward.saved[$0]!.value }
    if let cost = forward.cost { values.append(cost.value) }

    let outputs = makeOutputs(values: values, inputs: [problem.x0] + parameters) { cotangents in
        var stateCotangents: [Int: Tensor<Scalar>] = [:]
        for (position, index) in problem.saveIndices.enumerated() {
            guard let cotangent = cotangents[position] else { continue }
            stateCotangents[index] = stateCotangents[index].map { $0 + cotangent } ?? cotangent
        }
        let costCotangent = forward.cost == nil ? nil : cotangents[problem.saveIndices.count]
        return withoutRecording {
            reverseReversibleHeun(
                problem: problem, finalState: finalState, stateCotangents: stateCotangents,
                costCotangent: costCotangent, parameters: parameters)
        }
    }
    let states = Array(outputs.prefix(problem.saveIndices.count))
    let cost = forward.cost == nil ? nil : outputs[outputs.count - 1]
    return (states, cost, forward.path)
}

/// Returns the cotangents of x0 and of each parameter by reversing every step.
func reverseReversibleHeun<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    problem: SolveProblem<SDE, Path>, finalState: SolverState<SDE.Scalar>,
    stateCotangents: [Int: Tensor<SDE.Scalar>], costCotangent: Tensor<SDE.Scalar>?,
    parameters: [Variable<SDE.Scalar>]
) -> [Tensor<SDE.Scalar>?] where Path.Scalar == SDE.Scalar {
    typealias Scalar = SDE.Scalar
    let sde = problem.sde
    let solver = ReversibleHeun()
    let points = problem.grid.points
    let last = problem.grid.stepCount
    let shape = problem.x0.shape
    let d = shape[1]

    var state = finalState
    var aY = stateCotangents[last] ?? Tensor(zeros: shape)
    var aYHat = Tensor<Scalar>(zeros: shape)
    var parameterGradients = parameters.map { Tensor<Scalar>(zeros: $0.shape) }
    let costShape = [shape[0], 1]

    for n in stride(from: last, to: 0, by: -1) {
        let (t0, t1) = (points[n - 1], points[n])
        let increment = problem.brownian.increment(from: t0, to: t1)
        state = solver.reverseStep(sde, from: t0, to: t1, state, increment)

        // The step map (yₙ, ŷₙ) ↦ (yₙ₊₁, ŷₙ₊₁, ½ (r(tₙ, yₙ) + r(tₙ₊₁, yₙ₊₁)) |h|), concatenated on axis 1.
        var cotangentPieces = [aY, aYHat]
        if problem.runningCost != nil {
            cotangentPieces.append(costCotangent ?? Tensor(zeros: costShape))
        }
        let product = vectorJacobianProduct(
            at: [state.y.value, state.auxiliary[0].value], cotangent: Tensor.concatenate(cotangentPieces, alongAxis: 1),
            parameters: parameters
        ) { inputs in
            let start = SolverState(y: inputs[0], auxiliary: [inputs[1], sde.drift(t0, inputs[1])])
            let end = solver.step(sde, from: t0, to: t1, start, increment)
            var pieces = [end.y, end.auxiliary[0]]
            if let runningCost = problem.runningCost {
                pieces.append(runningCost.increment(rateAtStart: runningCost(t0, inputs[0]), from: t0, to: t1, end: end.y))
            }
            return Variable.concatenate(pieces, alongAxis: 1)
        }
        precondition(product.value.shape[1] == 2 * d + (problem.runningCost == nil ? 0 : 1))

        aY = product.inputGradients[0]
        aYHat = product.inputGradients[1]
        for index in parameterGradients.indices {
            parameterGradients[index].addScaled(product.parameterGradients[index], by: 1)
        }
        if let cotangent = stateCotangents[n - 1] {
            aY = aY + cotangent
        }
    }
    // y₀ = ŷ₀ = x0.
    return [aY + aYHat] + parameterGradients
}
