/* bcrnn.c: the engine (fixed source; the model is bcrnn_model.c). See bcrnn.h and docs/c_engine.md.
 *
 * Layout of the binary streams: a conv layer's output is one bit string per frame, bit f * channels + c
 * (frequency-major, channels innermost: the dense layer's input order), each frame padded to whole 64-bit words
 * with zero bits. Every binary dot product is N - 2 popcount(a XOR w) over N-bit vectors whose padding bits are 0
 * in both operands, the reference's 2 popcount(XNOR) - N.
 */
#include "bcrnn.h"

#include <string.h>

#ifdef BCRNN_TRACE
#include <stdio.h>
#endif

#if defined(BCRNN_PORTABLE)
#define BCRNN_KERNEL_NAME "portable"
#elif defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VPOPCNTDQ__)
#define BCRNN_USE_AVX512 1
#if defined(__AVX512VNNI__)
#define BCRNN_USE_VNNI 1
#define BCRNN_KERNEL_NAME "avx512-vnni"
#else
#define BCRNN_KERNEL_NAME "avx512"
#endif
#elif defined(__AVX2__)
#define BCRNN_USE_AVX2 1
#define BCRNN_KERNEL_NAME "avx2"
#elif defined(__ARM_NEON)
#define BCRNN_USE_NEON 1
#if defined(__ARM_FEATURE_DOTPROD)
#define BCRNN_USE_SDOT 1
#define BCRNN_KERNEL_NAME "neon-dotprod"
#else
#define BCRNN_KERNEL_NAME "neon"
#endif
#else
#define BCRNN_KERNEL_NAME "portable"
#endif

#if defined(BCRNN_USE_AVX512) || defined(BCRNN_USE_AVX2)
#include <immintrin.h>
#elif defined(BCRNN_USE_NEON)
#include <arm_neon.h>
#endif

/* floor(a / 2^k) for any sign (C99 leaves >> of negative values to the implementation) */
#define FLOOR_SHIFT(a, k) ((a) >= 0 ? (a) >> (k) : ~(~(a) >> (k)))
#define WORDS(n) (((n) + 63) / 64)
#define GET_BIT(w, i) ((int32_t)(((w)[(i) >> 6] >> ((i) & 63)) & 1u))
#define SET_BIT(w, i) ((w)[(i) >> 6] |= (uint64_t)1 << ((i) & 63))

const char *bcrnn_kernel(void) { return BCRNN_KERNEL_NAME; }

/* ------------------------------------------------------------------------------------------------ kernels */

/* the compiler's builtin where the target has a popcount instruction (x86 POPCNT, AArch64 CNT); elsewhere the
 * builtin is a library call, slower than the inline bit arithmetic (-DBCRNN_BUILTIN_POPCOUNT forces it) */
static inline int32_t popcount64(uint64_t x) {
#if (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__POPCNT__) || defined(__aarch64__) || defined(BCRNN_BUILTIN_POPCOUNT))
    return (int32_t)__builtin_popcountll(x);
#else
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (int32_t)((x * 0x0101010101010101ull) >> 56);
#endif
}

/* popcount(x XOR w_r) for the rows w_r of a (rows x words) matrix */
static void xor_popcount_rows(const uint64_t *x, const uint64_t *w, int32_t rows, int32_t words, int32_t *out) {
#if defined(BCRNN_USE_AVX512)
    const int32_t full = words / 8, rest = words % 8;
    const __mmask8 mask = (__mmask8)((1u << rest) - 1u);
    int32_t r = 0;
    for (; r + 8 <= rows; r += 8) { /* eight rows at once, their sums reduced together */
        __m512i acc[8];
        for (int32_t i = 0; i < 8; i++) {
            const uint64_t *wr = w + (size_t)(r + i) * words;
            __m512i a = _mm512_setzero_si512();
            for (int32_t k = 0; k < full; k++)
                a = _mm512_add_epi64(a, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(x + 8 * k),
                                                                              _mm512_loadu_si512(wr + 8 * k))));
            if (rest)
                a = _mm512_add_epi64(a, _mm512_popcnt_epi64(_mm512_xor_si512(
                                            _mm512_maskz_loadu_epi64(mask, x + 8 * full),
                                            _mm512_maskz_loadu_epi64(mask, wr + 8 * full))));
            acc[i] = a;
        }
        __m512i t[4], u[2];
        for (int32_t i = 0; i < 4; i++) /* 128-bit lanes: (row 2i, row 2i+1) pair sums */
            t[i] = _mm512_add_epi64(_mm512_unpacklo_epi64(acc[2 * i], acc[2 * i + 1]),
                                    _mm512_unpackhi_epi64(acc[2 * i], acc[2 * i + 1]));
        for (int32_t i = 0; i < 2; i++) /* lanes: rows (4i, 4i+1) twice, rows (4i+2, 4i+3) twice */
            u[i] = _mm512_add_epi64(_mm512_shuffle_i64x2(t[2 * i], t[2 * i + 1], 0x88),
                                    _mm512_shuffle_i64x2(t[2 * i], t[2 * i + 1], 0xDD));
        const __m512i sums = _mm512_add_epi64(_mm512_shuffle_i64x2(u[0], u[1], 0x88),
                                              _mm512_shuffle_i64x2(u[0], u[1], 0xDD));
        _mm256_storeu_si256((__m256i *)(out + r), _mm512_cvtepi64_epi32(sums));
    }
    for (; r < rows; r++) {
        const uint64_t *wr = w + (size_t)r * words;
        __m512i acc = _mm512_setzero_si512();
        for (int32_t k = 0; k < full; k++)
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(x + 8 * k),
                                                                              _mm512_loadu_si512(wr + 8 * k))));
        if (rest)
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                                            _mm512_maskz_loadu_epi64(mask, x + 8 * full),
                                            _mm512_maskz_loadu_epi64(mask, wr + 8 * full))));
        out[r] = (int32_t)_mm512_reduce_add_epi64(acc);
    }
