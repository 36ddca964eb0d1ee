import Foundation
import Tensors

/// A Brownian path on [t0, t1] generated on demand from a seed by bisection (a virtual
/// Brownian tree; Li et al., 2020), with optional space-time Lévy area (Foster, 2020).
///
/// The interval is mapped to [0, 1] and bisected `depth` times. Each node of the binary
/// tree draws its midpoint from its own `PhiloxRandom` stream, derived from its parent's
/// by `split(_:)`, conditionally on the values at its ends, so every node's values
/// follow from the seed alone. A query for time r descends from the root to the leaf
/// that contains r and interpolates inside it with the Brownian bridge conditioned on
/// the leaf's ends (one more seeded draw). W(s, t) is then W(t) − W(s).
///
/// Properties that hold (up to floating-point rounding where stated):
/// - Repeated queries agree exactly, and the order of queries does not matter.
/// - W(s, u) + W(u, t) = W(s, t) up to rounding; W(t, s) = −W(s, t) exactly.
/// - At the tree's nodes (the dyadic points t0 + k (t1 − t0) 2^−depth) the joint law is
///   that of Brownian motion. Between nodes each value has the right marginal law, but
///   two queries inside one leaf share the leaf's draw, so keep `tolerance` (the leaf
///   width) below the solver's step size.
/// - Memory does not grow with the number of queries: the path keeps only the nodes of
///   the last descent (at most depth + 1), which makes queries at nearby times cheap.
///   A query at a point that is not a node descends to the leaves, so its cost grows
///   with `depth`; a tolerance of about half the step size is usually enough.
///
/// Increments are computed in Double and converted to `Scalar`.
public final class VirtualBrownianTree<Scalar: TensorScalar>: BrownianPath, @unchecked Sendable {
    public let t0: Double
    public let t1: Double
    public let shape: [Int]
    public let levyArea: LevyArea
    /// The number of bisections; leaves have width (t1 − t0) 2^−depth.
    public let depth: Int
    public let seed: UInt64

    private let rootStream: UInt64
    private let rootValues: (w: Tensor<Double>, barH: Tensor<Double>)
    // The nodes of the last descent, root first, and whether each step went right.
    private var cachedPath: [TreeNode] = []
    private var cachedTurns: [Bool] = []
    // The values at the last two query points: a solver's step queries W(tₙ) again as
    // the start of the next step, and the leaf interpolation would draw anew.
    private var recentValues: [(r: Double, w: Tensor<Double>, barH: Tensor<Double>)] = []
    private let lock = NSLock()

    /// Creates a path of shape `[batch, m]` on [t0, t1] whose leaves are at most
    /// `tolerance` wide, by default (t1 − t0) 2⁻²⁰. The depth is capped at 50.
    public init(
        from t0: Double, to t1: Double, shape: [Int], seed: UInt64, tolerance: Double? = nil,
        levyArea: LevyArea = .none
    ) {
        precondition(t1 > t0, "VirtualBrownianTree: need t0 < t1, got [\(t0), \(t1)]; a backward solve queries the same path")
        precondition(shape.count == 2 && shape.allSatisfy { $0 > 0 }, "VirtualBrownianTree: shape \(shape) must be [batch, m]")
        let tolerance = tolerance ?? (t1 - t0) * 0x1p-20
        precondition(tolerance > 0, "VirtualBrownianTree: tolerance \(tolerance) must be positive")
        self.t0 = t0
        self.t1 = t1
        self.shape = shape
        self.levyArea = levyArea
        self.seed = seed
        depth = Swift.min(50, Swift.max(1, Int(Foundation.log2((t1 - t0) / tolerance).rounded(.up))))

        // The root contains W over [0, 1] ~ N(0, 1) and H̄ = 1 · H ~ N(0, 1/12).
        let generator = PhiloxRandom(seed: seed)
        var rootGenerator = generator.split(0)
        let w = Tensor<Double>.normal(shape: shape, using: &rootGenerator)
        let barH = levyArea == .spaceTime
            ? Tensor<Double>.normal(shape: shape, standardDeviation: (1.0 / 12).squareRoot(), using: &rootGenerator)
            : Tensor<Double>(zeros: shape)
        rootValues = (w, barH)
        rootStream = generator.split(1).stream
    }

    /// The number of tree nodes currently kept (at most depth + 1, whatever the number of
    /// queries so far). The values at the last two query points are kept besides.
    public var cachedNodeCount: Int {
        lock.withLock { cachedPath.count }
    }

