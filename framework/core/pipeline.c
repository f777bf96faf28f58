/* pipeline.c - load, override and validate YAML pipelines. */
#include "socfw/pipeline.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config_impl.h"
#include "core/param.h"
#include "core/pipeline_impl.h"
#include "core/yamltree.h"

#define MAX_DIAGS 50
#define MAX_TASKS 64

typedef struct task {
        socfw_config *cfg;
        socfw_config *head_cfg;
        socfw_config *loss_cfg;
        const socfw_plugin *plugin;
        const socfw_plugin *head;
} task;

struct socfw_pipeline {
        char *path;
        char *dir;
        ynode *root;
        char **diags;
        size_t n_diags;
        int validated;
        socfw_config *sections[16]; /* by index in section_names + privacy */
        socfw_config *top;
        task *tasks;
        size_t n_tasks;
        const socfw_plugin *privacy;
};

/* ---- diagnostics ---- */

static void
diag(socfw_pipeline *p, socfw_error *err, long line, long col,
     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
diag(socfw_pipeline *p, socfw_error *err, long line, long col,
     const char *fmt, ...)
{
        char msg[1024], full[1600];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (line < 0)
                socfw_error_set(err, SOCFW_ESCHEMA, "--set: %s", msg);
        else
                socfw_error_set_at(err, SOCFW_ESCHEMA, p->path, line, col,
                                   "%s", msg);
        if (p->n_diags >= MAX_DIAGS)
                return;
        if (line > 0)
                snprintf(full, sizeof full, "%s:%ld:%ld: %s", p->path, line,
                         col, msg);
        else if (line < 0)
                snprintf(full, sizeof full, "--set: %s", msg);
        else
                snprintf(full, sizeof full, "%s: %s", p->path, msg);
        char **grown = realloc(p->diags, (p->n_diags + 1) * sizeof *grown);
        if (!grown)
                return;
        p->diags = grown;
        if ((grown[p->n_diags] = strdup(full)))
                p->n_diags++;
}

static void
diag_error(socfw_pipeline *p, const socfw_error *e)
{
        char buf[1600];
        socfw_error_string(e, buf, sizeof buf);
        char **grown = realloc(p->diags, (p->n_diags + 1) * sizeof *grown);
        if (!grown)
                return;
        p->diags = grown;
        if ((grown[p->n_diags] = strdup(buf)))
                p->n_diags++;
}

size_t
socfw_pipeline_diag_count(const socfw_pipeline *p)
{
        return p ? p->n_diags : 0;
}

const char *
socfw_pipeline_diag(const socfw_pipeline *p, size_t i)
{
        return p && i < p->n_diags ? p->diags[i] : NULL;
}

/* ---- lifetime ---- */

static void
free_tasks(socfw_pipeline *p)
{
        for (size_t i = 0; i < p->n_tasks; i++) {
                socfw_config_free(p->tasks[i].cfg);
                socfw_config_free(p->tasks[i].head_cfg);
                socfw_config_free(p->tasks[i].loss_cfg);
        }
        free(p->tasks);
        p->tasks = NULL;
        p->n_tasks = 0;
        for (size_t i = 0; i < sizeof p->sections / sizeof p->sections[0];
             i++) {
                socfw_config_free(p->sections[i]);
                p->sections[i] = NULL;
        }
        socfw_config_free(p->top);
        p->top = NULL;
}

void
socfw_pipeline_free(socfw_pipeline *p)
{
        if (!p)
                return;
        free_tasks(p);
        for (size_t i = 0; i < p->n_diags; i++)
                free(p->diags[i]);
        free(p->diags);
        ynode_free(p->root);
        free(p->path);
        free(p->dir);
        free(p);
}

/* ---- --set overrides ---- */

/* Values from the command line have no place in the file: line -1. */
static void
mark_override(ynode *n)
{
        n->line = -1;
        n->column = 0;
        for (size_t i = 0; i < n->n; i++) {
                if (n->key_line)
                        n->key_line[i] = -1;
                mark_override(n->items[i]);
        }
}

static int
apply_override(socfw_pipeline *p, const char *spec, socfw_error *err)
{
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "--set '%s': expected KEY=VALUE, "
                                       "e.g. train.lr=1e-4",
                                       spec);
        char path[512];
        size_t plen = (size_t)(eq - spec);
        if (plen >= sizeof path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "--set: key too long");
        memcpy(path, spec, plen);
        path[plen] = '\0';

        /* the value is YAML too: "[a, b]" becomes a list */
        ynode *value = NULL;
        socfw_error verr = {0};
        int rc = ynode_parse_buffer(eq + 1, strlen(eq + 1), "--set", &value,
                                    &verr);
        if (rc < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "--set %s: invalid value: %s", path,
                                       verr.message);
        if (value->kind == YNODE_MAP && value->n == 0) {
                /* empty value */
                ynode_free(value);
                value = ynode_new_scalar("", 0, 0);
                if (!value)
                        return SOCFW_ENOMEM;
        }
        mark_override(value);

        ynode *cur = p->root;
        char *save = NULL;
        char *tok = strtok_r(path, ".", &save);
        while (tok) {
                char *next = strtok_r(NULL, ".", &save);
                if (cur->kind == YNODE_SEQ) {
                        /* index, or a task's name */
                        char *end;
                        long idx = strtol(tok, &end, 10);
                        ynode *child = NULL;
                        if (*end == '\0' && idx >= 0 && (size_t)idx < cur->n)
                                child = cur->items[idx];
                        for (size_t i = 0; !child && i < cur->n; i++) {
                                ynode *nm = ynode_map_get(cur->items[i],
                                                          "name", NULL);
                                if (nm && nm->kind == YNODE_SCALAR &&
                                    strcmp(nm->value, tok) == 0)
                                        child = cur->items[i];
                        }
                        if (!child) {
                                ynode_free(value);
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "--set %.*s: no list item '%s' (use "
                                        "an index or a task name)",
                                        (int)plen, spec, tok);
                        }
                        if (!next) {
                                ynode_free(value);
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "--set %.*s: cannot replace a whole "
                                        "list item",
                                        (int)plen, spec);
                        }
                        cur = child;
                } else if (cur->kind == YNODE_MAP) {
                        if (!next)
                                return ynode_map_set(cur, tok, value);
                        ynode *child = ynode_map_get(cur, tok, NULL);
                        if (!child) {
                                child = ynode_new_map(-1, 0);
                                if (!child ||
                                    ynode_map_set(cur, tok, child) < 0) {
                                        ynode_free(value);
                                        return SOCFW_ENOMEM;
                                }
                        }
                        cur = child;
                } else {
                        ynode_free(value);
                        return socfw_error_set(
                                err, SOCFW_EINVAL,
                                "--set %.*s: '%s' is a value, not a "
                                "section",
                                (int)plen, spec, tok);
                }
                tok = next;
        }
        ynode_free(value);
        return socfw_error_set(err, SOCFW_EINVAL, "--set: empty key");
}

