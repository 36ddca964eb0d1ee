import Foundation
import SDECore
import Tensors

/// Fourier phase retrieval: `y = |F pad(x)| + σ_y ξ`, the magnitudes of the 2-D discrete
/// Fourier transform of each plane of `x` `[N, C, H, W]` zero-padded to `[P_H, P_W]`,
/// `P = ⌈oversampling · H⌉` (likewise for W), giving `[N, C, P_H, P_W]`.
///
/// The transform is unitary: `(F X)[u, v] = (P_H P_W)^(−½) Σ_{h,w} X[h, w] e^(−2πi (u h / P_H + v w / P_W))`,
/// so `‖|F pad(x)|‖ = ‖x‖` (Parseval). The image sits at the top-left corner of the
/// padded array. Shifting it would only change the phases, which are not measured. The
/// DFT is a product with cosine and sine matrices on BLAS, exact for any size, and is
/// differentiated through the tensor library's matrix products.
///
/// The map is non-linear and not differentiable where a Fourier coefficient is 0: there
/// the gradient of `|·|` divides by 0. Away from such points (generic images) it is smooth.
public final class PhaseRetrievalOperator<Scalar: TensorScalar>: GaussianObservationModel {
    public let height: Int
    public let width: Int
    public let paddedHeight: Int
    public let paddedWidth: Int
    public let noise: GaussianNoise<Scalar>
    /// `[cos; sin]` rows of the unitary DFT along the rows (`[2 P_H, H]`) and columns (`[2 P_W, W]`).
    private let rowTransform: Tensor<Scalar>
    private let columnTransform: Tensor<Scalar>

    public init(height: Int, width: Int, oversampling: Double = 2, noiseStandardDeviation: Scalar) {
        precondition(height >= 1 && width >= 1, "PhaseRetrievalOperator: image \(height) × \(width) must not be empty")
        precondition(oversampling >= 1, "PhaseRetrievalOperator: oversampling \(oversampling) must be at least 1")
        self.height = height
        self.width = width
        paddedHeight = Int((oversampling * Double(height)).rounded(.up))
        paddedWidth = Int((oversampling * Double(width)).rounded(.up))
        noise = GaussianNoise(standardDeviation: noiseStandardDeviation)
        rowTransform = fourierMatrix(length: height, padded: paddedHeight)
        columnTransform = fourierMatrix(length: width, padded: paddedWidth)
    }

    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            x.rank == 4 && x.shape[2] == height && x.shape[3] == width,
            "PhaseRetrievalOperator: input of shape \(x.shape) must be [N, C, \(height), \(width)]")
        let (batch, channels) = (x.shape[0], x.shape[1])
        let planes = x.reshaped(to: [batch * channels, height, width])

        // Q[b, v', u'] = Σ_{h,w} G_H[u', h] X[h, w] G_W[v', w], with G = [cos; sin].
        let alongColumns = matmul(planes, Variable(columnTransform), transposeB: true)
        let products = matmul(alongColumns.transposed(permutation: [0, 2, 1]), Variable(rowTransform), transposeB: true)

        // e^(−iθ_h) e^(−iθ_w) = (cos_h cos_w − sin_h sin_w) − i (sin_h cos_w + cos_h sin_w).
        let (cosineW, sineW) = (0..<paddedWidth, paddedWidth..<(2 * paddedWidth))
        let (cosineH, sineH) = (0..<paddedHeight, paddedHeight..<(2 * paddedHeight))
        func block(_ w: Range<Int>, _ h: Range<Int>) -> Variable<Scalar> {
            products.slice(alongAxis: 1, w).slice(alongAxis: 2, h)
        }
        let real = block(cosineW, cosineH) - block(sineW, sineH)
        let imaginary = block(cosineW, sineH) + block(sineW, cosineH)
        let magnitude = sqrt(square(real) + square(imaginary))

        return magnitude.transposed(permutation: [0, 2, 1]).reshaped(to: [batch, channels, paddedHeight, paddedWidth])
    }
}

/// `[cos; sin]` of the unitary length-`padded` DFT restricted to the first `length`
/// inputs: entry `(k, t)` is `cos(2π k t / P) / √P`, then `sin(2π k t / P) / √P`.
func fourierMatrix<Scalar: TensorScalar>(length: Int, padded: Int) -> Tensor<Scalar> {
    var entries = [Scalar](repeating: 0, count: 2 * padded * length)
    let scale = 1 / Double(padded).squareRoot()
    for k in 0..<padded {
        for t in 0..<length {
            // k t mod P keeps the angle small and exact for large sizes.
            let angle = 2 * Double.pi * Double((k * t) % padded) / Double(padded)
            entries[k * length + t] = Scalar(Foundation.cos(angle) * scale)
            entries[(padded + k) * length + t] = Scalar(Foundation.sin(angle) * scale)
        }
    }
    return Tensor(shape: [2 * padded, length], scalars: entries)
}
