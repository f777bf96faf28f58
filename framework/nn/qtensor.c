/* qtensor.c - weight matrices in their file's element type and the linear
 * layer over them (socfw/qtensor.h).
 *
 * Few rows (decode: one token; small batches): each activation row is
 * quantised to 8 bits once (per 256, nn_q8k, for the K-quant formats
 * where the path has kernels for it; per 32 in pairs of blocks, nn_q8x2,
 * for Q4_0 on AVX2; per 32, nn_q8, otherwise), then every output row is
 * one dot product per input row against the weight row in its own format
 * (qdot.c), the weight row read once for all input rows.  Many rows
 * (prefill): panels of weight rows are dequantised to float32 and
 * multiplied with sgemm, each thread taking contiguous output rows; or,
 * where that was measured faster (qg_auto, SOCFW_QGEMM), the integer
 * GEMM of qgemm.c, or the dot products again (the K-quants on AVX2, up
 * to 8 to 128 rows by type). */
#include "nn/nn_internal.h"

#include <assert.h>
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/log.h"
#include "socfw/nn.h"
#include "socfw/qtensor.h"
#include "socfw/threads.h"

/* Up to this many input rows take the dot-product path. */
#define QLIN_VEC_MAX 8
/* Weight rows per call of a several-row dot product (nn_qdotx2_fn): one
 * call per input row, so they are read from memory once for all. */
#define QLIN_X2_ROWS 16
/* Weight rows per dequantised panel of the sgemm path. */
#define QLIN_PANEL 128

bool
socfw_qtensor_type_supported(socfw_dtype t)
{
        if (t == SOCFW_DTYPE_F32 || t == SOCFW_DTYPE_F16 ||
            t == SOCFW_DTYPE_BF16)
                return true;
        return t != SOCFW_DTYPE_Q8_K && nn_qtraits_of(t) != NULL;
}

int
socfw_qtensor_init(socfw_qtensor *t, const char *name, socfw_dtype dtype,
                   int64_t rows, int64_t cols, const void *data,
                   size_t nbytes, int copy, socfw_error *err)
{
        memset(t, 0, sizeof *t);
        const char *nm = name ? name : "(tensor)";
        if (!socfw_qtensor_type_supported(dtype))
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "%s: element type %s is not supported "
                                       "by the linear layer; hint: supported "
                                       "are F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
                                       "Q5_0, Q5_1, Q2_K..Q6_K",
                                       nm, socfw_dtype_name(dtype));
        size_t bs = socfw_dtype_block_size(dtype);
        if (rows < 0 || cols <= 0 || (uint64_t)cols % bs != 0)
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: rows of %lld elements are not a "
                                       "whole number of %s blocks (%zu "
                                       "elements each)",
                                       nm, (long long)cols,
                                       socfw_dtype_name(dtype), bs);
        size_t rb = (size_t)cols / bs * socfw_dtype_block_bytes(dtype);
        if (rows > 0 && (nbytes / rb < (size_t)rows ||
                         nbytes != rb * (size_t)rows))
                return socfw_error_set(err, SOCFW_EFORMAT,
                                       "%s: %zu bytes, expected %lld rows of "
                                       "%zu bytes (%s)",
                                       nm, nbytes, (long long)rows, rb,
                                       socfw_dtype_name(dtype));
        t->dtype = dtype;
        t->rows = rows;
        t->cols = cols;
        t->row_bytes = rb;
        t->data = data;
        if (copy && nbytes > 0) {
                size_t cap = (nbytes + 63) / 64 * 64;
                void *p = aligned_alloc(64, cap);
                if (!p) {
                        memset(t, 0, sizeof *t);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "%s: out of memory copying "
                                               "%zu bytes", nm, nbytes);
                }
                memcpy(p, data, nbytes);
                t->owned = p;
                t->data = p;
        }
        return 0;
}

int
socfw_qtensor_permute_rows(socfw_qtensor *dst, const socfw_qtensor *src,
                           const int64_t *perm, socfw_error *err)
{
        *dst = *src;
        dst->owned = NULL;
        size_t n = (size_t)src->rows * src->row_bytes;
        uint8_t *p = aligned_alloc(64, (n + 63) / 64 * 64);
        if (!p) {
                memset(dst, 0, sizeof *dst);
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "qtensor: out of memory");
        }
        for (int64_t i = 0; i < src->rows; i++)
                memcpy(p + (size_t)i * src->row_bytes,
                       src->data + (size_t)perm[i] * src->row_bytes,
                       src->row_bytes);
        dst->owned = p;
        dst->data = p;
        return 0;
}

