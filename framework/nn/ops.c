/* ops.c - embedding, matmul, normalisation, activations, softmax,
 * dropout and residual kernels (see socfw/nn.h). */
#include "socfw/nn.h"
#include "socfw/threads.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <string.h>

#if defined(HAVE_CONFIG_H)
#include "config.h"
#endif
#if defined(HAVE_CBLAS_H)
#include <cblas.h>
#else
#include <openblas/cblas.h>
#endif

/* ---- embedding ---------------------------------------------------------- */

typedef struct {
        float *out;
        const int32_t *ids;
        const float *table;
        int V, C, add;
        int bad;                /* written racily to 1 only: benign flag  */
} embed_ctx;

static void
embed_body(void *vctx, int64_t begin, int64_t end)
{
        embed_ctx *c = vctx;
        size_t C = (size_t)c->C;
        int bad = 0;
        for (int64_t n = begin; n < end; n++) {
                int32_t id = c->ids[n];
                float *o = c->out + (size_t)n * C;
                if (id < 0 || id >= c->V) {
                        if (!c->add)
                                memset(o, 0, C * sizeof *o);
                        bad = 1;
                        continue;
                }
                const float *row = c->table + (size_t)id * C;
                if (c->add)
                        for (size_t i = 0; i < C; i++)
                                o[i] += row[i];
                else
                        memcpy(o, row, C * sizeof *o);
        }
        if (bad)
                __atomic_store_n(&c->bad, 1, __ATOMIC_RELAXED);
}

static int
embed_run(float *out, const int32_t *ids, const float *table, int N, int V,
          int C, int add)
{
        if (N <= 0 || C <= 0)
                return 0;
        embed_ctx c = { out, ids, table, V, C, add, 0 };
        socfw_parallel_for_grain(N, nn_grain(C), embed_body, &c);
        return c.bad ? SOCFW_EINVAL : 0;
}

int
socfw_nn_embedding_forward(float *out, const int32_t *ids, const float *table,
                           int N, int V, int C)
{
        return embed_run(out, ids, table, N, V, C, 0);
}

int
socfw_nn_embedding_add_forward(float *out, const int32_t *ids,
                               const float *table, int N, int V, int C)
{
        return embed_run(out, ids, table, N, V, C, 1);
}

typedef struct {
        float *dtable;
        const float *dout;
        const int32_t *ids;
        int N, V, C;
} embed_bw_ctx;

/* parallel over columns: each thread owns dtable[:, begin:end) */
static void
embed_bw_body(void *vctx, int64_t begin, int64_t end)
{
        embed_bw_ctx *c = vctx;
        size_t C = (size_t)c->C;
        for (int n = 0; n < c->N; n++) {
                int32_t id = c->ids[n];
                if (id < 0 || id >= c->V)
                        continue;
                float *d = c->dtable + (size_t)id * C;
                const float *g = c->dout + (size_t)n * C;
                for (int64_t i = begin; i < end; i++)
                        d[i] += g[i];
        }
}

void
socfw_nn_embedding_backward(float *dtable, const float *dout,
                            const int32_t *ids, int N, int V, int C)
{
        if (!dtable || N <= 0 || C <= 0)
                return;
        embed_bw_ctx c = { dtable, dout, ids, N, V, C };
        /* at least 64 columns per chunk (cache lines) */
        socfw_parallel_for_grain(C, 64, embed_bw_body, &c);
}

int
socfw_nn_positional_forward(float *x, const float *wpe, int B, int T, int C,
                            int pos0, int maxT)
{
        if (pos0 < 0 || T < 0 || (int64_t)pos0 + T > maxT)
                return SOCFW_EINVAL;
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                        float *o = x + ((size_t)b * T + t) * C;
                        const float *p = wpe + (size_t)(pos0 + t) * C;
                        for (int i = 0; i < C; i++)
                                o[i] += p[i];
                }
        return 0;
}

void
socfw_nn_positional_backward(float *dwpe, const float *dout, int B, int T,
                             int C, int pos0)
{
        if (!dwpe)
                return;
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                        const float *g = dout + ((size_t)b * T + t) * C;
                        float *d = dwpe + (size_t)(pos0 + t) * C;
                        for (int i = 0; i < C; i++)
                                d[i] += g[i];
                }
}

/* ---- GEMM / GEMV over the pool ------------------------------------------ */

/* Products are split over the rows of C (the M dimension) in blocks of
 * GEMM_MBLK rows.  OpenBLAS's kernels compute an element of C the same way
 * whichever block of rows it falls in as long as the cut is a multiple of
 * the kernel's row tile (24 on Zen/Haswell sgemm, 4 or 8 on others), so
 * the split result is bitwise the result of one call
 * (tests/test_nn_threads.c checks it).  Small blocks keep the two halves
 * of a 512-row product balanced (264 + 248 rows).
 *
 * Two shapes are cut by columns instead: very wide products (the LM head,
 * 512 x 50257: a row split would make every thread repack all of B) and
 * products with too few rows to share.  Cutting columns changes how OpenBLAS
 * tiles them, so those are always computed as fixed blocks of GEMM_NFIX
 * (or GEMM_NFIX_SMALL) columns, one call per block, whatever the thread
 * count: the result does not depend on the thread count either (it may
 * differ from one big call in the last bits). */
