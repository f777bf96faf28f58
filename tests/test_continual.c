/* tests/test_continual.c - continual re-fine-tuning's parts: the version
 * store (adopt, add, promote, rollback's parent, list, damaged pointer),
 * the replay sample and the held-out split (deterministic by seed), the
 * refusals (unknown labels, a gate set sharing a text with the new data),
 * the gate's decision, the continual: settings, and L2-SP (a strong pull
 * keeps the adapter at its starting point).  The command line end to end
 * is tests/continual-cli.sh. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "socfw/adapter_store.h"
#include "socfw/continual.h"
#include "socfw/modelfile.h"
#include "socfw/pipeline.h"
#include "socfw/runtime.h"
#include "testutil.h"

TestSuite(continual, .init = fx_setup, .fini = fx_teardown, .timeout = 240);

/* ---- the version store ---- */

static void
put(const char *dir, const char *name, const char *text)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        cr_assert_eq(socfw_test_write_file(path, text, strlen(text)), 0);
}

static char *
get(const char *dir, const char *name)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return socfw_test_read_file(path, NULL);
}

/* A fake adapter directory: the store copies files, it does not read
 * tensors. */
static void
fake_adapter(const char *dir, const char *tag, const char *fp)
{
        char meta[256];
        mkdir(dir, 0755);
        put(dir, "adapter_config.json", "{\"peft_type\": \"LORA\"}");
        put(dir, "adapter_model.safetensors", tag);
        put(dir, "head.safetensors", tag);
        snprintf(meta, sizeof meta, "{\"task_fingerprint\": \"%s\"}", fp);
        put(dir, "meta.json", meta);
}

static json_t *
load_json(const char *dir, const char *name)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        json_t *j = json_load_file(path, 0, NULL);
        cr_assert_not_null(j, "cannot read %s", path);
        return j;
}

Test(continual, store_adopts_adds_promotes_and_lists_versions)
{
        char tdir[4200], cand[4200];
        snprintf(tdir, sizeof tdir, "%s/adapters", fx.dir);
        mkdir(tdir, 0755);
        snprintf(tdir, sizeof tdir, "%s/adapters/sentiment", fx.dir);
        snprintf(cand, sizeof cand, "%s/candidate", fx.dir);
        fake_adapter(tdir, "weights-one", "fp-plain");
        fake_adapter(cand, "weights-two", "fp-continued");
        socfw_error err = {0};
        int cur = -1;
        cr_assert_eq(socfw_adapter_store_current(tdir, &cur, &err), 0);
        cr_assert_eq(cur, 0, "no store yet");

        cr_assert_eq(socfw_adapter_store_adopt(tdir, NULL, &cur, &err), 0,
                     "%s", err.message);
        cr_assert_eq(cur, 1);
        cr_assert_eq(socfw_adapter_store_adopt(tdir, NULL, &cur, &err), 0);
        cr_assert_eq(cur, 1, "adopting twice makes no second version");
        cr_assert_eq(socfw_adapter_store_latest(tdir), 1);

        json_t *m = json_pack("{s:s, s:i}", "decision", "promoted",
                              "parent", 1);
        int v = 0;
        cr_assert_eq(socfw_adapter_store_add(tdir, cand, m, &v, &err), 0,
                     "%s", err.message);
        json_decref(m);
        cr_assert_eq(v, 2);
        socfw_adapter_store_current(tdir, &cur, &err);
        cr_assert_eq(cur, 1, "an added version is not current");
        char *top = get(tdir, "adapter_model.safetensors");
        cr_assert_str_eq(top, "weights-one");
        free(top);

        cr_assert_eq(socfw_adapter_store_promote(tdir, 2, "test", &err), 0,
                     "%s", err.message);
        socfw_adapter_store_current(tdir, &cur, &err);
        cr_assert_eq(cur, 2);
        top = get(tdir, "adapter_model.safetensors");
        cr_assert_str_eq(top, "weights-two");
        free(top);
        /* the top-level meta.json: the version, and the fingerprint a
         * plain run compares (so it keeps the promoted version) */
        json_t *meta = load_json(tdir, "meta.json");
        cr_assert_eq(json_integer_value(json_object_get(meta, "version")), 2);
        cr_assert_str_eq(json_string_value(json_object_get(
                                 meta, "task_fingerprint")),
                         "fp-plain");
        json_decref(meta);
        cr_assert_eq(socfw_adapter_store_parent(tdir, 2), 1);
        cr_assert_eq(socfw_adapter_store_parent(tdir, 1), 0);

        json_t *list = NULL;
        cr_assert_eq(socfw_adapter_store_list(tdir, &list, &err), 0);
        cr_assert_eq(json_array_size(list), 2);
        cr_assert(json_is_false(json_object_get(json_array_get(list, 0),
                                                "current")));
        cr_assert(json_is_true(json_object_get(json_array_get(list, 1),
                                               "current")));
        cr_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(list, 0), "decision")),
                         "adopted");
        cr_assert_eq(json_array_size(json_object_get(
                             json_array_get(list, 1), "promoted")),
                     1, "the promotion is recorded");
        json_decref(list);

        /* rollback = promote the parent */
        cr_assert_eq(socfw_adapter_store_promote(tdir, 1, "rollback", &err),
                     0);
        top = get(tdir, "adapter_model.safetensors");
        cr_assert_str_eq(top, "weights-one");
        free(top);

        /* an unknown version names the ones there are */
        cr_assert_eq(socfw_adapter_store_promote(tdir, 9, "x", &err),
                     SOCFW_ENOTFOUND);
        cr_assert(strstr(err.message, "versions 1 to 2"), "%s", err.message);

        /* a plain run trained the task again: its files become v3 */
        fake_adapter(tdir, "weights-three", "fp-plain2");
        cr_assert_eq(socfw_adapter_store_adopt(tdir, NULL, &cur, &err), 0);
        cr_assert_eq(cur, 3);
        cr_assert_eq(socfw_adapter_store_parent(tdir, 3), 1);

        /* a damaged pointer is refused, naming the file */
        put(tdir, "current", "two\n");
        err = (socfw_error){0};
        cr_assert_eq(socfw_adapter_store_current(tdir, &cur, &err),
                     SOCFW_EFORMAT);
        cr_assert(strstr(err.file, "current"), "%s", err.file);
}

