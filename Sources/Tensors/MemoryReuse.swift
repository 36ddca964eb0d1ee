import CBLAS
import Foundation

/// The malloc settings that let tensor storage reuse freed memory instead of taking
/// fresh pages from the kernel, set once before the first tensor is allocated.
///
/// A training step allocates every intermediate tensor afresh and frees them all at the
/// end. With glibc's defaults the freed top of the heap goes back to the kernel (trimming)
/// and blocks above the mmap threshold are unmapped, so the next step touches new pages:
/// about 6,900 page faults per U-Net step (32×1×28×28, 27 MiB). Keeping freed memory cut
/// them to about a third and the step's CPU time by about 3 % (measured with `perf stat`
/// on benchmark-foundation).
///
/// This raises the mmap threshold to 32 MiB and the trim threshold to 1 GiB for the
/// whole process, so a process keeps up to its peak heap. It leaves malloc alone when the
/// user sets `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_`, or sets
/// `DEFT_KEEP_MALLOC=1`.
enum MemoryReuse {
    static let configured: Bool = {
        let environment = ProcessInfo.processInfo.environment
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil, environment["MALLOC_TRIM_THRESHOLD_"] == nil,
              environment["DEFT_KEEP_MALLOC"] == nil
        else { return false }
        // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems.
        return deft_set_malloc_thresholds(32 << 20, 1 << 30) == 1
    }()
}
