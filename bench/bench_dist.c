/* bench_dist.c - data-parallel training step (socfw/dist.h) in the GPT-2
 * 124M shape (random weights): the global batch of 4 x 128 tokens split
 * between the processes, each computing forward + LM loss + backward of
 * its share, then the gradients summed over the processes as the training
 * loop's hook does (socfw_dist_allreduce_sum over the flat buffer).
 *
 *     bench/bench_dist [threads] [steps] [layers]            one process
 *     mpirun -np 2 bench/bench_dist 1 5                     two processes
 *
 * Prints, for rank 0, the median step split into compute and reduction,
 * global tokens/s, the reduction's share of the step and its effective
 * bandwidth, and the time to sum a LoRA-sized gradient (r = 8 on attn.q
 * and attn.v of every layer: what a frozen backbone reduces).  Prints
 * figures; never fails on time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_clock.h"
#include "socfw/dist.h"
#include "socfw/model.h"
#include "socfw/nn.h"
#include "socfw/params.h"
#include "socfw/rng.h"
#include "socfw/threads.h"

static double
median(double *v, int n)
{
        bench_sort(v, (size_t)n);
        return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long
arg(int argc, char **argv, int i, long def)
{
        return argc > i ? strtol(argv[i], NULL, 10) : def;
}

int
main(int argc, char **argv)
{
        socfw_error err = {0};
        if (socfw_dist_init(&argc, &argv, &err) < 0) {
                fprintf(stderr, "bench_dist: %s\n", err.message);
                return 1;
        }
        int threads = (int)arg(argc, argv, 1, 0);
        int steps = (int)arg(argc, argv, 2, 5);
        int layers = (int)arg(argc, argv, 3, 12);
        if (steps < 1 || steps > 64)
                steps = 5;
        if (threads > 0)
                socfw_threads_set(threads);
        int rank = socfw_dist_rank(), P = socfw_dist_size();
        int B = 4, T = 128;
        size_t off, len;
        socfw_dist_shard((size_t)B, &off, &len);
        int n = (int)len * T;
        socfw_model_config cfg;
        socfw_model_config_default(&cfg, SOCFW_ARCH_GPT2, 50257, 768, layers,
                                   12, 3072, 1024);
        socfw_model *m = NULL;
        if (socfw_model_new_random(&m, &cfg, 1234, &err) < 0) {
                fprintf(stderr, "bench_dist: %s\n", err.message);
                return 1;
        }
        int C = cfg.hidden, V = cfg.vocab_size;
        socfw_params *ps = socfw_model_params(m);
        size_t n_grad = (size_t)socfw_params_size(ps);
        size_t n_lora = (size_t)layers * 2 * (size_t)(C * 8 + 8 * C);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * T + 1));
        float *h = malloc(sizeof(float) * (size_t)n * C);
        float *dh = malloc(sizeof(float) * (size_t)n * C);
        float *logits = malloc(sizeof(float) * (size_t)n * V);
        float *lora = calloc(n_lora, sizeof(float));
        if (!ids || !h || !dh || !logits || !lora) {
                fprintf(stderr, "bench_dist: out of memory\n");
                return 1;
        }
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        for (int i = 0; i <= B * T; i++)
                ids[i] = (int32_t)socfw_rng_below(&rng, (uint64_t)V);
        if (rank == 0)
                printf("bench_dist: GPT-2 124M shape (%lld parameters, %d "
                       "layers), global batch %d x %d, %d process%s x %d "
                       "thread%s (socfw %s MPI)\n",
                       (long long)socfw_params_total_numel(ps), layers, B, T,
                       P, P > 1 ? "es" : "", threads ? threads : 0,
                       threads == 1 ? "" : "s",
                       socfw_dist_built_with_mpi() ? "with" : "without");
        double comp[64], red[64], lred[64];
        const int32_t *my = ids + off * (size_t)T;
        for (int s = 0; s <= steps; s++) {
                float loss = 0;
                int rc = 0;
                double t0 = bench_now();
                socfw_params_zero_grad(ps);
                rc |= socfw_model_forward(m, my, NULL, NULL, (int)len, T,
                                          true, 0.0f, &rng, h, &err);
                rc |= socfw_model_lm_logits(m, h, n, logits, &err);
                rc |= socfw_nn_cross_entropy_forward_backward(
                        &loss, NULL, logits, logits, my + 1, n, V, NULL,
                        &err);
                memset(dh, 0, sizeof(float) * (size_t)n * C);
                rc |= socfw_model_lm_logits_backward(m, h, logits, n, dh,
                                                     &err);
                rc |= socfw_model_backward(m, dh, &err);
                double t1 = bench_now();
                rc |= socfw_dist_allreduce_sum(socfw_params_grad_buffer(ps),
                                               n_grad, &err);
                double t2 = bench_now();
                rc |= socfw_dist_allreduce_sum(lora, n_lora, &err);
                double t3 = bench_now();
                if (rc < 0) {
                        fprintf(stderr, "bench_dist: rank %d: %s\n", rank,
                                err.message);
                        socfw_dist_abort(1);
                        return 1;
                }
                if (rank == 0)
                        printf("  step %d: loss %.4f, compute %.3f s, sum "
                               "of gradients %.3f s\n",
                               s, loss, t1 - t0, t2 - t1);
                if (s == 0)
                        continue; /* warm-up */
                comp[s - 1] = t1 - t0;
                red[s - 1] = t2 - t1;
                lred[s - 1] = t3 - t2;
        }
        double c = median(comp, steps), r = median(red, steps),
               l = median(lred, steps);
        if (rank == 0) {
                printf("median step %.3f s = compute %.3f s + sum of "
                       "gradients %.3f s (%.1f%% of the step)\n",
                       c + r, c, r, 100.0 * r / (c + r));
                printf("global throughput %.1f tokens/s (%d tokens per "
                       "step)\n",
                       (double)(B * T) / (c + r), B * T);
                if (P > 1)
                        printf("sum of %.1f MB of gradients: %.1f MB/s of "
                               "buffer per process; LoRA-sized (%.2f MB): "
                               "%.2f ms\n",
                               4e-6 * (double)n_grad,
                               4e-6 * (double)n_grad / r, 4e-6 * (double)n_lora,
                               1e3 * l);
        }
        free(ids);
        free(h);
        free(dh);
        free(logits);
        free(lora);
        socfw_model_free(m);
        socfw_dist_finalize();
        return 0;
}
