/* tests/test_nn_threads.c - the fast paths of the thread pool and of the
 * pool-split BLAS calls, each compared with its reference path:
 *   socfw_parallel_for_cost: inline below the cost threshold, fixed chunks
 *     above it, every index exactly once; works after fork();
 *   matmul forward/backward split by rows over 2 threads == one
 *     cblas_sgemm call (bitwise); big products (OpenBLAS threads) are
 *     deterministic and close to one call;
 *   few-row and very wide products (fixed column blocks): the same bits
 *     for 1, 2, 3 threads, close to one cblas_sgemm call;
 *   one-row matmul (sgemv path) ~ cblas_sgemm, same bits for 1 and 2
 *     threads; its float32 kernels (avx2, scalar, blas) ~ cblas_sgemv on
 *     odd sizes, both layouts, with and without bias; SOCFW_GEMV;
 *   few-row matmul (socfw_nn_matmul_forward_few, batched decoding): each
 *     row as the one-row matmul of that row (W_IN_OUT bitwise), same bits
 *     for 1 and 2 threads;
 *   KV-cache attention with a long row (heap scratch) ~ attention_forward;
 *   parameter store: big (mmap) buffers start zeroed, the parallel
 *     zero_grad clears trainable tensors only. */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(HAVE_CONFIG_H)
#include "config.h"
#endif
#if defined(HAVE_CBLAS_H)
#include <cblas.h>
#else
#include <openblas/cblas.h>
#endif

#include "socfw/error.h"
#include "socfw/nn.h"
#include "socfw/params.h"
#include "socfw/rng.h"
#include "socfw/threads.h"
#include "test_nn_util.h"

/* ---- socfw_parallel_for_cost -------------------------------------------- */

#define MAXCALLS 64

typedef struct {
        int *hits;
        pthread_t caller;
        int other_thread;       /* a chunk ran on a worker */
        int ncalls;
        int not_marked;         /* a body saw socfw_threads_in_parallel 0 */
        int64_t begin[MAXCALLS], end[MAXCALLS];
        pthread_mutex_t m;
} cost_ctx;

static void
cost_body(void *vctx, int64_t b, int64_t e)
{
        cost_ctx *c = vctx;
        for (int64_t i = b; i < e; i++)
                __atomic_add_fetch(&c->hits[i], 1, __ATOMIC_RELAXED);
        pthread_mutex_lock(&c->m);
        if (!pthread_equal(pthread_self(), c->caller))
                c->other_thread = 1;
        if (c->ncalls < MAXCALLS) {
                c->begin[c->ncalls] = b;
                c->end[c->ncalls] = e;
        }
        c->ncalls++;
        if (socfw_threads_in_parallel() != 1)
                c->not_marked = 1;
        pthread_mutex_unlock(&c->m);
}

static void
cost_run(cost_ctx *c, int *hits, int64_t n, double cost)
{
        memset(c, 0, sizeof *c);
        pthread_mutex_init(&c->m, NULL);
        memset(hits, 0, (size_t)n * sizeof *hits);
        c->hits = hits;
        c->caller = pthread_self();
        socfw_parallel_for_cost(n, cost, cost_body, c);
        for (int64_t i = 0; i < n; i++)
                cr_assert_eq(hits[i], 1, "n %lld cost %g index %lld",
                             (long long)n, cost, (long long)i);
        cr_assert_eq(c->not_marked, 0);
        pthread_mutex_destroy(&c->m);
}

Test(nn_threads, cost_small_runs_inline, .timeout = 30)
{
        static int hits[4096];
        cost_ctx c;
        socfw_threads_set(2);
        /* below two chunks of work: one call, on the caller's thread */
        cost_run(&c, hits, 1000, SOCFW_PARALLEL_CHUNK_COST / 1000.0);
        cr_assert_eq(c.ncalls, 1);
        cr_assert_eq(c.other_thread, 0);
        cr_assert_eq(c.begin[0], 0);
        cr_assert_eq(c.end[0], 1000);
        cost_run(&c, hits, 4096, 0.0);
        cr_assert_eq(c.ncalls, 1);
        cr_assert_eq(socfw_threads_in_parallel(), 0);
        socfw_threads_set(0);
}