    public func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar> {
        if s > t {
            let forward = increment(from: t, to: s)
            return BrownianIncrement(dW: -forward.dW, spaceTimeLevyArea: forward.spaceTimeLevyArea)
        }
        let span = t1 - t0
        let rs = normalised(s)
        let rt = normalised(t)
        if rs == rt {
            let zeros = Tensor<Scalar>(zeros: shape)
            return BrownianIncrement(dW: zeros, spaceTimeLevyArea: levyArea == .spaceTime ? zeros : nil)
        }

        let (valueS, valueT) = lock.withLock { (evaluate(rs), evaluate(rt)) }
        let scale = span.squareRoot()
        let w = valueT.w - valueS.w
        guard levyArea == .spaceTime else {
            return BrownianIncrement(dW: Tensor<Scalar>(w * scale))
        }
        // Chen's relation for H̄ = (length) · H over [0, rs] ∪ [rs, rt]:
        // H̄_{s,t} = H̄_t − H̄_s − ½ (rt W_s − rs W_t).
        let barH = valueT.barH - valueS.barH - (valueS.w * rt - valueT.w * rs) * 0.5
        let h = barH * (scale / (rt - rs))
        return BrownianIncrement(dW: Tensor<Scalar>(w * scale), spaceTimeLevyArea: Tensor<Scalar>(h))
    }

    private func normalised(_ time: Double) -> Double {
        let span = t1 - t0
        let slack = 1e-12 * span
        precondition(
            time >= t0 - slack && time <= t1 + slack,
            "VirtualBrownianTree: time \(time) lies outside the path's interval [\(t0), \(t1)]")
        return Swift.min(Swift.max((time - t0) / span, 0), 1)
    }

    // MARK: Descent

    /// A node at some level: the interval [s, s + width] with W_s, W_{s,u} and
    /// H̄_s = s · H_{0,s}, H̄_{s,u} = width · H_{s,u}, all on the unit interval.
    private struct TreeNode {
        var s: Double
        var width: Double
        var stream: UInt64
        var wS: Tensor<Double>
        var wSU: Tensor<Double>
        var barHS: Tensor<Double>
        var barHSU: Tensor<Double>
    }

    /// Returns (W_r, H̄_r) for r in [0, 1], from the last two queries' values when r is
    /// one of them, else by `descend(to:)`.
    private func evaluate(_ r: Double) -> (w: Tensor<Double>, barH: Tensor<Double>) {
        if let recent = recentValues.first(where: { $0.r == r }) {
            return (recent.w, recent.barH)
        }
        let values = descend(to: r)
        recentValues.append((r, values.w, values.barH))
        if recentValues.count > 2 {
            recentValues.removeFirst()
        }
        return values
    }

    /// Returns (W_r, H̄_r) by descending the tree, reusing the cached nodes of the last
    /// descent where the new one takes the same turns.
    ///
    /// The descent stops early at a node whose end is exactly r (a dyadic point), where
    /// the values are known without interpolation; on grids of 2^k equal steps a query
    /// then costs about one new node.
    private func descend(to r: Double) -> (w: Tensor<Double>, barH: Tensor<Double>) {
        if cachedPath.isEmpty {
            cachedPath = [TreeNode(
                s: 0, width: 1, stream: rootStream, wS: Tensor(zeros: shape), wSU: rootValues.w,
                barHS: Tensor(zeros: shape), barHSU: rootValues.barH)]
            cachedTurns = []
        }

        // Walk the cached prefix of nodes on which r takes the same turns. The walk stops
        // at the first node with an end at r whether or not it is cached, so the values
        // returned never depend on earlier queries.
        var level = 0
        while level < cachedTurns.count {
            let node = cachedPath[level]
            if let values = endValues(of: node, at: r) { return values }
            let goesRight = r > node.s + node.width / 2
            if goesRight != cachedTurns[level] { break }
            level += 1
        }
        cachedPath.removeSubrange((level + 1)...)
        cachedTurns.removeSubrange(level...)

        while true {
            let node = cachedPath[level]
            if let values = endValues(of: node, at: r) { return values }
            if level == depth {
                return interpolate(in: node, at: r)
            }
            let goesRight = r > node.s + node.width / 2
            cachedPath.append(child(of: node, right: goesRight))
            cachedTurns.append(goesRight)
            level += 1
        }
    }

    /// Returns the values at r when r is one of the node's ends, else nil. Chen's relation
    /// gives H̄ at the right end u: H̄_u = H̄_s + H̄_{s,u} + ½ (u W_s − s W_u).
    private func endValues(of node: TreeNode, at r: Double) -> (w: Tensor<Double>, barH: Tensor<Double>)? {
        if r == node.s {
            return (node.wS, node.barHS)
        }
        guard r == node.s + node.width else { return nil }
        let w = node.wS + node.wSU
        let barH = levyArea == .spaceTime
            ? node.barHS + node.barHSU + (node.wS * r - w * node.s) * 0.5
            : node.barHS
        return (w, barH)
    }

