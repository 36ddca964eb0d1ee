// Float element kernels of the activations, compiled three times: for AVX-512, for
// AVX2 with FMA, and for the baseline x86-64 target (SSE2) that Swift code is built
// for. Swift packages cannot raise the target CPU of one function, and the baseline
// build runs these loops four floats at a time, so the Tensors module calls these
// instead, choosing the variant once from `deft_element_kernel_level()`.
//
// Contraction into fused multiply-adds is off, so every variant rounds each operation
// as the Swift code does and returns the same bits on every CPU.
#pragma clang fp contract(off)

#include <stddef.h>

/// Returns 2 when the CPU and OS support AVX-512F, 1 for AVX2 with FMA, else 0.
static inline int deft_element_kernel_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

/// tanh(x) as Eigen's `generic_fast_tanh_float`: a [13/6] rational minimax fit on [-9, 9]
/// with an error of a few ulp, clamped outside (where tanh is ±1 in Float). Same operations
/// in the same order as `fastTanh` in ElementKernels.swift.
static inline __attribute__((always_inline)) float deft_fast_tanh(float input) {
    float x = input < -9.0f ? -9.0f : input;
    x = x > 9.0f ? 9.0f : x;
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p / q;
}

/// σ(x) = ½ (1 + tanh(x/2)).
static inline __attribute__((always_inline)) float deft_fast_sigmoid(float x) {
    return 0.5f + 0.5f * deft_fast_tanh(0.5f * x);
}

// Defines `deft_NAME_f32(level, PARAMETERS)`, which runs BODY for i in [0, n) compiled
// for the variant that `level` names.
#define DEFT_ELEMENT_KERNEL(NAME, PARAMETERS, ARGUMENTS, BODY) \
    static inline __attribute__((always_inline)) void deft_##NAME##_loop PARAMETERS { \
        for (ptrdiff_t i = 0; i < n; i++) { BODY; } \
    } \
    __attribute__((target("avx512f,avx2,fma"))) static void deft_##NAME##_avx512 PARAMETERS { \
        deft_##NAME##_loop ARGUMENTS; \
    } \
    __attribute__((target("avx2,fma"))) static void deft_##NAME##_avx2 PARAMETERS { \
        deft_##NAME##_loop ARGUMENTS; \
    } \
    static void deft_##NAME##_baseline PARAMETERS { \
        deft_##NAME##_loop ARGUMENTS; \
    } \
    static inline void deft_##NAME##_f32(int level, DEFT_UNPAREN PARAMETERS) { \
        if (level == 2) deft_##NAME##_avx512 ARGUMENTS; \
        else if (level == 1) deft_##NAME##_avx2 ARGUMENTS; \
        else deft_##NAME##_baseline ARGUMENTS; \
    }
#define DEFT_UNPAREN(...) __VA_ARGS__

#define DEFT_UNARY_PARAMETERS (const float *restrict x, float *restrict y, ptrdiff_t n)
#define DEFT_UNARY_ARGUMENTS (x, y, n)
#define DEFT_BINARY_PARAMETERS (const float *restrict a, const float *restrict dy, float *restrict y, ptrdiff_t n)
#define DEFT_BINARY_ARGUMENTS (a, dy, y, n)

// y = tanh(x), σ(x) and x σ(x).
DEFT_ELEMENT_KERNEL(tanh, DEFT_UNARY_PARAMETERS, DEFT_UNARY_ARGUMENTS, y[i] = deft_fast_tanh(x[i]))
DEFT_ELEMENT_KERNEL(sigmoid, DEFT_UNARY_PARAMETERS, DEFT_UNARY_ARGUMENTS, y[i] = 0.5f + 0.5f * deft_fast_tanh(0.5f * x[i]))
DEFT_ELEMENT_KERNEL(silu, DEFT_UNARY_PARAMETERS, DEFT_UNARY_ARGUMENTS, y[i] = x[i] * (0.5f + 0.5f * deft_fast_tanh(0.5f * x[i])))

// The pullbacks at x = a: dy σ(x)(1 + x(1 − σ(x))) for SiLU, dy σ(x)(1 − σ(x)) for the
// sigmoid and dy σ(x) for softplus.
DEFT_ELEMENT_KERNEL(silu_backward, DEFT_BINARY_PARAMETERS, DEFT_BINARY_ARGUMENTS,
    float s = deft_fast_sigmoid(a[i]); y[i] = dy[i] * s * (1.0f + a[i] * (1.0f - s)))
DEFT_ELEMENT_KERNEL(sigmoid_backward, DEFT_BINARY_PARAMETERS, DEFT_BINARY_ARGUMENTS,
    float s = deft_fast_sigmoid(a[i]); y[i] = dy[i] * s * (1.0f - s))
DEFT_ELEMENT_KERNEL(softplus_backward, DEFT_BINARY_PARAMETERS, DEFT_BINARY_ARGUMENTS,
    y[i] = dy[i] * deft_fast_sigmoid(a[i]))
