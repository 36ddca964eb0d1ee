import Tensors

/// The stochastic adjoint system of a Stratonovich SDE (Li, Wong, Chen and Duvenaud,
/// 2020), on the augmented state Y = (x, a, a_θ), flattened into one vector:
///
///     dx   = f dt + g ∘ dW
///     da   = −[aᵀ ∂f/∂x + s a_c ∂r/∂x] dt − aᵀ ∂(g ∘ dW)/∂x
///     da_θ = −[aᵀ ∂f/∂θ + s a_c ∂r/∂θ] dt − aᵀ ∂(g ∘ dW)/∂θ
///
/// solved from the end of the forward solve back to its start, with a(end) = ∂L/∂x(end)
/// and a_θ(end) = 0. a_c is the cotangent of the running cost ∫ r |dt| and s = ±1 the
/// direction of the forward solve. Each drift evaluation is one vector–Jacobian product
/// of (f, r), each diffusion product one of g·v; no second derivatives are needed. The
/// diffusion is never formed as a matrix, so its noise type is general.
struct AdjointTerms<Base: SDETerms>: SDETerms {
    typealias Scalar = Base.Scalar

    let base: Base
    let parameters: [Variable<Scalar>]
    let runningCost: RunningCost<Scalar>?
    let costCotangent: Tensor<Scalar>?
    let direction: Scalar
    let stateShape: [Int]

    var noiseType: NoiseType { .general }

    private var stateCount: Int { stateShape.reduce(1, *) }

    func pack(_ x: Tensor<Scalar>, _ a: Tensor<Scalar>, _ parameterAdjoints: [Tensor<Scalar>]) -> Variable<Scalar> {
        let pieces = ([x, a] + parameterAdjoints).map { $0.reshaped(to: [-1]) }
        return Variable(Tensor.concatenate(pieces, alongAxis: 0))
    }

    func unpack(_ y: Tensor<Scalar>) -> (x: Tensor<Scalar>, a: Tensor<Scalar>, parameterAdjoints: [Tensor<Scalar>]) {
        let count = stateCount
        let x = y.slice(alongAxis: 0, 0..<count).reshaped(to: stateShape)
        let a = y.slice(alongAxis: 0, count..<(2 * count)).reshaped(to: stateShape)
        var offset = 2 * count
        let parameterAdjoints = parameters.map { parameter -> Tensor<Scalar> in
            let size = parameter.value.scalarCount
            defer { offset += size }
            return y.slice(alongAxis: 0, offset..<(offset + size)).reshaped(to: parameter.shape)
        }
        return (x, a, parameterAdjoints)
    }

    func drift(_ t: Double, _ y: Variable<Scalar>) -> Variable<Scalar> {
        let (x, a, _) = unpack(y.value)
        let withCost = runningCost != nil && costCotangent != nil
        let cotangent = withCost ? Tensor.concatenate([a, costCotangent! * direction], alongAxis: 1) : a
        let product = vectorJacobianProduct(at: [x], cotangent: cotangent, parameters: parameters) { inputs in
            let f = base.drift(t, inputs[0])
            return withCost ? Variable.concatenate([f, runningCost!(t, inputs[0])], alongAxis: 1) : f
        }
        let f = withCost ? product.value.slice(alongAxis: 1, 0..<stateShape[1]) : product.value
        return pack(f, -product.inputGradients[0], product.parameterGradients.map { -$0 })
    }

    func diffusionProduct(_ t: Double, _ y: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        let (x, a, _) = unpack(y.value)
        let product = vectorJacobianProduct(at: [x], cotangent: a, parameters: parameters) { inputs in
            base.diffusionProduct(t, inputs[0], v)
        }
        return pack(product.value, -product.inputGradients[0], product.parameterGradients.map { -$0 })
    }
}

/// Throws unless the adjoint of `sde` can be solved backwards with `backwardSolver`.
func validateAdjoint<SDE: StochasticDifferentialEquation>(_ sde: SDE, solver backwardSolver: any SDESolver) throws {
    let additive = sde.noiseType.isAdditive
    if sde.interpretation == .ito && !additive && !sde.providesItoCorrection {
        throw SDESetupError(
            "The adjoint of an Itô SDE with \(sde.noiseType) noise is solved in Stratonovich form, which needs "
                + "the Itô correction ½ Σⱼ (∂gⱼ/∂x) gⱼ; implement itoCorrection(_:_:) or use backpropagation")
    }
    // With additive noise the adjoint system's Itô and Stratonovich forms coincide: its
    // noise on a vanishes and its noise on a_θ does not depend on a_θ or x.
    let interpretation: SDEInterpretation = additive ? backwardSolver.interpretation : .stratonovich
    do {
        try backwardSolver.validate(noiseType: .general, interpretation: interpretation)
    } catch let error as SDESetupError {
        throw SDESetupError(
            "\(backwardSolver.name) cannot solve the adjoint SDE, which has general noise: \(error.message). "
                + "Pass .adjoint(backwardSolver: Heun())")
    }
    if backwardSolver.levyArea == .spaceTime {
        throw SDESetupError("\(backwardSolver.name) cannot solve the adjoint SDE; pass .adjoint(backwardSolver: Heun())")
    }
}

