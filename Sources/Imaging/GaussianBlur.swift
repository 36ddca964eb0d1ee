import Foundation
import SDECore
import Tensors

/// The extension of an image past its border for a blur.
public enum BlurPadding: Sendable {
    /// Pixels outside the image are 0.
    case zero
    /// Mirror about the edge pixel, which is not repeated (`d c b | a b c d`), as NumPy's
    /// and PyTorch's "reflect"; needs a kernel radius below the image size.
    case reflect
}

/// Gaussian blur: `y = A x + σ_y ξ`, where `A` correlates each plane of `x` `[N, C, H, W]`
/// with a normalised `kernelSize × kernelSize` Gaussian of standard deviation
/// `blurStandardDeviation` pixels, giving an image of the same size.
///
/// The kernel is the outer product of the 1-D kernel `g_t ∝ exp(−t² / (2 s²))`,
/// `t = −r…r`, `r = (kernelSize − 1) / 2`, normalised to sum 1, so with either padding `A =
/// B_H ⊗ B_W` with `B_n` the `n × n` matrix of the 1-D blur. The adjoint applies the
/// transposed factors. The singular value decomposition is the Kronecker product of the
/// factors' decompositions (GSL, Double). The pseudo-inverse drops each factor's singular
/// values at or below `pseudoInverseCutoff` times its largest. NOTE: blur singular values
/// decay fast: on 28 × 28 images with kernel size 9, `s = 1.5` and zero padding the
/// smallest is about 8e-9. So `pseudoInverse` amplifies noise enormously, and noise-aware
/// methods should work with the SVD instead.
public final class GaussianBlurOperator<Scalar: TensorScalar>: GaussianObservationModel, SingularValueObservationModel {
    public let kernelSize: Int
    public let blurStandardDeviation: Double
    public let padding: BlurPadding
    public let height: Int
    public let width: Int
    public let noise: GaussianNoise<Scalar>
    private let separable: SeparableOperator<Scalar>

    public init(
        kernelSize: Int, blurStandardDeviation: Double, padding: BlurPadding = .reflect,
        height: Int, width: Int, channels: Int = 1, noiseStandardDeviation: Scalar,
        pseudoInverseCutoff: Double = 1e-10
    ) {
        precondition(kernelSize >= 1 && kernelSize % 2 == 1, "GaussianBlurOperator: kernelSize \(kernelSize) must be odd and positive")
        precondition(blurStandardDeviation > 0, "GaussianBlurOperator: blurStandardDeviation \(blurStandardDeviation) must be positive")
        let radius = (kernelSize - 1) / 2
        precondition(
            padding == .zero || (radius < height && radius < width),
            "GaussianBlurOperator: reflect padding needs the kernel radius \(radius) below the image size \(height) × \(width)")
        self.kernelSize = kernelSize
        self.blurStandardDeviation = blurStandardDeviation
        self.padding = padding
        self.height = height
        self.width = width
        noise = GaussianNoise(standardDeviation: noiseStandardDeviation)

        let kernel = gaussianKernel(radius: radius, standardDeviation: blurStandardDeviation)
        separable = SeparableOperator(
            rowFactor: blurMatrix(length: height, kernel: kernel, padding: padding), rowShape: (height, height),
            columnFactor: blurMatrix(length: width, kernel: kernel, padding: padding), columnShape: (width, width),
            channels: channels, relativeCutoff: pseudoInverseCutoff)
    }

    public var channels: Int { separable.channels }

    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        linearVariable(x, apply: separable.apply)
    }

    public func adjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> { separable.applyAdjoint(y) }
    public func pseudoInverse(_ y: Tensor<Scalar>) -> Tensor<Scalar> { separable.pseudoInverse(y) }

    public var singularValues: Tensor<Scalar> { separable.decomposition.singularValues }
    public func applyVTranspose(_ x: Tensor<Scalar>) -> Tensor<Scalar> { separable.decomposition.applyVTranspose(x) }
    public func applyV(_ z: Tensor<Scalar>) -> Tensor<Scalar> { separable.decomposition.applyV(z) }
    public func applyUTranspose(_ y: Tensor<Scalar>) -> Tensor<Scalar> { separable.decomposition.applyUTranspose(y) }
    public func applyU(_ z: Tensor<Scalar>) -> Tensor<Scalar> { separable.decomposition.applyU(z) }
}

/// Returns the normalised 1-D Gaussian `g_t ∝ exp(−t² / (2 s²))` for `t = −radius…radius`.
func gaussianKernel(radius: Int, standardDeviation: Double) -> [Double] {
    let weights = (-radius...radius).map { t in Foundation.exp(-Double(t * t) / (2 * standardDeviation * standardDeviation)) }
    let total = weights.reduce(0, +)
    return weights.map { $0 / total }
}

/// Returns the `length × length` matrix of correlation with `kernel` under `padding`:
/// `y_i = Σ_t g_t x_{i+t}`, with indices outside the image mapped by the padding.
func blurMatrix(length: Int, kernel: [Double], padding: BlurPadding) -> [Double] {
    let radius = kernel.count / 2
    var matrix = [Double](repeating: 0, count: length * length)
    for i in 0..<length {
        for (offset, weight) in kernel.enumerated() {
            var j = i + offset - radius
            switch padding {
            case .zero:
                if j < 0 || j >= length { continue }
            case .reflect:
                if j < 0 { j = -j }
                if j >= length { j = 2 * (length - 1) - j }
            }
            matrix[i * length + j] += weight
        }
    }
    return matrix
}