/* Products of at least this many multiply-adds (the GPT-2 124M training
 * shapes: 300M and up) run on OpenBLAS's threads instead: measured on the
 * 2-core machine, 176 against 161 tokens/s for a training step.  Their
 * result depends on the thread count (OpenBLAS cuts columns), and is
 * deterministic for a given count. */
#define GEMM_BLAS_THREADS_MADDS (64.0 * 1024 * 1024)
#define GEMM_MBLK 24
#define GEMM_NFIX 4096
#define GEMM_NFIX_SMALL 512
#define GEMM_NBLK 64            /* sgemv output blocks */
/* cost units (~ns) per multiply-add: sgemm runs at ~30 madd/ns/core,
 * sgemv is memory-bound (one float of A per madd) */
#define GEMM_MADD_COST (1.0 / 30.0)
#define GEMV_MADD_COST 0.25

void
nn_sgemm_ref(int transA, int transB, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc)
{
        socfw_threads_blas_single();
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                    lda, B, ldb, beta, C, ldc);
}

typedef struct {
        int ta, tb, M, N, K;
        int nfix;               /* 0: row blocks of GEMM_MBLK, else column
                                 * blocks of nfix */
        float alpha, beta;
        const float *A, *B;
        float *C;
        int lda, ldb, ldc;
} gemm_ctx;

static void
gemm_body(void *vctx, int64_t begin, int64_t end)
{
        gemm_ctx *c = vctx;
        if (c->nfix) {          /* one call per fixed column block */
                for (int64_t blk = begin; blk < end; blk++) {
                        int64_t c0 = blk * c->nfix, c1 = c0 + c->nfix;
                        if (c1 > c->N)
                                c1 = c->N;
                        const float *b = c->tb ? c->B + (size_t)c0 * c->ldb
                                               : c->B + c0;
                        nn_sgemm_ref(c->ta, c->tb, c->M, (int)(c1 - c0),
                                     c->K, c->alpha, c->A, c->lda, b, c->ldb,
                                     c->beta, c->C + c0, c->ldc);
                }
                return;
        }
        int64_t r0 = begin * GEMM_MBLK, r1 = end * GEMM_MBLK;
        if (r1 > c->M)
                r1 = c->M;
        if (r0 >= r1)
                return;
        const float *a = c->ta ? c->A + r0 : c->A + (size_t)r0 * c->lda;
        nn_sgemm_ref(c->ta, c->tb, (int)(r1 - r0), c->N, c->K, c->alpha, a,
                     c->lda, c->B, c->ldb, c->beta,
                     c->C + (size_t)r0 * c->ldc, c->ldc);
}

void
nn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
         const float *A, int lda, const float *B, int ldb, float beta,
         float *C, int ldc)
{
        if (M <= 0 || N <= 0)
                return;
        gemm_ctx c = { transA, transB, M, N, K, 0, alpha, beta, A, B, C,
                       lda, ldb, ldc };
        double madds = (double)M * (double)N * (double)(K > 0 ? K : 1);
        if (M < 2 * GEMM_MBLK && N >= 2 * GEMM_NFIX_SMALL)
                c.nfix = GEMM_NFIX_SMALL;
        else if ((int64_t)N >= 8 * (int64_t)M && N >= 2 * GEMM_NFIX)
                c.nfix = GEMM_NFIX;
        int64_t nblk = c.nfix ? (N + c.nfix - 1) / c.nfix
                              : (M + GEMM_MBLK - 1) / GEMM_MBLK;
        int nthr = socfw_threads_in_parallel() ? 1 : socfw_threads_get();
        if (nthr > 1 && madds >= GEMM_BLAS_THREADS_MADDS) {
                /* big product: OpenBLAS's own threads share the packed
                 * panels, ~8% faster than row blocks that each repack B;
                 * the pool is idle meanwhile (its workers yield, then
                 * sleep), and OpenBLAS goes back to one thread at once */
                openblas_set_num_threads(nthr);
                cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                            transB ? CblasTrans : CblasNoTrans, M, N, K,
                            alpha, A, lda, B, ldb, beta, C, ldc);
                openblas_set_num_threads(1);
                return;
        }
        socfw_threads_blas_single();
        if (!c.nfix && (nblk < 2 || nthr <= 1)) {
                nn_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb,
                             beta, C, ldc);
                return;
        }
        socfw_parallel_for_cost(nblk, madds * GEMM_MADD_COST / (double)nblk,
                                gemm_body, &c);
}

