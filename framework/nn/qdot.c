/* qdot.c - dot products of a weight row in its file's format with an
 * activation row: 8-bit quantisation of the activations, integer dot
 * products per block (portable C, and AVX2 `maddubs` where the CPU has
 * it), and half-precision rows against float activations.  The path is
 * chosen once, at first use, from the CPU's features; SOCFW_QKERNEL=scalar
 * forces the portable one (socfw/qtensor.h).
 *
 * Every block format is read through its unpack function (dtype.c,
 * kquants.c): q[e] small integers and per 16 elements a scale s and an
 * offset m.  With the activation block (d_a, q_a, bs = sums of q_a over
 * each 16), the dot of one 32-element sub-block is
 *     d_a * (s0 * sum_{e<16} q[e] q_a[e] + s1 * sum_{e>=16} q[e] q_a[e]
 *            + m0 * bs[0] + m1 * bs[1])
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q6_K have AVX2 kernels reading
 * the blocks directly; Q2_K, Q3_K and Q5_K unpack, then use AVX2.
 *
 * Q4_0's one-row products on the "avx2" path take the activations in
 * pairs of blocks with sums of four elements (nn_q8x2, the same d and q)
 * and the unsigned nibbles (dotx2_q4_0_avx2); the signed kernel before it
 * (dot_q4_0_avx2) remains on "avx2-q8".
 *
 * The 256-element K-quants take their one-row products against
 * activations quantised per 256 instead (nn_q8k, the dotk kernels): Q2_K
 * to Q6_K read the blocks directly and add the sub-block products as
 * integers (Q8_K, not a linear-layer type, unpacks).  The per-32 kernels
 * above remain for the "avx2-q8" path (SOCFW_QKERNEL=avx2-q8).
 *
 * The prefill panels (qtensor.c) dequantise rows to float: AVX2 kernels
 * for F16, Q8_0, Q4_0, Q5_0, Q4_K and Q6_K (bit-identical to the portable
 * dequantiser), the portable one for the other formats. */
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/error.h"
#include "socfw/log.h"
#include "socfw/qtensor.h"

/* ---- activations -------------------------------------------------------- */

/* One block of len values (32, or 256 for the K-quants' activations):
 * q = round(x / d), d = max|x| / 127 (returned).  Inlined with a constant
 * len, so each caller gets its own fixed-length loops. */
static inline float
q8_block(const float *x, int8_t *q, int len)
{
        float amax = 0.0f;
        for (int i = 0; i < len; i++) {
                float v = fabsf(x[i]);
                amax = v > amax ? v : amax;
        }
        float d = amax / 127.0f;
        float id = d > 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < len; i++)
                q[i] = (int8_t)lrintf(x[i] * id);
        return d;
}

NN_CLONES void
nn_quantize_q8(const float *x, nn_q8 *y, int64_t n)
{
        for (int64_t b = 0; b < n / 32; b++, x += 32, y++) {
                y->d = q8_block(x, y->q, 32);
                int s0 = 0, s1 = 0;
                for (int i = 0; i < 16; i++) {
                        s0 += y->q[i];
                        s1 += y->q[16 + i];
                }
                y->bs[0] = (int16_t)s0;
                y->bs[1] = (int16_t)s1;
        }
}

NN_CLONES void
nn_quantize_q8x2(const float *x, nn_q8x2 *y, int64_t n)
{
        int64_t nb = n / 32;
        for (int64_t b = 0; b < nb; b += 2, y++) {
                memset(y, 0, sizeof *y);
                for (int k = 0; k < 2 && b + k < nb; k++) {
                        int8_t q[32];
                        float d = q8_block(x + 32 * (b + k), q, 32);
                        memcpy(y->q + 16 * k, q, 16);
                        memcpy(y->q + 32 + 16 * k, q + 16, 16);
                        for (int i = 0; i < 8; i++) {
                                y->s4[8 * k + i] = (int16_t)(
                                        q[2 * i] + q[2 * i + 1] +
                                        q[16 + 2 * i] + q[17 + 2 * i]);
                                y->d[4 * k + i / 2] = d;
                        }
                }
        }
}

NN_CLONES void
nn_quantize_q8k(const float *x, nn_q8k *y, int64_t n)
{
        for (int64_t b = 0; b < n / 256; b++, x += 256, y++) {
                float d = q8_block(x, y->q, 256);
                for (int g = 0; g < 16; g++) {
                        int s = 0;
                        for (int i = 0; i < 16; i++)
                                s += y->q[16 * g + i];
                        y->bs[g] = (int16_t)s;
                }
                for (int j = 0; j < 8; j++)
                        y->bs32[j] = (int16_t)(y->bs[2 * j] + y->bs[2 * j + 1]);
                y->d = d;
        }
}

/* ---- portable path ------------------------------------------------------ */

static float
dot_scalar(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
           int64_t nblocks)
{
        int8_t q[256];
        float s[16], m[16];
        float acc = 0.0f;
        int subs = tr->block / 32;
        for (int64_t b = 0; b < nblocks; b++, row += tr->bytes) {
                tr->unpack(row, q, s, m);
                for (int j = 0; j < subs; j++, a++) {
                        const int8_t *w = q + 32 * j;
                        int32_t i0 = 0, i1 = 0;
                        for (int e = 0; e < 16; e++)
                                i0 += w[e] * a->q[e];
                        for (int e = 16; e < 32; e++)
                                i1 += w[e] * a->q[e];
                        acc += a->d * (s[2 * j] * (float)i0 +
                                       s[2 * j + 1] * (float)i1 +
                                       m[2 * j] * (float)a->bs[0] +
                                       m[2 * j + 1] * (float)a->bs[1]);
                }
        }
        return acc;
}

/* The 256-element formats against activations quantised per 256: per
 * group of 16, s * (integer dot) + m * (sum of the activations' q), the
 * block's sum times the activations' d. */
static float
dotk_scalar(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
            int64_t nblocks)
{
        int8_t q[256];
        float s[16], m[16];
        float acc = 0.0f;
        for (int64_t b = 0; b < nblocks; b++, row += tr->bytes, a++) {
                tr->unpack(row, q, s, m);
                float bacc = 0.0f;
                for (int g = 0; g < 16; g++) {
                        int32_t i = 0;
                        for (int e = 16 * g; e < 16 * g + 16; e++)
                                i += q[e] * a->q[e];
                        bacc += s[g] * (float)i + m[g] * (float)a->bs[g];
                }
                acc += a->d * bacc;
        }
        return acc;
}

static uint16_t
rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | (p[1] << 8));
}

