/* bench/bench_qgemm.c - the many-row linear layer over quantised weights
 * (prefill, batched decoding): float32 panels + sgemm against the
 * integer GEMM (and, with --dot, the per-row dot products), per shape,
 * type and row count.
 *
 *     bench/bench_qgemm [--rows=M,M..] [--models=NAME,..] [--dot]
 *                       [threads] [rounds] [TYPE...]
 *
 * Shapes (in x out): SmolLM-135M 576x576, 576x192, 576x1536, 1536x576,
 * LM head 576x32000; GPT-2 124M 768x2304, 768x768, 768x3072, 3072x768,
 * LM head 768x50257; TinyLlama-1.1B (only with --models=...,tinyllama)
 * 2048x2048, 2048x256, 2048x5632, 5632x2048.  --models picks them by
 * model (default smollm,gpt2).  Types (default Q8_0 Q4_0 Q4_K Q6_K; a
 * K-quant only where the input width is whole 256-blocks).  Rows M
 * (--rows, default 8,32,128,512; at most 512).
 * For each case the two paths (socfw_nn_qgemm_set "panel" and "int"; up
 * to M = 8 "panel" is the per-row dot-product path that socfw takes up to
 * 8 rows) run alternately, one call each per round, and the median of the
 * rounds is printed with GFLOP/s (2 M in out), the ratio panel / int
 * (> 1: the integer GEMM is faster) and the load average at that moment
 * (the machine is shared).  A third call per round, its place in the
 * order rotating with the round, times either the per-row dot products
 * at every M (--dot: socfw_nn_qgemm_set "dot"; "dot ms" and "dot/int",
 * < 1: the dot products are faster) or, by default where the CPU has the
 * AVX2 kernels, the panels with the portable kernels (what
 * SOCFW_QKERNEL=scalar selects: the scalar dequantiser), printed as
 * "port ms" and "port/pan" (> 1: the AVX2 dequantiser makes the panels
 * faster; up to M = 8 it is the scalar dot-product path instead).
 * Weights are random blocks with sane scales; the speed does not depend
 * on the values.  Measures; never fails on time.  defaults: 2 threads, 5
 * rounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_clock.h"
#include "socfw/dtype.h"
#include "socfw/qtensor.h"
#include "socfw/rng.h"
#include "socfw/threads.h"

#define MAXR 32

typedef struct {
        const char *model, *what;
        int in, out;
} shape;

static const shape shapes[] = {
        {"smollm", "q,o", 576, 576},     {"smollm", "k,v", 576, 192},
        {"smollm", "gate,up", 576, 1536}, {"smollm", "down", 1536, 576},
        {"smollm", "lm_head", 576, 32000},
        {"gpt2", "qkv", 768, 2304},      {"gpt2", "attn.proj", 768, 768},
        {"gpt2", "fc", 768, 3072},       {"gpt2", "fc.proj", 3072, 768},
        {"gpt2", "lm_head", 768, 50257},
        {"tinyllama", "q,o", 2048, 2048}, {"tinyllama", "k,v", 2048, 256},
        {"tinyllama", "gate,up", 2048, 5632},
        {"tinyllama", "down", 5632, 2048},
};

#define MAXM 16
static int Ms[MAXM] = {8, 32, 128, 512};
static int nM = 4;
static const char *models = "smollm,gpt2";

/* 1 if model is one of the comma-separated names of models. */
static int
model_on(const char *model)
{
        size_t n = strlen(model);
        for (const char *p = models; *p;) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (l == n && !strncmp(p, model, n))
                        return 1;
                p += l + (e != NULL);
        }
        return 0;
}

/* --rows=M,M,..: 0, or -1 when a value is not 1..512. */
static int
parse_rows(const char *list)
{
        nM = 0;
        for (const char *p = list; *p && nM < MAXM;) {
                char *e;
                long m = strtol(p, &e, 10);
                if (e == p || m < 1 || m > 512 || (*e && *e != ','))
                        return -1;
                Ms[nM++] = (int)m;
                p = *e ? e + 1 : e;
        }
        return nM ? 0 : -1;
}

static socfw_rng rng;    /* random weight bytes and activations */

static void
put_f16(uint8_t *p, float v)
{
        uint16_t h = socfw_f32_to_f16(v);
        p[0] = (uint8_t)h;
        p[1] = (uint8_t)(h >> 8);
}

static void
load(double *l1)
{
        double l[3] = {0};
        getloadavg(l, 3);
        *l1 = l[0];
}

/* The kernel path of the run and whether to time the portable panels. */
static const char *kpath;
static int with_port;

static double
one_call(const char *mode, float *y, const float *x, const socfw_qtensor *w,
         int M)
{
        int port = !strcmp(mode, "port");
        if (port)
                socfw_nn_qkernel_set("scalar");
        socfw_nn_qgemm_set(port ? "panel" : mode);
        double t0 = bench_now();
        socfw_nn_qlinear_forward(y, x, w, NULL, M);
        double t = bench_now() - t0;
        if (port)
                socfw_nn_qkernel_set(kpath);
        return t;
}

