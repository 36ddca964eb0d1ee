import CBLAS
import Foundation

/// A failed LAPACK factorisation: the matrix is not positive definite, or singular.
public struct MatrixFactorizationError: Error, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// The eigenvalues λ₁ ≤ … ≤ λₙ and orthonormal eigenvectors (the columns of `vectors`)
/// of a symmetric matrix M = V diag(λ) Vᵀ.
public struct SymmetricEigendecomposition: Sendable {
    /// The eigenvalues in ascending order.
    public let values: [Double]
    /// V, whose column i is the eigenvector of `values[i]`.
    public let vectors: Matrix

    /// Returns V diag(f(λ)) Vᵀ, the matrix function f(M).
    public func applying(_ function: (Double) -> Double) -> Matrix {
        let n = values.count
        var scaled = vectors
        for j in 0..<n {
            let factor = function(values[j])
            for i in 0..<n {
                scaled[i, j] *= factor
            }
        }
        return scaled * vectors.transposed
    }
}

extension Matrix {
    /// Returns the lower-triangular Cholesky factor L with M = L Lᵀ (LAPACK `dpotrf`).
    ///
    /// - Throws: `MatrixFactorizationError` when M is not numerically positive definite.
    public func choleskyFactor() throws -> Matrix {
        precondition(isSquare, "choleskyFactor: a \(rows) × \(columns) matrix is not square")
        var factor = self
        let n = Int32(rows)
        let info = factor.elements.withUnsafeMutableBufferPointer { a in
            LAPACKE_dpotrf(Int32(LAPACK_ROW_MAJOR), CChar(UInt8(ascii: "L")), n, a.baseAddress, n)
        }
        guard info == 0 else {
            throw MatrixFactorizationError(
                "Cholesky factorisation failed (dpotrf info \(info)): the \(rows) × \(rows) matrix is not positive definite")
        }
        for i in 0..<rows {
            for j in (i + 1)..<Swift.max(i + 1, columns) {
                factor[i, j] = 0
            }
        }
        return factor
    }

    /// Returns M⁻¹ B for a symmetric positive definite M, by Cholesky (LAPACK `dposv`).
    ///
    /// - Throws: `MatrixFactorizationError` when M is not numerically positive definite.
    public func solvePositiveDefinite(_ rhs: Matrix) throws -> Matrix {
        precondition(isSquare, "solvePositiveDefinite: a \(rows) × \(columns) matrix is not square")
        precondition(rhs.rows == rows, "solvePositiveDefinite: right-hand side has \(rhs.rows) rows, the matrix \(rows)")
        var factor = symmetrized
        var solution = rhs
        let n = Int32(rows)
        let info = factor.elements.withUnsafeMutableBufferPointer { a in
            solution.elements.withUnsafeMutableBufferPointer { b in
                LAPACKE_dposv(
                    Int32(LAPACK_ROW_MAJOR), CChar(UInt8(ascii: "L")), n, Int32(rhs.columns), a.baseAddress, n,
                    b.baseAddress, Int32(rhs.columns))
            }
        }
        guard info == 0 else {
            throw MatrixFactorizationError(
                "Positive definite solve failed (dposv info \(info)): the \(rows) × \(rows) matrix is not positive definite")
        }
        return solution
    }

    /// Returns M⁻¹ v for a symmetric positive definite M.
    public func solvePositiveDefinite(_ rhs: [Double]) throws -> [Double] {
        try solvePositiveDefinite(Matrix(rows: rhs.count, columns: 1, elements: rhs)).elements
    }

    /// Returns M⁻¹ B for a square non-singular M, by LU with partial pivoting (LAPACK `dgesv`).
    ///
    /// - Throws: `MatrixFactorizationError` when M is exactly singular.
    public func solve(_ rhs: Matrix) throws -> Matrix {
        precondition(isSquare, "solve: a \(rows) × \(columns) matrix is not square")
        precondition(rhs.rows == rows, "solve: right-hand side has \(rhs.rows) rows, the matrix \(rows)")
        var factor = self
        var solution = rhs
        var pivots = Array(repeating: Int32(0), count: rows)
        let n = Int32(rows)
        let info = factor.elements.withUnsafeMutableBufferPointer { a in
            solution.elements.withUnsafeMutableBufferPointer { b in
                LAPACKE_dgesv(
                    Int32(LAPACK_ROW_MAJOR), n, Int32(rhs.columns), a.baseAddress, n, &pivots, b.baseAddress,
                    Int32(rhs.columns))
            }
        }
        guard info == 0 else {
            throw MatrixFactorizationError("LU solve failed (dgesv info \(info)): the \(rows) × \(rows) matrix is singular")
        }
        return solution
    }

    /// Returns M⁻¹ for a symmetric positive definite M.
    public func inversePositiveDefinite() throws -> Matrix {
        try solvePositiveDefinite(Matrix(identity: rows)).symmetrized
    }

    /// Returns ln det M for a symmetric positive definite M, as 2 Σ ln Lᵢᵢ of its Cholesky factor.
    public func logDeterminantPositiveDefinite() throws -> Double {
        let factor = try symmetrized.choleskyFactor()
        return 2 * factor.diagonal.reduce(0) { $0 + Foundation.log($1) }
    }

    /// Returns the eigendecomposition of a symmetric matrix (LAPACK `dsyevd`).
    ///
    /// The matrix is symmetrised first, so rounding asymmetry is ignored.
    public func symmetricEigendecomposition() throws -> SymmetricEigendecomposition {
        precondition(isSquare, "symmetricEigendecomposition: a \(rows) × \(columns) matrix is not square")
        var vectors = symmetrized
        var values = Array(repeating: 0.0, count: rows)
        let n = Int32(rows)
        let info = vectors.elements.withUnsafeMutableBufferPointer { a in
            LAPACKE_dsyevd(Int32(LAPACK_ROW_MAJOR), CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), n, a.baseAddress, n, &values)
        }
        guard info == 0 else {
            throw MatrixFactorizationError("Symmetric eigendecomposition failed to converge (dsyevd info \(info))")
        }
        return SymmetricEigendecomposition(values: values, vectors: vectors)
    }

    /// Returns the symmetric positive semi-definite square root M^{1/2} of a symmetric
    /// positive semi-definite M. Eigenvalues below zero by rounding are clamped to zero.
    public func symmetricSquareRoot() throws -> Matrix {
        try symmetricEigendecomposition().applying { Swift.max($0, 0).squareRoot() }.symmetrized
    }
}
