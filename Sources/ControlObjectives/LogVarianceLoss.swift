import NeuralNetworks
import SDECore
import Tensors

extension ControlProblem {
    /// Evaluates the log-variance (VarGrad) objective on detached paths of `reference`:
    ///
    ///     L(h) = Var_batch[log dQ^u/dP − ln ℓ(X₀)] = Var_batch[log dQ^u/dQ̃],
    ///
    /// the unbiased sample variance (divisor batch − 1); the constant ln Z of
    /// log dQ̃/dP = ln ℓ(X₀) − ln Z drops out. The gradient is
    /// (2 / (B − 1)) Σᵢ (wᵢ − w̄) ∇_θ wᵢ with the path held fixed.
    ///
    /// Started from N(0, I) rather than the diffused target, the optimum h* leaves
    /// wᵢ = −ln ℓ_T(X_T) along each path, so the loss has the floor Var[ln ℓ_T(X_T)] over the
    /// start law; on a discrete grid the floor also contains a term of order the step size.
    /// With the on-policy reference, the expected gradient is twice that of KL(Q^u ‖ Q̃).
    public func logVariance<Model: HTransformModel>(
        _ model: Model, randomness: PathRandomness<Scalar>, reference: ReferenceProcess<Scalar> = .onPolicy,
        context: Tensor<Scalar>? = nil, memory: DetachedPathMemory = .storedPath, solver: any SDESolver = EulerMaruyama()
    ) throws -> ControlLossEvaluation<Scalar> where Model.Scalar == Scalar {
        let batch = randomness.batch
        precondition(batch >= 2, "ControlProblem.logVariance: a variance needs a batch of at least 2, got \(batch)")
        let paths = try detachedLogRatios(
            model, reference: reference, randomness: randomness, context: context, memory: memory, solver: solver)

        let centred = paths.values - paths.values.mean()
        let loss = Double((centred * centred).sum()) / Double(batch - 1)
        let gradients = try paths.gradient(centred * Scalar(2.0 / Double(batch - 1)))
        return ControlLossEvaluation(loss: loss, gradients: gradients, samples: paths.samples, pathCosts: paths.values)
    }
}
