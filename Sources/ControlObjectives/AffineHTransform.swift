import Foundation
import NeuralNetworks
import Tensors

/// A basis φ_0(t) … φ_{K−1}(t) of functions of time.
public enum TimeBasis: Sendable {
    /// Chebyshev polynomials T_k(τ) of degrees 0 … K − 1 with τ = 2 (t − a) / (b − a) − 1,
    /// clamped to [−1, 1] outside [a, b]. Smooth, global: every coefficient acts at every time.
    case chebyshev(degreeCount: Int, interval: ClosedRange<Double>)
    /// Hat functions on increasing knots: φ_j is 1 at knot j, 0 at the other knots and
    /// linear in between, constant beyond the end knots. Local: coefficient j acts only
    /// between knots j − 1 and j + 1, which keeps the objectives well conditioned in θ.
    /// With the solver's grid points as knots, the model has its own affine map at every
    /// grid time.
    case piecewiseLinear(knots: [Double])

    /// The number K of functions.
    public var count: Int {
        switch self {
        case let .chebyshev(degreeCount, _): degreeCount
        case let .piecewiseLinear(knots): knots.count
        }
    }

    /// Returns φ_0(t) … φ_{K−1}(t).
    public func values(at t: Double) -> [Double] {
        switch self {
        case let .chebyshev(degreeCount, interval):
            let (lower, upper) = (interval.lowerBound, interval.upperBound)
            let tau = Swift.min(1, Swift.max(-1, 2 * (t - lower) / (upper - lower) - 1))
            var values = [1.0]
            if degreeCount > 1 { values.append(tau) }
            while values.count < degreeCount {
                values.append(2 * tau * values[values.count - 1] - values[values.count - 2])
            }
            return values
        case let .piecewiseLinear(knots):
            var values = [Double](repeating: 0, count: knots.count)
            if t <= knots[0] {
                values[0] = 1
            } else if t >= knots[knots.count - 1] {
                values[knots.count - 1] = 1
            } else {
                // The last knot at or below t, by bisection.
                var (lower, upper) = (0, knots.count - 1)
                while upper - lower > 1 {
                    let middle = (lower + upper) / 2
                    if knots[middle] <= t { lower = middle } else { upper = middle }
                }
                let fraction = (t - knots[lower]) / (knots[upper] - knots[lower])
                values[lower] = 1 - fraction
                values[upper] = fraction
            }
            return values
        }
    }

    func validate() {
        switch self {
        case let .chebyshev(degreeCount, interval):
            precondition(degreeCount >= 1, "TimeBasis.chebyshev: degreeCount \(degreeCount) must be at least 1")
            precondition(interval.upperBound > interval.lowerBound, "TimeBasis.chebyshev: the interval \(interval) is empty")
        case let .piecewiseLinear(knots):
            precondition(knots.count >= 2, "TimeBasis.piecewiseLinear: needs at least two knots, got \(knots.count)")
            for (a, b) in zip(knots, knots.dropFirst()) {
                precondition(b > a, "TimeBasis.piecewiseLinear: knots \(a) and \(b) are not strictly increasing")
            }
        }
    }
}

/// An h-transform that is affine in features of the state and in the context, with
/// coefficients that are combinations of a basis of functions of time:
///
///     h_θ(t, x, y) = Σ_{k<K} φ_k(t) (W_k ψ(x) + V_k y + c_k),
///
/// with ψ(x) = x unless a feature map is given. The model is linear in its parameters
/// θ = (W_k, V_k, c_k), so every objective is a smooth function of θ. With ψ(x) = x it
/// contains the exact h-transform of a Gaussian prior with a linear Gaussian likelihood
/// up to the approximation in t: h*_t(x, y) is affine in x and y, with coefficients
/// smooth in t. Other priors need features that can express how h* bends in x, such as
/// `randomFeatures(dimension:count:scale:using:)`.
///
/// Parameters start at zero, so training starts from the prior. Names: `stateWeights`
/// `[K, d·f]` (row k is W_k, d × f, flattened row-major), `contextWeights` `[K, d·c]`
/// when c > 0, and `offsets` `[K, d]`.
public final class AffineHTransform<Scalar: TensorScalar>: HTransformModel {
    public let dimension: Int
    public let contextDimension: Int
    /// The number f of state features, d without a feature map.
    public let featureDimension: Int
    public let timeBasis: TimeBasis
    /// ψ, `[batch, d]` → `[batch, f]`, differentiable in x; nil for ψ(x) = x.
    public let stateFeatures: ((Variable<Scalar>) -> Variable<Scalar>)?
    public let stateWeights: Variable<Scalar>
    public let contextWeights: Variable<Scalar>?
    public let offsets: Variable<Scalar>

