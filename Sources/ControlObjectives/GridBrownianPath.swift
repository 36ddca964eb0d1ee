import SDECore
import Tensors

/// A Brownian path known only on a fixed time grid: the increment over each grid step is
/// drawn from its own `PhiloxRandom` stream, `PhiloxRandom(seed:).split(step)`.
///
/// Queries must be the interval between two neighbouring grid points, in either order;
/// `increment(from: tₙ₊₁, to: tₙ)` is −`increment(from: tₙ, to: tₙ₊₁)`. That is every
/// query a fixed-step solve, its stochastic adjoint and reversible Heun's backward pass
/// make on the same grid. Nothing is stored between queries, so memory does not grow with
/// the number of steps, and a query costs one batch of normal draws. Space-time Lévy
/// area is not generated: use `VirtualBrownianTree` for SRA1 or for queries off the grid.
public final class GridBrownianPath<Scalar: TensorScalar>: BrownianPath, @unchecked Sendable {
    public let t0: Double
    public let t1: Double
    public let shape: [Int]
    public var levyArea: LevyArea { .none }
    /// The grid points in increasing order.
    public let points: [Double]
    public let seed: UInt64

    /// Creates a path of shape `[batch, m]` on the points of `grid`.
    public init(grid: TimeGrid, shape: [Int], seed: UInt64) {
        precondition(shape.count == 2 && shape.allSatisfy { $0 > 0 }, "GridBrownianPath: shape \(shape) must be [batch, m]")
        points = grid.isIncreasing ? grid.points : grid.points.reversed()
        t0 = points[0]
        t1 = points[points.count - 1]
        self.shape = shape
        self.seed = seed
    }

    public func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar> {
        if s > t {
            return BrownianIncrement(dW: -increment(from: t, to: s).dW)
        }
        let step = stepIndex(startingAt: s)
        precondition(
            step + 1 < points.count && matches(points[step + 1], t),
            "GridBrownianPath: [\(s), \(t)] is not one step of the grid; only neighbouring grid points can be queried")

        var generator = PhiloxRandom(seed: seed).split(UInt64(step))
        let scale = Scalar((points[step + 1] - points[step]).squareRoot())
        return BrownianIncrement(dW: Tensor<Scalar>.normal(shape: shape, using: &generator) * scale)
    }

    /// Returns the index n of the grid point tₙ equal to `s`, by bisection.
    private func stepIndex(startingAt s: Double) -> Int {
        var (lower, upper) = (0, points.count - 1)
        while lower < upper {
            let middle = (lower + upper) / 2
            if points[middle] < s && !matches(points[middle], s) {
                lower = middle + 1
            } else {
                upper = middle
            }
        }
        precondition(matches(points[lower], s), "GridBrownianPath: time \(s) is not a point of the grid")
        return lower
    }

    private func matches(_ a: Double, _ b: Double) -> Bool {
        Swift.abs(a - b) <= 1e-12 * (t1 - t0)
    }
}