typedef struct {
        int trans, M, K;
        float alpha, beta;
        const float *A, *x;
        float *y;
        int lda;
        nn_gemv_rows_fn rows;   /* W (M,K): socfw's kernel, NULL: OpenBLAS */
} gemv_ctx;

/* For R rows of x at once (R <= FEW_MAX, x row-major with stride K):
 * y[r][0..len) = alpha * sum_k x[r][k] A[k][0..len) + beta y[r] (beta 0:
 * y not read).  Eight rows of A at a time (contiguous reads), each read
 * once for all R; each y[r][j] summed over k in order, so an element does
 * not depend on R, on the tile it is in or on the thread that computes it
 * (batched decoding is bit for bit one-row decoding).  The sums of a tile
 * are GEMV_TILE floats (32 KiB, on the stack): len * R <= GEMV_TILE.  Wide
 * tiles keep the reads of a row long enough for the hardware prefetcher:
 * in one (noisy) run 1024 columns took 1.45-2x the time of one OpenBLAS
 * sgemv call on the wide one-row shapes (768 x 2304, 576 x 1536, the LM
 * heads), 8192 within ~15% of it (bench/bench_gemv). */
#define GEMV_TILE 8192
NN_CLONES static void
gemv_t_rows(const float *A, int lda, const float *x, int R, int K,
            float alpha, float beta, float *y, int ldy, int len)
{
        float acc[GEMV_TILE];
        for (int i = 0; i < R * len; i++)
                acc[i] = 0.0f;
        int k = 0;
        for (; k + 8 <= K; k += 8) {
                const float *a0 = A + (size_t)k * lda, *a1 = a0 + lda,
                            *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda,
                            *a5 = a4 + lda, *a6 = a5 + lda, *a7 = a6 + lda;
                for (int r = 0; r < R; r++) {
                        const float *xr = x + (size_t)r * K + k;
                        float x0 = xr[0], x1 = xr[1], x2 = xr[2], x3 = xr[3];
                        float x4 = xr[4], x5 = xr[5], x6 = xr[6], x7 = xr[7];
                        float *ar = acc + (size_t)r * len;
                        for (int j = 0; j < len; j++) {
                                float t = ar[j] + x0 * a0[j];
                                t = t + x1 * a1[j];
                                t = t + x2 * a2[j];
                                t = t + x3 * a3[j];
                                t = t + x4 * a4[j];
                                t = t + x5 * a5[j];
                                t = t + x6 * a6[j];
                                ar[j] = t + x7 * a7[j];
                        }
                }
        }
        for (; k < K; k++) {
                const float *a = A + (size_t)k * lda;
                for (int r = 0; r < R; r++) {
                        float xk = x[(size_t)r * K + k];
                        float *ar = acc + (size_t)r * len;
                        for (int j = 0; j < len; j++)
                                ar[j] += xk * a[j];
                }
        }
        for (int r = 0; r < R; r++) {
                const float *ar = acc + (size_t)r * len;
                float *yr = y + (size_t)r * ldy;
                if (beta == 0.0f)
                        for (int j = 0; j < len; j++)
                                yr[j] = alpha * ar[j];
                else
                        for (int j = 0; j < len; j++)
                                yr[j] = alpha * ar[j] + beta * yr[j];
        }
}

/* gemv_t_rows over columns [j0, j1) in tiles of GEMV_TILE / R */
static void
gemv_t_cols(const float *A, int lda, const float *x, int R, int K,
            float alpha, float beta, float *y, int ldy, int64_t j0,
            int64_t j1)
{
        int tile = GEMV_TILE / R;
        for (int64_t j = j0; j < j1; j += tile) {
                int len = (int)(j1 - j < tile ? j1 - j : tile);
                gemv_t_rows(A + j, lda, x, R, K, alpha, beta, y + j, ldy,
                            len);
        }
}

static void
gemv_body(void *vctx, int64_t begin, int64_t end)
{
        gemv_ctx *c = vctx;
        int64_t r0 = begin * GEMM_NBLK, r1 = end * GEMM_NBLK;
        if (r1 > c->M)
                r1 = c->M;
        if (r0 >= r1)
                return;
        if (c->trans)           /* A (K,M): columns r0..r1 */
                gemv_t_cols(c->A, c->lda, c->x, 1, c->K, c->alpha, c->beta,
                            c->y, 0, r0, r1);
        else if (c->rows) {   /* A (M,K): rows r0..r1 (gemv.c) */
                c->rows(c->A, c->lda, c->x, c->K, c->alpha, c->beta, c->y,
                        r0, r1);
        } else {                /* A (M,K): rows r0..r1 (cuts at multiples
                                 * of 8 rows are exact in OpenBLAS) */
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(r1 - r0),
                            c->K, c->alpha, c->A + (size_t)r0 * c->lda,
                            c->lda, c->x, 1, c->beta, c->y + r0, 1);
        }
}

