/* test_generate_sampler.c - socfw/sampler.h */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/sampler.h"

static socfw_sampler *
make(int32_t V, float temp, int k, float p, float minp, uint64_t seed)
{
        socfw_sampler_config cfg;
        socfw_error err = {0};
        socfw_sampler_config_default(&cfg);
        cfg.temperature = temp;
        cfg.top_k = k;
        cfg.top_p = p;
        cfg.min_p = minp;
        cfg.seed = seed;
        socfw_sampler *s = socfw_sampler_new(V, &cfg, &err);
        cr_assert(s, "%s", err.message);
        return s;
}

static void
random_logits(float *x, size_t n, uint32_t seed)
{
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1664525u + 1013904223u;
                x[i] = (float)(seed >> 8) / 16777216.0f * 8.0f - 4.0f;
        }
}

static int32_t
argmax(const float *x, size_t n)
{
        size_t b = 0;
        for (size_t i = 1; i < n; i++)
                if (x[i] > x[b])
                        b = i;
        return (int32_t)b;
}

Test(sampler, greedy_picks_argmax)
{
        float x[1000];
        for (uint32_t trial = 0; trial < 20; trial++) {
                random_logits(x, 1000, trial + 1);
                socfw_sampler *s = make(1000, 0.0f, 40, 0.95f, 0.05f, 1);
                int32_t t = -1;
                cr_assert_eq(socfw_sampler_sample(s, x, NULL, 0, &t, NULL),
                             0);
                cr_assert_eq(t, argmax(x, 1000), "trial %u", trial);
                socfw_sampler_free(s);
        }
        /* ties go to the lowest id */
        float tie[4] = {1, 3, 3, 0};
        socfw_sampler *s = make(4, 0.0f, 0, 1.0f, 0.0f, 1);
        int32_t t;
        socfw_sampler_sample(s, tie, NULL, 0, &t, NULL);
        cr_assert_eq(t, 1);
        socfw_sampler_free(s);
}

Test(sampler, top_k_1_equals_greedy)
{
        float x[5000];
        socfw_sampler *s = make(5000, 1.5f, 1, 1.0f, 0.0f, 7);
        for (uint32_t trial = 0; trial < 50; trial++) {
                random_logits(x, 5000, trial * 31 + 5);
                int32_t t;
                cr_assert_eq(socfw_sampler_sample(s, x, NULL, 0, &t, NULL),
                             0);
                cr_assert_eq(t, argmax(x, 5000));
        }
        socfw_sampler_free(s);
}

Test(sampler, seeded_sequence_reproducible)
{
        float x[300];
        int32_t a[200], b[200], c[200];
        random_logits(x, 300, 99);
        socfw_sampler *s1 = make(300, 1.0f, 50, 0.9f, 0.0f, 1234);
        socfw_sampler *s2 = make(300, 1.0f, 50, 0.9f, 0.0f, 1234);
        socfw_sampler *s3 = make(300, 1.0f, 50, 0.9f, 0.0f, 4321);
        for (int i = 0; i < 200; i++) {
                socfw_sampler_sample(s1, x, NULL, 0, &a[i], NULL);
                socfw_sampler_sample(s2, x, NULL, 0, &b[i], NULL);
                socfw_sampler_sample(s3, x, NULL, 0, &c[i], NULL);
        }
        cr_assert(memcmp(a, b, sizeof a) == 0);
        cr_assert(memcmp(a, c, sizeof a) != 0, "another seed, same draws");
        /* reseeding repeats the stream */
        socfw_sampler_reseed(s1, 1234);
        for (int i = 0; i < 200; i++) {
                int32_t t;
                socfw_sampler_sample(s1, x, NULL, 0, &t, NULL);
                cr_assert_eq(t, a[i]);
        }
        socfw_sampler_free(s1);
        socfw_sampler_free(s2);
        socfw_sampler_free(s3);
}

/* 100k draws at temperature 0.7 without other filters follow
 * softmax(x / 0.7): every frequency within 5 standard errors. */
