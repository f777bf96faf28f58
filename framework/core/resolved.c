/* resolved.c - a validated pipeline written back as YAML: what a finished
 * run keeps of its pipeline (socfw_pipeline_resolved_yaml). */
#define _GNU_SOURCE /* open_memstream */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config_impl.h"
#include "core/pipeline_impl.h"
#include "socfw/pipeline.h"

typedef struct emitter {
        FILE *f;
        const socfw_pipeline *p;
        char cwd[PATH_MAX];     /* "" when unknown: paths stay as given */
} emitter;

/* ---- scalars ---- */

static int
plain_char(unsigned char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/' ||
               c == '-' || c == '+' || c == '~' || c == '@';
}

/* Written without quotes only when it cannot be misread: letters, digits
 * and a few punctuation marks, not starting with an indicator. */
static int
can_be_plain(const char *s)
{
        if (!s[0] || s[0] == '@' || s[0] == '~' ||
            (s[0] == '-' && !(s[1] >= '0' && s[1] <= '9') && s[1] != '.'))
                return 0;
        for (const unsigned char *c = (const unsigned char *)s; *c; c++)
                if (!plain_char(*c))
                        return 0;
        return 1;
}

static void
put_scalar(emitter *e, const char *s, int quoted)
{
        if (!quoted && can_be_plain(s)) {
                fputs(s, e->f);
                return;
        }
        fputc('"', e->f);
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                if (*c == '"' || *c == '\\')
                        fprintf(e->f, "\\%c", *c);
                else if (*c == '\n')
                        fputs("\\n", e->f);
                else if (*c == '\t')
                        fputs("\\t", e->f);
                else if (*c < 0x20 || *c == 0x7f)
                        fprintf(e->f, "\\x%02x", *c);
                else
                        fputc(*c, e->f);
        }
        fputc('"', e->f);
}

/* A path value, absolute: a pipeline loaded as "configs/x.yaml" or
 * "x.yaml" joins its relative paths to "configs" or ".", which would mean
 * something else to a reader in another directory.  An existing file is
 * written as its real path; another is joined to the working directory.
 * Absolute paths and schemes ("hub:...") are written as they are. */
static void
put_path(emitter *e, const char *path, int quoted)
{
        char real[PATH_MAX];
        char *joined = NULL;
        const char *colon = strchr(path, ':'), *slash = strchr(path, '/');
        int relative = path[0] && path[0] != '/' &&
                       !(colon && (!slash || colon < slash));
        if (relative && realpath(path, real))
                path = real;
        else if (relative && e->cwd[0] &&
                 (joined = socfw_config_join_path(
                          e->cwd, strncmp(path, "./", 2) ? path : path + 2)))
                path = joined;
        put_scalar(e, path, quoted);
        free(joined);
}

static void
indent(emitter *e, int n)
{
        for (int i = 0; i < n; i++)
                fputc(' ', e->f);
}

/* ---- which config a mapping belongs to ---- */

static const socfw_config *
config_of(const emitter *e, const ynode *node)
{
        const socfw_pipeline *p = e->p;
        const char *const *names = socfw_pipeline_section_names();
        for (size_t i = 0; names[i]; i++) {
                const socfw_config *c = socfw_pipeline_section(p, names[i]);
                if (c && c->node == node)
                        return c;
        }
        const socfw_config *pc = socfw_pipeline_section(p, "privacy");
        if (pc && pc->node == node)
                return pc;
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++) {
                const socfw_config *c[3] = {
                        socfw_pipeline_task(p, i),
                        socfw_pipeline_task_head_config(p, i),
                        socfw_pipeline_task_loss_config(p, i)};
                for (int k = 0; k < 3; k++)
                        if (c[k] && c[k]->node == node)
                                return c[k];
        }
        const socfw_config *top = socfw_pipeline_section(p, "");
        return top && top->node == node ? top : NULL;
}

/* A task's data files: training input, not needed to use the run. */
static int
is_data_file(const socfw_config *c, const char *key)
{
        return c && c->tables[0] == socfw_pipeline_task_specs() &&
               (!strcmp(key, "data.train") || !strcmp(key, "data.valid") ||
                !strcmp(key, "data.test"));
}

/* The defaults of `c` that the document does not give, as comments. */
static void
put_defaults(emitter *e, const socfw_config *c, int ind)
{
        for (size_t t = 0; t < c->n_tables; t++)
                for (const socfw_param_spec *s = c->tables[t]; s->key; s++) {
                        if (!s->default_value ||
                            socfw_config_node_at(c->node, s->key))
                                continue;
                        indent(e, ind);
                        fprintf(e->f, "# %s: ", s->key);
                        const char *v = s->type == SOCFW_PARAM_PATH
                                                ? socfw_config_get_string(
                                                          c, s->key)
                                                : s->default_value;
                        if (s->type == SOCFW_PARAM_LIST)
                                fputs(v, e->f);
                        else if (s->type == SOCFW_PARAM_PATH && v && v[0])
                                put_path(e, v, 0);
                        else
                                put_scalar(e, v ? v : "", 0);
                        fputs("  (default)\n", e->f);
                }
}

/* ---- nodes ---- */

static void put_map(emitter *e, const ynode *map, int ind, int inline_first,
                    const socfw_config *c, const char *prefix);

static int
all_scalars(const ynode *seq)
{
        for (size_t i = 0; i < seq->n; i++)
                if (seq->items[i]->kind != YNODE_SCALAR)
                        return 0;
        return 1;
}

