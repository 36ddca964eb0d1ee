// OpenBLAS's CBLAS interface and LAPACKE, the C interface to LAPACK.
#include <cblas.h>
#include <lapacke.h>

// CPU feature tests for choosing OpenBLAS's kernels when its own detection fails.
static inline int deft_cpu_supports_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static inline int deft_cpu_supports_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

/// Tells the CPU that the caller is polling memory in a loop (`pause` on x86, `yield` on
/// ARM), which saves power and lets the other hardware thread of the core run.
static inline void deft_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// Float activations compiled for AVX-512 and AVX2 as well as the baseline target.
#include "element_kernels.h"

// glibc's malloc tuning, which Swift's Glibc module does not export.
#include <malloc.h>

/// Raises glibc's mmap threshold to `mmap_threshold` bytes and its trim threshold to
/// `trim_threshold` bytes; returns 1 when glibc accepted both.
static inline int deft_set_malloc_thresholds(int mmap_threshold, int trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
}

// Float normal draws from Philox blocks, compiled like the element kernels.
#include "normal_kernels.h"
