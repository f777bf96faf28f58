/* tests/test_baseline.c - the classical baseline (framework/report/
 * baseline.c): TF-IDF features and logistic-regression decision values
 * against an independent Python/PyTorch implementation
 * (tests/fixtures/baseline/gen_baseline_fixture.py), a task it must learn,
 * bad input, and the section it adds to a pipeline's report. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "socfw/baseline.h"
#include "socfw/pipeline.h"
#include "socfw/runtime.h"
#include "socfw/threads.h"
#include "testutil.h"

static json_t *
fixture(void)
{
        char path[4096];
        socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                        "tests/fixtures/baseline/baseline.json");
        json_error_t je;
        json_t *j = json_load_file(path, 0, &je);
        cr_assert_not_null(j, "%s:%d: %s", path, je.line, je.text);
        return j;
}

/* texts of a JSON array (borrowed from the array) */
static const char **
texts_of(json_t *a, size_t *n)
{
        *n = json_array_size(a);
        const char **t = calloc(*n ? *n : 1, sizeof *t);
        for (size_t i = 0; i < *n; i++)
                t[i] = json_string_value(json_array_get(a, i));
        return t;
}

/* ---- TF-IDF against the reference ---- */

static void
check_block(const socfw_tfidf *v, int block, json_t *want, const int *idx,
            const double *val, size_t n, const char *text)
{
        const char *gram;
        json_t *x;
        json_object_foreach(want, gram, x) {
                int f = socfw_tfidf_feature(v, block, gram, strlen(gram));
                cr_assert_gt(f, 0, "'%s' of '%s' not in the vocabulary", gram,
                             text);
                size_t j = 0;
                while (j < n && idx[j] != f)
                        j++;
                cr_assert_lt(j, n, "'%s' of '%s' missing from its vector",
                             gram, text);
                cr_expect(fabs(val[j] - json_real_value(x)) < 1e-12,
                          "'%s' of '%s': %.15f, reference %.15f", gram, text,
                          val[j], json_real_value(x));
        }
}

Test(baseline, tfidf_matches_the_reference)
{
        json_t *fx_ = fixture();
        json_t *cases = json_object_get(fx_, "tfidf");
        cr_assert_eq(json_array_size(cases), 2);
        for (size_t c = 0; c < json_array_size(cases); c++) {
                json_t *k = json_array_get(cases, c);
                size_t n;
                const char **texts = texts_of(json_object_get(k, "texts"), &n);
                socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
                o.min_df = (int)json_integer_value(json_object_get(k,
                                                                   "min_df"));
                socfw_tfidf *v = NULL;
                socfw_error err = {0};
                cr_assert_eq(socfw_tfidf_fit(&v, texts, n, &o, &err), 0, "%s",
                             err.message);
                json_t *dfw = json_object_get(k, "df_words");
                json_t *dfc = json_object_get(k, "df_chars");
                /* the vocabulary is exactly the reference's */
                cr_assert_eq(socfw_tfidf_n_features(v),
                             json_object_size(dfw) + json_object_size(dfc),
                             "min_df %d: %zu features, reference %zu",
                             o.min_df, socfw_tfidf_n_features(v),
                             json_object_size(dfw) + json_object_size(dfc));
                json_t *blocks[2] = {dfw, dfc};
                for (int b = 0; b < 2; b++) {
                        const char *gram;
                        json_t *d;
                        json_object_foreach(blocks[b], gram, d) {
                                int f = socfw_tfidf_feature(v, b, gram,
                                                            strlen(gram));
                                cr_assert_gt(f, 0, "'%s' missing", gram);
                                cr_expect_eq(socfw_tfidf_df(v, f),
                                             (size_t)json_integer_value(d),
                                             "df of '%s'", gram);
                                double idf = log((1.0 + (double)n) /
                                                 (1.0 + (double)
                                                  json_integer_value(d))) + 1;
                                cr_expect(fabs(socfw_tfidf_idf(v, f) - idf) <
                                          1e-12, "idf of '%s'", gram);
                        }
                }
                /* every text's vector, value by value */
                json_t *docs = json_object_get(k, "docs");
                for (size_t i = 0; i < n; i++) {
                        json_t *d = json_array_get(docs, i);
                        int *idx;
                        double *val;
                        size_t m;
                        cr_assert_eq(socfw_tfidf_transform(v, texts[i], &idx,
                                                           &val, &m, &err),
                                     0);
                        size_t want = json_object_size(
                                              json_object_get(d, "words")) +
                                      json_object_size(
                                              json_object_get(d, "chars"));
                        cr_assert_eq(m, want, "'%s': %zu features, "
                                     "reference %zu", texts[i], m, want);
                        for (size_t j = 1; j < m; j++)
                                cr_assert_lt(idx[j - 1], idx[j],
                                             "indices not ascending");
                        check_block(v, SOCFW_TFIDF_WORDS,
                                    json_object_get(d, "words"), idx, val, m,
                                    texts[i]);
                        check_block(v, SOCFW_TFIDF_CHARS,
                                    json_object_get(d, "chars"), idx, val, m,
                                    texts[i]);
                        free(idx);
                        free(val);
                }
                /* not in the vocabulary: no feature */
                cr_expect_eq(socfw_tfidf_feature(v, SOCFW_TFIDF_WORDS,
                                                 "zebra", 5), 0);
                cr_expect_eq(socfw_tfidf_feature(v, 7, "hello", 5), 0);
                socfw_tfidf_free(v);
                free(texts);
        }
        json_decref(fx_);
}

