import Foundation
import Tensors

/// A noise schedule β(t) of the variance-preserving SDE on [0, T].
public enum VPSchedule: Sendable {
    /// β(t) = βmin + (βmax − βmin) t / T; the usual values are 0.1 and 20 with T = 1.
    case linear(betaMin: Double, betaMax: Double)
    /// ᾱ(t) = cos²(φ(t)) / cos²(φ(0)) with φ(t) = (t/T + s) / (1 + s) · π/2 (Nichol and
    /// Dhariwal, 2021), so β(t) = π tan φ(t) / (T (1 + s)). β diverges as t → T, so it is
    /// capped at `maximumBeta`; ᾱ is the exact exp(−∫β) of the capped β.
    case cosine(offset: Double, maximumBeta: Double)
}

/// The variance-preserving (VP) SDE dX = −½ β(t) X dt + √β(t) dW of DDPM-type diffusion
/// models, with additive diagonal noise.
///
/// X_t | X_0 ~ N(√ᾱ(t) X_0, (1 − ᾱ(t)) I) with ᾱ(t) = exp(−∫₀ᵗ β(s) ds).
public struct VPSDE<Scalar: TensorScalar>: StochasticDifferentialEquation {
    public let schedule: VPSchedule
    /// The time horizon T.
    public let horizon: Double

    public init(schedule: VPSchedule = .linear(betaMin: 0.1, betaMax: 20), horizon: Double = 1) {
        precondition(horizon > 0, "VPSDE: horizon \(horizon) must be positive")
        switch schedule {
        case let .linear(betaMin, betaMax):
            precondition(betaMin >= 0 && betaMax >= betaMin, "VPSDE: need 0 ≤ betaMin ≤ betaMax, got \(betaMin), \(betaMax)")
        case let .cosine(offset, maximumBeta):
            precondition(offset > 0 && maximumBeta > 0, "VPSDE: cosine offset \(offset) and maximumBeta \(maximumBeta) must be positive")
        }
        self.schedule = schedule
        self.horizon = horizon
    }

    public var noiseType: NoiseType { .additive(.diagonal) }
    public var interpretation: SDEInterpretation { .ito }
    public var parameters: [Variable<Scalar>] { [] }

    /// β(t).
    public func beta(_ t: Double) -> Double {
        switch schedule {
        case let .linear(betaMin, betaMax):
            return betaMin + (betaMax - betaMin) * t / horizon
        case let .cosine(offset, maximumBeta):
            return Swift.min(cosineBeta(t, offset: offset), maximumBeta)
        }
    }

    /// ∫₀ᵗ β(s) ds.
    public func integratedBeta(_ t: Double) -> Double {
        switch schedule {
        case let .linear(betaMin, betaMax):
            return betaMin * t + (betaMax - betaMin) * t * t / (2 * horizon)
        case let .cosine(offset, maximumBeta):
            // β reaches the cap at t*, where π tan φ(t*) / (T (1 + s)) = maximumBeta.
            let phiCap = Foundation.atan(maximumBeta * horizon * (1 + offset) / Double.pi)
            let tCap = horizon * ((1 + offset) * phiCap / (Double.pi / 2) - offset)
            if t <= tCap {
                return -Foundation.log(cosineAlphaBar(t, offset: offset))
            }
            return -Foundation.log(cosineAlphaBar(tCap, offset: offset)) + maximumBeta * (t - tCap)
        }
    }

    /// ᾱ(t) = exp(−∫₀ᵗ β).
    public func alphaBar(_ t: Double) -> Double {
        Foundation.exp(-integratedBeta(t))
    }

    /// Returns the mean scale √ᾱ(t) of X_t given X_0.
    public func marginalMeanScale(_ t: Double) -> Double {
        alphaBar(t).squareRoot()
    }

    /// Returns the standard deviation √(1 − ᾱ(t)) of X_t given X_0.
    public func marginalStandardDeviation(_ t: Double) -> Double {
        (-Foundation.expm1(-integratedBeta(t))).squareRoot()
    }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        x * Scalar(-0.5 * beta(t))
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(shape: x.shape, repeating: Scalar(beta(t).squareRoot())))
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(v * Scalar(beta(t).squareRoot()))
    }

    private func cosinePhi(_ t: Double, offset: Double) -> Double {
        (t / horizon + offset) / (1 + offset) * Double.pi / 2
    }

    private func cosineBeta(_ t: Double, offset: Double) -> Double {
        Double.pi * Foundation.tan(cosinePhi(t, offset: offset)) / (horizon * (1 + offset))
    }

    private func cosineAlphaBar(_ t: Double, offset: Double) -> Double {
        let ratio = Foundation.cos(cosinePhi(t, offset: offset)) / Foundation.cos(cosinePhi(0, offset: offset))
        return ratio * ratio
    }
}

/// The variance-exploding (VE) SDE dX = √(d σ²(t)/dt) dW with σ(t) = σmin (σmax/σmin)^{t/T},
/// so √(dσ²/dt) = σ(t) √(2 ln(σmax/σmin) / T). Additive diagonal noise, no drift.
///
/// X_t | X_0 ~ N(X_0, (σ(t)² − σmin²) I).
public struct VESDE<Scalar: TensorScalar>: StochasticDifferentialEquation {
    public let sigmaMin: Double
    public let sigmaMax: Double
    public let horizon: Double

    public init(sigmaMin: Double = 0.01, sigmaMax: Double = 50, horizon: Double = 1) {
        precondition(
            sigmaMin > 0 && sigmaMax > sigmaMin && horizon > 0,
            "VESDE: need 0 < sigmaMin < sigmaMax and horizon > 0, got \(sigmaMin), \(sigmaMax), \(horizon)")
        self.sigmaMin = sigmaMin
        self.sigmaMax = sigmaMax
        self.horizon = horizon
    }

    public var noiseType: NoiseType { .additive(.diagonal) }
    public var interpretation: SDEInterpretation { .ito }
    public var parameters: [Variable<Scalar>] { [] }

    /// σ(t) = σmin (σmax/σmin)^{t/T}.
    public func sigma(_ t: Double) -> Double {
        sigmaMin * Foundation.pow(sigmaMax / sigmaMin, t / horizon)
    }

    /// Returns the diffusion coefficient g(t) = σ(t) √(2 ln(σmax/σmin) / T).
    public func diffusionCoefficient(_ t: Double) -> Double {
        sigma(t) * (2 * Foundation.log(sigmaMax / sigmaMin) / horizon).squareRoot()
    }

    /// Returns the standard deviation √(σ(t)² − σmin²) of X_t given X_0.
    public func marginalStandardDeviation(_ t: Double) -> Double {
        let s = sigma(t)
        return (s * s - sigmaMin * sigmaMin).squareRoot()
    }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(zeros: x.shape))
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(shape: x.shape, repeating: Scalar(diffusionCoefficient(t))))
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(v * Scalar(diffusionCoefficient(t)))
    }
}
