import Tensors

/// A linear map on image planes that acts on rows and columns separately:
/// `Y = R X Kᵀ` for each `[height, width]` plane `X` of a batch `[N, C, H, W]`.
///
/// In vector form this is the Kronecker product `R ⊗ K` acting on the row-major plane,
/// so its adjoint is `X = Rᵀ Y K`, its pseudo-inverse is `R⁺ ⊗ K⁺` and its singular
/// value decomposition is the Kronecker product of those of `R` and `K`. Both directions
/// are two BLAS products per plane, so the adjoint is the exact transpose up to rounding.
struct SeparableMap<Scalar: TensorScalar> {
    /// `R`, `[outputHeight, inputHeight]`.
    let rowMatrix: Tensor<Scalar>
    /// `K`, `[outputWidth, inputWidth]`.
    let columnMatrix: Tensor<Scalar>

    init(rowMatrix: Tensor<Scalar>, columnMatrix: Tensor<Scalar>) {
        precondition(rowMatrix.rank == 2 && columnMatrix.rank == 2, "SeparableMap: factors \(rowMatrix.shape) and \(columnMatrix.shape) must be matrices")
        self.rowMatrix = rowMatrix
        self.columnMatrix = columnMatrix
    }

    var inputHeight: Int { rowMatrix.shape[1] }
    var inputWidth: Int { columnMatrix.shape[1] }
    var outputHeight: Int { rowMatrix.shape[0] }
    var outputWidth: Int { columnMatrix.shape[0] }

    /// `R X Kᵀ` for each plane of `x`, `[N, C, inputHeight, inputWidth]` → `[N, C, outputHeight, outputWidth]`.
    func apply(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            x.rank == 4 && x.shape[2] == inputHeight && x.shape[3] == inputWidth,
            "SeparableMap: input of shape \(x.shape) must be [N, C, \(inputHeight), \(inputWidth)]")
        let planes = x.shape[0] * x.shape[1]

        // X Kᵀ for all planes at once, then R (X Kᵀ) plane by plane.
        let right = matmul(x.reshaped(to: [planes * inputHeight, inputWidth]), columnMatrix, transposeB: true)
        let output = leftMultiplyPlanes(right, by: rowMatrix, transposed: false, planes: planes, width: outputWidth)
        return output.reshaped(to: [x.shape[0], x.shape[1], outputHeight, outputWidth])
    }

    /// `Rᵀ Y K` for each plane of `y`, the adjoint of `apply`.
    func applyAdjoint(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            y.rank == 4 && y.shape[2] == outputHeight && y.shape[3] == outputWidth,
            "SeparableMap: adjoint input of shape \(y.shape) must be [N, C, \(outputHeight), \(outputWidth)]")
        let planes = y.shape[0] * y.shape[1]

        let right = matmul(y.reshaped(to: [planes * outputHeight, outputWidth]), columnMatrix)
        let output = leftMultiplyPlanes(right, by: rowMatrix, transposed: true, planes: planes, width: inputWidth)
        return output.reshaped(to: [y.shape[0], y.shape[1], inputHeight, inputWidth])
    }

    /// Returns `op(M) P` for each plane `P` of `planes` stacked as `[planes · rows, width]`.
    private func leftMultiplyPlanes(
        _ stacked: Tensor<Scalar>, by matrix: Tensor<Scalar>, transposed: Bool, planes: Int, width: Int
    ) -> Tensor<Scalar> {
        let (rows, columns) = (matrix.shape[0], matrix.shape[1])
        let (outputRows, innerRows) = transposed ? (columns, rows) : (rows, columns)
        return Tensor(shape: [planes * outputRows, width]) { output in
            stacked.withUnsafeBufferPointer { input in
                matrix.withUnsafeBufferPointer { factor in
                    let (source, destination, m) = (input.baseAddress!, output.baseAddress!, factor.baseAddress!)
                    parallelChunks(planes, minimumChunk: Swift.max(1, (1 << 15) / Swift.max(outputRows * innerRows * width, 1))) { range in
                        for plane in range {
                            Scalar.gemm(
                                transposeA: transposed, transposeB: false, m: outputRows, n: width, k: innerRows,
                                alpha: 1, a: m, lda: columns, b: source + plane * innerRows * width, ldb: width,
                                beta: 0, c: destination + plane * outputRows * width, ldc: width)
                        }
                    }
                }
            }
        }
    }
}
