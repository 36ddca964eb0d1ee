// Standard normal draws in Float from Philox-4×32-10 blocks, compiled for AVX-512, for
// AVX2 with FMA and for the baseline target like element_kernels.h, so that the Philox
// rounds and the Box–Muller transform of many blocks run in vector registers.
//
// Block b of a fill is the Philox block at counter (stream, start + b) under the key
// `seed`, the same block as `PhiloxRandom.block` in Swift. Its words give the uniforms
// u₁ = (c₁ 2³² + c₀) 2⁻⁶⁴ + 2⁻⁵³ ∈ (0, 1] and u₂ = ⌊c₃ / 2⁸⌋ 2⁻²⁴ ∈ [0, 1), rounded to
// Float, and the two draws √(−2 ln u₁) (cos 2πu₂, sin 2πu₂). These are the uniforms of
// the Double transform in Swift to a relative 2⁻²³ (u₁) and 2⁻²⁴ (u₂), so a Float draw
// agrees with the rounded Double draw of the same block to a few Float rounding errors.
// Every operation is exactly rounded or identical in all variants (signed conversions
// only, no contraction), so each variant writes the same bits.
#pragma clang fp contract(off)

#include <stddef.h>
#include <stdint.h>

/// ln x for x in (0, 1], from the exponent and a degree-9 polynomial in the mantissa
/// with the coefficients of Cephes `logf`. Branch-free, so that it vectorises.
static inline __attribute__((always_inline)) float deft_log_unit(float x) {
    union { float f; uint32_t u; } bits = { x };
    int32_t exponent = (int32_t)(bits.u >> 23) - 126;
    bits.u = (bits.u & 0x007FFFFFu) | 0x3F000000u;  // the mantissa m in [0.5, 1)
    float m = bits.f;
    // Keep m in [√½, √2) around 1: below √½, double it and lower the exponent.
    int below = m < 0.70710678118654752440f;
    exponent -= below;
    float f = (below ? m + m : m) - 1.0f;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float e = (float)exponent;
    float y = p * f * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    return f + y + 0.693359375f * e;
}

/// Writes cos 2πu and sin 2πu for u in [0, 1). The turn u is split into the nearest
/// quarter turn q/4 and a rest r in [−1/8, 1/8]. The sine and cosine of 2πr come from
/// the Cephes `sinf` and `cosf` polynomials on [−π/4, π/4], rotated by q quarter turns.
static inline __attribute__((always_inline)) void deft_cos_sin_turn(float u, float *cosine, float *sine) {
    float quarter = __builtin_floorf(4.0f * u + 0.5f);
    float theta = (u - 0.25f * quarter) * 6.28318530717958647692f;
    float z = theta * theta;
    float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * theta + theta;
    float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
    int q = (int)quarter & 3;
    float cosine0 = (q & 1) ? s : c;
    float sine0 = (q & 1) ? c : s;
    *cosine = (q == 1 || q == 2) ? -cosine0 : cosine0;
    *sine = (q >= 2) ? -sine0 : sine0;
}

/// Writes the two normals of `blocks` consecutive blocks, each times `scale`, to out[2b]
/// and out[2b + 1]. The product is rounded on its own, as a separate multiplication
/// would, and a scale of 1 leaves every bit of the draws unchanged.
static inline __attribute__((always_inline)) void deft_philox_normal_loop(
    uint64_t seed, uint64_t stream, uint64_t start, float scale, float *restrict out, ptrdiff_t blocks
) {
    const uint32_t key0 = (uint32_t)seed, key1 = (uint32_t)(seed >> 32);
    const uint32_t stream0 = (uint32_t)stream, stream1 = (uint32_t)(stream >> 32);
    for (ptrdiff_t b = 0; b < blocks; b++) {
        uint64_t position = start + (uint64_t)b;
        uint32_t c0 = (uint32_t)position, c1 = (uint32_t)(position >> 32), c2 = stream0, c3 = stream1;
        uint32_t k0 = key0, k1 = key1;
#pragma clang loop unroll(full)
        for (int round = 0; round < 10; round++) {
            uint64_t product0 = (uint64_t)0xD2511F53u * c0;
            uint64_t product1 = (uint64_t)0xCD9E8D57u * c2;
            uint32_t next0 = (uint32_t)(product1 >> 32) ^ c1 ^ k0;
            uint32_t next2 = (uint32_t)(product0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)product1;
            c3 = (uint32_t)product0;
            c0 = next0;
            c2 = next2;
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        // u₁ = high + low: the top 24 bits of c₁, then the next 31 bits of c₁ and c₀,
        // which keep a full Float significand when u₁ is small (the tail of the draws).
        float high = (float)(int32_t)(c1 >> 8) * 0x1p-24f;
        float low = ((float)(int32_t)(((c1 & 0xFFu) << 23) | (c0 >> 9)) + 4.0f) * 0x1p-55f;
        float u1 = high + low;
        float u2 = (float)(int32_t)(c3 >> 8) * 0x1p-24f;
        float radius = __builtin_elementwise_sqrt(-2.0f * deft_log_unit(u1));
        float cosine, sine;
        deft_cos_sin_turn(u2, &cosine, &sine);
        out[2 * b] = radius * cosine * scale;
        out[2 * b + 1] = radius * sine * scale;
    }
}

__attribute__((target("avx512f,avx512dq,avx2,fma"))) static void deft_philox_normal_avx512(
    uint64_t seed, uint64_t stream, uint64_t start, float scale, float *restrict out, ptrdiff_t blocks) {
    deft_philox_normal_loop(seed, stream, start, scale, out, blocks);
}

__attribute__((target("avx2,fma"))) static void deft_philox_normal_avx2(
    uint64_t seed, uint64_t stream, uint64_t start, float scale, float *restrict out, ptrdiff_t blocks) {
    deft_philox_normal_loop(seed, stream, start, scale, out, blocks);
}

static void deft_philox_normal_baseline(
    uint64_t seed, uint64_t stream, uint64_t start, float scale, float *restrict out, ptrdiff_t blocks) {
    deft_philox_normal_loop(seed, stream, start, scale, out, blocks);
}

/// Fills out[0..<count) with the normals of blocks start, start + 1, …, times `scale`:
/// element i comes from block start + i/2, and an odd count drops the second draw of the
/// last block. `level` selects the variant as for the element kernels.
static inline void deft_philox_normal_f32(
    int level, uint64_t seed, uint64_t stream, uint64_t start, float scale, float *out, ptrdiff_t count
) {
    ptrdiff_t pairs = count / 2;
    if (level == 2) deft_philox_normal_avx512(seed, stream, start, scale, out, pairs);
    else if (level == 1) deft_philox_normal_avx2(seed, stream, start, scale, out, pairs);
    else deft_philox_normal_baseline(seed, stream, start, scale, out, pairs);
    if (count % 2 == 1) {
        float last[2];
        deft_philox_normal_baseline(seed, stream, start + (uint64_t)pairs, scale, last, 1);
        out[count - 1] = last[0];
    }
}
