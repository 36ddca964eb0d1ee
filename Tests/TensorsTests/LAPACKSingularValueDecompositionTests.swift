import Tensors
import XCTest

/// The LAPACK singular value decomposition on wide, tall and rank-deficient matrices.
///
/// Reconstruction and orthogonality hold to rounding in Double, an estimated 1e-15 for
/// entries of order 1 in matrices this small, so 1e-12 separates rounding from a wrong factor
/// or layout.
final class LAPACKSingularValueDecompositionTests: XCTestCase {
    let tolerance = 1e-12

    private func maximumAbsoluteDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    }

    private func identity(_ n: Int) -> Tensor<Double> {
        var scalars = [Double](repeating: 0, count: n * n)
        for i in 0..<n { scalars[i * n + i] = 1 }
        return Tensor(shape: [n, n], scalars: scalars)
    }

    private func assertDecomposition(_ a: Tensor<Double>, fullMatrices: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let svd = try singularValueDecomposition(a, fullMatrices: fullMatrices)
        let (m, n) = (a.shape[0], a.shape[1])
        let k = Swift.min(m, n)
        XCTAssertEqual(svd.u.shape, [m, fullMatrices ? m : k], file: file, line: line)
        XCTAssertEqual(svd.vTransposed.shape, [fullMatrices ? n : k, n], file: file, line: line)
        XCTAssertEqual(svd.singularValues.shape, [k], file: file, line: line)

        let values = svd.singularValues.scalars
        for i in 1..<k {
            XCTAssertGreaterThanOrEqual(values[i - 1], values[i], "singular values not descending", file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(values[k - 1], 0, file: file, line: line)

        // A = U[:, :k] diag(σ) Vᵀ[:k, :].
        let leading = svd.u.slice(alongAxis: 1, 0..<k) * svd.singularValues.reshaped(to: [1, k])
        let reconstructed = matmul(leading, svd.vTransposed.slice(alongAxis: 0, 0..<k))
        XCTAssertLessThan(maximumAbsoluteDifference(reconstructed, a), tolerance, "U Σ Vᵀ ≠ A", file: file, line: line)

        let uColumns = svd.u.shape[1]
        let vRows = svd.vTransposed.shape[0]
        XCTAssertLessThan(
            maximumAbsoluteDifference(matmul(svd.u, svd.u, transposeA: true), identity(uColumns)), tolerance,
            "UᵀU ≠ I", file: file, line: line)
        XCTAssertLessThan(
            maximumAbsoluteDifference(matmul(svd.vTransposed, svd.vTransposed, transposeB: true), identity(vRows)), tolerance,
            "Vᵀ V ≠ I", file: file, line: line)
    }

    func testWideMatrix() throws {
        try assertDecomposition(testTensor([5, 7], seed: 3), fullMatrices: false)
        try assertDecomposition(testTensor([5, 7], seed: 3), fullMatrices: true)
    }

    func testTallMatrix() throws {
        try assertDecomposition(testTensor([7, 5], seed: 4), fullMatrices: false)
        try assertDecomposition(testTensor([7, 5], seed: 4), fullMatrices: true)
    }

    func testRankDeficientMatrixHasZeroValues() throws {
        // The rank-2 product of [5, 2] and [2, 7] factors.
        let a = matmul(testTensor([5, 2], seed: 5), testTensor([2, 7], seed: 6))
        try assertDecomposition(a, fullMatrices: true)
        let values = try singularValueDecomposition(a).singularValues.scalars
        XCTAssertGreaterThan(values[1], 0.1)
        for value in values[2...] {
            XCTAssertLessThan(value, 1e-14 * values[0])
        }
    }

    func testKnownDiagonalValues() throws {
        let a = Tensor<Double>(shape: [2, 3], scalars: [0, 3, 0, -2, 0, 0])
        let values = try singularValueDecomposition(a).singularValues.scalars
        XCTAssertEqual(values[0], 3, accuracy: tolerance)
        XCTAssertEqual(values[1], 2, accuracy: tolerance)
    }

    func testFloatMatchesDouble() throws {
        let a = testTensor([4, 6], seed: 7)
        let double = try singularValueDecomposition(a).singularValues.scalars
        let float = try singularValueDecomposition(Tensor<Float>(a)).singularValues.scalars
        for (d, f) in zip(double, float) {
            XCTAssertEqual(Double(f), d, accuracy: 1e-6 * double[0])
        }
    }
}
