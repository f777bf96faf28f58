/* test_recommend_train.c - a recommend task through the runtime on tiny
 * synthetic data: two kinds of items and users who each like one kind;
 * two-tower training with each ranker loss, full-catalogue evaluation,
 * predict from the finished run, and bad rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "socfw/chain.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "testutil.h"

#define N_ITEMS 20
#define N_USERS 16

static void
write_text(const char *name, const char *text)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", fx.dir, name);
        cr_assert_eq(socfw_test_write_file(path, text, strlen(text)), 0);
}

/* Items i0..i19: even ones are "alpha" songs, odd ones "beta" films.
 * User u likes the kind u % 2: 6 training interactions, then one held-out
 * item of the same kind (valid).  extra_train is appended to train. */
static void
write_data(const char *extra_train)
{
        static const char *const A[] = {"red", "sun", "song", "dance",
                                        "happy"};
        static const char *const B[] = {"dark", "rain", "film", "crime",
                                        "night"};
        char path[4200];
        snprintf(path, sizeof path, "%s/items.jsonl", fx.dir);
        FILE *f = fopen(path, "w");
        cr_assert(f);
        for (int i = 0; i < N_ITEMS; i++) {
                const char *const *w = i % 2 ? B : A;
                fprintf(f,
                        "{\"item\": \"i%d\", \"title\": \"%s %s %d\", "
                        "\"genres\": [\"%s\"]}\n",
                        i, w[i % 5], w[(i / 2) % 5], i,
                        i % 2 ? "beta" : "alpha");
        }
        fclose(f);
        snprintf(path, sizeof path, "%s/train.jsonl", fx.dir);
        FILE *t = fopen(path, "w");
        snprintf(path, sizeof path, "%s/valid.jsonl", fx.dir);
        FILE *v = fopen(path, "w");
        cr_assert(t && v);
        unsigned seed = 12345;
        for (int u = 0; u < N_USERS; u++) {
                int used[N_ITEMS] = {0};
                for (int k = 0; k < 7; k++) {
                        int it;
                        do {
                                seed = seed * 1103515245u + 12345u;
                                it = 2 * (int)((seed >> 16) % (N_ITEMS / 2)) +
                                     u % 2;
                        } while (used[it]);
                        used[it] = 1;
                        fprintf(k < 6 ? t : v,
                                "{\"user\": \"u%d\", \"item\": \"i%d\", "
                                "\"rating\": 5, \"ts\": %d}\n",
                                u, it, 100 * u + k);
                }
        }
        if (extra_train)
                fputs(extra_train, t);
        fclose(t);
        fclose(v);
}

TestSuite(recommend_train, .init = fx_setup,
          .fini = fx_teardown, .timeout = 120);

static const char *
pipeline(const char *loss, const char *train_extra)
{
        static char y[4096];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                 " max_positions: 48, max_seq_len: 40, dropout: 0.0}\n"
                 "pretrain: {corpus: [items.jsonl], steps: 10, batch_size: 8,"
                 " seq_len: 32, tokenizer: {vocab_size: 300}}\n"
                 "tasks:\n"
                 "  - name: rec\n"
                 "    plugin: recommend\n"
                 "    head: {type: ranker}\n"
                 "    loss: {%s}\n"
                 "    data: {items: items.jsonl, train: train.jsonl, valid:"
                 " valid.jsonl}\n"
                 "    history_length: 3\n"
                 "    negatives: 2\n"
                 "    top_k: 3\n"
                 "train: {lr: 5.0e-3, epochs: %d, batch_size: 16, seed: 3%s}\n"
                 "output: {dir: run}\n",
                 loss, strstr(loss, "softmax") ? 20 : 2,
                 train_extra ? train_extra : "");
        return y;
}

static double
metric(socfw_runtime *rt, const char *name)
{
        double v = NAN;
        cr_assert_eq(socfw_runtime_metric(rt, name, &v), 0, "no %s", name);
        return v;
}