/* ---- logistic regression against the reference ---- */

/* Train on each case of the fixture's `key` and compare the decision
 * values of its test texts with the reference's. */
static void
check_against_reference(const char *key, int multinomial, size_t want_cases,
                        double eps, double tol)
{
        json_t *fx_ = fixture();
        json_t *cases = json_object_get(fx_, key);
        cr_assert_eq(json_array_size(cases), want_cases);
        for (size_t c = 0; c < json_array_size(cases); c++) {
                json_t *k = json_array_get(cases, c);
                size_t n, nt;
                const char **train = texts_of(json_object_get(k, "train"), &n);
                const char **test = texts_of(json_object_get(k, "test"), &nt);
                json_t *lab = json_object_get(k, "labels");
                int *labels = calloc(n, sizeof *labels);
                for (size_t i = 0; i < n; i++)
                        labels[i] = (int)json_integer_value(
                                json_array_get(lab, i));
                size_t K = (size_t)json_integer_value(
                        json_object_get(k, "n_classes"));
                socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
                o.min_df = (int)json_integer_value(json_object_get(k,
                                                                   "min_df"));
                o.C = json_real_value(json_object_get(k, "C"));
                o.eps = eps; /* to the optimum, as the reference */
                o.multinomial = multinomial;
                socfw_baseline *b = NULL;
                socfw_error err = {0};
                cr_assert_eq(socfw_baseline_train(&b, train, labels, n, K, &o,
                                                  &err),
                             0, "%s", err.message);
                double maxdiff = 0;
                for (size_t i = 0; i < nt; i++) {
                        double s[8];
                        int pred;
                        cr_assert_eq(socfw_baseline_predict(b, test[i], s,
                                                            &pred, &err),
                                     0);
                        json_t *want = json_array_get(
                                json_object_get(k, "scores"), i);
                        for (size_t q = 0; q < K; q++) {
                                json_t *wq = json_array_get(want, q);
                                if (json_is_null(wq)) { /* class absent */
                                        cr_expect(s[q] == -HUGE_VAL,
                                                  "%s case %zu: absent class "
                                                  "%zu scored %g", key, c, q,
                                                  s[q]);
                                        continue;
                                }
                                double d = fabs(s[q] - json_real_value(wq));
                                if (d > maxdiff)
                                        maxdiff = d;
                        }
                        cr_expect_eq(pred,
                                     (int)json_integer_value(json_array_get(
                                             json_object_get(k, "pred"), i)),
                                     "%s: '%s'", key, test[i]);
                }
                cr_log_info("%s, %zu classes: max |decision - reference| "
                            "%.2e", key, K, maxdiff);
                cr_expect_lt(maxdiff, tol, "%s, %zu classes: max difference "
                             "%.2e", key, K, maxdiff);
                socfw_baseline_free(b);
                free(labels);
                free(train);
                free(test);
        }
        json_decref(fx_);
}

