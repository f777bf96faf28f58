/* metrics.c - classification, multi-label and span metrics. */
#include "socfw/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double
ratio(double num, double den)
{
        return den > 0 ? num / den : 0.0;
}

static double
fbeta(double p, double r, double beta)
{
        double b2 = beta * beta;
        double den = b2 * p + r;
        return den > 0 ? (1 + b2) * p * r / den : 0.0;
}

/* ---- confusion matrix ---- */

int
socfw_confusion_new(socfw_confusion **out, size_t n_classes, socfw_error *err)
{
        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "confusion: NULL argument");
        *out = NULL;
        if (n_classes == 0 || n_classes > 65536)
                return socfw_error_set(err, SOCFW_EINVAL, "confusion matrix: "
                                       "%zu classes, expected 1..65536",
                                       n_classes);
        socfw_confusion *cm = calloc(1, sizeof *cm);
        if (!cm)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        cm->n_classes = n_classes;
        cm->counts = calloc(n_classes * n_classes, sizeof *cm->counts);
        if (!cm->counts) {
                free(cm);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        *out = cm;
        return 0;
}

void
socfw_confusion_free(socfw_confusion *cm)
{
        if (!cm)
                return;
        free(cm->counts);
        free(cm);
}

int
socfw_confusion_add(socfw_confusion *cm, int truth, int predicted)
{
        if (!cm)
                return SOCFW_EINVAL;
        if (truth < 0 || predicted < 0 || (size_t)truth >= cm->n_classes ||
            (size_t)predicted >= cm->n_classes) {
                cm->ignored++;
                return SOCFW_EINVAL;
        }
        cm->counts[(size_t)truth * cm->n_classes + (size_t)predicted]++;
        return 0;
}

int
socfw_confusion_add_many(socfw_confusion *cm, const int *truth,
                         const int *predicted, size_t n)
{
        int rc = 0;
        for (size_t i = 0; i < n; i++)
                if (socfw_confusion_add(cm, truth[i], predicted[i]) < 0)
                        rc = SOCFW_EINVAL;
        return rc;
}

size_t
socfw_confusion_get(const socfw_confusion *cm, size_t truth, size_t predicted)
{
        if (!cm || truth >= cm->n_classes || predicted >= cm->n_classes)
                return 0;
        return cm->counts[truth * cm->n_classes + predicted];
}

/* ---- classification ---- */

int
socfw_classification_compute(socfw_classification *res,
                             const socfw_confusion *cm, socfw_error *err)
{
        if (!res || !cm)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "classification: NULL argument");
        memset(res, 0, sizeof *res);
        size_t K = cm->n_classes;
        res->per_class = calloc(K, sizeof *res->per_class);
        if (!res->per_class)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        res->n_classes = K;
        size_t correct = 0;
        for (size_t t = 0; t < K; t++)
                for (size_t p = 0; p < K; p++) {
                        size_t c = cm->counts[t * K + p];
                        res->per_class[t].support += c;
                        res->per_class[p].predicted += c;
                        res->total += c;
                        if (t == p)
                                correct += c;
                }
        res->accuracy = ratio((double)correct, (double)res->total);
        for (size_t k = 0; k < K; k++) {
                socfw_class_metrics *m = &res->per_class[k];
                double tp = (double)cm->counts[k * K + k];
                m->precision = ratio(tp, (double)m->predicted);
                m->recall = ratio(tp, (double)m->support);
                m->f1 = fbeta(m->precision, m->recall, 1.0);
                res->macro_precision += m->precision / (double)K;
                res->macro_recall += m->recall / (double)K;
                res->macro_f1 += m->f1 / (double)K;
                double w = ratio((double)m->support, (double)res->total);
                res->weighted_precision += w * m->precision;
                res->weighted_recall += w * m->recall;
                res->weighted_f1 += w * m->f1;
        }
        return 0;
}

void
socfw_classification_clear(socfw_classification *res)
{
        if (!res)
                return;
        free(res->per_class);
        memset(res, 0, sizeof *res);
}

/* ---- multi-label ---- */