#elif defined(BCRNN_USE_AVX2)
    /* no vector popcount in AVX2: nibble table lookups (vpshufb), byte sums by vpsadbw */
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const int32_t full = words / 4;
    for (int32_t r = 0; r < rows; r++) {
        const uint64_t *wr = w + (size_t)r * words;
        __m256i acc = _mm256_setzero_si256();
        for (int32_t k = 0; k < full; k++) {
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + 4 * k)),
                                         _mm256_loadu_si256((const __m256i *)(wr + 4 * k)));
            __m256i n = _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, low)),
                                        _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(n, _mm256_setzero_si256()));
        }
        __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        int32_t count = (int32_t)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
        for (int32_t k = 4 * full; k < words; k++) count += popcount64(x[k] ^ wr[k]);
        out[r] = count;
    }
#elif defined(BCRNN_USE_NEON)
    /* 128-bit XOR, byte popcounts (vcntq_u8), pairwise widening adds into 16-bit lanes (vpadalq_u8: at most 16 per
     * step, so a lane takes 4096 steps) and then into 32-bit lanes; four rows share each load of x */
    enum { STEPS = 4096 };
    const int32_t pairs = words / 2;
    int32_t r = 0;
    for (const int32_t quads = rows - rows % 4; r < quads; r += 4) {
        const uint64_t *w0 = w + (size_t)r * words, *w1 = w0 + words, *w2 = w1 + words, *w3 = w2 + words;
        uint32x4_t s0 = vdupq_n_u32(0), s1 = s0, s2 = s0, s3 = s0;
        for (int32_t k0 = 0; k0 < pairs; k0 += STEPS) {
            const int32_t k1 = pairs - k0 < STEPS ? pairs : k0 + STEPS;
            uint16x8_t a0 = vdupq_n_u16(0), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t k = k0; k < k1; k++) {
                const uint8x16_t v = vreinterpretq_u8_u64(vld1q_u64(x + 2 * k));
                a0 = vpadalq_u8(a0, vcntq_u8(veorq_u8(v, vreinterpretq_u8_u64(vld1q_u64(w0 + 2 * k)))));
                a1 = vpadalq_u8(a1, vcntq_u8(veorq_u8(v, vreinterpretq_u8_u64(vld1q_u64(w1 + 2 * k)))));
                a2 = vpadalq_u8(a2, vcntq_u8(veorq_u8(v, vreinterpretq_u8_u64(vld1q_u64(w2 + 2 * k)))));
                a3 = vpadalq_u8(a3, vcntq_u8(veorq_u8(v, vreinterpretq_u8_u64(vld1q_u64(w3 + 2 * k)))));
            }
            s0 = vpadalq_u16(s0, a0);
            s1 = vpadalq_u16(s1, a1);
            s2 = vpadalq_u16(s2, a2);
            s3 = vpadalq_u16(s3, a3);
        }
        /* lane sums of the four rows: pairwise adds (vpadd, in A32 and A64) -> (row 0, row 1, row 2, row 3) */
        const int32x2_t p0 = vreinterpret_s32_u32(vpadd_u32(vget_low_u32(s0), vget_high_u32(s0)));
        const int32x2_t p1 = vreinterpret_s32_u32(vpadd_u32(vget_low_u32(s1), vget_high_u32(s1)));
        const int32x2_t p2 = vreinterpret_s32_u32(vpadd_u32(vget_low_u32(s2), vget_high_u32(s2)));
        const int32x2_t p3 = vreinterpret_s32_u32(vpadd_u32(vget_low_u32(s3), vget_high_u32(s3)));
        int32x4_t sums = vcombine_s32(vpadd_s32(p0, p1), vpadd_s32(p2, p3));
        if (words & 1) {
            const uint64_t xl = x[words - 1];
            const int32_t tail[4] = {popcount64(xl ^ w0[words - 1]), popcount64(xl ^ w1[words - 1]),
                                     popcount64(xl ^ w2[words - 1]), popcount64(xl ^ w3[words - 1])};
            sums = vaddq_s32(sums, vld1q_s32(tail));
        }
        vst1q_s32(out + r, sums);
    }
    for (; r < rows; r++) { /* the last rows one at a time */
        const uint64_t *wr = w + (size_t)r * words;
        uint32x4_t s = vdupq_n_u32(0);
        for (int32_t k0 = 0; k0 < pairs; k0 += STEPS) {
            const int32_t k1 = pairs - k0 < STEPS ? pairs : k0 + STEPS;
            uint16x8_t a = vdupq_n_u16(0);
            for (int32_t k = k0; k < k1; k++)
                a = vpadalq_u8(a, vcntq_u8(veorq_u8(vreinterpretq_u8_u64(vld1q_u64(x + 2 * k)),
                                                    vreinterpretq_u8_u64(vld1q_u64(wr + 2 * k)))));
            s = vpadalq_u16(s, a);
        }
        const uint64x2_t s2 = vpaddlq_u32(s);
        int32_t count = (int32_t)(vgetq_lane_u64(s2, 0) + vgetq_lane_u64(s2, 1));
        if (words & 1) count += popcount64(x[words - 1] ^ wr[words - 1]);
        out[r] = count;
    }
