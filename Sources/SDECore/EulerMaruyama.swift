import Tensors

/// The Euler–Maruyama method: y₁ = y₀ + f(t₀, y₀) h + g(t₀, y₀) ΔW.
///
/// Converges to the Itô solution. Strong order 0.5, or 1.0 for additive noise; weak
/// order 1.0. One drift and one diffusion evaluation per step. Accepts every noise type.
public struct EulerMaruyama: SDESolver {
    public init() {}

    public var name: String { "Euler–Maruyama" }
    public var interpretation: SDEInterpretation { .ito }

    public func order(for noiseType: NoiseType) -> ConvergenceOrder {
        ConvergenceOrder(strong: noiseType.isAdditive ? 1.0 : 0.5, weak: 1.0)
    }

    public func step<Terms: SDETerms>(
        _ terms: Terms, from t0: Double, to t1: Double, _ state: SolverState<Terms.Scalar>,
        _ increment: BrownianIncrement<Terms.Scalar>
    ) -> SolverState<Terms.Scalar> {
        let y = state.y
        let h = Terms.Scalar(t1 - t0)
        let drift = terms.drift(t0, y)
        let noise = terms.diffusionProduct(t0, y, increment.dW)
        let isRecorded = y.requiresGrad || drift.requiresGrad || noise.requiresGrad
        if isRecorded || drift.shape != y.shape || noise.shape != y.shape {
            return SolverState(y: y + drift * h + noise)
        }

        // Nothing is recorded and no operand broadcasts, so one pass gives the bits of the line above.
        return SolverState(y: Variable(y.value.adding(drift.value, times: h, plus: noise.value)))
    }
}
