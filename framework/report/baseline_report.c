/* baseline_report.c - the classical baseline next to a task's
 * classification report: both splits read through the task plugin as the
 * model reads them, the baseline trained (or its result reused from this
 * run), figures into the metrics and a section into the report (see
 * socfw_baseline_task_report in socfw/baseline.h). */
#include "socfw/baseline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/chain.h"
#include "socfw/config.h"
#include "socfw/data.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "socfw/report.h"

/* ---- next to a task's report ---- */

typedef struct corpus {
        char **text;
        int *label;
        size_t n, cap;
} corpus;

static void
corpus_clear(corpus *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->text[i]);
        free(c->text);
        free(c->label);
        memset(c, 0, sizeof *c);
}

/* Append (text is consumed). */
static int
corpus_push(corpus *c, char *text, int label)
{
        if (c->n == c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 1024;
                char **t = realloc(c->text, nc * sizeof *t);
                if (t)
                        c->text = t;
                int *l = t ? realloc(c->label, nc * sizeof *l) : NULL;
                if (!l) {
                        free(text);
                        return -1;
                }
                c->label = l;
                c->cap = nc;
        }
        c->text[c->n] = text;
        c->label[c->n++] = label;
        return 0;
}

/* The text the model reads: the pair joined by a space, through the
 * privacy stage when the pipeline anonymises its data (as the runtime's
 * rt_anonymise).  *out: caller frees. */
static int
model_text(socfw_task_ctx *privacy, const example_item *it, char **out,
           socfw_error *err)
{
        const char *a = it->text ? it->text : "";
        const char *b = it->text_pair;
        size_t la = strlen(a), lb = b ? strlen(b) : 0;
        char *t = malloc(la + lb + 2);
        *out = NULL;
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        memcpy(t, a, la);
        t[la] = 0;
        if (b) {
                t[la] = ' ';
                memcpy(t + la + 1, b, lb + 1);
        }
        if (!privacy) {
                *out = t;
                return 0;
        }
        socfw_post *post = socfw_post_new(t, NULL);
        free(t);
        if (!post)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = privacy->plugin->task->predict(privacy->state, post, err);
        if (rc == 0 && !(*out = strdup(socfw_post_text(post))))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        socfw_post_free(post);
        return rc;
}

typedef struct split_reading {
        socfw_task_ctx *privacy;
        corpus *c;
        socfw_error *err;
        int failed;             /* the error that stopped the reading */
} split_reading;

/* One example into the corpus: the text the model reads and its class.
 * Stops the reading (1) when the task is not single-label classification
 * or when the privacy stage or memory fails (not a fault of the row). */
static int
add_item(void *arg, const example_item *it, socfw_error *perr)
{
        split_reading *sr = arg;
        char *text;
        (void)perr;
        if (it->kind != EXAMPLE_CLASS)
                return 1;
        int rc = model_text(sr->privacy, it, &text, sr->err);
        if (rc == 0 && corpus_push(sr->c, text, it->class_id) < 0)
                rc = socfw_error_set(sr->err, SOCFW_ENOMEM, "out of memory");
        sr->failed = rc;
        return rc < 0 ? 1 : 0;
}

/* Read one data file through the task's parse_example, as the runtime
 * reads it for the model (whose reading already applied train.on_bad_row,
 * so bad rows are skipped here).  Returns 0, 1 when the task is not
 * single-label classification, or a negative code. */
static int
read_split(socfw_task_ctx *ctx, socfw_task_ctx *privacy, const char *split,
           const char *path, corpus *c, socfw_error *err)
{
        split_reading sr = {privacy, c, err, 0};
        int rc = socfw_task_read_file(ctx, path, split, 1, add_item, &sr,
                                      NULL, err);
        return sr.failed < 0 ? sr.failed : rc;
}

