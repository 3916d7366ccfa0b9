/* Saline runtime helpers, included by every generated pipeline.
 *
 * The buffer struct passed for each input and output, and the scalar operations whose
 * semantics the language fixes and C does not: Euclidean integer division and modulo (x/0 == 0,
 * never a trap, INT_MIN / -1 wraps), saturating float-to-int conversion (NaN gives 0), and
 * min/max/abs that evaluate each operand once. Generated code is built with -fwrapv, so plain
 * signed integer arithmetic wraps as the language says.
 */
#ifndef SALINE_RUNTIME_H
#define SALINE_RUNTIME_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__AVX512F__) || defined(__AVX__))
#include <immintrin.h>
#endif

#include "saline_math.h"

#if defined(SALINE_LIBMVEC)
/* glibc's libmvec has vector versions of these (`_ZGVdN8v_expf` is expf on 8 AVX2 lanes).
 * glibc's math.h declares them SIMD-callable only under -ffast-math, which Saline never uses;
 * declaring them so here lets loops that call them vectorize. The vector versions are accurate
 * to 4 ulp (glibc's manual), against 1 for the scalar ones; lanes a loop does not vectorize
 * (its tail) call the scalar ones. The build links -lmvec when it defines SALINE_LIBMVEC. */
#define SALINE_SIMD __attribute__((simd("notinbranch")))
SALINE_SIMD float expf(float);
SALINE_SIMD double exp(double);
SALINE_SIMD float logf(float);
SALINE_SIMD double log(double);
SALINE_SIMD float sinf(float);
SALINE_SIMD double sin(double);
SALINE_SIMD float cosf(float);
SALINE_SIMD double cos(double);
SALINE_SIMD float tanhf(float);
SALINE_SIMD double tanh(double);
#endif

/* Streaming stores (a schedule's `stream()`): `bytes` (a constant multiple of 64) from the
 * aligned scratch `src` to `dst`, written around the caches (non-temporal stores) where `dst`
 * starts a cache line, with ordinary stores otherwise. An output far larger than the last-level
 * cache is then written without first reading each of its lines in (the read-for-ownership an
 * ordinary store of a missing line costs), and without evicting the inputs. Non-temporal stores
 * are weakly ordered: saline_stream_fence() orders them before anything that follows, and
 * generated code calls it at the end of each parallel iteration and of the pipeline. */
static inline void saline_stream_store(void *restrict dst, const void *restrict src, size_t bytes) {
#if defined(__x86_64__) && defined(__AVX512F__)
    if (((uintptr_t)dst & 63u) == 0) {
        for (size_t i = 0; i < bytes; i += 64)
            _mm512_stream_si512((__m512i *)((char *)dst + i), _mm512_loadu_si512((const char *)src + i));
        return;
    }
#elif defined(__x86_64__) && defined(__AVX__)
    if (((uintptr_t)dst & 31u) == 0) {
        for (size_t i = 0; i < bytes; i += 32)
            _mm256_stream_si256((__m256i *)((char *)dst + i), _mm256_loadu_si256((const __m256i *)((const char *)src + i)));
        return;
    }
#endif
    memcpy(dst, src, bytes);
}

static inline void saline_stream_fence(void) {
#if defined(__x86_64__) && (defined(__AVX512F__) || defined(__AVX__))
    _mm_sfence();
#endif
}

/* The first element of a window of `size` elements of a table of `limit` elements (from its base
 * on) that holds the offsets lo .. lo + span - 1, all inside the table: lo, or less where the
 * window would pass the table's end; -1 where the table is shorter than the window (whole-vector
 * loads would then leave it, and masked ones, slow on AMD Zen, read the offsets' range only). */
static inline int64_t saline_window(int64_t lo, int64_t size, int64_t limit) {
    int64_t base = lo + size <= limit ? lo : limit - size;
    return base >= 0 ? base : -1;
}

#if defined(__x86_64__) && defined(__AVX512VBMI__) && defined(__AVX512BW__)
/* The 64 offsets idx[0..63] less `base` (each then 0 to 1023) as bytes for 128-byte permutes: in
 * `rel` their low 7 bits (and an eighth a permute ignores), in `part` bits 7 and up, the 128-byte
 * part they fall in. Even words of pairs of vectors, then even bytes: four permutes. */