static float
hdot_f16_scalar(const uint8_t *row, const float *x, int64_t n)
{
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                        acc[j] += socfw_f16_to_f32(rd16(row + 2 * (i + j))) *
                                  x[i + j];
        for (; i < n; i++)
                acc[0] += socfw_f16_to_f32(rd16(row + 2 * i)) * x[i];
        return ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
               ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

NN_CLONES static float
hdot_bf16_scalar(const uint8_t *row, const float *x, int64_t n)
{
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++) {
                        uint32_t u = (uint32_t)rd16(row + 2 * (i + j)) << 16;
                        float w;
                        memcpy(&w, &u, sizeof w);
                        acc[j] += w * x[i + j];
                }
        for (; i < n; i++)
                acc[0] += socfw_bf16_to_f32(rd16(row + 2 * i)) * x[i];
        return ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
               ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static const nn_qkernels k_scalar = {
        .name = "scalar",
        .dot = {
                [SOCFW_DTYPE_Q8_0] = dot_scalar,
                [SOCFW_DTYPE_Q4_0] = dot_scalar,
                [SOCFW_DTYPE_Q4_1] = dot_scalar,
                [SOCFW_DTYPE_Q5_0] = dot_scalar,
                [SOCFW_DTYPE_Q5_1] = dot_scalar,
                [SOCFW_DTYPE_Q2_K] = dot_scalar,
                [SOCFW_DTYPE_Q3_K] = dot_scalar,
                [SOCFW_DTYPE_Q4_K] = dot_scalar,
                [SOCFW_DTYPE_Q5_K] = dot_scalar,
                [SOCFW_DTYPE_Q6_K] = dot_scalar,
                [SOCFW_DTYPE_Q8_K] = dot_scalar,
        },
        .dotk = {
                [SOCFW_DTYPE_Q2_K] = dotk_scalar,
                [SOCFW_DTYPE_Q3_K] = dotk_scalar,
                [SOCFW_DTYPE_Q4_K] = dotk_scalar,
                [SOCFW_DTYPE_Q5_K] = dotk_scalar,
                [SOCFW_DTYPE_Q6_K] = dotk_scalar,
                [SOCFW_DTYPE_Q8_K] = dotk_scalar,
        },
        .hdot = {
                [SOCFW_DTYPE_F16] = hdot_f16_scalar,
                [SOCFW_DTYPE_BF16] = hdot_bf16_scalar,
        },
};

/* ---- AVX2 path ---------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && \
        !defined(SOCFW_NO_TARGET_CLONES)
#define NN_HAVE_AVX2 1
#include <cpuid.h>
#include <immintrin.h>

#include "nn/avx2_sum.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* 8 int32 sums of products of the signed bytes w and a: lanes 0..3 cover
 * bytes 0..15, lanes 4..7 bytes 16..31 (|w| <= 128, |a| <= 127). */
AVX2 static inline __m256i
i8dot(__m256i w, __m256i a)
{
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w),
                                         _mm256_sign_epi8(a, w));
        return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Same for unsigned bytes u (<= 127) against signed a. */
AVX2 static inline __m256i
u8dot(__m256i u, __m256i a)
{
        return _mm256_madd_epi16(_mm256_maddubs_epi16(u, a),
                                 _mm256_set1_epi16(1));
}

AVX2 static inline float
f16(const uint8_t *p)
{
        return _cvtsh_ss(rd16(p));
}

AVX2 static float
dot_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
         int64_t nblocks)
{
        int8_t q[256];
        float s[16], m[16];
        __m256 acc = _mm256_setzero_ps();
        float macc = 0.0f;
        int subs = tr->block / 32;
        for (int64_t b = 0; b < nblocks; b++, row += tr->bytes) {
                tr->unpack(row, q, s, m);
                for (int j = 0; j < subs; j++, a++) {
                        __m256i w = _mm256_loadu_si256((const void *)(q +
                                                                      32 * j));
                        __m256i x = _mm256_loadu_si256((const void *)a->q);
                        __m256 p = _mm256_cvtepi32_ps(i8dot(w, x));
                        __m256 sc = _mm256_set_m128(
                                _mm_set1_ps(s[2 * j + 1] * a->d),
                                _mm_set1_ps(s[2 * j] * a->d));
                        acc = _mm256_fmadd_ps(p, sc, acc);
                        macc += a->d * (m[2 * j] * (float)a->bs[0] +
                                        m[2 * j + 1] * (float)a->bs[1]);
                }
        }
        return nn_hsum8(acc) + macc;
}

AVX2 static float
dot_q8_0_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= nblocks; b += 2, row += 68, a += 2) {
                __m256i w0 = _mm256_loadu_si256((const void *)(row + 2));
                __m256i w1 = _mm256_loadu_si256((const void *)(row + 36));
                __m256 p0 = _mm256_cvtepi32_ps(
                        i8dot(w0, _mm256_loadu_si256((const void *)a[0].q)));
                __m256 p1 = _mm256_cvtepi32_ps(
                        i8dot(w1, _mm256_loadu_si256((const void *)a[1].q)));
                acc0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(f16(row) * a[0].d),
                                       acc0);
                acc1 = _mm256_fmadd_ps(p1,
                                       _mm256_set1_ps(f16(row + 34) * a[1].d),
                                       acc1);
        }
        for (; b < nblocks; b++, row += 34, a++) {
                __m256i w = _mm256_loadu_si256((const void *)(row + 2));
                __m256 p = _mm256_cvtepi32_ps(
                        i8dot(w, _mm256_loadu_si256((const void *)a->q)));
                acc0 = _mm256_fmadd_ps(p, _mm256_set1_ps(f16(row) * a->d),
                                       acc0);
        }
        return nn_hsum8(_mm256_add_ps(acc0, acc1));
}

/* Q4_0: x = (u - 8) d for the nibbles u in 0..15; the signed bytes u - 8
 * go through the signed dot as Q8_0's do (a scalar "- 8 sum q_a" term per
 * block measured slower).  Two blocks per step into two accumulators (as
 * Q8_0), so one block's FMA need not wait for the last. */
AVX2 static inline __m256
q4_0_block(const uint8_t *row, const nn_q8 *a, __m256 acc)
{
        __m128i raw = _mm_loadu_si128((const void *)(row + 2));
        __m256i u = _mm256_and_si256(
                _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
                _mm256_set1_epi8(0x0f));
        __m256i w = _mm256_sub_epi8(u, _mm256_set1_epi8(8));
        __m256 p = _mm256_cvtepi32_ps(
                i8dot(w, _mm256_loadu_si256((const void *)a->q)));
        return _mm256_fmadd_ps(p, _mm256_set1_ps(f16(row) * a->d), acc);
}

AVX2 static float
dot_q4_0_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= nblocks; b += 2, row += 36, a += 2) {
                acc0 = q4_0_block(row, a, acc0);
                acc1 = q4_0_block(row + 18, a + 1, acc1);
        }
        if (b < nblocks)
                acc0 = q4_0_block(row, a, acc0);
        return nn_hsum8(_mm256_add_ps(acc0, acc1));
}