Test(nn_threads, cost_large_splits_in_fixed_chunks, .timeout = 30)
{
        static int hits[4096];
        cost_ctx c;
        for (int nt = 1; nt <= 3; nt++) {
                socfw_threads_set(nt);
                for (int rep = 0; rep < 50; rep++) {
                        int64_t n = 7 + rep * 81;
                        cost_run(&c, hits, n, SOCFW_PARALLEL_CHUNK_COST);
                        int k = nt < n ? nt : (int)n;
                        cr_assert_eq(c.ncalls, k, "nt %d n %lld", nt,
                                     (long long)n);
                        /* chunk i of k is [n*i/k, n*(i+1)/k) */
                        for (int j = 0; j < c.ncalls; j++) {
                                int64_t i = c.begin[j] * k / n;
                                while (n * i / k < c.begin[j])
                                        i++;
                                cr_assert_eq(c.begin[j], n * i / k);
                                cr_assert_eq(c.end[j], n * (i + 1) / k);
                        }
                }
        }
        socfw_threads_set(0);
}

/* Serial mode: work that would split over the pool runs whole in the
 * calling thread, marked as inside a parallel body; turning it off hands
 * work to the pool again.  Other application threads are not affected. */
static void *
split_elsewhere(void *arg)
{
        static int hits[4096];
        cost_ctx *c = arg;
        cost_run(c, hits, 4096, SOCFW_PARALLEL_CHUNK_COST);
        return NULL;
}

Test(nn_threads, serial_mode_runs_work_in_the_calling_thread, .timeout = 30)
{
        static int hits[4096];
        cost_ctx c, other;
        socfw_threads_set(2);
        cr_assert_eq(socfw_threads_serial(1), 0);
        cr_assert_eq(socfw_threads_in_parallel(), 1);
        cost_run(&c, hits, 4096, SOCFW_PARALLEL_CHUNK_COST);
        cr_assert_eq(c.ncalls, 1, "%d chunks", c.ncalls);
        cr_assert_eq(c.other_thread, 0);
        cr_assert(c.begin[0] == 0 && c.end[0] == 4096);
        /* meanwhile another thread's work still splits over the pool */
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, split_elsewhere, &other), 0);
        pthread_join(th, NULL);
        cr_assert_eq(other.ncalls, 2);
        cr_assert_eq(socfw_threads_serial(0), 1);
        cr_assert_eq(socfw_threads_in_parallel(), 0);
        cost_run(&c, hits, 4096, SOCFW_PARALLEL_CHUNK_COST);
        cr_assert_eq(c.ncalls, 2);
        socfw_threads_set(0);
}

Test(nn_threads, pool_works_in_forked_child, .timeout = 30)
{
        static int hits[2048];
        cost_ctx c;
        socfw_threads_set(2);
        cost_run(&c, hits, 2048, SOCFW_PARALLEL_CHUNK_COST);   /* workers up */
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                memset(hits, 0, sizeof hits);
                cost_ctx cc;
                memset(&cc, 0, sizeof cc);
                pthread_mutex_init(&cc.m, NULL);
                cc.hits = hits;
                cc.caller = pthread_self();
                for (int rep = 0; rep < 20; rep++)
                        socfw_parallel_for_cost(2048, SOCFW_PARALLEL_CHUNK_COST,
                                                cost_body, &cc);
                for (int i = 0; i < 2048; i++)
                        if (hits[i] != 20)
                                _exit(3);
                _exit(0);
        }
        int st = 0;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the pool failed in a forked child (status %d)", st);
        socfw_threads_set(0);
}

/* ---- pool-split GEMM against one cblas_sgemm call ------------------------ */

static float *
rnd(size_t n, socfw_rng *rng)
{
        float *x = malloc(n * sizeof *x);
        cr_assert_not_null(x);
        nn_fill_normal(x, n, 1.0f, rng);
        return x;
}

static float *
fdup(const float *x, size_t n)
{
        float *y = malloc(n * sizeof *y);
        cr_assert_not_null(y);
        memcpy(y, x, n * sizeof *y);
        return y;
}