#else
    for (int32_t r = 0; r < rows; r++) {
        const uint64_t *wr = w + (size_t)r * words;
        int32_t count = 0;
        for (int32_t k = 0; k < words; k++) count += popcount64(x[k] ^ wr[k]);
        out[r] = count;
    }
#endif
}

/* thresholds of `rows` binary dot products (n - 2 counts[r]), direction folded (dir * acc >= thr = dir * T: acc >= T,
 * or acc <= T where dir = -1), as bits into the zeroed words `out` */
static void threshold_rows(const int32_t *counts, int32_t n, const int8_t *dir, const int32_t *thr, int32_t rows,
                           uint64_t *out) {
    int32_t r = 0;
#if defined(BCRNN_USE_AVX512)
    const __m512i nn = _mm512_set1_epi32(n);
    for (; r + 16 <= rows; r += 16) {
        const __m512i acc = _mm512_sub_epi32(nn, _mm512_slli_epi32(_mm512_loadu_si512(counts + r), 1));
        const __m512i d = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(dir + r)));
        const __mmask16 m = _mm512_cmpge_epi32_mask(_mm512_mullo_epi32(d, acc), _mm512_loadu_si512(thr + r));
        out[r >> 6] |= (uint64_t)m << (r & 63);
    }
#endif
    for (; r < rows; r++) out[r >> 6] |= (uint64_t)(dir[r] * (n - 2 * counts[r]) >= thr[r]) << (r & 63);
}

/* First convolution, one pooling window: `patches` holds the window's BCRNN_C0_POOL input patches (BCRNN_C0_TAPS4
 * int8 codes each, taps in (kt, kf, channel) order, zero beyond BCRNN_C0_TAPS); mx[o] = the largest
 * direction-folded accumulator over the window. Weights for the SIMD kernels: bcrnn_conv0_w[q][o][r] = tap 4 q + r
 * of map o (maps padded to a multiple of 16 with zero weights). */
#define C0_QUADS (BCRNN_C0_TAPS4 / 4)

#if defined(BCRNN_USE_VNNI)
/* vpdpbusd: unsigned x signed bytes, four taps per 32-bit lane; the codes are biased to x + 128 (unsigned) and
 * 128 * sum(w) (bcrnn_conv0_wsum128) is subtracted again. 16 maps per register. */
static void conv0_window(const int8_t *patches, int32_t *mx) {
    enum { G = BCRNN_C0_CHP / 16 };
    __m512i best[G], acc[G];
    for (int32_t p = 0; p < BCRNN_C0_POOL; p++) {
        const int8_t *x = patches + p * BCRNN_C0_TAPS4;
        for (int g = 0; g < G; g++) acc[g] = _mm512_setzero_si512();
        for (int32_t q = 0; q < C0_QUADS; q++) {
            uint32_t quad;
            memcpy(&quad, x + 4 * q, 4);
            const __m512i b = _mm512_set1_epi32((int32_t)(quad ^ 0x80808080u));
            const int8_t *w = bcrnn_conv0_w + (size_t)q * BCRNN_C0_CHP * 4;
            for (int g = 0; g < G; g++) acc[g] = _mm512_dpbusd_epi32(acc[g], b, _mm512_loadu_si512(w + 64 * g));
        }
        for (int g = 0; g < G; g++) best[g] = p == 0 ? acc[g] : _mm512_max_epi32(best[g], acc[g]);
    }
    for (int g = 0; g < G; g++)
        _mm512_storeu_si512(mx + 16 * g, _mm512_sub_epi32(best[g], _mm512_loadu_si512(bcrnn_conv0_wsum128 + 16 * g)));
}
#elif defined(BCRNN_USE_AVX2) || defined(BCRNN_USE_AVX512)
/* vpmaddwd on 16-bit codes and weights: per map two partial sums of two taps each, added pairwise at the end.
 * 16 maps per pass (four registers of four maps). */
