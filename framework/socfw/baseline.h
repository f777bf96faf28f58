/* socfw/baseline.h - the classical baseline shown next to every
 * classification report: TF-IDF features + logistic regression.
 *
 * A transformer should earn its cost.  For each single-label
 * classification task socfw trains, in the same run and on the same
 * splits, the linear model practitioners reach for first, and prints its
 * figures under the model's own (<task>.<split>.txt) and as metrics
 * (<task>.<split>.baseline.macro_f1, .macro_recall, .accuracy, ...).
 *
 * Features, as scikit-learn's TfidfVectorizer computes them (two
 * vectorizers side by side, as a FeatureUnion):
 *   - words: the text lower-cased (Unicode simple case mapping, so "İ"
 *     and a final "Σ" differ from Python's str.lower), tokens are runs of
 *     two or more word characters (letters, digits, '_'; scikit-learn's
 *     \b\w\w+\b), 1- and 2-grams (a bigram is "w1 w2");
 *   - characters: the lower-cased text with runs of two or more white-space
 *     characters made one space, 2- to 5-grams of code points (spaces
 *     included);
 *   - each n-gram is identified by a 64-bit SipHash-2-4 of its UTF-8 bytes
 *     (libsodium's crypto_shorthash, fixed key): an exact vocabulary up to
 *     64-bit collisions, in memory proportional to the distinct n-grams of
 *     the training texts; n-grams in fewer than min_df training texts are
 *     dropped;
 *   - tf = 1 + ln(count) (sublinear), idf = ln((1 + n) / (1 + df)) + 1
 *     (smoothed), each block's vector l2-normalised on its own (so a text
 *     with both blocks has norm sqrt(2)).
 * Classifier: L2-regularised logistic regression, C = 2, balanced class
 * weights (class k's examples weighted n / (n_classes * n_k), over the
 * classes present in training):
 *   - two classes: liblinear's (primal trust-region Newton, bias term 1);
 *   - more: one softmax model over all classes (multinomial, scikit-
 *     learn's LogisticRegression default since 0.22: intercepts not
 *     penalised), minimised with libLBFGS; with multinomial = 0,
 *     liblinear's one-vs-rest instead (a problem per class; liblinear
 *     scales only the "one" side's C by its weight).  On sentiment-en
 *     valid the softmax model reaches macro-recall 0.761 where
 *     one-vs-rest reaches 0.753.
 * Both stop when the gradient's norm has fallen to eps times its
 * starting value.  Prediction: the class with the largest decision
 * value.
 *
 *     socfw_baseline_options o = SOCFW_BASELINE_OPTIONS_INIT;
 *     socfw_baseline *b;
 *     if (socfw_baseline_train(&b, texts, labels, n, 3, &o, &err) < 0)
 *             ...;
 *     int k;
 *     socfw_baseline_predict(b, "what a great day", NULL, &k, &err);
 *     socfw_baseline_free(b);
 */
#ifndef SOCFW_BASELINE_H
#define SOCFW_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/metrics.h"
#include "socfw/pipeline.h"
#include "socfw/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_baseline_options {
        int word_min_n, word_max_n;     /* word n-grams: 1..2             */
        int char_min_n, char_max_n;     /* character n-grams: 2..5        */
        int min_df;                     /* 2: drop n-grams seen in one
                                           training text only             */
        int sublinear_tf;               /* 1: tf = 1 + ln(count)          */
        double C;                       /* 2: inverse regularisation      */
        int balanced;                   /* 1: class weights n/(K n_k)     */
        double eps;                     /* stopping tolerance, relative
                                           gradient norm (0.01: liblinear's
                                           default); 0 < eps < 1          */
        int multinomial;                /* 1: one softmax model for more
                                           than two classes; 0: one-vs-rest */
        int max_iter;                   /* L-BFGS iterations at most
                                           (softmax model): 1000          */
} socfw_baseline_options;

#define SOCFW_BASELINE_OPTIONS_INIT \
        {1, 2, 2, 5, 2, 1, 2.0, 1, 0.01, 1, 1000}

/* ---- TF-IDF features ---- */

typedef struct socfw_tfidf socfw_tfidf;

/* The blocks of the feature vector. */
enum { SOCFW_TFIDF_WORDS = 0, SOCFW_TFIDF_CHARS = 1 };

