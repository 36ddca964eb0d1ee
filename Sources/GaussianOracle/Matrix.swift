import CBLAS
import Tensors

/// A dense real matrix in Double, stored row-major: the closed forms of the Gaussian
/// oracle are written with it.
///
/// Products go through BLAS (`cblas_dgemm`), and factorisations through LAPACKE (see
/// `MatrixFactorizations.swift`). Vectors are plain `[Double]`. The type is meant for
/// the small matrices of the oracle (dimensions up to a few hundred), not for batches
/// of samples, which are `Tensor`s.
public struct Matrix: Equatable, Sendable, CustomStringConvertible {
    public let rows: Int
    public let columns: Int
    /// The entries, row by row: entry (i, j) is `elements[i * columns + j]`.
    public var elements: [Double]

    /// Creates a matrix from its row-major entries.
    public init(rows: Int, columns: Int, elements: [Double]) {
        precondition(rows >= 0 && columns >= 0, "Matrix: rows \(rows) and columns \(columns) must be non-negative")
        precondition(
            elements.count == rows * columns,
            "Matrix: \(elements.count) elements do not fill \(rows) × \(columns)")
        self.rows = rows
        self.columns = columns
        self.elements = elements
    }

    /// Creates a matrix from its rows, which must all have the same length.
    public init(_ rowArrays: [[Double]]) {
        let columns = rowArrays.first?.count ?? 0
        for (index, row) in rowArrays.enumerated() {
            precondition(row.count == columns, "Matrix: row \(index) has \(row.count) entries, row 0 has \(columns)")
        }
        self.init(rows: rowArrays.count, columns: columns, elements: rowArrays.flatMap { $0 })
    }

    /// Creates a matrix of zeros.
    public init(zeros rows: Int, _ columns: Int) {
        self.init(rows: rows, columns: columns, elements: Array(repeating: 0, count: rows * columns))
    }

    /// Creates the n × n identity.
    public init(identity n: Int) {
        self.init(diagonal: Array(repeating: 1, count: n))
    }

    /// Creates a square matrix with `diagonal` on its diagonal and zeros elsewhere.
    public init(diagonal: [Double]) {
        let n = diagonal.count
        var elements = Array(repeating: 0.0, count: n * n)
        for i in 0..<n {
            elements[i * n + i] = diagonal[i]
        }
        self.init(rows: n, columns: n, elements: elements)
    }

    /// Creates a matrix from a rank-2 tensor of shape `[rows, columns]`.
    public init<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) {
        precondition(tensor.rank == 2, "Matrix: tensor of shape \(tensor.shape) must be rank 2")
        self.init(rows: tensor.shape[0], columns: tensor.shape[1], elements: tensor.scalars.map { Double($0) })
    }

    public subscript(row: Int, column: Int) -> Double {
        get { elements[row * columns + column] }
        set { elements[row * columns + column] = newValue }
    }

    public var isSquare: Bool { rows == columns }

    /// The rows as arrays.
    public var rowArrays: [[Double]] {
        (0..<rows).map { i in Array(elements[(i * columns)..<((i + 1) * columns)]) }
    }

    /// The diagonal entries.
    public var diagonal: [Double] {
        (0..<Swift.min(rows, columns)).map { self[$0, $0] }
    }

    /// The sum of the diagonal entries of a square matrix.
    public var trace: Double {
        precondition(isSquare, "Matrix.trace: a \(rows) × \(columns) matrix is not square")
        return diagonal.reduce(0, +)
    }

    public var transposed: Matrix {
        var result = Matrix(zeros: columns, rows)
        for i in 0..<rows {
            for j in 0..<columns {
                result[j, i] = self[i, j]
            }
        }
        return result
    }

    /// ½ (M + Mᵀ): removes the rounding asymmetry of products that are symmetric in exact
    /// arithmetic, before a symmetric factorisation.
    public var symmetrized: Matrix {
        precondition(isSquare, "Matrix.symmetrized: a \(rows) × \(columns) matrix is not square")
        return (self + transposed) * 0.5
    }

    /// The Frobenius norm √(Σ mᵢⱼ²).
    public var frobeniusNorm: Double {
        elements.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// The largest absolute entry.
    public var maximumAbsoluteEntry: Double {
        elements.reduce(0) { Swift.max($0, Swift.abs($1)) }
    }

    /// Returns the matrix as a tensor of shape `[rows, columns]`.
    public func tensor<Scalar: TensorScalar>(_ type: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        Tensor(shape: [rows, columns], scalars: elements.map { Scalar($0) })
    }

    public var description: String {
        rowArrays.map { row in row.map { String($0) }.joined(separator: " ") }.joined(separator: "\n")
    }
}

