/* entities.c - entity-level evaluation of token tagging (seqeval-style):
 * tag-id sequences -> BIO spans (conlleval rules, socfw_bio_to_spans) ->
 * exact-match precision / recall / F1 / F2 per type, micro and macro
 * averages, token accuracy, and per-type word-level figures (Presidio's
 * evaluator); a text report. */
#define _GNU_SOURCE /* open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/metrics.h"

/* ---- computing ---- */

static double
ratio(double a, double b)
{
        return b > 0 ? a / b : 0.0;
}

/* A scorer's per-type figures, copied (n may be 0). */
static socfw_span_type_metrics *
copy_types(const socfw_span_scorer *sc, size_t *n)
{
        const socfw_span_type_metrics *types = NULL;
        *n = socfw_span_scorer_types(sc, &types, NULL);
        socfw_span_type_metrics *out = calloc(*n ? *n : 1, sizeof *out);
        if (out && *n)
                memcpy(out, types, *n * sizeof *out);
        return out;
}

int
socfw_entity_metrics_compute(socfw_entity_metrics *res, const int *gold,
                             const int *pred, const size_t *lens,
                             size_t n_seqs, const char *const *tag_names,
                             size_t n_tags, socfw_error *err)
{
        if (!res)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "entity metrics: NULL result");
        memset(res, 0, sizeof *res);
        if (n_seqs && (!lens || !tag_names || !n_tags))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "entity metrics: sequences need "
                                       "lengths and tag names");
        socfw_span_scorer *sc = NULL, *words = NULL;
        const char **g = NULL, **p = NULL;
        size_t cap = 0, off = 0;
        int rc = socfw_span_scorer_new(&sc, 2.0, err);
        if (rc == 0)
                rc = socfw_span_scorer_new(&words, 2.0, err);
        for (size_t s = 0; rc == 0 && s < n_seqs; s++) {
                size_t n = lens[s];
                if (n > cap) {
                        const char **ng = realloc(g, n * sizeof *ng);
                        if (ng)
                                g = ng;
                        const char **np = ng ? realloc(p, n * sizeof *np)
                                             : NULL;
                        if (np)
                                p = np;
                        if (!ng || !np) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                break;
                        }
                        cap = n;
                }
                for (size_t i = 0; i < n; i++) {
                        int a = gold[off + i], b = pred[off + i];
                        /* an id outside the tag set counts as O */
                        g[i] = a >= 0 && (size_t)a < n_tags && tag_names[a]
                                       ? tag_names[a]
                                       : "O";
                        p[i] = b >= 0 && (size_t)b < n_tags && tag_names[b]
                                       ? tag_names[b]
                                       : "O";
                        res->tokens++;
                        res->tokens_correct += a == b;
                }
                off += n;
                rc = socfw_span_scorer_add_tags(sc, g, p, n, err);
                if (rc == 0)
                        rc = socfw_span_scorer_add_words(words, g, p, n, err);
        }
        if (rc == 0) {
                const socfw_span_type_metrics *types = NULL;
                socfw_span_type_metrics all;
                size_t nt = socfw_span_scorer_types(sc, &types, &all);
                res->per_type = copy_types(sc, &res->n_types);
                res->per_type_words = copy_types(words, &res->n_word_types);
                if (!res->per_type || !res->per_type_words) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                res->tp = all.tp;
                res->fp = all.fp;
                res->fn = all.fn;
                res->micro_precision = all.precision;
                res->micro_recall = all.recall;
                res->micro_f1 = all.f1;
                res->micro_f2 = all.fbeta;
                for (size_t k = 0; k < nt; k++) {
                        res->macro_precision += types[k].precision;
                        res->macro_recall += types[k].recall;
                        res->macro_f1 += types[k].f1;
                        res->macro_f2 += types[k].fbeta;
                }
                if (nt) {
                        res->macro_precision /= (double)nt;
                        res->macro_recall /= (double)nt;
                        res->macro_f1 /= (double)nt;
                        res->macro_f2 /= (double)nt;
                }
                res->token_accuracy = ratio((double)res->tokens_correct,
                                            (double)res->tokens);
        }
out:
        socfw_span_scorer_free(sc);
        socfw_span_scorer_free(words);
        free(g);
        free(p);
        if (rc < 0)
                socfw_entity_metrics_clear(res);
        return rc;
}

void
socfw_entity_metrics_clear(socfw_entity_metrics *res)
{
        if (!res)
                return;
        free(res->per_type);
        free(res->per_type_words);
        memset(res, 0, sizeof *res);
}