/* ---- data: replay, held-out part, refusals ---- */

Test(continual, sample_is_distinct_in_range_and_deterministic)
{
        size_t a[50], b[50], c[50];
        socfw_continual_sample(7, 200, 50, a);
        socfw_continual_sample(7, 200, 50, b);
        socfw_continual_sample(8, 200, 50, c);
        int same_c = 1;
        for (int i = 0; i < 50; i++) {
                cr_assert_lt(a[i], 200);
                cr_assert_eq(a[i], b[i], "same seed, same sample");
                same_c &= a[i] == c[i];
                for (int j = 0; j < i; j++)
                        cr_assert_neq(a[i], a[j], "drawn twice");
        }
        cr_assert_not(same_c, "another seed, another sample");
        size_t all[10];     /* k = n: a permutation */
        socfw_continual_sample(1, 10, 10, all);
        size_t sum = 0;
        for (int i = 0; i < 10; i++)
                sum += all[i];
        cr_assert_eq(sum, 45);
}

static void
write_rows(const char *name, const char *prefix, int n, const char *label)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++)
                fprintf(f, "{\"text\": \"%s %d\", \"label\": \"%s\"}\n",
                        prefix, i, label ? label : i % 2 ? "pos" : "neg");
        fclose(f);
}

static size_t
lines(const char *name)
{
        char *t = get(fx.dir, name);
        size_t n = 0;
        for (char *p = t; p && *p; p++)
                n += *p == '\n';
        free(t);
        return n;
}

static socfw_pipeline *
tiny_pipeline(const char *continual)
{
        char y[4096];
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2,"
                 " max_positions: 32, max_seq_len: 16}\n"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [neg, pos]\n"
                 "    adapter: {type: lora, rank: 2}\n"
                 "    data: {train: old.jsonl, valid: gate.jsonl}\n"
                 "train: {seed: 5, early_stopping: {metric: "
                 "sentiment.valid.macro_recall}}\n"
                 "%s",
                 continual ? continual : "");
        return fx_load(y);
}