Test(baseline, decision_values_match_the_reference)
{
        /* liblinear: two classes, and one-vs-rest for three */
        check_against_reference("lr", 0, 2, 1e-9, 1e-5);
}

Test(baseline, softmax_decision_values_match_the_reference)
{
        /* the default for three or more classes: one softmax model,
         * also with a class absent from training */
        check_against_reference("softmax", 1, 2, 1e-9, 1e-5);
}

Test(baseline, softmax_at_its_default_tolerance_predicts_as_the_optimum)
{
        /* the solver's own tolerance (0.01) is close enough to agree with
         * the optimum on every prediction of the fixture */
        json_t *fx_ = fixture();
        json_t *k = json_array_get(json_object_get(fx_, "softmax"), 0);
        size_t n, nt;
        const char **train = texts_of(json_object_get(k, "train"), &n);
        const char **test = texts_of(json_object_get(k, "test"), &nt);
        int *labels = calloc(n, sizeof *labels);
        for (size_t i = 0; i < n; i++)
                labels[i] = (int)json_integer_value(
                        json_array_get(json_object_get(k, "labels"), i));
        socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
        o.min_df = 1;
        socfw_baseline *b = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_baseline_train(&b, train, labels, n, 3, &o, &err),
                     0, "%s", err.message);
        for (size_t i = 0; i < nt; i++) {
                int pred;
                cr_assert_eq(socfw_baseline_predict(b, test[i], NULL, &pred,
                                                    &err), 0);
                cr_expect_eq(pred, (int)json_integer_value(json_array_get(
                                           json_object_get(k, "pred"), i)),
                             "'%s'", test[i]);
        }
        socfw_baseline_free(b);
        free(labels);
        free(train);
        free(test);
        json_decref(fx_);
}

/* Scores of `probe` after training on texts[0..n) on `threads` threads. */
static void
softmax_scores_on(int threads, const char *const *texts, const int *labels,
                  size_t n, const char *const *probe, size_t n_probe,
                  double *scores)
{
        socfw_threads_set(threads);
        socfw_baseline *b = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_baseline_train(&b, texts, labels, n, 3, NULL,
                                          &err),
                     0, "%s", err.message);
        for (size_t i = 0; i < n_probe; i++) {
                int k;
                cr_assert_eq(socfw_baseline_predict(b, probe[i],
                                                    scores + 3 * i, &k, &err),
                             0);
        }
        socfw_baseline_free(b);
}

