import Tensors

/// The stochastic Heun method (trapezoidal predictor–corrector):
/// ỹ = y₀ + f(t₀, y₀) h + g(t₀, y₀) ΔW,
/// y₁ = y₀ + ½ [f(t₀, y₀) + f(t₁, ỹ)] h + ½ [g(t₀, y₀) + g(t₁, ỹ)] ΔW.
///
/// Converges to the Stratonovich solution. Strong order 0.5 for general noise and 1.0
/// for commutative (scalar, diagonal or additive) noise; weak order 1.0, or 2.0 for
/// additive noise. Two drift and two diffusion evaluations per step. With zero
/// diffusion it is the second-order Runge–Kutta method of Heun.
public struct Heun: SDESolver {
    public init() {}

    public var name: String { "Heun" }
    public var interpretation: SDEInterpretation { .stratonovich }

    public func order(for noiseType: NoiseType) -> ConvergenceOrder {
        ConvergenceOrder(strong: noiseType.isCommutative ? 1.0 : 0.5, weak: noiseType.isAdditive ? 2.0 : 1.0)
    }

    public func step<Terms: SDETerms>(
        _ terms: Terms, from t0: Double, to t1: Double, _ state: SolverState<Terms.Scalar>,
        _ increment: BrownianIncrement<Terms.Scalar>
    ) -> SolverState<Terms.Scalar> {
        let y = state.y
        let h = Terms.Scalar(t1 - t0)

        let f0 = terms.drift(t0, y)
        let g0 = terms.diffusionProduct(t0, y, increment.dW)
        let predictor = y + f0 * h + g0

        let f1 = terms.drift(t1, predictor)
        let g1 = terms.diffusionProduct(t1, predictor, increment.dW)
        return SolverState(y: y + (f0 + f1) * (h / 2) + (g0 + g1) * 0.5)
    }
}