void
socfw_qtensor_release(socfw_qtensor *t)
{
        if (!t)
                return;
        free(t->owned);
        memset(t, 0, sizeof *t);
}

void
socfw_qtensor_dequant_rows(const socfw_qtensor *t, int64_t row0, int64_t n,
                           float *dst)
{
        assert(row0 >= 0 && n >= 0 && row0 + n <= t->rows);
        const uint8_t *src = t->data + (size_t)row0 * t->row_bytes;
        nn_deq_fn deq = nn_qkernels_get()->deq[t->dtype];
        if (deq)
                deq(src, dst, n * t->cols);
        else
                socfw_dtype_to_f32(t->dtype, src, (size_t)(n * t->cols), dst);
}

/* ---- the linear layer --------------------------------------------------- */

typedef struct qlin_job {
        float *out;
        const float *inp;
        const socfw_qtensor *w;
        const float *bias;
        int N;
        const nn_q8 *aq;        /* (N, cols/32) quantised rows, or NULL   */
        const nn_q8k *ak;       /* (N, cols/256) quantised rows, or NULL  */
        const nn_q8x2 *ax;      /* (N, cols/64 rounded up) rows, or NULL  */
        nn_qdot_fn dot;
        nn_qdotk_fn dotk;
        nn_qdotx2_fn dotx2;
        nn_hdot_fn hdot;
        const nn_qtraits *tr;
        int failed;             /* a panel could not be allocated         */
} qlin_job;

static void
qlin_vec_body(void *ctx, int64_t r0, int64_t r1)
{
        const qlin_job *j = ctx;
        const socfw_qtensor *w = j->w;
        int64_t OC = w->rows, C = w->cols;
        int64_t nb = j->tr ? C / j->tr->block : 0, na = C / 32;
        if (j->ax) {
                /* several rows per call, QLIN_X2_ROWS at a time so that
                 * they stay in cache for the other input rows */
                int64_t nx = (na + 1) / 2;
                for (int64_t g = r0; g < r1; g += QLIN_X2_ROWS) {
                        int64_t ng = r1 - g < QLIN_X2_ROWS ? r1 - g
                                                           : QLIN_X2_ROWS;
                        for (int n = 0; n < j->N; n++) {
                                float *o = j->out + (size_t)n * OC + g;
                                j->dotx2(w->data + (size_t)g * w->row_bytes,
                                         w->row_bytes, ng, j->ax + n * nx,
                                         nb, o);
                                if (j->bias)
                                        for (int64_t r = 0; r < ng; r++)
                                                o[r] += j->bias[g + r];
                        }
                }
                return;
        }
        for (int64_t r = r0; r < r1; r++) {
                const uint8_t *row = w->data + (size_t)r * w->row_bytes;
                float b = j->bias ? j->bias[r] : 0.0f;
                for (int n = 0; n < j->N; n++) {
                        float v = j->ak   ? j->dotk(j->tr, row, j->ak + n * nb,
                                                    nb)
                                  : j->aq ? j->dot(j->tr, row, j->aq + n * na,
                                                   nb)
                                          : j->hdot(row, j->inp + n * C, C);
                        j->out[(size_t)n * OC + r] = v + b;
                }
        }
}

static void
qlin_panel_body(void *ctx, int64_t p0, int64_t p1)
{
        const qlin_job *j = ctx;
        const socfw_qtensor *w = j->w;
        int64_t OC = w->rows, C = w->cols;
        float *panel = malloc((size_t)(QLIN_PANEL * C) * sizeof *panel);
        if (!panel) {
                __atomic_store_n(&((qlin_job *)ctx)->failed, 1,
                                 __ATOMIC_RELAXED);
                return;
        }
        for (int64_t p = p0; p < p1; p++) {
                int64_t r0 = p * QLIN_PANEL;
                int64_t nr = OC - r0 < QLIN_PANEL ? OC - r0 : QLIN_PANEL;
                socfw_qtensor_dequant_rows(w, r0, nr, panel);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->N,
                            (int)nr, (int)C, 1.0f, j->inp, (int)C, panel,
                            (int)C, 0.0f, j->out + r0, (int)OC);
                if (j->bias)
                        for (int n = 0; n < j->N; n++)
                                for (int64_t r = 0; r < nr; r++)
                                        j->out[(size_t)n * OC + r0 + r] +=
                                                j->bias[r0 + r];
        }
        free(panel);
}

/* ---- many rows: panels + sgemm or the integer GEMM ---------------------- */

