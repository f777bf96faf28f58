/* tests/test_train.c - the runtime end to end on tiny data: pretraining a
 * backbone from scratch, fine-tuning a classifier, checkpoints, inference
 * from a finished run, determinism, and bad data. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "socfw/chain.h"
#include "socfw/io.h"
#include "socfw/modelfile.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"
#include "testutil.h"

TestSuite(train, .init = fx_setup,
          .fini = fx_teardown, .timeout = 240);

static const char *const POS[] = {"great", "love", "awesome", "happy",
                                  "wonderful", "excellent"};
static const char *const NEG[] = {"awful", "hate", "terrible", "broken",
                                  "angry", "worst"};
static const char *const FILL[] = {"the", "phone", "order", "app", "today",
                                   "was", "my", "service", "really", "so"};

/* n records: a few filler words around one sentiment word; "id" is the
 * 0-based row (read by the evalprobe test plugin only). */
static void
write_data(const char *name, int n, unsigned seed, int one_label)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int pos = one_label ? 1 : (int)((seed >> 16) & 1);
                const char *w = pos ? POS[(seed >> 8) % 6] : NEG[(seed >> 8) % 6];
                fprintf(f, "{\"id\": %d, \"text\": \"%s %s %s %s\", "
                           "\"label\": \"%s\"}\n",
                        i, FILL[seed % 10], FILL[(seed >> 4) % 10], w,
                        FILL[(seed >> 12) % 10], pos ? "positive" : "negative");
        }
        fclose(f);
}

static void
write_text(const char *name, const char *text)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", fx.dir, name);
        cr_assert_eq(socfw_test_write_file(path, text, strlen(text)), 0);
}

/* A corpus and a pipeline that trains in a few seconds. */
static const char *
tiny_pipeline(const char *train_extra, const char *extra)
{
        static char y[4096];
        char corpus[4200];
        snprintf(corpus, sizeof corpus, "%s/corpus.txt", fx.dir);
        FILE *f = fopen(corpus, "w");
        for (int i = 0; i < 300; i++)
                fprintf(f, "%s %s %s %s\n", FILL[i % 10], POS[i % 6],
                        FILL[(i / 10) % 10], NEG[(i / 3) % 6]);
        fclose(f);
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                 " max_positions: 32, max_seq_len: 16, dropout: 0.1}\n"
                 "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
                 " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [negative, positive]\n"
                 "    data: {train: train.jsonl, valid: valid.jsonl}\n"
                 "train: {lr: 3.0e-3, epochs: 6, batch_size: 16, seed: 7"
                 "%s}\n"
                 "output: {dir: run}\n"
                 "%s",
                 train_extra ? train_extra : "", extra ? extra : "");
        return y;
}

/* Train the pipeline; returns the valid macro-F1. */
static double
train(socfw_pipeline *p, const char *out)
{
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double f1 = -1;
        cr_assert_eq(socfw_runtime_metric(rt, "sentiment.valid.macro_f1", &f1),
                     0);
        socfw_runtime_free(rt);
        return f1;
}

