/* config.c - read-only access to a validated section (socfw/config.h). */
#include "core/config_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/param.h"

#include <sodium.h>
#include <stdint.h>

socfw_config *
socfw_config_new(const char *name, const char *file, const char *base_dir,
                 const ynode *node, const socfw_param_spec *const *tables,
                 size_t n_tables)
{
        socfw_config *cfg = calloc(1, sizeof *cfg);
        if (!cfg)
                return NULL;
        cfg->name = strdup(name ? name : "");
        if (!cfg->name) {
                free(cfg);
                return NULL;
        }
        cfg->file = file;
        cfg->base_dir = base_dir;
        cfg->node = node;
        for (size_t i = 0; i < n_tables && i < SOCFW_CONFIG_MAX_TABLES; i++)
                if (tables[i])
                        cfg->tables[cfg->n_tables++] = tables[i];
        return cfg;
}

void
socfw_config_free(socfw_config *cfg)
{
        if (!cfg)
                return;
        for (size_t i = 0; i < cfg->n_paths; i++) {
                free(cfg->path_keys[i]);
                free(cfg->path_values[i]);
        }
        free(cfg->path_keys);
        free(cfg->path_values);
        for (size_t i = 0; i < cfg->n_lists; i++) {
                free(cfg->list_keys[i]);
                ynode_free(cfg->list_values[i]);
        }
        free(cfg->list_keys);
        free(cfg->list_values);
        free(cfg->name);
        free(cfg);
}

const socfw_param_spec *
socfw_config_spec(const socfw_config *cfg, const char *key)
{
        if (!cfg)
                return NULL;
        for (size_t t = 0; t < cfg->n_tables; t++)
                for (const socfw_param_spec *s = cfg->tables[t]; s->key; s++)
                        if (strcmp(s->key, key) == 0)
                                return s;
        return NULL;
}

const ynode *
socfw_config_node_at(const ynode *map, const char *key)
{
        char part[256];
        const char *p = key;
        const ynode *cur = map;
        while (cur && *p) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                if (len >= sizeof part)
                        return NULL;
                memcpy(part, p, len);
                part[len] = '\0';
                cur = ynode_map_get(cur, part, NULL);
                p = dot ? dot + 1 : p + len;
        }
        return cur;
}

char *
socfw_config_join_path(const char *base_dir, const char *path)
{
        /* absolute, or a scheme such as "hub:org/model" */
        const char *colon = strchr(path, ':');
        const char *slash = strchr(path, '/');
        if (path[0] == '/' || !base_dir || !base_dir[0] ||
            (colon && (!slash || colon < slash)))
                return strdup(path);
        size_t n = strlen(base_dir) + strlen(path) + 2;
        char *out = malloc(n);
        if (out)
                snprintf(out, n, "%s/%s", base_dir, path);
        return out;
}

ynode *
socfw_config_parse_list_default(const char *text)
{
        ynode *seq = NULL;
        while (*text == ' ')
                text++;
        if (*text == '[') {
                socfw_error err = {0};
                if (ynode_parse_buffer(text, strlen(text), "<default>", &seq,
                                       &err) < 0)
                        return NULL;
                for (size_t i = 0; seq && i < seq->n; i++)
                        if (seq->items[i]->kind != YNODE_SCALAR) {
                                ynode_free(seq);
                                return NULL;
                        }
                if (seq && seq->kind != YNODE_SEQ) {
                        ynode_free(seq);
                        return NULL;
                }
                return seq;
        }
        seq = ynode_new_map(0, 0);
        if (!seq)
                return NULL;
        seq->kind = YNODE_SEQ;
        const char *p = text;
        while (*text && *p) {
                size_t len = strcspn(p, ",");
                char item[256];
                size_t b = 0, e = len;
                while (b < e && p[b] == ' ')
                        b++;
                while (e > b && p[e - 1] == ' ')
                        e--;
                if (e - b >= sizeof item)
                        e = b + sizeof item - 1;
                memcpy(item, p + b, e - b);
                item[e - b] = '\0';
                ynode *it = ynode_new_scalar(item, 0, 0);
                ynode **g = it ? realloc(seq->items,
                                         (seq->n + 1) * sizeof *g)
                               : NULL;
                if (!g) {
                        ynode_free(it);
                        ynode_free(seq);
                        return NULL;
                }
                seq->items = g;
                g[seq->n++] = it;
                p += len;
                if (*p == ',')
                        p++;
                else
                        break;
        }
        return seq;
}

