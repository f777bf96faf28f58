/* bench/bench_model.c - throughput of the socfw backbones on a GPT-2 124M
 * shape (random weights): a training step (forward + LM logits +
 * cross-entropy + backward, batch 4 x 128 tokens) and greedy KV-cache
 * generation (batch 1), then the same model in PyTorch in the same
 * invocation (bench/bench_torch_gpt2.py under /usr/bin/python3, same
 * thread count) and the ratios.
 *
 *     bench/bench_model [threads] [steps] [gen_tokens] [layers]
 *                       [--no-torch] [--torch=SCRIPT]
 *
 * threads 0 = all CPUs; defaults 0 5 64 12.  Prints per-step times, the
 * median step split into its phases, tokens/s (median and best), the
 * ceiling that the machine's matrix-product rate sets (the step's GFLOP of
 * products over the rate measured in the same run), and the socfw /
 * PyTorch ratios.  It measures; it does not pass or fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_clock.h"
#include "socfw/model.h"
#include "socfw/nn.h"
#include "socfw/threads.h"

#ifndef SOCFW_SRCDIR
#define SOCFW_SRCDIR "."
#endif

/* median of n values (sorts a copy) */
static double
median(const double *v, int n)
{
        double tmp[64];
        if (n > 64)
                n = 64;
        memcpy(tmp, v, (size_t)n * sizeof *tmp);
        bench_sort(tmp, (size_t)n);
        return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

enum { PH_FWD, PH_LOGITS, PH_XENT, PH_ZERO, PH_LM_BW, PH_BW, PH_N };
static const char *ph_name[PH_N] = {
        "model forward", "LM logits", "cross-entropy", "zero grads",
        "LM logits backward", "model backward",
};

typedef struct {
        double train_med, train_best;   /* tokens/s */
        double gen;                     /* tokens/s */
        double step_gflop;              /* matrix products of one step */
        double gemm_gflops;             /* measured product rate */
        double ceiling;                 /* tokens/s at that rate */
} figures;

/* Multiply-adds x 2 of the matrix products in one training step of a
 * GPT-2 shape (N = B*T tokens): per layer the QKV, output, FFN up and
 * down projections (24 N C^2) and the attention scores and mix (4 B T^2 C,
 * the full square), plus the tied LM head (2 N C V); the backward pass does
 * twice the forward's products (input and weight gradients). */
static double
step_gflop(int B, int T, int C, int V, int layers)
{
        double N = (double)B * T;
        double fwd = layers * (24.0 * N * C * C + 4.0 * B * (double)T * T * C) +
                     2.0 * N * C * V;
        return 3.0 * fwd * 1e-9;
}

/* The rate at which this machine runs the step's products now, through the
 * same library call the model uses: the FFN up projection (N x C x 4C) and
 * a slice of the LM head (N x C x 8192), best of 5 after a warm-up. */
static double
gemm_rate(int N, int C)
{
        int shapes[2] = {4 * C, 8192};
        double flop = 0.0, secs = 0.0;
        for (int k = 0; k < 2; k++) {
                int OC = shapes[k];
                float *x = calloc((size_t)N * C, sizeof *x);
                float *w = calloc((size_t)OC * C, sizeof *w);
                float *y = malloc((size_t)N * OC * sizeof *y);
                if (!x || !w || !y) {
                        free(x);
                        free(w);
                        free(y);
                        return 0.0;
                }
                for (size_t i = 0; i < (size_t)N * C; i++)
                        x[i] = (float)(i % 7) * 0.1f;
                for (size_t i = 0; i < (size_t)OC * C; i++)
                        w[i] = (float)(i % 5) * 0.01f;
                double best = 1e30;
                for (int r = 0; r < 6; r++) {
                        double t0 = bench_now();
                        socfw_nn_linear_forward(y, x, w, NULL, N, C, OC);
                        double t = bench_now() - t0;
                        if (r > 0 && t < best)
                                best = t;
                }
                flop += 2.0 * N * C * (double)OC;
                secs += best;
                free(x);
                free(w);
                free(y);
        }
        return flop / secs * 1e-9;
}

static int
run_socfw(int threads, int steps, int gen, int layers, figures *f)
{
        int B = 4, T = 128, N = B * T;
        socfw_model_config cfg;
        socfw_model_config_default(&cfg, SOCFW_ARCH_GPT2, 50257, 768, layers,
                                   12, 3072, 1024);
        socfw_model *m = NULL;
        socfw_error err = {0};
        if (socfw_model_new_random(&m, &cfg, 1234, &err) < 0) {
                fprintf(stderr, "bench_model: %s\n", err.message);
                return -1;
        }
        int C = cfg.hidden, V = cfg.vocab_size;
        int32_t *ids = malloc(sizeof(int32_t) * (N + 1));
        float *h = malloc(sizeof(float) * N * C);
        float *dh = malloc(sizeof(float) * N * C);
        float *logits = malloc(sizeof(float) * (size_t)N * V);
        float *lg = malloc(sizeof(float) * V);
        if (!ids || !h || !dh || !logits || !lg) {
                fprintf(stderr, "bench_model: out of memory\n");
                return -1;
        }
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        for (int i = 0; i <= N; i++)
                ids[i] = (int32_t)socfw_rng_below(&rng, (uint64_t)V);
        printf("socfw GPT-2 124M shape (%lld parameters, %d layers), "
               "%d threads\n",
               (long long)socfw_params_total_numel(socfw_model_params(m)),
               layers, threads);

        double step_t[64], ph[PH_N][64];
        if (steps > 64)
                steps = 64;
        for (int s = 0; s <= steps; s++) {
                double t[PH_N + 1];
                float loss = 0.0f;
                int rc = 0;
                t[0] = bench_now();
                rc |= socfw_model_forward(m, ids, NULL, NULL, B, T, true,
                                          0.0f, &rng, h, &err);
                t[1] = bench_now();
                rc |= socfw_model_lm_logits(m, h, N, logits, &err);
                t[2] = bench_now();
                rc |= socfw_nn_cross_entropy_forward_backward(
                        &loss, NULL, logits, logits, ids + 1, N, V, NULL,
                        &err);
                t[3] = bench_now();
                socfw_params_zero_grad(socfw_model_params(m));
                memset(dh, 0, sizeof(float) * N * C);
                t[4] = bench_now();
                rc |= socfw_model_lm_logits_backward(m, h, logits, N, dh,
                                                     &err);
                t[5] = bench_now();
                rc |= socfw_model_backward(m, dh, &err);
                t[6] = bench_now();
                if (rc < 0) {
                        fprintf(stderr, "bench_model: %s\n", err.message);
                        return -1;
                }
                printf("  step %d: loss %.4f, %.3f s\n", s, loss,
                       t[6] - t[0]);
                if (s == 0)
                        continue;       /* warm-up */
                step_t[s - 1] = t[6] - t[0];
                for (int p = 0; p < PH_N; p++)
                        ph[p][s - 1] = t[p + 1] - t[p];
        }
        double med = median(step_t, steps), best = step_t[0];
        for (int s = 1; s < steps; s++)
                if (step_t[s] < best)
                        best = step_t[s];
        printf("  phases (median of %d steps):\n", steps);
        for (int p = 0; p < PH_N; p++)
                printf("    %-20s %8.1f ms\n", ph_name[p],
                       1e3 * median(ph[p], steps));
        f->train_med = N / med;
        f->train_best = N / best;
        printf("forward+backward B=%d T=%d: %.1f tokens/s (median of %d "
               "steps, best %.1f)\n", B, T, f->train_med, steps,
               f->train_best);
        f->step_gflop = step_gflop(B, T, C, V, layers);
        f->gemm_gflops = gemm_rate(N, C);
        f->ceiling = f->gemm_gflops > 0.0
                             ? N / (f->step_gflop / f->gemm_gflops)
                             : 0.0;
        printf("ceiling: %.1f GFLOP of matrix products per step; this "
               "machine's products run at %.1f GFLOP/s now, so no step "
               "beats %.1f tokens/s (this step: %.0f%% of it)\n",
               f->step_gflop, f->gemm_gflops, f->ceiling,
               f->ceiling > 0.0 ? 100.0 * f->train_med / f->ceiling : 0.0);

        socfw_model_kv *kv = NULL;
        if (socfw_model_kv_new(&kv, m, gen + 1, &err) < 0) {
                fprintf(stderr, "bench_model: %s\n", err.message);
                return -1;
        }
        double gen_t[3];
        for (int r = 0; r < 3; r++) {
                socfw_model_kv_reset(kv);
                int32_t tok = 0;
                socfw_model_decode_step(m, kv, &tok, 1, lg, &err);
                double t0 = bench_now();
                for (int i = 0; i < gen; i++) {
                        int best_id = 0;
                        for (int j = 1; j < V; j++)
                                if (lg[j] > lg[best_id])
                                        best_id = j;
                        tok = best_id;
                        if (socfw_model_decode_step(m, kv, &tok, 1, lg,
                                                    &err) < 0) {
                                fprintf(stderr, "bench_model: %s\n",
                                        err.message);
                                return -1;
                        }
                }
                gen_t[r] = bench_now() - t0;
        }
        f->gen = gen / median(gen_t, 3);
        printf("KV-cache greedy generation: %.1f tokens/s (%d tokens, "
               "median of 3)\n", f->gen, gen);
        socfw_model_kv_free(kv);
        free(lg);
        free(ids);
        free(h);
        free(dh);
        free(logits);
        socfw_model_free(m);
        socfw_threads_shutdown();
        return 0;
}

/* Run the PyTorch script, echo its output, pick its figures. */
static int
run_torch(const char *script, int threads, int steps, int gen, int layers,
          figures *f)
{
        char cmd[4096], line[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %d %d %d %d 2>&1",
                 script, threads, steps, gen, layers);
        fflush(stdout);
        FILE *p = popen(cmd, "r");
        if (!p)
                return -1;
        int got = 0;
        while (fgets(line, sizeof line, p)) {
                fputs(line, stdout);
                const char *s;
                if (!strncmp(line, "forward+backward", 16) &&
                    (s = strchr(line, ':'))) {
                        f->train_med = strtod(s + 1, NULL);
                        const char *b = strstr(line, "best ");
                        f->train_best = b ? strtod(b + 5, NULL) : 0.0;
                        got |= 1;
                } else if (!strncmp(line, "KV-cache", 8) &&
                           (s = strchr(line, ':'))) {
                        f->gen = strtod(s + 1, NULL);
                        got |= 2;
                }
        }
        int st = pclose(p);
        return st == 0 && got == 3 ? 0 : -1;
}

int
main(int argc, char **argv)
{
        long pos[4] = { 0, 5, 64, 12 };
        int npos = 0, torch = 1;
        char script[2048];
        snprintf(script, sizeof script, "%s/bench/bench_torch_gpt2.py",
                 SOCFW_SRCDIR);
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--no-torch")) {
                        torch = 0;
                } else if (!strncmp(argv[i], "--torch=", 8)) {
                        snprintf(script, sizeof script, "%s", argv[i] + 8);
                } else if (npos < 4) {
                        char *end;
                        long v = strtol(argv[i], &end, 10);
                        if (*end || v < 0 || v > 100000) {
                                fprintf(stderr, "usage: %s [threads] [steps] "
                                        "[gen_tokens] [layers] [--no-torch] "
                                        "[--torch=SCRIPT]\n", argv[0]);
                                return 2;
                        }
                        if (v > 0 || npos == 0)
                                pos[npos] = v;
                        npos++;
                }
        }
        int threads = socfw_threads_set((int)pos[0]);
        int steps = (int)pos[1], gen = (int)pos[2], layers = (int)pos[3];
        if (gen > 1000)
                gen = 1000;
        figures s = {0}, t = {0};
        if (run_socfw(threads, steps, gen, layers, &s) < 0)
                return 1;
        if (!torch)
                return 0;
        printf("\n");
        if (run_torch(script, threads, steps, gen, layers, &t) < 0) {
                printf("PyTorch comparison unavailable (%s under "
                       "/usr/bin/python3 failed)\n", script);
                return 0;
        }
        printf("\nsocfw / PyTorch, %d threads:\n", threads);
        printf("  training step (median): %7.1f vs %7.1f tokens/s = %.2fx\n",
               s.train_med, t.train_med, s.train_med / t.train_med);
        if (t.train_best > 0.0)
                printf("  training step (best):   %7.1f vs %7.1f tokens/s = "
                       "%.2fx\n", s.train_best, t.train_best,
                       s.train_best / t.train_best);
        printf("  KV-cache generation:    %7.1f vs %7.1f tokens/s = %.2fx\n",
               s.gen, t.gen, s.gen / t.gen);
        if (s.ceiling > 0.0)
                printf("  product-rate ceiling:   %7.1f vs %7.1f tokens/s = "
                       "%.2fx (the most any implementation's step could "
                       "reach here)\n",
                       s.ceiling, t.train_med, s.ceiling / t.train_med);
        return 0;
}
