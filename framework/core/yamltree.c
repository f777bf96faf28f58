/* yamltree.c - build a ynode tree from libyaml events. */
#include "core/yamltree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct anchor {
        char *name;
        ynode *node; /* borrowed: lives in the tree */
} anchor;

typedef struct builder {
        yaml_parser_t parser;
        const char *name;
        anchor *anchors;
        size_t n_anchors;
        size_t n_aliases;
        size_t n_nodes;
        socfw_error *err;
} builder;

/* ---- nodes ---- */

static ynode *
node_new(ynode_kind kind, long line, long column)
{
        ynode *n = calloc(1, sizeof *n);
        if (n) {
                n->kind = kind;
                n->line = line;
                n->column = column;
        }
        return n;
}

ynode *
ynode_new_scalar(const char *value, long line, long column)
{
        ynode *n = node_new(YNODE_SCALAR, line, column);
        if (n && !(n->value = strdup(value ? value : ""))) {
                free(n);
                return NULL;
        }
        return n;
}

ynode *
ynode_new_map(long line, long column)
{
        return node_new(YNODE_MAP, line, column);
}

void
ynode_free(ynode *node)
{
        if (!node)
                return;
        for (size_t i = 0; i < node->n; i++) {
                ynode_free(node->items[i]);
                if (node->keys)
                        free(node->keys[i]);
        }
        free(node->items);
        free(node->keys);
        free(node->key_line);
        free(node->key_column);
        free(node->value);
        free(node);
}

static int
append(ynode *parent, const char *key, long kl, long kc, ynode *child)
{
        size_t n = parent->n + 1;
        ynode **items = realloc(parent->items, n * sizeof *items);
        if (!items)
                return -1;
        parent->items = items;
        if (parent->kind == YNODE_MAP) {
                char **keys = realloc(parent->keys, n * sizeof *keys);
                if (!keys)
                        return -1;
                parent->keys = keys;
                long *l = realloc(parent->key_line, n * sizeof *l);
                if (!l)
                        return -1;
                parent->key_line = l;
                long *c = realloc(parent->key_column, n * sizeof *c);
                if (!c)
                        return -1;
                parent->key_column = c;
                if (!(keys[n - 1] = strdup(key)))
                        return -1;
                l[n - 1] = kl;
                c[n - 1] = kc;
        }
        items[n - 1] = child;
        parent->n = n;
        return 0;
}

ynode *
ynode_map_get(const ynode *map, const char *key, size_t *index)
{
        if (!map || map->kind != YNODE_MAP)
                return NULL;
        for (size_t i = 0; i < map->n; i++)
                if (strcmp(map->keys[i], key) == 0) {
                        if (index)
                                *index = i;
                        return map->items[i];
                }
        return NULL;
}

int
ynode_map_set(ynode *map, const char *key, ynode *value)
{
        size_t i;
        if (ynode_map_get(map, key, &i)) {
                ynode_free(map->items[i]);
                map->items[i] = value;
                return 0;
        }
        if (append(map, key, value->line, value->column, value) < 0) {
                ynode_free(value);
                return SOCFW_ENOMEM;
        }
        return 0;
}

static ynode *
clone_counted(const ynode *src, builder *b)
{
        if (b && ++b->n_nodes > SOCFW_YAML_MAX_NODES)
                return NULL;
        ynode *n = node_new(src->kind, src->line, src->column);
        if (!n)
                return NULL;
        n->quoted = src->quoted;
        if (src->value && !(n->value = strdup(src->value)))
                goto fail;
        for (size_t i = 0; i < src->n; i++) {
                ynode *c = clone_counted(src->items[i], b);
                if (!c)
                        goto fail;
                if (append(n, src->keys ? src->keys[i] : NULL,
                           src->key_line ? src->key_line[i] : 0,
                           src->key_column ? src->key_column[i] : 0,
                           c) < 0) {
                        ynode_free(c);
                        goto fail;
                }
        }
        return n;
fail:
        ynode_free(n);
        return NULL;
}

ynode *
ynode_clone(const ynode *node)
{
        return node ? clone_counted(node, NULL) : NULL;
}

const char *
ynode_kind_name(const ynode *node)
{
        if (!node)
                return "nothing";
        switch (node->kind) {
        case YNODE_MAP: return "a mapping";
        case YNODE_SEQ: return "a list";
        default: return "a scalar";
        }
}

/* ---- parsing ---- */