/* Shapes big enough to be split over 2 threads (and odd sizes so that the
 * last block is partial), for both weight layouts: row blocks, bitwise
 * equal to one call.  (Few rows or very wide: see the next test.) */
Test(nn_threads, split_matmul_equals_single_sgemm, .timeout = 60)
{
        static const int shapes[][3] = {
                { 200, 300, 515 },      /* N C OC: split along OC */
                { 700, 96, 130 },       /* split along rows        */
                { 100, 768, 600 },
        };
        socfw_rng rng;
        socfw_rng_seed(&rng, 7);
        socfw_threads_set(2);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
                size_t nin = (size_t)N * C, nw = (size_t)C * OC,
                       nout = (size_t)N * OC;
                float *x = rnd(nin, &rng), *w = rnd(nw, &rng),
                      *bias = rnd((size_t)OC, &rng), *dy = rnd(nout, &rng),
                      *dx0 = rnd(nin, &rng), *dw0 = rnd(nw, &rng);
                for (int layout = 0; layout < 2; layout++) {
                        int oi = layout == SOCFW_NN_W_OUT_IN;
                        float *y = malloc(nout * sizeof *y),
                              *yr = malloc(nout * sizeof *yr);
                        float *dx = fdup(dx0, nin), *dxr = fdup(dx0, nin);
                        float *dw = fdup(dw0, nw), *dwr = fdup(dw0, nw);
                        cr_assert(y && yr);
                        socfw_nn_matmul_forward(y, x, w, bias, N, C, OC,
                                                (socfw_nn_wlayout)layout);
                        socfw_nn_matmul_backward(dx, dw, NULL, dy, x, w, N,
                                                 C, OC,
                                                 (socfw_nn_wlayout)layout);
                        /* reference: one single-threaded cblas call each */
                        openblas_set_num_threads(1);
                        for (int n = 0; n < N; n++)
                                memcpy(yr + (size_t)n * OC, bias,
                                       (size_t)OC * sizeof *yr);
                        cblas_sgemm(CblasRowMajor, CblasNoTrans,
                                    oi ? CblasTrans : CblasNoTrans, N, OC, C,
                                    1.0f, x, C, w, oi ? C : OC, 1.0f, yr, OC);
                        cblas_sgemm(CblasRowMajor, CblasNoTrans,
                                    oi ? CblasNoTrans : CblasTrans, N, C, OC,
                                    1.0f, dy, OC, w, oi ? C : OC, 1.0f, dxr,
                                    C);
                        if (oi)
                                cblas_sgemm(CblasRowMajor, CblasTrans,
                                            CblasNoTrans, OC, C, N, 1.0f, dy,
                                            OC, x, C, 1.0f, dwr, C);
                        else
                                cblas_sgemm(CblasRowMajor, CblasTrans,
                                            CblasNoTrans, C, OC, N, 1.0f, x,
                                            C, dy, OC, 1.0f, dwr, OC);
                        cr_assert_eq(memcmp(y, yr, nout * sizeof *y), 0,
                                     "forward differs (shape %zu layout %d)",
                                     s, layout);
                        cr_assert_eq(memcmp(dx, dxr, nin * sizeof *dx), 0,
                                     "dinp differs (shape %zu layout %d)", s,
                                     layout);
                        cr_assert_eq(memcmp(dw, dwr, nw * sizeof *dw), 0,
                                     "dw differs (shape %zu layout %d)", s,
                                     layout);
                        free(y); free(yr); free(dx); free(dxr); free(dw);
                        free(dwr);
                }
                free(x); free(w); free(bias); free(dy); free(dx0); free(dw0);
        }
        socfw_threads_set(0);
}

/* Big products (>= 64M multiply-adds) run on OpenBLAS's threads: the same
 * bits run after run for a given thread count, close to one call. */
