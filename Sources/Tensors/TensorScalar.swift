import CBLAS
import Foundation

/// A floating-point type that tensors can hold: `Float` or `Double`.
///
/// The requirements are the element loops and BLAS calls that every tensor operation is
/// built from. Each conforming type implements them with concrete, specialised code, so
/// generic tensor code pays one protocol dispatch per operation, never per element, even
/// when it is compiled in another module.
public protocol TensorScalar: BinaryFloatingPoint, LosslessStringConvertible, Sendable
where Self.RawSignificand: FixedWidthInteger {
    /// The dtype name used in weight files (`F32`, `F64`).
    static var dtypeName: String { get }

    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self

    /// Applies `function` to `count` elements of `input`, writing `output`.
    static func apply(_ function: UnaryFunction, _ input: UnsafePointer<Self>, _ output: UnsafeMutablePointer<Self>, count: Int)

    /// Applies `function` element-wise to two broadcast operands; see `BroadcastLayout`.
    static func apply(
        _ function: BinaryFunction, _ lhs: UnsafePointer<Self>, _ rhs: UnsafePointer<Self>,
        _ output: UnsafeMutablePointer<Self>, layout: BroadcastLayout)

    /// Sums a tensor viewed as `[outer, reduced, inner]` over its middle axis, writing `[outer, inner]`.
    static func sum(_ input: UnsafePointer<Self>, _ output: UnsafeMutablePointer<Self>, outer: Int, reduced: Int, inner: Int)

    /// Takes the maximum of a tensor viewed as `[outer, reduced, inner]` over its middle axis.
    static func max(_ input: UnsafePointer<Self>, _ output: UnsafeMutablePointer<Self>, outer: Int, reduced: Int, inner: Int)

    /// Computes `C ← α op(A) op(B) + β C` for row-major matrices (BLAS `?gemm`).
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)

    /// Computes `y ← α x + y` (BLAS `?axpy`).
    static func axpy(count: Int, alpha: Self, x: UnsafePointer<Self>, y: UnsafeMutablePointer<Self>)

    /// Writes `(base[i] + scaled[i] · alpha) + added[i]` to `output[i]` for `count`
    /// elements, rounding after the product and after each sum, as the three separate
    /// element-wise operations do. `output` may be one of the inputs.
    static func multiplyAdd(
        _ base: UnsafePointer<Self>, _ scaled: UnsafePointer<Self>, alpha: Self, _ added: UnsafePointer<Self>,
        _ output: UnsafeMutablePointer<Self>, count: Int)

    /// Returns the dot product of two contiguous vectors (BLAS `?dot`).
    static func dot(count: Int, _ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>) -> Self

    // Image kernels, implemented for Float and Double in `ImageKernels.swift`.

    /// Unfolds one image `[channels, height, width]` into the columns
    /// `[channels · kernelHeight · kernelWidth, outputHeight · outputWidth]` (im2col), a
    /// matrix whose rows start `leadingDimension ≥ outputHeight · outputWidth` elements apart.
    static func im2col(
        _ image: UnsafePointer<Self>, _ columns: UnsafeMutablePointer<Self>, geometry: ConvolutionGeometry,
        leadingDimension: Int)

    /// Folds columns, whose rows start `leadingDimension` elements apart, back into one
    /// image, summing overlapping windows and overwriting `image` (col2im, the adjoint of
    /// `im2col`).
    static func col2im(
        _ columns: UnsafePointer<Self>, _ image: UnsafeMutablePointer<Self>, geometry: ConvolutionGeometry,
        leadingDimension: Int)

    /// Normalises `[batch, channels, spatial]` per (sample, group), then scales and offsets
    /// each channel. Writes each group's mean and 1/√(variance + ε) as `[batch, groups]`.
    static func groupNormForward(
        _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, scale: UnsafePointer<Self>, offset: UnsafePointer<Self>,
        mean: UnsafeMutablePointer<Self>, inverseStandardDeviation: UnsafeMutablePointer<Self>,
        layout: GroupNormLayout, epsilon: Self)

    /// Computes the pullback of `groupNormForward`. Writes `dx` (unless nil) and, per
    /// (sample, channel), Σ dy and Σ dy · x̂ as `[batch, channels]`; the offset and scale
    /// gradients are their sums over the batch.
    static func groupNormBackward(
        _ x: UnsafePointer<Self>, _ dy: UnsafePointer<Self>, _ dx: UnsafeMutablePointer<Self>?,
        scale: UnsafePointer<Self>, mean: UnsafePointer<Self>, inverseStandardDeviation: UnsafePointer<Self>,
        channelSums: UnsafeMutablePointer<Self>, channelProductSums: UnsafeMutablePointer<Self>,
        layout: GroupNormLayout)

    /// Writes `SiLU(groupNormForward(x))` to `y`, and the statistics as `groupNormForward` does.
    static func groupNormSiLUForward(
        _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, scale: UnsafePointer<Self>, offset: UnsafePointer<Self>,
        mean: UnsafeMutablePointer<Self>, inverseStandardDeviation: UnsafeMutablePointer<Self>,
        layout: GroupNormLayout, epsilon: Self)

    /// Computes the pullback of `groupNormSiLUForward`: `groupNormBackward` applied to the
    /// cotangent of the group norm's output, `dy · SiLU′(z)`.
    static func groupNormSiLUBackward(
        _ x: UnsafePointer<Self>, _ dy: UnsafePointer<Self>, _ dx: UnsafeMutablePointer<Self>?,
        scale: UnsafePointer<Self>, offset: UnsafePointer<Self>, mean: UnsafePointer<Self>,
        inverseStandardDeviation: UnsafePointer<Self>, channelSums: UnsafeMutablePointer<Self>,
        channelProductSums: UnsafeMutablePointer<Self>, layout: GroupNormLayout)

    /// Transforms a 3×3 filter bank `[O, C, 3, 3]` for Winograd's F(2×2, 3×3): writes
    /// `G g Gᵀ` of every filter `g` as `[16, O, C]` (see WinogradKernels.swift).
    static func winogradFilterTransform(
        _ filter: UnsafePointer<Self>, _ transformed: UnsafeMutablePointer<Self>, outputChannels: Int, channels: Int)

    /// Transforms the 4×4 input tile under every 2×2 output block of one image of a 3×3,
    /// stride-1, padding-1 convolution: writes `Bᵀ d B` as `[16, C, blocks]` with the given
    /// strides between its components and channels.
    static func winogradInputTransform(
        _ image: UnsafePointer<Self>, _ transformed: UnsafeMutablePointer<Self>, geometry: ConvolutionGeometry,
        componentStride: Int, channelStride: Int)

    /// Writes one output image `[O, outputHeight, outputWidth]` from the Winograd products
    /// `[16, O, blocks]`, as `Aᵀ M A` of every block plus the bias, if any.
    static func winogradOutputTransform(
        _ products: UnsafePointer<Self>, _ image: UnsafeMutablePointer<Self>, outputChannels: Int, outputHeight: Int,
        outputWidth: Int, componentStride: Int, channelStride: Int, bias: UnsafePointer<Self>?)

    /// Sums non-overlapping `window × window` blocks of `planes` images of
    /// `height × width` and multiplies by `scale`.
    static func sumPool2d(
        _ input: UnsafePointer<Self>, _ output: UnsafeMutablePointer<Self>,
        planes: Int, height: Int, width: Int, window: Int, scale: Self)

    /// Repeats each pixel of `planes` images of `height × width` into a
    /// `factor × factor` block, multiplied by `scale`.
    static func upsampleNearest2d(
        _ input: UnsafePointer<Self>, _ output: UnsafeMutablePointer<Self>,
        planes: Int, height: Int, width: Int, factor: Int, scale: Self)
}

