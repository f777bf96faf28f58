/* bench/bench_decode_batch.c - batched decoding (socfw_model_decode_batch)
 * against decoding the same k sequences one token at a time each
 * (socfw_model_decode_step), on random GPT-2 models: the chat-demo shape
 * (2 x 96, vocabulary 1200), a 6 x 512 one (vocabulary 8000) and the
 * GPT-2 124M shape (12 x 768, vocabulary 50257).  Each of k sequences
 * gets a 32-token prompt, then `gen` tokens; prints the aggregate decode
 * tokens/s both ways (prompts excluded) and their ratio.
 *
 *     bench/bench_decode_batch [threads] [gen] [rounds]
 *
 * threads 0 = all CPUs; defaults 2 48 3; the best of `rounds`.  Measures;
 * never fails on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_clock.h"
#include "socfw/model.h"
#include "socfw/threads.h"

#define PROMPT 32
#define KMAX 8

static long
arg(int argc, char **argv, int i, long def, long max)
{
        if (argc <= i)
                return def;
        char *end;
        long v = strtol(argv[i], &end, 10);
        return *end == '\0' && v >= 0 && v <= max ? v : def;
}

/* Seconds to decode gen tokens for each of k sequences: batched (1) or
 * one sequence after another (0).  -1 on error. */
static double
run(socfw_model *m, int k, int gen, int batched)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        int V = c->vocab_size;
        socfw_model_kv *kv[KMAX] = {NULL};
        float *lg = malloc(sizeof(float) * (size_t)k * V);
        int32_t ids[PROMPT], next[KMAX];
        socfw_error err = {0};
        double secs = -1;
        if (!lg)
                goto out;
        for (int i = 0; i < k; i++) {
                for (int t = 0; t < PROMPT; t++)
                        ids[t] = (int32_t)((i * 131 + t * 7) % V);
                if (socfw_model_kv_new(&kv[i], m, PROMPT + gen + 1, &err) <
                            0 ||
                    socfw_model_decode_step(m, kv[i], ids, PROMPT, lg,
                                            &err) < 0)
                        goto out;
                next[i] = (int32_t)((i * 17 + 3) % V);
        }
        double t0 = bench_now();
        for (int s = 0; s < gen; s++) {
                if (batched) {
                        if (socfw_model_decode_batch(m, kv, next, k, lg,
                                                     &err) < 0)
                                goto out;
                } else {
                        for (int i = 0; i < k; i++)
                                if (socfw_model_decode_step(m, kv[i],
                                                            &next[i], 1, lg,
                                                            &err) < 0)
                                        goto out;
                }
                for (int i = 0; i < k; i++)     /* any token will do */
                        next[i] = (int32_t)((next[i] * 31 + s) % V);
        }
        secs = bench_now() - t0;
out:
        if (err.message[0])
                fprintf(stderr, "bench_decode_batch: %s\n", err.message);
        for (int i = 0; i < k; i++)
                socfw_model_kv_free(kv[i]);
        free(lg);
        return secs;
}

int
main(int argc, char **argv)
{
        int threads = (int)arg(argc, argv, 1, 2, 256);
        int gen = (int)arg(argc, argv, 2, 48, 4096);
        int rounds = (int)arg(argc, argv, 3, 3, 100);
        if (gen < 1 || rounds < 1)
                gen = 48, rounds = 3;
        socfw_threads_set(threads);
        static const struct {
                const char *name;
                int vocab, hidden, layers, heads;
        } shapes[] = {{"chat-demo 2 x 96, vocabulary 1200", 1200, 96, 2, 2},
                      {"6 x 512, vocabulary 8000", 8000, 512, 6, 8},
                      {"GPT-2 124M 12 x 768, vocabulary 50257", 50257, 768,
                       12, 12}};
        printf("batched decoding, %d threads, %d-token prompts, %d new "
               "tokens per sequence, best of %d\n",
               socfw_threads_get(), PROMPT, gen, rounds);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                socfw_model_config cfg;
                socfw_model_config_default(&cfg, SOCFW_ARCH_GPT2,
                                           shapes[s].vocab, shapes[s].hidden,
                                           shapes[s].layers, shapes[s].heads,
                                           4 * shapes[s].hidden, 1024);
                socfw_model *m = NULL;
                socfw_error err = {0};
                if (socfw_model_new_random(&m, &cfg, 7, &err) < 0) {
                        fprintf(stderr, "bench_decode_batch: %s\n",
                                err.message);
                        return 1;
                }
                printf("%s\n  k   one at a time tok/s   batched tok/s   "
                       "ratio\n",
                       shapes[s].name);
                for (int k = 1; k <= KMAX; k *= 2) {
                        double best[2] = {0, 0};
                        for (int r = 0; r < rounds; r++)
                                for (int b = 0; b < 2; b++) {
                                        double t = run(m, k, gen, b);
                                        if (t <= 0)
                                                return 1;
                                        if (!best[b] || t < best[b])
                                                best[b] = t;
                                }
                        double one = k * gen / best[0], bat = k * gen / best[1];
                        printf("  %d   %19.0f   %13.0f   %5.2f\n", k, one,
                               bat, bat / one);
                }
                socfw_model_free(m);
        }
        return 0;
}
