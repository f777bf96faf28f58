/* test_recommend_plugin.c - the recommend task plugin through the registry:
 * training pairs from interactions, bad input (unknown items, users without
 * history, missing items file), full-catalogue evaluation with the
 * popularity baseline against hand-computed values (over the records the
 * host gives, and what happens when the evaluated file changed since it
 * was read), and predict, with a fake embedding model installed in the
 * task context. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/chain.h"
#include "socfw/data.h"
#include "socfw/pipeline.h"
#include "testutil.h"

static void
put(const char *name, const char *text)
{
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", fx.dir, name);
        cr_assert_eq(socfw_test_write_file(p, text, strlen(text)), 0);
}

/* Items: a* mention Alpha, b* Beta, g1 Gamma (never in train), e1 has no
 * text.  Catalogue order: a1 a2 a3 b1 b2 b3 g1 e1. */
static void
setup(void)
{
        fx_setup();
        put("items.jsonl",
            "{\"item\": \"a1\", \"title\": \"Alpha One\"}\n"
            "{\"item\": \"a2\", \"title\": \"Alpha Two\"}\n"
            "{\"item\": \"a3\", \"title\": \"Alpha Three\"}\n"
            "{\"item\": \"b1\", \"title\": \"Beta One\"}\n"
            "{\"item\": \"b2\", \"title\": \"Beta Two\"}\n"
            "{\"item\": \"b3\", \"title\": \"Beta Three\"}\n"
            "{\"item\": \"g1\", \"title\": \"Gamma One\"}\n"
            "{\"item\": \"e1\"}\n");
        put("train.jsonl",
            "{\"user\": \"u1\", \"item\": \"a1\", \"rating\": 5, \"ts\": 1}\n"
            "{\"user\": \"u1\", \"item\": \"a2\", \"rating\": 4, \"ts\": 2}\n"
            "{\"user\": \"u1\", \"item\": \"b1\", \"rating\": 2, \"ts\": 3}\n"
            "{\"user\": \"u2\", \"item\": \"b1\", \"rating\": 5, \"ts\": 1}\n"
            "{\"user\": \"u2\", \"item\": \"b2\", \"rating\": 5, \"ts\": 2}\n"
            "{\"user\": \"u3\", \"item\": \"a1\", \"rating\": 5, \"ts\": 1}\n"
            "{\"user\": \"u3\", \"item\": \"b1\", \"rating\": 5, \"ts\": 1}\n");
        /* u4 has no history at all */
        put("valid.jsonl",
            "{\"user\": \"u1\", \"item\": \"a3\", \"rating\": 4, \"ts\": 10}\n"
            "{\"user\": \"u2\", \"item\": \"b3\", \"rating\": 3, \"ts\": 10}\n"
            "{\"user\": \"u4\", \"item\": \"a1\", \"rating\": 5, \"ts\": 10}\n"
            "{\"user\": \"u1\", \"item\": \"nope\", \"ts\": 11}\n");
}

TestSuite(recommend_plugin, .init = setup, .fini = fx_teardown, .timeout = 30);

typedef struct fixture {
        socfw_pipeline *p;
        socfw_task_ctx *ctx;
} fixture;

static int
fixture_try(fixture *f, const char *keys, socfw_error *err)
{
        char y[8192];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "tasks:\n"
                 "  - name: rec\n"
                 "    plugin: recommend\n"
                 "    item_text_fields: [title]\n"
                 "    top_k: 2\n"
                 "%s"
                 "chain: [rec]\n",
                 keys);
        memset(f, 0, sizeof *f);
        int rc = socfw_pipeline_load_buffer(&f->p, y, strlen(y), "r.yaml",
                                            fx.dir, NULL, 0, err);
        if (rc == 0)
                rc = socfw_pipeline_validate(f->p, fx.reg, err);
        if (rc < 0) {
                for (size_t i = 0; f->p && i < socfw_pipeline_diag_count(f->p);
                     i++)
                        fprintf(stderr, "%s\n", socfw_pipeline_diag(f->p, i));
                return rc;
        }
        return socfw_task_ctx_new(&f->ctx, "rec",
                                  socfw_pipeline_task_plugin(f->p, 0),
                                  socfw_pipeline_task(f->p, 0), err);
}

static const char *STD_KEYS =
        "    data: {items: items.jsonl, train: train.jsonl, valid: "
        "valid.jsonl}\n"
        "    logq_correction: false\n";