static inline void saline_offset_bytes(const int32_t *idx, int32_t base, __m512i *rel, __m512i *part) {
    const __m512i words = _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24,
                                           22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i bytes = _mm512_set_epi8(126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96, 94,
                                          92, 90, 88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58, 56, 54, 52,
                                          50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10,
                                          8, 6, 4, 2, 0);
    __m512i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm512_sub_epi32(_mm512_loadu_si512(idx + 16 * k), _mm512_set1_epi32(base));
    __m512i w0 = _mm512_permutex2var_epi16(q[0], words, q[1]);
    __m512i w1 = _mm512_permutex2var_epi16(q[2], words, q[3]);
    *rel = _mm512_permutex2var_epi8(w0, bytes, w1);
    *part = _mm512_permutex2var_epi8(_mm512_srli_epi16(w0, 7), bytes, _mm512_srli_epi16(w1, 7));
}

/* dst[i] = table[idx[i]] for i < n, n a multiple of 64, from a table of at most 1024 bytes (its
 * `limit`), every offset below 1024. The table is loaded once, as 16 vectors (the block it ends in
 * with a masked load, so no byte past it is read; the blocks after it zero); then for each 64
 * offsets (saline_offset_bytes): one two-vector permute by the low bits per 128-byte part, and a
 * blend by each of bits 7, 8 and 9 narrowing the 8 parts' results to one. */
static inline void saline_lookup_whole_u8(uint8_t *restrict dst, const uint8_t *table, int64_t limit, const int32_t *restrict idx, int n) {
    __m512i t[16];
    for (int k = 0; k < 16; k++) {
        int64_t left = limit - 64 * (int64_t)k; /* bytes of the table from this block on */
        if (left >= 64)
            t[k] = _mm512_loadu_si512(table + 64 * k);
        else
            t[k] = _mm512_maskz_loadu_epi8(left <= 0 ? 0 : (((__mmask64)1 << left) - 1), table + 64 * k);
    }
    for (int i = 0; i < n; i += 64) {
        __m512i rel, part, r[8];
        saline_offset_bytes(idx + i, 0, &rel, &part);
        for (int s = 0; s < 8; s++)
            r[s] = _mm512_permutex2var_epi8(t[2 * s], rel, t[2 * s + 1]);
        for (int bit = 0; bit < 3; bit++) {
            __mmask64 odd = _mm512_test_epi8_mask(part, _mm512_set1_epi8((char)(1 << bit)));
            for (int s = 0; s < 4 >> bit; s++)
                r[s] = _mm512_mask_blend_epi8(odd, r[2 * s], r[2 * s + 1]);
        }
        _mm512_storeu_si512(dst + i, r[0]);
    }
}

/* dst[i] = table[idx[i]] for 64 offsets that span at most 1024 bytes of a longer table (returns
 * 0 where they span more, having written nothing): a window of the table holding them is read
 * 128 bytes at a time, each part permuted by the offsets' low 7 bits and kept where their part
 * matches. The window lies in the table (saline_window), or is read with masked loads from the
 * least offset to the greatest, so no byte outside the table is touched. */