/* Q4_0 against the paired activations (nn_q8x2), one row per call of
 * q4_0_x2_row.  Per two blocks: the 32 bytes of nibbles in one register
 * (block 0's 16 in the low lane, block 1's in the high), one and for the
 * low nibbles (elements 0..15 of both blocks) and a shift and an and for
 * the high ones (16..31), which meet the activations' halves as nn_q8x2
 * lays them out; maddubs of the unsigned nibbles with the signed
 * activations, the two products added as 16-bit lanes (at most
 * 4 * 15 * 127), minus 8 times the activations' sums of four (s4) for the
 * weights' offset of 8, madd to 32 bits (lanes 0..3 block 0, 4..7 block
 * 1), one conversion and one FMA by (d_w d_a) per lane for both blocks.
 * The two f16 scales d_w become [d0 x4, d1 x4] through one shuffle and
 * one conversion.  About half the vector operations per block of the
 * signed kernel above.
 *
 * The weights are prefetched Q4_0_PREFETCH bytes ahead: without it the
 * kernel ran 1.1-1.15x the signed one on weights streamed from memory,
 * with it 1.25-1.45x (bench/bench_gemv quant, doc/performance.md).
 * Two or four rows at a time (each activation load serving them all, as
 * gemv.c's long rows) measured 1.1x one row at a time in cache, but from
 * memory 0.5-0.8x the signed kernel without prefetching and 0.9-1.4x with
 * it, below one row at a time: interleaved row streams of 1-3 KiB read
 * memory worse than one, so the rows of a call go one after the other. */
#define Q4_0_PREFETCH 1536

AVX2 static inline __attribute__((always_inline)) __m256
q4_0_x2_step(const uint8_t *p, const nn_q8x2 *a, __m256 acc, const int two)
{
        const __m256i m4 = _mm256_set1_epi8(0x0f);
        const __m256i ones = _mm256_set1_epi16(1);
        const __m128i dup = _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3,
                                          2, 3, 2, 3);
        __m256i off = _mm256_slli_epi16(
                _mm256_loadu_si256((const void *)a->s4), 3);
        __m128i q0 = _mm_loadu_si128((const void *)(p + 2));
        __m128i q1 = two ? _mm_loadu_si128((const void *)(p + 20))
                         : _mm_setzero_si128();
        __m256i raw = _mm256_set_m128i(q1, q0);
        __m256i lo = _mm256_and_si256(raw, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        __m256i s16 = _mm256_sub_epi16(
                _mm256_add_epi16(
                        _mm256_maddubs_epi16(
                                lo, _mm256_loadu_si256((const void *)a->q)),
                        _mm256_maddubs_epi16(
                                hi, _mm256_loadu_si256(
                                            (const void *)(a->q + 32)))),
                off);
        __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, ones));
        uint32_t dd = rd16(p) | (two ? (uint32_t)rd16(p + 18) << 16 : 0);
        __m256 dw = _mm256_cvtph_ps(
                _mm_shuffle_epi8(_mm_cvtsi32_si128((int)dd), dup));
        return _mm256_fmadd_ps(f, _mm256_mul_ps(dw, _mm256_loadu_ps(a->d)),
                               acc);
}

AVX2 static float
q4_0_x2_row(const uint8_t *p, const nn_q8x2 *a, int64_t nblocks)
{
        __m256 acc = _mm256_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= nblocks; b += 2, a++, p += 36) {
                _mm_prefetch((const char *)p + Q4_0_PREFETCH, _MM_HINT_T0);
                acc = q4_0_x2_step(p, a, acc, 1);
        }
        if (b < nblocks)
                acc = q4_0_x2_step(p, a, acc, 0);
        return nn_hsum8(acc);
}

AVX2 static void
dotx2_q4_0_avx2(const uint8_t *w, size_t rb, int64_t nrows,
                const nn_q8x2 *a, int64_t nblocks, float *out)
{
        for (int64_t r = 0; r < nrows; r++)
                out[r] = q4_0_x2_row(w + (size_t)r * rb, a, nblocks);
}

/* The 32 bits at p as 32 bytes, 0xff where the bit is set (byte i <- bit
 * i). */
AVX2 static inline __m256i
bits32(const uint8_t *p)
{
        uint32_t x;
        memcpy(&x, p, 4);
        const __m256i shuf = _mm256_set_epi64x(
                0x0303030303030303LL, 0x0202020202020202LL,
                0x0101010101010101LL, 0x0000000000000000LL);
        __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
        b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL));
        return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

/* The 32 nibbles of 16 bytes at p: low nibbles are bytes 0..15, high
 * nibbles 16..31. */
AVX2 static inline __m256i
nibbles32(const uint8_t *p)
{
        __m128i raw = _mm_loadu_si128((const void *)p);
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
                                _mm256_set1_epi8(0x0f));
}

/* Q4_1, Q5_0, Q5_1: unsigned u (4 or 5 bits); x = (u - off) d + m, so the
 * dot is d d_a (sum u q_a - off (bs0 + bs1)) + m d_a (bs0 + bs1). */
AVX2 static inline float
dot_u32_avx2(const uint8_t *row, const nn_q8 *a, int64_t nblocks,
             size_t bytes, int has_m, int has_h, float off)
{
        __m256 acc = _mm256_setzero_ps();
        float corr = 0.0f;
        const __m256i h16 = _mm256_set1_epi8(0x10);
        for (int64_t b = 0; b < nblocks; b++, row += bytes, a++) {
                const uint8_t *qs = row + (has_m ? 4 : 2) + (has_h ? 4 : 0);
                __m256i u = nibbles32(qs);
                if (has_h)
                        u = _mm256_or_si256(
                                u, _mm256_and_si256(
                                           bits32(row + (has_m ? 4 : 2)), h16));
                __m256 p = _mm256_cvtepi32_ps(
                        u8dot(u, _mm256_loadu_si256((const void *)a->q)));
                float dd = f16(row) * a->d;
                float bs = (float)(a->bs[0] + a->bs[1]);
                acc = _mm256_fmadd_ps(p, _mm256_set1_ps(dd), acc);
                corr += (has_m ? f16(row + 2) * a->d : -off * dd) * bs;
        }
        return nn_hsum8(acc) + corr;
}

AVX2 static float
dot_q4_1_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        return dot_u32_avx2(row, a, nblocks, 20, 1, 0, 0.0f);
}

AVX2 static float
dot_q5_0_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        return dot_u32_avx2(row, a, nblocks, 22, 0, 1, 16.0f);
}

AVX2 static float
dot_q5_1_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        return dot_u32_avx2(row, a, nblocks, 24, 1, 1, 0.0f);
}

/* The 128 unsigned 6-bit fields (0..63) of half h of the Q6_K block at
 * row, as four runs of 32 bytes in the order of the block's values: the
 * low nibbles from ql (64 bytes per half, low then high nibbles of each
 * 32), the two high bits from qh (32 bytes per half, 2 bits per run). */