Test(nn_threads, big_matmul_is_deterministic, .timeout = 60)
{
        int N = 256, C = 512, OC = 1024;        /* 134M multiply-adds */
        socfw_rng rng;
        socfw_rng_seed(&rng, 11);
        float *x = rnd((size_t)N * C, &rng), *w = rnd((size_t)C * OC, &rng);
        size_t nout = (size_t)N * OC;
        float *y1 = malloc(nout * sizeof *y1), *y2 = malloc(nout * sizeof *y2),
              *yr = malloc(nout * sizeof *yr);
        cr_assert(y1 && y2 && yr);
        socfw_threads_set(2);
        socfw_nn_linear_forward(y1, x, w, NULL, N, C, OC);
        socfw_nn_linear_forward(y2, x, w, NULL, N, C, OC);
        cr_assert_eq(memcmp(y1, y2, nout * sizeof *y1), 0);
        cr_assert_eq(openblas_get_num_threads(), 1,
                     "OpenBLAS left multi-threaded");
        socfw_threads_set(1);
        socfw_nn_linear_forward(yr, x, w, NULL, N, C, OC);
        nn_assert_close("big matmul, 2 vs 1 threads", y1, yr, nout, 1e-4,
                        1e-4);
        free(x); free(w); free(y1); free(y2); free(yr);
        socfw_threads_set(0);
}

/* Few rows, or very many columns (the LM head): computed as fixed column
 * blocks; any thread count gives the same bits, and the result is close
 * to one sgemm call. */
Test(nn_threads, column_blocked_matmul_is_thread_independent, .timeout = 60)
{
        static const int shapes[][3] = {
                { 20, 300, 4000 },      /* N C OC: few rows   */
                { 60, 32, 9000 },       /* wide               */
        };
        socfw_rng rng;
        socfw_rng_seed(&rng, 10);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
                float *x = rnd((size_t)N * C, &rng),
                      *w = rnd((size_t)C * OC, &rng);
                size_t nout = (size_t)N * OC;
                float *y[3], *yr = malloc(nout * sizeof *yr);
                cr_assert_not_null(yr);
                for (int t = 0; t < 3; t++) {
                        socfw_threads_set(t + 1);
                        y[t] = malloc(nout * sizeof *y[t]);
                        cr_assert_not_null(y[t]);
                        socfw_nn_linear_forward(y[t], x, w, NULL, N, C, OC);
                }
                for (int t = 1; t < 3; t++)
                        cr_assert_eq(memcmp(y[0], y[t], nout * sizeof(float)),
                                     0, "shape %zu: 1 and %d threads differ",
                                     s, t + 1);
                openblas_set_num_threads(1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C,
                            1.0f, x, C, w, C, 0.0f, yr, OC);
                nn_assert_close("column-blocked matmul", y[1], yr, nout, 1e-4,
                                1e-4);
                for (int t = 0; t < 3; t++)
                        free(y[t]);
                free(x); free(w); free(yr);
        }
        socfw_threads_set(0);
}

/* One row goes through sgemv (split over the outputs); compare with sgemm
 * (tolerance: a different summation order) and across thread counts
 * (bitwise). */
Test(nn_threads, one_row_matmul_matches_sgemm, .timeout = 60)
{
        int C = 777, OC = 3001;
        socfw_rng rng;
        socfw_rng_seed(&rng, 8);
        float *x = rnd((size_t)C, &rng), *w = rnd((size_t)C * OC, &rng),
              *bias = rnd((size_t)OC, &rng);
        float *y[2], *yr = malloc((size_t)OC * sizeof *yr);
        cr_assert_not_null(yr);
        for (int layout = 0; layout < 2; layout++) {
                int oi = layout == SOCFW_NN_W_OUT_IN;
                for (int t = 0; t < 2; t++) {
                        socfw_threads_set(t + 1);
                        y[t] = malloc((size_t)OC * sizeof *y[t]);
                        cr_assert_not_null(y[t]);
                        socfw_nn_matmul_forward(y[t], x, w, bias, 1, C, OC,
                                                (socfw_nn_wlayout)layout);
                }
                memcpy(yr, bias, (size_t)OC * sizeof *yr);
                cblas_sgemm(CblasRowMajor, CblasNoTrans,
                            oi ? CblasTrans : CblasNoTrans, 1, OC, C, 1.0f, x,
                            C, w, oi ? C : OC, 1.0f, yr, OC);
                nn_assert_close("one-row matmul", y[1], yr, (size_t)OC, 1e-4,
                                1e-4);
                cr_assert_eq(memcmp(y[0], y[1], (size_t)OC * sizeof(float)),
                             0, "1 and 2 threads differ (layout %d)", layout);
                free(y[0]);
                free(y[1]);
        }
        free(x); free(w); free(bias); free(yr);
        socfw_threads_set(0);
}