static void
fixture_open(fixture *f, const char *keys)
{
        socfw_error err = {0};
        cr_assert_eq(fixture_try(f, keys ? keys : STD_KEYS, &err), 0, "%s",
                     err.message);
}

static void
fixture_close(fixture *f)
{
        socfw_task_ctx_free(f->ctx);
        socfw_pipeline_free(f->p);
}

static const char *
path_of(fixture *f, const char *key)
{
        return socfw_config_get_string(socfw_pipeline_task(f->p, 0), key);
}

/* parse_example on one JSON line read as if from `file`. */
static int
parse(fixture *f, const char *file, const char *jsonl, socfw_example **out,
      socfw_error *err)
{
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        cr_assert_eq(socfw_reader_open_memory(&r, jsonl, strlen(jsonl), file,
                                              NULL, err),
                     0);
        cr_assert_eq(socfw_reader_next(r, &rec, err), 1, "%s", err->message);
        socfw_example *ex = socfw_example_new();
        cr_assert(ex);
        int rc = f->ctx->plugin->task->parse_example(f->ctx->state, rec, ex,
                                                    err);
        socfw_record_free(rec);
        socfw_reader_close(r);
        *out = ex;
        return rc;
}

/* A fake two-tower model: the embedding counts the words Alpha, Beta and
 * Gamma in the text. */
static int fake_calls;

static int
count_word(const char *s, const char *w)
{
        int n = 0;
        for (const char *p = s; (p = strstr(p, w)); p += strlen(w))
                n++;
        return n;
}

static int
fake_infer(void *runtime, socfw_task_ctx *ctx, const char *text, float *out,
           size_t n, size_t *n_out, socfw_error *err)
{
        (void)runtime;
        (void)ctx;
        (void)err;
        float v[3] = {(float)count_word(text, "Alpha"),
                      (float)count_word(text, "Beta"),
                      (float)count_word(text, "Gamma")};
        for (size_t i = 0; i < n && i < 3; i++)
                out[i] = v[i];
        *n_out = 3;
        fake_calls++;
        return 0;
}

