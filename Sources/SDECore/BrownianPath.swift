import Tensors

/// The iterated integrals a Brownian path generates besides its increments.
public enum LevyArea: Sendable {
    /// Increments W(t) − W(s) only.
    case none
    /// Increments and the space-time Lévy area
    /// H_{s,t} = (1/h) ∫ₛᵗ (W(u) − W(s) − (u − s)/h · W_{s,t}) du with h = t − s, which is
    /// N(0, h/12) and independent of W_{s,t}. Additive-noise schemes of strong order 1.5
    /// (SRA1) need it, through ∫ₛᵗ (W(u) − W(s)) du = h (½ W_{s,t} + H_{s,t}).
    case spaceTime
}

/// The increment of a Brownian path over an interval [s, t].
public struct BrownianIncrement<Scalar: TensorScalar> {
    /// W(t) − W(s), shape `[batch, m]`.
    public var dW: Tensor<Scalar>
    /// H_{s,t}, shape `[batch, m]`, when the path generates space-time Lévy area.
    public var spaceTimeLevyArea: Tensor<Scalar>?

    public init(dW: Tensor<Scalar>, spaceTimeLevyArea: Tensor<Scalar>? = nil) {
        self.dW = dW
        self.spaceTimeLevyArea = spaceTimeLevyArea
    }
}

/// A sample path of an m-dimensional Brownian motion for each batch element, queried by
/// interval.
///
/// Conformers are deterministic: the same query gives the same bits, whatever was
/// queried before. `increment(from: s, to: t)` with s > t returns the reversed interval,
/// −(W(s) − W(t)), with the same space-time Lévy area (H is unchanged by time reversal),
/// which is what a solve running backwards in time needs.
public protocol BrownianPath<Scalar>: AnyObject {
    associatedtype Scalar: TensorScalar

    /// The start of the interval on which the path is defined.
    var t0: Double { get }
    /// The end of the interval on which the path is defined; t0 < t1.
    var t1: Double { get }
    /// `[batch, m]`.
    var shape: [Int] { get }
    var levyArea: LevyArea { get }

    /// Returns W(t) − W(s) (and H_{s,t}) for s and t in [t0, t1].
    func increment(from s: Double, to t: Double) -> BrownianIncrement<Scalar>
}