Test(baseline, softmax_result_does_not_depend_on_the_thread_count)
{
        /* enough text that both passes of the solver split over threads */
        enum { N = 3000, PROBES = 50 };
        static char buf[N][96];
        static const char *texts[N];
        static int labels[N];
        unsigned seed = 11;
        for (size_t i = 0; i < N; i++) {
                int len = 0;
                labels[i] = (int)(i % 3);
                for (int w = 0; w < 8; w++) {
                        seed = seed * 1103515245u + 12345u;
                        len += snprintf(buf[i] + len, sizeof buf[i] - len,
                                        "%sw%u", w ? " " : "",
                                        (seed >> 8) % 400 +
                                                (w == 3 ? 400u * (unsigned)
                                                                  labels[i]
                                                        : 0u));
                }
                texts[i] = buf[i];
        }
        double one[3 * PROBES], two[3 * PROBES], three[3 * PROBES];
        softmax_scores_on(1, texts, labels, N, texts, PROBES, one);
        softmax_scores_on(2, texts, labels, N, texts, PROBES, two);
        softmax_scores_on(3, texts, labels, N, texts, PROBES, three);
        socfw_threads_set(0);
        cr_expect(memcmp(one, two, sizeof one) == 0,
                  "1 and 2 threads differ: %.17g vs %.17g", one[0], two[0]);
        cr_expect(memcmp(one, three, sizeof one) == 0,
                  "1 and 3 threads differ: %.17g vs %.17g", one[0], three[0]);
        int right = 0;
        for (size_t i = 0; i < PROBES; i++) {
                const double *s = one + 3 * i;
                int k = s[1] > s[0] ? (s[2] > s[1] ? 2 : 1)
                                    : (s[2] > s[0] ? 2 : 0);
                right += k == labels[i];
        }
        cr_expect_gt(right, PROBES * 9 / 10, "%d of %d training texts right",
                     right, PROBES);
}

/* ---- a task it must learn ---- */

static const char *const WORDS[3][4] = {
        {"awful", "terrible", "hate", "broken"},
        {"arrived", "monday", "menu", "number"},
        {"great", "love", "awesome", "wonderful"},
};
static const char *const FILL[] = {"the", "phone", "app", "today", "my",
                                   "service", "so", "really"};

Test(baseline, learns_a_clear_task)
{
        /* imbalanced: 60 / 20 / 8 */
        const size_t per[3] = {60, 20, 8};
        char buf[96][64];
        const char *texts[96];
        int labels[96];
        size_t n = 0;
        unsigned seed = 5;
        for (int k = 0; k < 3; k++)
                for (size_t i = 0; i < per[k]; i++) {
                        seed = seed * 1103515245u + 12345u;
                        snprintf(buf[n], sizeof buf[n], "%s %s %s",
                                 FILL[seed % 8], WORDS[k][(seed >> 8) % 4],
                                 FILL[(seed >> 16) % 8]);
                        texts[n] = buf[n];
                        labels[n++] = k;
                }
        socfw_baseline *b = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_baseline_train(&b, texts, labels, n, 3, NULL,
                                          &err),
                     0, "%s", err.message);
        const char *probe[] = {"really awful app", "it arrived on monday",
                               "love it, wonderful", "TERRIBLE!!",
                               "my menu number", "so awesome today"};
        const int want[] = {0, 1, 2, 0, 1, 2};
        for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
                int k;
                double s[3];
                cr_assert_eq(socfw_baseline_predict(b, probe[i], s, &k, &err),
                             0);
                cr_expect_eq(k, want[i], "'%s' -> %d (scores %.3f %.3f %.3f)",
                             probe[i], k, s[0], s[1], s[2]);
                cr_expect(s[k] >= s[0] && s[k] >= s[1] && s[k] >= s[2]);
        }
        socfw_baseline_free(b);
}

Test(baseline, one_class_and_empty_texts)
{
        const char *texts[] = {"", NULL, "same", "same same"};
        int labels[] = {1, 1, 1, 1};
        socfw_baseline *b = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_baseline_train(&b, texts, labels, 4, 3, NULL,
                                          &err),
                     0, "%s", err.message);
        int k = -1;
        double s[3];
        cr_assert_eq(socfw_baseline_predict(b, "anything", s, &k, &err), 0);
        cr_expect_eq(k, 1);
        cr_expect(isinf(s[0]) && s[0] < 0 && s[1] == 0);
        socfw_baseline_free(b);
        /* two classes, one of them never seen: still a valid prediction */
        int two[] = {0, 2, 0, 2};
        cr_assert_eq(socfw_baseline_train(&b, texts, two, 4, 3, NULL, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_baseline_predict(b, NULL, s, &k, &err), 0);
        cr_expect(k == 0 || k == 2, "%d", k);
        cr_expect(isinf(s[1]) && s[1] < 0);
        socfw_baseline_free(b);
}