void
nn_sgemv(int trans, int M, int K, float alpha, const float *A, int lda,
         const float *x, float beta, float *y)
{
        if (M <= 0)
                return;
        gemv_ctx c = { trans, M, K, alpha, beta, A, x, y, lda,
                       trans ? NULL : nn_gemv_kernel_get()->rows };
        socfw_threads_blas_single();
        socfw_parallel_for_cost((M + GEMM_NBLK - 1) / GEMM_NBLK,
                                (double)GEMM_NBLK * (K > 0 ? K : 1) *
                                GEMV_MADD_COST, gemv_body, &c);
}

/* ---- a few rows at once: each weight read once for all of them -------- */

#define FEW_MAX 8               /* rows of socfw_nn_matmul_forward_few      */

typedef struct {
        int trans, M, K, R;     /* trans: A (K,M) (W_IN_OUT), else (M,K)   */
        const float *A, *x, *bias;      /* x (R,K)                          */
        float *y;               /* (R,M)                                    */
        int lda;
} few_ctx;

/* W_OUT_IN, output rows [o0, o1): y[r][o] = A[o] . x[r] (+ bias[o]); each
 * row of A read once (from memory) for all R. */
NN_CLONES static void
dot_few(const float *A, int lda, const float *x, int R, int K,
        const float *bias, float *y, int ldy, int64_t o0, int64_t o1)
{
        for (int64_t o = o0; o < o1; o++) {
                const float *a = A + (size_t)o * lda;
                for (int r = 0; r < R; r++) {
                        const float *xr = x + (size_t)r * K;
                        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                        int k = 0;
                        for (; k + 8 <= K; k += 8)
                                for (int l = 0; l < 8; l++)
                                        s[l] += a[k + l] * xr[k + l];
                        float t = ((s[0] + s[1]) + (s[2] + s[3])) +
                                  ((s[4] + s[5]) + (s[6] + s[7]));
                        for (; k < K; k++)
                                t += a[k] * xr[k];
                        y[(size_t)r * ldy + o] = bias ? t + bias[o] : t;
                }
        }
}

static void
few_body(void *vctx, int64_t begin, int64_t end)
{
        few_ctx *c = vctx;
        int64_t j0 = begin * GEMM_NBLK, j1 = end * GEMM_NBLK;
        if (j1 > c->M)
                j1 = c->M;
        if (j0 >= j1)
                return;
        if (c->trans) {
                /* as socfw_nn_matmul_forward's one row: sgemv with beta 1
                 * over the bias */
                if (c->bias)
                        for (int r = 0; r < c->R; r++)
                                memcpy(c->y + (size_t)r * c->M + j0,
                                       c->bias + j0,
                                       (size_t)(j1 - j0) * sizeof *c->y);
                gemv_t_cols(c->A, c->lda, c->x, c->R, c->K, 1.0f,
                            c->bias ? 1.0f : 0.0f, c->y, c->M, j0, j1);
        } else {
                dot_few(c->A, c->lda, c->x, c->R, c->K, c->bias, c->y, c->M,
                        j0, j1);
        }
}

/* ---- matmul ------------------------------------------------------------- */

void
socfw_nn_matmul_forward(float *out, const float *inp, const float *w,
                        const float *bias, int N, int C, int OC,
                        socfw_nn_wlayout layout)
{
        if (N <= 0 || OC <= 0)
                return;
        float beta = 0.0f;
        if (bias) {
                for (int n = 0; n < N; n++)
                        memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof *out);
                beta = 1.0f;
        }
        if (C <= 0) {
                if (!bias)
                        memset(out, 0, (size_t)N * OC * sizeof *out);
                return;
        }
        if (N == 1)             /* one row: sgemv, no packing of W */
                nn_sgemv(layout == SOCFW_NN_W_IN_OUT, OC, C, 1.0f, w,
                         layout == SOCFW_NN_W_OUT_IN ? C : OC, inp, beta, out);
        else if (layout == SOCFW_NN_W_OUT_IN)
                nn_sgemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, out, OC);
        else
                nn_sgemm(0, 0, N, OC, C, 1.0f, inp, C, w, OC, beta, out, OC);
}

void
socfw_nn_matmul_forward_few(float *out, const float *inp, const float *w,
                            const float *bias, int N, int C, int OC,
                            socfw_nn_wlayout layout)
{
        if (N <= 1 || N > FEW_MAX || C <= 0 || OC <= 0) {
                socfw_nn_matmul_forward(out, inp, w, bias, N, C, OC, layout);
                return;
        }
        few_ctx c = {layout == SOCFW_NN_W_IN_OUT, OC, C, N, w, inp, bias,
                     out, layout == SOCFW_NN_W_IN_OUT ? OC : C};
        socfw_threads_blas_single();
        socfw_parallel_for_cost((OC + GEMM_NBLK - 1) / GEMM_NBLK,
                                (double)GEMM_NBLK * C * GEMV_MADD_COST,
                                few_body, &c);
}