static void conv0_window(const int8_t *patches, int32_t *mx) {
    int16_t x16[BCRNN_C0_TAPS4];
    for (int32_t p = 0; p < BCRNN_C0_POOL; p++) {
        const int8_t *x = patches + p * BCRNN_C0_TAPS4;
        for (int32_t k = 0; k < BCRNN_C0_TAPS4; k++) x16[k] = x[k];
        for (int32_t blk = 0; blk < BCRNN_C0_CHP / 16; blk++) {
            __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t q = 0; q < C0_QUADS; q++) {
                int64_t quad;
                memcpy(&quad, x16 + 4 * q, 8);
                const __m256i b = _mm256_set1_epi64x(quad);
                const int8_t *w = bcrnn_conv0_w + ((size_t)q * BCRNN_C0_CHP + 16 * blk) * 4;
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(
                                              _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w)), b));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(
                                              _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 16))), b));
                a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(
                                              _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 32))), b));
                a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(
                                              _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 48))), b));
            }
            /* a0 lanes: map 0 (two halves), map 1 | map 2, map 3; hadd + permute gives maps 0..7 in order */
            __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a0, a1), 0xD8);
            __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a2, a3), 0xD8);
            int32_t *m = mx + 16 * blk;
            if (p == 0) {
                _mm256_storeu_si256((__m256i *)m, lo);
                _mm256_storeu_si256((__m256i *)(m + 8), hi);
            } else {
                _mm256_storeu_si256((__m256i *)m, _mm256_max_epi32(_mm256_loadu_si256((const __m256i *)m), lo));
                _mm256_storeu_si256((__m256i *)(m + 8),
                                    _mm256_max_epi32(_mm256_loadu_si256((const __m256i *)(m + 8)), hi));
            }
        }
    }
}
#elif defined(BCRNN_USE_SDOT)
/* sdot (vdotq_s32): signed bytes x signed bytes, four taps per 32-bit lane, the patch's quad broadcast to every
 * lane; four maps per register, 16 per pass */
static void conv0_window(const int8_t *patches, int32_t *mx) {
    for (int32_t p = 0; p < BCRNN_C0_POOL; p++) {
        const int8_t *x = patches + p * BCRNN_C0_TAPS4;
        for (int32_t blk = 0; blk < BCRNN_C0_CHP / 16; blk++) {
            int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t q = 0; q < C0_QUADS; q++) {
                int32_t quad;
                memcpy(&quad, x + 4 * q, 4);
                const int8x16_t b = vreinterpretq_s8_s32(vdupq_n_s32(quad));
                const int8_t *w = bcrnn_conv0_w + ((size_t)q * BCRNN_C0_CHP + 16 * blk) * 4;
                a0 = vdotq_s32(a0, vld1q_s8(w), b);
                a1 = vdotq_s32(a1, vld1q_s8(w + 16), b);
                a2 = vdotq_s32(a2, vld1q_s8(w + 32), b);
                a3 = vdotq_s32(a3, vld1q_s8(w + 48), b);
            }
            int32_t *m = mx + 16 * blk;
            if (p > 0) {
                a0 = vmaxq_s32(a0, vld1q_s32(m));
                a1 = vmaxq_s32(a1, vld1q_s32(m + 4));
                a2 = vmaxq_s32(a2, vld1q_s32(m + 8));
                a3 = vmaxq_s32(a3, vld1q_s32(m + 12));
            }
            vst1q_s32(m, a0);
            vst1q_s32(m + 4, a1);
            vst1q_s32(m + 8, a2);
            vst1q_s32(m + 12, a3);
        }
    }
}
#elif defined(BCRNN_USE_NEON)
/* vmull_s8: eight 16-bit products (two maps x one quad of taps; |product| <= 2^14), vpadalq_s16 adds them pairwise
 * into 32-bit lanes (map o taps 0-1, map o taps 2-3, map o+1 ...); pairwise adds give the maps in order at the end.
 * 16 maps per pass. */