AVX2 static inline void
q6k_fields(const uint8_t *row, int h, __m256i u[4])
{
        const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
        const uint8_t *ql = row + 64 * h;
        __m256i l0 = _mm256_loadu_si256((const void *)ql);
        __m256i l1 = _mm256_loadu_si256((const void *)(ql + 32));
        __m256i hh = _mm256_loadu_si256((const void *)(row + 128 + 32 * h));
        __m256i lows[4] = {
                _mm256_and_si256(l0, m4),
                _mm256_and_si256(l1, m4),
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
        };
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)     /* unrolled: immediate shifts */
                u[k] = _mm256_or_si256(
                        lows[k],
                        _mm256_slli_epi16(
                                _mm256_and_si256(
                                        _mm256_srli_epi16(hh, 2 * k), m2),
                                4));
}

/* Q6_K: per 128 elements h, ql[64] and qh[32]; element 32k + l of the
 * half is the k-th 4-bit field (k = 0: low nibble of ql[l], 1: of
 * ql[l+32], 2/3: the high nibbles) with bits 2k, 2k+1 of qh[l] on top,
 * minus 32; one int8 scale per 16 (kquants.c). */
AVX2 static float
dot_q6_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        __m256 acc = _mm256_setzero_ps();
        float corr = 0.0f;
        for (int64_t b = 0; b < nblocks; b++, row += 210) {
                const int8_t *sc = (const int8_t *)(row + 192);
                float d = f16(row + 208);
                for (int h = 0; h < 2; h++) {
                        __m256i u[4];
                        q6k_fields(row, h, u);
                        for (int k = 0; k < 4; k++, a++) {
                                int g = 8 * h + 2 * k;
                                float s0 = d * (float)sc[g] * a->d;
                                float s1 = d * (float)sc[g + 1] * a->d;
                                __m256 p = _mm256_cvtepi32_ps(u8dot(
                                        u[k],
                                        _mm256_loadu_si256((const void *)a->q)));
                                acc = _mm256_fmadd_ps(
                                        p,
                                        _mm256_set_m128(_mm_set1_ps(s1),
                                                        _mm_set1_ps(s0)),
                                        acc);
                                corr += 32.0f * (s0 * (float)a->bs[0] +
                                                 s1 * (float)a->bs[1]);
                        }
                }
        }
        return nn_hsum8(acc) - corr;
}

/* Q4_K: per 64 elements g, 32 bytes whose low nibbles are sub-block 2g
 * and high nibbles 2g+1 (kquants.c). */
AVX2 static float
dot_q4_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8 *a,
              int64_t nblocks)
{
        (void)tr;
        const __m256i lo = _mm256_set1_epi8(0x0f);
        __m256 acc = _mm256_setzero_ps();
        float macc = 0.0f;
        for (int64_t b = 0; b < nblocks; b++, row += 144) {
                float d = f16(row), dmin = f16(row + 2);
                const uint8_t *sc = row + 4, *qs = row + 16;
                int s[8], mn[8];
                for (int j = 0; j < 4; j++) {
                        s[j] = sc[j] & 63;
                        mn[j] = sc[j + 4] & 63;
                        s[j + 4] = (sc[j + 8] & 0x0f) | ((sc[j] >> 6) << 4);
                        mn[j + 4] = (sc[j + 8] >> 4) | ((sc[j + 4] >> 6) << 4);
                }
                for (int g = 0; g < 4; g++, a += 2) {
                        __m256i raw = _mm256_loadu_si256((const void *)(qs +
                                                                        32 * g));
                        __m256i u0 = _mm256_and_si256(raw, lo);
                        __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(raw, 4),
                                                      lo);
                        __m256 p0 = _mm256_cvtepi32_ps(u8dot(
                                u0, _mm256_loadu_si256((const void *)a[0].q)));
                        __m256 p1 = _mm256_cvtepi32_ps(u8dot(
                                u1, _mm256_loadu_si256((const void *)a[1].q)));
                        acc = _mm256_fmadd_ps(
                                p0, _mm256_set1_ps(d * (float)s[2 * g] * a[0].d),
                                acc);
                        acc = _mm256_fmadd_ps(
                                p1,
                                _mm256_set1_ps(d * (float)s[2 * g + 1] * a[1].d),
                                acc);
                        macc += dmin * ((float)mn[2 * g] * a[0].d *
                                                (float)(a[0].bs[0] + a[0].bs[1]) +
                                        (float)mn[2 * g + 1] * a[1].d *
                                                (float)(a[1].bs[0] + a[1].bs[1]));
                }
        }
        return nn_hsum8(acc) - macc;
}

/* ---- 256-element formats against activations quantised per 256 --------
 * One float scale per activation block lets the sub-block products of a
 * weight block be added as integers: maddubs gives 16 int16 pair sums of
 * (unsigned weight) x (signed activation); madd against the sub-block's
 * integer scale (broadcast as int16) adds pairs into 8 int32 lanes, summed
 * over the block; one conversion and one FMA per block.  The offsets
 * (Q4_K / Q5_K mins, Q6_K's -32) are a small integer dot product of the
 * per-block integer mins or scales with the activations' sums per 16/32.
 * Bounds: |pair sum| <= 2 * 63 * 127 (no int16 saturation for the 6-bit
 * Q6_K values), |int32 lane| < 2^26. */

/* The 8 six-bit scales (*sc) and mins (*mn) of a Q4_K/Q5_K block's
 * 12-byte table as bytes 0..7 of two vectors (kquants.c scale_min_k4):
 * scales 0..3 and mins 0..3 are the low six bits of bytes 0..3 and 4..7;
 * scales and mins 4..7 take their low four bits from the nibbles of
 * bytes 8..11 and their top two from the top bits of bytes 0..3 / 4..7. */
AVX2 static inline void
k4_scales(const uint8_t *p, __m128i *sc, __m128i *mn)
{
        uint32_t w[3];
        memcpy(&w[0], p, 4);
        memcpy(&w[1], p + 4, 4);
        memcpy(&w[2], p + 8, 4);
        uint32_t s_lo = w[0] & 0x3f3f3f3fu, m_lo = w[1] & 0x3f3f3f3fu;
        uint32_t s_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u);
        uint32_t m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) |
                        ((w[1] >> 2) & 0x30303030u);
        *sc = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)s_hi, (int)s_lo));
        *mn = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)m_hi, (int)m_lo));
}

/* int16 lane j of the 8 in v (both 128-bit halves the same) broadcast to
 * all 16 lanes. */
#define K_LANE16(v, j)                                                    \
        _mm256_shuffle_epi8(                                              \
                (v), _mm256_set1_epi16((short)((2 * (j) + 1) << 8 | 2 * (j))))

/* The 8 int16 of 128-bit half h of v in both halves. */
AVX2 static inline __m256i
k_half(__m256i v, int h)
{
        return h ? _mm256_permute2x128_si256(v, v, 0x11)
                 : _mm256_permute2x128_si256(v, v, 0x00);
}

