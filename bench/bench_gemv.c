/* bench/bench_gemv.c - the one-row linear layer of decoding (float32, and
 * with "quant" block formats):
 * OpenBLAS sgemv against socfw's own matrix-vector kernel, at the decode
 * shapes of GPT-2 124M and SmolLM-135M (in x out, the LM head included).
 *
 *     bench/bench_gemv [rounds] [MiB]
 *
 * Variants, per shape and weight layout:
 *   W (out,in):  blas-1    one cblas_sgemv call, one thread;
 *                blas  tN  socfw_nn_matmul_forward with the "blas" path
 *                          (cblas_sgemv per 64-row block over the pool);
 *                avx2  tN  the same with socfw's AVX2 + FMA kernel;
 *                scal  tN  the same with the portable kernel;
 *   W (in,out):  blas-1    one cblas_sgemv (transposed) call, one thread;
 *                socfw tN  socfw_nn_matmul_forward (its column-block
 *                          kernel, the only one-row path for this layout).
 * for N = 1 and 2 threads.  Every call reads a different copy of the
 * matrix (copies filling `MiB`, default 512, beyond the caches), as a
 * decode step streams every weight from memory once.  The variants run
 * interleaved, each round one pass of each (the machine is shared), and the
 * median time of a round is printed with the GB/s of weight read, as a
 * fraction of the streaming-read bandwidth measured by the same program
 * (1 and 2 threads).  The load average is printed before and after.
 *
 *     bench/bench_gemv quant [threads] [rounds] [MiB] [TYPE...]
 *
 * times the same one-row product over weights kept in a block format
 * (socfw_nn_qlinear_forward, N = 1: the decode dot products of qdot.c) at
 * the TinyLlama-1.1B decode shapes (2048x2048 q,o; 2048x256 k,v;
 * 2048x5632 gate,up; 5632x2048 down; 2048x32000 LM head), default types
 * Q4_0 Q4_K Q5_K Q6_K, on 1 and `threads` (default 2) threads.  For the
 * K-quants the "avx2" path (activations per 256, nn_q8k) and "avx2-q8"
 * (activations per 32, the kernels before it), and for Q4_0 "avx2" (the
 * unsigned-nibble kernel on paired activations, nn_q8x2) and "avx2-q8"
 * (the signed kernel before it), run interleaved in the same rounds (the
 * order reversed every other round), and "q8/avx2" is the ratio of their
 * medians (> 1: the "avx2" kernels are faster).  Weights
 * are random blocks with sane scales (the speed does not depend on the
 * values); copies fill `MiB` (default 256).
 *
 * Measures only; never fails on time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_clock.h"
#include "socfw/dtype.h"
#include "socfw/nn.h"
#include "socfw/qtensor.h"
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

#define MAXR 64

/* 8 floats as one value (GCC/Clang vector extension: two SSE or one AVX
 * register), so that the probe is bound by memory, not by adds. */
typedef float v8 __attribute__((vector_size(32)));

typedef struct {
        const float *p;
        double sums[256];
} bw_job;

static void
bw_body(void *ctx, int64_t b, int64_t e)
{
        bw_job *j = ctx;
        v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int64_t blk = b; blk < e; blk++) {
                const float *p = j->p + blk * 4096;
                for (int i = 0; i < 4096; i += 32) {
                        v8 x0, x1, x2, x3;
                        memcpy(&x0, p + i, sizeof x0);
                        memcpy(&x1, p + i + 8, sizeof x1);
                        memcpy(&x2, p + i + 16, sizeof x2);
                        memcpy(&x3, p + i + 24, sizeof x3);
                        a0 += x0;
                        a1 += x1;
                        a2 += x2;
                        a3 += x3;
                }
        }
        v8 a = (a0 + a1) + (a2 + a3);
        double s = 0;
        for (int k = 0; k < 8; k++)
                s += a[k];
        j->sums[b % 256] += s;
}

/* Streaming-read bandwidth (bytes/s) of `threads` threads over n floats,
 * best of 5; and memcpy's (bytes read + written). */
static double
read_bw(float *p, int64_t n, int threads)
{
        static bw_job j;
        j.p = p;
        socfw_threads_set(threads);
        double best = 0;
        for (int r = 0; r < 5; r++) {
                double t0 = bench_now();
                socfw_parallel_for(n / 4096, bw_body, &j);
                double bw = (double)n * 4 / (bench_now() - t0);
                best = bw > best ? bw : best;
        }
        return best;
}

static double
copy_bw(float *p, int64_t n)
{
        double best = 0;
        for (int r = 0; r < 5; r++) {
                double t0 = bench_now();
                memcpy(p + n / 2, p, (size_t)(n / 2) * sizeof *p);
                double bw = (double)n * 4 / (bench_now() - t0);
                best = bw > best ? bw : best;
        }
        return best;
}

