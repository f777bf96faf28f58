/* tests/test_runtime_threads.c - the runtime's inference from several
 * threads at once (what `socfw serve` does with --workers): concurrent
 * chain runs over one runtime (micro-batched into shared forward passes)
 * give exactly the sequential answers, with and without a LoRA adapter;
 * concurrent tagging calls (the privacy filter's tagger), micro-batched
 * the same way with the several windows of long texts, give the
 * sequential probabilities; in batched decoding, a step the model refuses
 * fails only its own generation.  Run it under ThreadSanitizer to find
 * races (doc/performance.md says how). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/chain.h"
#include "socfw/model.h"
#include "socfw/params.h"
#include "socfw/pipeline.h"
#include "socfw/plugin.h"
#include "socfw/runtime.h"
#include "testutil.h"
#include "train/runtime_impl.h"

TestSuite(runtime_threads, .init = fx_setup, .fini = fx_teardown,
          .timeout = 240);

#define N_TEXTS 24
#define N_THREADS 4

static const char *const WORDS[] = {"great", "love", "awful", "hate",
                                    "phone", "order", "app", "today",
                                    "was", "my", "service", "broken"};

static char texts[N_TEXTS][128];

static void
make_texts(void)
{
        unsigned seed = 11;
        for (int i = 0; i < N_TEXTS; i++) {
                size_t off = 0;
                int n = 1 + i % 9;      /* lengths differ: batch shapes too */
                for (int w = 0; w < n; w++) {
                        seed = seed * 1103515245u + 12345u;
                        off += (size_t)snprintf(texts[i] + off,
                                                sizeof texts[i] - off, "%s%s",
                                                w ? " " : "",
                                                WORDS[(seed >> 16) % 12]);
                }
        }
}

static void
write_files(void)
{
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 300; i++)
                fprintf(f, "%s %s %s %s\n", WORDS[i % 12],
                        WORDS[(i / 3) % 12], WORDS[(i / 7) % 12],
                        WORDS[(i / 5) % 12]);
        fclose(f);
        for (int k = 0; k < 2; k++) {
                f = socfw_test_create(fx.dir,
                                      k ? "valid.jsonl" : "train.jsonl");
                for (int i = 0; i < 64; i++)
                        fprintf(f, "{\"text\": \"%s %s\", \"label\": "
                                   "\"%s\"}\n",
                                WORDS[i % 4], WORDS[4 + (i + k) % 8],
                                i % 4 < 2 ? "positive" : "negative");
                fclose(f);
        }
}

static const char *
pipeline(const char *adapter)
{
        static char y[2048];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 2\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                 " max_positions: 32, max_seq_len: 16, dropout: 0.1}\n"
                 "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
                 " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [negative, positive]\n"
                 "%s"
                 "    data: {train: train.jsonl, valid: valid.jsonl}\n"
                 "train: {lr: 3.0e-3, epochs: 1, batch_size: 16, seed: 7}\n"
                 "chain: [sentiment]\n"
                 "output: {dir: run}\n",
                 adapter);
        return y;
}

typedef struct worker {
        socfw_chain *chain;
        int start;              /* each thread goes round from elsewhere */
        char *got[N_TEXTS];
        int failed;
} worker;

static void *
work(void *arg)
{
        worker *w = arg;
        for (int k = 0; k < N_TEXTS; k++) {
                int i = (w->start + k) % N_TEXTS;
                socfw_post *post = socfw_post_new(texts[i], NULL);
                socfw_error err = {0};
                if (!post || socfw_chain_run(w->chain, post, &err) < 0)
                        w->failed = 1;
                else
                        w->got[i] = socfw_post_to_json(post);
                socfw_post_free(post);
        }
        return NULL;
}