int
socfw_multilabel_compute(socfw_multilabel *res, const uint8_t *truth,
                         const uint8_t *predicted, size_t n_examples,
                         size_t n_labels, socfw_error *err)
{
        if (!res || (n_examples && n_labels && (!truth || !predicted)))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "multi-label: NULL argument");
        memset(res, 0, sizeof *res);
        if (n_labels == 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "multi-label: no labels");
        res->per_label = calloc(n_labels, sizeof *res->per_label);
        size_t *tp = calloc(n_labels, sizeof *tp);
        if (!res->per_label || !tp) {
                free(tp);
                free(res->per_label);
                res->per_label = NULL;
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        res->n_labels = n_labels;
        res->n_examples = n_examples;
        size_t exact = 0, wrong = 0, TP = 0, P = 0, S = 0;
        for (size_t i = 0; i < n_examples; i++) {
                int same = 1;
                for (size_t l = 0; l < n_labels; l++) {
                        int t = truth[i * n_labels + l] != 0;
                        int p = predicted[i * n_labels + l] != 0;
                        res->per_label[l].support += (size_t)t;
                        res->per_label[l].predicted += (size_t)p;
                        tp[l] += (size_t)(t && p);
                        if (t != p) {
                                same = 0;
                                wrong++;
                        }
                }
                exact += (size_t)same;
        }
        for (size_t l = 0; l < n_labels; l++) {
                socfw_class_metrics *m = &res->per_label[l];
                m->precision = ratio((double)tp[l], (double)m->predicted);
                m->recall = ratio((double)tp[l], (double)m->support);
                m->f1 = fbeta(m->precision, m->recall, 1.0);
                res->macro_precision += m->precision / (double)n_labels;
                res->macro_recall += m->recall / (double)n_labels;
                res->macro_f1 += m->f1 / (double)n_labels;
                TP += tp[l];
                P += m->predicted;
                S += m->support;
        }
        res->micro_precision = ratio((double)TP, (double)P);
        res->micro_recall = ratio((double)TP, (double)S);
        res->micro_f1 = fbeta(res->micro_precision, res->micro_recall, 1.0);
        res->subset_accuracy = ratio((double)exact, (double)n_examples);
        res->hamming_loss = ratio((double)wrong,
                                  (double)n_examples * (double)n_labels);
        free(tp);
        return 0;
}

void
socfw_multilabel_clear(socfw_multilabel *res)
{
        if (!res)
                return;
        free(res->per_label);
        memset(res, 0, sizeof *res);
}

/* ---- BIO / IOBES -> spans (conlleval rules) ---- */

typedef struct tag_parts {
        char tag;               /* 'B', 'I', 'E', 'S' or 'O' */
        const char *type;
        size_t type_len;
} tag_parts;

static tag_parts
split_tag(const char *s)
{
        tag_parts tp = {'O', "", 0};
        if (!s || !*s || !strcmp(s, "O"))
                return tp;
        if ((s[0] == 'B' || s[0] == 'I' || s[0] == 'E' || s[0] == 'S') &&
            (s[1] == '-' || s[1] == '_')) {
                tp.tag = s[0];
                tp.type = s + 2;
        } else {
                tp.tag = 'I';   /* bare type: inside an entity */
                tp.type = s;
        }
        tp.type_len = strlen(tp.type);
        return tp;
}

static int
same_type(tag_parts a, tag_parts b)
{
        return a.type_len == b.type_len &&
               !memcmp(a.type, b.type, a.type_len);
}

static int
chunk_ends(tag_parts prev, tag_parts cur)
{
        if (prev.tag == 'E' || prev.tag == 'S')
                return 1;
        if ((prev.tag == 'B' || prev.tag == 'I') &&
            (cur.tag == 'B' || cur.tag == 'S' || cur.tag == 'O'))
                return 1;
        if (prev.tag != 'O' && !same_type(prev, cur))
                return 1;
        return 0;
}

static int
chunk_starts(tag_parts prev, tag_parts cur)
{
        if (cur.tag == 'B' || cur.tag == 'S')
                return 1;
        if ((prev.tag == 'E' || prev.tag == 'S' || prev.tag == 'O') &&
            (cur.tag == 'I' || cur.tag == 'E'))
                return 1;
        if (cur.tag != 'O' && !same_type(prev, cur))
                return 1;
        return 0;
}

int
socfw_bio_to_spans(const char *const *tags, size_t n, socfw_span **out,
                   size_t *n_out)
{
        *out = NULL;
        *n_out = 0;
        socfw_span *spans = NULL;
        size_t ns = 0, cap = 0, start = 0;
        int in_chunk = 0;
        tag_parts prev = {'O', "", 0};
        for (size_t i = 0; i <= n; i++) {
                tag_parts cur = i < n ? split_tag(tags[i])
                                      : (tag_parts){'O', "", 0};
                if (in_chunk && chunk_ends(prev, cur)) {
                        if (ns == cap) {
                                cap = cap ? cap * 2 : 8;
                                socfw_span *s = realloc(spans,
                                                        cap * sizeof *s);
                                if (!s) {
                                        free(spans);
                                        return SOCFW_ENOMEM;
                                }
                                spans = s;
                        }
                        spans[ns].start = start;
                        spans[ns].end = i;
                        snprintf(spans[ns].type, sizeof spans[ns].type,
                                 "%.*s", (int)prev.type_len, prev.type);
                        ns++;
                        in_chunk = 0;
                }
                if (chunk_starts(prev, cur)) {
                        start = i;
                        in_chunk = 1;
                }
                prev = cur;
        }
        *out = spans;
        *n_out = ns;
        return 0;
}

/* ---- span scorer ---- */

struct socfw_span_scorer {
        double beta;
        socfw_span_type_metrics *types;         /* sorted by name */
        size_t n_types, cap;
};