static int
prepare_list_defaults(socfw_config *cfg)
{
        for (size_t t = 0; t < cfg->n_tables; t++) {
                for (const socfw_param_spec *s = cfg->tables[t]; s->key;
                     s++) {
                        if (s->type != SOCFW_PARAM_LIST || !s->default_value ||
                            socfw_config_node_at(cfg->node, s->key))
                                continue;
                        ynode *seq = socfw_config_parse_list_default(
                                s->default_value);
                        char *k = seq ? strdup(s->key) : NULL;
                        size_t m = cfg->n_lists + 1;
                        char **nk = k ? realloc(cfg->list_keys,
                                                m * sizeof *nk)
                                      : NULL;
                        if (nk)
                                cfg->list_keys = nk;
                        ynode **nv = nk ? realloc(cfg->list_values,
                                                  m * sizeof *nv)
                                        : NULL;
                        if (!nv) {
                                free(k);
                                ynode_free(seq);
                                if (!seq)
                                        continue; /* checked at load time */
                                return SOCFW_ENOMEM;
                        }
                        cfg->list_values = nv;
                        nk[cfg->n_lists] = k;
                        nv[cfg->n_lists] = seq;
                        cfg->n_lists = m;
                }
        }
        return 0;
}

int
socfw_config_resolve_paths(socfw_config *cfg)
{
        int rc = prepare_list_defaults(cfg);
        if (rc < 0)
                return rc;
        for (size_t t = 0; t < cfg->n_tables; t++) {
                for (const socfw_param_spec *s = cfg->tables[t]; s->key;
                     s++) {
                        if (s->type != SOCFW_PARAM_PATH)
                                continue;
                        const ynode *n = socfw_config_node_at(cfg->node,
                                                              s->key);
                        const char *raw = (n && n->kind == YNODE_SCALAR &&
                                           n->value[0])
                                                  ? n->value
                                                  : s->default_value;
                        if (!raw)
                                continue;
                        char *k = strdup(s->key);
                        char *v = socfw_config_join_path(cfg->base_dir, raw);
                        size_t m = cfg->n_paths + 1;
                        char **nk = k && v ? realloc(cfg->path_keys,
                                                     m * sizeof *nk)
                                           : NULL;
                        if (nk)
                                cfg->path_keys = nk;
                        char **nv = nk ? realloc(cfg->path_values,
                                                 m * sizeof *nv)
                                       : NULL;
                        if (!nv) {
                                free(k);
                                free(v);
                                return SOCFW_ENOMEM;
                        }
                        cfg->path_values = nv;
                        nk[cfg->n_paths] = k;
                        nv[cfg->n_paths] = v;
                        cfg->n_paths = m;
                }
        }
        return 0;
}

/* The scalar text for key: from the file, else the default. */
static const char *
scalar_text(const socfw_config *cfg, const char *key)
{
        if (!cfg)
                return NULL;
        const ynode *n = socfw_config_node_at(cfg->node, key);
        if (n && n->kind == YNODE_SCALAR)
                return n->value;
        const socfw_param_spec *s = socfw_config_spec(cfg, key);
        return s ? s->default_value : NULL;
}

int
socfw_config_has(const socfw_config *cfg, const char *key)
{
        return cfg && socfw_config_node_at(cfg->node, key) != NULL;
}

int64_t
socfw_config_get_int(const socfw_config *cfg, const char *key)
{
        long long v = 0;
        const char *t = scalar_text(cfg, key);
        if (t && socfw_param_parse_int(t, &v) == 0)
                return v;
        double d;
        if (t && socfw_param_parse_float(t, &d) == 0)
                return (int64_t)d;
        return 0;
}

double
socfw_config_get_float(const socfw_config *cfg, const char *key)
{
        double v = 0;
        const char *t = scalar_text(cfg, key);
        if (t && socfw_param_parse_float(t, &v) == 0)
                return v;
        return 0;
}

bool
socfw_config_get_bool(const socfw_config *cfg, const char *key)
{
        int v = 0;
        const char *t = scalar_text(cfg, key);
        if (t && socfw_param_parse_bool(t, &v) == 0)
                return v != 0;
        return false;
}

const char *
socfw_config_get_string(const socfw_config *cfg, const char *key)
{
        if (!cfg)
                return NULL;
        for (size_t i = 0; i < cfg->n_paths; i++)
                if (strcmp(cfg->path_keys[i], key) == 0)
                        return cfg->path_values[i];
        const char *t = scalar_text(cfg, key);
        return t && t[0] ? t : NULL;
}

