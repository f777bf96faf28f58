/* socfw/metrics.h - evaluation metrics and the metrics registry.
 *
 *   - classification: confusion matrix, accuracy, per-class precision /
 *     recall / F1 / support, macro and weighted averages; multi-label
 *     micro / macro F1;
 *   - spans (NER, PII): exact-match per-type precision, recall, F1 and
 *     F-beta; BIO / IOBES tag sequences to entity spans (conlleval rules);
 *   - ranking: HitRate@K, NDCG@K, MRR;
 *   - generation: ROUGE-L, distinct-n, average length, perplexity;
 *   - a registry of named values ("sentiment.valid.macro_f1") that knows
 *     whether higher is better, for early stopping.
 *
 * A ratio with a zero denominator is 0, never NaN (as scikit-learn's
 * zero_division=0): a class that is never predicted has precision 0.
 *
 *     socfw_confusion *cm;
 *     socfw_confusion_new(&cm, 3, &err);
 *     for (i = 0; i < n; i++)
 *             socfw_confusion_add(cm, gold[i], pred[i]);
 *     socfw_classification res;
 *     socfw_classification_compute(&res, cm, &err);
 *     printf("macro F1 %.4f\n", res.macro_f1);
 *     socfw_classification_clear(&res);
 *     socfw_confusion_free(cm);
 */
#ifndef SOCFW_METRICS_H
#define SOCFW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- classification ---- */

typedef struct socfw_confusion {
        size_t n_classes;
        size_t *counts;         /* counts[true * n_classes + predicted] */
        size_t ignored;         /* add() calls with an out-of-range class */
} socfw_confusion;

/* Returns 0 and *out (free with socfw_confusion_free), or SOCFW_EINVAL
 * (n_classes 0) / SOCFW_ENOMEM. */
int socfw_confusion_new(socfw_confusion **out, size_t n_classes,
                        socfw_error *err);
void socfw_confusion_free(socfw_confusion *cm);

/* Count one example.  Classes outside [0, n_classes) are not counted but
 * tallied in cm->ignored; returns 0, or SOCFW_EINVAL for those. */
int socfw_confusion_add(socfw_confusion *cm, int truth, int predicted);

/* Count n examples (see add).  Returns 0 or SOCFW_EINVAL if any was out
 * of range (the others are still counted). */
int socfw_confusion_add_many(socfw_confusion *cm, const int *truth,
                             const int *predicted, size_t n);

size_t socfw_confusion_get(const socfw_confusion *cm, size_t truth,
                           size_t predicted);

typedef struct socfw_class_metrics {
        double precision, recall, f1;
        size_t support;         /* true examples of this class */
        size_t predicted;       /* examples predicted as this class */
} socfw_class_metrics;

typedef struct socfw_classification {
        size_t n_classes;
        socfw_class_metrics *per_class;         /* n_classes, owned */
        size_t total;
        double accuracy;
        double macro_precision, macro_recall, macro_f1;
        double weighted_precision, weighted_recall, weighted_f1;
} socfw_classification;

/* Compute every figure from a confusion matrix.  Macro averages run over
 * all n_classes classes (like scikit-learn given `labels`); weighted ones
 * weight by support.  With no examples everything is 0.  res->per_class
 * is allocated: release with socfw_classification_clear.  Returns 0 or
 * SOCFW_ENOMEM. */
int socfw_classification_compute(socfw_classification *res,
                                 const socfw_confusion *cm, socfw_error *err);
void socfw_classification_clear(socfw_classification *res);

/* ---- multi-label ---- */

typedef struct socfw_multilabel {
        size_t n_labels, n_examples;
        socfw_class_metrics *per_label;         /* owned */
        double micro_precision, micro_recall, micro_f1;
        double macro_precision, macro_recall, macro_f1;
        double subset_accuracy;                 /* exact set matches */
        double hamming_loss;                    /* wrong cells / all */
} socfw_multilabel;

/* truth and predicted are (n_examples, n_labels) 0/1 matrices (non-zero
 * is 1).  Release with socfw_multilabel_clear.  Returns 0 or
 * SOCFW_ENOMEM / SOCFW_EINVAL. */
int socfw_multilabel_compute(socfw_multilabel *res, const uint8_t *truth,
                             const uint8_t *predicted, size_t n_examples,
                             size_t n_labels, socfw_error *err);
void socfw_multilabel_clear(socfw_multilabel *res);

/* ---- spans / entities ---- */

#define SOCFW_SPAN_TYPE_MAX 48

typedef struct socfw_span {
        size_t start, end;                      /* tokens [start, end) */
        char type[SOCFW_SPAN_TYPE_MAX];         /* "PER", "EMAIL", ... */
} socfw_span;