int
main(int argc, char **argv)
{
        socfw_rng_seed(&rng, 0x9e3779b97f4a7c15ULL);
        int with_dot = 0, na = 0;
        char **pos = argv + 1;
        for (int i = 1; i < argc; i++) {
                if (!strncmp(argv[i], "--rows=", 7)) {
                        if (parse_rows(argv[i] + 7) < 0) {
                                fprintf(stderr, "%s: rows are 1..512, "
                                        "comma-separated\n", argv[i]);
                                return 2;
                        }
                } else if (!strncmp(argv[i], "--models=", 9)) {
                        models = argv[i] + 9;
                } else if (!strcmp(argv[i], "--dot")) {
                        with_dot = 1;
                } else {
                        pos[na++] = argv[i];
                }
        }
        int threads = na > 0 ? (int)strtol(pos[0], NULL, 10) : 2;
        int rounds = na > 1 ? (int)strtol(pos[1], NULL, 10) : 5;
        if (rounds < 1 || rounds > MAXR)
                rounds = 5;
        static const char *defaults[] = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"};
        const char **names = na > 2 ? (const char **)pos + 2 : defaults;
        int ntypes = na > 2 ? na - 2 : 4;
        threads = socfw_threads_set(threads);
        kpath = socfw_nn_qkernel_name();
        with_port = with_dot || strcmp(kpath, "scalar") != 0;
        const char *third = with_dot ? "dot" : "port";
        double l0;
        load(&l0);
        printf("bench_qgemm: %d thread(s), integer path %s, median of %d "
               "alternating rounds; load average %.2f at start\n",
               threads, socfw_nn_qkernel_name(), rounds, l0);
        printf("%-9s %-9s %5s %6s %-5s %4s  %9s %7s  %9s %7s  %6s",
               "model", "layer", "in", "out", "type", "M", "panel ms",
               "GFLOP/s", "int ms", "GFLOP/s", "pan/int");
        if (with_dot)
                printf("  %9s %7s %8s", "dot ms", "GFLOP/s", "dot/int");
        else if (with_port)
                printf("  %9s %8s", "port ms", "port/pan");
        printf(" %5s\n", "load");
        for (int ti = 0; ti < ntypes; ti++) {
                socfw_dtype t;
                if (socfw_dtype_from_name(names[ti], &t) < 0 ||
                    !socfw_qtensor_type_supported(t) ||
                    socfw_dtype_block_size(t) == 1) {
                        fprintf(stderr, "%s: not a block format\n", names[ti]);
                        return 2;
                }
                for (size_t si = 0; si < sizeof shapes / sizeof *shapes;
                     si++) {
                        const shape *s = &shapes[si];
                        if (!model_on(s->model) ||
                            s->in % (int)socfw_dtype_block_size(t))
                                continue;
                        size_t nb;
                        socfw_dtype_nbytes(t, (uint64_t)s->in * s->out, &nb);
                        uint8_t *data = malloc(nb);
                        float *x = malloc((size_t)512 * s->in * sizeof *x);
                        float *y = malloc((size_t)512 * s->out * sizeof *y);
                        if (!data || !x || !y)
                                return 1;
                        size_t bb = socfw_dtype_block_bytes(t);
                        for (size_t i = 0; i < nb; i++)
                                data[i] = (uint8_t)socfw_rng_next(&rng);
                        for (size_t b = 0; b < nb / bb; b++)
                                for (const int *f =
                                             socfw_dtype_scale_offsets(t); *f >= 0;
                                     f++)
                                        put_f16(data + b * bb + *f, 0.001f);
                        for (size_t i = 0; i < (size_t)512 * s->in; i++)
                                x[i] = socfw_rng_uniform(&rng) - 0.5f;
                        socfw_qtensor w;
                        socfw_error err = {0};
                        if (socfw_qtensor_init(&w, s->what, t, s->out, s->in,
                                               data, nb, 0, &err) < 0) {
                                fprintf(stderr, "%s\n", err.message);
                                return 1;
                        }
                        for (int mi = 0; mi < nM; mi++) {
                                int M = Ms[mi];
                                double tp[MAXR], tq[MAXR], to[MAXR];
                                double *ts[3] = {tp, tq, to};
                                const char *mode[3] = {"panel", "int",
                                                       third};
                                int nv = with_port ? 3 : 2;
                                /* one untimed call of each first */
                                for (int v = 0; v < nv; v++)
                                        one_call(mode[v], y, x, &w, M);
                                /* each round its own order */
                                for (int r = 0; r < rounds; r++)
                                        for (int k = 0; k < nv; k++) {
                                                int v = (r + k) % nv;
                                                if (r % 2)
                                                        v = nv - 1 - v;
                                                ts[v][r] = one_call(
                                                        mode[v], y, x, &w,
                                                        M);
                                        }
                                bench_sort(tp, (size_t)rounds);
                                bench_sort(tq, (size_t)rounds);
                                if (with_port)
                                        bench_sort(to, (size_t)rounds);
                                double mp = tp[rounds / 2], mq = tq[rounds / 2];
                                double fl = 2.0 * M * s->in * (double)s->out;
                                double l1;
                                load(&l1);
                                printf("%-9s %-9s %5d %6d %-5s %4d  %9.3f "
                                       "%7.1f  %9.3f %7.1f  %6.2f",
                                       s->model, s->what, s->in, s->out,
                                       names[ti], M, mp * 1e3, fl / mp * 1e-9,
                                       mq * 1e3, fl / mq * 1e-9, mp / mq);
                                double mo = to[rounds / 2];
                                if (with_dot)
                                        printf("  %9.3f %7.1f %8.2f",
                                               mo * 1e3, fl / mo * 1e-9,
                                               mo / mq);
                                else if (with_port)
                                        printf("  %9.3f %8.2f", mo * 1e3,
                                               mo / mp);
                                printf(" %5.2f\n", l1);
                                fflush(stdout);
                        }
                        free(data);
                        free(x);
                        free(y);
                }
        }
        socfw_nn_qgemm_set("auto");
        socfw_threads_shutdown();
        return 0;
}
