/* qgemm.c - integer matrix products for prefill over weights in a block
 * format: out (M, OC) = inp (M, C) W^T + bias, W (OC, C) of Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1 or Q2_K..Q6_K (socfw_nn_qlinear_forward chooses this
 * or the dequantised-panel + sgemm path, qtensor.c).
 *
 *   1. The M activation rows are quantised once to 8 bits per 32 (nn_q8,
 *      as the decode path does for its one row); rows are padded with
 *      zero blocks to a whole number of tiles.
 *   2. The weight rows are taken QG_NB at a time (a chunk: the unit of the
 *      thread split, by output columns) and unpacked once per call into
 *      one form for every format: per 32 elements, 32 signed bytes q and a
 *      scale vector sv (8 floats: lanes 0..3 the scale of elements 0..15,
 *      lanes 4..7 of 16..31) and, for formats with offsets (x = s q + m),
 *      an offset vector mv (the offsets / 4, same lanes).
 *   3. A tile of QG_RM activation rows x QG_RN weight rows accumulates,
 *      per 32 elements and per pair, the integer dot product scaled by
 *      sv * d_a, in float; each unpacked weight block serves the tile's
 *      QG_RM rows, each activation block its QG_RN columns.  The offset
 *      term m * d_a * sum(q_a) of a half is mv * ab with ab the
 *      activation's d_a * (sum of q_a over the half) in 4 lanes each.
 *
 * Every output is computed by the same sequence of operations whatever
 * tile, chunk or thread it falls in, so the result does not depend on the
 * thread count.  Two paths, picked with the decode kernels
 * (SOCFW_QKERNEL, socfw/qtensor.h): AVX2 (maddubs / madd with the sign
 * trick, |q| <= 128) and portable C.  The error against "dequantise, then
 * float" is the 8-bit rounding of the activations, as for decode. */
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>

#include "socfw/error.h"
#include "socfw/qtensor.h"
#include "socfw/threads.h"

/* Tile: activation rows x weight rows; weight rows per chunk.  4 x 2
 * keeps the 8 accumulators in registers (4 x 3 spilled and ran slower on
 * Zen 3; 2 x 4, 3 x 3, 2 x 6 measured the same as 4 x 2 within the
 * noise: doc/performance.md). */
#define QG_RM 4
#define QG_RN 2
#define QG_NB (16 * QG_RN)

/* ---- packing ------------------------------------------------------------ */

typedef struct qg_job {
        float *out;
        const socfw_qtensor *w;
        const float *bias;
        const float *inp;
        int M, Mpad;            /* rows, rounded up to QG_RM              */
        int64_t nsub;           /* 32-element sub-blocks per row          */
        int has_min;            /* the format has offsets                 */
        nn_q8 *aq;              /* (Mpad, nsub)                           */
        float *ab;              /* (Mpad, nsub, 8) or NULL                */
        int avx2;
        int failed;
} qg_job;

/* A chunk of QG_NB weight rows in the common form. */
typedef struct qg_pack {
        int8_t *q;              /* (QG_NB, nsub * 32)                     */
        float *sv;              /* (QG_NB, nsub, 8)                       */
        float *mv;              /* (QG_NB, nsub, 8) or NULL               */
} qg_pack;

static int
type_has_min(socfw_dtype t)
{
        return t == SOCFW_DTYPE_Q4_1 || t == SOCFW_DTYPE_Q5_1 ||
               t == SOCFW_DTYPE_Q2_K || t == SOCFW_DTYPE_Q4_K ||
               t == SOCFW_DTYPE_Q5_K;
}