/* Entity spans from a tag sequence, conlleval rules: tags "B-X", "I-X",
 * "E-X", "S-X", "O" (also "X" without prefix, treated as I-X).  An I-X
 * after O or after another type starts a new entity, as in conlleval.
 * Writes *out (caller frees; NULL when none) and *n_out.  Returns 0 or
 * SOCFW_ENOMEM. */
int socfw_bio_to_spans(const char *const *tags, size_t n, socfw_span **out,
                       size_t *n_out);

typedef struct socfw_span_type_metrics {
        char type[SOCFW_SPAN_TYPE_MAX];
        size_t tp, fp, fn;
        double precision, recall, f1, fbeta;
} socfw_span_type_metrics;

typedef struct socfw_span_scorer socfw_span_scorer;

/* `beta` for F-beta (2 for F2; recall weighs beta times more).
 * Returns 0 and *out (free with socfw_span_scorer_free). */
int socfw_span_scorer_new(socfw_span_scorer **out, double beta,
                          socfw_error *err);
void socfw_span_scorer_free(socfw_span_scorer *s);

/* Score one sequence: a predicted span is correct when a gold span has the
 * same start, end and type (each gold span matches at most once).
 * Returns 0 or SOCFW_ENOMEM. */
int socfw_span_scorer_add(socfw_span_scorer *s, const socfw_span *gold,
                          size_t n_gold, const socfw_span *pred,
                          size_t n_pred, socfw_error *err);

/* Score one pair of tag sequences (converted with socfw_bio_to_spans). */
int socfw_span_scorer_add_tags(socfw_span_scorer *s,
                               const char *const *gold,
                               const char *const *pred, size_t n,
                               socfw_error *err);

/* Score one pair of tag sequences word by word, as Presidio's evaluator
 * counts: each word whose tag names a type (B-, I-, E-, S- or bare) is a
 * one-word span of that type, so a name found in part earns part of the
 * credit. */
int socfw_span_scorer_add_words(socfw_span_scorer *s,
                                const char *const *gold,
                                const char *const *pred, size_t n,
                                socfw_error *err);

/* Types seen so far, sorted by name, and their figures (borrowed, valid
 * until the next add).  *overall gets the micro average over all types. */
size_t socfw_span_scorer_types(const socfw_span_scorer *s,
                               const socfw_span_type_metrics **types,
                               socfw_span_type_metrics *overall);

/* ---- entity-level evaluation of token tagging (framework/report/entities.c) ----
 *
 * seqeval-style: each sequence of tag ids becomes BIO spans (conlleval
 * rules, as socfw_bio_to_spans) and a predicted entity counts only when a
 * gold one has the same start, end and type.
 *
 *     socfw_entity_metrics em;
 *     socfw_entity_metrics_compute(&em, gold, pred, lens, n_seqs, names,
 *                                  n_tags, &err);
 *     printf("entity F1 %.4f\n", em.micro_f1);
 *     socfw_entity_metrics_clear(&em);
 */
typedef struct socfw_entity_metrics {
        size_t n_types;
        socfw_span_type_metrics *per_type;   /* owned, sorted by type; fbeta
                                                is F2                        */
        size_t tp, fp, fn;                   /* over all types               */
        double micro_precision, micro_recall, micro_f1, micro_f2;
        double macro_precision, macro_recall, macro_f1, macro_f2; /* mean
                                                over the types seen in gold
                                                or predictions               */
        size_t tokens, tokens_correct;
        double token_accuracy;               /* tags equal, O included       */
        /* Word level, as Presidio's evaluator counts
         * (socfw_span_scorer_add_words): a word that is type X in gold
         * and prediction is a hit.  Partly found names earn partial
         * credit here and none above.  Owned, sorted by type; fbeta is
         * F2. */
        size_t n_word_types;
        socfw_span_type_metrics *per_type_words;
} socfw_entity_metrics;

/* gold and pred hold the tag ids of n_seqs sequences back to back
 * (lens[s] tags each); tag_names[id] is "O", "B-PER", "I-PER", ... (an id
 * outside [0, n_tags) counts as O).  Returns 0, SOCFW_EINVAL or
 * SOCFW_ENOMEM; release with _clear. */
int socfw_entity_metrics_compute(socfw_entity_metrics *res, const int *gold,
                                 const int *pred, const size_t *lens,
                                 size_t n_seqs,
                                 const char *const *tag_names, size_t n_tags,
                                 socfw_error *err);
void socfw_entity_metrics_clear(socfw_entity_metrics *res);
/* The figures of one type (borrowed), or NULL when it was never seen. */
const socfw_span_type_metrics *
socfw_entity_metrics_type(const socfw_entity_metrics *res, const char *type);
/* A seqeval-like text table (caller frees); NULL when out of memory. */
char *socfw_entity_metrics_report(const socfw_entity_metrics *res);