/* ---- loading ---- */

static int
finish_load(socfw_pipeline *p, const char *const *overrides, size_t n,
            socfw_error *err)
{
        if (p->root->kind != YNODE_MAP)
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, p->path, p->root->line,
                        p->root->column,
                        "a pipeline must be a mapping of sections "
                        "(socfw:, backbone:, tasks:, ...), not %s",
                        ynode_kind_name(p->root));
        for (size_t i = 0; i < n; i++) {
                int rc = apply_override(p, overrides[i], err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int
socfw_pipeline_load_buffer(socfw_pipeline **out, const char *text,
                           size_t len, const char *name, const char *base_dir,
                           const char *const *overrides, size_t n_overrides,
                           socfw_error *err)
{
        socfw_pipeline *p = calloc(1, sizeof *p);
        *out = NULL;
        if (!p)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        p->path = strdup(name ? name : "<pipeline>");
        p->dir = strdup(base_dir ? base_dir : ".");
        if (!p->path || !p->dir) {
                socfw_pipeline_free(p);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        int rc = ynode_parse_buffer(text, len, p->path, &p->root, err);
        if (rc == 0)
                rc = finish_load(p, overrides, n_overrides, err);
        if (rc < 0 && err)
                diag_error(p, err);
        *out = p;
        return rc;
}

int
socfw_pipeline_load(socfw_pipeline **out, const char *path,
                    const char *const *overrides, size_t n_overrides,
                    socfw_error *err)
{
        socfw_pipeline *p = calloc(1, sizeof *p);
        *out = NULL;
        if (!p)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        p->path = strdup(path);
        const char *slash = strrchr(path, '/');
        p->dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
                       : strdup(".");
        if (!p->path || !p->dir) {
                socfw_pipeline_free(p);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        int rc = ynode_parse_file(path, &p->root, err);
        if (rc == 0)
                rc = finish_load(p, overrides, n_overrides, err);
        if (rc < 0 && err)
                diag_error(p, err);
        *out = p;
        return rc;
}

const char *
socfw_pipeline_path(const socfw_pipeline *p)
{
        return p->path;
}

const char *
socfw_pipeline_dir(const socfw_pipeline *p)
{
        return p->dir;
}

const ynode *
socfw_pipeline_root_node(const socfw_pipeline *p)
{
        return p ? p->root : NULL;
}

/* ---- validation ---- */

/* Does any spec live under `prefix.` (so that `prefix` is a section)? */
static int
is_section(const socfw_param_spec *const *tables, size_t nt,
           const char *prefix)
{
        size_t lp = strlen(prefix);
        for (size_t t = 0; t < nt; t++)
                for (const socfw_param_spec *s = tables[t]; s->key; s++)
                        if (strncmp(s->key, prefix, lp) == 0 &&
                            s->key[lp] == '.')
                                return 1;
        return 0;
}

static const socfw_param_spec *
find_spec(const socfw_param_spec *const *tables, size_t nt, const char *key)
{
        for (size_t t = 0; t < nt; t++)
                for (const socfw_param_spec *s = tables[t]; s->key; s++)
                        if (strcmp(s->key, key) == 0)
                                return s;
        return NULL;
}

/* Names valid directly under `prefix` ("" for the top of the section). */
typedef struct names {
        const char *v[256];
        size_t len[256];
        size_t n;
} names;

static void
level_names(const socfw_param_spec *const *tables, size_t nt,
            const char *prefix, const char *const *extra, names *out)
{
        size_t lp = strlen(prefix);
        out->n = 0;
        for (size_t t = 0; t < nt; t++) {
                for (const socfw_param_spec *s = tables[t]; s->key; s++) {
                        const char *k = s->key;
                        if (lp) {
                                if (strncmp(k, prefix, lp) != 0 ||
                                    k[lp] != '.')
                                        continue;
                                k += lp + 1;
                        }
                        size_t len = strcspn(k, ".");
                        int seen = 0;
                        for (size_t i = 0; i < out->n && !seen; i++)
                                seen = out->len[i] == len &&
                                       strncmp(out->v[i], k, len) == 0;
                        if (!seen && out->n < 256) {
                                out->v[out->n] = k;
                                out->len[out->n++] = len;
                        }
                }
        }
        for (size_t i = 0; extra && extra[i] && out->n < 256; i++) {
                out->v[out->n] = extra[i];
                out->len[out->n++] = strlen(extra[i]);
        }
}

/* "did you mean 'lr'?" or "valid keys: a, b, c" into buf. */
static void
suggest(const names *nm, const char *key, char *buf, size_t size)
{
        int best = INT_MAX;
        size_t best_i = 0;
        for (size_t i = 0; i < nm->n; i++) {
                char cand[128];
                snprintf(cand, sizeof cand, "%.*s", (int)nm->len[i],
                         nm->v[i]);
                int d = socfw_edit_distance(key, cand);
                if (d < best) {
                        best = d;
                        best_i = i;
                }
        }
        size_t klen = strlen(key);
        int limit = klen <= 3 ? 1 : klen <= 6 ? 2 : 3;
        if (nm->n && best <= limit) {
                snprintf(buf, size, "did you mean '%.*s'?",
                         (int)nm->len[best_i], nm->v[best_i]);
                return;
        }
        size_t off = (size_t)snprintf(buf, size, "valid keys here: ");
        for (size_t i = 0; i < nm->n && off < size; i++)
                off += (size_t)snprintf(buf + off, size - off, "%s%.*s",
                                        i ? ", " : "", (int)nm->len[i],
                                        nm->v[i]);
        if (nm->n == 0)
                snprintf(buf, size, "this section takes no keys");
}

typedef struct vctx {
        socfw_pipeline *p;
        socfw_error *err;
        const char *where;          /* "train", "task 'sentiment'", ...   */
        const char *base_dir;
        const char *const *extra;   /* keys handled by the caller         */
} vctx;

static void
check_value(vctx *v, const socfw_param_spec *s, const char *key,
            const ynode *n)
{
        char why[800];
        if (s->type == SOCFW_PARAM_LIST) {
                if (n->kind != YNODE_SEQ) {
                        diag(v->p, v->err, n->line, n->column,
                             "'%s' in %s must be a list ([a, b] or one "
                             "'- item' per line), not %s",
                             key, v->where, ynode_kind_name(n));
                        return;
                }
                for (size_t i = 0; i < n->n; i++) {
                        const ynode *it = n->items[i];
                        if (it->kind != YNODE_SCALAR) {
                                diag(v->p, v->err, it->line, it->column,
                                     "items of '%s' must be plain values, "
                                     "not %s",
                                     key, ynode_kind_name(it));
                        } else if (socfw_param_check_scalar(
                                           s, it->value, why, sizeof why)) {
                                diag(v->p, v->err, it->line, it->column,
                                     "bad item in '%s': %s", key, why);
                        }
                }
                return;
        }
        if (s->type == SOCFW_PARAM_MAP) {
                if (n->kind != YNODE_MAP) {
                        diag(v->p, v->err, n->line, n->column,
                             "'%s' in %s must be a mapping (name: value), "
                             "not %s",
                             key, v->where, ynode_kind_name(n));
                        return;
                }
                for (size_t i = 0; i < n->n; i++)
                        if (n->items[i]->kind != YNODE_SCALAR)
                                diag(v->p, v->err, n->items[i]->line,
                                     n->items[i]->column,
                                     "'%s.%s' must be a plain value, not "
                                     "%s",
                                     key, n->keys[i],
                                     ynode_kind_name(n->items[i]));
                return;
        }
        char desc[512];
        socfw_param_describe(s, desc, sizeof desc);
        if (n->kind != YNODE_SCALAR) {
                diag(v->p, v->err, n->line, n->column,
                     "wrong type for '%s' in %s: expected %s, got %s", key,
                     v->where, desc, ynode_kind_name(n));
                return;
        }
        if (!n->value[0] && !n->quoted) {
                diag(v->p, v->err, n->line, n->column,
                     "'%s' in %s has no value; expected %s", key, v->where,
                     desc);
                return;
        }
        if (n->quoted && (s->type == SOCFW_PARAM_INT ||
                          s->type == SOCFW_PARAM_FLOAT ||
                          s->type == SOCFW_PARAM_BOOL)) {
                diag(v->p, v->err, n->line, n->column,
                     "wrong type for '%s' in %s: expected %s, got the "
                     "string \"%s\" (hint: remove the quotes)",
                     key, v->where, desc, n->value);
                return;
        }
        if (socfw_param_check_scalar(s, n->value, why, sizeof why)) {
                diag(v->p, v->err, n->line, n->column, "bad value for '%s' "
                     "in %s: %s", key, v->where, why);
                return;
        }
        if (s->type == SOCFW_PARAM_PATH && (s->flags & SOCFW_PARAM_MUST_EXIST)) {
                char *full = socfw_config_join_path(v->base_dir, n->value);
                struct stat st;
                if (full && stat(full, &st) != 0)
                        diag(v->p, v->err, n->line, n->column,
                             "'%s' in %s: file not found: %s%s%s (hint: "
                             "relative paths start at the pipeline's "
                             "directory)",
                             key, v->where, n->value,
                             strcmp(full, n->value) ? ", looked at " : "",
                             strcmp(full, n->value) ? full : "");
                free(full);
        }
}

static int
is_extra(const char *const *extra, const char *key)
{
        for (size_t i = 0; extra && extra[i]; i++)
                if (strcmp(extra[i], key) == 0)
                        return 1;
        return 0;
}

/* Check a mapping's keys against the tables; `prefix` is the dotted path
 * of the mapping inside the section ("" at its top). */
static void
validate_map(vctx *v, const ynode *map, const char *prefix,
             const socfw_param_spec *const *tables, size_t nt)
{
        char full[512];
        for (size_t i = 0; i < map->n; i++) {
                const char *k = map->keys[i];
                const ynode *child = map->items[i];
                if (!prefix[0] && is_extra(v->extra, k))
                        continue;
                if (prefix[0])
                        snprintf(full, sizeof full, "%s.%s", prefix, k);
                else
                        snprintf(full, sizeof full, "%s", k);
                const socfw_param_spec *s = find_spec(tables, nt, full);
                if (s) {
                        check_value(v, s, full, child);
                } else if (is_section(tables, nt, full)) {
                        if (child->kind != YNODE_MAP)
                                diag(v->p, v->err, child->line, child->column,
                                     "'%s' in %s must be a mapping of "
                                     "settings, not %s",
                                     full, v->where,
                                     ynode_kind_name(child));
                        else
                                validate_map(v, child, full, tables, nt);
                } else {
                        names nm;
                        char hint[1024];
                        level_names(tables, nt, prefix,
                                    prefix[0] ? NULL : v->extra, &nm);
                        suggest(&nm, k, hint, sizeof hint);
                        diag(v->p, v->err, map->key_line[i],
                             map->key_column[i], "unknown key '%s' in %s; %s",
                             full, v->where, hint);
                }
        }
        /* required keys directly or indirectly under this mapping */
        size_t lp = strlen(prefix);
        for (size_t t = 0; t < nt; t++) {
                for (const socfw_param_spec *s = tables[t]; s->key; s++) {
                        if (!(s->flags & SOCFW_PARAM_REQUIRED))
                                continue;
                        const char *rest = s->key;
                        if (lp) {
                                if (strncmp(s->key, prefix, lp) != 0 ||
                                    s->key[lp] != '.')
                                        continue;
                                rest = s->key + lp + 1;
                        }
                        char first[256];
                        size_t len = strcspn(rest, ".");
                        snprintf(first, sizeof first, "%.*s", (int)len, rest);
                        if (!ynode_map_get(map, first, NULL))
                                diag(v->p, v->err, map->line, map->column,
                                     "missing required key '%s' in %s (%s)",
                                     s->key, v->where,
                                     s->help ? s->help : "");
                }
        }
}

static socfw_config *
make_config(socfw_pipeline *p, const char *name, const ynode *node,
            const socfw_param_spec *const *tables, size_t nt)
{
        socfw_config *c = socfw_config_new(name, p->path, p->dir, node,
                                           tables, nt);
        if (c && socfw_config_resolve_paths(c) < 0) {
                socfw_config_free(c);
                c = NULL;
        }
        return c;
}

/* Best-matching registered plugin name of `kind`, for suggestions. */
static const char *
closest_plugin(const socfw_registry *reg, const char *name, int kind)
{
        const char *best = NULL;
        int bd = INT_MAX;
        for (size_t i = 0; i < socfw_registry_count(reg); i++) {
                const socfw_plugin *d = socfw_registry_get(reg, i);
                if ((int)d->kind != kind)
                        continue;
                int dist = socfw_edit_distance(name, d->name);
                if (dist < bd) {
                        bd = dist;
                        best = d->name;
                }
        }
        return bd <= 3 ? best : NULL;
}

static void
plugin_missing(socfw_pipeline *p, socfw_error *err, const socfw_registry *reg,
               const ynode *at, const char *what, const char *name, int kind)
{
        const char *near = closest_plugin(reg, name, kind);
        char hint[256];
        if (near)
                snprintf(hint, sizeof hint, "did you mean '%s'?", near);
        else
                snprintf(hint, sizeof hint,
                         "hint: `socfw inspect` lists what is installed; "
                         "add directories with --plugin-path or "
                         "SOCFW_PLUGIN_PATH");
        diag(p, err, at->line, at->column, "unknown %s '%s'; %s", what, name,
             hint);
}

static const char *const task_extra[] = {"head", "loss", NULL};

static void
validate_task(socfw_pipeline *p, const socfw_registry *reg, const ynode *tn,
              size_t index, socfw_error *err)
{
        task *t = &p->tasks[p->n_tasks];
        memset(t, 0, sizeof *t);
        char where[300];
        const socfw_param_spec *host = socfw_pipeline_task_specs();

        if (tn->kind != YNODE_MAP) {
                diag(p, err, tn->line, tn->column,
                     "task %zu must be a mapping (name:, plugin:, ...), not "
                     "%s",
                     index + 1, ynode_kind_name(tn));
                return;
        }
        const ynode *nm = ynode_map_get(tn, "name", NULL);
        const ynode *pl = ynode_map_get(tn, "plugin", NULL);
        const char *tname = nm && nm->kind == YNODE_SCALAR ? nm->value : NULL;
        if (tname)
                snprintf(where, sizeof where, "task '%s'", tname);
        else
                snprintf(where, sizeof where, "task %zu", index + 1);

        for (size_t i = 0; tname && i < p->n_tasks; i++)
                if (strcmp(socfw_config_name(p->tasks[i].cfg), tname) == 0)
                        diag(p, err, nm->line, nm->column,
                             "two tasks are named '%s'; hint: task names "
                             "must be unique",
                             tname);
        if (tname && strcmp(tname, "privacy") == 0)
                diag(p, err, nm->line, nm->column,
                     "'privacy' is reserved for the privacy stage; choose "
                     "another task name");

        if (pl && pl->kind == YNODE_SCALAR) {
                t->plugin = socfw_registry_find(reg, pl->value,
                                                SOCFW_PLUGIN_TASK);
                if (!t->plugin) {
                        if (socfw_registry_find(reg, pl->value,
                                                SOCFW_PLUGIN_HEAD))
                                diag(p, err, pl->line, pl->column,
                                     "'%s' is a head, not a task plugin; "
                                     "hint: put it under head: {type: %s}",
                                     pl->value, pl->value);
                        else
                                plugin_missing(p, err, reg, pl, "plugin",
                                               pl->value, SOCFW_PLUGIN_TASK);
                }
        }

        const socfw_param_spec *tables[2] = {host,
                                             t->plugin ? t->plugin->params
                                                       : NULL};
        size_t nt = tables[1] ? 2 : 1;
        vctx v = {.p = p, .err = err, .where = where, .base_dir = p->dir,
                  .extra = task_extra};
        /* without its plugin we can only check the host's keys */
        if (t->plugin) {
                validate_map(&v, tn, "", tables, nt);
        } else {
                vctx lax = v;
                lax.extra = NULL;
                for (size_t i = 0; i < tn->n; i++) {
                        const socfw_param_spec *s =
                                find_spec(tables, 1, tn->keys[i]);
                        if (s)
                                check_value(&lax, s, tn->keys[i],
                                            tn->items[i]);
                }
        }

        /* head and loss */
        const ynode *hn = ynode_map_get(tn, "head", NULL);
        const ynode *ln = ynode_map_get(tn, "loss", NULL);
        const char *htype = t->plugin ? t->plugin->default_head : NULL;
        const ynode *type_node = NULL;
        if (hn && hn->kind != YNODE_MAP) {
                diag(p, err, hn->line, hn->column,
                     "'head' in %s must be a mapping such as {type: "
                     "classifier}, not %s",
                     where, ynode_kind_name(hn));
                hn = NULL;
        }
        if (hn && (type_node = ynode_map_get(hn, "type", NULL))) {
                if (type_node->kind == YNODE_SCALAR)
                        htype = type_node->value;
        }
        if (htype) {
                t->head = socfw_registry_find(reg, htype, SOCFW_PLUGIN_HEAD);
                if (!t->head)
                        plugin_missing(p, err, reg, type_node ? type_node : tn,
                                       "head", htype, SOCFW_PLUGIN_HEAD);
        } else if (hn && t->plugin) {
                diag(p, err, hn->line, hn->column,
                     "%s uses plugin '%s', which has no head; remove 'head'",
                     where, t->plugin->name);
        }
        static const socfw_param_spec head_type_spec[] = {
                {.key = "type", .type = SOCFW_PARAM_STRING,
                 .help = "Head module (see `socfw inspect`)."},
                {0}};
        if (t->head) {
                char hw[340];
                snprintf(hw, sizeof hw, "the head of %s", where);
                vctx hv = {.p = p, .err = err, .where = hw,
                           .base_dir = p->dir};
                const socfw_param_spec *ht[2] = {head_type_spec,
                                                 t->head->params};
                if (hn)
                        validate_map(&hv, hn, "", ht, ht[1] ? 2 : 1);
                t->head_cfg = make_config(p, htype, hn, ht, ht[1] ? 2 : 1);
                snprintf(hw, sizeof hw, "the loss of %s", where);
                const socfw_param_spec *lt[1] = {t->head->loss_params};
                if (ln && ln->kind != YNODE_MAP)
                        diag(p, err, ln->line, ln->column,
                             "'loss' in %s must be a mapping such as "
                             "{type: cross_entropy}, not %s",
                             where, ynode_kind_name(ln));
                else if (ln && lt[0])
                        validate_map(&hv, ln, "", lt, 1);
                else if (ln && ln->n)
                        diag(p, err, ln->line, ln->column,
                             "head '%s' takes no loss settings", htype);
                t->loss_cfg = make_config(p, "loss",
                                          ln && ln->kind == YNODE_MAP ? ln
                                                                      : NULL,
                                          lt, lt[0] ? 1 : 0);
        } else if (ln && !htype && t->plugin) {
                diag(p, err, ln->line, ln->column,
                     "%s has no head, so 'loss' does not apply", where);
        }
        t->cfg = make_config(p, tname ? tname : where, tn, tables, nt);
        p->n_tasks++;
}

static const char *const top_keys[] = {
        "socfw", "threads", "chain", "backbone", "tasks", "train",
        "pretrain", "evaluate", "privacy", "serve", "output", "monitor",
        "continual", NULL};

int
socfw_pipeline_validate(socfw_pipeline *p, const socfw_registry *reg,
                        socfw_error *err)
{
        socfw_error first = {0};
        size_t diags_before = p->n_diags;
        free_tasks(p);
        const ynode *root = p->root;
        if (!root || root->kind != YNODE_MAP)
                return socfw_error_set(err, SOCFW_ESCHEMA,
                                       "%s: not a loaded pipeline", p->path);

        /* top level: version, threads, chain, and section names */
        const ynode *ver = ynode_map_get(root, "socfw", NULL);
        if (ver && ver->kind == YNODE_SCALAR) {
                long long vn;
                if (socfw_param_parse_int(ver->value, &vn) == 0 &&
                    vn != SOCFW_PIPELINE_VERSION) {
                        diag(p, &first, ver->line, ver->column,
                             "unsupported pipeline schema version %lld; "
                             "this socfw reads version %d",
                             vn, SOCFW_PIPELINE_VERSION);
                        ver = NULL;
                }
        }
        {
                const socfw_param_spec *top = socfw_pipeline_section_specs("");
                vctx v = {.p = p, .err = &first, .where = "the pipeline",
                          .base_dir = p->dir, .extra = top_keys + 3};
                if (ver || !ynode_map_get(root, "socfw", NULL))
                        validate_map(&v, root, "", &top, 1);
                else {
                        /* version already reported: skip its range check */
                        for (size_t i = 0; i < root->n; i++) {
                                if (strcmp(root->keys[i], "socfw") == 0)
                                        continue;
                                const socfw_param_spec *s =
                                        find_spec(&top, 1, root->keys[i]);
                                if (s)
                                        check_value(&v, s, root->keys[i],
                                                    root->items[i]);
                        }
                }
                p->top = make_config(p, "", root, &top, 1);
        }

        /* plain sections */
        const char *const *sections = socfw_pipeline_section_names();
        for (size_t i = 0; sections[i]; i++) {
                const socfw_param_spec *specs =
                        socfw_pipeline_section_specs(sections[i]);
                const ynode *sn = ynode_map_get(root, sections[i], NULL);
                if (sn && sn->kind != YNODE_MAP) {
                        if (!(sn->kind == YNODE_SCALAR && !sn->value[0]))
                                diag(p, &first, sn->line, sn->column,
                                     "'%s' must be a mapping of settings, "
                                     "not %s",
                                     sections[i], ynode_kind_name(sn));
                        sn = NULL;
                }
                if (sn) {
                        vctx v = {.p = p, .err = &first,
                                  .where = sections[i], .base_dir = p->dir};
                        validate_map(&v, sn, "", &specs, 1);
                }
                p->sections[i] = make_config(p, sections[i], sn, &specs, 1);
        }

        /* tasks */
        const ynode *tasks = ynode_map_get(root, "tasks", NULL);
        if (tasks && tasks->kind != YNODE_SEQ) {
                diag(p, &first, tasks->line, tasks->column,
                     "'tasks' must be a list (one '- name: ...' entry per "
                     "task), not %s",
                     ynode_kind_name(tasks));
                tasks = NULL;
        }
        if (tasks && tasks->n > MAX_TASKS) {
                diag(p, &first, tasks->line, tasks->column,
                     "too many tasks (%zu; limit %d)", tasks->n, MAX_TASKS);
                tasks = NULL;
        }
        if (tasks && tasks->n) {
                p->tasks = calloc(tasks->n, sizeof *p->tasks);
                if (!p->tasks)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                for (size_t i = 0; i < tasks->n; i++)
                        validate_task(p, reg, tasks->items[i], i, &first);
        }

        /* privacy stage */
        const ynode *pn = ynode_map_get(root, "privacy", NULL);
        size_t priv_slot = 0;
        while (sections[priv_slot])
                priv_slot++;
        if (pn && pn->kind != YNODE_MAP) {
                diag(p, &first, pn->line, pn->column,
                     "'privacy' must be a mapping such as {entities: "
                     "[EMAIL, PHONE], operator: replace}, not %s",
                     ynode_kind_name(pn));
                pn = NULL;
        }
        if (pn) {
                const ynode *pp = ynode_map_get(pn, "plugin", NULL);
                const char *pname = pp && pp->kind == YNODE_SCALAR
                                            ? pp->value
                                            : "privacy";
                p->privacy = socfw_registry_find(reg, pname,
                                                 SOCFW_PLUGIN_TASK);
                const socfw_param_spec *tables[2] = {
                        socfw_pipeline_section_specs("privacy"),
                        p->privacy ? p->privacy->params : NULL};
                if (!p->privacy)
                        plugin_missing(p, &first, reg, pp ? pp : pn,
                                       "privacy plugin", pname,
                                       SOCFW_PLUGIN_TASK);
                else {
                        vctx v = {.p = p, .err = &first, .where = "privacy",
                                  .base_dir = p->dir};
                        validate_map(&v, pn, "", tables, tables[1] ? 2 : 1);
                }
                p->sections[priv_slot] = make_config(p, "privacy", pn, tables,
                                                     tables[1] ? 2 : 1);
        }

        /* chain: every stage must exist */
        const ynode *chain = ynode_map_get(root, "chain", NULL);
        if (chain && chain->kind == YNODE_SEQ) {
                for (size_t i = 0; i < chain->n; i++) {
                        const ynode *st = chain->items[i];
                        if (st->kind != YNODE_SCALAR)
                                continue; /* reported by the type check */
                        if (strcmp(st->value, "privacy") == 0) {
                                if (!pn)
                                        diag(p, &first, st->line, st->column,
                                             "the chain names 'privacy' but "
                                             "the pipeline has no privacy: "
                                             "section");
                                continue;
                        }
                        if (socfw_pipeline_task_find(p, st->value) >= 0)
                                continue;
                        names nm = {.n = 0};
                        for (size_t k = 0; k < p->n_tasks && nm.n < 255;
                             k++) {
                                nm.v[nm.n] = socfw_config_name(
                                        p->tasks[k].cfg);
                                nm.len[nm.n] = strlen(nm.v[nm.n]);
                                nm.n++;
                        }
                        if (pn) {
                                nm.v[nm.n] = "privacy";
                                nm.len[nm.n++] = 7;
                        }
                        char hint[1024];
                        suggest(&nm, st->value, hint, sizeof hint);
                        diag(p, &first, st->line, st->column,
                             "the chain names an unknown stage '%s'; %s",
                             st->value, hint);
                }
        }

        for (size_t i = 0; i < p->n_tasks; i++)
                if (!p->tasks[i].cfg)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
        if (p->n_diags > diags_before || first.code) {
                if (err && !err->code)
                        *err = first;
                return SOCFW_ESCHEMA;
        }
        p->validated = 1;
        return 0;
}

/* ---- queries ---- */

const socfw_config *
socfw_pipeline_section(const socfw_pipeline *p, const char *name)
{
        if (!p)
                return NULL;
        if (!name || !name[0])
                return p->top;
        const char *const *sections = socfw_pipeline_section_names();
        size_t i = 0;
        for (; sections[i]; i++)
                if (strcmp(sections[i], name) == 0)
                        return p->sections[i];
        if (strcmp(name, "privacy") == 0)
                return p->sections[i];
        return NULL;
}

size_t
socfw_pipeline_task_count(const socfw_pipeline *p)
{
        return p ? p->n_tasks : 0;
}

const socfw_config *
socfw_pipeline_task(const socfw_pipeline *p, size_t i)
{
        return p && i < p->n_tasks ? p->tasks[i].cfg : NULL;
}

const socfw_plugin *
socfw_pipeline_task_plugin(const socfw_pipeline *p, size_t i)
{
        return p && i < p->n_tasks ? p->tasks[i].plugin : NULL;
}

const socfw_plugin *
socfw_pipeline_task_head(const socfw_pipeline *p, size_t i)
{
        return p && i < p->n_tasks ? p->tasks[i].head : NULL;
}

const socfw_config *
socfw_pipeline_task_head_config(const socfw_pipeline *p, size_t i)
{
        return p && i < p->n_tasks ? p->tasks[i].head_cfg : NULL;
}

const socfw_config *
socfw_pipeline_task_loss_config(const socfw_pipeline *p, size_t i)
{
        return p && i < p->n_tasks ? p->tasks[i].loss_cfg : NULL;
}

int
socfw_pipeline_task_find(const socfw_pipeline *p, const char *name)
{
        for (size_t i = 0; p && i < p->n_tasks; i++)
                if (p->tasks[i].cfg &&
                    strcmp(socfw_config_name(p->tasks[i].cfg), name) == 0)
                        return (int)i;
        return -1;
}

const socfw_plugin *
socfw_pipeline_privacy_plugin(const socfw_pipeline *p)
{
        return p ? p->privacy : NULL;
}

size_t
socfw_pipeline_chain_len(const socfw_pipeline *p)
{
        return socfw_config_list_len(p ? p->top : NULL, "chain");
}

const char *
socfw_pipeline_chain_stage(const socfw_pipeline *p, size_t i)
{
        return socfw_config_list_get(p ? p->top : NULL, "chain", i);
}
