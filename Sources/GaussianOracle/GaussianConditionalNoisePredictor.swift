import SDECore
import Tensors

/// The exact conditional noise predictor of Gaussian data for one observation (or
/// reward): ε(x, t) − √(1 − ᾱ_t) h*_t(x) = E[ε | X_t = x, y] = −√(1 − ᾱ_t) ∇ ln p_t(x | y).
///
/// It is what a perfectly trained DEFT model predicts, so a sampler driven by it shows
/// the sampler's own error on the posterior. Differentiable in x.
public final class GaussianConditionalNoisePredictor<Scalar: TensorScalar>: NoisePredictor {
    public let oracle: GaussianDiffusionOracle
    /// Maps a model time t to ᾱ_t.
    public let alphaBar: @Sendable (Double) -> Double

    public init(oracle: GaussianDiffusionOracle, alphaBar: @escaping @Sendable (Double) -> Double) {
        self.oracle = oracle
        self.alphaBar = alphaBar
    }

    /// Creates the predictor for a DDPM schedule: t = k ∈ {0, …, N − 1} has
    /// ᾱ = `schedule.alphaBars[k]`, as for `GaussianNoisePredictor`.
    public convenience init(oracle: GaussianDiffusionOracle, schedule: DDPMSchedule) {
        let alphaBars = schedule.alphaBars
        self.init(oracle: oracle, alphaBar: { alphaBars[Int($0.rounded())] })
    }

    /// Creates the predictor for the VP SDE: t is the continuous time in [0, T].
    public convenience init(oracle: GaussianDiffusionOracle, sde: VPSDE<Scalar>) {
        let (schedule, horizon) = (sde.schedule, sde.horizon)
        self.init(oracle: oracle, alphaBar: { VPSDE<Double>(schedule: schedule, horizon: horizon).alphaBar($0) })
    }

    /// Returns −√(1 − ᾱ) ∇ ln p_t(x | y) row by row, grouping rows that share a time.
    public func predictNoise(_ x: Variable<Scalar>, at t: Tensor<Scalar>) -> Variable<Scalar> {
        let batch = x.shape[0]
        precondition(x.rank == 2 && x.shape[1] == oracle.dimension, "GaussianConditionalNoisePredictor: x of shape \(x.shape) must be [N, \(oracle.dimension)]")
        precondition(t.shape == [batch], "GaussianConditionalNoisePredictor: times of shape \(t.shape) must be [\(batch)]")

        let times = t.scalars
        var groups: [Scalar: [Int]] = [:]
        for (row, time) in times.enumerated() {
            groups[time, default: []].append(row)
        }
        if groups.count == 1 {
            return map(at: Double(times[0]))(x)
        }
        var pieces: [(rows: [Int], value: Variable<Scalar>)] = []
        for (time, rows) in groups {
            pieces.append((rows, map(at: Double(time))(x.gathering(atIndices: rows))))
        }
        let order = pieces.flatMap(\.rows)
        var inverse = Array(repeating: 0, count: batch)
        for (position, row) in order.enumerated() {
            inverse[row] = position
        }
        return Variable.concatenate(pieces.map(\.value), alongAxis: 0).gathering(atIndices: inverse)
    }

    private func map(at t: Double) -> AffineMap {
        let level = alphaBar(t)
        return oracle.conditionalScoreMap(alphaBar: level).scaled(by: -(1 - level).squareRoot())
    }
}