Test(recommend_plugin, training_pairs_come_from_positive_interactions)
{
        fixture f;
        fixture_open(&f, NULL);
        const char *train = path_of(&f, "data.train");
        socfw_error err = {0};
        socfw_example *ex;
        /* u1's third positive: history a2, a1 (most recent first) */
        cr_assert_eq(parse(&f, train,
                           "{\"user\": \"u1\", \"item\": \"a2\", \"rating\": 4,"
                           " \"ts\": 2}\n",
                           &ex, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 1);
        const example_item *it = socfw_example_item(ex, 0);
        cr_assert_eq(it->kind, EXAMPLE_SCORE);
        cr_assert_str_eq(it->text, "Alpha One");
        cr_assert_str_eq(it->text_pair, "Alpha Two");
        cr_assert_float_eq(it->score, 1.0, 1e-12);
        socfw_example_free(ex);
        /* below positive_threshold (4): no example, and no error */
        cr_assert_eq(parse(&f, train,
                           "{\"user\": \"u1\", \"item\": \"b1\", \"rating\": 2,"
                           " \"ts\": 3}\n",
                           &ex, &err),
                     0);
        cr_assert_eq(socfw_example_count(ex), 0);
        socfw_example_free(ex);
        /* the first interaction: the user has no history yet */
        cr_assert_eq(parse(&f, train,
                           "{\"user\": \"u1\", \"item\": \"a1\", \"rating\": 5,"
                           " \"ts\": 1}\n",
                           &ex, &err),
                     0);
        cr_assert_str_eq(socfw_example_item(ex, 0)->text, "no history");
        socfw_example_free(ex);
        /* evaluation rows are targets whatever their rating */
        cr_assert_eq(parse(&f, path_of(&f, "data.valid"),
                           "{\"user\": \"u1\", \"item\": \"b3\", \"rating\": 1,"
                           " \"ts\": 10}\n",
                           &ex, &err),
                     0);
        cr_assert_eq(socfw_example_count(ex), 1);
        cr_assert_str_eq(socfw_example_item(ex, 0)->text,
                         "Alpha Two ; Alpha One");
        socfw_example_free(ex);
        /* numeric strings are numbers; integer ids are ids */
        cr_assert_eq(parse(&f, train,
                           "{\"user\": 1, \"item\": \"a3\", \"rating\": "
                           "\"4.5\", \"ts\": \"7\"}\n",
                           &ex, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 1);
        cr_assert_str_eq(socfw_example_item(ex, 0)->text_pair, "Alpha Three");
        socfw_example_free(ex);
        fixture_close(&f);
}

Test(recommend_plugin, bad_records_name_the_problem)
{
        fixture f;
        fixture_open(&f, NULL);
        static const struct {
                const char *line, *what;
        } cases[] = {
                {"{\"user\": \"u1\", \"item\": \"zz\", \"rating\": 5}\n",
                 "unknown item 'zz'"},
                {"{\"item\": \"a1\", \"rating\": 5}\n", "user"},
                {"{\"user\": \"u1\", \"rating\": 5}\n", "item"},
                {"{\"user\": \"u1\", \"item\": \"a1\", \"rating\": "
                 "\"lots\"}\n",
                 "'rating' is not a number"},
                {"{\"user\": \"u1\", \"item\": \"a1\", \"ts\": [1]}\n",
                 "'ts' is not a number"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_error err = {0};
                socfw_example *ex;
                cr_assert_eq(parse(&f, "other.jsonl", cases[i].line, &ex,
                                   &err),
                             SOCFW_EINVAL, "case %zu", i);
                cr_assert(strstr(err.message, cases[i].what), "case %zu: %s",
                          i, err.message);
                socfw_example_free(ex);
        }
        fixture_close(&f);
}

Test(recommend_plugin, bce_adds_sampled_negatives)
{
        fixture f;
        fixture_open(&f, "    data: {items: items.jsonl, train: train.jsonl}\n"
                         "    loss: {type: bce}\n"
                         "    negatives: 3\n");
        socfw_error err = {0};
        socfw_example *ex;
        cr_assert_eq(parse(&f, path_of(&f, "data.train"),
                           "{\"user\": \"u2\", \"item\": \"b2\", \"rating\": 5,"
                           " \"ts\": 2}\n",
                           &ex, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_example_count(ex), 4);
        cr_assert_float_eq(socfw_example_item(ex, 0)->score, 1.0, 1e-12);
        for (size_t i = 1; i < 4; i++) {
                const example_item *it = socfw_example_item(ex, i);
                cr_assert_float_eq(it->score, 0.0, 1e-12);
                cr_assert_str_eq(it->text, "Beta One");
                /* never the positive nor an item u2 has */
                cr_assert_str_neq(it->text_pair, "Beta Two");
                cr_assert_str_neq(it->text_pair, "Beta One");
        }
        socfw_example_free(ex);
        fixture_close(&f);
}

Test(recommend_plugin, a_missing_items_file_is_reported)
{
        fixture f;
        socfw_error err = {0};
        /* validation refuses the path (it must exist) */
        cr_assert_lt(fixture_try(&f,
                                 "    data: {items: nothere.jsonl}\n", &err),
                     0);
        socfw_pipeline_free(f.p);
        /* no items file at all: create says which key to set */
        memset(&err, 0, sizeof err);
        cr_assert_lt(fixture_try(&f, "    data: {train: train.jsonl}\n",
                                 &err),
                     0);
        cr_assert(strstr(err.message, "data.items"), "%s", err.message);
        socfw_task_ctx_free(f.ctx);
        socfw_pipeline_free(f.p);
}

/* An evaluation of the valid split as the host hands it over: the rows
 * the host kept (the 4th, with an unknown item, was refused when read),
 * read again from `source` on demand. */
static const long VALID_ROWS[] = {1, 2, 3};

static void
valid_eval(fixture *f, socfw_eval *e, int *zeros, const char *source)
{
        socfw_eval_init(e, 3, zeros, zeros, NULL, 0);
        e->kind = SOCFW_TARGET_SCORE;
        e->rows = VALID_ROWS;
        e->ctx = f->ctx;
        e->source = source;
        e->split = "valid";
}

static double
metric(const socfw_eval *e, const char *name)
{
        for (size_t m = 0; m < e->n_metrics; m++)
                if (!strcmp(e->names[m], name))
                        return e->values[m];
        cr_assert_fail("no metric %s", name);
        return NAN;
}

Test(recommend_plugin, evaluation_ranks_the_whole_catalogue)
{
        fixture f;
        fixture_open(&f, NULL);
        f.ctx->infer = fake_infer;
        socfw_eval e;
        int zeros[4] = {0};
        valid_eval(&f, &e, zeros, path_of(&f, "data.valid"));
        socfw_error err = {0};
        fake_calls = 0;
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err), 0,
                     "%s", err.message);
        /* 8 items + 1 probe + 3 queries (the row with an unknown item was
         * skipped by the host) */
        cr_assert_eq(fake_calls, 8 + 1 + 3);
        /* model: u1 -> a3 rank 1 (a1, a2 seen), u2 -> b3 rank 1 (b1, b2
         * seen), u4 (no history, all scores 0) -> a1 rank 1 by index */
        cr_assert_float_eq(metric(&e, "hit_rate@2"), 1.0, 1e-9);
        cr_assert_float_eq(metric(&e, "ndcg@2"), 1.0, 1e-9);
        cr_assert_float_eq(metric(&e, "mrr"), 1.0, 1e-9);
        /* popularity (a1 2, b1 3, a2 1, b2 1, others 0): u1 -> a3 after b2
         * (rank 2); u2 -> b3 after a1, a2 and a3 (tie, lower index): rank
         * 4; u4 -> a1 after b1: rank 2 */
        cr_assert_float_eq(metric(&e, "pop_hit_rate@2"), 2.0 / 3.0, 1e-9);
        cr_assert_float_eq(metric(&e, "pop_ndcg@2"),
                           2.0 / log2(3.0) / 3.0, 1e-9);
        cr_assert_float_eq(metric(&e, "pop_mrr"), (0.5 + 0.25 + 0.5) / 3.0,
                           1e-9);
        cr_assert(e.report && strstr(e.report, "popularity"));
        socfw_eval_clear(&e);
        /* no source: nothing to rank, no metrics */
        socfw_eval_init(&e, 3, zeros, zeros, NULL, 0);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err), 0);
        cr_assert_eq(e.n_metrics, 0);
        socfw_eval_clear(&e);
        fixture_close(&f);
}