Test(baseline, bad_input_is_refused_or_read_safely)
{
        const char *texts[] = {"good one", "bad one"};
        int labels[] = {0, 5};
        socfw_baseline *b = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 2, 2, NULL,
                                          &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "text 1") &&
                  strstr(err.message, "class 5"), "%s", err.message);
        cr_expect_null(b);
        labels[1] = 1;
        socfw_error_clear(&err); /* the first error set wins */
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 0, 2, NULL,
                                          &err),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 2, 0, NULL,
                                          &err),
                     SOCFW_EINVAL);
        socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
        o.char_max_n = 99;
        socfw_error_clear(&err);
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 2, 2, &o, &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "n-grams"), "%s", err.message);
        o = (socfw_baseline_options)SOCFW_BASELINE_OPTIONS_INIT;
        o.C = 0;
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 2, 2, &o, &err),
                     SOCFW_EINVAL);
        o = (socfw_baseline_options)SOCFW_BASELINE_OPTIONS_INIT;
        o.eps = 1; /* a tolerance that would stop before the first step */
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 2, 2, &o, &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "eps"), "%s", err.message);
        o = (socfw_baseline_options)SOCFW_BASELINE_OPTIONS_INIT;
        o.max_iter = 0;
        cr_expect_eq(socfw_baseline_train(&b, texts, labels, 2, 2, &o, &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "max_iter"), "%s", err.message);
        /* invalid UTF-8, controls and a long text read without harm */
        const char *odd[] = {"\xff\xfe bad \xc3", "ok\x01\x02 fine",
                             "\xe6\x95", "good good"};
        int ol[] = {0, 1, 0, 1};
        cr_assert_eq(socfw_baseline_train(&b, odd, ol, 4, 2, NULL, &err), 0,
                     "%s", err.message);
        size_t L = 200000;
        char *big = malloc(L + 1);
        for (size_t i = 0; i < L; i++)
                big[i] = "ab \xc3\xa9\t"[i % 6];
        big[L] = 0;
        int k;
        cr_expect_eq(socfw_baseline_predict(b, big, NULL, &k, &err), 0);
        cr_expect(k == 0 || k == 1);
        cr_expect_eq(socfw_baseline_predict(b, "\xc0\x80\xed\xa0\x80", NULL,
                                            &k, &err),
                     0);
        free(big);
        socfw_baseline_free(b);
        socfw_baseline_free(NULL);
        socfw_tfidf_free(NULL);
}

/* ---- next to a pipeline's report ---- */

TestSuite(baseline_report, .init = fx_setup, .fini = fx_teardown,
          .timeout = 240);

static void
write_data(const char *name, int n, unsigned seed)
{
        FILE *f = socfw_test_create(fx.dir, name);
        for (int i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                int pos = (int)((seed >> 16) & 1);
                fprintf(f, "{\"text\": \"%s %s %s\", \"label\": \"%s\"}\n",
                        FILL[seed % 8], WORDS[pos ? 2 : 0][(seed >> 8) % 4],
                        FILL[(seed >> 12) % 8],
                        pos ? "positive" : "negative");
        }
        fclose(f);
}

