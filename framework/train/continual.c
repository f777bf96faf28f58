/* continual.c - continual re-fine-tuning (socfw/continual.h): the
 * continual: settings, the training and held-out files made from new data
 * plus a replay sample of the old, the gate, and loading a version's
 * adapter into a runtime (gate, predict, serve's reload). */
#define _GNU_SOURCE /* getline */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"
#include "socfw/adapter_store.h"
#include "socfw/continual.h"
#include "socfw/io.h"

/* ---- settings ---- */

static int
key_error(const socfw_config *c, const char *key, int code, socfw_error *err,
          const char *msg)
{
        return socfw_error_set_at(err, code, socfw_config_file(c),
                                  socfw_config_line(c, key),
                                  socfw_config_column(c, key),
                                  "continual.%s: %s", key, msg);
}

int
socfw_continual_settings_read(const socfw_pipeline *p, const char *task,
                              const char *data, socfw_continual_settings *s,
                              socfw_error *err)
{
        rt_continual_settings cs;
        rt_backbone_settings bb;
        rt_task_settings ts;
        rt_continual_settings_read(&cs, p);
        rt_backbone_settings_read(&bb, p);
        const socfw_config *c = cs.section;
        memset(s, 0, sizeof *s);
        s->task = task ? task : cs.task;
        s->data = data ? data : cs.data;
        if (!s->task) {         /* the only task with an adapter */
                size_t found = 0;
                for (size_t i = 0; i < socfw_pipeline_task_count(p); i++) {
                        const socfw_config *t = socfw_pipeline_task(p, i);
                        socfw_adapter_config ac;
                        if (!socfw_pipeline_task_head(p, i))
                                continue;
                        rt_task_settings_read(&ts, t, NULL, NULL);
                        if (rt_adapter_config_resolve(&ac, &ts.adapter,
                                                      &bb.adapter,
                                                      NULL) < 0 ||
                            ac.type == SOCFW_ADAPTER_NONE)
                                continue;
                        s->task = socfw_config_name(t);
                        found++;
                }
                if (found != 1)
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "%s: %s task with an adapter; hint: name "
                                "the task to continue (--task T or "
                                "continual.task)",
                                socfw_pipeline_path(p),
                                found ? "more than one" : "no");
        }
        int ti = socfw_pipeline_task_find(p, s->task);
        if (ti < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "%s has no task '%s'",
                                       socfw_pipeline_path(p), s->task);
        rt_task_settings_read(&ts, socfw_pipeline_task(p, (size_t)ti), NULL,
                              NULL);
        socfw_adapter_config ac;
        if (rt_adapter_config_resolve(&ac, &ts.adapter, &bb.adapter, err) <
            0)
                return SOCFW_ESCHEMA;
        /* (the task's own adapter.from: the backbone's is not counted) */
        if (ac.type == SOCFW_ADAPTER_NONE && !ts.adapter.from)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s' has no adapter: continual "
                                       "re-fine-tuning trains versions of "
                                       "a task's adapter (hint: give it "
                                       "adapter: {type: lora})",
                                       s->task);
        if (!s->data)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "no new data to continue on; hint: "
                                       "--data NEW.jsonl or continual.data");
        s->gate = cs.gate;
        if (!s->gate)
                s->gate = ts.data_valid;
        if (!s->gate)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s': no gate set; hint: set "
                                       "continual.gate or the task's "
                                       "data.valid",
                                       s->task);
        s->old_data = ts.data_train;
        s->max_rows = ts.max_rows;
        s->replay = cs.replay;
        s->holdout = cs.holdout;
        s->tolerance = cs.tolerance;
        s->min_gain = cs.min_gain;
        s->l2_sp = cs.l2_sp;
        rt_train_settings tr;
        rt_train_settings_read(&tr, p);
        s->seed = cs.seed >= 0 ? (uint64_t)cs.seed : tr.seed;
        s->metric = cs.metric;
        if (!s->metric) {
                /* the metric early stopping watches for this task */
                const char *es = tr.es_metric;
                size_t n = strlen(s->task);
                const char *dot = es ? strrchr(es, '.') : NULL;
                s->metric = es && !strncmp(es, s->task, n) && es[n] == '.' &&
                                            dot && dot[1]
                                    ? dot + 1
                                    : "macro_f1";
        }
        if (s->replay > 0 && !s->old_data)
                return key_error(c, "replay", SOCFW_EINVAL, err,
                                 "the task has no data.train to replay; "
                                 "hint: replay: 0");
        return 0;
}

