import Tensors

/// A scalar type with specialised element loops for the optimisers: `Float` or `Double`.
///
/// Generic code called from another module is not specialised, so a per-element loop
/// written generically in an optimiser would run through protocol dispatch per element.
/// Each requirement here is implemented by `Float` and `Double` by calling an internal
/// `@inline(__always)` generic kernel with the concrete type, so an optimiser step costs
/// one dispatch per parameter tensor.
public protocol OptimizerScalar: TensorScalar {
    /// Applies one Adam or AdamW update to `count` elements in place; see `AdamCoefficients`.
    static func adamUpdate(
        parameter: UnsafeMutablePointer<Self>, gradient: UnsafePointer<Self>,
        firstMoment: UnsafeMutablePointer<Self>, secondMoment: UnsafeMutablePointer<Self>,
        count: Int, coefficients: AdamCoefficients<Self>)

    /// Moves `average` towards `value` in place: `average ← average + (1 - decay)(value - average)`.
    static func movingAverageUpdate(
        average: UnsafeMutablePointer<Self>, value: UnsafePointer<Self>, count: Int, decay: Self)
}

/// The scalars of one Adam update at step `t` (counted from 1), with the bias
/// corrections folded in.
public struct AdamCoefficients<Scalar: TensorScalar>: Sendable {
    /// β₁, the decay of the first moment.
    public var beta1: Scalar
    /// β₂, the decay of the second moment.
    public var beta2: Scalar
    /// ε, added to the denominator.
    public var epsilon: Scalar
    /// `lr / (1 - β₁ᵗ)`.
    public var stepSize: Scalar
    /// `√(1 - β₂ᵗ)`.
    public var secondMomentCorrection: Scalar
    /// λ of Adam's L2 penalty, added to the gradient as `g + λ θ` (0 for AdamW).
    public var gradientWeightDecay: Scalar
    /// `1 - lr λ`, AdamW's decoupled decay of the parameter (1 for Adam).
    public var parameterDecayFactor: Scalar

    public init(
        beta1: Scalar, beta2: Scalar, epsilon: Scalar, stepSize: Scalar, secondMomentCorrection: Scalar,
        gradientWeightDecay: Scalar, parameterDecayFactor: Scalar
    ) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.stepSize = stepSize
        self.secondMomentCorrection = secondMomentCorrection
        self.gradientWeightDecay = gradientWeightDecay
        self.parameterDecayFactor = parameterDecayFactor
    }
}

/// Applies one Adam step to each element, in PyTorch's order of operations (`torch.optim.Adam` and
/// `AdamW`, single-tensor path, PyTorch 2.x):
///
///     θ ← θ (1 - lr λ_decoupled)
///     g ← g + λ_L2 θ
///     m ← m + (1 - β₁)(g - m)
///     v ← β₂ v + (1 - β₂) g²
///     θ ← θ - (lr / (1 - β₁ᵗ)) m / (√v / √(1 - β₂ᵗ) + ε)
@inline(__always)
func adamKernel<T: TensorScalar>(
    _ parameter: UnsafeMutablePointer<T>, _ gradient: UnsafePointer<T>,
    _ firstMoment: UnsafeMutablePointer<T>, _ secondMoment: UnsafeMutablePointer<T>,
    count: Int, _ c: AdamCoefficients<T>
) {
    let oneMinusBeta1 = 1 - c.beta1
    let oneMinusBeta2 = 1 - c.beta2
    for i in 0..<count {
        let theta = parameter[i] * c.parameterDecayFactor
        let g = gradient[i] + c.gradientWeightDecay * parameter[i]

        let m = firstMoment[i] + oneMinusBeta1 * (g - firstMoment[i])
        let v = c.beta2 * secondMoment[i] + oneMinusBeta2 * g * g
        firstMoment[i] = m
        secondMoment[i] = v

        // v ≥ 0, so |v| = v. With the abs the compiler can prove the argument
        // non-negative, so it emits vector square roots instead of a libm call per
        // element that may set errno (Linux).
        parameter[i] = theta - c.stepSize * m / (Swift.abs(v).squareRoot() / c.secondMomentCorrection + c.epsilon)
    }
}

@inline(__always)
func movingAverageKernel<T: TensorScalar>(
    _ average: UnsafeMutablePointer<T>, _ value: UnsafePointer<T>, count: Int, decay: T
) {
    let weight = 1 - decay
    for i in 0..<count {
        average[i] += weight * (value[i] - average[i])
    }
}

/// Runs `body` over `0..<count` on the calling thread for small counts, else split
/// across the cores by `parallelChunks`.
///
/// Below 2^14 elements (a few µs) the hand-off to a helper of the worker team costs more
/// than the split saves, and `parallelChunks` would run it on the calling thread too.
@inline(__always)
private func forEachChunk(_ count: Int, _ body: (Range<Int>) -> Void) {
    let minimumChunk = 1 << 13
    if count < 2 * minimumChunk {
        body(0..<count)
    } else {
        parallelChunks(count, minimumChunk: minimumChunk, body)
    }
}

extension Float: OptimizerScalar {
    public static func adamUpdate(
        parameter: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
        firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
        count: Int, coefficients: AdamCoefficients<Float>
    ) {
        forEachChunk(count) { range in
            let offset = range.lowerBound
            adamKernel(
                parameter + offset, gradient + offset, firstMoment + offset, secondMoment + offset,
                count: range.count, coefficients)
        }
    }

    public static func movingAverageUpdate(
        average: UnsafeMutablePointer<Float>, value: UnsafePointer<Float>, count: Int, decay: Float
    ) {
        forEachChunk(count) { range in
            movingAverageKernel(average + range.lowerBound, value + range.lowerBound, count: range.count, decay: decay)
        }
    }
}

extension Double: OptimizerScalar {
    public static func adamUpdate(
        parameter: UnsafeMutablePointer<Double>, gradient: UnsafePointer<Double>,
        firstMoment: UnsafeMutablePointer<Double>, secondMoment: UnsafeMutablePointer<Double>,
        count: Int, coefficients: AdamCoefficients<Double>
    ) {
        forEachChunk(count) { range in
            let offset = range.lowerBound
            adamKernel(
                parameter + offset, gradient + offset, firstMoment + offset, secondMoment + offset,
                count: range.count, coefficients)
        }
    }

    public static func movingAverageUpdate(
        average: UnsafeMutablePointer<Double>, value: UnsafePointer<Double>, count: Int, decay: Double
    ) {
        forEachChunk(count) { range in
            movingAverageKernel(average + range.lowerBound, value + range.lowerBound, count: range.count, decay: decay)
        }
    }
}
