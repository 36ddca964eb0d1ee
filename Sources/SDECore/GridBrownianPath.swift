import Tensors

/// A Brownian path known only at the points of a fixed time grid. The increment over
/// grid interval n, [τₙ, τₙ₊₁], is √(τₙ₊₁ − τₙ) zₙ with zₙ ~ N(0, I) drawn from the Philox
/// stream `PhiloxRandom(seed: seed, stream: n)`.
///
/// It is the cheap alternative to `VirtualBrownianTree` for solves on one known grid,
/// which is every query a fixed-step solve, its stochastic adjoint and reversible Heun's
/// backward pass make: a query costs one batch of normal draws per grid interval it
/// spans, and nothing is stored, so memory does not grow with the number of steps.
/// Repeated queries return the same bits in any order, a reversed interval negates, and
/// increments over adjacent intervals add up as W does. Queries between grid points are
/// rejected, so the path cannot serve adaptive or refined grids, and it generates no
/// space-time Lévy area: use `VirtualBrownianTree` for SRA1 or for queries off the grid.
public final class GridBrownianPath<Scalar: TensorScalar>: BrownianPath, @unchecked Sendable {
    /// The grid points, increasing.
    public let points: [Double]
    public let shape: [Int]
    public let seed: UInt64

    /// Creates a path of shape `[batch, m]` on the points of `grid`, in either direction.
    public init(grid: TimeGrid, shape: [Int], seed: UInt64) {
        precondition(shape.count == 2 && shape.allSatisfy { $0 > 0 }, "GridBrownianPath: shape \(shape) must be [batch, m]")
        points = grid.isIncreasing ? grid.points : grid.points.reversed()
        self.shape = shape
        self.seed = seed
    }

    public var t0: Double { points[0] }
    public var t1: Double { points[points.count - 1] }
    public var levyArea: LevyArea { .none }

    public func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar> {
        if s > t {
            return BrownianIncrement(dW: -increment(from: t, to: s).dW)
        }
        let (first, last) = (index(of: s), index(of: t))
        var total: Tensor<Scalar>?
        for interval in first..<last {
            var generator = PhiloxRandom(seed: seed, stream: UInt64(interval))
            let width = Scalar((points[interval + 1] - points[interval]).squareRoot())
            let draw = Tensor<Scalar>.normal(shape: shape, standardDeviation: width, using: &generator)
            total = total.map { $0 + draw } ?? draw
        }
        return BrownianIncrement(dW: total ?? Tensor(zeros: shape))
    }

    /// Returns the index of the grid point equal to `time` (within 1e-12 of the span), by bisection.
    private func index(of time: Double) -> Int {
        let tolerance = 1e-12 * (t1 - t0)
        var (lower, upper) = (0, points.count - 1)
        while lower < upper {
            let middle = (lower + upper) / 2
            if points[middle] < time - tolerance {
                lower = middle + 1
            } else {
                upper = middle
            }
        }
        precondition(
            Swift.abs(points[lower] - time) <= tolerance,
            "GridBrownianPath: time \(time) is not a point of the grid; query grid points only")
        return lower
    }
}