static void conv0_window(const int8_t *patches, int32_t *mx) {
    for (int32_t p = 0; p < BCRNN_C0_POOL; p++) {
        const int8_t *x = patches + p * BCRNN_C0_TAPS4;
        for (int32_t blk = 0; blk < BCRNN_C0_CHP / 16; blk++) {
            int32x4_t a[8];
            for (int i = 0; i < 8; i++) a[i] = vdupq_n_s32(0);
            for (int32_t q = 0; q < C0_QUADS; q++) {
                int32_t quad;
                memcpy(&quad, x + 4 * q, 4);
                const int8x8_t b = vreinterpret_s8_s32(vdup_n_s32(quad));
                const int8_t *w = bcrnn_conv0_w + ((size_t)q * BCRNN_C0_CHP + 16 * blk) * 4;
                for (int i = 0; i < 4; i++) {
                    const int8x16_t wv = vld1q_s8(w + 16 * i);
                    a[2 * i] = vpadalq_s16(a[2 * i], vmull_s8(vget_low_s8(wv), b));
                    a[2 * i + 1] = vpadalq_s16(a[2 * i + 1], vmull_s8(vget_high_s8(wv), b));
                }
            }
            int32_t *m = mx + 16 * blk;
            for (int i = 0; i < 4; i++) {
                int32x4_t v = vcombine_s32(vpadd_s32(vget_low_s32(a[2 * i]), vget_high_s32(a[2 * i])),
                                           vpadd_s32(vget_low_s32(a[2 * i + 1]), vget_high_s32(a[2 * i + 1])));
                if (p > 0) v = vmaxq_s32(v, vld1q_s32(m + 4 * i));
                vst1q_s32(m + 4 * i, v);
            }
        }
    }
}
#else
/* plain C: per map a dot product of the patch with the map's contiguous taps (bcrnn_conv0_wk[o][k]), in 16 bits
 * (x86 compilers turn it into multiply-add pairs, SSE2 pmaddwd; gcc 12 for a Cortex-M4 into one MLA / SMLABB per
 * product) */
static void conv0_window(const int8_t *patches, int32_t *mx) {
    int16_t x[BCRNN_C0_TAPS4];
    for (int32_t p = 0; p < BCRNN_C0_POOL; p++) {
        for (int32_t k = 0; k < BCRNN_C0_TAPS4; k++) x[k] = patches[p * BCRNN_C0_TAPS4 + k];
        for (int32_t o = 0; o < BCRNN_C0_CH; o++) {
            const int16_t *w = bcrnn_conv0_wk + (size_t)o * BCRNN_C0_TAPS4;
            int32_t acc = 0;
            for (int32_t k = 0; k < BCRNN_C0_TAPS4; k++) acc += (int32_t)x[k] * w[k];
            if (p == 0 || acc > mx[o]) mx[o] = acc;
        }
    }
}
#endif

/* ------------------------------------------------------------------------------------------------ trace */

#ifdef BCRNN_TRACE
static bcrnn_trace_fn trace_fn;
static void *trace_user;
static int32_t trace_buf[BCRNN_TRACE_MAX];
static uint8_t lstm_bits[BCRNN_T][BCRNN_POOL];

void bcrnn_set_trace(bcrnn_trace_fn fn, void *user) {
    trace_fn = fn;
    trace_user = user;
}

static void trace_emit(const char *name, int32_t ndim, int32_t d0, int32_t d1, int32_t d2) {
    const int32_t shape[3] = {d0, d1, d2};
    int32_t count = 1;
    for (int32_t i = 0; i < ndim; i++) count *= shape[i];
    if (trace_fn) {
        trace_fn(name, trace_buf, count, ndim, shape, trace_user);
        return;
    }
    fprintf(stderr, "%s (", name);
    for (int32_t i = 0; i < ndim; i++) fprintf(stderr, i ? ", %ld" : "%ld", (long)shape[i]);
    fprintf(stderr, "):");
    for (int32_t i = 0; i < count; i++) fprintf(stderr, " %ld", (long)trace_buf[i]);
    fprintf(stderr, "\n");
}

/* frame bit strings (frames x words, bit f * ch + c) -> (ch, frames, freq) 0/1 */
static void trace_conv(int32_t layer, const uint64_t *bits, int32_t ch, int32_t frames, int32_t freq, int32_t words) {
    char name[16];
    snprintf(name, sizeof name, "conv%ld", (long)layer);
    for (int32_t c = 0; c < ch; c++)
        for (int32_t t = 0; t < frames; t++)
            for (int32_t f = 0; f < freq; f++)
                trace_buf[(c * frames + t) * freq + f] = GET_BIT(bits + (size_t)t * words, f * ch + c);
    trace_emit(name, 3, ch, frames, freq);
}
#endif

/* ------------------------------------------------------------------------------------------------ layers */