Test(train, learns_a_separable_task_and_checkpoints_it)
{
        write_data("train.jsonl", 300, 1, 0);
        write_data("valid.jsonl", 80, 2, 0);
        socfw_pipeline *p = fx_load(tiny_pipeline(NULL, NULL));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        double f1 = train(p, out);
        cr_log_info("valid macro-F1 %.4f", f1);
        cr_assert_gt(f1, 0.9, "macro-F1 %.4f", f1);

        const char *files[] = {"backbone/config.json",
                               "backbone/model.safetensors",
                               "backbone/vocab.json",
                               "checkpoint/model.safetensors",
                               "checkpoint/meta.json", "metrics.jsonl",
                               "sentiment.valid.txt", "sentiment.valid.json",
                               "curves.svg", "state.safetensors"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                char path[4400];
                struct stat st;
                snprintf(path, sizeof path, "%s/%s", out, files[i]);
                cr_expect_eq(stat(path, &st), 0, "missing %s", path);
        }

        /* a runtime over the finished run predicts without training */
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = out, .from_checkpoint = 1,
                                   .progress = socfw_test_quiet};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        const char *stages[] = {"sentiment", NULL};
        socfw_chain *chain = NULL;
        cr_assert_eq(socfw_runtime_chain_stages(rt, stages, &chain, &err), 0,
                     "%s", err.message);
        /* sentences shaped like the training data */
        const char *texts[2] = {"my phone awful today",
                                "the app wonderful today"};
        const char *want[2] = {"negative", "positive"};
        for (int i = 0; i < 2; i++) {
                socfw_post *post = socfw_post_new(texts[i], NULL);
                cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                             err.message);
                cr_assert_str_eq(socfw_post_get_string(post, "sentiment.label"),
                                 want[i], "'%s'", texts[i]);
                socfw_post_free(post);
        }
        /* an empty post is a valid input with one position */
        socfw_post *empty = socfw_post_new("", NULL);
        cr_assert_eq(socfw_chain_run(chain, empty, &err), 0, "%s",
                     err.message);
        cr_assert_not_null(socfw_post_get_string(empty, "sentiment.label"));
        socfw_post_free(empty);
        char *report = NULL;
        char valid[4200];
        snprintf(valid, sizeof valid, "%s/valid.jsonl", fx.dir);
        cr_assert_eq(socfw_runtime_evaluate_file(rt, "sentiment", valid,
                                                 &report, &err),
                     0, "%s", err.message);
        cr_assert(report && strstr(report, "macro avg"), "%s", report);
        free(report);
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* meta.json names the backbone and tokenizer the heads were trained on;
 * a run whose backbone changed since is refused with the field named. */
Test(train, a_checkpoint_on_another_backbone_is_refused)
{
        write_data("train.jsonl", 120, 1, 0);
        write_data("valid.jsonl", 40, 2, 0);
        socfw_pipeline *p = fx_load(tiny_pipeline(NULL, NULL));
        char out[4200], meta[4400];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        train(p, out);
        snprintf(meta, sizeof meta, "%s/checkpoint/meta.json", out);
        size_t len = 0;
        char *text = socfw_test_read_file(meta, &len);
        cr_assert_not_null(text);
        char *fp = strstr(text, "\"fingerprint\": \"");
        cr_assert_not_null(fp, "%s", text);
        fp += strlen("\"fingerprint\": \"");
        cr_assert_eq(strspn(fp, "0123456789abcdef"), 64, "%.80s", fp);

        /* the same backbone loads back */
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = out, .from_checkpoint = 1,
                                   .progress = socfw_test_quiet};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        socfw_runtime_free(rt);

        /* a different one (as if the files were replaced) does not */
        memset(fp, '0', 64);
        cr_assert_eq(socfw_test_write_file(meta, text, len), 0);
        free(text);
        rt = NULL;
        cr_assert_lt(socfw_runtime_new(&rt, p, &o, &err), 0);
        cr_assert_null(rt);
        cr_assert(strstr(err.message, "fingerprint") &&
                          strstr(err.file, "meta.json"),
                  "%s: %s", err.file, err.message);
        socfw_pipeline_free(p);
}

/* n records whose sentiment word comes after 24 filler words: beyond the
 * first window of 16 tokens; "id" as write_data. */
static void
write_long_data(const char *name, int n, unsigned seed)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int pos = (int)((seed >> 16) & 1);
                fprintf(f, "{\"id\": %d, \"text\": \"", i);
                for (int k = 0; k < 24; k++)
                        fprintf(f, "%s ", FILL[(seed >> (k % 13)) % 10]);
                fprintf(f, "%s\", \"label\": \"%s\"}\n",
                        pos ? POS[(seed >> 8) % 6] : NEG[(seed >> 8) % 6],
                        pos ? "positive" : "negative");
        }
        fclose(f);
}