/* y (OC) against the sum in double yd: |y - yd| <= K u sum_k |w x| + u |b|
 * (u = 2^-23), the worst-case error bound of any order of summing K
 * products in float (with or without FMA). */
static void
gemv_assert_bound(const char *path, const float *y, const double *yd,
                  const double *mag, int K, int OC)
{
        const double u = 1.0 / 8388608.0;
        for (int o = 0; o < OC; o++)
                cr_assert(fabs((double)y[o] - yd[o]) <= K * u * mag[o] + 1e-30,
                          "%s: output %d of %d (K %d): %.9g, exact %.9g, "
                          "bound %.3g", path, o, OC, K, (double)y[o], yd[o],
                          K * u * mag[o]);
}

/* The one-row float32 kernels (framework/nn/gemv.c) and OpenBLAS's sgemv
 * on odd sizes (every tail of the 16- and 8-float steps; 1029 inputs for
 * the four-rows-at-a-time path), both layouts, with and without a bias,
 * each within the float bound above of the exact (double) sum; 1 and 2
 * threads give the same bits. */
static void
gemv_check(const char *path)
{
        static const int sizes[] = {1, 3, 7, 17, 33, 64 + 5, 1029};
        int ns = (int)(sizeof sizes / sizeof *sizes);
        socfw_rng rng;
        socfw_rng_seed(&rng, 12);
        for (int ci = 0; ci < ns; ci++)
                for (int oi = 0; oi < ns; oi++) {
                        int C = sizes[ci], OC = sizes[oi];
                        float *x = rnd((size_t)C, &rng),
                              *w = rnd((size_t)C * OC, &rng),
                              *bias = rnd((size_t)OC, &rng);
                        float *y1 = malloc((size_t)OC * sizeof *y1),
                              *y2 = malloc((size_t)OC * sizeof *y2),
                              *yr = malloc((size_t)OC * sizeof *yr);
                        double *yd = malloc((size_t)OC * sizeof *yd),
                               *mag = malloc((size_t)OC * sizeof *mag);
                        cr_assert(y1 && y2 && yr && yd && mag);
                        for (int layout = 0; layout < 2; layout++)
                                for (int b = 0; b < 2; b++) {
                                        int outin =
                                                layout == SOCFW_NN_W_OUT_IN;
                                        const float *bb = b ? bias : NULL;
                                        for (int o = 0; o < OC; o++) {
                                                double s = b ? bias[o] : 0,
                                                       m = b ? fabs(s) : 0;
                                                for (int k = 0; k < C; k++) {
                                                        double p =
                                                                (double)x[k] *
                                                                (outin ? w[(size_t)o * C + k]
                                                                       : w[(size_t)k * OC + o]);
                                                        s += p;
                                                        m += fabs(p);
                                                }
                                                yd[o] = s;
                                                mag[o] = m;
                                        }
                                        socfw_threads_set(1);
                                        socfw_nn_matmul_forward(
                                                y1, x, w, bb, 1, C, OC,
                                                (socfw_nn_wlayout)layout);
                                        socfw_threads_set(2);
                                        socfw_nn_matmul_forward(
                                                y2, x, w, bb, 1, C, OC,
                                                (socfw_nn_wlayout)layout);
                                        if (b)
                                                memcpy(yr, bias,
                                                       (size_t)OC *
                                                               sizeof *yr);
                                        socfw_threads_blas_single();
                                        cblas_sgemv(CblasRowMajor,
                                                    outin ? CblasNoTrans
                                                          : CblasTrans,
                                                    outin ? OC : C,
                                                    outin ? C : OC, 1.0f, w,
                                                    outin ? C : OC, x, 1,
                                                    b ? 1.0f : 0.0f, yr, 1);
                                        cr_assert_str_eq(
                                                socfw_nn_gemv_kernel_name(),
                                                path);
                                        gemv_assert_bound(path, y1, yd, mag,
                                                          C, OC);
                                        gemv_assert_bound("OpenBLAS", yr, yd,
                                                          mag, C, OC);
                                        cr_assert_eq(memcmp(y1, y2,
                                                            (size_t)OC *
                                                                    sizeof *y1),
                                                     0,
                                                     "%s: 1 and 2 threads "
                                                     "differ (C %d OC %d "
                                                     "layout %d bias %d)",
                                                     path, C, OC, layout, b);
                                }
                        free(x); free(w); free(bias);
                        free(y1); free(y2); free(yr); free(yd); free(mag);
                }
        socfw_threads_set(0);
}

