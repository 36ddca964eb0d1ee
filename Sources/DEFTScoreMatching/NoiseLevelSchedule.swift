import Foundation
import SDECore
import Tensors

/// The noise levels of a variance-preserving diffusion as a function of the model's time
/// variable: what the DEFT loss needs to form H_t = √ᾱ_t X₀ + √(1 − ᾱ_t) ε and to draw
/// training times.
///
/// The time is the one the frozen ε-model takes (see `NoisePredictor`): the continuous
/// time t ∈ [0, T] of a VP SDE, or the step index k ∈ {0, …, N − 1} of a DDPM schedule.
public protocol NoiseLevelSchedule {
    /// ᾱ at model time `t`.
    func alphaBar(at t: Double) -> Double

    /// Draws a training time from the schedule's time distribution.
    func randomTime(using generator: inout PhiloxRandom) -> Double
}

/// The continuous VP SDE: t ~ U(0, T) and ᾱ(t) = exp(−∫₀ᵗ β).
extension VPSDE: NoiseLevelSchedule {
    public func alphaBar(at t: Double) -> Double {
        alphaBar(t)
    }

    public func randomTime(using generator: inout PhiloxRandom) -> Double {
        generator.nextUniform() * horizon
    }
}

/// The DDPM chain: k uniform on {0, …, N − 1} and ᾱ = `alphaBars[k]`, which is
/// ∏_{j ≤ k+1} (1 − β_j) in the 1-based notation of the DDPM paper.
extension DDPMSchedule: NoiseLevelSchedule {
    public func alphaBar(at t: Double) -> Double {
        let k = Int(t.rounded())
        precondition(
            k >= 0 && k < count && Swift.abs(t - Double(k)) < 1e-6,
            "DDPMSchedule.alphaBar: time \(t) must be an integer step in 0..<\(count)")
        return alphaBars[k]
    }

    public func randomTime(using generator: inout PhiloxRandom) -> Double {
        Double(Swift.min(Int(generator.nextUniform() * Double(count)), count - 1))
    }
}