/* ---- data ---- */

typedef struct rows {
        char **line;            /* the raw JSON line                       */
        uint64_t *text_hash;
        long *lineno;
        size_t n, cap;
} rows;

static void
rows_free(rows *r)
{
        for (size_t i = 0; i < r->n; i++)
                free(r->line[i]);
        free(r->line);
        free(r->text_hash);
        free(r->lineno);
        memset(r, 0, sizeof *r);
}

static uint64_t
text_hash(const char *s)
{
        /* whitespace-insensitive: the same post re-encoded still matches */
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
                        h = (h ^ (unsigned char)*s) * 1099511628211ull;
        return h;
}

/* Read JSON Lines: every row's raw line and text hash; with `labels`,
 * refuse labels outside them (collected over the whole file). */
static int
read_rows(const char *path, const char *text_field, const char *label_field,
          const char *const *labels, size_t n_labels, long max_rows,
          rows *r, socfw_error *err)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot open: %m");
        char *line = NULL, unknown[512] = "";
        size_t cap = 0, n_unknown = 0, n_bad = 0;
        long lineno = 0, first_bad = 0;
        ssize_t len;
        int rc = 0;
        while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
                lineno++;
                while (len > 0 && (line[len - 1] == '\n' ||
                                   line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (len == 0)
                        continue;
                if (max_rows > 0 && (long)r->n >= max_rows)
                        break;
                json_error_t je;
                json_t *doc = json_loadb(line, (size_t)len, 0, &je);
                const char *text = json_string_value(
                        json_object_get(doc, text_field));
                json_t *lab = json_object_get(doc, label_field);
                if (!doc || !text || (labels && !json_is_string(lab))) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, lineno,
                                doc ? 1 : je.column,
                                "%s", !doc ? je.text
                                      : !text ? "no text field"
                                              : "the label is not a string "
                                                "(continual data: "
                                                "single-label "
                                                "classification)");
                        if (doc && text)
                                socfw_error_prefix(err, rc, "field '%s'",
                                                   label_field);
                        else if (doc)
                                socfw_error_prefix(err, rc, "field '%s'",
                                                   text_field);
                        json_decref(doc);
                        break;
                }
                if (labels) {
                        const char *l = json_string_value(lab);
                        size_t k = 0;
                        while (k < n_labels && strcmp(labels[k], l))
                                k++;
                        if (k == n_labels) {
                                /* collect each unknown label once */
                                char quoted[200];
                                snprintf(quoted, sizeof quoted, "'%.150s'",
                                         l);
                                if (!strstr(unknown, quoted) &&
                                    strlen(unknown) + strlen(quoted) + 3 <
                                            sizeof unknown) {
                                        if (n_unknown++)
                                                strcat(unknown, ", ");
                                        strcat(unknown, quoted);
                                }
                                if (!n_bad++)
                                        first_bad = lineno;
                        }
                }
                uint64_t h = text_hash(text);
                json_decref(doc);
                if (r->n == r->cap) {
                        size_t nc = r->cap ? 2 * r->cap : 256;
                        char **nl = realloc(r->line, nc * sizeof *nl);
                        if (nl)
                                r->line = nl;
                        uint64_t *nh = realloc(r->text_hash, nc * sizeof *nh);
                        if (nh)
                                r->text_hash = nh;
                        long *nn = realloc(r->lineno, nc * sizeof *nn);
                        if (nn)
                                r->lineno = nn;
                        if (!nl || !nh || !nn) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                break;
                        }
                        r->cap = nc;
                }
                if (!(r->line[r->n] = strdup(line))) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        break;
                }
                r->text_hash[r->n] = h;
                r->lineno[r->n++] = lineno;
        }
        free(line);
        fclose(f);
        if (rc == 0 && n_bad) {
                char known[512];
                size_t off = 0;
                known[0] = '\0';
                for (size_t k = 0; k < n_labels && off + 2 < sizeof known;
                     k++)
                        off += (size_t)snprintf(known + off,
                                                sizeof known - off, "%s%s",
                                                k ? ", " : "", labels[k]);
                rc = socfw_error_set_at(
                        err, SOCFW_EINVAL, path, first_bad, 1,
                        "%zu row%s with label%s the task does not know: %s "
                        "(hint: the task's labels are %s; relabel the rows "
                        "or train a new task)",
                        n_bad, n_bad == 1 ? "" : "s",
                        n_unknown == 1 ? "" : "s", unknown, known);
        }
        if (rc == 0 && r->n == 0)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "no rows");
        return rc;
}