Test(recommend_train, learns_what_users_like_and_predicts_from_the_run)
{
        write_data(NULL);
        socfw_pipeline *p = fx_load(pipeline("type: in_batch_softmax", NULL));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double hit = metric(rt, "rec.valid.hit_rate@3");
        double ndcg = metric(rt, "rec.valid.ndcg@3");
        double mrr = metric(rt, "rec.valid.mrr");
        double loss = metric(rt, "rec.valid.loss");
        cr_log_info("hit@3 %.3f ndcg@3 %.3f mrr %.3f loss %.3f", hit, ndcg,
                    mrr, loss);
        cr_assert(hit >= 0 && hit <= 1 && ndcg >= 0 && ndcg <= hit + 1e-9);
        cr_assert(isfinite(loss));
        /* 14 unseen items per user, 4 of the liked kind: ranking the liked
         * kind first gives MRR >= (1 + 1/2 + 1/3 + 1/4) / 4 = 0.52 on
         * average; chance is about 0.23 */
        cr_assert_gt(mrr, 0.4, "mrr %.3f", mrr);
        double pop = metric(rt, "rec.valid.pop_mrr");
        cr_assert(pop > 0 && pop <= 1);
        socfw_runtime_free(rt);

        static const char *const files[] = {"rec.valid.json", "rec.valid.txt",
                                            "checkpoint/model.safetensors"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                char path[4400];
                struct stat st;
                snprintf(path, sizeof path, "%s/%s", out, files[i]);
                cr_expect_eq(stat(path, &st), 0, "missing %s", path);
        }

        /* predict from the finished run: top 3 unseen items per user */
        rt = socfw_test_runtime(p, out, 1);
        const char *stages[] = {"rec", NULL};
        socfw_chain *chain = NULL;
        cr_assert_eq(socfw_runtime_chain_stages(rt, stages, &chain, &err), 0,
                     "%s", err.message);
        const char *posts[] = {"{\"text\": \"u0\"}",
                               "{\"text\": \"\", \"user\": \"u1\"}",
                               "{\"text\": \"\", \"user\": \"stranger\"}"};
        for (int i = 0; i < 3; i++) {
                socfw_post *post = NULL;
                cr_assert_eq(socfw_post_from_json(&post, posts[i],
                                                  strlen(posts[i]), NULL,
                                                  &err),
                             0);
                cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                             err.message);
                char *json = socfw_post_to_json(post);
                json_t *doc = json_loads(json, 0, NULL);
                json_t *items = json_object_get(json_object_get(doc, "rec"),
                                                "items");
                cr_assert_eq(json_array_size(items), 3, "%s", json);
                double prev = INFINITY;
                for (size_t k = 0; k < 3; k++) {
                        json_t *e = json_array_get(items, k);
                        double s = json_real_value(
                                json_object_get(e, "score"));
                        cr_assert_leq(s, prev, "not sorted: %s", json);
                        prev = s;
                        cr_assert_not_null(json_string_value(
                                json_object_get(e, "item")));
                }
                json_decref(doc);
                free(json);
                socfw_post_free(post);
        }
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(recommend_train, bpr_and_bce_train_too)
{
        write_data(NULL);
        const char *losses[] = {"type: bpr", "type: bce"};
        for (int i = 0; i < 2; i++) {
                socfw_pipeline *p = fx_load(pipeline(losses[i], NULL));
                char out[4200];
                snprintf(out, sizeof out, "%s/run%d", fx.dir, i);
                socfw_runtime *rt = socfw_test_runtime(p, out, 0);
                socfw_error err = {0};
                cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s: %s",
                             losses[i], err.message);
                cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0,
                             "%s", err.message);
                double loss = metric(rt, "rec.valid.loss");
                double ndcg = metric(rt, "rec.valid.ndcg@3");
                cr_assert(isfinite(loss) && loss > 0, "%s: loss %g",
                          losses[i], loss);
                cr_assert(ndcg >= 0 && ndcg <= 1);
                socfw_runtime_free(rt);
                socfw_pipeline_free(p);
        }
}

Test(recommend_train, unknown_items_stop_the_run_or_are_skipped)
{
        write_data("{\"user\": \"u0\", \"item\": \"i999\", \"rating\": 5, "
                   "\"ts\": 5000}\n");
        socfw_pipeline *p = fx_load(pipeline("type: in_batch_softmax", NULL));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = out, .progress = socfw_test_quiet};
        cr_assert_lt(socfw_runtime_new(&rt, p, &o, &err), 0);
        cr_assert(strstr(err.message, "unknown item 'i999'"), "%s",
                  err.message);
        cr_assert(strstr(err.file, "train.jsonl"), "%s", err.file);
        cr_assert_eq(err.line, N_USERS * 6 + 1, "line %ld", err.line);
        socfw_pipeline_free(p);

        p = fx_load(pipeline("type: in_batch_softmax", ", on_bad_row: skip"));
        memset(&err, 0, sizeof err);
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);

        /* a catalogue item without text is still ranked (cold start) */
        write_text("items.jsonl", "{\"item\": \"i0\", \"title\": \"x\"}\n"
                                  "{\"item\": \"i1\"}\n");
        write_text("train.jsonl", "{\"user\": \"u\", \"item\": \"i0\", "
                                  "\"rating\": 5}\n"
                                  "{\"user\": \"v\", \"item\": \"i0\", "
                                  "\"rating\": 5}\n");
        write_text("valid.jsonl", "{\"user\": \"w\", \"item\": \"i1\"}\n");
        p = fx_load(pipeline("type: in_batch_softmax", NULL));
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double mrr = metric(rt, "rec.valid.mrr");
        cr_assert(mrr == 1.0 || mrr == 0.5, "mrr %g", mrr);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}
