/* bench/bench_kernels.c - timings of the nn kernels at GPT-2-small sizes.
 *
 *     bench/bench_kernels [threads]
 *
 * Prints sgemm GFLOP/s (linear forward and backward), the GPT-2 training
 * GEMM shapes through socfw (pool-split, OpenBLAS single-threaded) and
 * through OpenBLAS's own threads, and forward+backward times of attention,
 * layernorm, GELU and cross-entropy.  Measures only; it never fails on
 * time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "socfw/nn.h"
#include "socfw/rng.h"
#include "socfw/threads.h"

#if defined(HAVE_CONFIG_H)
#include "config.h"
#endif
#if defined(HAVE_CBLAS_H)
#include <cblas.h>
#else
#include <openblas/cblas.h>
#endif

static float *
buf(size_t n, socfw_rng *rng)
{
        float *x = malloc(n * sizeof *x);
        if (!x) {
                fprintf(stderr, "out of memory\n");
                exit(1);
        }
        for (size_t i = 0; i < n; i++)
                x[i] = 0.5f * socfw_rng_normal(rng);
        return x;
}

#define REPS 5

static void
empty_body(void *ctx, int64_t begin, int64_t end)
{
        volatile int64_t *sink = ctx;
        *sink += end - begin;
}

int
main(int argc, char **argv)
{
        int threads = 0;
        if (argc > 1) {
                char *end;
                long v = strtol(argv[1], &end, 10);
                if (*end || v < 0 || v > SOCFW_THREADS_MAX) {
                        fprintf(stderr, "usage: %s [threads]\n", argv[0]);
                        return 2;
                }
                threads = (int)v;
        }
        threads = socfw_threads_set(threads);
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        int B = 8, T = 128, C = 768, H = 12, D = 64, OC = 4 * C, V = 50257;
        int N = B * T;
        printf("socfw kernel benchmark, %d thread(s), B=%d T=%d C=%d H=%d\n", threads, B, T, C, H);

        float *x = buf((size_t)N * C, &rng), *w = buf((size_t)OC * C, &rng),
              *bias = buf(OC, &rng), *y = buf((size_t)N * OC, &rng),
              *dy = buf((size_t)N * OC, &rng), *dx = buf((size_t)N * C, &rng),
              *dw = buf((size_t)OC * C, &rng), *db = buf(OC, &rng);
        double flops = 2.0 * N * C * OC;
        double t0 = bench_now();
        for (int r = 0; r < REPS; r++)
                socfw_nn_linear_forward(y, x, w, bias, N, C, OC);
        double tf = (bench_now() - t0) / REPS;
        t0 = bench_now();
        for (int r = 0; r < REPS; r++)
                socfw_nn_linear_backward(dx, dw, db, dy, x, w, N, C, OC);
        double tb = (bench_now() - t0) / REPS;
        printf("linear (%d,%d)x(%d,%d)^T  fwd %7.2f ms %6.1f GFLOP/s   bwd %7.2f ms %6.1f GFLOP/s\n",
               N, C, OC, C, tf * 1e3, flops / tf * 1e-9, tb * 1e3, 2 * flops / tb * 1e-9);

        /* attention on a fused qkv buffer */
        size_t nqkv = (size_t)N * 3 * C, na = (size_t)B * H * T * T;
        float *qkv = buf(nqkv, &rng), *dqkv = buf(nqkv, &rng), *att = buf(na, &rng),
              *ao = buf((size_t)N * C, &rng), *dao = buf((size_t)N * C, &rng);
        socfw_nn_attn_desc ad = { .B = B, .T = T, .Tk = T, .H = H, .Hkv = H, .D = D,
                                  .causal = 1, .ld_q = 3 * C, .ld_kv = 3 * C };
        t0 = bench_now();
        for (int r = 0; r < REPS; r++)
                socfw_nn_attention_forward(ao, att, qkv, qkv + C, qkv + 2 * C, &ad);
        tf = (bench_now() - t0) / REPS;
        t0 = bench_now();
        for (int r = 0; r < REPS; r++)
                socfw_nn_attention_backward(dqkv, dqkv + C, dqkv + 2 * C, dao, qkv, qkv + C,
                                            qkv + 2 * C, att, &ad);
        tb = (bench_now() - t0) / REPS;
        double aflops = 4.0 * B * H * T * T * D / 2; /* causal half */
        printf("attention causal          fwd %7.2f ms %6.1f GFLOP/s   bwd %7.2f ms %6.1f GFLOP/s\n",
               tf * 1e3, aflops / tf * 1e-9, tb * 1e3, 2 * aflops / tb * 1e-9);

        float *mean = buf(N, &rng), *rstd = buf(N, &rng), *g = buf(C, &rng), *bb = buf(C, &rng);
        t0 = bench_now();
        for (int r = 0; r < REPS; r++) {
                socfw_nn_layernorm_forward(ao, mean, rstd, x, g, bb, N, C, 1e-5f);
                socfw_nn_layernorm_backward(dx, db, bb, dao, x, g, mean, rstd, N, C);
        }
        printf("layernorm (%d,%d)        fwd+bwd %7.2f ms\n", N, C, (bench_now() - t0) / REPS * 1e3);
        t0 = bench_now();
        for (int r = 0; r < REPS; r++) {
                socfw_nn_gelu_forward(dy, y, (size_t)N * OC);
                socfw_nn_gelu_backward(dy, y, dy, (size_t)N * OC);
        }
        printf("gelu (%d)            fwd+bwd %7.2f ms\n", N * OC, (bench_now() - t0) / REPS * 1e3);

        int NL = 256;
        float *logits = buf((size_t)NL * V, &rng);
        int32_t *tg = malloc(NL * sizeof *tg);
        for (int i = 0; i < NL; i++)
                tg[i] = (int32_t)socfw_rng_below(&rng, V);
        float loss;
        t0 = bench_now();
        for (int r = 0; r < REPS; r++)
                socfw_nn_cross_entropy_forward_backward(&loss, NULL, logits, logits, tg, NL, V,
                                                        NULL, NULL);
        printf("cross-entropy (%d,%d)  fused %7.2f ms\n", NL, V, (bench_now() - t0) / REPS * 1e3);

        /* GPT-2 124M training GEMMs (B*T = 512 rows, HF Conv1D layout):
         * socfw's pool split vs OpenBLAS threading the same calls */
        {
                static const struct { const char *name; int C, OC, layout; } gs[] = {
                        { "attn qkv  768->2304", 768, 2304, 1 },
                        { "attn proj 768->768 ", 768, 768, 1 },
                        { "mlp fc    768->3072", 768, 3072, 1 },
                        { "mlp proj 3072->768 ", 3072, 768, 1 },
                        { "lm head   768->50257", 768, 50257, 0 },
                };
                int R = 512;
                printf("GEMM fwd+bwd at 512 rows   socfw split   OpenBLAS %d thr\n", threads);
                for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
                        int gc = gs[i].C, goc = gs[i].OC, oi = gs[i].layout == 0;
                        float *gx = buf((size_t)R * gc, &rng), *gw = buf((size_t)gc * goc, &rng),
                              *gy = buf((size_t)R * goc, &rng), *gdx = buf((size_t)R * gc, &rng),
                              *gdw = buf((size_t)gc * goc, &rng);
                        double gfl = 6.0 * R * gc * goc, best[2] = { 1e30, 1e30 };
                        int reps = goc > 10000 ? 2 : 4;
                        for (int r = 0; r < reps; r++) {
                                double t1 = bench_now();
                                socfw_nn_matmul_forward(gy, gx, gw, NULL, R, gc, goc, gs[i].layout);
                                socfw_nn_matmul_backward(gdx, gdw, NULL, gy, gx, gw, R, gc, goc,
                                                         gs[i].layout);
                                double t2 = bench_now();
                                openblas_set_num_threads(threads);
                                cblas_sgemm(CblasRowMajor, CblasNoTrans,
                                            oi ? CblasTrans : CblasNoTrans, R, goc, gc, 1.0f, gx, gc,
                                            gw, oi ? gc : goc, 0.0f, gy, goc);
                                cblas_sgemm(CblasRowMajor, CblasNoTrans,
                                            oi ? CblasNoTrans : CblasTrans, R, gc, goc, 1.0f, gy, goc,
                                            gw, oi ? gc : goc, 1.0f, gdx, gc);
                                if (oi)
                                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, goc, gc,
                                                    R, 1.0f, gy, goc, gx, gc, 1.0f, gdw, gc);
                                else
                                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, gc, goc,
                                                    R, 1.0f, gx, gc, gy, goc, 1.0f, gdw, goc);
                                double t3 = bench_now();
                                openblas_set_num_threads(1);
                                if (t2 - t1 < best[0])
                                        best[0] = t2 - t1;
                                if (t3 - t2 < best[1])
                                        best[1] = t3 - t2;
                        }
                        printf("  %-22s %8.1f GFLOP/s %8.1f GFLOP/s\n", gs[i].name,
                               gfl / best[0] * 1e-9, gfl / best[1] * 1e-9);
                        free(gx); free(gw); free(gy); free(gdx); free(gdw);
                }
        }

        volatile int64_t sink = 0;
        t0 = bench_now();
        for (int r = 0; r < 10000; r++)
                socfw_parallel_for(2, empty_body, (void *)&sink);
        printf("parallel_for dispatch     %7.2f us per call\n", (bench_now() - t0) / 10000 * 1e6);

        free(x); free(w); free(bias); free(y); free(dy); free(dx); free(dw); free(db);
        free(qkv); free(dqkv); free(att); free(ao); free(dao); free(mean); free(rstd);
        free(g); free(bb); free(logits); free(tg);
        socfw_threads_shutdown();
        return 0;
}