typedef struct {
        float *dbias;
        const float *dout;
        int N, OC;
} colsum_ctx;

static void
colsum_body(void *vctx, int64_t begin, int64_t end)
{
        colsum_ctx *c = vctx;
        for (int n = 0; n < c->N; n++) {
                const float *g = c->dout + (size_t)n * c->OC;
                for (int64_t o = begin; o < end; o++)
                        c->dbias[o] += g[o];
        }
}

void
socfw_nn_matmul_backward(float *dinp, float *dw, float *dbias,
                         const float *dout, const float *inp, const float *w,
                         int N, int C, int OC, socfw_nn_wlayout layout)
{
        if (N <= 0 || OC <= 0)
                return;
        if (dinp && C > 0) {
                if (layout == SOCFW_NN_W_OUT_IN)       /* W (OC,C) */
                        nn_sgemm(0, 0, N, C, OC, 1.0f, dout, OC, w, C, 1.0f,
                                 dinp, C);
                else                                   /* W (C,OC) */
                        nn_sgemm(0, 1, N, C, OC, 1.0f, dout, OC, w, OC, 1.0f,
                                 dinp, C);
        }
        if (dw && C > 0) {
                if (layout == SOCFW_NN_W_OUT_IN)       /* dW (OC,C) += dout^T inp */
                        nn_sgemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                                 dw, C);
                else                                   /* dW (C,OC) += inp^T dout */
                        nn_sgemm(1, 0, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f,
                                 dw, OC);
        }
        if (dbias) {
                colsum_ctx c = { dbias, dout, N, OC };
                socfw_parallel_for_grain(OC, 64, colsum_body, &c);
        }
}

void
socfw_nn_linear_forward(float *out, const float *inp, const float *w,
                        const float *bias, int N, int C, int OC)
{
        socfw_nn_matmul_forward(out, inp, w, bias, N, C, OC, SOCFW_NN_W_OUT_IN);
}

void
socfw_nn_linear_backward(float *dinp, float *dw, float *dbias,
                         const float *dout, const float *inp, const float *w,
                         int N, int C, int OC)
{
        socfw_nn_matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC,
                                 SOCFW_NN_W_OUT_IN);
}

/* ---- layernorm ---------------------------------------------------------- */

typedef struct {
        float *out, *mean, *rstd;
        float *dinp, *dweight, *dbias;
        const float *inp, *weight, *bias, *dout;
        const float *cmean, *crstd;
        int N, C;
        float eps;
} norm_ctx;

NN_CLONES static void
layernorm_fw_body(void *vctx, int64_t begin, int64_t end)
{
        norm_ctx *c = vctx;
        int C = c->C;
        for (int64_t n = begin; n < end; n++) {
                const float *x = c->inp + (size_t)n * C;
                float *o = c->out + (size_t)n * C;
                float s = 0.0f;
                for (int i = 0; i < C; i++)
                        s += x[i];
                float m = s / C;
                float v = 0.0f;
                for (int i = 0; i < C; i++) {
                        float d = x[i] - m;
                        v += d * d;
                }
                v /= C;
                float r = 1.0f / sqrtf(v + c->eps);
                for (int i = 0; i < C; i++) {
                        float y = (x[i] - m) * r;
                        if (c->weight)
                                y *= c->weight[i];
                        if (c->bias)
                                y += c->bias[i];
                        o[i] = y;
                }
                if (c->mean)
                        c->mean[n] = m;
                if (c->rstd)
                        c->rstd[n] = r;
        }
}

void
socfw_nn_layernorm_forward(float *out, float *mean, float *rstd,
                           const float *inp, const float *weight,
                           const float *bias, int N, int C, float eps)
{
        if (N <= 0 || C <= 0)
                return;
        norm_ctx c = { .out = out, .mean = mean, .rstd = rstd, .inp = inp,
                       .weight = weight, .bias = bias, .N = N, .C = C,
                       .eps = eps };
        socfw_parallel_for_grain(N, nn_grain(C), layernorm_fw_body, &c);
}

/* dinp rows, parallel over rows */
NN_CLONES static void
layernorm_bw_rows(void *vctx, int64_t begin, int64_t end)
{
        norm_ctx *c = vctx;
        int C = c->C;
        for (int64_t n = begin; n < end; n++) {
                const float *x = c->inp + (size_t)n * C;
                const float *g = c->dout + (size_t)n * C;
                float *dx = c->dinp + (size_t)n * C;
                float m = c->cmean[n], r = c->crstd[n];
                float sd = 0.0f, sdn = 0.0f;
                for (int i = 0; i < C; i++) {
                        float nrm = (x[i] - m) * r;
                        float dn = c->weight ? c->weight[i] * g[i] : g[i];
                        sd += dn;
                        sdn += dn * nrm;
                }
                sd /= C;
                sdn /= C;
                for (int i = 0; i < C; i++) {
                        float nrm = (x[i] - m) * r;
                        float dn = c->weight ? c->weight[i] * g[i] : g[i];
                        dx[i] += (dn - sd - nrm * sdn) * r;
                }
        }
}

