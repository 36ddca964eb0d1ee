import SDECore
import Tensors

/// Sampling by integrating the probability-flow ODE of a VP process (Song et al., 2021)
/// from T down to `endTime` in equal steps, then returning Tweedie's estimate there:
///
///     dx/dt = −½ β(t) x − ½ β(t) ∇ ln p_t(x),   ∇ ln p_t(x) = −ε(x, t) / √(1 − ᾱ(t)),
///     x₀ = (x − √(1 − ᾱ) ε) / √ᾱ   at t = endTime.
///
/// Its solutions carry N(0, I)-like noise at T to the data law, deterministically. It uses
/// SDECore's `ProbabilityFlowODE` and `solve` on the samples flattened to `[batch, d]`.
/// `Method.euler` is first order with one predictor call per step; `Method.heun` (the
/// second-order Runge–Kutta method) makes two. Heun evaluates the score at the end of
/// each step, so `endTime` must be positive: the default is the process's
/// `samplingEndTime` (1/N for `ContinuousDDPM`, the time of step 0).
public struct ProbabilityFlowSampler<Process: VariancePreservingProcess>: Sampler {
    /// The ODE solver.
    public enum Method: Sendable {
        /// Euler's method, order 1.
        case euler
        /// Heun's method, order 2.
        case heun
    }

    public let process: Process
    public let steps: Int
    public let method: Method
    public let endTime: Double
    /// Whether to return Tweedie's x̂₀ at `endTime` (one more predictor call) instead of the state there.
    public var denoisesAtEnd: Bool

    public init(process: Process, steps: Int, method: Method = .heun, endTime: Double? = nil, denoisesAtEnd: Bool = true) {
        let endTime = endTime ?? process.samplingEndTime
        precondition(steps >= 1, "ProbabilityFlowSampler: steps \(steps) must be positive")
        precondition(
            endTime > 0 && endTime < process.horizon,
            "ProbabilityFlowSampler: endTime \(endTime) must lie in (0, \(process.horizon)), where the score is finite")
        self.process = process
        self.steps = steps
        self.method = method
        self.endTime = endTime
        self.denoisesAtEnd = denoisesAtEnd
    }

    public var modelEvaluations: Int { steps * (method == .heun ? 2 : 1) + (denoisesAtEnd ? 1 : 0) }

    /// Samples; the ODE draws no noise, so `generator` is unchanged.
    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        let shape = initial.shape
        let flat = [shape[0], initial.scalarCount / shape[0]]
        let process = self.process
        let flow = ProbabilityFlowODE(forward: VariancePreservingSDE<Scalar, Process>(process: process)) { t, x in
            process.score(of: predictor, at: t, x, sampleShape: shape)
        }
        let solver: any SDESolver = method == .heun ? Heun() : EulerMaruyama()
        let solution = try solve(
            flow, x0: Variable(initial.reshaped(to: flat)), from: process.horizon, to: endTime, steps: steps, solver: solver,
            brownian: ZeroBrownianPath<Scalar>(from: endTime, to: process.horizon, shape: flat), gradient: .detached)
        let x = solution.terminal.value.reshaped(to: shape)
        return denoisesAtEnd ? withoutRecording { process.denoised(by: predictor, at: endTime, x) } : x
    }
}