/* The activations' sums per 32 (8 int16). */
AVX2 static inline __m128i
k_sums32(const nn_q8k *a)
{
        return _mm_loadu_si128((const void *)a->bs32);
}

/* Q4_K (Q5_K with qh): per block d * sum_j sc_j (q_j . a_j) - dmin *
 * sum_j mn_j (sum of a over sub-block j); sub-block 2g / 2g+1 are the low
 * / high nibbles of qs[32 g ..] (+16 where bit 2g / 2g+1 of qh[l] is
 * set). */
AVX2 static inline float
dotk_q45_k(const uint8_t *row, const nn_q8k *a, int64_t nblocks, int five)
{
        const __m256i lo = _mm256_set1_epi8(0x0f);
        const __m256i b4 = _mm256_set1_epi8(0x10);
        size_t bytes = five ? 176 : 144;
        __m256 acc = _mm256_setzero_ps();
        __m128 macc = _mm_setzero_ps();
        for (int64_t b = 0; b < nblocks; b++, row += bytes, a++) {
                float d = f16(row) * a->d, dmin = f16(row + 2) * a->d;
                __m128i sc, mn;
                k4_scales(row + 4, &sc, &mn);
                macc = _mm_fmadd_ps(
                        _mm_cvtepi32_ps(_mm_madd_epi16(mn, k_sums32(a))),
                        _mm_set1_ps(dmin), macc);
                __m256i scv = _mm256_broadcastsi128_si256(sc);
                const uint8_t *qs = row + (five ? 48 : 16);
                __m256i hb = five ? _mm256_loadu_si256((const void *)(row + 16))
                                  : _mm256_setzero_si256();
                __m256i isum = _mm256_setzero_si256();
                /* unrolled: constant shuffle masks and shifts */
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++) {
                        __m256i raw = _mm256_loadu_si256(
                                (const void *)(qs + 32 * g));
                        __m256i u0 = _mm256_and_si256(raw, lo);
                        __m256i u1 = _mm256_and_si256(
                                _mm256_srli_epi16(raw, 4), lo);
                        if (five) {
                                /* bit 2g (2g+1) of each byte to bit 4:
                                 * shifts of 16-bit lanes by at most 4
                                 * move no bit across a byte's bit 4 */
                                __m256i h0, h1;
                                switch (g) {
                                case 0:
                                        h0 = _mm256_slli_epi16(hb, 4);
                                        h1 = _mm256_slli_epi16(hb, 3);
                                        break;
                                case 1:
                                        h0 = _mm256_slli_epi16(hb, 2);
                                        h1 = _mm256_slli_epi16(hb, 1);
                                        break;
                                case 2:
                                        h0 = hb;
                                        h1 = _mm256_srli_epi16(hb, 1);
                                        break;
                                default:
                                        h0 = _mm256_srli_epi16(hb, 2);
                                        h1 = _mm256_srli_epi16(hb, 3);
                                        break;
                                }
                                u0 = _mm256_or_si256(u0,
                                                     _mm256_and_si256(h0, b4));
                                u1 = _mm256_or_si256(u1,
                                                     _mm256_and_si256(h1, b4));
                        }
                        __m256i p0 = _mm256_maddubs_epi16(
                                u0, _mm256_loadu_si256(
                                            (const void *)(a->q + 64 * g)));
                        __m256i p1 = _mm256_maddubs_epi16(
                                u1, _mm256_loadu_si256(
                                            (const void *)(a->q + 64 * g +
                                                           32)));
                        isum = _mm256_add_epi32(
                                isum,
                                _mm256_madd_epi16(p0, K_LANE16(scv, 2 * g)));
                        isum = _mm256_add_epi32(
                                isum, _mm256_madd_epi16(
                                              p1, K_LANE16(scv, 2 * g + 1)));
                }
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                                      _mm256_set1_ps(d), acc);
        }
        __m128 m = _mm_add_ps(macc, _mm_movehl_ps(macc, macc));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        return nn_hsum8(acc) - _mm_cvtss_f32(m);
}

AVX2 static float
dotk_q4_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
               int64_t nblocks)
{
        (void)tr;
        return dotk_q45_k(row, a, nblocks, 0);
}

AVX2 static float
dotk_q5_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
               int64_t nblocks)
{
        (void)tr;
        return dotk_q45_k(row, a, nblocks, 1);
}

/* Q6_K: the unsigned 6-bit fields u (as dot_q6_k_avx2) against a, each
 * pair of 16-groups times its int8 scale; q = u - 32, so the block is
 * d (sum_g sc_g (u_g . a_g) - 32 sum_g sc_g bs_g). */
AVX2 static float
dotk_q6_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
               int64_t nblocks)
{
        (void)tr;
        /* int16 lane k of a half's 8 scales to lanes 0..7 and lane k + 1
         * to lanes 8..15 */
        __m256i pick[4];
        for (int k = 0; k < 4; k++)
                pick[k] = _mm256_set_m128i(
                        _mm_set1_epi16((short)((4 * k + 3) << 8 | (4 * k + 2))),
                        _mm_set1_epi16((short)((4 * k + 1) << 8 | 4 * k)));
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nblocks; b++, row += 210, a++) {
                __m256i sc = _mm256_cvtepi8_epi16(
                        _mm_loadu_si128((const void *)(row + 192)));
                __m256i isum = _mm256_slli_epi32(
                        _mm256_madd_epi16(
                                sc, _mm256_loadu_si256((const void *)a->bs)),
                        5);
                isum = _mm256_sub_epi32(_mm256_setzero_si256(), isum);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                        __m256i u[4];
                        q6k_fields(row, h, u);
                        /* this half's 8 scales in both 128-bit halves */
                        __m256i sh = k_half(sc, h);
#pragma GCC unroll 4
                        for (int k = 0; k < 4; k++) {
                                __m256i p = _mm256_maddubs_epi16(
                                        u[k],
                                        _mm256_loadu_si256(
                                                (const void *)(a->q + 128 * h +
                                                               32 * k)));
                                isum = _mm256_add_epi32(
                                        isum,
                                        _mm256_madd_epi16(
                                                p, _mm256_shuffle_epi8(
                                                           sh, pick[k])));
                        }
                }
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                                      _mm256_set1_ps(f16(row + 208) * a->d),
                                      acc);
        }
        return nn_hsum8(acc);
}

/* Q2_K and Q3_K: per 128 elements h, 32 bytes of 2-bit fields; element
 * 128 h + 32 k + l is bits 2k, 2k+1 of qs[32 h + l] (Q3_K: plus bit
 * 4h + k of hmask[l] as bit 2, minus 4), one scale per 16 (kquants.c).
 * K_PICK16(k): int16 lane 2k of each 128-bit half's 8 scales to lanes
 * 0..7, lane 2k + 1 to lanes 8..15. */