static void
load(const char *when)
{
        double l[3] = {0};
        if (getloadavg(l, 3) == 3)
                printf("load average %s: %.2f %.2f %.2f\n", when, l[0], l[1],
                       l[2]);
}

typedef struct {
        const char *model, *what;
        int in, out;
} shape;

static const shape shapes[] = {
        {"gpt2", "qkv", 768, 2304},     {"gpt2", "attn.proj", 768, 768},
        {"gpt2", "fc", 768, 3072},      {"gpt2", "fc.proj", 3072, 768},
        {"gpt2", "lm_head", 768, 50257},
        {"smollm", "q,o", 576, 576},    {"smollm", "k,v", 576, 192},
        {"smollm", "gate,up", 576, 1536}, {"smollm", "down", 1536, 576},
        {"smollm", "lm_head", 576, 32000},
};

enum { V_BLAS1, V_POOL, V_AVX2, V_SCAL, V_TBLAS1, V_TSOCFW, NV };
static const char *vname[NV] = {"blas-1", "blas", "avx2", "scal", "blas-1",
                                "socfw"};

/* One pass of variant v at `threads` over every copy; seconds per call. */
static double
pass(int v, int threads, float *const *w, int copies, const float *x,
     float *y, const float *bias, const shape *s)
{
        int C = s->in, OC = s->out;
        if (v == V_POOL || v == V_AVX2 || v == V_SCAL)
                socfw_nn_gemv_kernel_set(v == V_POOL ? "blas"
                                         : v == V_AVX2 ? "avx2" : "scalar");
        socfw_threads_set(threads);
        double t0 = bench_now();
        for (int c = 0; c < copies; c++) {
                switch (v) {
                case V_BLAS1:
                        socfw_threads_blas_single();
                        memcpy(y, bias, (size_t)OC * sizeof *y);
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, OC, C, 1.0f,
                                    w[c], C, x, 1, 1.0f, y, 1);
                        break;
                case V_TBLAS1:
                        socfw_threads_blas_single();
                        memcpy(y, bias, (size_t)OC * sizeof *y);
                        cblas_sgemv(CblasRowMajor, CblasTrans, C, OC, 1.0f,
                                    w[c], OC, x, 1, 1.0f, y, 1);
                        break;
                case V_TSOCFW:
                        socfw_nn_matmul_forward(y, x, w[c], bias, 1, C, OC,
                                                SOCFW_NN_W_IN_OUT);
                        break;
                default:
                        socfw_nn_matmul_forward(y, x, w[c], bias, 1, C, OC,
                                                SOCFW_NN_W_OUT_IN);
                }
        }
        return (bench_now() - t0) / copies;
}

static int
runnable(int v, int avx2)
{
        return v != V_AVX2 || avx2;
}

/* ---- bench_gemv quant: one-row products over block formats ---- */

static const shape qshapes[] = {
        {"tinyllama", "q,o", 2048, 2048},
        {"tinyllama", "k,v", 2048, 256},
        {"tinyllama", "gate,up", 2048, 5632},
        {"tinyllama", "down", 5632, 2048},
        {"tinyllama", "lm_head", 2048, 32000},
};

static void
random_blocks(socfw_rng *rng, socfw_dtype t, uint8_t *p, size_t n)
{
        for (size_t i = 0; i + 8 <= n; i += 8) {
                uint64_t v = socfw_rng_next(rng);
                memcpy(p + i, &v, 8);
        }
        size_t bb = socfw_dtype_block_bytes(t);
        for (size_t b = 0; b < n / bb; b++)
                for (const int *f =
                             socfw_dtype_scale_offsets(t); *f >= 0; f++) {
                        uint16_t h = socfw_f32_to_f16(
                                0.001f + 0.01f * socfw_rng_uniform(rng));
                        p[b * bb + (size_t)*f] = (uint8_t)h;
                        p[b * bb + (size_t)*f + 1] = (uint8_t)(h >> 8);
                }
}

