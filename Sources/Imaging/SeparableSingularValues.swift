import CGSL
import Tensors

/// The singular value decomposition `M = U diag(s) Vᵀ` of one factor of a separable
/// operator, an `m × n` matrix with `m ≤ n`, computed in Double by GSL's one-sided Jacobi
/// method (`gsl_linalg_SV_decomp_jacobi`), which keeps small singular values accurate.
///
/// `U` is `m × m`, `s` has `m` entries in decreasing order and `V` is the full
/// orthogonal `n × n` matrix whose first `m` columns pair with `s`. The matrix must have
/// full row rank for `U` to be orthogonal: every operator here does.
struct FactorSVD {
    let rows: Int
    let columns: Int
    /// Row-major `U`, `[rows, rows]`.
    let u: [Double]
    let singularValues: [Double]
    /// Row-major `V`, `[columns, columns]`.
    let v: [Double]

    init(matrix: [Double], rows: Int, columns: Int) {
        precondition(rows >= 1 && rows <= columns, "FactorSVD: a \(rows) × \(columns) factor needs 1 ≤ rows ≤ columns")
        precondition(matrix.count == rows * columns, "FactorSVD: \(matrix.count) entries for a \(rows) × \(columns) matrix")
        self.rows = rows
        self.columns = columns

        // Pad to a square matrix with zero rows, so that GSL returns the full V.
        let n = columns
        let a = gsl_matrix_calloc(n, n)!
        let vMatrix = gsl_matrix_alloc(n, n)!
        let s = gsl_vector_alloc(n)!
        defer {
            gsl_matrix_free(a)
            gsl_matrix_free(vMatrix)
            gsl_vector_free(s)
        }
        for i in 0..<rows {
            for j in 0..<columns { gsl_matrix_set(a, i, j, matrix[i * columns + j]) }
        }
        let status = gsl_linalg_SV_decomp_jacobi(a, vMatrix, s)
        precondition(status == 0, "FactorSVD: gsl_linalg_SV_decomp_jacobi failed with status \(status)")

        // The first `rows` singular values are the non-zero ones of a full-row-rank
        // matrix; the padded rows of U's leading columns are zero.
        var u = [Double](repeating: 0, count: rows * rows)
        for i in 0..<rows {
            for j in 0..<rows { u[i * rows + j] = gsl_matrix_get(a, i, j) }
        }
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n { v[i * n + j] = gsl_matrix_get(vMatrix, i, j) }
        }
        self.u = u
        self.singularValues = (0..<rows).map { gsl_vector_get(s, $0) }
        self.v = v
    }

    /// `M⁺ = V diag(1/s) Uᵀ`, `[columns, rows]` row-major, dropping singular values at or
    /// below `relativeCutoff · max(s)` as `numpy.linalg.pinv` does.
    func pseudoInverse(relativeCutoff: Double) -> [Double] {
        let threshold = relativeCutoff * (singularValues.first ?? 0)
        var result = [Double](repeating: 0, count: columns * rows)
        for (k, sigma) in singularValues.enumerated() where sigma > threshold {
            for i in 0..<columns {
                let scaled = v[i * columns + k] / sigma
                for j in 0..<rows { result[i * rows + j] += scaled * u[j * rows + k] }
            }
        }
        return result
    }
}

/// The singular value decomposition of a separable operator `A = R ⊗ K` on images of
/// `channels` planes, from the decompositions of `R` and `K`:
/// `A = (U_R ⊗ U_K)(Σ_R ⊗ Σ_K)(V_R ⊗ V_K)ᵀ` on each plane.
///
/// The singular value of channel `c`, row index `i` and column index `j` is
/// `s_R[i] · s_K[j]`, stored in `[c, i, j]` order; they are not sorted overall. `Vᵀ x`
/// lists the coordinates that pair with them first, in the same order, and then the
/// coordinates of the null space (`i ≥ rows of R` or `j ≥ rows of K`) in `[c, i, j]` order.
struct SeparableSingularValues<Scalar: TensorScalar> {
    let channels: Int
    let singularValues: Tensor<Scalar>
    /// Applies `Uᵀ` per plane as `U_Rᵀ Y U_K`; its adjoint applies `U`.
    private let uTranspose: SeparableMap<Scalar>
    /// Applies `Vᵀ` per plane as `V_Rᵀ X V_K`; its adjoint applies `V`.
    private let vTranspose: SeparableMap<Scalar>
    /// Moves the paired coordinates of `V_Rᵀ X V_K` to the front.
    private let order: ColumnIndices