Test(nn_threads, gemv_avx2_matches_sgemv, .timeout = 120)
{
        if (socfw_nn_gemv_kernel_set("avx2") != 0)
                cr_skip_test("no AVX2 + FMA on this CPU (or build): the "
                             "portable path is tested below");
        gemv_check("avx2");
}

Test(nn_threads, gemv_scalar_matches_sgemv, .timeout = 120)
{
        cr_assert_eq(socfw_nn_gemv_kernel_set("scalar"), 0);
        gemv_check("scalar");
}

Test(nn_threads, gemv_blas_reference_path, .timeout = 120)
{
        cr_assert_eq(socfw_nn_gemv_kernel_set("blas"), 0);
        gemv_check("blas");
        cr_assert_eq(socfw_nn_gemv_kernel_set("sse9"), SOCFW_EUNSUPPORTED);
        cr_assert_str_eq(socfw_nn_gemv_kernel_name(), "blas");
}

/* SOCFW_GEMV picks the path at first use (this test runs in its own
 * process: nothing has picked one yet). */
Test(nn_threads, gemv_env_forces_scalar, .timeout = 60)
{
        setenv("SOCFW_GEMV", "scalar", 1);
        cr_assert_str_eq(socfw_nn_gemv_kernel_name(), "scalar");
}

/* A few rows at once (batched decoding): every row is what the one-row
 * matmul gives for it alone - bit for bit with W (C,OC), whose kernel
 * sums in the same order; within 1e-5 with W (OC,C) - with and without a
 * bias, for every N up to the limit and one past it (plain matmul). */
Test(nn_threads, few_row_matmul_matches_one_row_each, .timeout = 60)
{
        int C = 203, OC = 1037, NMAX = 9;       /* tails everywhere */
        socfw_rng rng;
        socfw_rng_seed(&rng, 9);
        float *x = rnd((size_t)NMAX * C, &rng),
              *w = rnd((size_t)C * OC, &rng), *bias = rnd((size_t)OC, &rng);
        float *y1 = malloc((size_t)OC * sizeof *y1);
        float *y[2];
        for (int t = 0; t < 2; t++) {
                y[t] = malloc((size_t)NMAX * OC * sizeof *y[t]);
                cr_assert_not_null(y[t]);
        }
        cr_assert_not_null(y1);
        for (int layout = 0; layout < 2; layout++)
                for (int b = 0; b < 2; b++)
                        for (int N = 2; N <= NMAX; N++) {
                                for (int t = 0; t < 2; t++) {
                                        socfw_threads_set(t + 1);
                                        socfw_nn_matmul_forward_few(
                                                y[t], x, w, b ? bias : NULL, N,
                                                C, OC,
                                                (socfw_nn_wlayout)layout);
                                }
                                cr_assert_eq(memcmp(y[0], y[1],
                                                    (size_t)N * OC *
                                                            sizeof(float)),
                                             0, "1 and 2 threads differ");
                                for (int r = 0; r < N; r++) {
                                        socfw_nn_matmul_forward(
                                                y1, x + (size_t)r * C, w,
                                                b ? bias : NULL, 1, C, OC,
                                                (socfw_nn_wlayout)layout);
                                        const float *got =
                                                y[1] + (size_t)r * OC;
                                        if (layout == SOCFW_NN_W_IN_OUT &&
                                            N < NMAX)
                                                cr_assert_eq(
                                                        memcmp(got, y1,
                                                               (size_t)OC *
                                                                       sizeof(float)),
                                                        0,
                                                        "N %d row %d bias %d",
                                                        N, r, b);
                                        else
                                                nn_assert_close(
                                                        "few-row matmul", got,
                                                        y1, (size_t)OC, 1e-5,
                                                        1e-5);
                                }
                        }
        free(x); free(w); free(bias); free(y1); free(y[0]); free(y[1]);
        socfw_threads_set(0);
}

