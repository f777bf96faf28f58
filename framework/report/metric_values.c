/* metric_values.c - named metric values with a direction, for early stopping. */
#include "socfw/metrics.h"
#include "socfw/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
        char *name;
        double value;
        int higher;
} entry;

struct socfw_metrics {
        entry *e;
        size_t n, cap;
};

socfw_metrics *
socfw_metrics_new(void)
{
        return calloc(1, sizeof(socfw_metrics));
}

void
socfw_metrics_free(socfw_metrics *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++)
                free(m->e[i].name);
        free(m->e);
        free(m);
}

int
socfw_metrics_default_higher_is_better(const char *name)
{
        static const char *const lower[] = {
                "loss", "perplexity", "ppl", "error", "wer", "cer",
        };
        if (!name)
                return 1;
        const char *last = strrchr(name, '.');
        last = last ? last + 1 : name;
        for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++)
                if (socfw_str_ends_with(last, lower[i]))
                        return 0;
        return 1;
}

static entry *
find(const socfw_metrics *m, const char *name)
{
        for (size_t i = 0; m && name && i < m->n; i++)
                if (!strcmp(m->e[i].name, name))
                        return &m->e[i];
        return NULL;
}

int
socfw_metrics_set(socfw_metrics *m, const char *name, double value,
                  int higher_is_better)
{
        if (!m || !name || !*name)
                return SOCFW_EINVAL;
        int hib = higher_is_better < 0
                          ? socfw_metrics_default_higher_is_better(name)
                          : higher_is_better != 0;
        entry *e = find(m, name);
        if (e) {
                e->value = value;
                e->higher = hib;
                return 0;
        }
        if (m->n == m->cap) {
                size_t ncap = m->cap ? m->cap * 2 : 16;
                entry *ne = realloc(m->e, ncap * sizeof *ne);
                if (!ne)
                        return SOCFW_ENOMEM;
                m->e = ne;
                m->cap = ncap;
        }
        char *copy = strdup(name);
        if (!copy)
                return SOCFW_ENOMEM;
        m->e[m->n++] = (entry){copy, value, hib};
        return 0;
}

int
socfw_metrics_get(const socfw_metrics *m, const char *name, double *value,
                  socfw_error *err)
{
        entry *e = find(m, name);
        if (e) {
                if (value)
                        *value = e->value;
                return 0;
        }
        char known[600];
        size_t used = 0;
        known[0] = '\0';
        for (size_t i = 0; m && i < m->n && used < sizeof known; i++) {
                int w = snprintf(known + used, sizeof known - used, "%s%s",
                                 i ? ", " : "", m->e[i].name);
                if (w < 0 || (size_t)w >= sizeof known - used)
                        break;
                used += (size_t)w;
        }
        return socfw_error_set(err, SOCFW_ENOTFOUND, "unknown metric '%s' "
                               "(known: %s); hint: metric names are "
                               "<task>.<split>.<metric>", name ? name : "",
                               used ? known : "none yet");
}

int
socfw_metrics_higher_is_better(const socfw_metrics *m, const char *name)
{
        entry *e = find(m, name);
        return e ? e->higher : socfw_metrics_default_higher_is_better(name);
}

int
socfw_metrics_improves(const socfw_metrics *m, const char *name,
                       double candidate, double best, double min_delta)
{
        if (isnan(candidate))
                return 0;
        if (isnan(best))
                return 1;
        if (socfw_metrics_higher_is_better(m, name))
                return candidate > best + min_delta;
        return candidate < best - min_delta;
}

size_t
socfw_metrics_count(const socfw_metrics *m)
{
        return m ? m->n : 0;
}

const char *
socfw_metrics_name(const socfw_metrics *m, size_t i, double *value,
                   int *higher_is_better)
{
        if (!m || i >= m->n)
                return NULL;
        if (value)
                *value = m->e[i].value;
        if (higher_is_better)
                *higher_is_better = m->e[i].higher;
        return m->e[i].name;
}

int
socfw_metrics_add_classification(socfw_metrics *m, const char *prefix,
                                 const socfw_classification *res)
{
        if (!m || !res)
                return SOCFW_EINVAL;
        const struct { const char *k; double v; } items[] = {
                {"accuracy", res->accuracy},
                {"macro_f1", res->macro_f1},
                {"macro_recall", res->macro_recall},
                {"macro_precision", res->macro_precision},
                {"weighted_f1", res->weighted_f1},
        };
        for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
                char name[512];
                if (prefix && *prefix)
                        snprintf(name, sizeof name, "%s.%s", prefix,
                                 items[i].k);
                else
                        snprintf(name, sizeof name, "%s", items[i].k);
                int rc = socfw_metrics_set(m, name, items[i].v, 1);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

json_t *
socfw_metrics_to_json(const socfw_metrics *m)
{
        json_t *o = json_object();
        if (!o)
                return NULL;
        for (size_t i = 0; m && i < m->n; i++) {
                double v = m->e[i].value;
                json_t *j = isfinite(v) ? json_real(v) : json_null();
                if (!j || json_object_set_new(o, m->e[i].name, j) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}