static socfw_pipeline *
long_pipeline(const char *truncation)
{
        static char y[8192];
        const char *base = tiny_pipeline(NULL, NULL);
        const char *at = strstr(base, "max_seq_len: 16");
        cr_assert_not_null(at);
        snprintf(y, sizeof y, "%.*smax_seq_len: 16, truncation: %s, "
                              "chunk_overlap: 4%s",
                 (int)(at - base), base, truncation,
                 at + strlen("max_seq_len: 16"));
        /* one window in four carries the label word: train longer */
        static char z[8192];
        char *ep = strstr(y, "epochs: 6");
        cr_assert_not_null(ep);
        snprintf(z, sizeof z, "%.*sepochs: 16%s", (int)(ep - y), y,
                 ep + strlen("epochs: 6"));
        return fx_load(z);
}

/* backbone.truncation: chunk_average reads every window of a long post:
 * the word that decides the label is past the first window, which is all
 * that head truncation keeps. */
Test(train, chunk_average_reads_past_the_first_window)
{
        write_long_data("train.jsonl", 300, 21);
        write_long_data("valid.jsonl", 80, 22);
        char out[4200];
        snprintf(out, sizeof out, "%s/run-head", fx.dir);
        socfw_pipeline *p = long_pipeline("head");
        double f1_head = train(p, out);
        socfw_pipeline_free(p);
        snprintf(out, sizeof out, "%s/run-chunks", fx.dir);
        p = long_pipeline("chunk_average");
        double f1_chunks = train(p, out);
        cr_log_info("valid macro-F1: head %.3f, chunk_average %.3f", f1_head,
                    f1_chunks);
        cr_assert_lt(f1_head, 0.7, "head truncation saw the word? %.3f",
                     f1_head);
        cr_assert_gt(f1_chunks, 0.85, "chunk_average %.3f", f1_chunks);

        /* prediction averages the windows of a post too */
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = out, .from_checkpoint = 1,
                                   .progress = socfw_test_quiet};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        const char *stages[] = {"sentiment", NULL};
        socfw_chain *chain = NULL;
        cr_assert_eq(socfw_runtime_chain_stages(rt, stages, &chain, &err), 0,
                     "%s", err.message);
        socfw_post *post = socfw_post_new(
                "the phone order app today was my service really so the "
                "phone order app today was my service really so the app "
                "today awful", NULL);
        cr_assert_eq(socfw_chain_run(chain, post, &err), 0, "%s",
                     err.message);
        cr_assert_str_eq(socfw_post_get_string(post, "sentiment.label"),
                         "negative");
        socfw_post_free(post);
        socfw_chain_free(chain);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* What the evalprobe plugin's evaluate hook wrote (tests/plugins/
 * evalprobe.c) against the data file it evaluated: one item per record,
 * each with its own record (the row's text and the "id" only the hook
 * reads), the row's gold class, and class scores that are probabilities
 * (in [0, 1], summing to 1, the prediction their argmax). */