static int8_t xp[BCRNN_C0_TP * BCRNN_C0_FP * BCRNN_IN_CH];    /* zero-padded codes, (frame, mel, channel) */
static int8_t patches[BCRNN_C0_POOL * BCRNN_C0_TAPS4];
static int32_t c0max[BCRNN_C0_CHP];
/* vectors of binary dot products: whole 512-bit multiples, so that no compiler sees a vector load beyond them */
#define PAD8(n) (((n) + 7) / 8 * 8)
static uint64_t bits_a[PAD8(BCRNN_BITS_WORDS)], bits_b[PAD8(BCRNN_BITS_WORDS)];
static uint64_t bpatch[PAD8(BCRNN_BPATCH_WORDS)];
static uint64_t dense_bits[BCRNN_T * BCRNN_X_WORDS];
static uint64_t dvec[PAD8(BCRNN_LSTM_WORDS)];
static uint64_t hbits[BCRNN_H_WORDS];
static int32_t counts[BCRNN_MAX_ROWS];
static int32_t bmax[BCRNN_MAX_ROWS];
static int32_t codes_lstm[4 * BCRNN_HIDDEN];
static int32_t cell[BCRNN_HIDDEN];
static int32_t pooled[BCRNN_POOL];
static uint64_t fc_bits[WORDS(BCRNN_FC)];

/* int8 codes x (+-1 or integer weights), zero padding, threshold, OR-pool -> frame bit strings in `out` */
static void conv0(const int8_t *codes, uint64_t *out) {
    enum { PT = BCRNN_C0_KT / 2, PF = BCRNN_C0_KF / 2, ROW = BCRNN_C0_KF * BCRNN_IN_CH };
    memset(xp, 0, sizeof xp);
    for (int32_t c = 0; c < BCRNN_IN_CH; c++)
        for (int32_t t = 0; t < BCRNN_FRAMES; t++)
            for (int32_t f = 0; f < BCRNN_MELS; f++)
                xp[((t + PT) * BCRNN_C0_FP + f + PF) * BCRNN_IN_CH + c] = codes[(c * BCRNN_FRAMES + t) * BCRNN_MELS + f];
    memset(patches, 0, sizeof patches);
    memset(out, 0, sizeof(uint64_t) * BCRNN_C0_TOUT * BCRNN_C0_FRAME_WORDS);
    for (int32_t to = 0; to < BCRNN_C0_TOUT; to++) {
        uint64_t *frame = out + (size_t)to * BCRNN_C0_FRAME_WORDS;
        for (int32_t fo = 0; fo < BCRNN_C0_FOUT; fo++) {
            for (int32_t dt = 0; dt < BCRNN_C0_PT; dt++)
                for (int32_t df = 0; df < BCRNN_C0_PF; df++) {
                    int8_t *patch = patches + (dt * BCRNN_C0_PF + df) * BCRNN_C0_TAPS4;
                    const int32_t t = to * BCRNN_C0_PT + dt, f = fo * BCRNN_C0_PF + df;
                    for (int32_t i = 0; i < BCRNN_C0_KT; i++)
                        memcpy(patch + i * ROW, xp + ((t + i) * BCRNN_C0_FP + f) * BCRNN_IN_CH, ROW);
                }
            conv0_window(patches, c0max);
            for (int32_t o = 0; o < BCRNN_C0_CH; o++)
                if (c0max[o] >= bcrnn_conv0_thr[o]) SET_BIT(frame, fo * BCRNN_C0_CH + o);
        }
    }
}

/* copy n bits from src (bit offset so) to dst (bit offset d0), dst bits being zero before */
static void or_bits(uint64_t *dst, int32_t d0, const uint64_t *src, int32_t so, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (GET_BIT(src, so + i)) SET_BIT(dst, d0 + i);
}

/* binary convolution (padding with bit 0 = -1), XNOR-popcount, threshold, OR-pool */
static void bconv(const bcrnn_bconv_layer *L, const uint64_t *in, uint64_t *out) {
    const int32_t pt = L->kt / 2, pf = L->kf / 2;
    memset(out, 0, sizeof(uint64_t) * L->t_out * L->out_words);
    for (int32_t to = 0; to < L->t_out; to++)
        for (int32_t fo = 0; fo < L->f_out; fo++) {
            for (int32_t dt = 0; dt < L->pt; dt++)
                for (int32_t df = 0; df < L->pf; df++) {
                    const int32_t t = to * L->pt + dt, f = fo * L->pf + df;  /* conv output position */
                    memset(bpatch, 0, sizeof(uint64_t) * L->words);
                    for (int32_t i = 0; i < L->kt; i++) {
                        const int32_t ti = t + i - pt;
                        if (ti < 0 || ti >= L->t_in) continue;
                        for (int32_t j = 0; j < L->kf; j++) {
                            const int32_t fj = f + j - pf;
                            if (fj < 0 || fj >= L->f_in) continue;
                            or_bits(bpatch, (i * L->kf + j) * L->in_ch, in + (size_t)ti * L->in_words,
                                    fj * L->in_ch, L->in_ch);
                        }
                    }
                    xor_popcount_rows(bpatch, L->w, L->ch, L->words, counts);
                    for (int32_t o = 0; o < L->ch; o++) { /* direction-folded accumulator, max over the window */
                        const int32_t v = L->dir[o] * (L->n_bits - 2 * counts[o]);
                        if ((dt == 0 && df == 0) || v > bmax[o]) bmax[o] = v;
                    }
                }
            for (int32_t o = 0; o < L->ch; o++)
                if (bmax[o] >= L->thr[o]) SET_BIT(out + (size_t)to * L->out_words, fo * L->ch + o);
        }
}

