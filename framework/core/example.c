/* example.c - what parse_example produces and evaluate consumes. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/data.h"
#include "socfw/log.h"
#include "socfw/metrics.h"
#include "socfw/report.h"

/* ---- examples ---- */

static void
item_clear(example_item *it)
{
        free(it->text);
        free(it->text_pair);
        free(it->multi);
        for (size_t i = 0; i < it->n_words; i++)
                free(it->words[i]);
        free(it->words);
        free(it->word_tags);
        free(it->lm_context);
        free(it->lm_target);
        memset(it, 0, sizeof *it);
}

socfw_example *
socfw_example_new(void)
{
        socfw_example *ex = calloc(1, sizeof *ex);
        if (!ex)
                return NULL;
        ex->cap = 4;
        ex->items = calloc(ex->cap, sizeof *ex->items);
        if (!ex->items) {
                free(ex);
                return NULL;
        }
        ex->n = 1;
        return ex;
}

void
socfw_example_free(socfw_example *ex)
{
        if (!ex)
                return;
        for (size_t i = 0; i < ex->n; i++)
                item_clear(&ex->items[i]);
        free(ex->items);
        free(ex);
}

void
socfw_example_reset(socfw_example *ex)
{
        for (size_t i = 0; i < ex->n; i++)
                item_clear(&ex->items[i]);
        ex->n = 1;
}

size_t
socfw_example_count(const socfw_example *ex)
{
        size_t n = ex->n;
        /* the current item counts once it has a target */
        if (n && ex->items[n - 1].kind == EXAMPLE_NONE)
                n--;
        return n;
}

const example_item *
socfw_example_item(const socfw_example *ex, size_t i)
{
        return i < socfw_example_count(ex) ? &ex->items[i] : NULL;
}

static example_item *
current(socfw_example *ex)
{
        return &ex->items[ex->n - 1];
}

static int
set_str(char **slot, const char *s)
{
        char *copy = strdup(s ? s : "");
        if (!copy)
                return SOCFW_ENOMEM;
        free(*slot);
        *slot = copy;
        return 0;
}

int
socfw_example_set_text(socfw_example *ex, const char *text)
{
        return set_str(&current(ex)->text, text);
}

int
socfw_example_set_text_pair(socfw_example *ex, const char *text)
{
        return set_str(&current(ex)->text_pair, text);
}

int
socfw_example_set_class(socfw_example *ex, int class_id)
{
        if (class_id < 0)
                return SOCFW_EINVAL;
        current(ex)->kind = EXAMPLE_CLASS;
        current(ex)->class_id = class_id;
        return 0;
}

int
socfw_example_set_multi_label(socfw_example *ex, const int *ids, size_t n)
{
        example_item *it = current(ex);
        int *copy = malloc((n ? n : 1) * sizeof *copy);
        if (!copy)
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (ids[i] < 0) {
                        free(copy);
                        return SOCFW_EINVAL;
                }
                copy[i] = ids[i];
        }
        free(it->multi);
        it->multi = copy;
        it->n_multi = n;
        it->kind = EXAMPLE_MULTI_LABEL;
        return 0;
}

int
socfw_example_set_word_tags(socfw_example *ex, const char *const *words,
                            const int *tags, size_t n)
{
        example_item *it = current(ex);
        char **w = calloc(n ? n : 1, sizeof *w);
        int *t = malloc((n ? n : 1) * sizeof *t);
        if (!w || !t) {
                free(w);
                free(t);
                return SOCFW_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                t[i] = tags[i];
                if (!(w[i] = strdup(words[i]))) {
                        for (size_t j = 0; j < i; j++)
                                free(w[j]);
                        free(w);
                        free(t);
                        return SOCFW_ENOMEM;
                }
        }
        for (size_t i = 0; i < it->n_words; i++)
                free(it->words[i]);
        free(it->words);
        free(it->word_tags);
        it->words = w;
        it->word_tags = t;
        it->n_words = n;
        it->kind = EXAMPLE_WORD_TAGS;
        return 0;
}