/* ---- KV-cache attention: long rows use heap scratch ---------------------- */

Test(nn_threads, decode_long_row_matches_forward, .timeout = 60)
{
        int H = 2, D = 16, L = 2500, Lmax = 2600;       /* L > stack row */
        size_t kd = (size_t)H * D;
        socfw_rng rng;
        socfw_rng_seed(&rng, 9);
        float *q = rnd(kd, &rng), *k = rnd((size_t)Lmax * kd, &rng),
              *v = rnd((size_t)Lmax * kd, &rng);
        float *o = malloc(kd * sizeof *o), *ref = malloc(kd * sizeof *ref);
        cr_assert(o && ref);
        for (int nt = 1; nt <= 2; nt++) {
                socfw_threads_set(nt);
                cr_assert_eq(socfw_nn_attention_decode(o, q, k, v, NULL, 1, L,
                                                       Lmax, H, H, D, 0.0f),
                             0);
                socfw_nn_attn_desc d = { .B = 1, .T = 1, .Tk = L, .H = H,
                                         .Hkv = H, .D = D, .causal = 1 };
                cr_assert_eq(socfw_nn_attention_forward(ref, NULL, q, k, v,
                                                        &d), 0);
                nn_assert_close("decode vs forward", o, ref, kd, 1e-5, 1e-4);
        }
        free(q); free(k); free(v); free(o); free(ref);
        socfw_threads_set(0);
}

/* ---- parameter store: big buffers (mmap) and the parallel zero_grad ----- */

Test(nn_threads, big_store_zeroed_and_zero_grad_clears, .timeout = 60)
{
        socfw_params *ps = socfw_params_new();
        cr_assert_not_null(ps);
        int64_t big[2] = { 1024, 1500 }, small[1] = { 100 };
        int a = socfw_params_add(ps, "big", 2, big, NULL);
        int b = socfw_params_add(ps, "frozen", 2, big, NULL);
        int c = socfw_params_add(ps, "small", 1, small, NULL);
        cr_assert(a >= 0 && b >= 0 && c >= 0);
        cr_assert_eq(socfw_params_finalize(ps, NULL), 0);       /* > 4 MiB */
        int64_t n = socfw_params_size(ps);
        const float *d = socfw_params_data_buffer(ps);
        float *g = socfw_params_grad_buffer(ps);
        for (int64_t i = 0; i < n; i++)
                cr_assert(d[i] == 0.0f && g[i] == 0.0f, "not zero at %lld",
                          (long long)i);
        /* 64-byte aligned like the small-buffer path */
        cr_assert_eq((uintptr_t)d % 64, 0);
        cr_assert_eq((uintptr_t)g % 64, 0);
        socfw_params_set_trainable(ps, b, false);
        for (int64_t i = 0; i < n; i++)
                g[i] = 1.0f;
        for (int nt = 1; nt <= 2; nt++) {
                socfw_threads_set(nt);
                for (int64_t i = 0; i < n; i++)
                        if (g[i] == 0.0f)
                                g[i] = 2.0f;
                socfw_params_zero_grad(ps);
                const float *ga = socfw_params_grad(ps, a);
                const float *gb = socfw_params_grad(ps, b);
                const float *gc = socfw_params_grad(ps, c);
                for (int64_t i = 0; i < big[0] * big[1]; i++) {
                        cr_assert_eq(ga[i], 0.0f);
                        cr_assert_neq(gb[i], 0.0f, "frozen gradient cleared");
                }
                for (int i = 0; i < small[0]; i++)
                        cr_assert_eq(gc[i], 0.0f);
        }
        socfw_params_free(ps);
        socfw_threads_set(0);
}