/* dweight / dbias, parallel over columns, rows summed in order */
static void
layernorm_bw_cols(void *vctx, int64_t begin, int64_t end)
{
        norm_ctx *c = vctx;
        int C = c->C;
        for (int n = 0; n < c->N; n++) {
                const float *x = c->inp + (size_t)n * C;
                const float *g = c->dout + (size_t)n * C;
                float m = c->cmean[n], r = c->crstd[n];
                for (int64_t i = begin; i < end; i++) {
                        if (c->dbias)
                                c->dbias[i] += g[i];
                        if (c->dweight)
                                c->dweight[i] += (x[i] - m) * r * g[i];
                }
        }
}

void
socfw_nn_layernorm_backward(float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp,
                            const float *weight, const float *mean,
                            const float *rstd, int N, int C)
{
        if (N <= 0 || C <= 0)
                return;
        norm_ctx c = { .dinp = dinp, .dweight = dweight, .dbias = dbias,
                       .dout = dout, .inp = inp, .weight = weight,
                       .cmean = mean, .crstd = rstd, .N = N, .C = C };
        if (dinp)
                socfw_parallel_for_grain(N, nn_grain(C), layernorm_bw_rows, &c);
        if (dweight || dbias)
                socfw_parallel_for_grain(C, 64, layernorm_bw_cols, &c);
}

/* ---- rmsnorm ------------------------------------------------------------ */

NN_CLONES static void
rmsnorm_fw_body(void *vctx, int64_t begin, int64_t end)
{
        norm_ctx *c = vctx;
        int C = c->C;
        for (int64_t n = begin; n < end; n++) {
                const float *x = c->inp + (size_t)n * C;
                float *o = c->out + (size_t)n * C;
                float ss = 0.0f;
                for (int i = 0; i < C; i++)
                        ss += x[i] * x[i];
                float r = 1.0f / sqrtf(ss / C + c->eps);
                for (int i = 0; i < C; i++)
                        o[i] = x[i] * r * (c->weight ? c->weight[i] : 1.0f);
                if (c->rstd)
                        c->rstd[n] = r;
        }
}

void
socfw_nn_rmsnorm_forward(float *out, float *rstd, const float *inp,
                         const float *weight, int N, int C, float eps)
{
        if (N <= 0 || C <= 0)
                return;
        norm_ctx c = { .out = out, .rstd = rstd, .inp = inp, .weight = weight,
                       .N = N, .C = C, .eps = eps };
        socfw_parallel_for_grain(N, nn_grain(C), rmsnorm_fw_body, &c);
}

NN_CLONES static void
rmsnorm_bw_rows(void *vctx, int64_t begin, int64_t end)
{
        norm_ctx *c = vctx;
        int C = c->C;
        for (int64_t n = begin; n < end; n++) {
                const float *x = c->inp + (size_t)n * C;
                const float *g = c->dout + (size_t)n * C;
                float *dx = c->dinp + (size_t)n * C;
                float r = c->crstd[n];
                float s = 0.0f;
                for (int i = 0; i < C; i++)
                        s += g[i] * (c->weight ? c->weight[i] : 1.0f) * x[i];
                float k = s * r * r * r / C;
                for (int i = 0; i < C; i++)
                        dx[i] += (c->weight ? c->weight[i] : 1.0f) * g[i] * r -
                                 x[i] * k;
        }
}

static void
rmsnorm_bw_cols(void *vctx, int64_t begin, int64_t end)
{
        norm_ctx *c = vctx;
        int C = c->C;
        for (int n = 0; n < c->N; n++) {
                const float *x = c->inp + (size_t)n * C;
                const float *g = c->dout + (size_t)n * C;
                float r = c->crstd[n];
                for (int64_t i = begin; i < end; i++)
                        c->dweight[i] += x[i] * r * g[i];
        }
}

void
socfw_nn_rmsnorm_backward(float *dinp, float *dweight, const float *dout,
                          const float *inp, const float *weight,
                          const float *rstd, int N, int C)
{
        if (N <= 0 || C <= 0)
                return;
        norm_ctx c = { .dinp = dinp, .dweight = dweight, .dout = dout,
                       .inp = inp, .weight = weight, .crstd = rstd, .N = N,
                       .C = C };
        if (dinp)
                socfw_parallel_for_grain(N, nn_grain(C), rmsnorm_bw_rows, &c);
        if (dweight)
                socfw_parallel_for_grain(C, 64, rmsnorm_bw_cols, &c);
}

/* ---- elementwise activations -------------------------------------------- */

typedef struct {
        float *o1, *o2;
        const float *a, *b, *g;
        const uint8_t *mask;
        float p;
} ew_ctx;

#define GELU_S 0.7978845608028654f      /* sqrt(2/pi) */
#define GELU_K 0.044715f