static void
check_probe_dump(const char *dump, const char *data, const char *split,
                 size_t n_rows)
{
        FILE *rows = fopen(data, "r");
        cr_assert_not_null(rows, "%s", data);
        json_t **want = calloc(n_rows, sizeof *want);
        char buf[4096];
        for (size_t i = 0; i < n_rows; i++) {
                cr_assert_not_null(fgets(buf, sizeof buf, rows));
                want[i] = json_loads(buf, 0, NULL);
                cr_assert_not_null(want[i]);
        }
        fclose(rows);
        FILE *f = fopen(dump, "r");
        cr_assert_not_null(f, "the evaluate hook wrote no %s", dump);
        int *seen = calloc(n_rows, sizeof *seen);
        size_t items = 0;
        while (fgets(buf, sizeof buf, f)) {
                json_error_t je;
                json_t *it = json_loads(buf, 0, &je);
                cr_assert_not_null(it, "%s: %s", dump, je.text);
                items++;
                cr_assert(json_is_true(json_object_get(it, "record")),
                          "item %zu has no record", items);
                const char *file = json_string_value(
                        json_object_get(it, "file"));
                cr_assert(file && strstr(file, socfw_path_basename(data)),
                          "record file %s", file ? file : "(none)");
                cr_assert_str_eq(json_string_value(json_object_get(it,
                                                                   "split")),
                                 split);
                json_int_t line = json_integer_value(json_object_get(it,
                                                                     "line"));
                cr_assert(line >= 1 && (size_t)line <= n_rows, "line %lld",
                          (long long)line);
                const json_t *row = want[line - 1];
                seen[line - 1]++;
                cr_assert_str_eq(json_string_value(json_object_get(it, "text")),
                                 json_string_value(json_object_get(row, "text")),
                                 "line %lld", (long long)line);
                cr_assert_float_eq(json_number_value(json_object_get(it, "id")),
                                   (double)json_integer_value(
                                           json_object_get(row, "id")),
                                   1e-9, "line %lld", (long long)line);
                const char *label = json_string_value(json_object_get(row,
                                                                      "label"));
                int gold = (int)json_integer_value(json_object_get(it, "gold"));
                cr_assert_eq(gold, !strcmp(label, "positive") ? 1 : 0,
                             "line %lld: gold %d for %s", (long long)line,
                             gold, label);
                json_t *sc = json_object_get(it, "scores");
                cr_assert_eq(json_array_size(sc), 2, "line %lld",
                             (long long)line);
                double sum = 0;
                size_t best = 0;
                for (size_t k = 0; k < 2; k++) {
                        double v = json_number_value(json_array_get(sc, k));
                        cr_assert(v >= 0 && v <= 1, "score %g", v);
                        sum += v;
                        if (v > json_number_value(json_array_get(sc, best)))
                                best = k;
                }
                cr_assert_float_eq(sum, 1.0, 1e-5, "line %lld: scores sum "
                                   "to %.7f", (long long)line, sum);
                cr_assert_eq(json_integer_value(json_object_get(it, "pred")),
                             (json_int_t)best, "line %lld",
                             (long long)line);
                json_decref(it);
        }
        fclose(f);
        cr_assert_eq(items, n_rows, "%zu items for %zu records", items,
                     n_rows);
        for (size_t i = 0; i < n_rows; i++) {
                cr_assert_eq(seen[i], 1, "line %zu seen %d times", i + 1,
                             seen[i]);
                json_decref(want[i]);
        }
        free(want);
        free(seen);
}

/* A classification task's evaluate hook (plugin ABI 2.0) gets, for every
 * evaluated record, the record itself and the model's class scores: on a
 * validation split of short posts, and on a file of long posts whose
 * windows are averaged (backbone.truncation: chunk_average). */