void
socfw_continual_sample(uint64_t seed, size_t n, size_t k, size_t *out)
{
        size_t *idx = malloc((n ? n : 1) * sizeof *idx);
        socfw_rng rng;
        socfw_rng_seed(&rng, seed ^ 0x5eedc0deull);
        if (!idx) {     /* no memory for the shuffle: the first k */
                for (size_t i = 0; i < k; i++)
                        out[i] = i;
                return;
        }
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        for (size_t i = 0; i < k && i < n; i++) {   /* partial Fisher-Yates */
                size_t j = i + (size_t)socfw_rng_below(&rng, n - i);
                size_t t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                out[i] = idx[i];
        }
        free(idx);
}

static void
file_fingerprint(const char *path, char hex[65])
{
        unsigned char d[32], buf[1 << 16];
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, sizeof d);
        FILE *f = fopen(path, "rb");
        size_t n;
        while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
                crypto_generichash_update(&st, buf, n);
        if (f)
                fclose(f);
        crypto_generichash_final(&st, d, sizeof d);
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int
cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int
write_lines(const char *path, const rows *a, const size_t *ia, size_t na,
            const rows *b, const size_t *ib, size_t nb, socfw_error *err)
{
        socfw_atomic_file *f = NULL;
        int rc = socfw_atomic_file_open(&f, path, err);
        for (size_t i = 0; rc == 0 && i < na; i++)
                rc = socfw_atomic_file_printf(f, err, "%s\n",
                                              a->line[ia[i]]);
        for (size_t i = 0; rc == 0 && i < nb; i++)
                rc = socfw_atomic_file_printf(f, err, "%s\n",
                                              b->line[ib[i]]);
        if (rc == 0)
                return socfw_atomic_file_commit(f, err);
        socfw_atomic_file_abort(f);
        return rc;
}