const socfw_span_type_metrics *
socfw_entity_metrics_type(const socfw_entity_metrics *res, const char *type)
{
        for (size_t k = 0; res && type && k < res->n_types; k++)
                if (!strcmp(res->per_type[k].type, type))
                        return &res->per_type[k];
        return NULL;
}

/* ---- registry and report ---- */

static int
set(socfw_metrics *m, const char *prefix, const char *key, double v)
{
        char name[512];
        if (prefix && *prefix)
                snprintf(name, sizeof name, "%s.%s", prefix, key);
        else
                snprintf(name, sizeof name, "%s", key);
        return socfw_metrics_set(m, name, v, 1);
}

int
socfw_metrics_add_entities(socfw_metrics *m, const char *prefix,
                           const socfw_entity_metrics *res)
{
        if (!m || !res)
                return SOCFW_EINVAL;
        const struct { const char *k; double v; } items[] = {
                {"f1", res->micro_f1},
                {"precision", res->micro_precision},
                {"recall", res->micro_recall},
                {"f2", res->micro_f2},
                {"macro_f1", res->macro_f1},
                {"macro_precision", res->macro_precision},
                {"macro_recall", res->macro_recall},
                {"token_accuracy", res->token_accuracy},
        };
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < sizeof items / sizeof items[0];
             i++)
                rc = set(m, prefix, items[i].k, items[i].v);
        for (size_t k = 0; rc == 0 && k < res->n_types; k++) {
                const socfw_span_type_metrics *t = &res->per_type[k];
                char key[128];
                snprintf(key, sizeof key, "%s.precision", t->type);
                rc = set(m, prefix, key, t->precision);
                snprintf(key, sizeof key, "%s.recall", t->type);
                if (rc == 0)
                        rc = set(m, prefix, key, t->recall);
                snprintf(key, sizeof key, "%s.f1", t->type);
                if (rc == 0)
                        rc = set(m, prefix, key, t->f1);
                snprintf(key, sizeof key, "%s.f2", t->type);
                if (rc == 0)
                        rc = set(m, prefix, key, t->fbeta);
        }
        for (size_t k = 0; rc == 0 && k < res->n_word_types; k++) {
                const socfw_span_type_metrics *t = &res->per_type_words[k];
                const struct { const char *k; double v; } w[] = {
                        {"word_precision", t->precision},
                        {"word_recall", t->recall},
                        {"word_f1", t->f1},
                        {"word_f2", t->fbeta},
                };
                for (size_t i = 0; rc == 0 && i < 4; i++) {
                        char key[128];
                        snprintf(key, sizeof key, "%s.%s", t->type, w[i].k);
                        rc = set(m, prefix, key, w[i].v);
                }
        }
        return rc;
}

char *
socfw_entity_metrics_report(const socfw_entity_metrics *res)
{
        if (!res)
                return NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fprintf(f, "%-24s %9s %9s %9s %9s %9s %9s\n", "entity", "precision",
                "recall", "f1", "f2", "support", "predicted");
        for (size_t k = 0; k < res->n_types; k++) {
                const socfw_span_type_metrics *t = &res->per_type[k];
                fprintf(f, "%-24s %9.4f %9.4f %9.4f %9.4f %9zu %9zu\n",
                        t->type, t->precision, t->recall, t->f1, t->fbeta,
                        t->tp + t->fn, t->tp + t->fp);
        }
        fprintf(f, "\n%-24s %9.4f %9.4f %9.4f %9.4f %9zu %9zu\n",
                "micro avg", res->micro_precision, res->micro_recall,
                res->micro_f1, res->micro_f2, res->tp + res->fn,
                res->tp + res->fp);
        fprintf(f, "%-24s %9.4f %9.4f %9.4f %9.4f %9zu %9zu\n", "macro avg",
                res->macro_precision, res->macro_recall, res->macro_f1,
                res->macro_f2, res->tp + res->fn, res->tp + res->fp);
        fprintf(f, "\ntoken accuracy %.4f (%zu of %zu tagged words)\n",
                res->token_accuracy, res->tokens_correct, res->tokens);
        if (res->n_word_types)
                fprintf(f, "\n%-24s %9s %9s %9s %9s %9s %9s\n",
                        "words (Presidio-style)", "precision", "recall",
                        "f1", "f2", "support", "predicted");
        for (size_t k = 0; k < res->n_word_types; k++) {
                const socfw_span_type_metrics *t = &res->per_type_words[k];
                fprintf(f, "%-24s %9.4f %9.4f %9.4f %9.4f %9zu %9zu\n",
                        t->type, t->precision, t->recall, t->f1, t->fbeta,
                        t->tp + t->fn, t->tp + t->fp);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