int
socfw_span_scorer_new(socfw_span_scorer **out, double beta, socfw_error *err)
{
        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "span scorer: NULL argument");
        *out = NULL;
        if (!(beta > 0))
                return socfw_error_set(err, SOCFW_EINVAL, "span scorer: "
                                       "beta must be positive, got %g", beta);
        socfw_span_scorer *s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        s->beta = beta;
        *out = s;
        return 0;
}

void
socfw_span_scorer_free(socfw_span_scorer *s)
{
        if (!s)
                return;
        free(s->types);
        free(s);
}

static socfw_span_type_metrics *
type_slot(socfw_span_scorer *s, const char *type)
{
        size_t lo = 0, hi = s->n_types;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(s->types[mid].type, type);
                if (c == 0)
                        return &s->types[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (s->n_types == s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 8;
                socfw_span_type_metrics *t = realloc(s->types,
                                                     ncap * sizeof *t);
                if (!t)
                        return NULL;
                s->types = t;
                s->cap = ncap;
        }
        memmove(&s->types[lo + 1], &s->types[lo],
                (s->n_types - lo) * sizeof *s->types);
        memset(&s->types[lo], 0, sizeof *s->types);
        snprintf(s->types[lo].type, sizeof s->types[lo].type, "%s", type);
        s->n_types++;
        return &s->types[lo];
}

static void
type_finish(socfw_span_type_metrics *t, double beta)
{
        t->precision = ratio((double)t->tp, (double)(t->tp + t->fp));
        t->recall = ratio((double)t->tp, (double)(t->tp + t->fn));
        t->f1 = fbeta(t->precision, t->recall, 1.0);
        t->fbeta = fbeta(t->precision, t->recall, beta);
}

int
socfw_span_scorer_add(socfw_span_scorer *s, const socfw_span *gold,
                      size_t n_gold, const socfw_span *pred, size_t n_pred,
                      socfw_error *err)
{
        int rc = 0;
        unsigned char *used = calloc(n_gold ? n_gold : 1, 1);
        if (!s || !used) {
                free(used);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n_pred; i++) {
                size_t j;
                for (j = 0; j < n_gold; j++)
                        if (!used[j] && gold[j].start == pred[i].start &&
                            gold[j].end == pred[i].end &&
                            !strcmp(gold[j].type, pred[i].type))
                                break;
                socfw_span_type_metrics *t = type_slot(s, pred[i].type);
                if (!t) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                if (j < n_gold) {
                        used[j] = 1;
                        t->tp++;
                } else {
                        t->fp++;
                }
        }
        for (size_t j = 0; j < n_gold; j++) {
                if (used[j])
                        continue;
                socfw_span_type_metrics *t = type_slot(s, gold[j].type);
                if (!t) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                t->fn++;
        }
        for (size_t k = 0; k < s->n_types; k++)
                type_finish(&s->types[k], s->beta);
out:
        free(used);
        return rc;
}

int
socfw_span_scorer_add_tags(socfw_span_scorer *s, const char *const *gold,
                           const char *const *pred, size_t n,
                           socfw_error *err)
{
        socfw_span *g = NULL, *p = NULL;
        size_t ng, np;
        int rc = socfw_bio_to_spans(gold, n, &g, &ng);
        if (rc == 0)
                rc = socfw_bio_to_spans(pred, n, &p, &np);
        if (rc < 0)
                rc = socfw_error_set(err, rc, "out of memory");
        else
                rc = socfw_span_scorer_add(s, g, ng, p, np, err);
        free(g);
        free(p);
        return rc;
}

/* The one-word span of word i when its tag names a type. */
static size_t
word_span(const char *tag, size_t i, socfw_span *out)
{
        tag_parts tp = split_tag(tag);
        if (tp.tag == 'O')
                return 0;
        out->start = i;
        out->end = i + 1;
        snprintf(out->type, sizeof out->type, "%.*s", (int)tp.type_len,
                 tp.type);
        return 1;
}

int
socfw_span_scorer_add_words(socfw_span_scorer *s, const char *const *gold,
                            const char *const *pred, size_t n,
                            socfw_error *err)
{
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                socfw_span g, p;
                size_t ng = word_span(gold[i], i, &g);
                size_t np = word_span(pred[i], i, &p);
                if (ng || np)
                        rc = socfw_span_scorer_add(s, &g, ng, &p, np, err);
        }
        return rc;
}

size_t
socfw_span_scorer_types(const socfw_span_scorer *s,
                        const socfw_span_type_metrics **types,
                        socfw_span_type_metrics *overall)
{
        if (types)
                *types = s ? s->types : NULL;
        if (overall) {
                memset(overall, 0, sizeof *overall);
                snprintf(overall->type, sizeof overall->type, "overall");
                for (size_t k = 0; s && k < s->n_types; k++) {
                        overall->tp += s->types[k].tp;
                        overall->fp += s->types[k].fp;
                        overall->fn += s->types[k].fn;
                }
                type_finish(overall, s ? s->beta : 1.0);
        }
        return s ? s->n_types : 0;
}