static void
put_seq(emitter *e, const ynode *seq, int ind)
{
        for (size_t i = 0; i < seq->n; i++) {
                const ynode *it = seq->items[i];
                indent(e, ind);
                fputs("- ", e->f);
                if (it->kind == YNODE_SCALAR) {
                        put_scalar(e, it->value, it->quoted);
                        fputc('\n', e->f);
                } else if (it->kind == YNODE_MAP && it->n) {
                        put_map(e, it, ind + 2, 1, config_of(e, it), "");
                } else if (it->kind == YNODE_MAP) {
                        fputs("{}\n", e->f);
                } else {
                        fputs("[]\n", e->f); /* nested lists: none today */
                }
        }
}

static void
put_map(emitter *e, const ynode *map, int ind, int inline_first,
        const socfw_config *c, const char *prefix)
{
        const socfw_config *own = config_of(e, map);
        if (own) {
                c = own;
                prefix = "";
        }
        for (size_t i = 0; i < map->n; i++) {
                const ynode *v = map->items[i];
                char key[512];
                snprintf(key, sizeof key, "%s%s%s", prefix,
                         prefix[0] ? "." : "", map->keys[i]);
                if (i > 0 || !inline_first)
                        indent(e, ind);
                if (is_data_file(c, key) && v->kind == YNODE_SCALAR) {
                        fputs("# ", e->f);
                        put_scalar(e, map->keys[i], 0);
                        fputs(": ", e->f);
                        const char *path = socfw_config_get_string(c, key);
                        put_path(e, path ? path : v->value, 0);
                        fputs("  (training data: not needed to use the "
                              "run)\n",
                              e->f);
                        continue;
                }
                put_scalar(e, map->keys[i], 0);
                fputc(':', e->f);
                if (v->kind == YNODE_SCALAR) {
                        const socfw_param_spec *s =
                                c ? socfw_config_spec(c, key) : NULL;
                        const char *text = v->value;
                        int path = s && s->type == SOCFW_PARAM_PATH &&
                                   text[0];
                        if (path)
                                text = socfw_config_get_string(c, key);
                        fputc(' ', e->f);
                        if (path)
                                put_path(e, text ? text : v->value,
                                         v->quoted);
                        else
                                put_scalar(e, text ? text : v->value,
                                           v->quoted);
                        fputc('\n', e->f);
                } else if (v->n == 0) {
                        fputs(v->kind == YNODE_MAP ? " {}\n" : " []\n", e->f);
                } else if (v->kind == YNODE_SEQ && all_scalars(v)) {
                        /* the pretraining corpus: files beside the
                         * pipeline, made absolute like PATH values */
                        int files = c && c == socfw_pipeline_section(
                                                     e->p, "pretrain") &&
                                    !strcmp(key, "corpus");
                        fputs(" [", e->f);
                        for (size_t k = 0; k < v->n; k++) {
                                char *abs = files ? socfw_config_join_path(
                                                            socfw_pipeline_dir(
                                                                    e->p),
                                                            v->items[k]->value)
                                                  : NULL;
                                if (k)
                                        fputs(", ", e->f);
                                if (abs)
                                        put_path(e, abs, v->items[k]->quoted);
                                else
                                        put_scalar(e, v->items[k]->value,
                                                   v->items[k]->quoted);
                                free(abs);
                        }
                        fputs("]\n", e->f);
                } else if (v->kind == YNODE_SEQ) {
                        fputc('\n', e->f);
                        put_seq(e, v, ind + 2);
                } else {
                        /* a mapping of only commented-out data files */
                        size_t real = 0;
                        for (size_t k = 0; k < v->n; k++) {
                                char sub[600];
                                snprintf(sub, sizeof sub, "%s.%s", key,
                                         v->keys[k]);
                                real += !is_data_file(c, sub);
                        }
                        fputs(real ? "\n" : " {}\n", e->f);
                        put_map(e, v, ind + 2, 0, c, key);
                }
        }
        if (own && map->n == 0 && inline_first)
                fputs("{}\n", e->f);
        if (own)
                put_defaults(e, own, ind);
}

int
socfw_pipeline_resolved_yaml(const socfw_pipeline *p, char **out,
                             socfw_error *err)
{
        *out = NULL;
        const ynode *root = socfw_pipeline_root_node(p);
        if (!root || root->kind != YNODE_MAP ||
            !socfw_pipeline_section(p, ""))
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "the pipeline is not validated");
        char *text = NULL;
        size_t len = 0;
        emitter e = {.f = open_memstream(&text, &len), .p = p};
        if (!getcwd(e.cwd, sizeof e.cwd))
                e.cwd[0] = '\0';
        if (!e.f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        fprintf(e.f, "# The pipeline %s as this run used it: --set overrides "
                     "applied,\n# paths absolute, defaults as comments.\n",
                socfw_pipeline_path(p));
        put_map(&e, root, 0, 0, NULL, "");
        /* sections the file leaves out run on their defaults */
        const char *const *names = socfw_pipeline_section_names();
        for (size_t i = 0; names[i]; i++) {
                const socfw_config *c = socfw_pipeline_section(p, names[i]);
                if (!c || c->node)
                        continue;
                fprintf(e.f, "# %s:  (all defaults)\n", names[i]);
                put_defaults(&e, c, 2);
        }
        if (fclose(e.f) != 0 || !text) {
                free(text);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        *out = text;
        return 0;
}