static inline int saline_lookup_window_u8(uint8_t *restrict dst, const uint8_t *table, int64_t limit, const int32_t *restrict idx) {
    __m512i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm512_loadu_si512(idx + 16 * k);
    __m512i lo4 = _mm512_min_epi32(_mm512_min_epi32(q[0], q[1]), _mm512_min_epi32(q[2], q[3]));
    __m512i hi4 = _mm512_max_epi32(_mm512_max_epi32(q[0], q[1]), _mm512_max_epi32(q[2], q[3]));
    int32_t lo = _mm512_reduce_min_epi32(lo4);
    int64_t span64 = (int64_t)_mm512_reduce_max_epi32(hi4) - lo + 1; /* int64: offsets of both signs */
    if (span64 > 1024)
        return 0;
    int32_t span = (int32_t)span64;
    int32_t parts = (span + 127) / 128;
    int64_t whole = saline_window(lo, 128 * (int64_t)parts, limit);
    int64_t base = whole >= 0 ? whole : lo; /* offsets from base: below 128 parts */
    __m512i rel, part, out = _mm512_setzero_si512();
    saline_offset_bytes(idx, (int32_t)base, &rel, &part);
    const uint8_t *window = table + base;
    for (int32_t s = 0; s < parts; s++) {
        __m512i t0, t1;
        if (whole >= 0) {
            t0 = _mm512_loadu_si512(window + s * 128);
            t1 = _mm512_loadu_si512(window + s * 128 + 64);
        } else {
            int32_t left = span - s * 128, right = left - 64; /* bytes of the range from each half on */
            __mmask64 m0 = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
            __mmask64 m1 = right >= 64 ? ~(__mmask64)0 : right <= 0 ? 0 : (((__mmask64)1 << right) - 1);
            t0 = _mm512_maskz_loadu_epi8(m0, window + s * 128);
            t1 = _mm512_maskz_loadu_epi8(m1, window + s * 128 + 64);
        }
        __mmask64 here = _mm512_cmpeq_epi8_mask(part, _mm512_set1_epi8((char)s));
        out = _mm512_mask_mov_epi8(out, here, _mm512_permutex2var_epi8(t0, rel, t1));
    }
    _mm512_storeu_si512(dst, out);
    return 1;
}
#endif

/* dst[i] = table[idx[i]] for i < n: a byte table read at computed offsets (a tone curve's LUT;
 * scheduler.split_lookups), `limit` its length in bytes, or 0 where that is not known. With
 * AVX-512 VBMI and n a multiple of 64, the offsets go through permutes: a table known to hold at
 * most 1024 bytes is loaded whole once a call (saline_lookup_whole_u8); from another, each 64
 * offsets are read from a window that holds them where they span at most 1024 bytes
 * (saline_lookup_window_u8; a table of unknown length is read over the offsets' range only).
 * Other offsets and other n read byte by byte. On
 * the development machine, 64 offsets at a time spread like a photograph's, in cache: 0.12 ns a
 * lookup through the window, 0.12 from the whole table, 0.055 from the whole table 512 at a
 * time (curved in camera_pipe's hand schedule). */
static inline void saline_lookup_u8(uint8_t *restrict dst, const uint8_t *table, int64_t limit, const int32_t *restrict idx, int n) {
#if defined(__x86_64__) && defined(__AVX512VBMI__) && defined(__AVX512BW__)
    if (n % 64 == 0 && limit > 0 && limit <= 1024) {
        saline_lookup_whole_u8(dst, table, limit, idx, n);
        return;
    }
    if (n % 64 == 0) {
        for (int i = 0; i < n; i += 64)
            if (!saline_lookup_window_u8(dst + i, table, limit, idx + i))
                for (int k = i; k < i + 64; k++)
                    dst[k] = table[idx[k]];
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        dst[i] = table[idx[i]];
}

/* 32-bit elements of any type (float tables too): may_alias, so reading a float table through it
 * is not a strict-aliasing violation */
typedef uint32_t __attribute__((may_alias)) saline_u32_any;

/* dst[i] = table[idx[i]] for i < n, 32-bit elements (a resampling's taps; scheduler.split_lookups).
 * With AVX-512, each 16 offsets that span at most 32 elements are one permute of two vectors of a
 * window of the table that holds them (saline_window; or masked loads over the offsets' range
 * where the table is shorter); other groups, and a tail of fewer than 16, read one by one. */
static inline void saline_lookup_u32(saline_u32_any *restrict dst, const saline_u32_any *table, int64_t limit, const int32_t *restrict idx, int n) {
    int i = 0;
#if defined(__x86_64__) && defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        __m512i q = _mm512_loadu_si512(idx + i);
        int32_t lo = _mm512_reduce_min_epi32(q), hi = _mm512_reduce_max_epi32(q);
        if ((int64_t)hi - lo >= 32) {
            for (int k = i; k < i + 16; k++)
                dst[k] = table[idx[k]];
            continue;
        }
        int64_t whole = saline_window(lo, 32, limit), base = whole >= 0 ? whole : lo;
        __m512i t0, t1;
        if (whole >= 0) {
            t0 = _mm512_loadu_si512(table + base);
            t1 = _mm512_loadu_si512(table + base + 16);
        } else {
            int32_t span = hi - lo + 1;
            t0 = _mm512_maskz_loadu_epi32((__mmask16)(span >= 16 ? 0xffffu : (1u << span) - 1u), table + base);
            t1 = _mm512_maskz_loadu_epi32((__mmask16)(span <= 16 ? 0u : (1u << (span - 16)) - 1u), table + base + 16);
        }
        __m512i rel = _mm512_sub_epi32(q, _mm512_set1_epi32((int32_t)base));
        _mm512_storeu_si512(dst + i, _mm512_permutex2var_epi32(t0, rel, t1));
    }
#endif
    for (; i < n; i++)
        dst[i] = table[idx[i]];
}

