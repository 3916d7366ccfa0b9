/* Saline's float32 pow, included by saline_runtime.h.
 *
 * saline_powf(x, y) is C's powf: the same special cases (C11 Annex F), and finite results
 * within 0.51 ulp of the exact power. It has no tables and no branches, so gcc inlines it into
 * vector loops and vectorizes it: glibc's vector powf reads its tables with gathers, which cost
 * ~8 ns per element on the development machine. Compiled code calls it in every loop, vector
 * or scalar, so a pixel's value does not depend on whether its loop was vectorized.
 *
 * |x|^y = 2^(y log2 |x|), in double: |x| = 2^k m with m in [sqrt(1/2), sqrt(2)),
 * log2 m = s P(s^2) with s = (m - 1) / (m + 1) (relative error 2^-37.8), then
 * z = y (k + log2 m) = n + f with n an integer and |f| <= 1/2, 2^f = Q(f) (relative error
 * 2^-34.5) and 2^n added to the exponent bits. A double has the range for every z that a float
 * result can take (|z| is clamped to 200, past float's overflow and underflow), so the only
 * rounding to float is the last one. P and Q are near-minimax fits (Lawson's iteration on
 * Chebyshev nodes). The special cases are selects over the finite result.
 */
#ifndef SALINE_MATH_H
#define SALINE_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t saline_bits_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float saline_from_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t saline_bits_f64(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
static inline double saline_from_bits_f64(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

/* a^y for finite a > 0 and finite y: 0 or infinity where the result leaves float's range. */
static inline float saline_powf_finite(float a, float y) {
    /* k and m from a's bits as a double, where float's subnormals are normal numbers: the
     * split point 0x3fe6a09e60000000 is float's sqrt(1/2) (0x3f3504f3) */
    uint64_t bits = saline_bits_f64((double)a);
    int64_t k = ((int64_t)(bits - 0x3fe6a09e60000000u)) >> 52;
    double m = saline_from_bits_f64(bits - ((uint64_t)k << 52));
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s, s4 = s2 * s2;
    /* Estrin's scheme: the two halves of each polynomial run in parallel */
    double p01 = fma(0x1.ec709d12e1e7ap-1, s2, 0x1.71547652bede1p+1);
    double p23 = fma(0x1.a58d8fe9045cep-2, s2, 0x1.27777fda06daap-1);
    double p = fma(fma(0x1.5ce7cae6f44dap-2, s4, p23), s4, p01);
    double z = fma(s, p, (double)k) * (double)y;
    z = z < -200.0 ? -200.0 : z;
    z = z > 200.0 ? 200.0 : z;
    /* adding 1.5 * 2^52 rounds z to an integer n, which lands in the low bits */
    const double shifter = 0x1.8p52;
    double shifted = z + shifter;
    double f = z - (shifted - shifter);
    double f2 = f * f, f4 = f2 * f2;
    double q01 = fma(0x1.62e42ff11635cp-1, f, 0x1.ffffffffabbdfp-1);
    double q23 = fma(0x1.c6b08aaf14aecp-5, f, 0x1.ebfbe0a4be2a6p-3);
    double q45 = fma(0x1.5d8a70a2cb891p-10, f, 0x1.3b29dc4110071p-7);
    double q67 = fma(0x1.fe17656f04487p-17, f, 0x1.446a1fb49d30dp-13);
    double q = fma(fma(q67, f2, q45), f4, fma(q23, f2, q01));
    return (float)saline_from_bits_f64(saline_bits_f64(q) + (saline_bits_f64(shifted) << 52));
}

/* a where `take` (0 or 1), else b, with bit masks. Each special case below is a chain of
 * these, each on one comparison or on integer arithmetic: gcc 12 turns a chain of ?: into
 * branches, and a select on a combination of comparisons (x < 0 && y == 0) into mask types
 * it then fails to vectorize when some of them are loop-invariant. */
static inline float saline_pick_f32(int32_t take, float a, float b) {
    uint32_t mask = 0u - (uint32_t)take;
    return saline_from_bits_f32((saline_bits_f32(a) & mask) | (saline_bits_f32(b) & ~mask));
}

static inline float saline_powf(float x, float y) {
    const float inf = __builtin_inff();
    float a = fabsf(x), ya = fabsf(y);
    float r = saline_powf_finite(a, y);
    float grows = saline_pick_f32(y < 0.0f, 0.0f, inf); /* |x|^y for |x| = inf, y != 0 */
    float shrinks = saline_pick_f32(y < 0.0f, inf, 0.0f); /* |x|^y for x = 0, y != 0 */
    r = saline_pick_f32(a == 0.0f, shrinks, r);
    r = saline_pick_f32(a == inf, grows, r);
    /* whether y is an integer, and an odd one, from its bits: below 2^24, the fraction is the
     * mantissa's `below` lowest bits (the implicit one included); from 2^24 up, every float
     * (infinity too) is an even integer. y = 0 is left out: pow(x, 0) is 1. */
    uint32_t yb = saline_bits_f32(y);
    int32_t exponent = (int32_t)((yb >> 23) & 0xffu) - 127;
    int32_t below = 23 - exponent;
    below = below < 0 ? 0 : below;
    below = below > 24 ? 24 : below;
    uint32_t mantissa = (yb & 0x7fffffu) | 0x800000u;
    uint32_t integer = ((mantissa & ((1u << below) - 1u)) - 1u) >> 31;
    uint32_t odd = (mantissa >> below) & integer & ((uint32_t)(exponent - 24) >> 31);
    /* a negative base to an odd power: the result's sign */
    r = saline_from_bits_f32(saline_bits_f32(r) ^ ((saline_bits_f32(x) & (odd << 31))));
    /* a finite negative base to a power that is not an integer */
    float fractional = saline_pick_f32((int32_t)integer, r, __builtin_nanf(""));
    r = saline_pick_f32(x < 0.0f, saline_pick_f32(x > -inf, fractional, r), r);
    float above_one = saline_pick_f32(a < 1.0f, shrinks, grows);
    r = saline_pick_f32(ya == inf, saline_pick_f32(a == 1.0f, 1.0f, above_one), r);
    r = saline_pick_f32(x != x, x, r);
    r = saline_pick_f32(y != y, y, r);
    r = saline_pick_f32(x == 1.0f, 1.0f, r);
    return saline_pick_f32(y == 0.0f, 1.0f, r);
}

#endif /* SALINE_MATH_H */
