import Foundation
import XCTest
import Tensors

final class ParallelismTests: XCTestCase {
    /// Products large enough to be split into one block per core (at least 2²¹
    /// multiply–adds) agree with a Double loop, for tall and wide results, every
    /// combination of transposes and both precisions. The Float tolerance 1e-3 is about
    /// 20 roundings of relative size 6e-8 on sums of 160 to 600 products of magnitude ≤ 1.
    func testSplitProductsMatchNaiveLoop() {
        for (m, n, k) in [(600, 40, 160), (40, 600, 160), (131, 97, 600)] {
            let a = testTensor([m, k], seed: 3)
            let b = testTensor([k, n], seed: 4)
            let expected = naiveProduct(a, b)
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let lhs = transposeA ? a.transposed() : a
                    let rhs = transposeB ? b.transposed() : b
                    let product = matmul(lhs, rhs, transposeA: transposeA, transposeB: transposeB)
                    let floatProduct = matmul(Tensor<Float>(lhs), Tensor<Float>(rhs), transposeA: transposeA, transposeB: transposeB)
                    XCTAssertLessThan(maxDifference(product, expected), 1e-12, "Double \(m)×\(n)×\(k) transposeA \(transposeA) transposeB \(transposeB)")
                    XCTAssertLessThan(maxDifference(Tensor<Double>(floatProduct), expected), 1e-3, "Float \(m)×\(n)×\(k) transposeA \(transposeA) transposeB \(transposeB)")
                }
            }
        }
    }

    /// A parallel loop that calls another covers every index exactly once at both levels.
    func testNestedParallelChunksCoverEveryIndex() {
        let (outer, inner) = (8, 1 << 12)
        var counts = [Int](repeating: 0, count: outer * inner)
        counts.withUnsafeMutableBufferPointer { buffer in
            parallelChunks(outer, minimumChunk: 1) { rows in
                for row in rows {
                    parallelChunks(inner, minimumChunk: 1) { columns in
                        for column in columns { buffer[row * inner + column] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(counts.min(), 1)
        XCTAssertEqual(counts.max(), 1)
    }

    /// Many small tasks in a row, as an SDE solve issues them, each cover every chunk
    /// exactly once whether or not the helpers are polling.
    func testWorkerTeamCoversEveryChunkOfEachTask() {
        let chunks = 7
        var counts = [Int](repeating: 0, count: 500 * chunks)
        counts.withUnsafeMutableBufferPointer { buffer in
            for task in 0..<500 {
                if task.isMultiple(of: 100) { usleep(1_000) }  // lets the helpers fall asleep
                parallelChunks(chunks, minimumChunk: 1) { range in
                    for chunk in range { buffer[task * chunks + chunk] += 1 }
                }
            }
        }
        XCTAssertEqual(counts.min(), 1)
        XCTAssertEqual(counts.max(), 1)
    }

    /// Threads that call `parallelChunks` at the same time each get all their chunks run;
    /// a caller that finds the helpers busy runs its chunks itself.
    func testConcurrentCallersEachCoverTheirChunks() {
        let (callers, tasks, chunks) = (4, 200, 5)
        var counts = [Int](repeating: 0, count: callers * tasks * chunks)
        counts.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: callers) { caller in
                for task in 0..<tasks {
                    parallelChunks(chunks, minimumChunk: 1) { range in
                        for chunk in range { base[(caller * tasks + task) * chunks + chunk] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(counts.min(), 1)
        XCTAssertEqual(counts.max(), 1)
    }

    private func naiveProduct(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<Double> {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        let (x, y) = (a.scalars, b.scalars)
        var result = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let aip = x[i * k + p]
                for j in 0..<n { result[i * n + j] += aip * y[p * n + j] }
            }
        }
        return Tensor(shape: [m, n], scalars: result)
    }

    private func maxDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    }
}