Test(continual, prepare_holds_out_replays_and_is_deterministic)
{
        write_rows("old.jsonl", "old post", 100, NULL);
        write_rows("gate.jsonl", "gate post", 20, NULL);
        write_rows("new.jsonl", "new post", 40, NULL);
        socfw_pipeline *p = tiny_pipeline(
                "continual: {replay: 0.5, holdout: 0.25}\n");
        socfw_continual_settings s;
        socfw_error err = {0};
        char data[4400];
        snprintf(data, sizeof data, "%s/new.jsonl", fx.dir);
        cr_assert_eq(socfw_continual_settings_read(p, NULL, data, &s, &err),
                     0, "%s", err.message);
        cr_assert_str_eq(s.task, "sentiment", "the only task with an adapter");
        cr_assert_str_eq(s.metric, "macro_recall",
                         "the early-stopping metric by default");
        cr_assert(strstr(s.gate, "gate.jsonl"), "data.valid by default");
        cr_assert_eq(s.seed, 5, "train.seed by default");
        const char *labels[] = {"neg", "pos"};
        const socfw_config *tc = socfw_pipeline_task(p, 0);
        char tr[4400], ho[4400];
        snprintf(tr, sizeof tr, "%s/train.jsonl", fx.dir);
        snprintf(ho, sizeof ho, "%s/holdout.jsonl", fx.dir);
        socfw_continual_data d;
        cr_assert_eq(socfw_continual_prepare(&s, tc, labels, 2, tr, ho, &d,
                                             &err),
                     0, "%s", err.message);
        cr_assert_eq(d.n_new, 40);
        cr_assert_eq(d.n_holdout, 10);
        cr_assert_eq(d.n_train, 30);
        cr_assert_eq(d.n_replay, 15);
        cr_assert_eq(d.n_old, 100);
        cr_assert_eq(strlen(d.fingerprint), 64);
        cr_assert_eq(lines("train.jsonl"), 45);
        cr_assert_eq(lines("holdout.jsonl"), 10);
        char *train1 = get(fx.dir, "train.jsonl");
        char *hold = get(fx.dir, "holdout.jsonl");
        /* the held-out rows are not trained on */
        for (char *l = hold; l && *l;) {
                char *nl = strchr(l, '\n');
                *nl = '\0';
                cr_assert_null(strstr(train1, l), "%s is in both", l);
                l = nl + 1;
        }
        size_t replayed = 0;
        for (char *q = train1; (q = strstr(q, "old post")); q++)
                replayed++;
        cr_assert_eq(replayed, 15);
        cr_assert_eq(socfw_continual_prepare(&s, tc, labels, 2, tr, ho, &d,
                                             &err),
                     0);
        char *train2 = get(fx.dir, "train.jsonl");
        cr_assert_str_eq(train1, train2, "same seed, same files");
        free(train1);
        free(train2);
        free(hold);
        socfw_pipeline_free(p);
}

Test(continual, unknown_labels_are_refused_naming_them)
{
        write_rows("old.jsonl", "old post", 10, NULL);
        write_rows("gate.jsonl", "gate post", 10, NULL);
        FILE *f = socfw_test_create(fx.dir, "new.jsonl");
        fprintf(f, "{\"text\": \"a\", \"label\": \"pos\"}\n"
                   "{\"text\": \"b\", \"label\": \"angry\"}\n"
                   "{\"text\": \"c\", \"label\": \"meh\"}\n"
                   "{\"text\": \"d\", \"label\": \"angry\"}\n");
        fclose(f);
        socfw_pipeline *p = tiny_pipeline(NULL);
        socfw_continual_settings s;
        socfw_error err = {0};
        char data[4400], tr[4400], ho[4400];
        snprintf(data, sizeof data, "%s/new.jsonl", fx.dir);
        snprintf(tr, sizeof tr, "%s/train.jsonl", fx.dir);
        snprintf(ho, sizeof ho, "%s/holdout.jsonl", fx.dir);
        cr_assert_eq(socfw_continual_settings_read(p, "sentiment", data, &s,
                                                   &err), 0);
        const char *labels[] = {"neg", "pos"};
        socfw_continual_data d;
        cr_assert_eq(socfw_continual_prepare(&s, socfw_pipeline_task(p, 0),
                                             labels, 2, tr, ho, &d, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "'angry', 'meh'"), "%s", err.message);
        cr_assert(strstr(err.message, "3 rows"), "%s", err.message);
        cr_assert_eq(err.line, 2, "the first such row");
        struct stat st;
        cr_assert_neq(stat(tr, &st), 0, "nothing written");
        socfw_pipeline_free(p);
}