/// Runs the forward pass without recording and returns outputs whose pullback solves the
/// adjoint SDE backwards.
func solveWithAdjoint<SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ problem: SolveProblem<SDE, Path>, backwardSolver: any SDESolver
) throws -> (states: [Variable<SDE.Scalar>], cost: Variable<SDE.Scalar>?, path: SDEPath<SDE.Scalar>?) {
    typealias Scalar = SDE.Scalar
    let last = problem.grid.stepCount
    let forward = withoutRecording { problem.integrate(x0: problem.x0.detached(), alsoSaving: [last]) }
    let forwardStates = forward.saved.mapValues(\.value)
    let parameters = problem.parameters

    var values = problem.saveIndices.map { forwardStates[$0]! }
    if let cost = forward.cost { values.append(cost.value) }

    let outputs = makeOutputs(values: values, inputs: [problem.x0] + parameters) { cotangents in
        var stateCotangents: [Int: Tensor<Scalar>] = [:]
        for (position, index) in problem.saveIndices.enumerated() {
            guard let cotangent = cotangents[position] else { continue }
            stateCotangents[index] = stateCotangents[index].map { $0 + cotangent } ?? cotangent
        }
        let costCotangent = forward.cost == nil ? nil : cotangents[problem.saveIndices.count]
        return withoutRecording {
            let sde = problem.sde
            if sde.interpretation == .ito && !sde.noiseType.isAdditive {
                let stratonovich = ConvertedSDE(base: sde, interpretation: .stratonovich)
                return solveAdjointBackwards(
                    stratonovich, problem: problem, solver: backwardSolver, forwardStates: forwardStates,
                    stateCotangents: stateCotangents, costCotangent: costCotangent, parameters: parameters)
            }
            return solveAdjointBackwards(
                sde, problem: problem, solver: backwardSolver, forwardStates: forwardStates,
                stateCotangents: stateCotangents, costCotangent: costCotangent, parameters: parameters)
        }
    }
    let states = Array(outputs.prefix(problem.saveIndices.count))
    let cost = forward.cost == nil ? nil : outputs[outputs.count - 1]
    return (states, cost, forward.path)
}

/// Integrates the adjoint system from the last grid point back to the first and returns
/// the cotangents of x0 and of each parameter.
///
/// At every saved point the state is reset to the forward pass's value (limiting the
/// drift of the backward reconstruction) and that point's output cotangent is added to a.
func solveAdjointBackwards<Terms: SDETerms, SDE: StochasticDifferentialEquation, Path: BrownianPath>(
    _ terms: Terms, problem: SolveProblem<SDE, Path>, solver: any SDESolver,
    forwardStates: [Int: Tensor<Terms.Scalar>], stateCotangents: [Int: Tensor<Terms.Scalar>],
    costCotangent: Tensor<Terms.Scalar>?, parameters: [Variable<Terms.Scalar>]
) -> [Tensor<Terms.Scalar>?] where Terms.Scalar == SDE.Scalar, Path.Scalar == SDE.Scalar {
    typealias Scalar = Terms.Scalar
    let points = problem.grid.points
    let last = problem.grid.stepCount
    let stateShape = problem.x0.shape
    let adjoint = AdjointTerms(
        base: terms, parameters: parameters, runningCost: problem.runningCost, costCotangent: costCotangent,
        direction: problem.grid.isIncreasing ? 1 : -1, stateShape: stateShape)

    let a = stateCotangents[last] ?? Tensor(zeros: stateShape)
    let parameterAdjoints = parameters.map { Tensor<Scalar>(zeros: $0.shape) }
    var state = solver.initialState(adjoint, at: points[last], adjoint.pack(forwardStates[last]!, a, parameterAdjoints))

    for n in stride(from: last, to: 0, by: -1) {
        let increment = problem.brownian.increment(from: points[n], to: points[n - 1])
        state = solver.step(adjoint, from: points[n], to: points[n - 1], state, increment)

        let restart = forwardStates[n - 1] != nil && n - 1 > 0
        if restart || stateCotangents[n - 1] != nil {
            var (x, a, parameterAdjoints) = adjoint.unpack(state.y.value)
            if restart { x = forwardStates[n - 1]! }
            if let cotangent = stateCotangents[n - 1] { a = a + cotangent }
            state = solver.initialState(adjoint, at: points[n - 1], adjoint.pack(x, a, parameterAdjoints))
        }
    }
    let (_, aStart, parameterGradients) = adjoint.unpack(state.y.value)
    return [aStart] + parameterGradients
}