/* 0.5 x (1 + tanh(u)) = x * sigmoid(2u): one expf instead of tanhf */
NN_CLONES static void
gelu_fw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                float u = GELU_S * (x + GELU_K * x * x * x);
                c->o1[i] = x / (1.0f + nn_expf(-2.0f * u));
        }
}

NN_CLONES static void
gelu_bw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                float u = GELU_S * (x + GELU_K * x * x * x);
                float sg = 1.0f / (1.0f + nn_expf(-2.0f * u));
                float du = GELU_S * (1.0f + 3.0f * GELU_K * x * x);
                float d = sg + x * 2.0f * sg * (1.0f - sg) * du;
                c->o1[i] += d * c->g[i];
        }
}

#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

static void
gelu_erf_fw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                c->o1[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
        }
}

static void
gelu_erf_bw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                float cdf = 0.5f * (1.0f + erff(x * INV_SQRT2));
                float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
                c->o1[i] += (cdf + x * pdf) * c->g[i];
        }
}

NN_CLONES static void
tanh_fw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++)
                c->o1[i] = tanhf(c->a[i]);
}

static void
tanh_bw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float y = c->a[i];
                c->o1[i] += (1.0f - y * y) * c->g[i];
        }
}

static inline __attribute__((always_inline)) float
sigmoidf(float x)
{
        return 1.0f / (1.0f + nn_expf(-x));
}

NN_CLONES static void
silu_fw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                c->o1[i] = x * sigmoidf(x);
        }
}

NN_CLONES static void
silu_bw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                float sg = sigmoidf(x);
                c->o1[i] += sg * (1.0f + x * (1.0f - sg)) * c->g[i];
        }
}

NN_CLONES static void
swiglu_fw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        for (int64_t i = s; i < e; i++) {
                float x = c->a[i];
                c->o1[i] = x * sigmoidf(x) * c->b[i];
        }
}

NN_CLONES static void
swiglu_bw(void *v, int64_t s, int64_t e)
{
        ew_ctx *c = v;
        const float *a = c->a, *b = c->b, *g = c->g;
        float *da = c->o1, *db = c->o2;
        /* separate loops per NULL-ness so each one vectorises */
        if (da)
                for (int64_t i = s; i < e; i++) {
                        float sg = sigmoidf(a[i]);
                        da[i] += sg * (1.0f + a[i] * (1.0f - sg)) * b[i] * g[i];
                }
        if (db)
                for (int64_t i = s; i < e; i++)
                        db[i] += a[i] * sigmoidf(a[i]) * g[i];
}

#define EW_GRAIN 8192

void
socfw_nn_gelu_forward(float *out, const float *inp, size_t n)
{
        ew_ctx c = { .o1 = out, .a = inp };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, gelu_fw, &c);
}

void
socfw_nn_gelu_backward(float *dinp, const float *inp, const float *dout,
                       size_t n)
{
        ew_ctx c = { .o1 = dinp, .a = inp, .g = dout };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, gelu_bw, &c);
}

void
socfw_nn_gelu_erf_forward(float *out, const float *inp, size_t n)
{
        ew_ctx c = { .o1 = out, .a = inp };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, gelu_erf_fw, &c);
}

void
socfw_nn_gelu_erf_backward(float *dinp, const float *inp, const float *dout,
                           size_t n)
{
        ew_ctx c = { .o1 = dinp, .a = inp, .g = dout };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, gelu_erf_bw, &c);
}

void
socfw_nn_tanh_forward(float *out, const float *inp, size_t n)
{
        ew_ctx c = { .o1 = out, .a = inp };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, tanh_fw, &c);
}

void
socfw_nn_tanh_backward(float *dinp, const float *out, const float *dout,
                       size_t n)
{
        ew_ctx c = { .o1 = dinp, .a = out, .g = dout };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, tanh_bw, &c);
}

void
socfw_nn_silu_forward(float *out, const float *inp, size_t n)
{
        ew_ctx c = { .o1 = out, .a = inp };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, silu_fw, &c);
}

void
socfw_nn_silu_backward(float *dinp, const float *inp, const float *dout,
                       size_t n)
{
        ew_ctx c = { .o1 = dinp, .a = inp, .g = dout };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, silu_bw, &c);
}

void
socfw_nn_swiglu_forward(float *out, const float *a, const float *b, size_t n)
{
        ew_ctx c = { .o1 = out, .a = a, .b = b };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, swiglu_fw, &c);
}

void
socfw_nn_swiglu_backward(float *da, float *db, const float *dout,
                         const float *a, const float *b, size_t n)
{
        if (!da && !db)
                return;
        ew_ctx c = { .o1 = da, .o2 = db, .a = a, .b = b, .g = dout };
        socfw_parallel_for_grain((int64_t)n, EW_GRAIN, swiglu_bw, &c);
}

void
socfw_nn_residual_forward(float *out, const float *a, const float *b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                out[i] = a[i] + b[i];
}