/* per-frame dense layer on the last conv's frame bit strings -> dense_bits */
static void dense(const uint64_t *frames) {
    memset(dense_bits, 0, sizeof dense_bits);
    for (int32_t t = 0; t < BCRNN_T; t++) {
        xor_popcount_rows(frames + (size_t)t * BCRNN_DENSE_WORDS, bcrnn_dense_w, BCRNN_DENSE, BCRNN_DENSE_WORDS,
                          counts);
        threshold_rows(counts, BCRNN_DENSE_IN, bcrnn_dense_dir, bcrnn_dense_thr, BCRNN_DENSE,
                       dense_bits + (size_t)t * BCRNN_X_WORDS);
    }
}

/* one LSTM direction over dense_bits; adds its +-1 outputs to pooled[offset ...] */
static void lstm_direction(int32_t d, int reverse) {
    const uint64_t *w = bcrnn_lstm_w + (size_t)d * 4 * BCRNN_HIDDEN * BCRNN_LSTM_WORDS;
    const int32_t *mult = bcrnn_lstm_mult + d * 4 * BCRNN_HIDDEN, *offset = bcrnn_lstm_offset + d * 4 * BCRNN_HIDDEN;
    const int32_t half_k = 1 << (BCRNN_LSTM_K - 1), half_g = 1 << (BCRNN_LSTM_G - 1), half_s = 1 << (BCRNN_LSTM_S - 1);
    memset(hbits, 0, sizeof hbits);
    for (int32_t j = 0; j < BCRNN_HIDDEN; j++) SET_BIT(hbits, j); /* h_0 = sign(0) = +1 */
    memset(cell, 0, sizeof cell);
    for (int32_t step = 0; step < BCRNN_T; step++) {
        const int32_t s = reverse ? BCRNN_T - 1 - step : step;
        /* d_t = [x_t, h_t-1] */
        memset(dvec, 0, sizeof dvec);
        memcpy(dvec, dense_bits + (size_t)s * BCRNN_X_WORDS, sizeof(uint64_t) * BCRNN_X_WORDS);
        for (int32_t k = 0; k < BCRNN_H_WORDS; k++) {
            const int32_t at = BCRNN_DENSE + 64 * k, sh = at & 63;
            dvec[at >> 6] |= hbits[k] << sh;
            if (sh && (at >> 6) + 1 < BCRNN_LSTM_WORDS) dvec[(at >> 6) + 1] |= hbits[k] >> (64 - sh);
        }
        xor_popcount_rows(dvec, w, 4 * BCRNN_HIDDEN, BCRNN_LSTM_WORDS, counts);
        for (int32_t r = 0; r < 4 * BCRNN_HIDDEN; r++) {
            const int32_t dot = BCRNN_LSTM_N - 2 * counts[r];
            const int32_t acc = mult[r] * dot + offset[r] + half_k;
            int32_t code = FLOOR_SHIFT(acc, BCRNN_LSTM_K);
            code = code < BCRNN_LSTM_LO ? BCRNN_LSTM_LO : code > BCRNN_LSTM_HI ? BCRNN_LSTM_HI : code;
            codes_lstm[r] = code - BCRNN_LSTM_LO;
        }
        memset(hbits, 0, sizeof hbits);
        for (int32_t j = 0; j < BCRNN_HIDDEN; j++) {
            const int32_t i = bcrnn_sigmoid[codes_lstm[j]], f = bcrnn_sigmoid[codes_lstm[BCRNN_HIDDEN + j]];
            const int32_t g = bcrnn_tanh[codes_lstm[2 * BCRNN_HIDDEN + j]];
            const int32_t o = bcrnn_sigmoid[codes_lstm[3 * BCRNN_HIDDEN + j]];
            const int32_t fc = f * cell[j] + half_g, ig = i * g + half_s;
            int32_t c = FLOOR_SHIFT(fc, BCRNN_LSTM_G) + FLOOR_SHIFT(ig, BCRNN_LSTM_S);
            c = c < BCRNN_CELL_MIN ? BCRNN_CELL_MIN : c > BCRNN_CELL_MAX ? BCRNN_CELL_MAX : c;
            cell[j] = c;
            const int32_t bit = o == 0 || c >= 0;
            if (bit) SET_BIT(hbits, j);
            pooled[d * BCRNN_HIDDEN + j] += bit ? 1 : -1;
#ifdef BCRNN_TRACE
            lstm_bits[s][d * BCRNN_HIDDEN + j] = (uint8_t)bit;
#endif
        }
    }
}

