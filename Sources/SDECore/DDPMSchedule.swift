import Foundation

/// The discrete noise schedule of DDPM: β₁…β_N, αᵢ = 1 − βᵢ and ᾱᵢ = ∏_{j≤i} αⱼ.
///
/// Arrays are 0-based: `betas[i - 1]` is βᵢ. ᾱ is the exact cumulative product, which
/// agrees with the continuous exp(−∫β) only to first order in β (for the linear
/// schedule with N = 1000 the two differ by several per cent at the last step).
public struct DDPMSchedule: Sendable {
    public let betas: [Double]
    public let alphas: [Double]
    public let alphaBars: [Double]

    /// Creates a schedule from β₁…β_N, each in (0, 1).
    public init(betas: [Double]) {
        precondition(!betas.isEmpty, "DDPMSchedule: no betas given")
        for (index, beta) in betas.enumerated() {
            precondition(beta > 0 && beta < 1, "DDPMSchedule: beta_\(index + 1) = \(beta) is not in (0, 1)")
        }
        self.betas = betas
        alphas = betas.map { 1 - $0 }
        var product = 1.0
        alphaBars = alphas.map { alpha in
            product *= alpha
            return product
        }
    }

    /// The number N of steps.
    public var count: Int { betas.count }

    /// Returns βᵢ evenly spaced from `betaStart` (i = 1) to `betaEnd` (i = N), as in Ho et al. (2020).
    public static func linear(betaStart: Double = 1e-4, betaEnd: Double = 0.02, count: Int = 1000) -> DDPMSchedule {
        precondition(count >= 2, "DDPMSchedule.linear: count \(count) must be at least 2")
        let betas = (0..<count).map { i in betaStart + (betaEnd - betaStart) * Double(i) / Double(count - 1) }
        return DDPMSchedule(betas: betas)
    }

    /// Returns the cosine schedule of Nichol and Dhariwal (2021): with
    /// f(i) = cos²((i/N + s)/(1 + s) · π/2), βᵢ = min(1 − f(i)/f(i − 1), `maximumBeta`).
    public static func cosine(count: Int = 1000, offset: Double = 0.008, maximumBeta: Double = 0.999) -> DDPMSchedule {
        precondition(count >= 1, "DDPMSchedule.cosine: count \(count) must be positive")
        func f(_ i: Int) -> Double {
            let c = Foundation.cos((Double(i) / Double(count) + offset) / (1 + offset) * Double.pi / 2)
            return c * c
        }
        let betas = (1...count).map { i in Swift.min(1 - f(i) / f(i - 1), maximumBeta) }
        return DDPMSchedule(betas: betas)
    }
}