void
socfw_nn_residual_backward(float *da, float *db, const float *dout, size_t n)
{
        if (da)
                for (size_t i = 0; i < n; i++)
                        da[i] += dout[i];
        if (db)
                for (size_t i = 0; i < n; i++)
                        db[i] += dout[i];
}

/* ---- softmax ------------------------------------------------------------ */

typedef struct {
        float *out;
        const float *inp, *dout, *y;
        int C;
} softmax_ctx;

NN_CLONES static void
softmax_fw_body(void *vctx, int64_t begin, int64_t end)
{
        softmax_ctx *c = vctx;
        int C = c->C;
        for (int64_t n = begin; n < end; n++) {
                const float *x = c->inp + (size_t)n * C;
                float *o = c->out + (size_t)n * C;
                float mx = -INFINITY;
                for (int i = 0; i < C; i++)
                        if (x[i] > mx)
                                mx = x[i];
                float s = 0.0f;
                for (int i = 0; i < C; i++) {
                        o[i] = nn_expf(x[i] - mx);
                        s += o[i];
                }
                float inv = 1.0f / s;
                for (int i = 0; i < C; i++)
                        o[i] *= inv;
        }
}

void
socfw_nn_softmax_forward(float *out, const float *inp, int N, int C)
{
        if (N <= 0 || C <= 0)
                return;
        softmax_ctx c = { .out = out, .inp = inp, .C = C };
        socfw_parallel_for_grain(N, nn_grain(C), softmax_fw_body, &c);
}

NN_CLONES static void
softmax_bw_body(void *vctx, int64_t begin, int64_t end)
{
        softmax_ctx *c = vctx;
        int C = c->C;
        for (int64_t n = begin; n < end; n++) {
                const float *y = c->y + (size_t)n * C;
                const float *g = c->dout + (size_t)n * C;
                float *d = c->out + (size_t)n * C;
                float s = nn_dot(g, y, C);
                for (int i = 0; i < C; i++)
                        d[i] += y[i] * (g[i] - s);
        }
}

void
socfw_nn_softmax_backward(float *dinp, const float *dout, const float *out,
                          int N, int C)
{
        if (!dinp || N <= 0 || C <= 0)
                return;
        softmax_ctx c = { .out = dinp, .dout = dout, .y = out, .C = C };
        socfw_parallel_for_grain(N, nn_grain(C), softmax_bw_body, &c);
}

/* ---- dropout ------------------------------------------------------------ */

int
socfw_nn_dropout_forward(float *out, uint8_t *mask, const float *inp,
                         size_t n, float p, socfw_rng *rng)
{
        if (!(p >= 0.0f))
                return SOCFW_EINVAL;
        if (p == 0.0f) {
                if (out != inp)
                        memmove(out, inp, n * sizeof *out);
                if (mask)
                        memset(mask, 1, n);
                return 0;
        }
        if (!mask || !rng)
                return SOCFW_EINVAL;
        if (p >= 1.0f) {
                memset(out, 0, n * sizeof *out);
                memset(mask, 0, n);
                return 0;
        }
        float scale = 1.0f / (1.0f - p);
        /* keep with probability 1-p: compare 24 random bits to a threshold */
        uint32_t thresh = (uint32_t)((double)p * 16777216.0);
        uint64_t call_key, row_len;
        if (socfw_rng_keyed_begin(rng, n, &call_key, &row_len)) {
                /* keyed by example (data-parallel training): see rng.h */
                for (size_t r0 = 0; r0 < n; r0 += row_len) {
                        uint64_t rk = socfw_rng_keyed_row(
                                call_key, rng->row0 + r0 / row_len);
                        for (size_t j = 0; j < row_len && r0 + j < n; j++) {
                                uint64_t r = socfw_rng_keyed_bits(rk, j);
                                uint8_t keep = (uint32_t)(r >> 40) >= thresh;
                                mask[r0 + j] = keep;
                                out[r0 + j] = keep ? inp[r0 + j] * scale
                                                   : 0.0f;
                        }
                }
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t r = socfw_rng_next(rng);
                /* two draws per 64-bit output would change nothing in
                 * quality; one per element keeps the stream simple */
                uint8_t keep = (uint32_t)(r >> 40) >= thresh;
                mask[i] = keep;
                out[i] = keep ? inp[i] * scale : 0.0f;
        }
        return 0;
}

void
socfw_nn_dropout_backward(float *dinp, const float *dout, const uint8_t *mask,
                          size_t n, float p)
{
        if (!dinp)
                return;
        if (p == 0.0f || !mask) {
                for (size_t i = 0; i < n; i++)
                        dinp[i] += dout[i];
                return;
        }
        if (p >= 1.0f)
                return;
        float scale = 1.0f / (1.0f - p);
        for (size_t i = 0; i < n; i++)
                if (mask[i])
                        dinp[i] += dout[i] * scale;
}