#define SALINE_MAX_DIMS 8
#define SALINE_UNUSED __attribute__((unused))

typedef struct saline_buffer_t {
    void *host;                       /* address of the element at min[] */
    int32_t dims;
    int32_t elem_size;
    int64_t min[SALINE_MAX_DIMS];     /* in Func argument order: x first */
    int64_t extent[SALINE_MAX_DIMS];
    int64_t stride[SALINE_MAX_DIMS];  /* in elements, may be negative or zero */
} saline_buffer_t;

/* Euclidean division: a == (a / b) * b + a % b with 0 <= a % b < |b|; b == 0 gives 0. */
#define SALINE_SIGNED_DIVMOD(T, S)                                                     \
    static inline T saline_div_##S(T a, T b) {                                         \
        if (b == 0) return 0;                                                          \
        if (b == -1) return (T)(0 - a); /* wraps for the minimum instead of trapping */ \
        T q = (T)(a / b), r = (T)(a % b);                                              \
        if (r < 0) q = (T)(b > 0 ? q - 1 : q + 1);                                     \
        return q;                                                                      \
    }                                                                                  \
    static inline T saline_mod_##S(T a, T b) {                                         \
        if (b == 0 || b == -1) return 0;                                               \
        T r = (T)(a % b);                                                              \
        if (r < 0) r = (T)(b > 0 ? r + b : r - b);                                     \
        return r;                                                                      \
    }

#define SALINE_UNSIGNED_DIVMOD(T, S)                                                   \
    static inline T saline_div_##S(T a, T b) { return b == 0 ? 0 : (T)(a / b); }        \
    static inline T saline_mod_##S(T a, T b) { return b == 0 ? 0 : (T)(a % b); }

SALINE_SIGNED_DIVMOD(int8_t, i8)
SALINE_SIGNED_DIVMOD(int16_t, i16)
SALINE_SIGNED_DIVMOD(int32_t, i32)
SALINE_SIGNED_DIVMOD(int64_t, i64)
SALINE_UNSIGNED_DIVMOD(uint8_t, u8)
SALINE_UNSIGNED_DIVMOD(uint16_t, u16)
SALINE_UNSIGNED_DIVMOD(uint32_t, u32)

/* The same Euclidean int32 division and remainder without branches, through double, for vector
 * loops whose divisor is not a constant (a branch on it keeps gcc from vectorizing the loop, and
 * x86 has no vector integer division). Exact for every int32 a and b != 0: the exact quotient
 * a / b lies within 2^31 / |b| of zero, where a double's spacing is at most 2^-21 / |b|, and a
 * quotient that is not an integer is at least 1 / |b| from the nearest one, so rounding it to
 * double never crosses an integer; floor (b > 0) or ceil (b < 0) then gives the Euclidean
 * quotient. b == 0 gives 0; the minimum divided by -1 wraps, as saline_div_i32 does. */