/* The paths for several rows: "panel" is the dot products up to
 * QLIN_VEC_MAX rows and the dequantised panels above; "dot" the dot
 * products (one per input row and weight row) for any row count. */
enum { QG_AUTO, QG_PANEL, QG_INT, QG_DOT, QG_NMODES };
static const char *const qg_names[] = {"auto", "panel", "int", "dot"};
static int qg_mode = -1;

static int
qg_by_name(const char *name)
{
        for (int i = 0; name && i < QG_NMODES; i++)
                if (!strcmp(name, qg_names[i]))
                        return i;
        return -1;
}

static int
qg_mode_get(void)
{
        int m = __atomic_load_n(&qg_mode, __ATOMIC_ACQUIRE);
        if (m < 0) {
                m = qg_by_name(getenv("SOCFW_QGEMM"));
                if (m < 0)
                        m = QG_AUTO;
                __atomic_store_n(&qg_mode, m, __ATOMIC_RELEASE);
        }
        return m;
}

const char *
socfw_nn_qgemm_name(void)
{
        return qg_names[qg_mode_get()];
}

int
socfw_nn_qgemm_set(const char *name)
{
        int m = qg_by_name(name);
        if (m < 0)
                return SOCFW_EUNSUPPORTED;
        __atomic_store_n(&qg_mode, m, __ATOMIC_RELEASE);
        return 0;
}

/* 1 where the kernel path has its own (AVX2) per-256 dot product for
 * the K-quant t: the rule below was measured with those kernels. */
static int
qg_fast_dotk(socfw_dtype t)
{
        nn_qdotk_fn f = nn_qkernels_get()->dotk[t];
        return f && f != nn_qkernels_portable()->dotk[t];
}

/* The rule of "auto": the path (QG_DOT, QG_INT or QG_PANEL, which is the
 * dot products up to QLIN_VEC_MAX rows) for N > 1 rows of activations
 * against w (a block format).
 *
 * The K-quants where the path has the AVX2 per-256 dot products
 * (qg_fast_dotk), from bench/bench_qgemm --dot at M = 2..32 on the
 * SmolLM-135M (down), GPT-2 124M and TinyLlama-1.1B shapes and at 64, 128
 * (AVX2 Zen 3, loaded; doc/performance.md "K-quants, 2-32 rows"), time
 * of the dot products / the integer GEMM:
 *   Q4_K   the dot products up to 32 rows: 0.3 at 2 rows, 0.6 at 4, 0.75
 *          at 8, 0.75-0.85 at 16, 0.9 at 32 (a tie with the panels
 *          there); the panels above, as before;
 *   Q6_K   the dot products up to 8 rows (0.4 at 2, 0.77 at 4, a tie at
 *          8), the integer GEMM from 9 to 32 (the dot products 1.15x its
 *          time at 16, 1.25-1.4x at 32), the panels above, as before;
 *   Q2_K, Q3_K, Q5_K (panels dequantised by scalar code): 0.06-0.09 at
 *          2 rows, 0.25 at 8, 0.4 at 16, 0.55-0.67 at 32 (the panels 2.5-4.5x
 *          slower than the dot products from 16 rows); at 64 rows 0.75-0.8
 *          (Q2_K), 0.82-0.9 (Q5_K), 0.8-0.96 (Q3_K); at 128 0.8-0.9 (Q2_K, a
 *          tie with the panels), 0.95 (Q5_K), 1.15-1.2 (Q3_K).  So Q2_K
 *          the dot products up to 128 rows, Q3_K and Q5_K up to 64 and the
 *          integer GEMM to 128; the panels above, as before.
 * The other types, and the K-quants on the portable and "avx2-q8" paths
 * (their dot products not re-measured), the integer GEMM where this
 * returns QG_INT from bench/bench_qgemm on the SmolLM-135M and GPT-2 124M
 * shapes at M = 8, 32, 128, 512 (doc/performance.md "Integer GEMM"):
 *   Q8_0   never: a tie with the dot products at 8 rows, 0.7-0.95x of the
 *          panels (AVX2-dequantised) from 32 rows on;
 *   Q4_0   9 to 16 rows where the path has the paired-activation kernel
 *          (dotx2; AVX2): the dot products beside it ran 2.5-4x the
 *          integer GEMM at 2 rows, 1.3-1.6x at 4 and a tie at 8 (TinyLlama
 *          shapes; doc/performance.md "Q4_0 decode"); else up to 16 rows
 *          (1.3-1.7x the previous dot products at 8 rows); a tie at 32,
 *          slower above;
 *   Q5_0, Q4_K, Q6_K (panels AVX2-dequantised) up to 32 rows: 1.3-2.3x
 *          the (per-32) dot products at 8 rows, a tie with the panels at
 *          32, the panels 1.1-1.3x faster at 128 and 1.25-1.6x at 512;
 *   Q4_1, Q5_1, Q2_K, Q3_K, Q5_K (panels dequantised by scalar code)
 *          up to 128 rows: measured as Q5_0 / Q4_K before those had AVX2
 *          panels (1.3-3x at 8 and 32 rows, ~1.1x at 128, 0.4-1x at 512;
 *          same unpack-then-tile path, same scalar panels). */