    /// Bisects `node`, drawing the midpoint conditionally on the node's ends (Foster,
    /// 2020, Theorem 6.1.6). With width h, z ~ N(0, h/16) and n ~ N(0, h/12):
    /// W_{s,m} = ½ W_{s,u} + (3/2h) H̄_{s,u} + z, W_{m,u} = W_{s,u} − W_{s,m},
    /// H̄_{s,m} = H̄_{s,u}/8 − (h/4) z + (h/4) n, H̄_{m,u} = H̄_{s,u}/8 − (h/4) z − (h/4) n.
    /// Without Lévy area, W_{s,m} = ½ W_{s,u} + (√h/2) Z.
    private func child(of node: TreeNode, right: Bool) -> TreeNode {
        var generator = PhiloxRandom(seed: seed, stream: node.stream).split(0)
        let h = node.width
        let half = h / 2
        let midpoint = node.s + half
        let childStream = PhiloxRandom(seed: seed, stream: node.stream).split(right ? 2 : 1).stream

        let wLeft: Tensor<Double>
        var barHLeft = node.barHSU
        var barHRight = node.barHSU
        if levyArea == .spaceTime {
            let z = Tensor<Double>.normal(shape: shape, standardDeviation: h.squareRoot() / 4, using: &generator)
            let n = Tensor<Double>.normal(shape: shape, standardDeviation: (h / 12).squareRoot(), using: &generator)
            wLeft = node.wSU * 0.5 + node.barHSU * (1.5 / h) + z
            let common = node.barHSU * 0.125 - z * (h / 4)
            barHLeft = common + n * (h / 4)
            barHRight = common - n * (h / 4)
        } else {
            let z = Tensor<Double>.normal(shape: shape, standardDeviation: h.squareRoot() / 2, using: &generator)
            wLeft = node.wSU * 0.5 + z
        }

        if !right {
            return TreeNode(
                s: node.s, width: half, stream: childStream, wS: node.wS, wSU: wLeft,
                barHS: node.barHS, barHSU: barHLeft)
        }
        let wMid = node.wS + wLeft
        // Chen's relation: H̄_m = H̄_s + H̄_{s,m} + ½ (m W_s − s W_m).
        let barHMid = levyArea == .spaceTime
            ? node.barHS + barHLeft + (node.wS * midpoint - wMid * node.s) * 0.5
            : node.barHS
        return TreeNode(
            s: midpoint, width: half, stream: childStream, wS: wMid, wSU: node.wSU - wLeft,
            barHS: barHMid, barHSU: barHRight)
    }

    /// Interpolates inside a leaf [s, u] of width h at r, with a = r − s and b = u − r,
    /// from the Brownian bridge conditioned on the leaf (Foster, 2020, Theorem 6.1.4).
    /// Without Lévy area: W_{s,r} = (a/h) W_{s,u} + √(ab/h) x₁. With it, writing
    /// d = √(a³ + b³), p = a³ √(ab) / (2hd), q = b³ √(ab) / (2hd), c = √(3a³b³) / (6d):
    /// W_{s,r} = (a/h) W_{s,u} + (6ab/h³) H̄_{s,u} + 2 (p + q)/h · x₁ and
    /// H̄_{s,r} = (a/h)³ H̄_{s,u} − p x₁ + c x₂, with x₁, x₂ ~ N(0, 1) from the leaf's stream.
    private func interpolate(in leaf: TreeNode, at r: Double) -> (w: Tensor<Double>, barH: Tensor<Double>) {
        let h = leaf.width
        let a = Swift.max(r - leaf.s, 0)
        let b = Swift.max(h - a, 0)
        var generator = PhiloxRandom(seed: seed, stream: leaf.stream).split(0)
        let x1 = Tensor<Double>.normal(shape: shape, using: &generator)

        guard levyArea == .spaceTime else {
            let w = leaf.wS + leaf.wSU * (a / h) + x1 * (a * b / h).squareRoot()
            return (w, leaf.barHS)
        }
        let x2 = Tensor<Double>.normal(shape: shape, using: &generator)
        let d = (a * a * a + b * b * b).squareRoot()
        let rootAB = (a * b).squareRoot()
        let p = a * a * a * rootAB / (2 * h * d)
        let q = b * b * b * rootAB / (2 * h * d)
        let c = (3 * a * a * a * b * b * b).squareRoot() / (6 * d)
        let wSR = leaf.wSU * (a / h) + leaf.barHSU * (6 * a * b / (h * h * h)) + x1 * (2 * (p + q) / h)
        let barHSR = leaf.barHSU * Foundation.pow(a / h, 3) - x1 * p + x2 * c
        let w = leaf.wS + wSR
        let barH = leaf.barHS + barHSR + (leaf.wS * r - w * leaf.s) * 0.5
        return (w, barH)
    }
}