static inline int32_t saline_div_vec_i32(int32_t a, int32_t b) {
    double d = (double)a / (double)(b == 0 ? 1 : b);
    double q = b > 0 ? floor(d) : ceil(d);
    int32_t w = (int32_t)(uint32_t)(uint64_t)(int64_t)q; /* 2^31 (the minimum / -1) wraps */
    return b == 0 ? 0 : w;
}

static inline int32_t saline_mod_vec_i32(int32_t a, int32_t b) {
    int32_t r = (int32_t)((uint32_t)a - (uint32_t)b * (uint32_t)saline_div_vec_i32(a, b));
    return b == 0 ? 0 : r;
}

static inline float saline_mod_f32(float a, float b) { return a - b * floorf(a / b); }
static inline double saline_mod_f64(double a, double b) { return a - b * floor(a / b); }

/* min(a, b) = a < b ? a : b and max(a, b) = a > b ? a : b, as in the interpreter. */
#define SALINE_MINMAX(T, S)                                                     \
    static inline T saline_min_##S(T a, T b) { return a < b ? a : b; }          \
    static inline T saline_max_##S(T a, T b) { return a > b ? a : b; }

SALINE_MINMAX(int8_t, i8)
SALINE_MINMAX(int16_t, i16)
SALINE_MINMAX(int32_t, i32)
SALINE_MINMAX(int64_t, i64)
SALINE_MINMAX(uint8_t, u8)
SALINE_MINMAX(uint16_t, u16)
SALINE_MINMAX(uint32_t, u32)
SALINE_MINMAX(float, f32)
SALINE_MINMAX(double, f64)

/* The average of two unsigned integers rounded up or down, in their own type (scheduler.averages).
 * Bytes and 16-bit values round up as (a + b + 1) >> 1 in 32 bits, narrowed at once: gcc finds
 * x86's pavgb and pavgw for that form, also in a chain of averages (a 1 2 1 blur), since each one
 * is narrowed in its own function; round down is the complement of rounding up the complements,
 * ~avg_up(~a, ~b) = floor((a + b) / 2), which keeps the instruction. At 2560x1536 on 1 thread,
 * in one process: camera_pipe 5.35 -> 5.08 ms against the or/xor form of the 32-bit helpers below,
 * used for every width before (Halide 6.01); its sharpen loop 0.088 -> 0.046 ns a pixel in cache.
 * 32-bit values have no such instruction and no wider lane to spare, so they keep that form:
 * a + b = 2 (a & b) + (a ^ b) and a | b = (a & b) + (a ^ b). */
#define SALINE_AVERAGE_PAVG(T, S)                                                                  \
    static inline T saline_avg_up_##S(T a, T b) { return (T)(((uint32_t)a + (uint32_t)b + 1) >> 1); } \
    static inline T saline_avg_down_##S(T a, T b) { return (T)~saline_avg_up_##S((T)~a, (T)~b); }

SALINE_AVERAGE_PAVG(uint8_t, u8)
SALINE_AVERAGE_PAVG(uint16_t, u16)

static inline uint32_t saline_avg_up_u32(uint32_t a, uint32_t b) { return (a | b) - ((a ^ b) >> 1); }
static inline uint32_t saline_avg_down_u32(uint32_t a, uint32_t b) { return (a & b) + ((a ^ b) >> 1); }

/* select(c, a, b) on floats, as a call: both values are computed before it (which is safe, see
 * codegen.c_emit.common_subexpressions), so in a vector loop gcc blends two vectors; for a C
 * `c ? powf(...) : 0` it computes the branch under a mask instead, 10% slower for float pow. */
static inline float saline_select_f32(int c, float a, float b) { return c ? a : b; }
static inline double saline_select_f64(int c, double a, double b) { return c ? a : b; }

#define SALINE_ABS(T, S) \
    static inline T saline_abs_##S(T a) { return a < 0 ? (T)(0 - a) : a; }

SALINE_ABS(int8_t, i8)
SALINE_ABS(int16_t, i16)
SALINE_ABS(int32_t, i32)
SALINE_ABS(int64_t, i64)

/* Float to integer: truncate toward zero, saturate to the type's range, NaN gives 0. The
 * bounds are exact in F: LO is the type's minimum, HI_EXCL its maximum plus one. */