Test(recommend_plugin, logq_correction_adds_the_popularity_prior)
{
        fixture f;
        fixture_open(&f, "    data: {items: items.jsonl, train: train.jsonl, "
                         "valid: valid.jsonl}\n"
                         "    loss: {temperature: 2.0}\n");
        f.ctx->infer = fake_infer;
        socfw_eval e;
        int zeros[4] = {0};
        valid_eval(&f, &e, zeros, path_of(&f, "data.valid"));
        socfw_error err = {0};
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err), 0,
                     "%s", err.message);
        /* score = dot / 2 + log(count + 1).  u1: a3 1 + 0 beats b2 (log
         * 2): rank 1; u2: b3 1 + 0 loses to a1 (log 3 = 1.10): rank 2; u4:
         * all dots 0, a1 (log 3) after b1 (log 4): rank 2 */
        cr_assert_float_eq(metric(&e, "mrr"), (1.0 + 0.5 + 0.5) / 3.0, 1e-9);
        socfw_eval_clear(&e);
        fixture_close(&f);
}

/* The host reads the evaluated rows again when the hook asks for them
 * (socfw_eval_record).  Designed behaviour when the file changed after the
 * split was read: moved, deleted or shortened -> an error naming the file;
 * a row that no longer holds an interaction -> an error naming file:line;
 * rows still well-formed are ranked as they are now.  Never figures over
 * fewer rows than were evaluated. */