static int
fail_at(builder *b, long line, long col, int code, const char *msg)
{
        return socfw_error_set_at(b->err, code, b->name, line, col, "%s", msg);
}

static int
parser_error(builder *b)
{
        const yaml_parser_t *p = &b->parser;
        char msg[512];
        snprintf(msg, sizeof msg, "invalid YAML: %s%s%s",
                 p->problem ? p->problem : "syntax error",
                 p->context ? " " : "", p->context ? p->context : "");
        return fail_at(b, (long)p->problem_mark.line + 1,
                       (long)p->problem_mark.column + 1, SOCFW_EFORMAT, msg);
}

static int
next_event(builder *b, yaml_event_t *ev)
{
        if (!yaml_parser_parse(&b->parser, ev))
                return parser_error(b);
        return 0;
}

static int
remember_anchor(builder *b, const yaml_char_t *name, ynode *node)
{
        if (!name)
                return 0;
        anchor *a = realloc(b->anchors, (b->n_anchors + 1) * sizeof *a);
        if (!a)
                return SOCFW_ENOMEM;
        b->anchors = a;
        if (!(a[b->n_anchors].name = strdup((const char *)name)))
                return SOCFW_ENOMEM;
        a[b->n_anchors++].node = node;
        return 0;
}

/* Parse the node that starts with event `ev` (consumed). */
static int parse_node(builder *b, yaml_event_t *ev, int depth, ynode **out);

static int
parse_collection(builder *b, ynode *node, int depth)
{
        for (;;) {
                yaml_event_t ev;
                int rc = next_event(b, &ev);
                if (rc < 0)
                        return rc;
                if (ev.type == YAML_SEQUENCE_END_EVENT ||
                    ev.type == YAML_MAPPING_END_EVENT) {
                        yaml_event_delete(&ev);
                        return 0;
                }
                char *key = NULL;
                long kl = 0, kc = 0;
                if (node->kind == YNODE_MAP) {
                        kl = (long)ev.start_mark.line + 1;
                        kc = (long)ev.start_mark.column + 1;
                        if (ev.type != YAML_SCALAR_EVENT) {
                                yaml_event_delete(&ev);
                                return fail_at(b, kl, kc, SOCFW_EFORMAT,
                                               "a mapping key must be a "
                                               "plain name, not a list or "
                                               "mapping");
                        }
                        key = strdup((const char *)ev.data.scalar.value);
                        yaml_event_delete(&ev);
                        if (!key)
                                return SOCFW_ENOMEM;
                        if (ynode_map_get(node, key, NULL)) {
                                char msg[512];
                                snprintf(msg, sizeof msg,
                                         "duplicate key '%.200s' in this "
                                         "mapping (hint: each key may appear "
                                         "once)",
                                         key);
                                free(key);
                                return fail_at(b, kl, kc, SOCFW_ESCHEMA, msg);
                        }
                        rc = next_event(b, &ev);
                        if (rc < 0) {
                                free(key);
                                return rc;
                        }
                }
                ynode *child = NULL;
                rc = parse_node(b, &ev, depth + 1, &child);
                if (rc == 0 && append(node, key, kl, kc, child) < 0)
                        rc = SOCFW_ENOMEM;
                free(key);
                if (rc < 0) {
                        /* a partly built child is not in the tree yet */
                        ynode_free(child);
                        return rc;
                }
        }
}