/* ---- ranking ---- */

/* 1 if any relevant item is among the first min(k, n) ranked items.
 * k == 0 means the whole list.  No relevant items -> 0. */
double socfw_rank_hit_rate(const int64_t *ranked, size_t n,
                           const int64_t *relevant, size_t n_relevant,
                           size_t k);

/* Binary-relevance NDCG@k: DCG = sum 1/log2(rank+1) over relevant items in
 * the first k; IDCG the same for min(k, n_relevant) hits.  0 without
 * relevant items. */
double socfw_rank_ndcg(const int64_t *ranked, size_t n,
                       const int64_t *relevant, size_t n_relevant, size_t k);

/* 1/rank of the first relevant item within the first k (0: whole list),
 * 0 when none. */
double socfw_rank_mrr(const int64_t *ranked, size_t n,
                      const int64_t *relevant, size_t n_relevant, size_t k);

/* ---- generation ---- */

typedef struct socfw_rouge {
        double precision, recall, f;
} socfw_rouge;

/* ROUGE-L over token ids: LCS length / candidate length (precision),
 * / reference length (recall), F = (1+b^2)PR / (R + b^2 P) with b = beta
 * (1 -> F1).  Empty inputs give zeros.  Uses O(min(n,m)) memory. */
socfw_rouge socfw_rouge_l(const int32_t *cand, size_t n,
                          const int32_t *ref, size_t m, double beta);

/* Same over whitespace-separated words of two UTF-8 strings. */
socfw_rouge socfw_rouge_l_text(const char *cand, const char *ref,
                               double beta);

/* distinct-n over a set of sequences: unique n-grams / total n-grams
 * (0 when there are none).  n in 1..8. */
double socfw_distinct_n(const int32_t *const *seqs, const size_t *lens,
                        size_t n_seqs, size_t n);

/* Mean of lens (0 for no sequences). */
double socfw_mean_length(const size_t *lens, size_t n_seqs);

/* exp(total_nll / n_tokens); NaN when n_tokens is 0. */
double socfw_perplexity(double total_nll, size_t n_tokens);

/* ---- metrics registry ---- */

typedef struct socfw_metrics socfw_metrics;

/* Returns NULL when out of memory. */
socfw_metrics *socfw_metrics_new(void);
void socfw_metrics_free(socfw_metrics *m);

/* Direction a metric name implies: 0 (lower is better) when its last
 * component is or ends in "loss", "perplexity", "ppl", "error", "wer",
 * "cer" or "hamming_loss"; else 1. */
int socfw_metrics_default_higher_is_better(const char *name);

/* Set or replace a value.  higher_is_better: 1, 0, or -1 for the default
 * from the name.  Returns 0, SOCFW_EINVAL (empty name) or SOCFW_ENOMEM. */
int socfw_metrics_set(socfw_metrics *m, const char *name, double value,
                      int higher_is_better);

/* Look a value up.  Returns 0, or SOCFW_ENOTFOUND with a message listing
 * the names that exist (hint for early_stopping.metric). */
int socfw_metrics_get(const socfw_metrics *m, const char *name,
                      double *value, socfw_error *err);

/* 1 if higher is better for `name` (its recorded flag, or the default). */
int socfw_metrics_higher_is_better(const socfw_metrics *m, const char *name);

/* 1 if `candidate` improves on `best` by more than min_delta for this
 * metric's direction; NaN candidates never improve. */
int socfw_metrics_improves(const socfw_metrics *m, const char *name,
                           double candidate, double best, double min_delta);

size_t socfw_metrics_count(const socfw_metrics *m);
/* Entry i in insertion order (borrowed name); NULL when out of range. */
const char *socfw_metrics_name(const socfw_metrics *m, size_t i,
                               double *value, int *higher_is_better);

/* Set prefix.accuracy, prefix.macro_f1, prefix.macro_recall,
 * prefix.macro_precision, prefix.weighted_f1.  Returns 0 or an error. */
int socfw_metrics_add_classification(socfw_metrics *m, const char *prefix,
                                     const socfw_classification *res);

/* Set prefix.f1, .precision, .recall, .f2 (micro over entities),
 * .macro_f1, .macro_precision, .macro_recall, .token_accuracy and, per
 * type, prefix.<TYPE>.precision/.recall/.f1/.f2 (entities.c).  Returns 0
 * or an error. */
int socfw_metrics_add_entities(socfw_metrics *m, const char *prefix,
                               const socfw_entity_metrics *res);

/* {"name": value, ...} (new reference, caller decrefs; NULL on OOM).
 * Non-finite values become null. */
json_t *socfw_metrics_to_json(const socfw_metrics *m);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_METRICS_H */