Test(recommend_plugin, evaluation_of_a_file_changed_since_it_was_read)
{
        fixture f;
        fixture_open(&f, NULL);
        f.ctx->infer = fake_infer;
        char copy[4200], moved[4200];
        snprintf(copy, sizeof copy, "%s/eval.jsonl", fx.dir);
        snprintf(moved, sizeof moved, "%s/eval-moved.jsonl", fx.dir);
        char *text = socfw_test_read_file(path_of(&f, "data.valid"), NULL);
        cr_assert_not_null(text);
        cr_assert_eq(socfw_test_write_file(copy, text, strlen(text)), 0);
        int zeros[4] = {0};
        socfw_error err = {0};
        socfw_eval e;

        /* moved away: a clear error, no metrics */
        cr_assert_eq(rename(copy, moved), 0);
        valid_eval(&f, &e, zeros, copy);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err),
                     SOCFW_EIO);
        cr_assert_str_eq(err.file, copy);
        cr_assert(strstr(err.message, "moved"), "%s", err.message);
        cr_assert_eq(e.n_metrics, 0);
        socfw_eval_clear(&e);

        /* shortened to its first row: the same error */
        const char *row1 = "{\"user\": \"u1\", \"item\": \"a3\", "
                           "\"rating\": 4, \"ts\": 10}\n";
        cr_assert_eq(socfw_test_write_file(copy, row1, strlen(row1)), 0);
        memset(&err, 0, sizeof err);
        valid_eval(&f, &e, zeros, copy);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err),
                     SOCFW_EIO);
        cr_assert(strstr(err.message, "row 2"), "%s", err.message);
        socfw_eval_clear(&e);

        /* row 2 edited to an unknown item: an error at its line */
        char *edited = strdup(text);
        cr_assert_not_null(edited);
        char *b3 = strstr(edited, "\"b3\"");
        cr_assert_not_null(b3);
        memcpy(b3, "\"zz\"", 4);
        cr_assert_eq(socfw_test_write_file(copy, edited, strlen(edited)), 0);
        memset(&err, 0, sizeof err);
        valid_eval(&f, &e, zeros, copy);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err),
                     SOCFW_EFORMAT);
        cr_assert_str_eq(err.file, copy);
        cr_assert_eq(err.line, 2);
        cr_assert(strstr(err.message, "unknown item 'zz'") &&
                          strstr(err.message, "changed"),
                  "%s", err.message);
        socfw_eval_clear(&e);

        /* row 2 edited to another known item: ranked as it is now.  u2's
         * query is all Beta, so a3 scores 0, after b3 (2) and, on the tie,
         * after a1 and a2 (lower index): rank 4; the other rows stay at
         * rank 1 */
        memcpy(b3, "\"a3\"", 4);
        cr_assert_eq(socfw_test_write_file(copy, edited, strlen(edited)), 0);
        valid_eval(&f, &e, zeros, copy);
        cr_assert_eq(f.ctx->plugin->task->evaluate(f.ctx->state, &e, &err),
                     0, "%s", err.message);
        cr_assert_float_eq(metric(&e, "mrr"), (1.0 + 0.25 + 1.0) / 3.0, 1e-9);
        socfw_eval_clear(&e);
        free(edited);
        free(text);
        fixture_close(&f);
}

Test(recommend_plugin, predict_writes_the_top_k_unseen_items)
{
        fixture f;
        fixture_open(&f, NULL);
        f.ctx->infer = fake_infer;
        socfw_error err = {0};
        socfw_post *post = NULL;
        const char *in = "{\"text\": \"\", \"user\": \"u2\"}";
        cr_assert_eq(socfw_post_from_json(&post, in, strlen(in), NULL, &err),
                     0);
        cr_assert_eq(f.ctx->plugin->task->predict(f.ctx->state, post, &err),
                     0, "%s", err.message);
        char *json = socfw_post_to_json(post);
        json_t *doc = json_loads(json, 0, NULL);
        json_t *items = json_object_get(json_object_get(doc, "rec"), "items");
        cr_assert(json_is_array(items), "%s", json);
        cr_assert_eq(json_array_size(items), 2);
        /* b1, b2 are seen; b3 is the only other Beta item (score 2), then
         * the zero scores by catalogue order: a1 */
        cr_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(items, 0), "item")),
                         "b3");
        cr_assert_float_eq(json_real_value(json_object_get(
                                   json_array_get(items, 0), "score")),
                           2.0, 1e-6);
        cr_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(items, 1), "item")),
                         "a1");
        json_decref(doc);
        free(json);
        socfw_post_free(post);
        /* a second post reuses the item index: 1 query embedding */
        fake_calls = 0;
        cr_assert_eq(socfw_post_from_json(&post, in, strlen(in), NULL, &err),
                     0);
        cr_assert_eq(f.ctx->plugin->task->predict(f.ctx->state, post, &err),
                     0);
        cr_assert_eq(fake_calls, 1);
        socfw_post_free(post);
        /* without a model the error says how to get one */
        f.ctx->infer = NULL;
        fixture_close(&f);
        fixture_open(&f, NULL);
        cr_assert_eq(socfw_post_from_json(&post, in, strlen(in), NULL, &err),
                     0);
        cr_assert_eq(f.ctx->plugin->task->predict(f.ctx->state, post, &err),
                     SOCFW_EUNSUPPORTED);
        socfw_post_free(post);
        fixture_close(&f);
}