Test(continual, a_gate_set_sharing_a_text_with_the_new_data_is_refused)
{
        write_rows("old.jsonl", "old post", 10, NULL);
        write_rows("gate.jsonl", "post", 10, NULL);
        FILE *f = socfw_test_create(fx.dir, "new.jsonl");
        fprintf(f, "{\"text\": \"fresh one\", \"label\": \"pos\"}\n"
                   "{\"text\": \"fresh two\", \"label\": \"neg\"}\n"
                   "{\"text\": \"post  3\", \"label\": \"neg\"}\n");
        fclose(f);
        socfw_pipeline *p = tiny_pipeline(NULL);
        socfw_continual_settings s;
        socfw_error err = {0};
        char data[4400], tr[4400], ho[4400];
        snprintf(data, sizeof data, "%s/new.jsonl", fx.dir);
        snprintf(tr, sizeof tr, "%s/train.jsonl", fx.dir);
        snprintf(ho, sizeof ho, "%s/holdout.jsonl", fx.dir);
        cr_assert_eq(socfw_continual_settings_read(p, NULL, data, &s, &err),
                     0);
        const char *labels[] = {"neg", "pos"};
        socfw_continual_data d;
        cr_assert_eq(socfw_continual_prepare(&s, socfw_pipeline_task(p, 0),
                                             labels, 2, tr, ho, &d, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "also in the gate set"), "%s",
                  err.message);
        cr_assert_eq(err.line, 3, "the shared row (spacing ignored)");
        socfw_pipeline_free(p);
}

Test(continual, settings_refuse_a_task_without_an_adapter_and_no_data)
{
        socfw_pipeline *p = fx_load(
                "socfw: 1\n"
                "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2,"
                " max_positions: 32}\n"
                "tasks:\n"
                "  - {name: s, plugin: sentiment, labels: [a, b]}\n");
        socfw_continual_settings s;
        socfw_error err = {0};
        cr_assert_lt(socfw_continual_settings_read(p, "s", "x.jsonl", &s,
                                                   &err), 0);
        cr_assert(strstr(err.message, "no adapter"), "%s", err.message);
        socfw_pipeline_free(p);
        write_rows("old.jsonl", "old post", 4, NULL);
        write_rows("gate.jsonl", "gate post", 4, NULL);
        p = tiny_pipeline(NULL);
        err = (socfw_error){0};
        cr_assert_lt(socfw_continual_settings_read(p, NULL, NULL, &s, &err),
                     0);
        cr_assert(strstr(err.message, "--data"), "%s", err.message);
        socfw_pipeline_free(p);
}

/* ---- the gate ---- */

Test(continual, the_gate_promotes_only_no_worse_and_better)
{
        char why[512];
        socfw_gate_scores g = {.metric = "macro_f1", .current_gate = 0.70,
                               .candidate_gate = 0.695,
                               .current_holdout = 0.50,
                               .candidate_holdout = 0.60};
        cr_assert_eq(socfw_continual_decide(&g, 0.01, 0, why, sizeof why), 1,
                     "%s", why);
        cr_assert(strstr(why, "within the tolerance"), "%s", why);
        g.candidate_gate = 0.68;        /* dropped by more than 0.01 */
        cr_assert_eq(socfw_continual_decide(&g, 0.01, 0, why, sizeof why), 0);
        cr_assert(strstr(why, "0.7000 -> 0.6800"), "%s", why);
        cr_assert(strstr(why, "worse than the tolerance allows"), "%s", why);
        g.candidate_gate = 0.69;        /* exactly the tolerance */
        cr_assert_eq(socfw_continual_decide(&g, 0.01, 0, why, sizeof why), 1,
                     "%s", why);
        g.candidate_holdout = 0.50;     /* not better */
        cr_assert_eq(socfw_continual_decide(&g, 0.01, 0, why, sizeof why), 0);
        cr_assert(strstr(why, "not better"), "%s", why);
        g.candidate_holdout = 0.55;     /* better, not by min_gain */
        cr_assert_eq(socfw_continual_decide(&g, 0.01, 0.1, why, sizeof why),
                     0);
        g.candidate_gate = NAN;
        cr_assert_eq(socfw_continual_decide(&g, 1, 0, why, sizeof why), 0);
}

/* ---- L2-SP ---- */

static const char *const POS[] = {"great", "love", "awesome", "happy"};
static const char *const NEG[] = {"awful", "hate", "terrible", "broken"};