static socfw_pipeline *
tiny(const char *evaluate)
{
        static char y[2048];
        FILE *f = socfw_test_create(fx.dir, "corpus.txt");
        for (int i = 0; i < 200; i++)
                fprintf(f, "%s %s %s\n", FILL[i % 8], WORDS[2][i % 4],
                        WORDS[0][(i / 3) % 4]);
        fclose(f);
        snprintf(y, sizeof y,
                 "socfw: 1\n"
                 "threads: 1\n"
                 "backbone: {arch: gpt2, hidden: 32, layers: 1, heads: 2,"
                 " max_positions: 32, max_seq_len: 16}\n"
                 "pretrain: {corpus: [corpus.txt], steps: 5, batch_size: 8,"
                 " seq_len: 16, tokenizer: {vocab_size: 300}}\n"
                 "tasks:\n"
                 "  - name: sentiment\n"
                 "    plugin: sentiment\n"
                 "    labels: [negative, positive]\n"
                 "    data: {train: train.jsonl, valid: valid.jsonl}\n"
                 "train: {lr: 3.0e-3, epochs: 2, batch_size: 16, seed: 7}\n"
                 "%s"
                 "output: {dir: run}\n",
                 evaluate ? evaluate : "");
        return fx_load(y);
}

static char *
read_out(const char *out, const char *name)
{
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", out, name);
        return socfw_test_read_file(path, NULL);
}

Test(baseline_report, every_classification_report_shows_the_baseline)
{
        write_data("train.jsonl", 120, 1);
        write_data("valid.jsonl", 40, 2);
        socfw_pipeline *p = tiny(NULL);
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double f1 = -1, rec = -1, acc = -1;
        cr_assert_eq(socfw_runtime_metric(rt,
                                          "sentiment.valid.baseline.macro_f1",
                                          &f1),
                     0);
        cr_assert_eq(socfw_runtime_metric(
                             rt, "sentiment.valid.baseline.macro_recall",
                             &rec),
                     0);
        cr_assert_eq(socfw_runtime_metric(rt,
                                          "sentiment.valid.baseline.accuracy",
                                          &acc),
                     0);
        /* one sentiment word decides the class: the baseline sees it */
        cr_expect_gt(f1, 0.95, "baseline macro-F1 %.4f", f1);
        cr_expect_gt(rec, 0.95);
        cr_expect_gt(acc, 0.95);
        char *txt = read_out(out, "sentiment.valid.txt");
        cr_assert_not_null(txt);
        cr_expect(strstr(txt, "macro avg"), "%s", txt);
        const char *sec = strstr(txt, "baseline: TF-IDF");
        cr_assert_not_null(sec, "%s", txt);
        cr_expect(strstr(sec, "model vs baseline: macro_recall"), "%s", sec);
        cr_expect(strstr(sec, "120 training texts"), "%s", sec);
        cr_expect(strstr(sec, "(liblinear, C=2, balanced"), "two classes: "
                  "liblinear's model; %s", sec);
        cr_expect(strstr(sec, "confusion matrix"), "%s", sec);
        /* the model's table comes first, the baseline's after it */
        cr_expect_lt(strstr(txt, "macro avg"), sec);
        free(txt);
        char *js = read_out(out, "sentiment.valid.baseline.json");
        cr_assert_not_null(js);
        json_t *j = json_loads(js, 0, NULL);
        cr_assert_not_null(j);
        cr_expect_eq(json_array_size(json_object_get(j, "confusion_matrix")),
                     2);
        cr_expect(fabs(json_real_value(json_object_get(
                               json_object_get(j, "macro avg"), "f1-score")) -
                       f1) < 1e-9);
        cr_expect_eq(json_integer_value(json_object_get(j, "train_texts")),
                     120);
        json_decref(j);
        free(js);

        /* the validations during training trained it once; the next
         * evaluation on the same data reuses that result */
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        txt = read_out(out, "sentiment.valid.txt");
        cr_expect(strstr(txt, "kept from an earlier evaluation"), "%s", txt);
        double f1b = -1;
        socfw_runtime_metric(rt, "sentiment.valid.baseline.macro_f1", &f1b);
        cr_expect_eq(f1b, f1);
        free(txt);

        /* other data (socfw evaluate --input): trained again */
        write_data("valid.jsonl", 30, 3);
        socfw_runtime_free(rt);
        rt = socfw_test_runtime(p, out, 1);
        char *report = NULL;
        char valid[4200];
        snprintf(valid, sizeof valid, "%s/valid.jsonl", fx.dir);
        cr_assert_eq(socfw_runtime_evaluate_file(rt, "sentiment", valid,
                                                 &report, &err),
                     0, "%s", err.message);
        cr_assert_not_null(report);
        cr_expect(strstr(report, "baseline: TF-IDF") &&
                  !strstr(report, "kept from an earlier"), "%s", report);
        free(report);
        report = NULL;

        /* the training file gone: said in the report, not fatal */
        char train[4200];
        snprintf(train, sizeof train, "%s/train.jsonl", fx.dir);
        cr_assert_eq(remove(train), 0);
        cr_assert_eq(socfw_runtime_evaluate_file(rt, "sentiment", valid,
                                                 &report, &err),
                     0, "%s", err.message);
        cr_expect(strstr(report, "not computed") &&
                  strstr(report, "train.jsonl"), "%s", report);
        free(report);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

Test(baseline_report, evaluate_baseline_false_turns_it_off)
{
        write_data("train.jsonl", 60, 1);
        write_data("valid.jsonl", 20, 2);
        socfw_pipeline *p = tiny("evaluate: {baseline: false}\n");
        char out[4200];
        snprintf(out, sizeof out, "%s/run", fx.dir);
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_runtime_evaluate(rt, "valid", &err), 0, "%s",
                     err.message);
        double v;
        cr_expect_neq(socfw_runtime_metric(
                              rt, "sentiment.valid.baseline.macro_f1", &v),
                      0);
        char *txt = read_out(out, "sentiment.valid.txt");
        cr_assert_not_null(txt);
        cr_expect(!strstr(txt, "baseline"), "%s", txt);
        free(txt);
        struct stat st;
        char path[4400];
        snprintf(path, sizeof path, "%s/sentiment.valid.baseline.json", out);
        cr_expect_neq(stat(path, &st), 0);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
}