static void
sb_append(char **s, size_t *len, int *oom, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
sb_append(char **s, size_t *len, int *oom, const char *fmt, ...)
{
        va_list ap;
        if (*oom)
                return;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        char *ns = n >= 0 ? realloc(*s, *len + (size_t)n + 1) : NULL;
        if (!ns) {
                *oom = 1;
                return;
        }
        *s = ns;
        va_start(ap, fmt);
        vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        *len += (size_t)n;
}

static double
seconds_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* BLAKE2b-256 (hex) of everything the baseline's result depends on: the
 * recipe, the labels, and both splits' texts and classes. */
static void
fingerprint(const socfw_baseline_options *o, const char *const *names,
            size_t K, const corpus *tr, const corpus *te, char hex[65])
{
        crypto_generichash_state st;
        unsigned char h[32];
        char buf[256];
        crypto_generichash_init(&st, NULL, 0, sizeof h);
        int n = snprintf(buf, sizeof buf,
                         "socfw-baseline-2 %d %d %d %d %d %d %.17g %d %.17g "
                         "%d %d %zu",
                         o->word_min_n, o->word_max_n, o->char_min_n,
                         o->char_max_n, o->min_df, o->sublinear_tf, o->C,
                         o->balanced, o->eps, o->multinomial, o->max_iter,
                         K);
        crypto_generichash_update(&st, (const unsigned char *)buf,
                                  (size_t)n + 1);
        for (size_t k = 0; k < K; k++)
                crypto_generichash_update(
                        &st, (const unsigned char *)(names[k] ? names[k] : ""),
                        strlen(names[k] ? names[k] : "") + 1);
        const corpus *c[2] = {tr, te};
        for (int j = 0; j < 2; j++) {
                n = snprintf(buf, sizeof buf, "split %d %zu", j, c[j]->n);
                crypto_generichash_update(&st, (const unsigned char *)buf,
                                          (size_t)n + 1);
                for (size_t i = 0; i < c[j]->n; i++) {
                        n = snprintf(buf, sizeof buf, "%d", c[j]->label[i]);
                        crypto_generichash_update(
                                &st, (const unsigned char *)buf, (size_t)n + 1);
                        crypto_generichash_update(
                                &st, (const unsigned char *)c[j]->text[i],
                                strlen(c[j]->text[i]) + 1);
                }
        }
        crypto_generichash_final(&st, h, sizeof h);
        sodium_bin2hex(hex, 65, h, sizeof h);
}

/* A result saved by an earlier evaluation of this run with the same
 * fingerprint: fills cm (K x K), *n_features and *secs and returns 1;
 * 0 when there is none or it does not fit (then it is recomputed). */
static int
cache_load(const char *path, const char *fp, socfw_confusion *cm,
           size_t *n_features, double *secs)
{
        json_t *j = json_load_file(path, 0, NULL);
        json_t *rows = json_object_get(j, "confusion_matrix");
        const char *have = json_string_value(json_object_get(j,
                                                             "fingerprint"));
        size_t K = cm->n_classes;
        int ok = have && !strcmp(have, fp) && json_is_array(rows) &&
                 json_array_size(rows) == K &&
                 json_is_integer(json_object_get(j, "features")) &&
                 json_is_number(json_object_get(j, "seconds"));
        for (size_t t = 0; ok && t < K; t++) {
                json_t *row = json_array_get(rows, t);
                ok = json_is_array(row) && json_array_size(row) == K;
                for (size_t q = 0; ok && q < K; q++) {
                        json_t *v = json_array_get(row, q);
                        ok = json_is_integer(v) && json_integer_value(v) >= 0;
                        if (ok)
                                cm->counts[t * K + q] =
                                        (size_t)json_integer_value(v);
                }
        }
        if (ok) {
                json_int_t f = json_integer_value(json_object_get(j,
                                                                  "features"));
                *n_features = f > 0 ? (size_t)f : 0;
                *secs = json_number_value(json_object_get(j, "seconds"));
        } else {
                memset(cm->counts, 0, K * K * sizeof *cm->counts);
        }
        json_decref(j);
        return ok;
}

/* <task>.<split>.baseline.json: the fingerprint, the training set, and
 * the classification report with its confusion matrix. */
static int
cache_save(const char *path, const char *fp, const char *train,
           size_t n_train, size_t n_features, double secs,
           const socfw_classification *res, const socfw_confusion *cm,
           const char *const *names, socfw_error *err)
{
        json_t *j = socfw_report_classification_json(res, cm, names);
        char *text = NULL;
        int rc = 0;
        if (!j ||
            json_object_set_new(j, "fingerprint", json_string(fp)) < 0 ||
            json_object_set_new(j, "train", json_string(train)) < 0 ||
            json_object_set_new(j, "train_texts",
                                json_integer((json_int_t)n_train)) < 0 ||
            json_object_set_new(j, "features",
                                json_integer((json_int_t)n_features)) < 0 ||
            json_object_set_new(j, "seconds", json_real(secs)) < 0 ||
            !(text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc == 0)
                rc = socfw_file_write_atomic(path, text, strlen(text), err);
        free(text);
        json_decref(j);
        return rc;
}

int
socfw_baseline_task_report(socfw_task_ctx *ctx, socfw_task_ctx *privacy,
                           const socfw_pipeline *p, const char *split,
                           const char *path, const char *out_dir,
                           socfw_metrics *metrics, char **report,
                           socfw_error *err)
{
        const socfw_config *ev = p ? socfw_pipeline_section(p, "evaluate")
                                   : NULL;
        size_t K = ctx ? socfw_task_label_count(ctx) : 0;
        if (!ctx || !path || !split || K < 2 ||
            !ctx->plugin->task->parse_example ||
            (ev && !socfw_config_get_bool(ev, "baseline")))
                return 0;
        socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
        const char *train = socfw_config_get_string(ctx->cfg, "data.train");
        corpus tr = {0}, te = {0};
        socfw_baseline *b = NULL;
        socfw_confusion *cm = NULL;
        socfw_classification res = {0};
        socfw_error local = {0};
        const char **names = calloc(K, sizeof *names);
        char *table = NULL, *sec = NULL; /* the section, then appended */
        char *cache = NULL, fp[65];
        size_t len = 0, n_features = 0;
        int oom = !names, rc = 0, cached = 0;
        double t0 = seconds_now(), secs = 0;
        if (oom)
                goto out;
        for (size_t k = 0; k < K; k++)
                names[k] = socfw_task_label(ctx, k);
        /* read both splits as the model reads them */
        rc = train ? read_split(ctx, privacy, "train", train, &tr, &local)
                   : socfw_error_set(&local, SOCFW_ENOTFOUND,
                                     "the task has no data.train");
        if (rc == 0)
                rc = read_split(ctx, privacy, split, path, &te, &local);
        if (rc == 1) { /* not single-label classification: no section */
                rc = 0;
                goto out;
        }
        sb_append(&sec, &len, &oom, "baseline: TF-IDF (word %d-%d-grams + "
                  "char %d-%d-grams, sublinear tf, min_df %d) + logistic "
                  "regression (%s, C=%g, %s class weights) on the model's "
                  "training data\n",
                  o.word_min_n, o.word_max_n, o.char_min_n, o.char_max_n,
                  o.min_df,
                  K > 2 && o.multinomial ? "multinomial, L-BFGS"
                                         : K > 2 ? "one-vs-rest, liblinear"
                                                 : "liblinear",
                  o.C, o.balanced ? "balanced" : "equal");
        if (rc == 0 && (tr.n == 0 || te.n == 0))
                rc = socfw_error_set_at(&local, SOCFW_EFORMAT,
                                        tr.n ? path : train, 0, 0,
                                        "no usable examples");
        if (rc == 0)
                rc = socfw_confusion_new(&cm, K, &local);
        /* the same data as an earlier evaluation of this run: its result */
        if (rc == 0 && out_dir) {
                char file[600];
                snprintf(file, sizeof file, "%s.%s.baseline.json",
                         socfw_task_name(ctx), split);
                cache = socfw_path_join_alloc(out_dir, file);
                if (!cache)
                        rc = socfw_error_set(&local, SOCFW_ENOMEM,
                                             "out of memory");
                fingerprint(&o, names, K, &tr, &te, fp);
                cached = cache &&
                         cache_load(cache, fp, cm, &n_features, &secs);
        }
        if (rc == 0 && !cached) {
                rc = socfw_baseline_train(&b, (const char *const *)tr.text,
                                          tr.label, tr.n, K, &o, &local);
                for (size_t i = 0; rc == 0 && i < te.n; i++) {
                        int k;
                        rc = socfw_baseline_predict(b, te.text[i], NULL, &k,
                                                    &local);
                        if (rc == 0)
                                socfw_confusion_add(cm, te.label[i], k);
                }
                n_features = socfw_tfidf_n_features(
                        socfw_baseline_features(b));
                secs = seconds_now() - t0;
        }
        if (rc == 0)
                rc = socfw_classification_compute(&res, cm, &local);
        if (rc == 0 && cache && !cached &&
            cache_save(cache, fp, train, tr.n, n_features, secs, &res, cm,
                       names, &local) < 0)
                SOCFW_LOG_WARN("baseline: cannot save %s: %s", cache,
                               local.message);
        if (rc == SOCFW_ENOMEM) {
                rc = socfw_error_set(err, rc, "%s", local.message);
                goto out;
        }
        if (rc < 0) { /* said in the report, not fatal to the run */
                sb_append(&sec, &len, &oom, "  not computed: %s%s%s\n",
                          local.file[0] ? local.file : "",
                          local.file[0] ? ": " : "", local.message);
                rc = 0;
                goto append;
        }
        /* metrics, and how the model compares */
        char prefix[512], name[600];
        snprintf(prefix, sizeof prefix, "%s.%s.baseline",
                 socfw_task_name(ctx), split);
        if (metrics &&
            socfw_metrics_add_classification(metrics, prefix, &res) < 0)
                oom = 1;
        sb_append(&sec, &len, &oom, "  %zu training texts (%s), %zu "
                  "features, trained and scored in %.1f s%s\n", tr.n, train,
                  n_features, secs,
                  cached ? " (result kept from an earlier evaluation of "
                           "this run on the same data)"
                         : "");
        static const char *const cmp[] = {"macro_recall", "macro_f1",
                                          "accuracy"};
        double base[] = {res.macro_recall, res.macro_f1, res.accuracy};
        char diff[160] = "";
        size_t dl = 0;
        int shown = 0;
        for (size_t i = 0; metrics && i < 3; i++) {
                double v;
                snprintf(name, sizeof name, "%s.%s.%s", socfw_task_name(ctx),
                         split, cmp[i]);
                if (socfw_metrics_get(metrics, name, &v, NULL) < 0)
                        continue;
                sb_append(&sec, &len, &oom, "%s%s %.4f vs %.4f (%+.4f)",
                          shown++ ? ", " : "  model vs baseline: ", cmp[i],
                          v, base[i], v - base[i]);
                int w = snprintf(diff + dl, sizeof diff - dl, " %s %+.4f",
                                 cmp[i], v - base[i]);
                if (w > 0 && (size_t)w < sizeof diff - dl)
                        dl += (size_t)w;
        }
        if (shown)
                sb_append(&sec, &len, &oom, "\n");
        /* and one line on the console, next to the model's */
        SOCFW_LOG_INFO("%s %s baseline (TF-IDF + logistic regression): "
                       "accuracy %.4f macro_f1 %.4f macro_recall %.4f%s%s",
                       socfw_task_name(ctx), split, res.accuracy,
                       res.macro_f1, res.macro_recall,
                       shown ? "; model minus baseline:" : "", diff);
        table = socfw_report_classification_text(&res, cm, names, 4);
        if (!table)
                oom = 1;
        sb_append(&sec, &len, &oom, "\n%s", table ? table : "");
append:
        if (!oom && report) {
                size_t have = *report ? strlen(*report) : 0;
                char *r = realloc(*report, have + 1 + len + 1);
                if (!r) {
                        oom = 1;
                } else {
                        r[have] = 0;
                        if (have)
                                strcat(r, "\n");
                        strcat(r, sec);
                        *report = r;
                }
        }
out:
        if (oom && rc == 0)
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "baseline: out of memory");
        free(cache);
        free(sec);
        free(table);
        free(names);
        socfw_classification_clear(&res);
        socfw_confusion_free(cm);
        socfw_baseline_free(b);
        corpus_clear(&tr);
        corpus_clear(&te);
        return rc;
}