Test(train, a_class_tasks_evaluate_hook_reads_records_and_scores)
{
        char path[4200], dump[4200];
        snprintf(path, sizeof path,
                 "%s/tests/plugins/evalprobe/evalprobe.la",
                 socfw_test_builddir());
        socfw_error err = {0};
        cr_assert_eq(socfw_registry_load_file(fx.reg, path, &err), 0, "%s",
                     err.message);
        write_data("train.jsonl", 120, 31, 0);
        write_data("valid.jsonl", 40, 32, 0);
        write_long_data("long.jsonl", 12, 33);
        snprintf(dump, sizeof dump, "%s/seen.jsonl", fx.dir);
        /* the tiny pipeline with the probe as its task, reading long posts
         * window by window */
        const char *base = tiny_pipeline(NULL, NULL);
        char y[8192];
        const char *at = strstr(base, "    plugin: sentiment\n");
        const char *ms = strstr(base, "max_seq_len: 16");
        cr_assert(at && ms && ms < at);
        snprintf(y, sizeof y,
                 "%.*smax_seq_len: 16, truncation: chunk_average, "
                 "chunk_overlap: 4%.*s    plugin: evalprobe\n"
                 "    dump: %s\n%s",
                 (int)(ms - base), base,
                 (int)(at - ms - strlen("max_seq_len: 16")),
                 ms + strlen("max_seq_len: 16"), dump,
                 at + strlen("    plugin: sentiment\n"));
        socfw_pipeline *p = fx_load(y);
        snprintf(path, sizeof path, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, path, 0);
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double items = -1;
        cr_assert_eq(socfw_runtime_metric(rt, "sentiment.valid.probe_items",
                                          &items), 0);
        cr_assert_float_eq(items, 40, 1e-9);
        snprintf(path, sizeof path, "%s/valid.jsonl", fx.dir);
        check_probe_dump(dump, path, "valid", 40);
        /* `socfw evaluate --input`: long posts, several windows each */
        snprintf(path, sizeof path, "%s/long.jsonl", fx.dir);
        char *report = NULL;
        cr_assert_eq(socfw_runtime_evaluate_file(rt, "sentiment", path,
                                                 &report, &err),
                     0, "%s", err.message);
        free(report);
        check_probe_dump(dump, path, "eval", 12);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* Language-model examples keep the start of a long reply and the end of
 * its context; replies of every length around half the window (where an
 * off-by-one once read a token past the reply: uninitialised memory, which
 * the sanitizer build's forward pass rejects as outside the vocabulary)
 * train cleanly. */
Test(train, lm_examples_of_every_reply_length_fit_the_window)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/pairs.jsonl", fx.dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        for (int len = 1; len <= 24; len++) {
                fputs("{\"prompt\": \"how was the order today\", "
                      "\"response\": \"", f);
                for (int k = 0; k < len; k++)
                        fprintf(f, "%s%s", k ? " " : "", FILL[k % 10]);
                fputs("\"}\n", f);
        }
        fclose(f);
        char corpus[4200];
        snprintf(corpus, sizeof corpus, "%s/corpus.txt", fx.dir);
        f = fopen(corpus, "w");
        for (int i = 0; i < 200; i++)
                fprintf(f, "%s %s %s\n", FILL[i % 10], FILL[(i / 10) % 10],
                        POS[i % 6]);
        fclose(f);
        const char *y =
                "socfw: 1\n"
                "threads: 1\n"
                "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                " max_positions: 32, max_seq_len: 16}\n"
                "pretrain: {corpus: [corpus.txt], steps: 4, batch_size: 8,"
                " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
                "tasks:\n"
                "  - name: reply\n"
                "    plugin: dialog\n"
                "    head: {type: lm}\n"
                "    data: {train: pairs.jsonl, valid: pairs.jsonl}\n"
                "train: {epochs: 1, batch_size: 4, seed: 3}\n"
                "output: {dir: run-lm}\n";
        socfw_pipeline *p = fx_load(y);
        char out[4200];
        snprintf(out, sizeof out, "%s/run-lm", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        double ppl = 0;
        cr_assert_eq(socfw_runtime_metric(rt, "reply.valid.perplexity", &ppl),
                     0);
        cr_assert(ppl > 1 && ppl < 1000, "perplexity %g", ppl);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(train, same_seed_same_result)
{
        write_data("train.jsonl", 120, 3, 0);
        write_data("valid.jsonl", 40, 4, 0);
        socfw_pipeline *p = fx_load(tiny_pipeline(
                NULL, "evaluate: {splits: [valid]}\n"));
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/a", fx.dir);
        snprintf(b, sizeof b, "%s/b", fx.dir);
        double fa = train(p, a), fb = train(p, b);
        cr_assert_eq(fa, fb, "%.17g vs %.17g", fa, fb);
        /* the checkpoints are byte-identical */
        char pa[4400], pb[4400];
        snprintf(pa, sizeof pa, "%s/checkpoint/model.safetensors", a);
        snprintf(pb, sizeof pb, "%s/checkpoint/model.safetensors", b);
        size_t la, lb;
        char *ca = socfw_test_read_file(pa, &la);
        char *cb = socfw_test_read_file(pb, &lb);
        cr_assert(ca && cb && la == lb && memcmp(ca, cb, la) == 0);
        free(ca);
        free(cb);
        socfw_pipeline_free(p);
}

/* Build the runtime (which reads the data) and return the error. */
static int
build_error(const char *yaml, socfw_error *err)
{
        socfw_pipeline *p = fx_load(yaml);
        socfw_runtime *rt = NULL;
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime_options o = {.output_dir = out, .progress = socfw_test_quiet};
        int rc = socfw_runtime_new(&rt, p, &o, err);
        if (rc == 0)
                rc = socfw_runtime_train(rt, err);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
        return rc;
}

Test(train, bad_data_is_reported_with_file_and_line)
{
        write_data("train.jsonl", 50, 5, 0);
        socfw_error err = {0};

        write_text("valid.jsonl", "");
        cr_assert_lt(build_error(tiny_pipeline(NULL, NULL), &err), 0);
        cr_assert(strstr(err.message, "no records") ||
                          strstr(err.message, "no usable"),
                  "%s", err.message);

        socfw_error_clear(&err);
        write_text("valid.jsonl", "{\"text\": \"fine\", \"label\": "
                                  "\"negative\"}\n{\"text\": \"x\", "
                                  "\"label\": \"meh\"}\n");
        cr_assert_lt(build_error(tiny_pipeline(NULL, NULL), &err), 0);
        cr_assert(strstr(err.message, "unknown label 'meh'"), "%s",
                  err.message);
        cr_assert_eq(err.line, 2, "line %ld", err.line);
        cr_assert(strstr(err.file, "valid.jsonl"), "%s", err.file);

        socfw_error_clear(&err);
        write_text("valid.jsonl", "{\"text\": \"ok\", \"label\": \"negative\"}\n"
                                  "{\"text\": \"bad \xff\xfe\", \"label\": "
                                  "\"negative\"}\n");
        cr_assert_lt(build_error(tiny_pipeline(NULL, NULL), &err), 0);
        cr_assert_eq(err.line, 2, "%s (line %ld)", err.message, err.line);

        socfw_error_clear(&err);
        write_text("valid.jsonl", "{\"text\": \"ok\", \"label\": \"negative\"}\n"
                                  "not json at all\n");
        cr_assert_lt(build_error(tiny_pipeline(NULL, NULL), &err), 0);
        cr_assert_eq(err.line, 2, "%s (line %ld)", err.message, err.line);

        /* with on_bad_row: skip the same file trains */
        socfw_error_clear(&err);
        cr_assert_eq(build_error(tiny_pipeline(", on_bad_row: skip", NULL),
                                 &err),
                     0, "%s", err.message);
}

Test(train, one_label_and_long_posts_still_train)
{
        write_data("train.jsonl", 60, 6, 1); /* every label positive */
        /* a 1 MB post in valid: truncated to max_seq_len tokens */
        char path[4200];
        snprintf(path, sizeof path, "%s/valid.jsonl", fx.dir);
        FILE *f = fopen(path, "w");
        fputs("{\"text\": \"", f);
        for (int i = 0; i < 100000; i++)
                fputs("great app ", f);
        fputs("\", \"label\": \"positive\"}\n", f);
        fputs("{\"text\": \"awful\", \"label\": \"negative\"}\n", f);
        fclose(f);
        socfw_error err = {0};
        cr_assert_eq(build_error(tiny_pipeline(NULL, NULL), &err), 0, "%s",
                     err.message);
}

/* eval_every beyond the last step: no evaluation, so the checkpoint has
 * no value to record; it is written with "value": null, not refused */
Test(train, a_run_that_never_evaluates_still_writes_its_checkpoint)
{
        write_data("train.jsonl", 64, 8, 0);
        write_data("valid.jsonl", 20, 9, 0);
        socfw_pipeline *p = fx_load(tiny_pipeline(
                ", eval_every: 1000", NULL));
        char out[4200], meta[4300];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        train(p, out);
        snprintf(meta, sizeof meta, "%s/checkpoint/meta.json", out);
        json_t *m = json_load_file(meta, 0, NULL);
        cr_assert_not_null(m, "no %s", meta);
        cr_assert(json_is_null(json_object_get(m, "value")));
        json_decref(m);
        socfw_pipeline_free(p);
}

Test(train, a_kill_during_checkpoint_writing_keeps_the_previous_one)
{
        write_data("train.jsonl", 400, 8, 0);
        write_data("valid.jsonl", 40, 9, 0);
        /* checkpoints at every evaluation, evaluations every step */
        socfw_pipeline *p = fx_load(tiny_pipeline(", eval_every: 1", NULL));
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        train(p, out); /* a first, complete checkpoint */
        for (int round = 0; round < 5; round++) {
                pid_t pid = fork();
                cr_assert_neq(pid, -1);
                if (pid == 0) {
                        socfw_runtime *rt = NULL;
                        socfw_runtime_options o = {.output_dir = out,
                                                   .progress = socfw_test_quiet};
                        if (socfw_runtime_new(&rt, p, &o, NULL) == 0)
                                socfw_runtime_train(rt, NULL);
                        _exit(0);
                }
                usleep(150000 + (useconds_t)round * 90000);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                char ck[4400];
                snprintf(ck, sizeof ck, "%s/checkpoint/model.safetensors",
                         out);
                socfw_modelfile *mf = NULL;
                socfw_error err = {0};
                cr_assert_eq(socfw_modelfile_open(&mf, ck, &err), 0,
                             "round %d: %s", round, err.message);
                cr_assert_gt(socfw_modelfile_n_tensors(mf), 0);
                socfw_modelfile_close(mf);
        }
        socfw_pipeline_free(p);
}

Test(train, the_privacy_stage_cleans_texts_before_learning)
{
        write_data("train.jsonl", 60, 10, 0);
        write_data("valid.jsonl", 20, 11, 0);
        socfw_pipeline *p = fx_load(tiny_pipeline(
                NULL, "privacy: {entities: [EMAIL_ADDRESS], operator: "
                      "replace}\n"));
        /* the corpus is full of one e-mail address: without the privacy
         * stage BPE would learn pieces of it */
        char path[4400];
        snprintf(path, sizeof path, "%s/corpus.txt", fx.dir);
        FILE *f = fopen(path, "w");
        for (int i = 0; i < 400; i++)
                fprintf(f, "write to zorblax.quixote@privatemail.example "
                           "now %s\n",
                        POS[i % 6]);
        fclose(f);
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        train(p, out);
        snprintf(path, sizeof path, "%s/backbone/vocab.json", out);
        char *vocab = socfw_test_read_file(path, NULL);
        cr_assert_not_null(vocab);
        cr_assert_null(strstr(vocab, "zorb"), "the address leaked into the "
                                              "vocabulary");
        cr_assert_null(strstr(vocab, "quix"));
        cr_assert_not_null(strstr(vocab, "EMAIL"), "the tag was learnt");
        free(vocab);
        socfw_pipeline_free(p);
}

/* The child kills itself at step 7 of training, like a crash or kill -9. */
static void
die_at_step_7(const char *line, void *user)
{
        (void)user;
        if (strstr(line, "step 7/"))
                raise(SIGKILL);
}

Test(train, resume_after_a_kill_equals_an_uninterrupted_run)
{
        write_data("train.jsonl", 200, 12, 0);
        write_data("valid.jsonl", 30, 13, 0);
        /* dropout is on (0.1): the random state must be restored too */
        socfw_pipeline *p = fx_load(tiny_pipeline(
                ", log_every: 1, checkpoint_every: 3, eval_every: 5", NULL));

        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/a", fx.dir);
        snprintf(b, sizeof b, "%s/b", fx.dir);
        train(p, a);

        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
                socfw_runtime *rt = NULL;
                socfw_runtime_options o = {.output_dir = b,
                                           .progress = die_at_step_7};
                if (socfw_runtime_new(&rt, p, &o, NULL) == 0)
                        socfw_runtime_train(rt, NULL);
                _exit(3); /* did not die: the test fails below */
        }
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "the child was meant to be killed");

        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = b, .resume = 1,
                                   .progress = socfw_test_quiet};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        socfw_runtime_free(rt);

        char pa[4400], pb[4400];
        snprintf(pa, sizeof pa, "%s/checkpoint/model.safetensors", a);
        snprintf(pb, sizeof pb, "%s/checkpoint/model.safetensors", b);
        size_t la, lb;
        char *ca = socfw_test_read_file(pa, &la);
        char *cb = socfw_test_read_file(pb, &lb);
        cr_assert(ca && cb && la == lb && memcmp(ca, cb, la) == 0,
                  "resumed training differs from the uninterrupted run");
        free(ca);
        free(cb);
        socfw_pipeline_free(p);
}