static void
write_data(const char *name, int n, unsigned seed, int flip)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int pos = (int)((seed >> 16) & 1);
                fprintf(f, "{\"text\": \"the %s app\", \"label\": \"%s\"}\n",
                        pos ? POS[(seed >> 8) % 4] : NEG[(seed >> 8) % 4],
                        pos ^ flip ? "pos" : "neg");
        }
        fclose(f);
}

/* Sum of |w - w0| over the tensors of two adapter files. */
static double
distance(const char *a, const char *b)
{
        socfw_modelfile *ma = NULL, *mb = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open(&ma, a, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_modelfile_open(&mb, b, &err), 0, "%s", err.message);
        double d = 0;
        for (size_t i = 0; i < socfw_modelfile_n_tensors(ma); i++) {
                const socfw_tensor_info *x = socfw_modelfile_tensor(ma, i);
                const socfw_tensor_info *y = socfw_modelfile_find(mb, x->name);
                cr_assert_not_null(y);
                float *u = malloc((size_t)x->nelem * sizeof *u);
                float *v = malloc((size_t)x->nelem * sizeof *v);
                cr_assert_eq(socfw_modelfile_read_f32(ma, x, u,
                                                      (size_t)x->nelem, &err),
                             0);
                cr_assert_eq(socfw_modelfile_read_f32(mb, y, v,
                                                      (size_t)x->nelem, &err),
                             0);
                for (int64_t k = 0; k < x->nelem; k++)
                        d += fabs((double)u[k] - (double)v[k]);
                free(u);
                free(v);
        }
        socfw_modelfile_close(ma);
        socfw_modelfile_close(mb);
        return d;
}

/* Continue from a trained adapter on flipped labels with and without a
 * strong L2-SP: with it, the adapter stays much closer to its start. */
static double
continue_run(const char *dir, double l2sp)
{
        char y[4096];
        snprintf(y, sizeof y,
                 "socfw: 1\nthreads: 1\n"
                 "backbone: {model: run/backbone, max_seq_len: 16,"
                 " dropout: 0.0}\n"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [neg, pos]\n"
                 "    adapter: {from: run/adapters/sentiment}\n"
                 "    data: {train: flipped.jsonl, valid: valid.jsonl}\n"
                 "train: {lr: 1.0e-2, epochs: 4, batch_size: 16, seed: 7}\n"
                 "continual: {l2_sp: %g}\n"
                 "output: {dir: %s}\n",
                 l2sp, dir);
        socfw_pipeline *p = fx_load(y);
        char out[4400], a[4600], b[4600];
        snprintf(out, sizeof out, "%s/%s", fx.dir, dir);
        mkdir(out, 0755);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
        snprintf(a, sizeof a, "%s/adapters/sentiment/adapter_model.safetensors",
                 out);
        snprintf(b, sizeof b,
                 "%s/run/adapters/sentiment/adapter_model.safetensors",
                 fx.dir);
        return distance(a, b);
}

Test(continual, l2_sp_keeps_the_adapter_near_its_start)
{
        write_data("train.jsonl", 160, 3, 0);
        write_data("valid.jsonl", 40, 4, 0);
        write_data("flipped.jsonl", 160, 5, 1);
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 200; i++)
                fprintf(f, "the %s app %s\n", POS[i % 4], NEG[(i / 3) % 4]);
        fclose(f);
        socfw_pipeline *p = fx_load(
                "socfw: 1\nthreads: 1\n"
                "backbone: {arch: gpt2, hidden: 32, layers: 2, heads: 2,"
                " max_positions: 32, max_seq_len: 16, dropout: 0.0}\n"
                "pretrain: {corpus: [corpus.txt], steps: 10, batch_size: 8,"
                " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
                "tasks:\n"
                "  - name: sentiment\n"
                "    plugin: sentiment\n"
                "    labels: [neg, pos]\n"
                "    adapter: {type: lora, rank: 2, alpha: 4}\n"
                "    data: {train: train.jsonl, valid: valid.jsonl}\n"
                "train: {lr: 1.0e-2, epochs: 2, batch_size: 16, seed: 7}\n"
                "output: {dir: run}\n");
        char out[4400];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        mkdir(out, 0755);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
        double free_d = continue_run("free", 0);
        double held_d = continue_run("held", 100);
        cr_assert_gt(free_d, 0, "training moved the adapter");
        cr_assert_lt(held_d, 0.5 * free_d,
                     "L2-SP: %.4g vs %.4g without", held_d, free_d);
}
