/* Saline's float32 pow and fast_pow, included by saline_runtime.h.
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
 *
 * saline_fast_powf(x, y) has the same special cases and finite results within 1.5 + |y| ulp
 * (1.16 ulp measured for y = 1/2.2, 3.15 for y = 3, 10.5 for y = 10). It is the same method in
 * float arithmetic, twice the lanes of a vector and no conversions: on the development machine
 * 0.6 of saline_powf's time in a loop of its own, 0.75 in brightness_contrast_gamma. log2 m = s P(s^2) as above (relative error 2^-30.4
 * before rounding), y k split exactly into a float and its error (by fma) so that z's rounding
 * costs nothing when k is large, 2^f = 1 + f Q(f) (relative error 2^-28.9) and 2^n applied by
 * two multiplications (so results round correctly into the subnormals). What is left is the
 * float rounding of log2 m, about an ulp of it, which y scales.
 */
#ifndef SALINE_MATH_H
#define SALINE_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Forced inline: gcc 12 judged saline_fast_powf too large to inline into a loop holding six
 * calls of it, and a call in a loop keeps that loop scalar (10x slower). */
#define SALINE_MATH_INLINE static inline __attribute__((always_inline))

static inline uint32_t saline_bits_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float saline_from_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t saline_bits_f64(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
static inline double saline_from_bits_f64(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

/* a^y for finite a > 0 and finite y: 0 or infinity where the result leaves float's range. */
SALINE_MATH_INLINE float saline_powf_finite(float a, float y) {
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

/* a where `mask` is all ones, b where it is 0 */
static inline uint32_t saline_blend_bits(uint32_t mask, uint32_t a, uint32_t b) { return (a & mask) | (b & ~mask); }

/* all ones where `take` (0 or 1), else 0 */
static inline uint32_t saline_mask(int32_t take) { return 0u - (uint32_t)take; }

/* a where `take` (0 or 1), else b, with bit masks. Each special case below is a chain of
 * these, each on one comparison or on integer arithmetic: gcc 12 turns a chain of ?: into
 * branches, and a select on a combination of comparisons (x < 0 && y == 0) into mask types
 * it then fails to vectorize when some of them are loop-invariant. */
static inline float saline_pick_f32(int32_t take, float a, float b) {
    /* written out: through saline_blend_bits and saline_mask, gcc 12 emitted 173 instead of 152
     * vector instructions for 16 lanes of saline_fast_powf */
    uint32_t mask = 0u - (uint32_t)take;
    return saline_from_bits_f32((saline_bits_f32(a) & mask) | (saline_bits_f32(b) & ~mask));
}

/* a^y for finite a > 0 and finite y, in float arithmetic (saline_fast_powf): 0 or infinity
 * where the result leaves float's range. `unit` (a constant) where a <= 1 and y >= 0 are known
 * (scheduler.specialize_pow): the same result with one blend instead of four, and one scale
 * instead of two (below); brightness_contrast_gamma's vector loop 0.59 -> 0.53 ns a value in cache. */
SALINE_MATH_INLINE float saline_fast_powf_method(float a, float y, int unit) {
    /* a subnormal a is scaled by 2^24 into the normal range, and k takes the 24 back. Where
     * a <= 1 every a is scaled: exact, and k - 24 and m come out the same for a normal a (its
     * bits gain 24 << 23, so k gains 24 and m is unchanged) */
    int32_t subnormal = unit ? 1 : a < 0x1p-126f;
    uint32_t bits = saline_bits_f32(unit ? a * 0x1p24f : saline_pick_f32(subnormal, a * 0x1p24f, a));
    int32_t k = ((int32_t)(bits - 0x3f3504f3u)) >> 23; /* 0x3f3504f3 is sqrt(1/2) */
    float m = saline_from_bits_f32(bits - ((uint32_t)k << 23));
    float kf = (float)(k - 24 * subnormal);
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float log2m = s * fmaf(fmaf(fmaf(0x1.ba1902p-2f, s2, 0x1.27471cp-1f), s2, 0x1.ec70e6p-1f), s2, 0x1.715476p+1f);
    /* |y| is clamped to 2^32, so that y k and its error are finite. That changes no result: for
     * a != 1, |log2 a| >= 2^-24 / ln 2, so |z| stays past 369, where the result is 0 or infinity
     * (the sign of z is kept), and for a = 1, log2 m and k are 0. In a loop whose y is the same
     * for every element, gcc does this once, not per element as a clamp of y k would cost. The
     * clamps are picks, not ?:, which gcc 12 turns into branches in scalar code. */
    y = saline_pick_f32(y < -0x1p32f, -0x1p32f, y);
    y = saline_pick_f32(y > 0x1p32f, 0x1p32f, y);
    float hi = y * kf;
    float lo = fmaf(y, log2m, fmaf(y, kf, -hi));
    float z = hi + lo;
    /* The general method clamps z and f, so that n stays in [-190, 190] and 2^f finite (f only
     * where z was). The unit method needs no clamp: where a <= 1 and y >= 0, z <= 0 (y k <= 0,
     * and y log2 m <= 0 when k is 0 (m = a) and at most y / 2 against y k <= -y otherwise);
     * below -190 it picks 0, as the clamps give (2^f 2^-190 rounds to 0), and from -190 to 0, f
     * is within [-1/2, 1/2] and n within [-190, 0]. */
    if (!unit) {
        z = saline_pick_f32(z < -190.0f, -190.0f, z);
        z = saline_pick_f32(z > 190.0f, 190.0f, z);
    }
    /* adding 1.5 * 2^23 rounds z to an integer n, which lands in the low bits; hi - n is exact
     * (both are multiples of hi's ulp, and close) */
    const float shifter = 0x1.8p23f;
    float shifted = z + shifter;
    float f = (hi - (shifted - shifter)) + lo;
    if (!unit) {
        f = saline_pick_f32(f < -1.0f, -1.0f, f);
        f = saline_pick_f32(f > 1.0f, 1.0f, f);
    }
    float q = fmaf(fmaf(fmaf(0x1.41fc1cp-13f, f, 0x1.5f3e60p-10f), f, 0x1.3b2d4cp-7f), f, 0x1.c6aee8p-5f);
    q = fmaf(fmaf(q, f, 0x1.ebfbdcp-3f), f, 0x1.62e430p-1f);
    float v = fmaf(f, q, 1.0f); /* 2^f */
    int32_t n = (int32_t)(saline_bits_f32(shifted) - saline_bits_f32(shifter));
    if (unit) {
        /* v 2^(n + 65) is normal, hence exact, and the product with 2^-65 is the one rounding,
         * as in the two steps below: one scale instead of two, the same bits */
        float r = v * saline_from_bits_f32((uint32_t)(n + 65 + 127) << 23) * 0x1p-65f;
        return saline_pick_f32(z < -190.0f, 0.0f, r);
    }
    int32_t n1 = n >> 1, n2 = n - n1; /* each in [-95, 95] */
    float scale1 = saline_from_bits_f32((uint32_t)(n1 + 127) << 23);
    float scale2 = saline_from_bits_f32((uint32_t)(n2 + 127) << 23);
    return v * scale1 * scale2;
}

SALINE_MATH_INLINE float saline_fast_powf_finite(float a, float y) {
    return saline_fast_powf_method(a, y, 0);
}

/* x^y from r = |x|^y computed for finite nonzero |x|: C's special cases over it. What depends on
 * y alone is loop-invariant in a loop over pixels (gcc computes it once); the blends are per
 * pixel, and each costs brightness_contrast_gamma about 4% of its time. */
SALINE_MATH_INLINE float saline_pow_special_cases(float x, float y, float r) {
    const float inf = __builtin_inff();
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
    uint32_t grows = saline_bits_f32(saline_pick_f32(y < 0.0f, 0.0f, inf)); /* |x|^y, |x| > 1 */
    uint32_t shrinks = saline_bits_f32(saline_pick_f32(y < 0.0f, inf, 0.0f)); /* |x|^y, |x| < 1 */
    uint32_t y_infinite = saline_mask(fabsf(y) == inf);
    /* per pixel: a zero, infinite or NaN base (NaN is settled below), or an infinite y, give 0,
     * 1 or infinity by |x| against 1 (a zero base: pow(0, y) is pow(tiny, y)) */
    uint32_t xb = saline_bits_f32(x), ab = xb & 0x7fffffffu;
    float a = saline_from_bits_f32(ab);
    uint32_t edge = saline_mask(ab - 1u >= 0x7f7fffffu) | y_infinite;
    uint32_t limit = saline_blend_bits(saline_mask(a < 1.0f), shrinks, grows);
    limit = saline_blend_bits(saline_mask(a == 1.0f), 0x3f800000u, limit);
    uint32_t rb = saline_blend_bits(edge, limit, saline_bits_f32(r));
    /* a negative base to an odd power: the result's sign (of -0 and -infinity too) */
    rb ^= xb & (odd << 31);
    /* a finite negative base to a power that is not an integer: NaN */
    uint32_t negative_finite = saline_mask(xb - 0x80000001u < 0x7f7fffffu);
    rb = saline_blend_bits(negative_finite & (integer - 1u), 0x7fc00000u, rb);
    r = saline_pick_f32(x != x, x, saline_from_bits_f32(rb));
    r = saline_pick_f32(y != y, saline_pick_f32(x == 1.0f, 1.0f, y), r); /* pow(1, NaN) is 1 */
    r = saline_pick_f32(y == 1.0f, x, r); /* exactly, even where the method rounds */
    return saline_pick_f32(y == 0.0f, 1.0f, r);
}

/* saline_pow_special_cases where y is known to be finite and not an integer (so neither 0 nor
 * 1, and no sign to carry): the same result for every x, with three per-pixel blends instead of
 * seven. Code generation uses it in a copy of a vector loop whose exponent is the same for every
 * pixel, entered after testing that (scheduler.specialize_pow). */
SALINE_MATH_INLINE float saline_pow_fractional_cases(float x, float y, float r) {
    const float inf = __builtin_inff();
    uint32_t xb = saline_bits_f32(x), ab = xb & 0x7fffffffu;
    uint32_t at_zero = saline_bits_f32(saline_pick_f32(y < 0.0f, inf, 0.0f)); /* pow(+-0, y) */
    uint32_t at_inf = saline_bits_f32(saline_pick_f32(y < 0.0f, 0.0f, inf)); /* pow(+-inf, y) */
    /* a zero, infinite or NaN base (NaN is settled below) */
    uint32_t edge = saline_blend_bits(saline_mask(ab == 0u), at_zero, at_inf);
    uint32_t rb = saline_blend_bits(saline_mask(ab - 1u >= 0x7f7fffffu), edge, saline_bits_f32(r));
    /* a finite negative base: NaN */
    rb = saline_blend_bits(saline_mask(xb - 0x80000001u < 0x7f7fffffu), 0x7fc00000u, rb);
    return saline_pick_f32(x != x, x, saline_from_bits_f32(rb));
}

SALINE_MATH_INLINE float saline_powf_fractional(float x, float y) {
    return saline_pow_fractional_cases(x, y, saline_powf_finite(fabsf(x), y));
}

SALINE_MATH_INLINE float saline_fast_powf_fractional(float x, float y) {
    return saline_pow_fractional_cases(x, y, saline_fast_powf_finite(fabsf(x), y));
}

/* saline_pow_special_cases where x is known to have its sign bit clear and not to be NaN (+0 to
 * +infinity: a clamp or max against a constant gives that, scheduler.specialize_pow) and y to be
 * finite (a test before the loop says so): the same result, with one per-pixel blend for a zero
 * base, one more for an infinite base unless `finite_base`, and one on y == 1, whose mask is the
 * same for every pixel. A base of 1 needs none: the finite methods give exactly 1 for it when y
 * is finite, and exactly 1 for every finite base > 0 when y is 0. `positive` where the result is
 * only used where x > 0 (it is the value of a select on 0 < x): no blend for a zero base. */
SALINE_MATH_INLINE float saline_pow_nonnegative_cases(float x, float y, float r, int finite_base, int positive) {
    const float inf = __builtin_inff();
    r = saline_pick_f32(y == 1.0f, x, r); /* exactly, even where the method rounds */
    if (!positive) {
        float at_zero = saline_pick_f32(y < 0.0f, inf, saline_pick_f32(y == 0.0f, 1.0f, 0.0f));
        r = saline_pick_f32(x == 0.0f, at_zero, r);
    }
    if (!finite_base) {
        float at_inf = saline_pick_f32(y < 0.0f, 0.0f, saline_pick_f32(y == 0.0f, 1.0f, inf));
        r = saline_pick_f32(x == inf, at_inf, r);
    }
    return r;
}

SALINE_MATH_INLINE float saline_powf_nonnegative(float x, float y, int finite_base, int positive) {
    return saline_pow_nonnegative_cases(x, y, saline_powf_finite(x, y), finite_base, positive);
}

SALINE_MATH_INLINE float saline_fast_powf_nonnegative(float x, float y, int finite_base, int positive) {
    return saline_pow_nonnegative_cases(x, y, saline_fast_powf_finite(x, y), finite_base, positive);
}

/* saline_fast_powf_nonnegative where x is also known to be at most 1 and y to be +0 to the
 * largest finite float (a tone curve's level clamped to [0, 1] raised to 1 / gamma): the same
 * result */
SALINE_MATH_INLINE float saline_fast_powf_unit(float x, float y, int positive) {
    return saline_pow_nonnegative_cases(x, y, saline_fast_powf_method(x, y, 1), 1, positive);
}

SALINE_MATH_INLINE float saline_powf(float x, float y) {
    return saline_pow_special_cases(x, y, saline_powf_finite(fabsf(x), y));
}

SALINE_MATH_INLINE float saline_fast_powf(float x, float y) {
    return saline_pow_special_cases(x, y, saline_fast_powf_finite(fabsf(x), y));
}

#endif /* SALINE_MATH_H */