static int
qg_auto(const socfw_qtensor *w, int N)
{
        socfw_dtype t = w->dtype;
        if (qg_fast_dotk(t)) {
                switch (t) {
                case SOCFW_DTYPE_Q4_K:
                        return N <= 32 ? QG_DOT : QG_PANEL;
                case SOCFW_DTYPE_Q6_K:
                        return N <= QLIN_VEC_MAX ? QG_DOT
                               : N <= 32         ? QG_INT
                                                 : QG_PANEL;
                case SOCFW_DTYPE_Q2_K:
                        return N <= 128 ? QG_DOT : QG_PANEL;
                case SOCFW_DTYPE_Q3_K:
                case SOCFW_DTYPE_Q5_K:
                        return N <= 64    ? QG_DOT
                               : N <= 128 ? QG_INT
                                          : QG_PANEL;
                default:
                        break;
                }
        }
        int i;
        switch (t) {
        case SOCFW_DTYPE_Q8_0:
                i = 0;
                break;
        case SOCFW_DTYPE_Q4_0:
                i = N <= 16 &&
                    (N > QLIN_VEC_MAX ||
                     !nn_qkernels_get()->dotx2[SOCFW_DTYPE_Q4_0]);
                break;
        case SOCFW_DTYPE_Q5_0:
        case SOCFW_DTYPE_Q4_K:
        case SOCFW_DTYPE_Q6_K:
                i = N <= 32;
                break;
        default:
                i = N <= 128;
                break;
        }
        return i ? QG_INT : QG_PANEL;
}

/* The path for N rows against w: QG_DOT, QG_PANEL or QG_INT. */
static int
qlin_path(const socfw_qtensor *w, int N)
{
        if (N <= 1 || w->dtype == SOCFW_DTYPE_F32)
                return QG_DOT;
        int block = nn_qtraits_of(w->dtype) != NULL;
        int mode = qg_mode_get();
        if (mode == QG_AUTO)
                mode = block ? qg_auto(w, N) : QG_PANEL;
        if (mode == QG_INT && !block)
                mode = QG_PANEL;        /* F16, BF16: no integer GEMM */
        if (mode == QG_PANEL && N <= QLIN_VEC_MAX)
                mode = QG_DOT;
        return mode;
}

static void
notice_fallback(socfw_dtype t)
{
        static int said[SOCFW_DTYPE_COUNT];
        if (!__atomic_exchange_n(&said[t], 1, __ATOMIC_RELAXED))
                SOCFW_LOG_INFO("qlinear: no %s kernel for %s weights; using "
                               "the portable one", socfw_nn_qkernel_name(),
                               socfw_dtype_name(t));
}

