import XCTest
import Tensors

final class TensorArithmeticTests: XCTestCase {
    func testBroadcastRowAndColumn() {
        let a = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let row = Tensor<Double>([10, 20, 30])
        let column = Tensor<Double>(shape: [2, 1], scalars: [100, 200])
        XCTAssertEqual((a + row).scalars, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((a * column).scalars, [100, 200, 300, 800, 1000, 1200])
        XCTAssertEqual((row - column).shape, [2, 3])
        XCTAssertEqual((row - column).scalars, [-90, -80, -70, -190, -180, -170])
    }

    func testBroadcastMiddleAxis() {
        let a = testTensor([2, 3, 4])
        let b = testTensor([2, 1, 4], seed: 2)
        let c = a * b
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            XCTAssertEqual(c[i, j, k], a[i, j, k] * b[i, 0, k])
        } } }
    }

    func testBroadcastLayoutMergesContiguousAxes() {
        let layout = BroadcastLayout(lhsShape: [4, 5, 6], rhsShape: [4, 5, 6])!
        XCTAssertEqual(layout.extents, [120])
        let rowLayout = BroadcastLayout(lhsShape: [4, 5, 6], rhsShape: [6])!
        XCTAssertEqual(rowLayout.extents, [20, 6])
        XCTAssertEqual(rowLayout.rhsStrides, [0, 1])
        XCTAssertNil(BroadcastLayout(lhsShape: [2, 3], rhsShape: [4]))
    }

    func testUnaryFunctionsMatchLibm() {
        let x = testTensor([50]) * 4
        let logistic: (Double) -> Double = { 1 / (1 + Foundation.exp(-$0)) }
        var pairs: [(Tensor<Double>, (Double) -> Double)] = []
        pairs.append((exp(x), Foundation.exp))
        pairs.append((tanh(x), Foundation.tanh))
        pairs.append((sin(x), Foundation.sin))
        pairs.append((sigmoid(x), logistic))
        pairs.append((silu(x), { $0 * logistic($0) }))
        pairs.append((softplus(x), { Foundation.log1p(Foundation.exp($0)) }))
        pairs.append((relu(x), { Swift.max($0, 0) }))
        for (result, reference) in pairs {
            for (value, input) in zip(result.scalars, x.scalars) {
                XCTAssertEqual(value, reference(input), accuracy: 1e-14 * Swift.max(1, Swift.abs(reference(input))))
            }
        }
    }

    /// The Float tanh is a rational approximation; its error must stay within a few
    /// Float ulp (1.2e-7 relative) of the Double reference over the whole range.
    func testFloatTanhApproximation() {
        let inputs = (0..<20001).map { Float(-10 + Double($0) * 0.001) }
        let result = tanh(Tensor<Float>(inputs)).scalars
        var maxError = 0.0
        for (value, input) in zip(result, inputs) {
            maxError = Swift.max(maxError, Swift.abs(Double(value) - Foundation.tanh(Double(input))))
        }
        XCTAssertLessThan(maxError, 3.3e-7)
    }

    /// Filling by doubling copies writes every element, for counts that are not powers of two.
    func testRepeatingFillWritesEveryElement() {
        for count in [0, 1, 2, 7, 1000, 4099] {
            let filled = Tensor<Float>(shape: [count], repeating: -2.5)
            XCTAssertEqual(filled.scalars, [Float](repeating: -2.5, count: count), "count \(count)")
        }
        XCTAssertEqual(Tensor<Double>(shape: [3, 5], repeating: 0.25).scalars, [Double](repeating: 0.25, count: 15))
    }

    func testReductions() {
        let a = Tensor<Double>(shape: [2, 3, 2], scalars: (1...12).map(Double.init))
        XCTAssertEqual(a.sum(alongAxes: [1]).scalars, [9, 12, 27, 30])
        XCTAssertEqual(a.sum(alongAxes: [0, 2]).shape, [1, 3, 1])
        XCTAssertEqual(a.sum(alongAxes: [0, 2]).scalars, [18, 26, 34])
        XCTAssertEqual(a.sum(alongAxes: [-1]).scalars, [3, 7, 11, 15, 19, 23])
        XCTAssertEqual(a.max(alongAxes: [1]).scalars, [5, 6, 11, 12])
        XCTAssertEqual(a.sum(), 78)
        XCTAssertEqual(a.mean(alongAxes: [0, 1, 2]).scalar, 6.5)
    }

    func testMatmulAgainstNaiveProduct() {
        let a = testTensor([3, 4])
        let b = testTensor([4, 5], seed: 3)
        let c = matmul(a, b)
        for i in 0..<3 { for j in 0..<5 {
            let expected = (0..<4).reduce(0.0) { $0 + a[i, $1] * b[$1, j] }
            XCTAssertEqual(c[i, j], expected, accuracy: 1e-14)
        } }
        XCTAssertEqual(matmul(a.transposed(), b, transposeA: true).scalars, c.scalars)
        XCTAssertEqual(matmul(a, b.transposed(), transposeB: true).scalars, c.scalars)
    }

    func testBatchedMatmul() {
        let a = testTensor([2, 3, 4])
        let b = testTensor([2, 4, 5], seed: 4)
        let shared = testTensor([4, 5], seed: 5)
        let c = matmul(a, b)
        let d = matmul(a, shared)
        for batch in 0..<2 {
            let aSlice = a.slice(alongAxis: 0, batch..<(batch + 1)).reshaped(to: [3, 4])
            let bSlice = b.slice(alongAxis: 0, batch..<(batch + 1)).reshaped(to: [4, 5])
            XCTAssertEqual(c.slice(alongAxis: 0, batch..<(batch + 1)).scalars, matmul(aSlice, bSlice).scalars)
            XCTAssertEqual(d.slice(alongAxis: 0, batch..<(batch + 1)).scalars, matmul(aSlice, shared).scalars)
        }
    }

    func testConcatenateSliceGather() {
        let a = testTensor([2, 3, 4])
        let b = testTensor([2, 2, 4], seed: 6)
        let joined = Tensor.concatenate([a, b], alongAxis: 1)
        XCTAssertEqual(joined.shape, [2, 5, 4])
        XCTAssertEqual(joined.slice(alongAxis: 1, 0..<3), a)
        XCTAssertEqual(joined.slice(alongAxis: 1, 3..<5), b)
        let gathered = a.gathering(atIndices: [1, 1, 0])
        XCTAssertEqual(gathered.shape, [3, 3, 4])
        XCTAssertEqual(gathered.slice(alongAxis: 0, 0..<1), a.slice(alongAxis: 0, 1..<2))
        XCTAssertEqual(gathered.slice(alongAxis: 0, 2..<3), a.slice(alongAxis: 0, 0..<1))
    }

    func testTransposePermutation() {
        let a = testTensor([2, 3, 4])
        let t = a.transposed(permutation: [2, 0, 1])
        XCTAssertEqual(t.shape, [4, 2, 3])
        XCTAssertEqual(t[3, 1, 2], a[1, 2, 3])
    }

    func testInPlaceAddBroadcastsRow() {
        var a = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
        a += Tensor<Double>([10, 20])
        XCTAssertEqual(a.shape, [2, 2])
        XCTAssertEqual(a.scalars, [11, 22, 13, 24])
    }

    /// The fused `x + a · α + b` must give the bits of the three separate operations, in
    /// Float and Double, on a few elements and on 40,000 (split across threads). A kernel
    /// contracted into fused multiply-adds would round differently on some elements.
    func testFusedMultiplyAddMatchesSeparateOperations() {
        for count in [7, 40_000] {
            let (x, a, b) = (testTensor([count], seed: 3), testTensor([count], seed: 4), testTensor([count], seed: 5))
            let alpha = 0.37
            XCTAssertEqual(x.adding(a, times: alpha, plus: b), x + a * alpha + b, "Double, \(count) elements")

            let (xf, af, bf) = (Tensor<Float>(x), Tensor<Float>(a * 1e3), Tensor<Float>(b))
            let alphaf: Float = 0.0013
            XCTAssertEqual(xf.adding(af, times: alphaf, plus: bf), xf + af * alphaf + bf, "Float, \(count) elements")
        }
    }

    func testFusedMultiplyAddKeepsShape() {
        let x = testTensor([3, 4])
        let result = x.adding(testTensor([3, 4], seed: 2), times: 2, plus: testTensor([3, 4], seed: 3))
        XCTAssertEqual(result.shape, [3, 4])
        XCTAssertEqual(result[2, 1], x[2, 1] + testTensor([3, 4], seed: 2)[2, 1] * 2 + testTensor([3, 4], seed: 3)[2, 1])
    }

    func testCopyOnWrite() {
        let a = Tensor<Double>([1, 2, 3])
        var b = a
        b[0] = 10
        XCTAssertEqual(a.scalars, [1, 2, 3])
        XCTAssertEqual(b.scalars, [10, 2, 3])
    }
}
