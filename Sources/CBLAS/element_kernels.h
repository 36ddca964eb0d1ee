// Float element kernels of the activations, compiled three times: for AVX-512, for
// AVX2 with FMA, and for the baseline x86-64 target (SSE2) that Swift code is built
// for. Swift packages cannot raise the target CPU of one function, and the baseline
// build runs these loops four floats at a time, so the Tensors module calls these
// instead, choosing the variant once from `deft_element_kernel_level()`.
//
// The loops work on explicit vectors of 16 floats and finish with single floats.
// Swift's Clang importer compiles these headers optimising for size, so Clang's own
// vectorisation of a plain loop masks every iteration for the tail. In a standalone
// `clang -Os` build on an AMD EPYC (Zen 4), such a tanh loop was 1.2 to 1.7 times
// slower with AVX-512 and 4.8 times slower with AVX2 than these loops.
//
// Contraction into fused multiply-adds is off, so every variant rounds each operation
// as the Swift code does and returns the same bits on every CPU. The tanh polynomials
// use explicit fused multiply-adds, which are exactly rounded everywhere: vector
// instructions in the AVX2 and AVX-512 variants, and calls to libm's fmaf in the
// baseline variant. That makes the baseline variant about 30 times slower than the
// others, but only CPUs without AVX2 and FMA run it.
#pragma clang fp contract(off)

#include <stddef.h>

/// 16 floats, one AVX-512 register or two AVX2 registers.
typedef float deft_f32x16 __attribute__((ext_vector_type(16)));
/// The same, for loads and stores at any float boundary.
typedef float deft_f32x16_unaligned __attribute__((ext_vector_type(16), aligned(4)));

/// Returns 2 when the CPU and OS support AVX-512F, 1 for AVX2 with FMA, else 0.
static inline int deft_element_kernel_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

// The functions below are statement-expression macros over a type T, float or
// deft_f32x16, so that the vector and the single-float code of a kernel share one text.
// (Inline functions taking vectors would need the target attributes of each variant.)

/// tanh(x) as Eigen's `generic_fast_tanh_float` (MathFunctionsImpl.h, the version that
/// clamps at ±9): a [13/6] rational minimax fit on [-9, 9], clamped outside, where tanh
/// is ±1 in Float. The polynomials are evaluated by fused multiply-adds, as Eigen's
/// `pmadd` does on CPUs with FMA. The error is below 3.3e-7 (ElementKernelTests), and a
/// NaN stays NaN. Same operations in the same order as `fastTanh` in ElementKernels.swift.
#define DEFT_FAST_TANH(T, input) ({ \
    T deft_x = (input); \
    deft_x = deft_x < -9.0f ? (T)-9.0f : deft_x; \
    deft_x = deft_x > 9.0f ? (T)9.0f : deft_x; \
    T deft_x2 = deft_x * deft_x; \
    T deft_p = (T)-2.76076847742355e-16f; \
    deft_p = __builtin_elementwise_fma(deft_p, deft_x2, (T)2.00018790482477e-13f); \
    deft_p = __builtin_elementwise_fma(deft_p, deft_x2, (T)-8.60467152213735e-11f); \
    deft_p = __builtin_elementwise_fma(deft_p, deft_x2, (T)5.12229709037114e-08f); \
    deft_p = __builtin_elementwise_fma(deft_p, deft_x2, (T)1.48572235717979e-05f); \
    deft_p = __builtin_elementwise_fma(deft_p, deft_x2, (T)6.37261928875436e-04f); \
    deft_p = __builtin_elementwise_fma(deft_p, deft_x2, (T)4.89352455891786e-03f); \
    deft_p = deft_p * deft_x; \
    T deft_q = (T)1.19825839466702e-06f; \
    deft_q = __builtin_elementwise_fma(deft_q, deft_x2, (T)1.18534705686654e-04f); \
    deft_q = __builtin_elementwise_fma(deft_q, deft_x2, (T)2.26843463243900e-03f); \
    deft_q = __builtin_elementwise_fma(deft_q, deft_x2, (T)4.89352518554385e-03f); \
    deft_p / deft_q; \
})

