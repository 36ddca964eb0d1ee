import NeuralNetworks
import SDECore
import Tensors

extension ControlProblem {
    /// Evaluates the trajectory-balance objective on detached paths of `reference`:
    ///
    ///     L(h, k) = mean_batch[(k + log dQ^u/dP − ln ℓ(X₀))²],
    ///
    /// with a learned log-normaliser k (a scalar, or k(y) for an amortised model). For a
    /// fixed h the optimal k is −E[log dQ^u/dP − ln ℓ(X₀)]. At the optimum h*, started from
    /// ν = N(0, I), that is k = E_ν[ln ℓ_T(X_T)] = ln Z − KL(ν ‖ p_T(· | y)) + KL(ν ‖ p_T),
    /// which tends to ln Z = ln p(y) only as the horizon grows. With the on-policy
    /// reference and the optimal k, the expected gradient in θ is twice that of
    /// KL(Q^u ‖ Q̃).
    ///
    /// The gradients list the model's parameters, then the log-normaliser's.
    public func trajectoryBalance<Model: HTransformModel, Normalizer: LogNormalizerModel>(
        _ model: Model, logNormalizer: Normalizer, randomness: PathRandomness<Scalar>,
        reference: ReferenceProcess<Scalar> = .onPolicy, context: Tensor<Scalar>? = nil,
        memory: DetachedPathMemory = .storedPath, solver: any SDESolver = EulerMaruyama()
    ) throws -> ControlLossEvaluation<Scalar> where Model.Scalar == Scalar, Normalizer.Scalar == Scalar {
        let batch = randomness.batch
        let paths = try detachedLogRatios(
            model, reference: reference, randomness: randomness, context: context, memory: memory, solver: solver)

        // (k + w)² with w constant: the loss and k's gradients by one reverse pass.
        let normalizerParameters = logNormalizer.parameters
        let (loss, residuals, normalizerGradients) = GradientRecording.withRecording {
            let residual = logNormalizer(batch: batch, context: context) + paths.values
            let loss = (residual * residual).mean()
            return (loss.value.scalar, residual.value, Tensors.gradients(of: loss, withRespectTo: normalizerParameters))
        }
        let modelGradients = try paths.gradient(residuals * Scalar(2.0 / Double(batch)))
        return ControlLossEvaluation(
            loss: Double(loss), gradients: modelGradients + normalizerGradients, samples: paths.samples,
            pathCosts: paths.values)
    }
}
