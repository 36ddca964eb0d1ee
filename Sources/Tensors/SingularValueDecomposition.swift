import CBLAS

/// The singular value decomposition `A = U diag(σ) Vᵀ` of an `m × n` matrix, with
/// σ₁ ≥ σ₂ ≥ … ≥ σ_k ≥ 0 and `k = min(m, n)`.
///
/// In the thin form `U` is `[m, k]` and `Vᵀ` is `[k, n]`. In the full form `U` is `[m, m]` and
/// `Vᵀ` is `[n, n]`: the extra columns of `U` and rows of `Vᵀ` complete orthonormal bases
/// and pair with no singular value.
public struct SingularValueDecomposition<Scalar: TensorScalar>: Sendable {
    /// U, with orthonormal columns.
    public let u: Tensor<Scalar>
    /// σ, `[k]`, in descending order.
    public let singularValues: Tensor<Scalar>
    /// Vᵀ, with orthonormal rows.
    public let vTransposed: Tensor<Scalar>
}

/// A singular value decomposition that LAPACK could not compute.
public struct SingularValueDecompositionError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public var description: String { message }
}

/// Computes the singular value decomposition of a rank-2 tensor in Double precision by
/// LAPACK's divide-and-conquer driver `dgesdd`, whatever `Scalar` is.
///
/// - Parameter fullMatrices: whether to return the square `U` and `Vᵀ` (as NumPy's
///   `full_matrices=True`) instead of the thin factors.
/// - Throws: `SingularValueDecompositionError` when `dgesdd` fails to converge or finds
///   a non-finite entry.
public func singularValueDecomposition<Scalar: TensorScalar>(
    _ matrix: Tensor<Scalar>, fullMatrices: Bool = false
) throws -> SingularValueDecomposition<Scalar> {
    precondition(matrix.rank == 2, "singularValueDecomposition: a tensor of shape \(matrix.shape) is not a matrix")
    let (m, n) = (matrix.shape[0], matrix.shape[1])
    precondition(m > 0 && n > 0, "singularValueDecomposition: the \(m) × \(n) matrix is empty")
    let k = Swift.min(m, n)
    let uColumns = fullMatrices ? m : k
    let vRows = fullMatrices ? n : k

    var a = matrix.scalars.map { Double($0) }
    var values = [Double](repeating: 0, count: k)
    var u = [Double](repeating: 0, count: m * uColumns)
    var vt = [Double](repeating: 0, count: vRows * n)
    let job = CChar(UInt8(ascii: fullMatrices ? "A" : "S"))
    let info = LAPACKE_dgesdd(
        Int32(LAPACK_ROW_MAJOR), job, Int32(m), Int32(n), &a, Int32(n), &values, &u, Int32(uColumns), &vt, Int32(n))
    guard info == 0 else {
        let reason = info > 0 ? "did not converge" : "rejected argument \(-info) (a non-finite entry?)"
        throw SingularValueDecompositionError(
            message: "singularValueDecomposition: LAPACK dgesdd \(reason) on the \(m) × \(n) matrix (info \(info))")
    }
    return SingularValueDecomposition(
        u: Tensor(shape: [m, uColumns], scalars: u.map { Scalar($0) }),
        singularValues: Tensor(shape: [k], scalars: values.map { Scalar($0) }),
        vTransposed: Tensor(shape: [vRows, n], scalars: vt.map { Scalar($0) }))
}