int bcrnn_segment(const int8_t *codes, int32_t *logits) {
#ifdef BCRNN_TRACE
    for (int32_t i = 0; i < BCRNN_CODES; i++) trace_buf[i] = codes[i];
    trace_emit("input", 3, BCRNN_IN_CH, BCRNN_FRAMES, BCRNN_MELS);
#endif
    uint64_t *cur = bits_a, *next = bits_b;
    conv0(codes, cur);
#ifdef BCRNN_TRACE
    trace_conv(0, cur, BCRNN_C0_CH, BCRNN_C0_TOUT, BCRNN_C0_FOUT, BCRNN_C0_FRAME_WORDS);
#endif
    for (int32_t l = 0; l < BCRNN_BCONV_LAYERS; l++) {
        bconv(&bcrnn_bconv[l], cur, next);
        uint64_t *tmp = cur;
        cur = next;
        next = tmp;
#ifdef BCRNN_TRACE
        trace_conv(l + 1, cur, bcrnn_bconv[l].ch, bcrnn_bconv[l].t_out, bcrnn_bconv[l].f_out,
                   bcrnn_bconv[l].out_words);
#endif
    }
    dense(cur);
#ifdef BCRNN_TRACE
    for (int32_t t = 0; t < BCRNN_T; t++)
        for (int32_t r = 0; r < BCRNN_DENSE; r++)
            trace_buf[t * BCRNN_DENSE + r] = GET_BIT(dense_bits + (size_t)t * BCRNN_X_WORDS, r);
    trace_emit("dense", 2, BCRNN_T, BCRNN_DENSE, 1);
#endif
    memset(pooled, 0, sizeof pooled);
    lstm_direction(0, 0);
    lstm_direction(1, 1);
#ifdef BCRNN_TRACE
    for (int32_t t = 0; t < BCRNN_T; t++)
        for (int32_t j = 0; j < BCRNN_POOL; j++) trace_buf[t * BCRNN_POOL + j] = lstm_bits[t][j];
    trace_emit("lstm", 2, BCRNN_T, BCRNN_POOL, 1);
    for (int32_t j = 0; j < BCRNN_POOL; j++) trace_buf[j] = pooled[j];
    trace_emit("pool", 1, BCRNN_POOL, 1, 1);
#endif
    memset(fc_bits, 0, sizeof fc_bits);
    for (int32_t o = 0; o < BCRNN_FC; o++) {
        const int8_t *w = bcrnn_fc_w + (size_t)o * BCRNN_POOL;
        int32_t acc = 0;
        for (int32_t j = 0; j < BCRNN_POOL; j++) acc += pooled[j] * w[j];
        if (bcrnn_fc_dir[o] * acc >= bcrnn_fc_thr[o]) SET_BIT(fc_bits, o);
    }
#ifdef BCRNN_TRACE
    for (int32_t o = 0; o < BCRNN_FC; o++) trace_buf[o] = GET_BIT(fc_bits, o);
    trace_emit("fc", 1, BCRNN_FC, 1, 1);
#endif
    int label = 0;
    for (int32_t c = 0; c < BCRNN_CLASSES; c++) {
        const int8_t *w = bcrnn_out_w + (size_t)c * BCRNN_FC;
        int32_t dot = 0;
        for (int32_t k = 0; k < BCRNN_FC; k++) dot += GET_BIT(fc_bits, k) ? w[k] : -w[k];
        /* the generator checks that |M dot + B| < 2^31 for every reachable dot */
        logits[c] = (int32_t)((int64_t)bcrnn_out_mult[c] * dot + bcrnn_out_offset[c]);
        if (logits[c] > logits[label]) label = c;
    }
#ifdef BCRNN_TRACE
    for (int32_t c = 0; c < BCRNN_CLASSES; c++) trace_buf[c] = logits[c];
    trace_emit("logits", 1, BCRNN_CLASSES, 1, 1);
#endif
    return label;
}

/* ------------------------------------------------------------------------------------------------ front end */

void bcrnn_quantize(const float *features, const float *mean, const float *std, int8_t *codes) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: (v + magic) - magic rounds |v| < 2^22 half to even */
    for (int32_t c = 0; c < BCRNN_IN_CH; c++)
        for (int32_t t = 0; t < BCRNN_FRAMES; t++)
            for (int32_t m = 0; m < BCRNN_MELS; m++) {
                const int32_t i = (c * BCRNN_FRAMES + t) * BCRNN_MELS + m;
                const float z = (features[i] - mean[c * BCRNN_MELS + m]) / std[c * BCRNN_MELS + m];
                float v = z * (float)(1 << BCRNN_INPUT_FRAC);
                if (!(v > -129.0f)) v = -129.0f; /* also NaN */
                if (v > 128.0f) v = 128.0f;
                volatile float r = v + magic;
                const float rounded = r - magic;
                codes[i] = (int8_t)(rounded < -128.0f ? -128 : rounded > 127.0f ? 127 : (int32_t)rounded);
            }
}