AVX2 static inline __m256i
k_pick16(__m256i sh, int k)
{
        return _mm256_shuffle_epi8(
                sh, _mm256_set_m128i(
                            _mm_set1_epi16((short)((4 * k + 3) << 8 |
                                                   (4 * k + 2))),
                            _mm_set1_epi16((short)((4 * k + 1) << 8 |
                                                   4 * k))));
}

/* The bits 2k, 2k+1 of the 32 bytes in raw as 32 bytes 0..3. */
AVX2 static inline __m256i
k_crumbs(__m256i raw, int k)
{
        const __m256i m2 = _mm256_set1_epi8(3);
        switch (k) {
        case 0:
                return _mm256_and_si256(raw, m2);
        case 1:
                return _mm256_and_si256(_mm256_srli_epi16(raw, 2), m2);
        case 2:
                return _mm256_and_si256(_mm256_srli_epi16(raw, 4), m2);
        default:
                return _mm256_and_si256(_mm256_srli_epi16(raw, 6), m2);
        }
}

/* Q2_K: x = d sc q - dmin m, sc and m the nibbles of scales[g]. */
AVX2 static float
dotk_q2_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
               int64_t nblocks)
{
        (void)tr;
        const __m128i m4 = _mm_set1_epi8(0x0f);
        __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nblocks; b++, row += 84, a++) {
                __m128i raw = _mm_loadu_si128((const void *)row);
                __m256i sc = _mm256_cvtepu8_epi16(_mm_and_si128(raw, m4));
                __m256i mn = _mm256_cvtepu8_epi16(
                        _mm_and_si128(_mm_srli_epi16(raw, 4), m4));
                macc = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(_mm256_madd_epi16(
                                mn, _mm256_loadu_si256((const void *)a->bs))),
                        _mm256_set1_ps(f16(row + 82) * a->d), macc);
                __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                        __m256i q = _mm256_loadu_si256(
                                (const void *)(row + 16 + 32 * h));
                        __m256i sh = k_half(sc, h);
#pragma GCC unroll 4
                        for (int k = 0; k < 4; k++) {
                                __m256i p = _mm256_maddubs_epi16(
                                        k_crumbs(q, k),
                                        _mm256_loadu_si256(
                                                (const void *)(a->q + 128 * h +
                                                               32 * k)));
                                isum = _mm256_add_epi32(
                                        isum, _mm256_madd_epi16(
                                                      p, k_pick16(sh, k)));
                        }
                }
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                                      _mm256_set1_ps(f16(row + 80) * a->d),
                                      acc);
        }
        return nn_hsum8(acc) - nn_hsum8(macc);
}

/* Q3_K: x = d (sc - 32) (u - 4) with u = crumb | hbit << 2 (0..7) and the
 * 16 six-bit scales of the 12-byte table (low nibbles from bytes 0..7,
 * scales 0..7 low and 8..15 high; top two bits from bytes 8..11, bit pair
 * j / 4 of byte 8 + j % 4); so the block is d (sum_g sc'_g (u_g . a_g) -
 * 4 sum_g sc'_g bs_g). */
AVX2 static float
dotk_q3_k_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
               int64_t nblocks)
{
        (void)tr;
        const __m256i b2 = _mm256_set1_epi8(4);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nblocks; b++, row += 110, a++) {
                uint32_t w[3];
                memcpy(&w[0], row + 96, 4);
                memcpy(&w[1], row + 100, 4);
                memcpy(&w[2], row + 104, 4);
                uint32_t s0 = (w[0] & 0x0f0f0f0fu) |
                              ((w[2] & 0x03030303u) << 4);
                uint32_t s1 = (w[1] & 0x0f0f0f0fu) |
                              (((w[2] >> 2) & 0x03030303u) << 4);
                uint32_t s2 = ((w[0] >> 4) & 0x0f0f0f0fu) |
                              (((w[2] >> 4) & 0x03030303u) << 4);
                uint32_t s3 = ((w[1] >> 4) & 0x0f0f0f0fu) |
                              (((w[2] >> 6) & 0x03030303u) << 4);
                __m256i sc = _mm256_sub_epi16(
                        _mm256_cvtepu8_epi16(_mm_set_epi32(
                                (int)s3, (int)s2, (int)s1, (int)s0)),
                        _mm256_set1_epi16(32));
                __m256i isum = _mm256_slli_epi32(
                        _mm256_madd_epi16(
                                sc, _mm256_loadu_si256((const void *)a->bs)),
                        2);
                isum = _mm256_sub_epi32(_mm256_setzero_si256(), isum);
                __m256i hm = _mm256_loadu_si256((const void *)row);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                        __m256i q = _mm256_loadu_si256(
                                (const void *)(row + 32 + 32 * h));
                        __m256i sh = k_half(sc, h);
#pragma GCC unroll 4
                        for (int k = 0; k < 4; k++) {
                                /* bit 4h + k of each hmask byte to bit 2
                                 * (16-bit shifts by at most 5 move no
                                 * bit across a byte's bit 2) */
                                int bit = 4 * h + k;
                                __m256i hb =
                                        bit >= 2
                                                ? _mm256_srli_epi16(hm,
                                                                    bit - 2)
                                                : _mm256_slli_epi16(hm,
                                                                    2 - bit);
                                __m256i u = _mm256_or_si256(
                                        k_crumbs(q, k),
                                        _mm256_and_si256(hb, b2));
                                __m256i p = _mm256_maddubs_epi16(
                                        u, _mm256_loadu_si256(
                                                   (const void *)(a->q +
                                                                  128 * h +
                                                                  32 * k)));
                                isum = _mm256_add_epi32(
                                        isum, _mm256_madd_epi16(
                                                      p, k_pick16(sh, k)));
                        }
                }
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                                      _mm256_set1_ps(f16(row + 108) * a->d),
                                      acc);
        }
        return nn_hsum8(acc);
}

/* Q8_K (and any other 256-element format): unpacked, then per 32 the
 * signed products as
 * dot_avx2, the block's float sum times the activations' d. */
AVX2 static float
dotk_avx2(const nn_qtraits *tr, const uint8_t *row, const nn_q8k *a,
          int64_t nblocks)
{
        int8_t q[256];
        float s[16], m[16];
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nblocks; b++, row += tr->bytes, a++) {
                tr->unpack(row, q, s, m);
                __m256 bacc = _mm256_setzero_ps();
                for (int j = 0; j < 8; j++) {
                        __m256i w = _mm256_loadu_si256(
                                (const void *)(q + 32 * j));
                        __m256i x = _mm256_loadu_si256(
                                (const void *)(a->q + 32 * j));
                        bacc = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(i8dot(w, x)),
                                _mm256_set_m128(_mm_set1_ps(s[2 * j + 1]),
                                                _mm_set1_ps(s[2 * j])),
                                bacc);
                }
                for (int h = 0; h < 2; h++)
                        bacc = _mm256_fmadd_ps(
                                _mm256_loadu_ps(m + 8 * h),
                                _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(
                                        _mm_loadu_si128(
                                                (const void *)(a->bs +
                                                               8 * h)))),
                                bacc);
                acc = _mm256_fmadd_ps(bacc, _mm256_set1_ps(a->d), acc);
        }
        return nn_hsum8(acc);
}