    init(rowFactor: FactorSVD, columnFactor: FactorSVD, channels: Int) {
        self.channels = channels
        let (m, n) = (rowFactor.rows, rowFactor.columns)
        let (p, q) = (columnFactor.rows, columnFactor.columns)

        var values: [Scalar] = []
        for _ in 0..<channels {
            for i in 0..<m {
                for j in 0..<p { values.append(Scalar(rowFactor.singularValues[i] * columnFactor.singularValues[j])) }
            }
        }
        singularValues = Tensor(values)

        uTranspose = SeparableMap(
            rowMatrix: transposedMatrix(rowFactor.u, rows: m, columns: m),
            columnMatrix: transposedMatrix(columnFactor.u, rows: p, columns: p))
        vTranspose = SeparableMap(
            rowMatrix: transposedMatrix(rowFactor.v, rows: n, columns: n),
            columnMatrix: transposedMatrix(columnFactor.v, rows: q, columns: q))

        var paired: [Int32] = []
        var null: [Int32] = []
        for c in 0..<channels {
            for i in 0..<n {
                for j in 0..<q {
                    let index = Int32((c * n + i) * q + j)
                    if i < m && j < p { paired.append(index) } else { null.append(index) }
                }
            }
        }
        order = ColumnIndices(rows: 1, count: paired.count + null.count, indices: paired + null)
    }

    /// `[N, C, H, W]` → `[N, C · H · W]`.
    func applyVTranspose(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        gatherColumns(vTranspose.apply(x), order)
    }

    /// `[N, C · H · W]` → `[N, C, H, W]`.
    func applyV(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        let batch = z.shape[0]
        let planes = scatterColumns(z, order, length: order.count)
            .reshaped(to: [batch, channels, vTranspose.outputHeight, vTranspose.outputWidth])
        return vTranspose.applyAdjoint(planes)
    }

    /// `[N, C, h, w]` → `[N, C · h · w]`, with `h × w` the observation's plane.
    func applyUTranspose(_ y: Tensor<Scalar>) -> Tensor<Scalar> {
        uTranspose.apply(y).reshaped(to: [y.shape[0], -1])
    }

    /// `[N, C · h · w]` → `[N, C, h, w]`.
    func applyU(_ z: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(
            z.rank == 2 && z.shape[1] == singularValues.scalarCount,
            "applyU: input of shape \(z.shape) must be [N, \(singularValues.scalarCount)]")
        let planes = z.reshaped(to: [z.shape[0], channels, uTranspose.outputHeight, uTranspose.outputWidth])
        return uTranspose.applyAdjoint(planes)
    }
}

/// Returns the row-major transpose of a row-major `rows × columns` matrix as a tensor.
func transposedMatrix<Scalar: TensorScalar>(_ matrix: [Double], rows: Int, columns: Int) -> Tensor<Scalar> {
    var result = [Scalar](repeating: 0, count: rows * columns)
    for i in 0..<rows {
        for j in 0..<columns { result[j * rows + i] = Scalar(matrix[i * columns + j]) }
    }
    return Tensor(shape: [columns, rows], scalars: result)
}

/// Returns a row-major `rows × columns` Double matrix as a tensor.
func matrixTensor<Scalar: TensorScalar>(_ matrix: [Double], rows: Int, columns: Int) -> Tensor<Scalar> {
    Tensor(shape: [rows, columns], scalars: matrix.map { Scalar($0) })
}