static void
concurrent_equals_sequential(const char *adapter)
{
        make_texts();
        write_files();
        socfw_pipeline *p = fx_load(pipeline(adapter));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        socfw_chain *chain = NULL;
        cr_assert_eq(socfw_runtime_chain(rt, &chain, &err), 0, "%s",
                     err.message);

        worker seq = {.chain = chain};
        work(&seq);
        cr_assert_not(seq.failed);

        worker w[N_THREADS];
        pthread_t th[N_THREADS];
        for (int t = 0; t < N_THREADS; t++) {
                w[t] = (worker){.chain = chain, .start = t * 5};
                cr_assert_eq(pthread_create(&th[t], NULL, work, &w[t]), 0);
        }
        for (int t = 0; t < N_THREADS; t++)
                pthread_join(th[t], NULL);
        for (int t = 0; t < N_THREADS; t++) {
                cr_assert_not(w[t].failed, "thread %d failed", t);
                for (int i = 0; i < N_TEXTS; i++) {
                        cr_assert_str_eq(w[t].got[i], seq.got[i],
                                         "thread %d, text %d '%s'", t, i,
                                         texts[i]);
                        free(w[t].got[i]);
                }
        }
        /* every window went through one batched forward or another */
        unsigned long long batches = 0, rows = 0;
        socfw_runtime_batch_stats(rt, &batches, &rows);
        cr_assert_eq(rows, (unsigned long long)N_TEXTS * (N_THREADS + 1),
                     "%llu windows", rows);
        cr_assert(batches >= 1 && batches <= rows);
        cr_log_info("%llu windows in %llu forward passes", rows, batches);
        for (int i = 0; i < N_TEXTS; i++)
                free(seq.got[i]);
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(runtime_threads, concurrent_predictions_equal_sequential_ones)
{
        concurrent_equals_sequential("");
}

Test(runtime_threads, concurrent_predictions_with_a_lora_adapter)
{
        concurrent_equals_sequential("    adapter: {type: lora, rank: 2, "
                                     "alpha: 4, targets: [attn.q, attn.v, "
                                     "mlp.up]}\n");
}

/* ---- tagging: the privacy filter's tagger from several threads ---- */

#define N_TAG_TEXTS 24
#define MAX_TAG_WORDS 60
#define TAG_TOL 1e-6    /* probabilities; seen: 1.2e-7 (rounding) */

static const char *const TAG_WORDS[] = {"my", "friend", "Carol", "Jones",
                                        "lives", "in", "Tokyo", "and",
                                        "Frank", "Smith", "today", "the"};

typedef struct tag_text {
        const char *words[MAX_TAG_WORDS];
        size_t n;
        float want[MAX_TAG_WORDS * 2];  /* sequential probabilities */
} tag_text;

static tag_text tag_texts[N_TAG_TEXTS];

/* Lengths 1..60 words: with windows of 16 tokens the long ones need
 * several (each window's words overlap the next one's); the last text
 * has a word of 48 letters the vocabulary does not know. */
static void
make_tag_texts(void)
{
        unsigned seed = 5;
        for (int i = 0; i < N_TAG_TEXTS; i++) {
                tag_text *x = &tag_texts[i];
                x->n = i % 4 == 3 ? (size_t)(20 + i * 5 % 40 + 1)
                                  : (size_t)(1 + i % 9);
                for (size_t w = 0; w < x->n; w++) {
                        seed = seed * 1103515245u + 12345u;
                        x->words[w] = TAG_WORDS[(seed >> 16) % 12];
                }
        }
        /* a word longer than a window (cut to fit) inside a long text */
        tag_texts[N_TAG_TEXTS - 1].words[20] =
                "zqxjkvbwpyfgzqxjkvbwpyfgzqxjkvbwpyfgzqxjkvbwpyfg";
}

static const char *
tag_pipeline(void)
{
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 300; i++)
                fprintf(f, "%s %s %s %s %s\n", TAG_WORDS[i % 12],
                        TAG_WORDS[(i / 3) % 12], TAG_WORDS[(i / 7) % 12],
                        TAG_WORDS[(i / 5) % 12], TAG_WORDS[(i / 2) % 12]);
        fclose(f);
        f = socfw_test_create(fx.dir, "ner.jsonl");
        for (int i = 0; i < 64; i++)
                fprintf(f,
                        "{\"tokens\": [\"my\", \"friend\", \"%s\", "
                        "\"%s\", \"%s\"], \"tags\": [\"O\", \"O\", "
                        "\"PERSON\", \"PERSON\", \"O\"]}\n",
                        i % 2 ? "Carol" : "Frank", i % 3 ? "Jones" : "Smith",
                        TAG_WORDS[i % 12]);
        fclose(f);
        return "socfw: 1\n"
               "threads: 2\n"
               "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
               " max_positions: 32, max_seq_len: 16, dropout: 0.0}\n"
               "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
               " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
               "tasks:\n"
               "  - name: pii\n"
               "    plugin: privacy\n"
               "    head: {type: tagger, label_token: last, lookahead: 2}\n"
               "    labels: [O, PERSON]\n"
               "    data: {train: ner.jsonl, valid: ner.jsonl}\n"
               "train: {lr: 1.0e-2, epochs: 1, batch_size: 16, seed: 7}\n"
               "output: {dir: run}\n";
}

typedef struct tagger_worker {
        socfw_task_ctx *ctx;
        int start;
        double worst;           /* the largest difference seen */
        int failed;
} tagger_worker;

