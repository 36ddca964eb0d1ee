import Dispatch
import Foundation

// Splitting work across the cores. The tensor kernels parallelise at one level only: a
// kernel called inside a parallel chunk runs on its own thread, because the chunks
// already occupy every core and a second level of splitting only adds hand-offs.

/// The number of cores, read once: `ProcessInfo.activeProcessorCount` took 8.6 µs per
/// call on Linux (Swift 6.3.1, 2-core development machine), longer than many kernels.
let processorCount = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

/// Runs `body` over `0..<count` in contiguous chunks, one per core, on the calling thread
/// and the helpers of `WorkerTeam` when `count` is at least twice `minimumChunk`, else
/// on the calling thread. Inside another call's chunk it also runs on the calling
/// thread, in one chunk.
public func parallelChunks(_ count: Int, minimumChunk: Int, _ body: (Range<Int>) -> Void) {
    let chunks = Swift.min(processorCount, count / Swift.max(minimumChunk, 1))
    if chunks <= 1 || ParallelRegion.isActive {
        body(0..<count)
        return
    }
    WorkerTeam.shared.run(chunks: chunks) { chunk in
        let lower = count * chunk / chunks
        let upper = count * (chunk + 1) / chunks
        ParallelRegion.run { body(lower..<upper) }
    }
}

/// The per-thread mark of code running inside a chunk of `parallelChunks`.
enum ParallelRegion {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the calling thread is running a parallel chunk.
    static var isActive: Bool {
        pthread_getspecific(key) != nil
    }

    /// Runs `body` marked as a parallel chunk.
    static func run(_ body: () -> Void) {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, previous) }
        body()
    }
}

/// Computes one row-major GEMM `C ← α op(A) op(B) + β C` through `gemm`, split into one
/// block of rows or columns of C per core when the product is large and the caller is
/// not already in a parallel chunk. `gemm` receives the block's `m`, `n` and the
/// offset pointers into A, B and C, with the leading dimensions unchanged.
///
/// OpenBLAS runs on one thread (see `BLASRuntime`), so this is how one large product
/// uses every core. The blocks are independent products with the same k, so the result
/// does not depend on the number of cores.
@inline(__always)
func splitGEMM<T>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, c: UnsafeMutablePointer<T>, ldc: Int,
    _ gemm: (_ m: Int, _ n: Int, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>) -> Void
) {
    // 2²¹ multiply–adds take about 40 µs on one core at 100 GFLOP/s. Smaller products stay
    // whole: OpenBLAS 0.3.21 computes some small products with other kernels that sum
    // in another order (a 512×2×64 product gave other bits than the same rows of a
    // 768×2×64 one), so splitting them could make their bits depend on the core count.
    let multiplyAdds = m * n * k
    guard processorCount > 1, multiplyAdds >= 1 << 21, BLASRuntime.usesSingleThread, !ParallelRegion.isActive else {
        gemm(m, n, a, b, c)
        return
    }

    // Split the longer side of C, in multiples of 16 so every block keeps whole
    // vector-register panels.
    let splitsRows = m >= n
    let extent = splitsRows ? m : n
    let blocks = Swift.min(processorCount, extent / 32)
    guard blocks > 1 else {
        gemm(m, n, a, b, c)
        return
    }
    WorkerTeam.shared.run(chunks: blocks) { block in
        let lower = (extent * block / blocks) / 16 * 16
        let upper = block == blocks - 1 ? extent : (extent * (block + 1) / blocks) / 16 * 16
        ParallelRegion.run {
            if splitsRows {
                // Rows of op(A): rows of A, or columns of a transposed A.
                let aBlock = transposeA ? a + lower : a + lower * lda
                gemm(upper - lower, n, aBlock, b, c + lower * ldc)
            } else {
                // Columns of op(B): columns of B, or rows of a transposed B.
                let bBlock = transposeB ? b + lower * ldb : b + lower
                gemm(m, upper - lower, a, bBlock, c + lower)
            }
        }
    }
}
