import CBLAS
import Foundation

/// The OpenBLAS kernel selection, checked once before the first BLAS call.
///
/// Debian's OpenBLAS 0.3.21 is built for many CPUs and picks its kernels from the CPU's
/// model identifiers. On virtual machines that report a generic model ("Intel(R) Xeon(R)
/// Processor") it falls back to its Prescott (SSE3) kernels, whose sgemm runs several
/// times slower than the AVX2 or AVX-512 kernels the CPU supports. When the user has not
/// set `OPENBLAS_CORETYPE` and OpenBLAS reports Prescott on a CPU with AVX2 and FMA, this
/// re-runs OpenBLAS's kernel selection with the matching core type: SkylakeX where
/// AVX-512 (F, BW, DQ, VL) is present, else Haswell. Set `OPENBLAS_CORETYPE` to choose
/// another, or `DEFT_KEEP_OPENBLAS_CORE=1` to keep OpenBLAS's own choice.
public enum BLASRuntime {
    /// The kernel family OpenBLAS uses, such as "Haswell".
    public static var coreName: String {
        _ = configured
        return openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// Runs the kernel check and the thread setting once; every tensor BLAS call reads it first.
    static let configured: Bool = {
        let reselected = reselectKernels()
        _ = usesSingleThread
        return reselected
    }()

    /// Whether OpenBLAS runs every call on the calling thread, which is the case unless
    /// the user sets `OPENBLAS_NUM_THREADS`.
    ///
    /// The tensor kernels split their work across the cores themselves: convolutions
    /// run one image per core, and `Scalar.gemm` splits a large product into one block of
    /// rows or columns per core. OpenBLAS's own threads would compete with those workers,
    /// and while idle they spin in `sched_yield`, which took 40 % of the CPU time of a
    /// U-Net training step on 2 cores (OpenBLAS 0.3.21, measured with `perf`).
    static let usesSingleThread: Bool = {
        guard ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil else { return false }
        openblas_set_num_threads(1)
        return true
    }()

    /// Re-runs OpenBLAS's kernel selection when it chose Prescott on a CPU with AVX2;
    /// returns whether it did.
    private static func reselectKernels() -> Bool {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["DEFT_KEEP_OPENBLAS_CORE"] == nil else { return false }
        guard let name = openblas_get_corename().map({ String(cString: $0) }), name.lowercased() == "prescott" else {
            return false
        }
        guard deft_cpu_supports_avx2_fma() != 0 else { return false }

        // gotoblas_dynamic_init and _quit exist only in OpenBLAS builds with DYNAMIC_ARCH,
        // so they are looked up at run time rather than linked.
        guard let handle = dlopen(nil, RTLD_NOW),
              let quit = dlsym(handle, "gotoblas_dynamic_quit"),
              let initialize = dlsym(handle, "gotoblas_dynamic_init")
        else { return false }
        typealias Hook = @convention(c) () -> Void
        // OpenBLAS reads the core type from the environment; it is removed again so that
        // child processes and later checks see the user's environment unchanged.
        setenv("OPENBLAS_CORETYPE", deft_cpu_supports_avx512() != 0 ? "SkylakeX" : "Haswell", 1)
        unsafeBitCast(quit, to: Hook.self)()
        unsafeBitCast(initialize, to: Hook.self)()
        unsetenv("OPENBLAS_CORETYPE")
        return true
    }
}
