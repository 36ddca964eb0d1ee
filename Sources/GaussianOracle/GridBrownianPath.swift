import SDECore
import Tensors

/// A Brownian path known only at the points of a fixed time grid. The increment over
/// each grid interval [τᵢ, τᵢ₊₁] is √(τᵢ₊₁ − τᵢ) zᵢ with zᵢ ~ N(0, I) drawn from Philox stream
/// i of `seed`, and queries must start and end on grid points.
///
/// It is the cheap alternative to `VirtualBrownianTree` for solves on one known grid:
/// a query costs one normal draw per element and per grid interval it spans, and
/// nothing is stored. Repeated queries return the same bits, in any order, and
/// increments over adjacent intervals add up exactly as W does. Queries between grid
/// points are rejected, so the path cannot serve adaptive or refined grids.
public final class GridBrownianPath<Scalar: TensorScalar>: BrownianPath, @unchecked Sendable {
    public let shape: [Int]
    public let seed: UInt64
    /// The grid points, increasing.
    public let points: [Double]

    /// Creates a path of shape `[batch, m]` on the points of `grid`, in either direction.
    public init(grid: TimeGrid, shape: [Int], seed: UInt64) {
        precondition(shape.count == 2 && shape.allSatisfy { $0 > 0 }, "GridBrownianPath: shape \(shape) must be [batch, m]")
        self.shape = shape
        self.seed = seed
        points = grid.isIncreasing ? grid.points : grid.points.reversed()
    }

    public var t0: Double { points[0] }
    public var t1: Double { points[points.count - 1] }
    public var levyArea: LevyArea { .none }

    public func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar> {
        if s > t {
            return BrownianIncrement(dW: -increment(from: t, to: s).dW)
        }
        let (first, last) = (index(of: s), index(of: t))
        var total = Tensor<Scalar>(zeros: shape)
        for interval in first..<last {
            var generator = PhiloxRandom(seed: seed, stream: UInt64(interval))
            let width = points[interval + 1] - points[interval]
            total = total + Tensor<Scalar>.normal(shape: shape, using: &generator) * Scalar(width.squareRoot())
        }
        return BrownianIncrement(dW: total)
    }

    /// Returns the index of the grid point within 1e-12 of the span of `time`.
    private func index(of time: Double) -> Int {
        let tolerance = 1e-12 * (t1 - t0)
        guard let found = points.firstIndex(where: { Swift.abs($0 - time) <= tolerance }) else {
            preconditionFailure("GridBrownianPath: time \(time) is not a point of the grid; query grid points only")
        }
        return found
    }
}