static int
quant_main(int argc, char **argv)
{
        int threads = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2;
        int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
        long mib = argc > 3 ? strtol(argv[3], NULL, 10) : 256;
        static const char *defaults[] = {"Q4_0", "Q4_K", "Q5_K", "Q6_K"};
        const char **names = argc > 4 ? (const char **)argv + 4 : defaults;
        int ntypes = argc > 4 ? argc - 4 : 4;
        if (threads < 1)
                threads = 2;
        if (rounds < 1 || rounds > MAXR)
                rounds = 5;
        if (mib < 16)
                mib = 16;
        socfw_rng rng;
        socfw_rng_seed(&rng, 7);
        const char *def = socfw_nn_qkernel_name();
        int avx2 = socfw_nn_qkernel_set("avx2") == 0;
        load("before");
        int64_t nbw = (int64_t)256 << 18;
        float *bwbuf = malloc((size_t)nbw * sizeof *bwbuf);
        if (!bwbuf)
                return 1;
        for (int64_t i = 0; i < nbw; i++)
                bwbuf[i] = 1.0f;
        double bw[2] = {read_bw(bwbuf, nbw, 1), read_bw(bwbuf, nbw, threads)};
        free(bwbuf);
        int ths[2] = {1, threads};
        printf("bench_gemv quant: read bandwidth 1 thread %.2f GB/s, %d "
               "threads %.2f GB/s; median of %d interleaved rounds, us per "
               "call (GB/s of weight, %% of the read bandwidth at that "
               "thread count); %ld MiB of copies per case\n",
               bw[0] / 1e9, threads, bw[1] / 1e9, rounds, mib);
        for (int ti = 0; ti < ntypes; ti++) {
                socfw_dtype t;
                if (socfw_dtype_from_name(names[ti], &t) < 0 ||
                    !socfw_qtensor_type_supported(t) ||
                    socfw_dtype_block_size(t) == 1) {
                        fprintf(stderr, "%s: not a block format\n",
                                names[ti]);
                        return 2;
                }
                int kq = socfw_dtype_block_size(t) == 256;
                const char *paths[2] = {avx2 ? "avx2" : "scalar", "avx2-q8"};
                /* the K-quants and Q4_0 have "avx2" kernels of their own
                 * (per-256 activations; Q4_0's paired, several rows per
                 * call): the previous ones are "avx2-q8" */
                int np = avx2 && (kq || t == SOCFW_DTYPE_Q4_0) ? 2 : 1;
                for (size_t si = 0; si < sizeof qshapes / sizeof *qshapes;
                     si++) {
                        const shape *s = &qshapes[si];
                        size_t rb = (size_t)s->in /
                                    socfw_dtype_block_size(t) *
                                    socfw_dtype_block_bytes(t);
                        size_t bytes = rb * (size_t)s->out;
                        int copies = (int)((double)mib * 1048576.0 /
                                           (double)bytes) + 1;
                        uint8_t *buf = malloc(bytes * (size_t)copies);
                        socfw_qtensor *w = calloc((size_t)copies, sizeof *w);
                        float *x = malloc((size_t)s->in * sizeof *x);
                        float *y = malloc((size_t)s->out * sizeof *y);
                        if (!buf || !w || !x || !y)
                                return 1;
                        random_blocks(&rng, t, buf, bytes);
                        for (int c = 0; c < copies; c++) {
                                if (c)
                                        memcpy(buf + bytes * (size_t)c, buf,
                                               bytes);
                                if (socfw_qtensor_init(
                                            &w[c], "w", t, s->out, s->in,
                                            buf + bytes * (size_t)c, bytes, 0,
                                            NULL) != 0)
                                        return 1;
                        }
                        for (int i = 0; i < s->in; i++)
                                x[i] = socfw_rng_normal(&rng);
                        double tm[2][2][MAXR];
                        for (int r = 0; r < rounds; r++)
                                for (int k = 0; k < 2 * np; k++) {
                                        int kk = r % 2 ? 2 * np - 1 - k : k;
                                        int p = kk / 2, th = kk % 2;
                                        socfw_nn_qkernel_set(paths[p]);
                                        socfw_threads_set(ths[th]);
                                        double t0 = bench_now();
                                        for (int c = 0; c < copies; c++)
                                                socfw_nn_qlinear_forward(
                                                        y, x, &w[c], NULL, 1);
                                        tm[p][th][r] =
                                                (bench_now() - t0) / copies;
                                }
                        double l[3] = {0};
                        getloadavg(l, 3);
                        printf("%-9s %-7s %5d x %-5d %-4s (%6.2f MB) "
                               "load %.2f\n",
                               s->model, s->what, s->in, s->out,
                               socfw_dtype_name(t), (double)bytes / 1e6, l[0]);
                        double med[2][2];
                        for (int p = 0; p < np; p++) {
                                printf("  %-7s", paths[p]);
                                for (int th = 0; th < 2; th++) {
                                        bench_sort(tm[p][th], (size_t)rounds);
                                        med[p][th] = tm[p][th][rounds / 2];
                                        double gbs = (double)bytes /
                                                     med[p][th];
                                        printf("  t%d %8.1f us %6.2f GB/s "
                                               "%4.0f%%",
                                               ths[th], med[p][th] * 1e6,
                                               gbs / 1e9,
                                               100.0 * gbs / bw[th]);
                                }
                                printf("\n");
                        }
                        if (np == 2)
                                printf("  q8/avx2  t%d %.2fx  t%d %.2fx\n",
                                       ths[0], med[1][0] / med[0][0], ths[1],
                                       med[1][1] / med[0][1]);
                        fflush(stdout);
                        for (int c = 0; c < copies; c++)
                                socfw_qtensor_release(&w[c]);
                        free(w); free(buf); free(x); free(y);
                }
        }
        socfw_nn_qkernel_set(def);
        socfw_threads_set(0);
        load("after");
        return 0;
}

