import Foundation
import SDECore
import Tensors

/// The noise levels of a variance-preserving forward SDE dX = −½ β(t) X dt + √β(t) dW on
/// [0, T], as the continuous-time samplers see them: β(t), ᾱ(t) = exp(−∫₀ᵗ β) and the
/// time that the noise predictor takes at SDE time t.
///
/// `VPSDE` conforms with model time t. `ContinuousDDPM` reads a DDPM schedule as such a
/// process, whose model time is the step index.
public protocol VariancePreservingProcess {
    /// The time horizon T.
    var horizon: Double { get }
    /// The earliest time at which the predictor is trusted; samplers that evaluate the
    /// score at the end of a step stop there, because ∇ ln p_t = −ε / √(1 − ᾱ(t)) diverges at t = 0.
    var samplingEndTime: Double { get }
    /// β(t).
    func beta(_ t: Double) -> Double
    /// ᾱ(t) = exp(−∫₀ᵗ β(s) ds).
    func alphaBar(_ t: Double) -> Double
    /// Returns the predictor's time at SDE time `t`.
    func modelTime(_ t: Double) -> Double
}

extension VPSDE: VariancePreservingProcess {
    /// 10⁻³ T. For the default linear schedule (β from 0.1 to 20, T = 1) the noise level
    /// there is √(1 − ᾱ) ≈ 0.0105.
    public var samplingEndTime: Double { 1e-3 * horizon }

    /// Returns `t` itself, because a predictor of a `VPSDE` takes the SDE time t ∈ [0, T].
    public func modelTime(_ t: Double) -> Double { t }
}

/// A DDPM schedule β₁…β_N read as a VP SDE on [0, 1] whose ᾱ equals the schedule's exact
/// products at the step times.
///
/// Step k (0-based, ᾱ = `schedule.alphaBars[k]`) sits at t_k = (k + 1)/N, and β is constant
/// on each interval: β(t) = −N ln(1 − β_{k+1}) for t ∈ (k/N, (k+1)/N]. Then
/// ∫₀^{t_k} β = −Σ_{j≤k} ln αⱼ, so ᾱ(t_k) = ∏_{j≤k} αⱼ exactly, and ln ᾱ is linear between
/// step times. Since −N ln(1 − β) = Nβ + O(Nβ²), this is the usual continuous limit
/// β(t) ≈ N β_{tN}, from 0.1 to 20 for the linear schedule from 1e-4 to 0.02 with N = 1000.
///
/// The model time at t is k = tN − 1, the fractional step index, so an Euler–Maruyama
/// solve with N steps from 1 to 0 evaluates the predictor at the integer steps N − 1, …, 0
/// it was trained on. Times in (0, 1/N) map to k ∈ (−1, 0), where no network was trained;
/// `samplingEndTime` is 1/N.
public struct ContinuousDDPM: VariancePreservingProcess, Sendable {
    public let schedule: DDPMSchedule
    private let logAlphas: [Double]
    private let logAlphaBars: [Double]

    public init(schedule: DDPMSchedule) {
        self.schedule = schedule
        logAlphas = schedule.alphas.map { Foundation.log($0) }
        var total = 0.0
        logAlphaBars = logAlphas.map { value in
            total += value
            return total
        }
    }

    public var horizon: Double { 1 }
    public var samplingEndTime: Double { 1 / Double(schedule.count) }

    /// Returns the 0-based index k of the interval (k/N, (k+1)/N] that contains `t`, clamped to 0…N − 1.
    private func interval(_ t: Double) -> Int {
        let n = schedule.count
        // A step time computed as (k + 1)/N may land an ulp above k + 1 after scaling by N.
        var scaled = t * Double(n)
        if Swift.abs(scaled - scaled.rounded()) < 1e-9 {
            scaled = scaled.rounded()
        }
        return Swift.min(Swift.max(Int(scaled.rounded(.up)) - 1, 0), n - 1)
    }

    public func beta(_ t: Double) -> Double {
        -Double(schedule.count) * logAlphas[interval(t)]
    }

    public func alphaBar(_ t: Double) -> Double {
        let k = interval(t)
        let start = k == 0 ? 0 : logAlphaBars[k - 1]
        let fraction = t * Double(schedule.count) - Double(k)
        return Foundation.exp(start + fraction * logAlphas[k])
    }

    public func modelTime(_ t: Double) -> Double {
        t * Double(schedule.count) - 1
    }
}

/// The forward SDE dX = −½ β(t) X dt + √β(t) dW of a `VariancePreservingProcess`, with
/// additive diagonal noise, for SDECore's `ReverseTimeSDE`, `ProbabilityFlowODE` and `solve`.
public struct VariancePreservingSDE<Scalar: TensorScalar, Process: VariancePreservingProcess>: StochasticDifferentialEquation {
    public let process: Process

    public init(process: Process) {
        self.process = process
    }

    public var noiseType: NoiseType { .additive(.diagonal) }
    public var interpretation: SDEInterpretation { .ito }
    public var parameters: [Variable<Scalar>] { [] }

    public func drift(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        x * Scalar(-0.5 * process.beta(t))
    }

    public func diffusion(_ t: Double, _ x: Variable<Scalar>) -> Variable<Scalar> {
        Variable(Tensor(shape: x.shape, repeating: Scalar(process.beta(t).squareRoot())))
    }

    public func diffusionProduct(_ t: Double, _ x: Variable<Scalar>, _ v: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(v * Scalar(process.beta(t).squareRoot()))
    }
}

extension VariancePreservingProcess {
    /// Returns the score ∇ ln p_t(x) = −ε(x, modelTime(t)) / √(1 − ᾱ(t)) for states `x` of shape
    /// `[batch, d]`, calling the predictor on the sample shape `shape` = `[batch, …]`.
    func score<Predictor: NoisePredictor>(
        of predictor: Predictor, at t: Double, _ x: Variable<Predictor.Scalar>, sampleShape shape: [Int]
    ) -> Variable<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        let times: Tensor<Scalar> = batchTimes(modelTime(t), batch: shape[0])
        let noise = predictor.predictNoise(x.reshaped(to: shape), at: times).reshaped(to: x.shape)
        return noise * Scalar(-1 / (1 - alphaBar(t)).squareRoot())
    }

    /// Returns Tweedie's estimate x̂₀ = (x − √(1 − ᾱ) ε) / √ᾱ at time `t`.
    func denoised<Predictor: NoisePredictor>(
        by predictor: Predictor, at t: Double, _ x: Tensor<Predictor.Scalar>
    ) -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        let level = alphaBar(t)
        let noise = predictor.predictNoise(x, at: batchTimes(modelTime(t), batch: x.shape[0]))
        return (x - noise * Scalar((1 - level).squareRoot())) * Scalar(1 / level.squareRoot())
    }
}
