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
/// DFT is a product with cosine and sine matrices on BLAS, exact for any size.
///
/// The map is non-linear and not differentiable where a Fourier coefficient is 0: there
/// the gradient of `|·|` divides by 0. Away from such points (generic images) it is smooth.
public final class PhaseRetrievalOperator<Scalar: TensorScalar>: GaussianObservationModel {
    public let height: Int
    public let width: Int
    public let paddedHeight: Int
    public let paddedWidth: Int
    public let noise: GaussianNoise<Scalar>
    /// `Q = G_H X G_Wᵀ` per plane, with `G = [cos; sin]` the rows of the unitary DFT along
    /// the rows (`[2 P_H, H]`) and columns (`[2 P_W, W]`): its four blocks hold every
    /// product of cosines and sines that the real and imaginary parts combine.
    private let transform: SeparableMap<Scalar>

    public init(height: Int, width: Int, oversampling: Double = 2, noiseStandardDeviation: Scalar) {
        precondition(height >= 1 && width >= 1, "PhaseRetrievalOperator: image \(height) × \(width) must not be empty")
        precondition(oversampling >= 1, "PhaseRetrievalOperator: oversampling \(oversampling) must be at least 1")
        self.height = height
        self.width = width
        paddedHeight = Int((oversampling * Double(height)).rounded(.up))
        paddedWidth = Int((oversampling * Double(width)).rounded(.up))
        noise = GaussianNoise(standardDeviation: noiseStandardDeviation)
        transform = SeparableMap(
            rowMatrix: fourierMatrix(length: height, padded: paddedHeight),
            columnMatrix: fourierMatrix(length: width, padded: paddedWidth))
    }

    /// Computes `|F pad(x)|`; the pullback maps `dy` to `Re(F* (dy ⊙ Z / |Z|))` through the
    /// adjoint of the cosine and sine products.
    public func forward(_ x: Variable<Scalar>) -> Variable<Scalar> {
        precondition(
            x.rank == 4 && x.shape[2] == height && x.shape[3] == width,
            "PhaseRetrievalOperator: input of shape \(x.shape) must be [N, C, \(height), \(width)]")
        let products = transform.apply(x.value)
        let magnitude = fourierMagnitude(products)
        return Variable(value: magnitude, parents: [x]) { [self] dy in
            [transform.applyAdjoint(fourierMagnitudePullback(products, magnitude: magnitude, cotangent: dy))]
        }
    }

    /// `|Z|` from the blocks of `Q`: with `e^(−iθ_h) e^(−iθ_w) = (cos_h cos_w − sin_h sin_w) −
    /// i (sin_h cos_w + cos_h sin_w)`, `Re Z = Q_cc − Q_ss` and `−Im Z = Q_cs + Q_sc`.
    private func fourierMagnitude(_ products: Tensor<Scalar>) -> Tensor<Scalar> {
        let (batch, channels) = (products.shape[0], products.shape[1])
        let layout = FourierLayout(planes: batch * channels, height: paddedHeight, width: paddedWidth)
        return Tensor(shape: [batch, channels, paddedHeight, paddedWidth]) { output in
            products.withUnsafeBufferPointer { input in
                let (q, z) = (input.baseAddress!, output.baseAddress!)
                if Scalar.self == Float.self {
                    magnitudeKernel(q.rebound(to: Float.self), z.rebound(to: Float.self), layout)
                } else {
                    magnitudeKernel(q.rebound(to: Double.self), z.rebound(to: Double.self), layout)
                }
            }
        }
    }

    /// Returns the cotangent of `Q`: `a = dy / |Z|`, then `a Re Z` on `Q_cc`, `−a Re Z` on `Q_ss` and
    /// `a (Q_cs + Q_sc)` on both mixed blocks.
    private func fourierMagnitudePullback(
        _ products: Tensor<Scalar>, magnitude: Tensor<Scalar>, cotangent: Tensor<Scalar>
    ) -> Tensor<Scalar> {
        let layout = FourierLayout(planes: products.shape[0] * products.shape[1], height: paddedHeight, width: paddedWidth)
        return Tensor(shape: products.shape) { output in
            products.withUnsafeBufferPointer { q in
                magnitude.withUnsafeBufferPointer { z in
                    cotangent.withUnsafeBufferPointer { dy in
                        let (qs, zs, dys, dq) = (q.baseAddress!, z.baseAddress!, dy.baseAddress!, output.baseAddress!)
                        if Scalar.self == Float.self {
                            magnitudePullbackKernel(
                                qs.rebound(to: Float.self), zs.rebound(to: Float.self), dys.rebound(to: Float.self),
                                dq.rebound(to: Float.self), layout)
                        } else {
                            magnitudePullbackKernel(
                                qs.rebound(to: Double.self), zs.rebound(to: Double.self), dys.rebound(to: Double.self),
                                dq.rebound(to: Double.self), layout)
                        }
                    }
                }
            }
        }
    }
}

/// The extents of the Fourier products: `planes` planes of `[2 height, 2 width]` products
/// and `[height, width]` magnitudes.
private struct FourierLayout {
    let planes: Int
    let height: Int
    let width: Int
}

@inline(__always)
private func magnitudeKernel<T: BinaryFloatingPoint>(_ q: UnsafePointer<T>, _ z: UnsafeMutablePointer<T>, _ layout: FourierLayout) {
    let (h, w) = (layout.height, layout.width)
    for plane in 0..<layout.planes {
        let products = q + plane * 4 * h * w
        let magnitudes = z + plane * h * w
        for u in 0..<h {
            let cosineRow = products + u * 2 * w
            let sineRow = products + (h + u) * 2 * w
            for v in 0..<w {
                let real = cosineRow[v] - sineRow[w + v]
                let imaginary = cosineRow[w + v] + sineRow[v]
                magnitudes[u * w + v] = (real * real + imaginary * imaginary).squareRoot()
            }
        }
    }
}

@inline(__always)
private func magnitudePullbackKernel<T: BinaryFloatingPoint>(
    _ q: UnsafePointer<T>, _ z: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dq: UnsafeMutablePointer<T>,
    _ layout: FourierLayout
) {
    let (h, w) = (layout.height, layout.width)
    for plane in 0..<layout.planes {
        let products = q + plane * 4 * h * w
        let cotangents = dq + plane * 4 * h * w
        let (magnitudes, seeds) = (z + plane * h * w, dy + plane * h * w)
        for u in 0..<h {
            let (cosineRow, sineRow) = (products + u * 2 * w, products + (h + u) * 2 * w)
            let (cosineOut, sineOut) = (cotangents + u * 2 * w, cotangents + (h + u) * 2 * w)
            for v in 0..<w {
                let real = cosineRow[v] - sineRow[w + v]
                let imaginary = cosineRow[w + v] + sineRow[v]
                let scale = seeds[u * w + v] / magnitudes[u * w + v]
                cosineOut[v] = scale * real
                sineOut[w + v] = -scale * real
                cosineOut[w + v] = scale * imaginary
                sineOut[v] = scale * imaginary
            }
        }
    }
}

/// Returns `[cos; sin]` of the unitary length-`padded` DFT restricted to the first `length`
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