int
socfw_example_set_lm(socfw_example *ex, const char *context,
                     const char *target)
{
        example_item *it = current(ex);
        int rc = set_str(&it->lm_context, context);
        if (rc == 0)
                rc = set_str(&it->lm_target, target);
        if (rc == 0)
                it->kind = EXAMPLE_LM;
        return rc;
}

int
socfw_example_set_score(socfw_example *ex, double score)
{
        current(ex)->kind = EXAMPLE_SCORE;
        current(ex)->score = score;
        return 0;
}

int
socfw_example_next(socfw_example *ex)
{
        if (current(ex)->kind == EXAMPLE_NONE)
                return SOCFW_EINVAL; /* nothing to finish */
        if (ex->n == ex->cap) {
                size_t cap = ex->cap * 2;
                example_item *g = realloc(ex->items, cap * sizeof *g);
                if (!g)
                        return SOCFW_ENOMEM;
                memset(g + ex->cap, 0, (cap - ex->cap) * sizeof *g);
                ex->items = g;
                ex->cap = cap;
        }
        ex->n++;
        return 0;
}

/* ---- records: the part of the record API that plugin.h adds ---- */

char *
socfw_record_get_json(const socfw_record *rec, const char *field)
{
        json_t *v = socfw_record_get(rec, field);
        return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* ---- evaluation ---- */

void
socfw_eval_init(socfw_eval *ev, size_t n, const int *gold, const int *pred,
                const float *scores, size_t n_classes)
{
        memset(ev, 0, sizeof *ev);
        ev->n = n;
        ev->gold = gold;
        ev->pred = pred;
        ev->scores = scores;
        ev->n_classes = n_classes;
        ev->kind = SOCFW_TARGET_CLASS;
}

void
socfw_eval_clear(socfw_eval *ev)
{
        for (size_t i = 0; i < ev->n_records; i++)
                socfw_record_free(ev->records[i]);
        free(ev->records);
        for (size_t i = 0; i < ev->n_metrics; i++)
                free(ev->names[i]);
        free(ev->names);
        free(ev->values);
        free(ev->higher);
        free(ev->report);
        memset(ev, 0, sizeof *ev);
}

size_t
socfw_eval_count(const socfw_eval *ev)
{
        return ev->n;
}

socfw_target_kind
socfw_eval_kind(const socfw_eval *ev)
{
        return ev->kind;
}

/* Items with one class each: CLASS, and MULTI_LABEL as the host scores
 * it today (its single best class; gold -1). */
static int
has_classes(const socfw_eval *ev, size_t i)
{
        return i < ev->n && (ev->kind == SOCFW_TARGET_CLASS ||
                             ev->kind == SOCFW_TARGET_MULTI_LABEL);
}

int
socfw_eval_gold(const socfw_eval *ev, size_t i)
{
        return has_classes(ev, i) && ev->gold ? ev->gold[i] : -1;
}

int
socfw_eval_pred(const socfw_eval *ev, size_t i)
{
        return has_classes(ev, i) && ev->pred ? ev->pred[i] : -1;
}

const float *
socfw_eval_scores(const socfw_eval *ev, size_t i)
{
        return has_classes(ev, i) && ev->scores
                       ? ev->scores + i * ev->n_classes
                       : NULL;
}

size_t
socfw_eval_tags(const socfw_eval *ev, size_t i, const int **gold,
                const int **pred)
{
        int ok = ev->kind == SOCFW_TARGET_TAGS && ev->tag_off && i < ev->n;
        if (gold)
                *gold = ok ? ev->gold + ev->tag_off[i] : NULL;
        if (pred)
                *pred = ok ? ev->pred + ev->tag_off[i] : NULL;
        return ok ? ev->tag_off[i + 1] - ev->tag_off[i] : 0;
}

const socfw_record *
socfw_eval_record(socfw_eval *ev, size_t i)
{
        if (!ev || i >= ev->n || !ev->rows || !ev->ctx || !ev->source)
                return NULL;
        if (!ev->records_tried) {
                socfw_error err = {0};
                ev->records_tried = 1;
                if (socfw_task_read_records(ev->ctx, ev->source, ev->rows,
                                            ev->n, &ev->records,
                                            &ev->n_records, &err) < 0)
                        SOCFW_LOG_WARN("%s: cannot read the evaluated "
                                       "records again: %s",
                                       ev->source, err.message);
        }
        long r = ev->rows[i];
        return r > 0 && (size_t)r <= ev->n_records ? ev->records[r - 1]
                                                   : NULL;
}

int
socfw_eval_add_metric(socfw_eval *ev, const char *name, double value,
                      bool higher_is_better)
{
        for (size_t i = 0; i < ev->n_metrics; i++)
                if (strcmp(ev->names[i], name) == 0) {
                        ev->values[i] = value;
                        ev->higher[i] = higher_is_better;
                        return 0;
                }
        size_t n = ev->n_metrics + 1;
        char **names = realloc(ev->names, n * sizeof *names);
        if (!names)
                return SOCFW_ENOMEM;
        ev->names = names;
        double *values = realloc(ev->values, n * sizeof *values);
        if (!values)
                return SOCFW_ENOMEM;
        ev->values = values;
        bool *higher = realloc(ev->higher, n * sizeof *higher);
        if (!higher)
                return SOCFW_ENOMEM;
        ev->higher = higher;
        if (!(names[n - 1] = strdup(name)))
                return SOCFW_ENOMEM;
        values[n - 1] = value;
        higher[n - 1] = higher_is_better;
        ev->n_metrics = n;
        return 0;
}

int
socfw_eval_add_report(socfw_eval *ev, const char *text)
{
        return set_str(&ev->report, text);
}

int
socfw_eval_add_classification(socfw_eval *ev, const char *const *label_names,
                              size_t n_labels, socfw_error *err)
{
        socfw_confusion *cm = NULL;
        socfw_classification res = {0};
        int rc = socfw_confusion_new(&cm, n_labels, err);
        if (rc < 0)
                return rc;
        size_t n = ev->kind == SOCFW_TARGET_TAGS && ev->tag_off
                           ? ev->tag_off[ev->n]
                           : ev->n;
        for (size_t i = 0; ev->gold && ev->pred && i < n; i++)
                if (ev->gold[i] >= 0 && ev->pred[i] >= 0) /* else none */
                        socfw_confusion_add(cm, ev->gold[i], ev->pred[i]);
        rc = socfw_classification_compute(&res, cm, err);
        const struct { const char *name; double value; } figures[] = {
                {"accuracy", res.accuracy},
                {"macro_f1", res.macro_f1},
                {"weighted_f1", res.weighted_f1},
                {"macro_recall", res.macro_recall},
                {"macro_precision", res.macro_precision},
        };
        for (size_t i = 0;
             rc == 0 && i < sizeof figures / sizeof figures[0]; i++)
                rc = socfw_eval_add_metric(ev, figures[i].name,
                                           figures[i].value, true);
        char *text = NULL;
        if (rc == 0 &&
            !(text = socfw_report_classification_text(&res, cm, label_names,
                                                      4)))
                rc = SOCFW_ENOMEM;
        if (rc == 0)
                rc = socfw_eval_add_report(ev, text);
        if (rc == SOCFW_ENOMEM)
                rc = socfw_error_set(err, rc, "out of memory");
        free(text);
        socfw_classification_clear(&res);
        socfw_confusion_free(cm);
        return rc;
}

const char *
socfw_eval_source(const socfw_eval *ev)
{
        return ev ? ev->source : NULL;
}

const char *
socfw_eval_split(const socfw_eval *ev)
{
        return ev ? ev->split : NULL;
}
