/* bench/bench_model.c - throughput of the socfw backbones on a GPT-2 124M
 * shape: training forward + LM logits + cross-entropy + backward for a
 * batch of 4 x 128 tokens, and greedy KV-cache generation.
 *
 *     bench/bench_model [threads] [steps] [gen_tokens] [layers]
 *
 * Prints tokens/s; it measures, it does not pass or fail.  Compare with
 * bench/bench_torch_gpt2.py run with the same thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/model.h"
#include "socfw/nn.h"
#include "socfw/threads.h"

static double
now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long
arg(int argc, char **argv, int i, long def)
{
        if (argc <= i)
                return def;
        char *end;
        long v = strtol(argv[i], &end, 10);
        return *end == '\0' && v > 0 ? v : def;
}

int
main(int argc, char **argv)
{
        int threads = socfw_threads_set((int)arg(argc, argv, 1, 0));
        int steps = (int)arg(argc, argv, 2, 3);
        int gen = (int)arg(argc, argv, 3, 64);
        int layers = (int)arg(argc, argv, 4, 12);
        int B = 4, T = 128, N = B * T;
        socfw_model_config cfg;
        socfw_model_config_default(&cfg, SOCFW_ARCH_GPT2, 50257, 768, layers,
                                   12, 3072, 1024);
        socfw_model *m = NULL;
        socfw_error err = {0};
        if (socfw_model_new_random(&m, &cfg, 1234, &err) < 0) {
                fprintf(stderr, "bench_model: %s\n", err.message);
                return 1;
        }
        int C = cfg.hidden, V = cfg.vocab_size;
        int32_t *ids = malloc(sizeof(int32_t) * (N + 1));
        float *h = malloc(sizeof(float) * N * C);
        float *dh = malloc(sizeof(float) * N * C);
        float *logits = malloc(sizeof(float) * N * V);
        if (!ids || !h || !dh || !logits) {
                fprintf(stderr, "bench_model: out of memory\n");
                return 1;
        }
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        for (int i = 0; i <= N; i++)
                ids[i] = (int32_t)socfw_rng_below(&rng, (uint64_t)V);
        printf("socfw GPT-2 124M shape (%lld parameters), %d threads\n",
               (long long)socfw_params_total_numel(socfw_model_params(m)),
               threads);

        double best = 1e30;
        for (int s = 0; s <= steps; s++) {
                double t0 = now();
                float loss;
                socfw_model_forward(m, ids, NULL, NULL, B, T, true, 0.0f,
                                    &rng, h, &err);
                socfw_model_lm_logits(m, h, N, logits, &err);
                socfw_nn_cross_entropy_forward_backward(&loss, NULL, logits,
                                                        logits, ids + 1, N,
                                                        V, NULL, &err);
                socfw_params_zero_grad(socfw_model_params(m));
                memset(dh, 0, sizeof(float) * N * C);
                socfw_model_lm_logits_backward(m, h, logits, N, dh, &err);
                socfw_model_backward(m, dh, &err);
                double dt = now() - t0;
                if (s > 0 && dt < best)  /* step 0 is warm-up */
                        best = dt;
                printf("  step %d: loss %.4f, %.3f s\n", s, loss, dt);
        }
        printf("forward+backward B=%d T=%d: %.1f tokens/s (best of %d)\n", B,
               T, N / best, steps);

        socfw_model_kv *kv = NULL;
        float *lg = malloc(sizeof(float) * V);
        if (socfw_model_kv_new(&kv, m, gen + 1, &err) < 0 || !lg) {
                fprintf(stderr, "bench_model: %s\n", err.message);
                return 1;
        }
        int32_t tok = 0;
        socfw_model_decode_step(m, kv, &tok, 1, lg, &err);
        double t0 = now();
        for (int i = 0; i < gen; i++) {
                int best_id = 0;
                for (int j = 1; j < V; j++)
                        if (lg[j] > lg[best_id])
                                best_id = j;
                tok = best_id;
                if (socfw_model_decode_step(m, kv, &tok, 1, lg, &err) < 0) {
                        fprintf(stderr, "bench_model: %s\n", err.message);
                        return 1;
                }
        }
        double dt = now() - t0;
        printf("KV-cache greedy generation: %.1f tokens/s (%d tokens)\n",
               gen / dt, gen);
        socfw_model_kv_free(kv);
        free(lg);
        free(ids);
        free(h);
        free(dh);
        free(logits);
        socfw_model_free(m);
        return 0;
}