// MARK: - Arithmetic

extension Matrix {
    public static func + (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(
            lhs.rows == rhs.rows && lhs.columns == rhs.columns,
            "Matrix +: shapes \(lhs.rows) × \(lhs.columns) and \(rhs.rows) × \(rhs.columns) differ")
        return Matrix(rows: lhs.rows, columns: lhs.columns, elements: zip(lhs.elements, rhs.elements).map { $0 + $1 })
    }

    public static func - (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(
            lhs.rows == rhs.rows && lhs.columns == rhs.columns,
            "Matrix −: shapes \(lhs.rows) × \(lhs.columns) and \(rhs.rows) × \(rhs.columns) differ")
        return Matrix(rows: lhs.rows, columns: lhs.columns, elements: zip(lhs.elements, rhs.elements).map { $0 - $1 })
    }

    public static func * (lhs: Matrix, rhs: Double) -> Matrix {
        Matrix(rows: lhs.rows, columns: lhs.columns, elements: lhs.elements.map { $0 * rhs })
    }

    public static func * (lhs: Double, rhs: Matrix) -> Matrix {
        rhs * lhs
    }

    /// The matrix product, by `cblas_dgemm`.
    public static func * (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(
            lhs.columns == rhs.rows,
            "Matrix ×: inner dimensions differ for \(lhs.rows) × \(lhs.columns) and \(rhs.rows) × \(rhs.columns)")
        var result = Matrix(zeros: lhs.rows, rhs.columns)
        guard lhs.rows > 0 && rhs.columns > 0 && lhs.columns > 0 else { return result }
        lhs.elements.withUnsafeBufferPointer { a in
            rhs.elements.withUnsafeBufferPointer { b in
                result.elements.withUnsafeMutableBufferPointer { c in
                    cblas_dgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans,
                        Int32(lhs.rows), Int32(rhs.columns), Int32(lhs.columns),
                        1, a.baseAddress, Int32(lhs.columns), b.baseAddress, Int32(rhs.columns),
                        0, c.baseAddress, Int32(rhs.columns))
                }
            }
        }
        return result
    }

    /// The matrix–vector product M v.
    public static func * (lhs: Matrix, rhs: [Double]) -> [Double] {
        precondition(
            lhs.columns == rhs.count,
            "Matrix × vector: a \(lhs.rows) × \(lhs.columns) matrix cannot multiply a vector of length \(rhs.count)")
        return (0..<lhs.rows).map { i in
            var total = 0.0
            for j in 0..<lhs.columns {
                total += lhs.elements[i * lhs.columns + j] * rhs[j]
            }
            return total
        }
    }
}

// MARK: - Vectors

/// Returns x + y for vectors of equal length.
func add(_ x: [Double], _ y: [Double]) -> [Double] {
    precondition(x.count == y.count, "add: vector lengths \(x.count) and \(y.count) differ")
    return zip(x, y).map { $0 + $1 }
}

/// Returns x − y for vectors of equal length.
func subtract(_ x: [Double], _ y: [Double]) -> [Double] {
    precondition(x.count == y.count, "subtract: vector lengths \(x.count) and \(y.count) differ")
    return zip(x, y).map { $0 - $1 }
}

/// Returns a x.
func scale(_ x: [Double], by a: Double) -> [Double] {
    x.map { $0 * a }
}

/// Returns xᵀ y.
func dot(_ x: [Double], _ y: [Double]) -> Double {
    precondition(x.count == y.count, "dot: vector lengths \(x.count) and \(y.count) differ")
    return zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
}

/// Returns the outer product x yᵀ.
func outer(_ x: [Double], _ y: [Double]) -> Matrix {
    Matrix(rows: x.count, columns: y.count, elements: x.flatMap { xi in y.map { xi * $0 } })
}

/// Returns the Euclidean norm ‖x‖.
func norm(_ x: [Double]) -> Double {
    dot(x, x).squareRoot()
}