int
socfw_continual_prepare(const socfw_continual_settings *s,
                        const socfw_config *task_cfg,
                        const char *const *labels, size_t n_labels,
                        const char *train_out, const char *holdout_out,
                        socfw_continual_data *d, socfw_error *err)
{
        rt_task_settings ts;
        rt_task_settings_read(&ts, task_cfg, NULL, NULL);
        const char *tf = ts.text_field, *lf = ts.label_field;
        tf = tf ? tf : "text";
        lf = lf ? lf : "label";
        rows nw = {0}, gate = {0}, old = {0};
        size_t *order = NULL, *pick = NULL;
        uint64_t *gh = NULL;
        memset(d, 0, sizeof *d);
        int rc = read_rows(s->data, tf, lf, labels, n_labels, 0, &nw, err);
        if (rc == 0)
                rc = read_rows(s->gate, tf, lf, NULL, 0, 0, &gate, err);
        if (rc < 0)
                goto out;
        /* the gate set must not share a text with the new data */
        if (!(gh = malloc(gate.n * sizeof *gh))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        memcpy(gh, gate.text_hash, gate.n * sizeof *gh);
        qsort(gh, gate.n, sizeof *gh, cmp_u64);
        size_t shared = 0, first = 0;
        for (size_t i = 0; i < nw.n; i++)
                if (bsearch(&nw.text_hash[i], gh, gate.n, sizeof *gh,
                            cmp_u64) && !shared++)
                        first = i;
        if (shared) {
                rc = socfw_error_set_at(
                        err, SOCFW_EINVAL, s->data, nw.lineno[first], 1,
                        "%zu row%s of the new data also in the gate set %s "
                        "(this one first): a gate that has seen the "
                        "training data cannot judge it (hint: remove them "
                        "from the new data, or give another continual.gate)",
                        shared, shared == 1 ? " is" : "s are", s->gate);
                goto out;
        }
        if (nw.n < 2) {
                rc = socfw_error_set_at(err, SOCFW_EINVAL, s->data, 0, 0,
                                        "%zu row: nothing to hold out for "
                                        "the gate (hint: at least 2 rows)",
                                        nw.n);
                goto out;
        }
        /* the held-out part: a seeded sample, at least one row each side */
        size_t h = (size_t)llround(s->holdout * (double)nw.n);
        h = h < 1 ? 1 : h > nw.n - 1 ? nw.n - 1 : h;
        if (!(order = malloc(nw.n * sizeof *order))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        socfw_continual_sample(s->seed, nw.n, nw.n, order);
        size_t n_train = nw.n - h;
        /* the replay sample of the old training data */
        size_t k = 0;
        if (s->replay > 0 && s->old_data) {
                rc = read_rows(s->old_data, tf, lf, NULL, 0, s->max_rows,
                               &old, err);
                if (rc < 0) {
                        socfw_error_prefix(err, rc, "replay (data.train)");
                        goto out;
                }
                k = (size_t)llround(s->replay * (double)n_train);
                k = k > old.n ? old.n : k;
                if (!(pick = malloc((k ? k : 1) * sizeof *pick))) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                socfw_continual_sample(s->seed + 1, old.n, k, pick);
        }
        rc = write_lines(train_out, &nw, order + h, n_train, &old, pick, k,
                         err);
        if (rc == 0)
                rc = write_lines(holdout_out, &nw, order, h, NULL, NULL, 0,
                                 err);
        if (rc < 0)
                goto out;
        d->n_new = nw.n;
        d->n_train = n_train;
        d->n_holdout = h;
        d->n_old = old.n;
        d->n_replay = k;
        file_fingerprint(s->data, d->fingerprint);
        file_fingerprint(s->gate, d->gate_fingerprint);
out:
        free(order);
        free(pick);
        free(gh);
        rows_free(&nw);
        rows_free(&gate);
        rows_free(&old);
        return rc;
}

/* ---- the gate ---- */

int
socfw_continual_decide(const socfw_gate_scores *g, double tolerance,
                       double min_gain, char *why, size_t why_size)
{
        double dg = g->candidate_gate - g->current_gate;
        double dh = g->candidate_holdout - g->current_holdout;
        int gate_ok = isfinite(dg) && dg >= -tolerance - 1e-12;
        int hold_ok = isfinite(dh) && dh > min_gain;
        snprintf(why, why_size,
                 "gate set %s %.4f -> %.4f (%+.4f): %s; new data's held-out "
                 "part %.4f -> %.4f (%+.4f): %s",
                 g->metric, g->current_gate, g->candidate_gate, dg,
                 gate_ok ? "within the tolerance"
                         : "worse than the tolerance allows",
                 g->current_holdout, g->candidate_holdout, dh,
                 hold_ok ? "better"
                         : min_gain > 0 ? "not better by min_gain"
                                        : "not better");
        return gate_ok && hold_ok;
}

static rt_task *
find_task(socfw_runtime *rt, const char *name, socfw_error *err)
{
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (!strcmp(socfw_task_name(rt->tasks[i].ctx), name))
                        return &rt->tasks[i];
        socfw_error_set(err, SOCFW_ENOTFOUND, "no task '%s'", name);
        return NULL;
}

static int
score(socfw_runtime *rt, const char *task, const char *path,
      const char *metric, double *v, socfw_error *err)
{
        char *report = NULL, name[256];
        int rc = socfw_runtime_evaluate_file(rt, task, path, &report, err);
        free(report);
        if (rc < 0)
                return rc;
        snprintf(name, sizeof name, "%s.eval.%s", task, metric);
        if (socfw_runtime_metric(rt, name, v) < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "continual.metric: task '%s' reports "
                                       "no '%s' (hint: macro_f1, "
                                       "macro_recall or accuracy)",
                                       task, metric);
        return 0;
}

static size_t
count_rows(const char *path)
{
        FILE *f = fopen(path, "rb");
        size_t n = 0;
        int c, prev = '\n';
        while (f && (c = fgetc(f)) != EOF) {
                if (c == '\n' && prev != '\n')
                        n++;
                prev = c;
        }
        if (f)
                fclose(f);
        return n + (prev != '\n');
}

int
socfw_runtime_continual_gate(socfw_runtime *rt,
                             const socfw_continual_settings *s,
                             const char *holdout, const char *current_dir,
                             socfw_gate_scores *g, socfw_error *err)
{
        memset(g, 0, sizeof *g);
        snprintf(g->metric, sizeof g->metric, "%s", s->metric);
        g->n_gate = count_rows(s->gate);
        g->n_holdout = count_rows(holdout);
        int rc = score(rt, s->task, s->gate, s->metric, &g->candidate_gate,
                       err);
        if (rc == 0)
                rc = score(rt, s->task, holdout, s->metric,
                           &g->candidate_holdout, err);
        if (rc == 0)
                rc = socfw_runtime_load_adapter(rt, s->task, current_dir,
                                                err);
        if (rc == 0)
                rc = score(rt, s->task, s->gate, s->metric, &g->current_gate,
                           err);
        if (rc == 0)
                rc = score(rt, s->task, holdout, s->metric,
                           &g->current_holdout, err);
        return rc;
}

/* ---- loading a version ---- */

int
socfw_runtime_load_adapter(socfw_runtime *rt, const char *task,
                           const char *dir, socfw_error *err)
{
        rt_task *t = find_task(rt, task, err);
        if (!t)
                return SOCFW_ENOTFOUND;
        socfw_adapter *a = NULL;
        int rc = socfw_adapter_load(&a, rt->model, dir, true, err);
        if (rc == 0)
                rc = rt_load_head(t, dir, err);
        if (rc < 0) {
                socfw_adapter_free(a);
                return socfw_error_prefix(err, rc, "task '%s': loading %s",
                                          task, dir);
        }
        if (socfw_model_attached(rt->model) == t->adapter)
                socfw_model_attach(rt->model, NULL, NULL);
        rt_scratch_detach(rt, t->adapter);     /* inference contexts too */
        socfw_adapter_free(t->adapter);
        socfw_adamw_free(t->aopt);
        t->aopt = NULL;
        t->adapter = a;
        return 0;
}

int
socfw_runtime_reload_adapters(socfw_runtime *rt, size_t *n_changed,
                              socfw_error *err)
{
        if (n_changed)
                *n_changed = 0;
        for (size_t i = 0; rt->out_dir && i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->adapter)
                        continue;
                char tdir[4200], meta[4300];
                snprintf(tdir, sizeof tdir, "%s/adapters/%s", rt->out_dir,
                         socfw_task_name(t->ctx));
                int v = 0;
                int rc = socfw_adapter_store_current(tdir, &v, err);
                if (rc < 0)
                        return rc;
                /* the top-level files a plain run trained again are not a
                 * version: the run's checkpoint holds them */
                snprintf(meta, sizeof meta, "%s/meta.json", tdir);
                json_t *m = json_load_file(meta, 0, NULL);
                int versioned = json_is_integer(json_object_get(m,
                                                                "version"));
                json_decref(m);
                if (!v || !versioned || v == t->version)
                        continue;
                char *vdir = socfw_adapter_store_version_dir(tdir, v);
                rc = vdir ? socfw_runtime_load_adapter(
                                    rt, socfw_task_name(t->ctx), vdir, err)
                          : socfw_error_set(err, SOCFW_ENOMEM,
                                            "out of memory");
                free(vdir);
                if (rc < 0)
                        return rc;
                rt_progress(rt, "task %s: adapter version %d", 
                            socfw_task_name(t->ctx), v);
                t->version = v;
                if (n_changed)
                        (*n_changed)++;
        }
        return 0;
}