int
main(int argc, char **argv)
{
        if (argc > 1 && !strcmp(argv[1], "quant"))
                return quant_main(argc - 1, argv + 1);
        int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 9;
        long mib = argc > 2 ? strtol(argv[2], NULL, 10) : 512;
        if (rounds < 1 || rounds > MAXR)
                rounds = 9;
        if (mib < 16)
                mib = 16;
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        const char *def = socfw_nn_gemv_kernel_name();
        int avx2 = socfw_nn_gemv_kernel_set("avx2") == 0;
        load("before");

        int64_t nbw = (int64_t)256 << 18;       /* 256 MiB of floats */
        float *bwbuf = malloc((size_t)nbw * sizeof *bwbuf);
        if (!bwbuf)
                return 1;
        for (int64_t i = 0; i < nbw; i++)
                bwbuf[i] = 1.0f;
        double bw1 = read_bw(bwbuf, nbw, 1), bw2 = read_bw(bwbuf, nbw, 2),
               bwc = copy_bw(bwbuf, nbw);
        free(bwbuf);
        printf("default gemv path: %s; read bandwidth 1 thread %.2f GB/s, "
               "2 threads %.2f GB/s; memcpy %.2f GB/s (read + write)\n",
               def, bw1 / 1e9, bw2 / 1e9, bwc / 1e9);
        printf("median of %d interleaved rounds, us per call (GB/s of "
               "weight, %% of the read bandwidth at that thread count); "
               "%ld MiB of copies per shape\n", rounds, mib);

        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
                const shape *s = &shapes[si];
                size_t n = (size_t)s->in * s->out;
                double bytes = (double)n * sizeof(float);
                int copies = (int)((double)mib * 1048576.0 / bytes) + 1;
                float **w = malloc((size_t)copies * sizeof *w);
                float *x = malloc((size_t)s->in * sizeof *x);
                float *y = malloc((size_t)s->out * sizeof *y);
                float *bias = malloc((size_t)s->out * sizeof *bias);
                if (!w || !x || !y || !bias)
                        return 1;
                for (int c = 0; c < copies; c++) {
                        w[c] = malloc(n * sizeof(float));
                        if (!w[c])
                                return 1;
                        for (size_t i = 0; i < n; i++)
                                w[c][i] = 0.02f * socfw_rng_normal(&rng);
                }
                for (int i = 0; i < s->in; i++)
                        x[i] = socfw_rng_normal(&rng);
                for (int i = 0; i < s->out; i++)
                        bias[i] = 0.1f * socfw_rng_normal(&rng);
                double t[NV][2][MAXR];
                for (int r = 0; r < rounds; r++)
                        for (int v = 0; v < NV; v++)
                                for (int th = 1; th <= 2; th++) {
                                        if (!runnable(v, avx2) ||
                                            ((v == V_BLAS1 || v == V_TBLAS1) &&
                                             th == 2))
                                                continue;
                                        t[v][th - 1][r] =
                                                pass(v, th, w, copies, x, y,
                                                     bias, s);
                                }
                printf("%-6s %-9s %5d x %-5d (%6.2f MB)\n", s->model, s->what,
                       s->in, s->out, bytes / 1e6);
                for (int v = 0; v < NV; v++) {
                        if (!runnable(v, avx2))
                                continue;
                        printf("  %-6s %-6s", v >= V_TBLAS1 ? "in,out"
                                                            : "out,in",
                               vname[v]);
                        for (int th = 1; th <= 2; th++) {
                                if ((v == V_BLAS1 || v == V_TBLAS1) &&
                                    th == 2)
                                        continue;
                                bench_sort(t[v][th - 1], (size_t)rounds);
                                double med = t[v][th - 1][rounds / 2];
                                double gbs = bytes / med;
                                printf("  t%d %8.1f us %6.2f GB/s %4.0f%%",
                                       th, med * 1e6, gbs / 1e9,
                                       100.0 * gbs / (th == 1 ? bw1 : bw2));
                        }
                        printf("\n");
                }
                fflush(stdout);
                for (int c = 0; c < copies; c++)
                        free(w[c]);
                free(w); free(x); free(y); free(bias);
        }
        socfw_nn_gemv_kernel_set(def);
        load("after");
        return 0;
}