int
socfw_nn_qlinear_forward(float *out, const float *inp, const socfw_qtensor *w,
                         const float *bias, int N)
{
        int64_t OC = w->rows, C = w->cols;
        if (N <= 0 || OC <= 0)
                return 0;
        if (w->dtype == SOCFW_DTYPE_F32) {
                socfw_nn_matmul_forward(out, inp, (const float *)w->data,
                                        bias, N, (int)C, (int)OC,
                                        SOCFW_NN_W_OUT_IN);
                return 0;
        }
        qlin_job j = {out, inp, w, bias, N, NULL, NULL, NULL, NULL, NULL,
                      NULL, NULL, nn_qtraits_of(w->dtype), 0};
        int path = qlin_path(w, N);
        if (path == QG_INT)
                return nn_qgemm_forward(out, inp, w, bias, N);
        if (path == QG_PANEL) {
                socfw_threads_blas_single();
                int64_t np = (OC + QLIN_PANEL - 1) / QLIN_PANEL;
                /* per panel: dequantise (~1 ns per element) + sgemm */
                double cost = (double)QLIN_PANEL * (double)C *
                              (1.0 + 0.03 * N);
                socfw_parallel_for_cost(np, cost, qlin_panel_body, &j);
                return j.failed ? SOCFW_ENOMEM : 0;
        }
        const nn_qkernels *k = nn_qkernels_get();
        nn_q8 *aq = NULL;
        nn_q8k *ak = NULL;
        nn_q8x2 *ax = NULL;
        if (j.tr && k->dotx2[w->dtype]) {
                /* per 32 in pairs of blocks (Q4_0 on AVX2), several rows
                 * per call */
                int64_t nx = (C / 32 + 1) / 2;
                j.dotx2 = k->dotx2[w->dtype];
                ax = malloc((size_t)(N * nx) * sizeof *ax);
                if (!ax)
                        return SOCFW_ENOMEM;
                for (int n = 0; n < N; n++)
                        nn_quantize_q8x2(inp + (size_t)n * C,
                                         ax + (size_t)n * nx, C);
                j.ax = ax;
        } else if (j.tr && k->dotk[w->dtype]) {
                /* 256-element formats: activations per 256 (nn_q8k) */
                j.dotk = k->dotk[w->dtype];
                ak = malloc((size_t)(N * (C / 256)) * sizeof *ak);
                if (!ak)
                        return SOCFW_ENOMEM;
                for (int n = 0; n < N; n++)
                        nn_quantize_q8k(inp + (size_t)n * C,
                                        ak + (size_t)n * (C / 256), C);
                j.ak = ak;
        } else if (j.tr) {
                j.dot = k->dot[w->dtype];
                if (!j.dot) {
                        notice_fallback(w->dtype);
                        j.dot = nn_qkernels_portable()->dot[w->dtype];
                }
                aq = malloc((size_t)(N * (C / 32)) * sizeof *aq);
                if (!aq)
                        return SOCFW_ENOMEM;
                for (int n = 0; n < N; n++)
                        nn_quantize_q8(inp + (size_t)n * C,
                                       aq + (size_t)n * (C / 32), C);
                j.aq = aq;
        } else {
                j.hdot = k->hdot[w->dtype];
                if (!j.hdot) {
                        notice_fallback(w->dtype);
                        j.hdot = nn_qkernels_portable()->hdot[w->dtype];
                }
        }
        double cost = (double)N * (double)C * 0.25;
        socfw_parallel_for_cost(OC, cost, qlin_vec_body, &j);
        free(aq);
        free(ak);
        free(ax);
        return 0;
}

/* ---- backward: the input's gradient through a frozen quantised W ---- */

typedef struct {
        float *dinp;
        const float *dout;
        const socfw_qtensor *w;
        int failed;
} qlin_back_job;

/* Rows [n0, n1) of dinp += dout W: every panel of W dequantised and
 * multiplied in (each worker dequantises W once: cheap next to the
 * product for the batches training runs). */
static void
qlin_back_body(void *ctx, int64_t n0, int64_t n1)
{
        qlin_back_job *j = ctx;
        const socfw_qtensor *w = j->w;
        int64_t OC = w->rows, C = w->cols;
        float *panel = malloc((size_t)(QLIN_PANEL * C) * sizeof *panel);
        if (!panel) {
                __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED);
                return;
        }
        for (int64_t r0 = 0; r0 < OC; r0 += QLIN_PANEL) {
                int64_t nr = OC - r0 < QLIN_PANEL ? OC - r0 : QLIN_PANEL;
                socfw_qtensor_dequant_rows(w, r0, nr, panel);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                            (int)(n1 - n0), (int)C, (int)nr, 1.0f,
                            j->dout + (size_t)n0 * OC + r0, (int)OC, panel,
                            (int)C, 1.0f, j->dinp + (size_t)n0 * C, (int)C);
        }
        free(panel);
}

int
socfw_nn_qlinear_backward_input(float *dinp, const float *dout,
                                const socfw_qtensor *w, int N)
{
        int64_t OC = w->rows, C = w->cols;
        if (!dinp || N <= 0 || OC <= 0)
                return 0;
        if (w->dtype == SOCFW_DTYPE_F32) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N,
                            (int)C, (int)OC, 1.0f, dout, (int)OC,
                            (const float *)w->data, (int)C, 1.0f, dinp,
                            (int)C);
                return 0;
        }
        socfw_threads_blas_single();
        qlin_back_job j = {dinp, dout, w, 0};
        /* per row of the batch: its share of W's dequantisation and the
         * product (C x OC multiply-adds) */
        double cost = (double)C * (double)OC * 0.05;
        socfw_parallel_for_cost(N, cost, qlin_back_body, &j);
        return j.failed ? SOCFW_ENOMEM : 0;
}
