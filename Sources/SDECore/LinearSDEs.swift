import Foundation
import Tensors

/// The Ornstein–Uhlenbeck SDE dX = θ (μ − X) dt + σ dW, with additive diagonal noise.
///
/// θ, μ and σ are rank-0 parameters that require gradients. Started from x₀ at time 0,
/// Xₜ ~ N(μ + (x₀ − μ) e^{−θt}, σ² (1 − e^{−2θt}) / (2θ)) componentwise.
public struct OrnsteinUhlenbeck<Scalar: TensorScalar>: StochasticDifferentialEquation {
    public let theta: Variable<Scalar>
    public let mean: Variable<Scalar>
    public let sigma: Variable<Scalar>

    public init(theta: Scalar, mean: Scalar = 0, sigma: Scalar) {
        self.theta = Variable(Tensor(theta), requiresGrad: true)
        self.mean = Variable(Tensor(mean), requiresGrad: true)
        self.sigma = Variable(Tensor(sigma), requiresGrad: true)
    }

    public var noiseType: NoiseType { .additive(.diagonal) }
    public var interpretation: SDEInterpretation { .ito }
    public var parameters: [Variable<Scalar>] { [theta, mean, sigma] }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        (mean - x) * theta
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(shape: x.shape, repeating: 1)) * sigma
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(v) * sigma
    }

    /// Returns E[Xₜ | X₀ = x₀] = μ + (x₀ − μ) e^{−θt}.
    public func marginalMean(at t: Double, from x0: Double) -> Double {
        let (theta, mu) = (Double(self.theta.value.scalar), Double(mean.value.scalar))
        return mu + (x0 - mu) * Foundation.exp(-theta * t)
    }

    /// Returns Var[Xₜ | X₀] = σ² (1 − e^{−2θt}) / (2θ).
    public func marginalVariance(at t: Double) -> Double {
        let (theta, sigma) = (Double(self.theta.value.scalar), Double(self.sigma.value.scalar))
        return sigma * sigma * (1 - Foundation.exp(-2 * theta * t)) / (2 * theta)
    }
}

/// Geometric Brownian motion dX = μ X dt + σ X dW, with diagonal noise, read as Itô or
/// Stratonovich.
///
/// μ and σ are rank-0 parameters that require gradients. The Itô correction is
/// c = ½ σ² X, so the Itô SDE is the Stratonovich SDE with drift (μ − ½σ²) X.
public struct GeometricBrownianMotion<Scalar: TensorScalar>: StochasticDifferentialEquation {
    public let mu: Variable<Scalar>
    public let sigma: Variable<Scalar>
    public let interpretation: SDEInterpretation

    public init(mu: Scalar, sigma: Scalar, interpretation: SDEInterpretation = .ito) {
        self.mu = Variable(Tensor(mu), requiresGrad: true)
        self.sigma = Variable(Tensor(sigma), requiresGrad: true)
        self.interpretation = interpretation
    }

    public var noiseType: NoiseType { .diagonal }
    public var parameters: [Variable<Scalar>] { [mu, sigma] }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        x * mu
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        x * sigma
    }

    public func itoCorrection(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar>? {
        x * (sigma * sigma) * 0.5
    }

    public var providesItoCorrection: Bool { true }

    /// Returns the exact solution at time t driven by W(t) − W(0) = `w`:
    /// x₀ exp((μ − ½σ²) t + σ w) for Itô, x₀ exp(μ t + σ w) for Stratonovich.
    public func exactSolution(from x0: Tensor<Scalar>, at t: Double, brownian w: Tensor<Scalar>) -> Tensor<Scalar> {
        let (mu, sigma) = (Double(self.mu.value.scalar), Double(self.sigma.value.scalar))
        let rate = interpretation == .ito ? mu - 0.5 * sigma * sigma : mu
        return x0 * exp(w * Scalar(sigma) + Scalar(rate * t))
    }
}