/// σ(x) = ½ (1 + tanh(x/2)).
#define DEFT_FAST_SIGMOID(T, x) (0.5f + 0.5f * DEFT_FAST_TANH(T, 0.5f * (x)))

// Defines `deft_NAME_f32(level, PARAMETERS)`, which runs LOOP compiled for the variant
// that `level` names.
#define DEFT_KERNEL_VARIANTS(NAME, PARAMETERS, ARGUMENTS, LOOP) \
    static inline __attribute__((always_inline)) void deft_##NAME##_loop PARAMETERS { \
        LOOP; \
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

#define DEFT_LOAD(pointer) (*(const deft_f32x16_unaligned *)(pointer))
#define DEFT_STORE(pointer) (*(deft_f32x16_unaligned *)(pointer))

// Defines `deft_NAME_f32(level, x, y, n)`, which writes y[i] = EXPRESSION(T, x[i]) for
// i in [0, n).
#define DEFT_UNARY_KERNEL(NAME, EXPRESSION) \
    DEFT_KERNEL_VARIANTS(NAME, (const float *restrict x, float *restrict y, ptrdiff_t n), (x, y, n), \
        ptrdiff_t i = 0; \
        for (; i + 16 <= n; i += 16) { DEFT_STORE(y + i) = EXPRESSION(deft_f32x16, DEFT_LOAD(x + i)); } \
        for (; i < n; i++) { y[i] = EXPRESSION(float, x[i]); })

// Defines `deft_NAME_f32(level, a, dy, y, n)`, which writes y[i] = EXPRESSION(T, a[i],
// dy[i]) for i in [0, n).
#define DEFT_BINARY_KERNEL(NAME, EXPRESSION) \
    DEFT_KERNEL_VARIANTS(NAME, (const float *restrict a, const float *restrict dy, float *restrict y, ptrdiff_t n), \
        (a, dy, y, n), \
        ptrdiff_t i = 0; \
        for (; i + 16 <= n; i += 16) { \
            DEFT_STORE(y + i) = EXPRESSION(deft_f32x16, DEFT_LOAD(a + i), DEFT_LOAD(dy + i)); \
        } \
        for (; i < n; i++) { y[i] = EXPRESSION(float, a[i], dy[i]); })

// y = tanh(x), σ(x) and x σ(x).
#define DEFT_TANH(T, x) DEFT_FAST_TANH(T, x)
#define DEFT_SIGMOID(T, x) DEFT_FAST_SIGMOID(T, x)
#define DEFT_SILU(T, x) ({ T deft_input = (x); deft_input * DEFT_FAST_SIGMOID(T, deft_input); })
DEFT_UNARY_KERNEL(tanh, DEFT_TANH)
DEFT_UNARY_KERNEL(sigmoid, DEFT_SIGMOID)
DEFT_UNARY_KERNEL(silu, DEFT_SILU)

// The pullbacks at x = a: dy σ(x)(1 + x(1 − σ(x))) for SiLU, dy σ(x)(1 − σ(x)) for the
// sigmoid and dy σ(x) for softplus.
#define DEFT_SILU_BACKWARD(T, a, dy) ({ \
    T deft_a = (a); \
    T deft_s = DEFT_FAST_SIGMOID(T, deft_a); \
    (dy) * deft_s * (1.0f + deft_a * (1.0f - deft_s)); \
})
#define DEFT_SIGMOID_BACKWARD(T, a, dy) ({ \
    T deft_s = DEFT_FAST_SIGMOID(T, a); \
    (dy) * deft_s * (1.0f - deft_s); \
})
#define DEFT_SOFTPLUS_BACKWARD(T, a, dy) ((dy) * DEFT_FAST_SIGMOID(T, a))
DEFT_BINARY_KERNEL(silu_backward, DEFT_SILU_BACKWARD)
DEFT_BINARY_KERNEL(sigmoid_backward, DEFT_SIGMOID_BACKWARD)
DEFT_BINARY_KERNEL(softplus_backward, DEFT_SOFTPLUS_BACKWARD)