static void *
tag_work(void *arg)
{
        tagger_worker *w = arg;
        for (int k = 0; k < N_TAG_TEXTS; k++) {
                tag_text *x = &tag_texts[(w->start + k) % N_TAG_TEXTS];
                float got[MAX_TAG_WORDS * 2];
                size_t n_tags = 0;
                socfw_error err = {0};
                if (socfw_task_tag_words(w->ctx, x->words, x->n, got,
                                         x->n * 2, &n_tags, &err) < 0 ||
                    n_tags != 2) {
                        w->failed = 1;
                        continue;
                }
                for (size_t i = 0; i < x->n * 2; i++) {
                        double d = fabs((double)got[i] - x->want[i]);
                        if (d > w->worst)
                                w->worst = d;
                }
        }
        return NULL;
}

Test(runtime_threads, concurrent_tagging_equals_sequential_tagging)
{
        make_tag_texts();
        socfw_pipeline *p = fx_load(tag_pipeline());
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        socfw_task_ctx *ctx = rt->tasks[0].ctx;

        /* sequential: one call at a time (a long text's windows are still
         * one batch of their own) */
        unsigned long long b0, r0, b1, r1, b2, r2;
        socfw_runtime_tag_batch_stats(rt, &b0, &r0);
        int long_texts = 0;
        for (int i = 0; i < N_TAG_TEXTS; i++) {
                tag_text *x = &tag_texts[i];
                size_t n_tags = 0;
                unsigned long long bb, rb, ba, ra;
                socfw_runtime_tag_batch_stats(rt, &bb, &rb);
                cr_assert_eq(socfw_task_tag_words(ctx, x->words, x->n,
                                                  x->want, x->n * 2, &n_tags,
                                                  &err),
                             0, "%s", err.message);
                socfw_runtime_tag_batch_stats(rt, &ba, &ra);
                cr_assert_eq(ba - bb, 1, "text %d: %llu passes", i, ba - bb);
                long_texts += ra - rb > 1;
                for (size_t w = 0; w < x->n; w++)
                        cr_assert_float_eq(x->want[2 * w] +
                                                   x->want[2 * w + 1],
                                           1.0, 1e-5, "text %d word %zu", i,
                                           w);
        }
        socfw_runtime_tag_batch_stats(rt, &b1, &r1);
        cr_assert_gt(long_texts, 0, "no text needed several windows");

        tagger_worker w[N_THREADS];
        pthread_t th[N_THREADS];
        for (int t = 0; t < N_THREADS; t++) {
                w[t] = (tagger_worker){.ctx = ctx, .start = t * 5};
                cr_assert_eq(pthread_create(&th[t], NULL, tag_work, &w[t]),
                             0);
        }
        for (int t = 0; t < N_THREADS; t++)
                pthread_join(th[t], NULL);
        double worst = 0;
        for (int t = 0; t < N_THREADS; t++) {
                cr_assert_not(w[t].failed, "thread %d failed", t);
                if (w[t].worst > worst)
                        worst = w[t].worst;
        }
        cr_assert_leq(worst, TAG_TOL, "concurrent probabilities differ by "
                                      "%g",
                      worst);
        /* every window of every call went through a batched forward, and
         * no more passes than calls (several windows or calls in one) */
        socfw_runtime_tag_batch_stats(rt, &b2, &r2);
        cr_assert_eq(r2 - r1, (r1 - r0) * N_THREADS, "%llu windows",
                     r2 - r1);
        cr_assert(b2 - b1 >= 1 && b2 - b1 <= N_TAG_TEXTS * N_THREADS);
        cr_log_info("tagging: %llu windows in %llu forward passes "
                    "concurrently (%llu in %llu sequentially); largest "
                    "difference %g",
                    r2 - r1, b2 - b1, r1 - r0, b1 - b0, worst);
        /* the classification counters are not the tagger's */
        unsigned long long cb = 0, cr = 0;
        socfw_runtime_batch_stats(rt, &cb, &cr);
        cr_assert_eq(cr, 0);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* ---- batched decoding: one refused step fails only its generation ---- */

#define N_GEN 4
#define V_GEN 97

typedef struct gen_worker {
        socfw_runtime *rt;
        socfw_model_kv *kv;
        int32_t first;          /* the first step's token (bad for one) */
        float logits[2][V_GEN];
        int rc[2];
        socfw_error err;
} gen_worker;

static int
argmax_of(const float *x, int n)
{
        int b = 0;
        for (int i = 1; i < n; i++)
                if (x[i] > x[b])
                        b = i;
        return b;
}

static void *
gen_work(void *arg)
{
        gen_worker *g = arg;
        g->rc[1] = -1;
        g->rc[0] = rt_decode_one(g->rt, g->kv, g->first, g->logits[0],
                                 &g->err);
        if (g->rc[0] == 0) {    /* the generation goes on */
                int32_t next = argmax_of(g->logits[0], V_GEN);
                g->rc[1] = rt_decode_one(g->rt, g->kv, next, g->logits[1],
                                         &g->err);
        }
        rt_decode_leave(g->rt);
        return NULL;
}

Test(runtime_threads, a_refused_decoding_step_fails_only_its_generation)
{
        /* a leader waits (up to 1 s) until every live generation queued
         * its step: the four first steps are one batch */
        setenv("SOCFW_DECODE_WAIT_US", "1000000", 1);
        socfw_model_config c;
        socfw_model_config_default(&c, SOCFW_ARCH_GPT2, V_GEN, 32, 2, 4, 64,
                                   64);
        socfw_model *m = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_new_random(&m, &c, 11, &err), 0, "%s",
                     err.message);
        socfw_params *ps = socfw_model_params(m);
        for (int i = 0; i < socfw_params_count(ps); i++) {
                float *d = socfw_params_data(ps, i);
                for (int64_t j = 0; j < socfw_params_numel(ps, i); j++)
                        d[j] *= 10.0f;  /* distinct logits */
        }
        socfw_runtime *rt = calloc(1, sizeof *rt);  /* what decoding reads */
        cr_assert_not_null(rt);
        rt->model = m;
        rt_decoder_init(&rt->dec);
        unsetenv("SOCFW_DECODE_WAIT_US");

        gen_worker g[N_GEN];
        float ref[N_GEN][2][V_GEN];
        pthread_t th[N_GEN];
        for (int i = 0; i < N_GEN; i++) {
                int32_t prompt[4];
                int n = 1 + i;
                for (int t = 0; t < n; t++)
                        prompt[t] = (int32_t)((i * 31 + t * 17 + 5) % V_GEN);
                g[i] = (gen_worker){.rt = rt, .first = (int32_t)(3 + i)};
                if (i == 2)
                        g[i].first = V_GEN;     /* outside the vocabulary */
                /* the reference: the same steps alone */
                socfw_model_kv *alone = NULL;
                cr_assert_eq(socfw_model_kv_new(&g[i].kv, m, 16, &err), 0);
                cr_assert_eq(socfw_model_kv_new(&alone, m, 16, &err), 0);
                cr_assert_eq(socfw_model_decode_step(m, g[i].kv, prompt, n,
                                                     NULL, &err), 0);
                cr_assert_eq(socfw_model_decode_step(m, alone, prompt, n,
                                                     NULL, &err), 0);
                if (i != 2) {
                        cr_assert_eq(socfw_model_decode_step(m, alone,
                                                             &g[i].first, 1,
                                                             ref[i][0], &err),
                                     0);
                        int32_t next = argmax_of(ref[i][0], V_GEN);
                        cr_assert_eq(socfw_model_decode_step(m, alone, &next,
                                                             1, ref[i][1],
                                                             &err),
                                     0);
                }
                socfw_model_kv_free(alone);
                rt_decode_join(rt);
        }
        for (int i = 0; i < N_GEN; i++)
                cr_assert_eq(pthread_create(&th[i], NULL, gen_work, &g[i]),
                             0);
        for (int i = 0; i < N_GEN; i++)
                pthread_join(th[i], NULL);
        for (int i = 0; i < N_GEN; i++) {
                if (i == 2) {
                        cr_expect_eq(g[i].rc[0], SOCFW_EINVAL);
                        cr_expect(strstr(g[i].err.message, "vocabulary"),
                                  "%s", g[i].err.message);
                        cr_expect_eq(socfw_model_kv_len(g[i].kv), 3,
                                     "the refused step appended");
                        continue;
                }
                for (int s = 0; s < 2; s++) {
                        cr_assert_eq(g[i].rc[s], 0, "generation %d step %d: "
                                                    "%s",
                                     i, s, g[i].err.message);
                        for (int v = 0; v < V_GEN; v++)
                                cr_assert_float_eq(
                                        g[i].logits[s][v], ref[i][s][v],
                                        2e-5 * fmax(1.0, fabs(ref[i][s][v])),
                                        "generation %d step %d logit %d", i,
                                        s, v);
                }
                cr_expect_eq(socfw_model_kv_len(g[i].kv), i + 3);
        }
        unsigned long long steps = 0, rows = 0;
        socfw_runtime_decode_stats(rt, &steps, &rows);
        cr_expect_eq(rows, N_GEN + N_GEN - 1, "%llu rows", rows);
        cr_log_info("decoding: %llu rows in %llu batched steps", rows, steps);
        for (int i = 0; i < N_GEN; i++)
                socfw_model_kv_free(g[i].kv);
        rt_decoder_destroy(&rt->dec);
        free(rt);
        socfw_model_free(m);
}