Test(sampler, temperature_distribution_matches_softmax, .timeout = 30)
{
        enum { V = 8, N = 100000 };
        const float x[V] = {1.0f, 2.0f, 0.5f, -1.0f, 2.5f, 0.0f, 1.5f, -3.0f};
        const float T = 0.7f;
        double p[V], z = 0.0;
        for (int i = 0; i < V; i++)
                z += p[i] = exp(x[i] / T);
        long count[V] = {0};
        socfw_sampler *s = make(V, T, 0, 1.0f, 0.0f, 2024);
        for (int d = 0; d < N; d++) {
                int32_t t;
                cr_assert_eq(socfw_sampler_sample(s, x, NULL, 0, &t, NULL),
                             0);
                cr_assert(t >= 0 && t < V);
                count[t]++;
        }
        double worst = 0.0;
        for (int i = 0; i < V; i++) {
                double pi = p[i] / z, f = (double)count[i] / N;
                double se = sqrt(pi * (1 - pi) / N);
                double zs = fabs(f - pi) / (se > 0 ? se : 1e-9);
                if (zs > worst)
                        worst = zs;
                cr_assert_lt(zs, 5.0, "token %d: freq %.5f, softmax %.5f",
                             i, f, pi);
        }
        cr_log_info("temperature sampling: worst deviation %.2f sigma", worst);
        socfw_sampler_free(s);
}

/* Same through the heap path (top-k larger than the vocabulary's live
 * part is not used; top-p 0.999999 keeps all but nothing). */
Test(sampler, top_k_distribution_renormalized, .timeout = 30)
{
        enum { V = 6, N = 60000 };
        const float x[V] = {0.0f, 1.0f, 2.0f, 3.0f, -1.0f, 0.5f};
        /* top-3: ids 3, 2, 1 with softmax over those three */
        double e3 = exp(3.0), e2 = exp(2.0), e1 = exp(1.0), z = e3 + e2 + e1;
        long count[V] = {0};
        socfw_sampler *s = make(V, 1.0f, 3, 1.0f, 0.0f, 5);
        for (int d = 0; d < N; d++) {
                int32_t t;
                socfw_sampler_sample(s, x, NULL, 0, &t, NULL);
                count[t]++;
        }
        cr_assert_eq(count[0] + count[4] + count[5], 0);
        const double want[3] = {e3 / z, e2 / z, e1 / z};
        const int ids[3] = {3, 2, 1};
        for (int i = 0; i < 3; i++) {
                double f = (double)count[ids[i]] / N;
                double se = sqrt(want[i] * (1 - want[i]) / N);
                cr_assert_lt(fabs(f - want[i]), 5 * se, "id %d", ids[i]);
        }
        socfw_sampler_free(s);
}

/* Probabilities (descending) 0.4, 0.3, 0.2, 0.1, prefix masses 0.4, 0.7,
 * 0.9, 1.0: top_p keeps the shortest prefix whose mass is >= p (values of
 * p chosen away from the exact sums, which rounding could tip). */
Test(sampler, top_p_smallest_prefix)
{
        const float probs[4] = {0.1f, 0.4f, 0.2f, 0.3f};
        float x[4];
        for (int i = 0; i < 4; i++)
                x[i] = logf(probs[i]);
        const struct { float p; size_t keep; } cases[] = {
                {0.3f, 1}, {0.39f, 1}, {0.41f, 2}, {0.6f, 2}, {0.69f, 2},
                {0.71f, 3}, {0.89f, 3}, {0.91f, 4}, {0.95f, 4},
        };
        const int32_t order[4] = {1, 3, 2, 0};
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
                socfw_sampler *s = make(4, 1.0f, 0, cases[c].p, 0.0f, 3);
                for (int d = 0; d < 50; d++) {
                        int32_t t;
                        socfw_sampler_sample(s, x, NULL, 0, &t, NULL);
                        const int32_t *ids;
                        const float *pr;
                        size_t n = socfw_sampler_last_candidates(s, &ids,
                                                                 &pr);
                        cr_assert_eq(n, cases[c].keep,
                                     "top_p %.2f: kept %zu, want %zu",
                                     (double)cases[c].p, n, cases[c].keep);
                        int ok = 0;
                        double sum = 0;
                        for (size_t i = 0; i < n; i++) {
                                cr_assert_eq(ids[i], order[i]);
                                ok |= ids[i] == t;
                                sum += pr[i];
                        }
                        cr_assert(ok, "drew %d outside the nucleus", t);
                        cr_assert_float_eq(sum, 1.0, 1e-5);
                }
                socfw_sampler_free(s);
        }
}

