import Tensors

/// The Milstein method for diagonal noise:
/// y₁ = y₀ + f h + g ⊙ ΔW + ½ g ⊙ (∂g/∂y) ⊙ (ΔW² − |h|), all at (t₀, y₀).
///
/// Converges to the Itô solution with strong order 1.0 and weak order 1.0. For diagonal
/// noise gᵢ depends on yᵢ only, so the diagonal derivative times g is one
/// vector–Jacobian product: (gᵀ ∂g/∂y)ᵢ = gᵢ ∂gᵢ/∂yᵢ. That product is computed outside the
/// recorded graph, so backpropagating through a Milstein step would drop the
/// derivative of the correction term. Backpropagation is therefore rejected at set-up;
/// use the adjoint or detached paths. The |h| makes the correction right for backward
/// solves.
public struct Milstein: SDESolver {
    public init() {}

    public var name: String { "Milstein" }
    public var interpretation: SDEInterpretation { .ito }
    public var supportsBackpropagation: Bool { false }

    public func order(for noiseType: NoiseType) -> ConvergenceOrder {
        ConvergenceOrder(strong: 1.0, weak: 1.0)
    }

    public func validate(noiseType: NoiseType, interpretation: SDEInterpretation) throws {
        guard noiseType.layout == .diagonal else {
            throw SDESetupError(
                "Milstein needs diagonal noise (gᵢ depending on yᵢ only), but the SDE has \(noiseType) noise; "
                    + "use Euler–Maruyama, or Heun on the Stratonovich form")
        }
        try validateInterpretation(of: noiseType, interpretation)
    }

    public func step<Terms: SDETerms>(
        _ terms: Terms, from t0: Double, to t1: Double, _ state: SolverState<Terms.Scalar>,
        _ increment: BrownianIncrement<Terms.Scalar>
    ) -> SolverState<Terms.Scalar> {
        typealias Scalar = Terms.Scalar
        let y = state.y
        let h = t1 - t0
        let dW = increment.dW

        // For diagonal noise g = g(t, y) · 1, and gᵀ ∂g/∂y is the vector–Jacobian product with g.
        let ones = Tensor<Scalar>(shape: dW.shape, repeating: 1)
        let g = withoutRecording { terms.diffusionProduct(t0, y.detached(), ones).value }
        let gTimesDerivative = vectorJacobianProduct(at: [y.value], cotangent: g) { inputs in
            terms.diffusionProduct(t0, inputs[0], ones)
        }.inputGradients[0]

        let drift = terms.drift(t0, y) * Scalar(h)
        let noise = terms.diffusionProduct(t0, y, dW)
        let correction = gTimesDerivative * (dW * dW - Scalar(Swift.abs(h))) * 0.5
        return SolverState(y: y + drift + noise + Variable(correction))
    }
}