    /// Creates the zero h-transform of this form.
    ///
    /// - Parameters:
    ///   - dimension: the state dimension d.
    ///   - contextDimension: the context dimension c, 0 for a model of one observation.
    ///   - timeBasis: the functions φ_k of t.
    ///   - stateFeatures: ψ and its output size f, or nil for ψ(x) = x.
    public init(
        dimension: Int, contextDimension: Int = 0, timeBasis: TimeBasis,
        stateFeatures: (count: Int, map: (Variable<Scalar>) -> Variable<Scalar>)? = nil
    ) {
        precondition(dimension > 0 && contextDimension >= 0, "AffineHTransform: dimension \(dimension) must be positive and contextDimension \(contextDimension) non-negative")
        timeBasis.validate()
        self.dimension = dimension
        self.contextDimension = contextDimension
        self.timeBasis = timeBasis
        featureDimension = stateFeatures?.count ?? dimension
        self.stateFeatures = stateFeatures?.map
        let degreeCount = timeBasis.count
        stateWeights = Variable(Tensor(zeros: [degreeCount, dimension * featureDimension]), requiresGrad: true)
        contextWeights = contextDimension > 0
            ? Variable(Tensor(zeros: [degreeCount, dimension * contextDimension]), requiresGrad: true) : nil
        offsets = Variable(Tensor(zeros: [degreeCount, dimension]), requiresGrad: true)
    }

    public var namedParameters: [(name: String, parameter: Variable<Scalar>)] {
        var named = [("stateWeights", stateWeights)]
        if let contextWeights { named.append(("contextWeights", contextWeights)) }
        named.append(("offsets", offsets))
        return named
    }

    /// Returns (W(t), V(t), c(t)) = Σ_k φ_k(t) (W_k, V_k, c_k) as tensors, for inspection.
    public func coefficients(at t: Double) -> (stateWeight: Tensor<Scalar>, contextWeight: Tensor<Scalar>?, offset: Tensor<Scalar>) {
        withoutRecording {
            let phi = basisRow(at: t)
            let w = matmul(phi, stateWeights.value).reshaped(to: [dimension, featureDimension])
            let v = contextWeights.map { matmul(phi, $0.value).reshaped(to: [dimension, contextDimension]) }
            return (w, v, matmul(phi, offsets.value).reshaped(to: [dimension]))
        }
    }

    public func callAsFunction(_ t: Double, _ x: Variable<Scalar>, context: Tensor<Scalar>?) -> Variable<Scalar> {
        precondition(x.rank == 2 && x.shape[1] == dimension, "AffineHTransform: x of shape \(x.shape) must be [batch, \(dimension)]")
        let phi = Variable(basisRow(at: t))

        // W(t) ψ(x) + c(t), then V(t) y for an amortised model.
        let features = stateFeatures?(x) ?? x
        precondition(features.shape == [x.shape[0], featureDimension], "AffineHTransform: the features have shape \(features.shape); expected [\(x.shape[0]), \(featureDimension)]")
        let w = matmul(phi, stateWeights).reshaped(to: [dimension, featureDimension])
        var h = matmul(features, w, transposeB: true) + matmul(phi, offsets)
        if let contextWeights {
            guard let context else {
                preconditionFailure("AffineHTransform: the model was built with contextDimension \(contextDimension) but no context was given")
            }
            precondition(context.shape == [x.shape[0], contextDimension], "AffineHTransform: context of shape \(context.shape) must be [\(x.shape[0]), \(contextDimension)]")
            let v = matmul(phi, contextWeights).reshaped(to: [dimension, contextDimension])
            h = h + matmul(Variable(context), v, transposeB: true)
        } else {
            precondition(context == nil, "AffineHTransform: a context was given to a model built with contextDimension 0")
        }
        return h
    }

    /// Returns the feature map ψ(x) = [x, tanh(x Uᵀ + b)] with `count` random features:
    /// U has independent N(0, scale²) entries and b is uniform on [−π, π), drawn from
    /// `generator`. The output size is d + count.
    public static func randomFeatures(
        dimension: Int, count: Int, scale: Double, using generator: inout PhiloxRandom
    ) -> (count: Int, map: (Variable<Scalar>) -> Variable<Scalar>) {
        let u = Tensor<Scalar>.normal(shape: [count, dimension], standardDeviation: Scalar(scale), using: &generator)
        let b = Tensor<Scalar>.uniform(shape: [1, count], lower: Scalar(-Double.pi), upper: Scalar(Double.pi), using: &generator)
        return (dimension + count, { x in
            Variable.concatenate([x, tanh(matmul(x, Variable(u), transposeB: true) + b)], alongAxis: 1)
        })
    }

    private func basisRow(at t: Double) -> Tensor<Scalar> {
        Tensor(shape: [1, timeBasis.count], scalars: timeBasis.values(at: t).map { Scalar($0) })
    }
}