Test(sampler, min_p_cuts_unlikely)
{
        const float x[4] = {logf(0.5f), logf(0.3f), logf(0.14f),
                            logf(0.06f)};
        /* min_p 0.2: keep p >= 0.1 (0.5, 0.3, 0.14) */
        socfw_sampler *s = make(4, 1.0f, 0, 1.0f, 0.2f, 3);
        for (int d = 0; d < 300; d++) {
                int32_t t;
                socfw_sampler_sample(s, x, NULL, 0, &t, NULL);
                cr_assert_neq(t, 3);
        }
        cr_assert_eq(socfw_sampler_last_candidates(s, NULL, NULL), 3);
        socfw_sampler_free(s);
}

Test(sampler, repetition_penalty_changes_choice)
{
        /* 0 is ahead of 1 by a little; 0 was just generated */
        const float x[4] = {2.0f, 1.8f, -1.0f, -2.0f};
        int32_t hist[3] = {2, 0, 0};
        socfw_sampler_config cfg;
        socfw_sampler_config_greedy(&cfg);
        socfw_sampler *plain = socfw_sampler_new(4, &cfg, NULL);
        cfg.repeat_penalty = 1.3f;
        socfw_sampler *pen = socfw_sampler_new(4, &cfg, NULL);
        int32_t t;
        socfw_sampler_sample(plain, x, hist, 3, &t, NULL);
        cr_assert_eq(t, 0);
        socfw_sampler_sample(pen, x, hist, 3, &t, NULL);
        cr_assert_eq(t, 1, "2.0 / 1.3 = 1.54 < 1.8");

        /* negative logits are multiplied: -1.0 * 1.3 falls below -1.2 */
        const float y[4] = {-1.0f, -1.2f, -5.0f, -6.0f};
        int32_t h2[1] = {0};
        socfw_sampler_sample(pen, y, h2, 1, &t, NULL);
        cr_assert_eq(t, 1);

        /* outside the window it no longer counts */
        cfg.repeat_last_n = 1;
        socfw_sampler *win = socfw_sampler_new(4, &cfg, NULL);
        int32_t h3[2] = {0, 2};
        socfw_sampler_sample(win, x, h3, 2, &t, NULL);
        cr_assert_eq(t, 0);
        socfw_sampler_free(plain);
        socfw_sampler_free(pen);
        socfw_sampler_free(win);
}

Test(sampler, banned_never_appear)
{
        float x[50];
        random_logits(x, 50, 11);
        x[7] = 100.0f;  /* would win every time */
        socfw_sampler *s = make(50, 2.0f, 0, 1.0f, 0.0f, 9);
        cr_assert_eq(socfw_sampler_ban(s, 7, 1), 0);
        for (int32_t i = 20; i < 50; i++)
                socfw_sampler_ban(s, i, 1);
        cr_assert_eq(socfw_sampler_ban(s, 50, 1), SOCFW_EINVAL);
        cr_assert(socfw_sampler_is_banned(s, 7));
        for (int d = 0; d < 5000; d++) {
                int32_t t;
                socfw_sampler_sample(s, x, NULL, 0, &t, NULL);
                cr_assert(t < 20 && t != 7, "banned id %d drawn", t);
        }
        /* every token banned: an error, not a crash */
        for (int32_t i = 0; i < 20; i++)
                socfw_sampler_ban(s, i, 1);
        socfw_error err = {0};
        int32_t t = -5;
        cr_assert_eq(socfw_sampler_sample(s, x, NULL, 0, &t, &err),
                     SOCFW_EINVAL);
        cr_assert_eq(t, -5);
        socfw_sampler_clear_bans(s);
        cr_assert_eq(socfw_sampler_sample(s, x, NULL, 0, &t, NULL), 0);
        socfw_sampler_free(s);
}

Test(sampler, nan_and_bad_config)
{
        float x[3] = {NAN, 1.0f, NAN};
        socfw_sampler *s = make(3, 1.0f, 0, 0.9f, 0.0f, 1);
        int32_t t;
        for (int d = 0; d < 100; d++) {
                cr_assert_eq(socfw_sampler_sample(s, x, NULL, 0, &t, NULL),
                             0);
                cr_assert_eq(t, 1);
        }
        socfw_sampler_free(s);
        socfw_sampler_config cfg;
        socfw_sampler_config_default(&cfg);
        cfg.top_p = 1.5f;
        socfw_error err = {0};
        cr_assert_null(socfw_sampler_new(10, &cfg, &err));
        cr_assert(strstr(err.message, "top_p"));
        cr_assert_null(socfw_sampler_new(0, NULL, NULL));
        socfw_sampler_free(NULL);
}