/* ---- a third-party class task without an evaluate hook ---- */

typedef struct plain_state {
        socfw_task_ctx *ctx;
} plain_state;

static int
plain_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **out,
             socfw_error *err)
{
        (void)cfg;
        plain_state *s = malloc(sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        s->ctx = ctx;
        *out = s;
        return 0;
}

static void
plain_destroy(void *s)
{
        free(s);
}

static int
plain_parse(void *state, const socfw_record *rec, socfw_example *ex,
            socfw_error *err)
{
        plain_state *s = state;
        const char *text = socfw_record_get_string(rec, "text");
        const char *label = socfw_record_get_string(rec, "label");
        if (!text || !label)
                return socfw_error_set(err, SOCFW_EINVAL, "text and label");
        int rc = socfw_example_set_text(ex, text);
        for (size_t i = 0; rc == 0 && i < socfw_task_label_count(s->ctx); i++)
                if (!strcmp(label, socfw_task_label(s->ctx, i)))
                        return socfw_example_set_class(ex, (int)i);
        return rc < 0 ? rc : socfw_error_set(err, SOCFW_EINVAL, "label");
}

SOCFW_TASK_PLUGIN(plainclass,
        .version = "1.0",
        .description = "A class task that leaves metrics to the host.",
        .license = "MIT",
        .default_head = "classifier",
        .task = SOCFW_TASK_HOOKS(.create = plain_create,
                                 .destroy = plain_destroy,
                                 .parse_example = plain_parse));

/* plugin.h: evaluate == NULL gives the host's classification figures and
 * report for a class task, as sentiment's own hook does. */
Test(train, a_class_task_without_evaluate_gets_the_default_report)
{
        write_data("train.jsonl", 300, 1, 0);
        write_data("valid.jsonl", 80, 2, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_registry_add_static(fx.reg, socfw_plugin_plainclass_get(), "test",
                                               &err),
                     0, "%s", err.message);
        const char *base = tiny_pipeline(NULL, NULL);
        const char *task = "  - name: sentiment\n    plugin: sentiment\n";
        const char *at = strstr(base, task);
        cr_assert_not_null(at);
        char y[8192];
        snprintf(y, sizeof y, "%.*s  - name: plain\n    plugin: plainclass\n%s",
                 (int)(at - base), base, at + strlen(task));
        socfw_pipeline *p = fx_load(y);
        char out[4200];
        snprintf(out, sizeof out, "%s/plain-run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double f1 = -1, acc = -1, mr = -1;
        cr_expect_eq(socfw_runtime_metric(rt, "plain.valid.macro_f1", &f1), 0);
        cr_expect_eq(socfw_runtime_metric(rt, "plain.valid.accuracy", &acc),
                     0);
        cr_expect_eq(socfw_runtime_metric(rt, "plain.valid.macro_recall",
                                          &mr),
                     0);
        cr_log_info("plainclass: valid macro-F1 %.4f accuracy %.4f", f1, acc);
        cr_expect_gt(f1, 0.9, "macro-F1 %.4f", f1);
        char path[4400];
        snprintf(path, sizeof path, "%s/plain.valid.txt", out);
        char *report = socfw_test_read_file(path, NULL);
        cr_assert_not_null(report, "no %s", path);
        cr_expect(strstr(report, "negative") && strstr(report, "positive"),
                  "%s", report);
        free(report);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}
