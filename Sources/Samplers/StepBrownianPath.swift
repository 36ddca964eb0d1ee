import SDECore
import Tensors

/// A Brownian path known only on the points of a fixed time grid: the increment over the
/// grid interval [tᵢ, tᵢ₊₁] is √|tᵢ₊₁ − tᵢ| z with z ~ N(0, I) drawn from the Philox stream
/// `generator.split(i)`.
///
/// A sampler queries each interval once, so nothing is cached and memory does not grow
/// with the steps. Queries must be grid intervals, in either direction; the reversed
/// interval returns the negated increment.
final class StepBrownianPath<Scalar: TensorScalar>: BrownianPath {
    let t0: Double
    let t1: Double
    let shape: [Int]
    var levyArea: LevyArea { .none }

    private let points: [Double]
    private let generator: PhiloxRandom

    init(grid: TimeGrid, shape: [Int], generator: PhiloxRandom) {
        points = grid.isIncreasing ? grid.points : grid.points.reversed()
        (t0, t1) = (points[0], points[points.count - 1])
        self.shape = shape
        self.generator = generator
    }

    func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar> {
        if s > t {
            return BrownianIncrement(dW: -increment(from: t, to: s).dW)
        }
        guard let index = points.firstIndex(of: s), index + 1 < points.count, points[index + 1] == t else {
            preconditionFailure("StepBrownianPath: [\(s), \(t)] is not an interval of the sampler's grid")
        }
        var stream = generator.split(UInt64(index))
        return BrownianIncrement(dW: Tensor.normal(shape: shape, standardDeviation: Scalar((t - s).squareRoot()), using: &stream))
    }
}

/// The Brownian path of a solve whose diffusion is zero, such as a probability-flow
/// ODE: every increment is zero, so no random numbers are drawn.
final class ZeroBrownianPath<Scalar: TensorScalar>: BrownianPath {
    let t0: Double
    let t1: Double
    let shape: [Int]
    var levyArea: LevyArea { .none }

    init(from t0: Double, to t1: Double, shape: [Int]) {
        (self.t0, self.t1) = (Swift.min(t0, t1), Swift.max(t0, t1))
        self.shape = shape
    }

    func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar> {
        BrownianIncrement(dW: Tensor(zeros: shape))
    }
}
