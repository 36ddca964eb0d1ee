import SDECore
import Tensors

/// Super-resolution by block averaging: `y = A x + σ_y ξ`, where `A` replaces each
/// `factor × factor` block of `x` `[N, C, H, W]` by its mean, giving `[N, C, H/factor, W/factor]`.
///
/// `A = B_H ⊗ B_W` with `B_n` the `(n/factor) × n` matrix of entries `1/factor` on each
/// block. Its rows are orthogonal with squared norm `1/factor`, so every singular value of
/// `A` is `1/factor` and the pseudo-inverse is `factor² Aᵀ` (nearest-neighbour upsampling).
/// `Vᵀ x` lists the block coordinates first, then an orthonormal basis of each block's
/// zero-mean part (see `SeparableSingularValues` for the order). Height and width must be
/// multiples of `factor` but need not be equal.
public final class SuperResolutionOperator<Scalar: TensorScalar>: GaussianObservationModel, SingularValueObservationModel {
    public let factor: Int
    public let height: Int
    public let width: Int
    public let noise: GaussianNoise<Scalar>
    private let separable: SeparableOperator<Scalar>

    public init(factor: Int = 4, height: Int, width: Int, channels: Int = 1, noiseStandardDeviation: Scalar) {
        precondition(factor >= 1, "SuperResolutionOperator: factor \(factor) must be at least 1")
        precondition(
            height % factor == 0 && width % factor == 0 && height > 0 && width > 0,
            "SuperResolutionOperator: image \(height) × \(width) must be a positive multiple of factor \(factor) on each side")
        self.factor = factor
        self.height = height
        self.width = width
        noise = GaussianNoise(standardDeviation: noiseStandardDeviation)
        separable = SeparableOperator(
            rowFactor: blockAverageMatrix(length: height, factor: factor), rowShape: (height / factor, height),
            columnFactor: blockAverageMatrix(length: width, factor: factor), columnShape: (width / factor, width),
            channels: channels, relativeCutoff: 1e-12)
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

/// Returns the `(length / factor) × length` block-averaging matrix, row-major.
func blockAverageMatrix(length: Int, factor: Int) -> [Double] {
    let rows = length / factor
    var matrix = [Double](repeating: 0, count: rows * length)
    for row in 0..<rows {
        for offset in 0..<factor { matrix[row * length + row * factor + offset] = 1 / Double(factor) }
    }
    return matrix
}