/* Learn the vocabulary and document frequencies of texts[0..n) (n >= 1;
 * NULL texts count as empty).  n-gram ranges must satisfy 1 <= min <= max
 * <= 8 (min_n > max_n leaves that block out), min_df >= 1.  Returns 0 and
 * *out (free with socfw_tfidf_free) or SOCFW_EINVAL / SOCFW_ENOMEM. */
int socfw_tfidf_fit(socfw_tfidf **out, const char *const *texts, size_t n,
                    const socfw_baseline_options *o, socfw_error *err);
void socfw_tfidf_free(socfw_tfidf *v);

/* Number of features (word block first, then characters); indices run
 * from 1 to this (liblinear's convention). */
size_t socfw_tfidf_n_features(const socfw_tfidf *v);

/* The feature vector of `text` (invalid UTF-8 bytes read as U+FFFD):
 * *n entries, indices ascending in *idx, values in *val (both malloc'ed,
 * caller frees; NULL when *n is 0).  Returns 0 or SOCFW_ENOMEM. */
int socfw_tfidf_transform(const socfw_tfidf *v, const char *text, int **idx,
                          double **val, size_t *n, socfw_error *err);

/* The feature index of one n-gram of a block (`gram` as the analyser
 * produces it: lower-cased, words joined by one space), or 0 when it is
 * not in the vocabulary.  For tests and inspection. */
int socfw_tfidf_feature(const socfw_tfidf *v, int block, const char *gram,
                        size_t len);

/* Document frequency and idf of a feature index (0 / 0 when out of
 * range). */
size_t socfw_tfidf_df(const socfw_tfidf *v, int index);
double socfw_tfidf_idf(const socfw_tfidf *v, int index);

/* ---- the classifier ---- */

typedef struct socfw_baseline socfw_baseline;

/* Train on texts[0..n) with labels[i] in [0, n_classes) (n >= 1).
 * Returns 0 and *out (free with socfw_baseline_free), SOCFW_EINVAL (a
 * label out of range, bad options) or SOCFW_ENOMEM.  With one class
 * present the model always predicts it. */
int socfw_baseline_train(socfw_baseline **out, const char *const *texts,
                         const int *labels, size_t n, size_t n_classes,
                         const socfw_baseline_options *o, socfw_error *err);
void socfw_baseline_free(socfw_baseline *b);

/* The class of `text` in *label; `scores` (NULL, or n_classes values) gets
 * each class's decision value (-HUGE_VAL for classes absent from
 * training; two classes: +d / -d).  Returns 0 or SOCFW_ENOMEM. */
int socfw_baseline_predict(const socfw_baseline *b, const char *text,
                           double *scores, int *label, socfw_error *err);

/* The vectorizer inside (borrowed). */
const socfw_tfidf *socfw_baseline_features(const socfw_baseline *b);

/* ---- next to a task's report ---- */

/* The baseline for one classification task and split, as evaluation
 * writes it: reads the task's training file (data.train) and `path` (the
 * split evaluated) through the task plugin's parse_example with the
 * task's reader options (data.format, data.max_rows; bad rows skipped, as
 * the model's reading already applied train.on_bad_row), anonymised by
 * `privacy` (NULL: none) as the model's data is; trains on the one,
 * predicts the other, sets <task>.<split>.baseline.accuracy, .macro_f1,
 * .macro_recall, .macro_precision, .weighted_f1 in `metrics` (may be
 * NULL) and appends a section with the model-vs-baseline figures, the
 * classification report and confusion matrix to *report (malloc'ed or
 * NULL; reallocated; `report` may be NULL).
 *
 * With `out_dir` (may be NULL) the result is also written to
 * out_dir/<task>.<split>.baseline.json (the JSON classification report
 * plus a BLAKE2b fingerprint of the recipe, labels and both splits' texts
 * and classes); a later evaluation with the same fingerprint (the next
 * validation of the same run, a resumed run) reuses it instead of
 * training again.
 *
 * Does nothing (returns 0) when evaluate.baseline is false or the task is
 * not single-label classification.  A baseline that cannot be computed
 * (training file missing, no usable rows) is not an error: the section
 * says why.  Returns 0, or SOCFW_ENOMEM. */
int socfw_baseline_task_report(socfw_task_ctx *ctx, socfw_task_ctx *privacy,
                               const socfw_pipeline *p, const char *split,
                               const char *path, const char *out_dir,
                               socfw_metrics *metrics, char **report,
                               socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_BASELINE_H */