AVX2 static float
hdot_f16_avx2(const uint8_t *row, const float *x, int64_t n)
{
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
                __m256 w0 = _mm256_cvtph_ps(
                        _mm_loadu_si128((const void *)(row + 2 * i)));
                __m256 w1 = _mm256_cvtph_ps(
                        _mm_loadu_si128((const void *)(row + 2 * i + 16)));
                acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
                acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
        }
        float s = nn_hsum8(_mm256_add_ps(acc0, acc1));
        for (; i < n; i++)
                s += f16(row + 2 * i) * x[i];
        return s;
}

AVX2 static float
hdot_bf16_avx2(const uint8_t *row, const float *x, int64_t n)
{
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
                __m256i h0 = _mm256_cvtepu16_epi32(
                        _mm_loadu_si128((const void *)(row + 2 * i)));
                __m256i h1 = _mm256_cvtepu16_epi32(
                        _mm_loadu_si128((const void *)(row + 2 * i + 16)));
                __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(h0, 16));
                __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(h1, 16));
                acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
                acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
        }
        float s = nn_hsum8(_mm256_add_ps(acc0, acc1));
        for (; i < n; i++)
                s += socfw_bf16_to_f32(rd16(row + 2 * i)) * x[i];
        return s;
}

AVX2 static void
deq_f16_avx2(const uint8_t *src, float *dst, int64_t n)
{
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                                  (const void *)(src + 2 * i))));
        for (; i < n; i++)
                dst[i] = f16(src + 2 * i);
}

/* The dequantisers below compute every element as the portable one does
 * (dtype.c nn_dequant_blocks): s * (float)q + m with s and m per 16
 * elements formed by the same float operations, one rounding for the
 * product and one for the sum (no FMA), so the bits are the same,
 * signed zeros included. */

/* dst[0..31] = s * q + m for the 32 signed bytes q, s0/m0 on elements
 * 0..15 and s1/m1 on 16..31. */
AVX2 static inline void
deq32(float *dst, __m256i q, float s0, float m0, float s1, float m1)
{
        __m128i lo = _mm256_castsi256_si128(q);
        __m128i hi = _mm256_extracti128_si256(q, 1);
        __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi,
                            _mm_srli_si128(hi, 8)};
        __m256 s[2] = {_mm256_set1_ps(s0), _mm256_set1_ps(s1)};
        __m256 m[2] = {_mm256_set1_ps(m0), _mm256_set1_ps(m1)};
        for (int k = 0; k < 4; k++) {
                __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]));
                _mm256_storeu_ps(dst + 8 * k,
                                 _mm256_add_ps(_mm256_mul_ps(v, s[k / 2]),
                                               m[k / 2]));
        }
}

/* Q8_0: 34 B per 32, f16 d, int8 q[32]; x = d q. */
AVX2 static void
deq_q8_0_avx2(const uint8_t *src, float *dst, int64_t n)
{
        for (int64_t b = 0; b < n / 32; b++, src += 34, dst += 32) {
                float d = f16(src);
                deq32(dst, _mm256_loadu_si256((const void *)(src + 2)), d,
                      0.0f, d, 0.0f);
        }
}

/* Q4_0: 18 B per 32, f16 d, 16 bytes of nibbles; x = d (u - 8). */
AVX2 static void
deq_q4_0_avx2(const uint8_t *src, float *dst, int64_t n)
{
        const __m256i eight = _mm256_set1_epi8(8);
        for (int64_t b = 0; b < n / 32; b++, src += 18, dst += 32) {
                float d = f16(src);
                deq32(dst, _mm256_sub_epi8(nibbles32(src + 2), eight), d,
                      0.0f, d, 0.0f);
        }
}

/* Q5_0: 22 B per 32, f16 d, u32 qh (5th bits), 16 bytes of nibbles;
 * x = d (u - 16). */
AVX2 static void
deq_q5_0_avx2(const uint8_t *src, float *dst, int64_t n)
{
        const __m256i h16 = _mm256_set1_epi8(0x10);
        const __m256i sixteen = _mm256_set1_epi8(16);
        for (int64_t b = 0; b < n / 32; b++, src += 22, dst += 32) {
                float d = f16(src);
                __m256i u = _mm256_or_si256(
                        nibbles32(src + 6),
                        _mm256_and_si256(bits32(src + 2), h16));
                deq32(dst, _mm256_sub_epi8(u, sixteen), d, 0.0f, d, 0.0f);
        }
}

/* Q4_K: 144 B per 256 (kquants.c); sub-block j of 32 has x = d sc_j q -
 * dmin mn_j, q the low (j even) or high (j odd) nibbles of the 32 bytes
 * qs[32 (j / 2) ..]. */
AVX2 static void
deq_q4_k_avx2(const uint8_t *src, float *dst, int64_t n)
{
        const __m256i lo = _mm256_set1_epi8(0x0f);
        for (int64_t b = 0; b < n / 256; b++, src += 144, dst += 256) {
                float d = f16(src), dmin = f16(src + 2);
                const uint8_t *sc = src + 4, *qs = src + 16;
                float s[8], m[8];
                for (int j = 0; j < 4; j++) {
                        s[j] = d * (float)(sc[j] & 63);
                        m[j] = -(dmin * (float)(sc[j + 4] & 63));
                        s[j + 4] = d * (float)((sc[j + 8] & 0x0f) |
                                               ((sc[j] >> 6) << 4));
                        m[j + 4] = -(dmin * (float)((sc[j + 8] >> 4) |
                                                    ((sc[j + 4] >> 6) << 4)));
                }
                for (int g = 0; g < 4; g++) {
                        __m256i raw = _mm256_loadu_si256(
                                (const void *)(qs + 32 * g));
                        __m256i u0 = _mm256_and_si256(raw, lo);
                        __m256i u1 = _mm256_and_si256(
                                _mm256_srli_epi16(raw, 4), lo);
                        int j = 2 * g;
                        deq32(dst + 64 * g, u0, s[j], m[j], s[j], m[j]);
                        deq32(dst + 64 * g + 32, u1, s[j + 1], m[j + 1],
                              s[j + 1], m[j + 1]);
                }
        }
}

/* Q6_K: 210 B per 256; the 6-bit fields of each 128 as in dot_q6_k_avx2,
 * minus 32; x = d sc_g q, one int8 scale per 16. */