#define SALINE_FTOI(F, FS, T, S, LO, HI_EXCL, TMAX)                     \
    static inline T saline_cvt_##FS##_##S(F x) {                        \
        if (!(x == x)) return 0;                                        \
        if (x <= (F)(LO)) return (T)(LO);                               \
        if (x >= (F)(HI_EXCL)) return (T)(TMAX);                        \
        return (T)x;                                                    \
    }

SALINE_FTOI(float, f32, int8_t, i8, -128.0, 128.0, INT8_MAX)
SALINE_FTOI(float, f32, int16_t, i16, -32768.0, 32768.0, INT16_MAX)
SALINE_FTOI(float, f32, int32_t, i32, -2147483648.0, 2147483648.0, INT32_MAX)
SALINE_FTOI(float, f32, uint8_t, u8, 0.0, 256.0, UINT8_MAX)
SALINE_FTOI(float, f32, uint16_t, u16, 0.0, 65536.0, UINT16_MAX)
SALINE_FTOI(float, f32, uint32_t, u32, 0.0, 4294967296.0, UINT32_MAX)
SALINE_FTOI(double, f64, int8_t, i8, -128.0, 128.0, INT8_MAX)
SALINE_FTOI(double, f64, int16_t, i16, -32768.0, 32768.0, INT16_MAX)
SALINE_FTOI(double, f64, int32_t, i32, -2147483648.0, 2147483648.0, INT32_MAX)
SALINE_FTOI(double, f64, uint8_t, u8, 0.0, 256.0, UINT8_MAX)
SALINE_FTOI(double, f64, uint16_t, u16, 0.0, 65536.0, UINT16_MAX)
SALINE_FTOI(double, f64, uint32_t, u32, 0.0, 4294967296.0, UINT32_MAX)

/* Allocation of `count` elements of `size` bytes: NULL with *too_large set when the byte count
 * does not fit, NULL when malloc fails. Zero elements still give a valid pointer. */
static inline void *saline_alloc(int64_t count, int64_t size, int *too_large) {
    int64_t bytes;
    *too_large = 0;
    if (count < 0 || __builtin_mul_overflow(count, size, &bytes) || bytes > ((int64_t)1 << 46)) {
        *too_large = 1;
        return NULL;
    }
    return malloc(bytes > 0 ? (size_t)bytes : 1);
}

/* count = e0 * e1 * ...: -1 when it overflows. */
static inline int64_t saline_product(int n, const int64_t *extents) {
    int64_t count = 1;
    for (int i = 0; i < n; i++) {
        int64_t e = extents[i] > 0 ? extents[i] : 0;
        if (__builtin_mul_overflow(count, e, &count)) return -1;
    }
    return count;
}

/* Parallel loops. Generated code moves the body of each parallel loop into a task function
 * that runs one iteration, with the values it reads from the enclosing function in a closure
 * struct, and calls saline_parallel_for. The loop runs on Saline's thread pool
 * (csrc/saline_pool.c), whose entry point the loader hands to each library through the
 * library's saline_set_pool(); without one (a library used on its own), the iterations run in
 * order on the calling thread. */
typedef void (*saline_task_t)(void *closure, int64_t i);
typedef void (*saline_parallel_for_t)(saline_task_t task, void *closure, int64_t lo, int64_t hi, int32_t threads);
static saline_parallel_for_t saline_pool_entry_point;

__attribute__((visibility("default"))) void saline_set_pool(void *entry) {
    __atomic_store_n(&saline_pool_entry_point, (saline_parallel_for_t)entry, __ATOMIC_RELEASE);
}

static inline void saline_parallel_for(saline_task_t task, void *closure, int64_t lo, int64_t hi, int32_t threads) {
    saline_parallel_for_t pool = __atomic_load_n(&saline_pool_entry_point, __ATOMIC_ACQUIRE);
    if (pool != NULL && threads > 1 && hi - lo > 1) {
        pool(task, closure, lo, hi, threads);
        return;
    }
    for (int64_t i = lo; i < hi; i++) task(closure, i);
}

#endif /* SALINE_RUNTIME_H */