static int
parse_node(builder *b, yaml_event_t *ev, int depth, ynode **out)
{
        long line = (long)ev->start_mark.line + 1;
        long col = (long)ev->start_mark.column + 1;
        int rc = 0;
        *out = NULL;
        if (depth > SOCFW_YAML_MAX_DEPTH) {
                yaml_event_delete(ev);
                return fail_at(b, line, col, SOCFW_EFORMAT,
                               "YAML nested too deeply (limit 64 levels)");
        }
        if (++b->n_nodes > SOCFW_YAML_MAX_NODES) {
                yaml_event_delete(ev);
                return fail_at(b, line, col, SOCFW_EFORMAT,
                               "YAML document too large (limit 100000 "
                               "nodes)");
        }
        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                ynode *n = ynode_new_scalar(
                        (const char *)ev->data.scalar.value, line, col);
                if (!n) {
                        rc = SOCFW_ENOMEM;
                        break;
                }
                n->quoted = ev->data.scalar.style !=
                            YAML_PLAIN_SCALAR_STYLE;
                *out = n;
                rc = remember_anchor(b, ev->data.scalar.anchor, n);
                break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                int is_map = ev->type == YAML_MAPPING_START_EVENT;
                ynode *n = node_new(is_map ? YNODE_MAP : YNODE_SEQ, line,
                                    col);
                if (!n) {
                        rc = SOCFW_ENOMEM;
                        break;
                }
                *out = n;
                const yaml_char_t *a = is_map
                                               ? ev->data.mapping_start.anchor
                                               : ev->data.sequence_start.anchor;
                rc = remember_anchor(b, a, n);
                yaml_event_delete(ev);
                if (rc == 0)
                        rc = parse_collection(b, n, depth);
                return rc;
        }
        case YAML_ALIAS_EVENT: {
                if (++b->n_aliases > SOCFW_YAML_MAX_ALIASES) {
                        rc = fail_at(b, line, col, SOCFW_EFORMAT,
                                     "too many YAML aliases (limit 100; "
                                     "hint: write the values out)");
                        break;
                }
                const char *name = (const char *)ev->data.alias.anchor;
                const ynode *target = NULL;
                for (size_t i = b->n_anchors; i-- > 0;)
                        if (strcmp(b->anchors[i].name, name) == 0) {
                                target = b->anchors[i].node;
                                break;
                        }
                if (!target) {
                        rc = fail_at(b, line, col, SOCFW_EFORMAT,
                                     "alias to an unknown anchor");
                        break;
                }
                *out = clone_counted(target, b);
                if (!*out)
                        rc = fail_at(b, line, col, SOCFW_EFORMAT,
                                     "YAML aliases expand to too many "
                                     "nodes (limit 100000): refusing a "
                                     "possible alias bomb");
                break;
        }
        default:
                rc = fail_at(b, line, col, SOCFW_EFORMAT,
                             "unexpected YAML structure");
                break;
        }
        yaml_event_delete(ev);
        return rc;
}

int
ynode_parse_buffer(const char *text, size_t len, const char *name,
                   ynode **out, socfw_error *err)
{
        builder b = {.name = name, .err = err};
        ynode *root = NULL;
        int rc = 0;
        *out = NULL;
        if (len > SOCFW_YAML_MAX_BYTES)
                return socfw_error_set_at(err, SOCFW_EFORMAT, name, 0, 0,
                                          "file too large for a pipeline "
                                          "(%zu bytes, limit 4 MiB)",
                                          len);
        if (!yaml_parser_initialize(&b.parser))
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "cannot initialise the YAML parser");
        yaml_parser_set_input_string(&b.parser, (const unsigned char *)text,
                                     len);
        for (;;) {
                yaml_event_t ev;
                rc = next_event(&b, &ev);
                if (rc < 0)
                        goto out;
                if (ev.type == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                if (ev.type == YAML_STREAM_START_EVENT ||
                    ev.type == YAML_DOCUMENT_START_EVENT) {
                        yaml_event_delete(&ev);
                        continue;
                }
                if (ev.type == YAML_DOCUMENT_END_EVENT) {
                        yaml_event_delete(&ev);
                        break; /* first document only */
                }
                rc = parse_node(&b, &ev, 0, &root);
                if (rc < 0)
                        goto out;
        }
        if (!root)
                root = ynode_new_map(1, 1);
        if (!root)
                rc = SOCFW_ENOMEM;
out:
        if (rc < 0) {
                ynode_free(root);
                root = NULL;
                if (rc == SOCFW_ENOMEM)
                        socfw_error_set(err, rc, "out of memory reading %s",
                                        name);
        }
        for (size_t i = 0; i < b.n_anchors; i++)
                free(b.anchors[i].name);
        free(b.anchors);
        yaml_parser_delete(&b.parser);
        *out = root;
        return rc;
}

int
ynode_parse_file(const char *path, ynode **out, socfw_error *err)
{
        FILE *f = fopen(path, "rb");
        *out = NULL;
        if (!f)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot open: %m");
        char *buf = malloc(SOCFW_YAML_MAX_BYTES + 1);
        if (!buf) {
                fclose(f);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        size_t n = fread(buf, 1, SOCFW_YAML_MAX_BYTES + 1, f);
        int bad = ferror(f);
        fclose(f);
        int rc;
        if (bad)
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "read error");
        else
                rc = ynode_parse_buffer(buf, n, path, out, err);
        free(buf);
        return rc;
}