AVX2 static void
deq_q6_k_avx2(const uint8_t *src, float *dst, int64_t n)
{
        const __m256i k32 = _mm256_set1_epi8(32);
        for (int64_t b = 0; b < n / 256; b++, src += 210) {
                const int8_t *sc = (const int8_t *)(src + 192);
                float d = f16(src + 208);
                for (int h = 0; h < 2; h++, dst += 128) {
                        __m256i u[4];
                        q6k_fields(src, h, u);
                        for (int k = 0; k < 4; k++) {
                                __m256i q = _mm256_sub_epi8(u[k], k32);
                                int g = 8 * h + 2 * k;
                                deq32(dst + 32 * k, q, d * (float)sc[g], 0.0f,
                                      d * (float)sc[g + 1], 0.0f);
                        }
                }
        }
}

static const nn_qkernels k_avx2 = {
        .name = "avx2",
        .avx2 = 1,
        .dot = {
                [SOCFW_DTYPE_Q8_0] = dot_q8_0_avx2,
                [SOCFW_DTYPE_Q4_0] = dot_q4_0_avx2,
                [SOCFW_DTYPE_Q4_1] = dot_q4_1_avx2,
                [SOCFW_DTYPE_Q5_0] = dot_q5_0_avx2,
                [SOCFW_DTYPE_Q5_1] = dot_q5_1_avx2,
                [SOCFW_DTYPE_Q2_K] = dot_avx2,
                [SOCFW_DTYPE_Q3_K] = dot_avx2,
                [SOCFW_DTYPE_Q4_K] = dot_q4_k_avx2,
                [SOCFW_DTYPE_Q5_K] = dot_avx2,
                [SOCFW_DTYPE_Q6_K] = dot_q6_k_avx2,
                [SOCFW_DTYPE_Q8_K] = dot_avx2,
        },
        .dotk = {
                [SOCFW_DTYPE_Q2_K] = dotk_q2_k_avx2,
                [SOCFW_DTYPE_Q3_K] = dotk_q3_k_avx2,
                [SOCFW_DTYPE_Q4_K] = dotk_q4_k_avx2,
                [SOCFW_DTYPE_Q5_K] = dotk_q5_k_avx2,
                [SOCFW_DTYPE_Q6_K] = dotk_q6_k_avx2,
                [SOCFW_DTYPE_Q8_K] = dotk_avx2,
        },
        .dotx2 = {
                [SOCFW_DTYPE_Q4_0] = dotx2_q4_0_avx2,
        },
        .hdot = {
                [SOCFW_DTYPE_F16] = hdot_f16_avx2,
                [SOCFW_DTYPE_BF16] = hdot_bf16_avx2,
        },
        .deq = {
                [SOCFW_DTYPE_F16] = deq_f16_avx2,
                [SOCFW_DTYPE_Q8_0] = deq_q8_0_avx2,
                [SOCFW_DTYPE_Q4_0] = deq_q4_0_avx2,
                [SOCFW_DTYPE_Q5_0] = deq_q5_0_avx2,
                [SOCFW_DTYPE_Q4_K] = deq_q4_k_avx2,
                [SOCFW_DTYPE_Q6_K] = deq_q6_k_avx2,
        },
};

/* The same kernels with the one-row products of the 256-element formats
 * on activations quantised per 32 (no dotk): what "avx2" was before the
 * per-256 kernels, kept for A/B timings and as the more precise choice
 * for activations with outliers (SOCFW_QKERNEL=avx2-q8). */
static const nn_qkernels k_avx2_q8 = {
        .name = "avx2-q8",
        .avx2 = 1,
        .dot = {
                [SOCFW_DTYPE_Q8_0] = dot_q8_0_avx2,
                [SOCFW_DTYPE_Q4_0] = dot_q4_0_avx2,
                [SOCFW_DTYPE_Q4_1] = dot_q4_1_avx2,
                [SOCFW_DTYPE_Q5_0] = dot_q5_0_avx2,
                [SOCFW_DTYPE_Q5_1] = dot_q5_1_avx2,
                [SOCFW_DTYPE_Q2_K] = dot_avx2,
                [SOCFW_DTYPE_Q3_K] = dot_avx2,
                [SOCFW_DTYPE_Q4_K] = dot_q4_k_avx2,
                [SOCFW_DTYPE_Q5_K] = dot_avx2,
                [SOCFW_DTYPE_Q6_K] = dot_q6_k_avx2,
                [SOCFW_DTYPE_Q8_K] = dot_avx2,
        },
        .hdot = {
                [SOCFW_DTYPE_F16] = hdot_f16_avx2,
                [SOCFW_DTYPE_BF16] = hdot_bf16_avx2,
        },
        .deq = {
                [SOCFW_DTYPE_F16] = deq_f16_avx2,
                [SOCFW_DTYPE_Q8_0] = deq_q8_0_avx2,
                [SOCFW_DTYPE_Q4_0] = deq_q4_0_avx2,
                [SOCFW_DTYPE_Q5_0] = deq_q5_0_avx2,
                [SOCFW_DTYPE_Q4_K] = deq_q4_k_avx2,
                [SOCFW_DTYPE_Q6_K] = deq_q6_k_avx2,
        },
};

static int
cpu_has_avx2(void)
{
        unsigned a, b, c, d;
        __builtin_cpu_init();
        /* F16C: CPUID leaf 1, ECX bit 29 (not every compiler knows the
         * name for __builtin_cpu_supports) */
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29)))
                return 0;
        return __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
}
#endif

/* ---- selection ---------------------------------------------------------- */

static const nn_qkernels *selected;

static const nn_qkernels *
best(void)
{
        const char *env = getenv("SOCFW_QKERNEL");
        if (env && !strcmp(env, "scalar"))
                return &k_scalar;
#ifdef NN_HAVE_AVX2
        if (env && !strcmp(env, "avx2-q8") && cpu_has_avx2())
                return &k_avx2_q8;
        if (cpu_has_avx2())
                return &k_avx2;
#endif
        return &k_scalar;
}

const nn_qkernels *
nn_qkernels_get(void)
{
        const nn_qkernels *k = __atomic_load_n(&selected, __ATOMIC_ACQUIRE);
        if (!k) {
                k = best();
                __atomic_store_n(&selected, k, __ATOMIC_RELEASE);
        }
        return k;
}

const nn_qkernels *
nn_qkernels_portable(void)
{
        return &k_scalar;
}

const char *
socfw_nn_qkernel_name(void)
{
        return nn_qkernels_get()->name;
}

int
socfw_nn_qkernel_set(const char *name)
{
        const nn_qkernels *k = NULL;
        if (name && !strcmp(name, "scalar"))
                k = &k_scalar;
#ifdef NN_HAVE_AVX2
        else if (name && !strcmp(name, "avx2") && cpu_has_avx2())
                k = &k_avx2;
        else if (name && !strcmp(name, "avx2-q8") && cpu_has_avx2())
                k = &k_avx2_q8;
#endif
        if (!k)
                return SOCFW_EUNSUPPORTED;
        __atomic_store_n(&selected, k, __ATOMIC_RELEASE);
        return 0;
}
