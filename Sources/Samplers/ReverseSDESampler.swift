import SDECore
import Tensors

/// Sampling by the Euler–Maruyama method on the reverse-time SDE of a VP process
/// (Anderson, 1982; Song et al., 2021), from T down to `endTime` in equal steps:
///
///     dX = [−½ β(t) X − β(t) ∇ ln p_t(X)] dt + √β(t) dW̄,   ∇ ln p_t(x) = −ε(x, t) / √(1 − ᾱ(t)),
///
/// so each step of size h is x ← x + [½ β x + β ∇ ln p_t(x)] h + √(β h) z, with β and the
/// score at the step's start. It uses SDECore's `ReverseTimeSDE`, `EulerMaruyama` and
/// `solve` on the samples flattened to `[batch, d]`, with one predictor call per step.
///
/// Euler–Maruyama evaluates the score only at the start of each step, so `endTime` may
/// be 0. With `ContinuousDDPM` and N steps the predictor is evaluated at the integer steps
/// N − 1, …, 0, and the method is a first-order relative of DDPM ancestral sampling.
/// Weak order 1: the error in the law of the samples shrinks like 1/steps.
public struct ReverseSDESampler<Process: VariancePreservingProcess>: Sampler {
    public let process: Process
    public let steps: Int
    public let endTime: Double
    /// Whether to return Tweedie's x̂₀ at `endTime` instead of the state there, one more
    /// predictor call; useful when `endTime` is positive.
    public var denoisesAtEnd: Bool

    public init(process: Process, steps: Int, endTime: Double = 0, denoisesAtEnd: Bool = false) {
        precondition(steps >= 1, "ReverseSDESampler: steps \(steps) must be positive")
        precondition(
            endTime >= 0 && endTime < process.horizon,
            "ReverseSDESampler: endTime \(endTime) must lie in [0, \(process.horizon)), below the horizon")
        precondition(
            !denoisesAtEnd || endTime > 0, "ReverseSDESampler: denoising at the end needs a positive endTime, where ᾱ < 1")
        self.process = process
        self.steps = steps
        self.endTime = endTime
        self.denoisesAtEnd = denoisesAtEnd
    }

    public var modelEvaluations: Int { steps + (denoisesAtEnd ? 1 : 0) }

    /// Samples, drawing the Brownian increments from a generator seeded by one draw of `generator`.
    public func sample<Predictor: NoisePredictor>(
        _ predictor: Predictor, from initial: Tensor<Predictor.Scalar>, using generator: inout PhiloxRandom
    ) throws -> Tensor<Predictor.Scalar> {
        typealias Scalar = Predictor.Scalar
        let shape = initial.shape
        let flat = [shape[0], initial.scalarCount / shape[0]]
        let process = self.process
        let reverse = ReverseTimeSDE(forward: VariancePreservingSDE<Scalar, Process>(process: process)) { t, x in
            process.score(of: predictor, at: t, x, sampleShape: shape)
        }
        let grid = TimeGrid(from: process.horizon, to: endTime, steps: steps)
        let brownian = StepBrownianPath<Scalar>(grid: grid, shape: flat, generator: PhiloxRandom(seed: generator.next()))

        let solution = try solve(
            reverse, x0: Variable(initial.reshaped(to: flat)), grid: grid, solver: EulerMaruyama(), brownian: brownian,
            gradient: .detached)
        let x = solution.terminal.value.reshaped(to: shape)
        return denoisesAtEnd ? withoutRecording { process.denoised(by: predictor, at: endTime, x) } : x
    }
}