/* LIST: the YAML sequence, or the parsed default. */
static const ynode *
list_node(const socfw_config *cfg, const char *key)
{
        if (!cfg)
                return NULL;
        const ynode *n = socfw_config_node_at(cfg->node, key);
        if (n)
                return n->kind == YNODE_SEQ ? n : NULL;
        for (size_t i = 0; i < cfg->n_lists; i++)
                if (strcmp(cfg->list_keys[i], key) == 0)
                        return cfg->list_values[i];
        return NULL;
}

size_t
socfw_config_list_len(const socfw_config *cfg, const char *key)
{
        const ynode *n = list_node(cfg, key);
        return n ? n->n : 0;
}

const char *
socfw_config_list_get(const socfw_config *cfg, const char *key, size_t i)
{
        const ynode *n = list_node(cfg, key);
        if (!n || i >= n->n || n->items[i]->kind != YNODE_SCALAR)
                return NULL;
        return n->items[i]->value;
}

size_t
socfw_config_map_len(const socfw_config *cfg, const char *key)
{
        const ynode *n = cfg ? socfw_config_node_at(cfg->node, key) : NULL;
        return n && n->kind == YNODE_MAP ? n->n : 0;
}

const char *
socfw_config_map_key(const socfw_config *cfg, const char *key, size_t i)
{
        const ynode *n = cfg ? socfw_config_node_at(cfg->node, key) : NULL;
        return n && n->kind == YNODE_MAP && i < n->n ? n->keys[i] : NULL;
}

const char *
socfw_config_map_value(const socfw_config *cfg, const char *key, size_t i)
{
        const ynode *n = cfg ? socfw_config_node_at(cfg->node, key) : NULL;
        if (!n || n->kind != YNODE_MAP || i >= n->n ||
            n->items[i]->kind != YNODE_SCALAR)
                return NULL;
        return n->items[i]->value;
}

const char *
socfw_config_map_lookup(const socfw_config *cfg, const char *key,
                        const char *entry)
{
        const ynode *n = cfg ? socfw_config_node_at(cfg->node, key) : NULL;
        const ynode *v = ynode_map_get(n, entry, NULL);
        return v && v->kind == YNODE_SCALAR ? v->value : NULL;
}

const char *
socfw_config_file(const socfw_config *cfg)
{
        return cfg ? cfg->file : NULL;
}

long
socfw_config_line(const socfw_config *cfg, const char *key)
{
        if (!cfg || !cfg->node)
                return 0;
        const ynode *n = key ? socfw_config_node_at(cfg->node, key)
                             : cfg->node;
        return n ? n->line : 0;
}

long
socfw_config_column(const socfw_config *cfg, const char *key)
{
        if (!cfg || !cfg->node)
                return 0;
        const ynode *n = key ? socfw_config_node_at(cfg->node, key)
                             : cfg->node;
        return n ? n->column : 0;
}

const char *
socfw_config_name(const socfw_config *cfg)
{
        return cfg ? cfg->name : NULL;
}

/* ---- digest ------------------------------------------------------------- */

static void
digest_put(crypto_generichash_state *st, const char *s)
{
        uint64_t n = s ? strlen(s) : (uint64_t)-1;
        crypto_generichash_update(st, (const unsigned char *)&n, sizeof n);
        if (s)
                crypto_generichash_update(st, (const unsigned char *)s,
                                          (size_t)n);
}

static void
digest_node(crypto_generichash_state *st, const ynode *n)
{
        if (!n) {
                digest_put(st, NULL);
                return;
        }
        char kind[2] = {(char)('0' + n->kind), 0};
        digest_put(st, kind);
        if (n->kind == YNODE_SCALAR) {
                digest_put(st, n->value);
                return;
        }
        for (size_t i = 0; i < n->n; i++) {
                if (n->kind == YNODE_MAP)
                        digest_put(st, n->keys[i]);
                digest_node(st, n->items[i]);
        }
}

void
socfw_config_digest(const socfw_config *cfg, unsigned char out[32])
{
        crypto_generichash_state st;
        if (sodium_init() < 0) /* idempotent */
                memset(out, 0, 32);
        crypto_generichash_init(&st, NULL, 0, 32);
        digest_put(&st, cfg ? cfg->name : NULL);
        digest_node(&st, cfg ? cfg->node : NULL);
        crypto_generichash_final(&st, out, 32);
}