extension TensorScalar {
    /// Unfolds one image into contiguous columns `[C · kH · kW, outputHeight · outputWidth]`.
    public static func im2col(_ image: UnsafePointer<Self>, _ columns: UnsafeMutablePointer<Self>, geometry: ConvolutionGeometry) {
        im2col(image, columns, geometry: geometry, leadingDimension: geometry.positions)
    }

    /// Folds contiguous columns `[C · kH · kW, outputHeight · outputWidth]` back into one image.
    public static func col2im(_ columns: UnsafePointer<Self>, _ image: UnsafeMutablePointer<Self>, geometry: ConvolutionGeometry) {
        col2im(columns, image, geometry: geometry, leadingDimension: geometry.positions)
    }
}

/// Element-wise functions of one argument.
public enum UnaryFunction: Sendable {
    case negate, exp, log, sqrt, reciprocal, square, abs
    case tanh, sigmoid, silu, relu, softplus, sin, cos
}

/// Element-wise functions of two arguments, including the backward rules of the
/// activations: `siluBackward(x, dy)` is `dy · d silu/dx` at `x`.
public enum BinaryFunction: Sendable {
    case add, subtract, multiply, divide, maximum, minimum, power
    case reluBackward, siluBackward, sigmoidBackward, softplusBackward
    /// `tanhBackward(y, dy) = dy (1 - y²)`, where `y = tanh(x)` is the forward output.
    case tanhBackward
}