/* The class is given away by an e-mail address only (texts 2j and 2j+1
 * differ in nothing else): the baseline learns it from raw texts, and
 * cannot once the privacy stage has replaced the addresses, as it reads
 * what the model reads. */
static double
email_task_recall(const char *privacy)
{
        const char *file[2] = {"train.jsonl", "valid.jsonl"};
        for (int s = 0; s < 2; s++) {
                FILE *f = socfw_test_create(fx.dir, file[s]);
                for (int i = 0; i < (s ? 40 : 120); i++)
                        fprintf(f, "{\"text\": \"%s wrote from %s %s\", "
                                   "\"label\": \"%s\"}\n",
                                FILL[(i / 2) % 8],
                                i % 2 ? "zorblax@quixote.example"
                                      : "wimble@frobnitz.example",
                                FILL[(i / 16 + s) % 8],
                                i % 2 ? "positive" : "negative");
                fclose(f);
        }
        socfw_pipeline *p = tiny(privacy);
        char out[4200];
        snprintf(out, sizeof out, "%s/run-%s", fx.dir, privacy ? "p" : "raw");
        socfw_runtime *rt = socfw_test_runtime(p, out, 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_runtime_train(rt, &err), 0, "%s", err.message);
        double rec = -1;
        cr_assert_eq(socfw_runtime_metric(
                             rt, "sentiment.valid.baseline.macro_recall",
                             &rec),
                     0);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
        return rec;
}

Test(baseline_report, the_baseline_reads_anonymised_texts)
{
        double raw = email_task_recall(NULL);
        double anon = email_task_recall("privacy: {entities: [EMAIL_ADDRESS],"
                                        " operator: replace}\n");
        cr_log_info("baseline macro-recall: raw %.4f, anonymised %.4f", raw,
                    anon);
        cr_expect_gt(raw, 0.95, "raw texts: %.4f", raw);
        cr_expect(anon > 0.2 && anon < 0.8, "anonymised texts: %.4f", anon);
}