static float
half_at(const uint8_t *p)
{
        return socfw_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

static void
fill8(float *v, float lo, float hi)
{
        for (int i = 0; i < 4; i++) {
                v[i] = lo;
                v[i + 4] = hi;
        }
}

/* Row `row` of W (nsub sub-blocks) into slot i of the pack. */
NN_CLONES static void
pack_row(const socfw_qtensor *w, const nn_qtraits *tr, const uint8_t *row,
         int64_t nsub, qg_pack *p, int i)
{
        int8_t *q = p->q + (size_t)i * (size_t)nsub * 32;
        float *sv = p->sv + (size_t)i * (size_t)nsub * 8;
        float *mv = p->mv ? p->mv + (size_t)i * (size_t)nsub * 8 : NULL;
        if (w->dtype == SOCFW_DTYPE_Q8_0) {
                for (int64_t b = 0; b < nsub; b++, row += 34) {
                        float d = half_at(row);
                        memcpy(q + 32 * b, row + 2, 32);
                        fill8(sv + 8 * b, d, d);
                }
                return;
        }
        if (w->dtype == SOCFW_DTYPE_Q4_0) {
                for (int64_t b = 0; b < nsub; b++, row += 18) {
                        float d = half_at(row);
                        int8_t *o = q + 32 * b;
                        for (int j = 0; j < 16; j++) {
                                o[j] = (int8_t)((row[2 + j] & 0x0f) - 8);
                                o[j + 16] = (int8_t)((row[2 + j] >> 4) - 8);
                        }
                        fill8(sv + 8 * b, d, d);
                }
                return;
        }
        if (w->dtype == SOCFW_DTYPE_Q4_1 || w->dtype == SOCFW_DTYPE_Q5_0 ||
            w->dtype == SOCFW_DTYPE_Q5_1) {
                /* f16 d, [f16 m], [u32 qh: the 5th bits], 16 bytes of
                 * nibbles (dtype.c); Q5_0 is centred on 16 */
                int has_m = w->dtype != SOCFW_DTYPE_Q5_0;
                int has_h = w->dtype != SOCFW_DTYPE_Q4_1;
                int off = has_m ? 0 : 16;
                size_t bytes = tr->bytes;
                for (int64_t b = 0; b < nsub; b++, row += bytes) {
                        float d = half_at(row);
                        float m = has_m ? half_at(row + 2) : 0.0f;
                        const uint8_t *src = row + (has_m ? 4 : 2);
                        uint32_t qh = 0;
                        if (has_h) {
                                qh = (uint32_t)src[0] |
                                     ((uint32_t)src[1] << 8) |
                                     ((uint32_t)src[2] << 16) |
                                     ((uint32_t)src[3] << 24);
                                src += 4;
                        }
                        int8_t *o = q + 32 * b;
                        for (int j = 0; j < 16; j++) {
                                int lo = (src[j] & 0x0f) |
                                         (int)(((qh >> j) & 1) << 4);
                                int hi = (src[j] >> 4) |
                                         (int)(((qh >> (j + 16)) & 1) << 4);
                                o[j] = (int8_t)(lo - off);
                                o[j + 16] = (int8_t)(hi - off);
                        }
                        fill8(sv + 8 * b, d, d);
                        if (mv)
                                fill8(mv + 8 * b, 0.25f * m, 0.25f * m);
                }
                return;
        }
        if (w->dtype == SOCFW_DTYPE_Q4_K) {
                /* per 64 elements g, 32 bytes: low nibbles are sub-block
                 * 2g, high nibbles 2g+1; six-bit scales and mins
                 * (kquants.c) */
                for (int64_t b = 0; b < nsub; b += 8, row += 144) {
                        float d = half_at(row), dmin = half_at(row + 2);
                        const uint8_t *sc = row + 4, *qs = row + 16;
                        for (int g = 0; g < 4; g++) {
                                int8_t *o = q + 32 * (b + 2 * g);
                                for (int l = 0; l < 32; l++) {
                                        o[l] = (int8_t)(qs[32 * g + l] & 0x0f);
                                        o[l + 32] =
                                                (int8_t)(qs[32 * g + l] >> 4);
                                }
                        }
                        for (int j = 0; j < 8; j++) {
                                int scj, mnj;
                                if (j < 4) {
                                        scj = sc[j] & 63;
                                        mnj = sc[j + 4] & 63;
                                } else {
                                        scj = (sc[j + 4] & 0x0f) |
                                              ((sc[j - 4] >> 6) << 4);
                                        mnj = (sc[j + 4] >> 4) |
                                              ((sc[j] >> 6) << 4);
                                }
                                float sj = d * (float)scj;
                                float mj = -0.25f * (dmin * (float)mnj);
                                fill8(sv + 8 * (b + j), sj, sj);
                                fill8(mv + 8 * (b + j), mj, mj);
                        }
                }
                return;
        }
        if (w->dtype == SOCFW_DTYPE_Q6_K) {
                /* per 128 elements h: ql[64], qh[32]; element 32k + l is
                 * the k-th 4-bit field with 2 bits of qh[l] on top, minus
                 * 32; an int8 scale per 16 (kquants.c) */
                for (int64_t b = 0; b < nsub; b += 8, row += 210) {
                        const int8_t *sc = (const int8_t *)(row + 192);
                        float d = half_at(row + 208);
                        for (int h = 0; h < 2; h++) {
                                const uint8_t *ql = row + 64 * h;
                                const uint8_t *qh = row + 128 + 32 * h;
                                int8_t *o = q + 32 * (b + 4 * h);
                                for (int l = 0; l < 32; l++) {
                                        int hh = qh[l];
                                        o[l] = (int8_t)(((ql[l] & 0x0f) |
                                                         ((hh & 3) << 4)) - 32);
                                        o[l + 32] = (int8_t)(
                                                ((ql[l + 32] & 0x0f) |
                                                 (((hh >> 2) & 3) << 4)) - 32);
                                        o[l + 64] = (int8_t)(
                                                ((ql[l] >> 4) |
                                                 (((hh >> 4) & 3) << 4)) - 32);
                                        o[l + 96] = (int8_t)(
                                                ((ql[l + 32] >> 4) |
                                                 (((hh >> 6) & 3) << 4)) - 32);
                                }
                        }
                        for (int j = 0; j < 8; j++)
                                fill8(sv + 8 * (b + j), d * (float)sc[2 * j],
                                      d * (float)sc[2 * j + 1]);
                }
                return;
        }
        int8_t qq[256];
        float s[16], m[16];
        int subs = tr->block / 32;
        for (int64_t b = 0; b < nsub; b += subs, row += tr->bytes) {
                tr->unpack(row, qq, s, m);
                memcpy(q + 32 * b, qq, (size_t)tr->block);
                for (int j = 0; j < subs; j++) {
                        fill8(sv + 8 * (b + j), s[2 * j], s[2 * j + 1]);
                        if (mv)
                                fill8(mv + 8 * (b + j), 0.25f * m[2 * j],
                                      0.25f * m[2 * j + 1]);
                }
        }
}

/* Slots nr..QG_NB-1 (past the last weight row) become zeros. */
static void
pack_zero(qg_pack *p, int64_t nsub, int nr)
{
        size_t k = (size_t)(QG_NB - nr);
        memset(p->q + (size_t)nr * (size_t)nsub * 32, 0, k * (size_t)nsub * 32);
        memset(p->sv + (size_t)nr * (size_t)nsub * 8, 0,
               k * (size_t)nsub * 8 * sizeof(float));
        if (p->mv)
                memset(p->mv + (size_t)nr * (size_t)nsub * 8, 0,
                       k * (size_t)nsub * 8 * sizeof(float));
}

/* ---- tiles -------------------------------------------------------------- */

/* Store the valid part of a QG_RM x QG_RN tile: rows m0.., chunk columns
 * c0 + n0.. (nr valid columns in the chunk). */
static inline void
store_tile(const qg_job *j, float acc[QG_RM][QG_RN], int m0, int64_t col0,
           int nvalid)
{
        int64_t OC = j->w->rows;
        for (int m = 0; m < QG_RM && m0 + m < j->M; m++)
                for (int n = 0; n < QG_RN && n < nvalid; n++)
                        j->out[(size_t)(m0 + m) * (size_t)OC +
                               (size_t)(col0 + n)] =
                                acc[m][n] +
                                (j->bias ? j->bias[col0 + n] : 0.0f);
}

static void
tile_scalar(const qg_job *j, const qg_pack *p, int m0, int n0, int64_t col0,
            int nvalid)
{
        int64_t nsub = j->nsub;
        float acc[QG_RM][QG_RN];
        for (int m = 0; m < QG_RM; m++) {
                const nn_q8 *a = j->aq + (size_t)(m0 + m) * (size_t)nsub;
                for (int n = 0; n < QG_RN; n++) {
                        const int8_t *q = p->q + (size_t)(n0 + n) *
                                                         (size_t)nsub * 32;
                        const float *sv = p->sv + (size_t)(n0 + n) *
                                                          (size_t)nsub * 8;
                        const float *mv =
                                p->mv ? p->mv + (size_t)(n0 + n) *
                                                        (size_t)nsub * 8
                                      : NULL;
                        float s = 0.0f;
                        for (int64_t b = 0; b < nsub; b++) {
                                int32_t i0 = 0, i1 = 0;
                                for (int e = 0; e < 16; e++)
                                        i0 += q[32 * b + e] * a[b].q[e];
                                for (int e = 16; e < 32; e++)
                                        i1 += q[32 * b + e] * a[b].q[e];
                                s += a[b].d * (sv[8 * b] * (float)i0 +
                                               sv[8 * b + 4] * (float)i1);
                                if (mv)
                                        s += a[b].d *
                                             (4.0f * mv[8 * b] *
                                                      (float)a[b].bs[0] +
                                              4.0f * mv[8 * b + 4] *
                                                      (float)a[b].bs[1]);
                        }
                        acc[m][n] = s;
                }
        }
        store_tile(j, acc, m0, col0, nvalid);
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && \
        !defined(SOCFW_NO_TARGET_CLONES)
#define QG_HAVE_AVX2 1
#include <immintrin.h>

#include "nn/avx2_sum.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* One tile; has_min is a constant in each caller. */
AVX2 static inline __attribute__((always_inline)) void
tile_avx2_body(const qg_job *j, const qg_pack *p, int m0, int n0,
               int64_t col0, int nvalid, int has_min)
{
        int64_t nsub = j->nsub;
        const __m256i ones = _mm256_set1_epi16(1);
        __m256 acc[QG_RM][QG_RN];
        _Pragma("GCC unroll 8")
        for (int m = 0; m < QG_RM; m++)
                _Pragma("GCC unroll 8")
                for (int n = 0; n < QG_RN; n++)
                        acc[m][n] = _mm256_setzero_ps();
        const nn_q8 *a = j->aq + (size_t)m0 * (size_t)nsub;
        const float *ab = has_min ? j->ab + (size_t)m0 * (size_t)nsub * 8
                                  : NULL;
        const int8_t *q = p->q + (size_t)n0 * (size_t)nsub * 32;
        const float *sv = p->sv + (size_t)n0 * (size_t)nsub * 8;
        const float *mv = has_min ? p->mv + (size_t)n0 * (size_t)nsub * 8
                                  : NULL;
        size_t qs = (size_t)nsub * 32, fs = (size_t)nsub * 8;
        for (int64_t b = 0; b < nsub; b++) {
                __m256i av[QG_RM];
                __m256 da[QG_RM];
                _Pragma("GCC unroll 8")
                for (int m = 0; m < QG_RM; m++) {
                        const nn_q8 *x = a + (size_t)m * (size_t)nsub + b;
                        av[m] = _mm256_loadu_si256((const void *)x->q);
                        da[m] = _mm256_set1_ps(x->d);
                }
                _Pragma("GCC unroll 8")
                for (int n = 0; n < QG_RN; n++) {
                        __m256i wv = _mm256_loadu_si256(
                                (const void *)(q + n * qs + 32 * b));
                        __m256i aw = _mm256_sign_epi8(wv, wv);
                        __m256 s = _mm256_loadu_ps(sv + n * fs + 8 * b);
                        _Pragma("GCC unroll 8")
                        for (int m = 0; m < QG_RM; m++) {
                                __m256i pr = _mm256_madd_epi16(
                                        _mm256_maddubs_epi16(
                                                aw, _mm256_sign_epi8(av[m],
                                                                     wv)),
                                        ones);
                                acc[m][n] = _mm256_fmadd_ps(
                                        _mm256_cvtepi32_ps(pr),
                                        _mm256_mul_ps(s, da[m]), acc[m][n]);
                        }
                        if (has_min) {
                                __m256 o = _mm256_loadu_ps(mv + n * fs + 8 * b);
                                _Pragma("GCC unroll 8")
                                for (int m = 0; m < QG_RM; m++)
                                        acc[m][n] = _mm256_fmadd_ps(
                                                o,
                                                _mm256_loadu_ps(
                                                        ab + (size_t)m * fs +
                                                        8 * b),
                                                acc[m][n]);
                        }
                }
        }
        float r[QG_RM][QG_RN];
        _Pragma("GCC unroll 8")
        for (int m = 0; m < QG_RM; m++)
                _Pragma("GCC unroll 8")
                for (int n = 0; n < QG_RN; n++)
                        r[m][n] = nn_hsum8(acc[m][n]);
        store_tile(j, r, m0, col0, nvalid);
}

AVX2 static void
tile_avx2(const qg_job *j, const qg_pack *p, int m0, int n0, int64_t col0,
          int nvalid)
{
        tile_avx2_body(j, p, m0, n0, col0, nvalid, 0);
}

AVX2 static void
tile_avx2_min(const qg_job *j, const qg_pack *p, int m0, int n0,
              int64_t col0, int nvalid)
{
        tile_avx2_body(j, p, m0, n0, col0, nvalid, 1);
}
#endif

/* ---- the product -------------------------------------------------------- */

static void
quant_body(void *ctx, int64_t r0, int64_t r1)
{
        qg_job *j = ctx;
        int64_t C = j->w->cols, nsub = j->nsub;
        for (int64_t r = r0; r < r1; r++) {
                nn_q8 *a = j->aq + (size_t)r * (size_t)nsub;
                if (r >= j->M) {
                        memset(a, 0, (size_t)nsub * sizeof *a);
                } else {
                        nn_quantize_q8(j->inp + (size_t)r * (size_t)C, a, C);
                }
                if (j->ab) {
                        float *o = j->ab + (size_t)r * (size_t)nsub * 8;
                        for (int64_t b = 0; b < nsub; b++)
                                fill8(o + 8 * b, a[b].d * (float)a[b].bs[0],
                                      a[b].d * (float)a[b].bs[1]);
                }
        }
}

typedef void (*qg_tile_fn)(const qg_job *j, const qg_pack *p, int m0, int n0,
                           int64_t col0, int nvalid);

static void
chunk_body(void *ctx, int64_t c0, int64_t c1)
{
        qg_job *j = ctx;
        const socfw_qtensor *w = j->w;
        const nn_qtraits *tr = nn_qtraits_of(w->dtype);
        int64_t nsub = j->nsub, OC = w->rows;
        size_t nq = (size_t)QG_NB * (size_t)nsub * 32;
        size_t nf = (size_t)QG_NB * (size_t)nsub * 8;
        size_t bytes = nq + (1 + (size_t)j->has_min) * nf * sizeof(float);
        uint8_t *buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!buf) {
                __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
                return;
        }
        qg_pack p = {(int8_t *)buf, (float *)(buf + nq),
                     j->has_min ? (float *)(buf + nq) + nf : NULL};
        qg_tile_fn tile = tile_scalar;
#ifdef QG_HAVE_AVX2
        if (j->avx2)
                tile = j->has_min ? tile_avx2_min : tile_avx2;
#endif
        for (int64_t c = c0; c < c1; c++) {
                int64_t r0 = c * QG_NB;
                int nr = (int)(OC - r0 < QG_NB ? OC - r0 : QG_NB);
                for (int i = 0; i < nr; i++)
                        pack_row(w, tr, w->data + (size_t)(r0 + i) *
                                                    w->row_bytes,
                                 nsub, &p, i);
                if (nr < QG_NB)
                        pack_zero(&p, nsub, nr);
                for (int m0 = 0; m0 < j->Mpad; m0 += QG_RM)
                        for (int n0 = 0; n0 < nr; n0 += QG_RN)
                                tile(j, &p, m0, n0, r0 + n0, nr - n0);
        }
        free(buf);
}

/* out (M, OC) = inp (M, C) W^T + bias through the integer GEMM.  W is a
 * block format (nn_qtraits_of non-NULL).  Returns 0 or SOCFW_ENOMEM. */
int
nn_qgemm_forward(float *out, const float *inp, const socfw_qtensor *w,
                 const float *bias, int M)
{
        int64_t OC = w->rows, C = w->cols;
        if (M <= 0 || OC <= 0)
                return 0;
        qg_job j = {0};
        j.out = out;
        j.w = w;
        j.bias = bias;
        j.inp = inp;
        j.M = M;
        j.Mpad = (M + QG_RM - 1) / QG_RM * QG_RM;
        j.nsub = C / 32;
        j.has_min = type_has_min(w->dtype);
#ifdef QG_HAVE_AVX2
        j.avx2 = nn_qkernels_get()->avx2;
#endif
        j.aq = malloc((size_t)j.Mpad * (size_t)j.nsub * sizeof *j.aq);
        if (j.has_min)
                j.ab = malloc((size_t)j.Mpad * (size_t)j.nsub * 8 *
                              sizeof *j.ab);
        int rc = 0;
        if (!j.aq || (j.has_min && !j.ab)) {
                rc = SOCFW_ENOMEM;
                goto out;
        }
        /* ~1 ns per activation element to quantise */
        socfw_parallel_for_cost(j.Mpad, (double)C, quant_body, &j);
        int64_t nchunks = (OC + QG_NB - 1) / QG_NB;
        /* per chunk: unpack (~1 ns per weight) + M x C x QG_NB / 32 pair
         * steps of ~1 ns */
        double cost = (double)QG_NB * (double)C *
                      (1.0 + (double)j.Mpad / 32.0);
        socfw_parallel_for_cost(nchunks, cost, chunk_body, &j);
        if (j.failed)
                rc = SOCFW_ENOMEM;
out:
        free(j.aq);
        free(j.ab);
        return rc;
}
