/// The points t₀, t₁, …, t_N at which a solver steps, strictly increasing or strictly
/// decreasing, whose first and last points are exactly the requested end points.
public struct TimeGrid: Sendable {
    public let points: [Double]

    /// Creates a grid from explicit points, which must be strictly monotone.
    public init(points: [Double]) {
        precondition(points.count >= 2, "TimeGrid: needs at least two points, got \(points.count)")
        let increasing = points[1] > points[0]
        for i in 1..<points.count {
            precondition(
                increasing ? points[i] > points[i - 1] : points[i] < points[i - 1],
                "TimeGrid: points \(points[i - 1]) and \(points[i]) break strict monotonicity")
        }
        self.points = points
    }

    /// Creates `steps` equal steps from t0 to t1 (t1 < t0 runs backwards). The last
    /// point is exactly t1.
    public init(from t0: Double, to t1: Double, steps: Int) {
        precondition(steps >= 1, "TimeGrid: steps \(steps) must be positive")
        precondition(t0 != t1, "TimeGrid: t0 and t1 are both \(t0)")
        var points = (0..<steps).map { k in t0 + (t1 - t0) * Double(k) / Double(steps) }
        points.append(t1)
        self.init(points: points)
    }

    /// Creates steps of size |dt| from t0 towards t1, at t0 + k·dt (multiplied, not
    /// accumulated), and ends exactly at t1.
    ///
    /// A remainder shorter than 1 % of |dt| is merged into the last step instead of
    /// becoming a near-zero step of its own, so the last step lies in (0.01 |dt|, 1.01 |dt|]
    /// unless the whole span is shorter than that, which gives a single step.
    public init(from t0: Double, to t1: Double, dt: Double) {
        precondition(dt != 0 && dt.isFinite, "TimeGrid: dt \(dt) must be finite and non-zero")
        precondition(t0 != t1, "TimeGrid: t0 and t1 are both \(t0)")
        let step = (t1 > t0 ? 1.0 : -1.0) * Swift.abs(dt)
        let ratio = (t1 - t0) / step
        var full = Int(ratio.rounded(.down))
        if ratio - Double(full) < 0.01 {
            full -= 1
        }
        var points = (0...Swift.max(full, 0)).map { k in t0 + Double(k) * step }
        points.append(t1)
        self.init(points: points)
    }

    public var t0: Double { points[0] }
    public var t1: Double { points[points.count - 1] }
    public var stepCount: Int { points.count - 1 }
    public var isIncreasing: Bool { points[1] > points[0] }

    /// Returns the grid with `times` (which must lie between t0 and t1) added as points.
    /// A time within 1e-12 of the span of an existing point is snapped to that point.
    public func inserting(_ times: [Double]) -> TimeGrid {
        let (lower, upper) = (Swift.min(t0, t1), Swift.max(t0, t1))
        let tolerance = 1e-12 * (upper - lower)
        var merged = points
        for time in times {
            precondition(
                time >= lower - tolerance && time <= upper + tolerance,
                "TimeGrid: time \(time) lies outside [\(lower), \(upper)]")
            if !merged.contains(where: { Swift.abs($0 - time) <= tolerance }) {
                merged.append(time)
            }
        }
        merged.sort(by: isIncreasing ? (<) : (>))
        return TimeGrid(points: merged)
    }

    /// Returns the index of the grid point within 1e-12 of the span of `time`, or nil.
    public func index(of time: Double) -> Int? {
        let tolerance = 1e-12 * Swift.abs(t1 - t0)
        return points.firstIndex { Swift.abs($0 - time) <= tolerance }
    }
}
