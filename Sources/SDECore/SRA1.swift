import Tensors

/// The SRA1 stochastic Runge–Kutta method of Rößler (SIAM J. Numer. Anal. 48, 2010) for
/// additive noise, dX = f(t, X) dt + g(t) dW.
///
/// With J = ∫ₜ₀^ₜ₁ (W(s) − W(t₀)) ds / h = ½ ΔW + H, where H is the space-time Lévy area:
/// Y₂ = y₀ + ¾ f(t₀, y₀) h + (3/2) g(t₁) J,
/// y₁ = y₀ + [⅓ f(t₀, y₀) + ⅔ f(t₀ + ¾h, Y₂)] h + g(t₁) (ΔW − J) + g(t₀) J.
/// The g terms integrate ∫ g(s) dW(s) to first order in the variation of g over the step.
///
/// Strong order 1.5 and weak order 2.0, for additive noise only (where Itô and
/// Stratonovich agree); rejected for any other noise at set-up. The Brownian path must
/// generate space-time Lévy area (`LevyArea.spaceTime`). Two drift evaluations and
/// three diffusion products per step.
public struct SRA1: SDESolver {
    public init() {}

    public var name: String { "SRA1" }
    public var interpretation: SDEInterpretation { .ito }
    public var levyArea: LevyArea { .spaceTime }

    public func order(for noiseType: NoiseType) -> ConvergenceOrder {
        ConvergenceOrder(strong: 1.5, weak: 2.0)
    }

    public func validate(noiseType: NoiseType, interpretation: SDEInterpretation) throws {
        guard noiseType.isAdditive else {
            throw SDESetupError(
                "SRA1 needs additive noise (a diffusion that does not depend on the state), but the SDE has \(noiseType) noise")
        }
    }

    public func step<Terms: SDETerms>(
        _ terms: Terms, from t0: Double, to t1: Double, _ state: SolverState<Terms.Scalar>,
        _ increment: BrownianIncrement<Terms.Scalar>
    ) -> SolverState<Terms.Scalar> {
        typealias Scalar = Terms.Scalar
        guard let levyArea = increment.spaceTimeLevyArea else {
            preconditionFailure("SRA1: the Brownian increment carries no space-time Lévy area")
        }
        let y = state.y
        let h = t1 - t0
        let dW = increment.dW
        let j = dW * 0.5 + levyArea

        // Additive noise: g does not depend on the state, so any state may be passed.
        let f0 = terms.drift(t0, y)
        let stage = y + f0 * Scalar(0.75 * h) + terms.diffusionProduct(t1, y, j) * 1.5
        let f2 = terms.drift(t0 + 0.75 * h, stage)

        let drift = (f0 * Scalar(1.0 / 3) + f2 * Scalar(2.0 / 3)) * Scalar(h)
        let noise = terms.diffusionProduct(t1, y, dW - j) + terms.diffusionProduct(t0, y, j)
        return SolverState(y: y + drift + noise)
    }
}
