import SDECore
import Tensors

extension DEFTModel {
    /// Returns the relative L2 error of the learned correction against a reference,
    ///
    ///     √( Σ_{t, i} ‖h^φ_t(H_t⁽ⁱ⁾, yᵢ) − h^ref_t(H_t⁽ⁱ⁾, yᵢ)‖² / Σ_{t, i} ‖h^ref_t(H_t⁽ⁱ⁾, yᵢ)‖² ),
    ///
    /// over the given times and the states H_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε of the given clean
    /// samples, each with fresh noise. Both corrections are in ε-units; for an exact prior
    /// the reference is −√(1 − ᾱ_t) h*_t.
    ///
    /// - Parameters:
    ///   - reference: maps a batch of states `[N, …]` and a time to the reference
    ///     correction `[N, …]` for the conditioning's observations.
    public func relativeCorrectionError(
        x0: Tensor<Scalar>, conditioning: ObservationBatch<Scalar>, times: [Double],
        reference: (Tensor<Scalar>, Double) -> Tensor<Scalar>, using generator: inout PhiloxRandom
    ) -> Double {
        var errorTotal = 0.0
        var referenceTotal = 0.0
        for t in times {
            let alphaBar = schedule.alphaBar(at: t)
            let noise = Tensor<Scalar>.normal(shape: x0.shape, using: &generator)
            let state = x0 * Scalar(alphaBar.squareRoot()) + noise * Scalar((1 - alphaBar).squareRoot())

            let learned = correction(state: state, time: Tensor(shape: [x0.shape[0]], repeating: Scalar(t)), conditioning: conditioning)
            let exact = reference(state, t)
            let difference = learned - exact
            errorTotal += Double((difference * difference).sum())
            referenceTotal += Double((exact * exact).sum())
        }
        return (errorTotal / referenceTotal).squareRoot()
    }
}
