/* framework/core/yamltree.h - a YAML document as a small tree with source
 * positions (internal to libsocfw; built on libyaml's event parser).
 *
 * Limits keep hostile input cheap: a file of at most 4 MiB, nesting at most
 * 64 levels, at most 100 aliases and 100,000 nodes after alias expansion
 * (an "alias bomb" is refused quickly), and duplicate mapping keys are an
 * error.  Only the first document of a stream is read.
 */
#ifndef SOCFW_CORE_YAMLTREE_H
#define SOCFW_CORE_YAMLTREE_H

#include <stddef.h>

#include "socfw/error.h"

#define SOCFW_YAML_MAX_BYTES (4u << 20)
#define SOCFW_YAML_MAX_DEPTH 64
#define SOCFW_YAML_MAX_ALIASES 100
#define SOCFW_YAML_MAX_NODES 100000

typedef enum ynode_kind {
        YNODE_SCALAR = 1,
        YNODE_SEQ,
        YNODE_MAP,
} ynode_kind;

typedef struct ynode {
        ynode_kind kind;
        long line, column;      /* 1-based start of the node              */
        char *value;            /* SCALAR: the text (NUL-terminated)      */
        int quoted;             /* SCALAR: was quoted ('...' or "...")    */
        size_t n;               /* SEQ/MAP: number of items               */
        struct ynode **items;   /* SEQ items / MAP values                 */
        char **keys;            /* MAP keys                               */
        long *key_line, *key_column;
} ynode;

/* Parse a file or a buffer (`name` is used in messages).  On success *out
 * is a tree the caller frees with ynode_free; an empty document gives an
 * empty mapping. */
int ynode_parse_file(const char *path, ynode **out, socfw_error *err);
int ynode_parse_buffer(const char *text, size_t len, const char *name,
                       ynode **out, socfw_error *err);
void ynode_free(ynode *node);

/* Value of `key` in a mapping, or NULL.  Index of the key in *index when
 * not NULL. */
ynode *ynode_map_get(const ynode *map, const char *key, size_t *index);

/* New nodes (for --set overrides).  NULL on allocation failure. */
ynode *ynode_new_scalar(const char *value, long line, long column);
ynode *ynode_new_map(long line, long column);
/* Set map[key] = value (replacing and freeing an old value).  Takes
 * ownership of `value`. */
int ynode_map_set(ynode *map, const char *key, ynode *value);
/* Deep copy; NULL on allocation failure. */
ynode *ynode_clone(const ynode *node);

/* "a mapping", "a list", "a scalar". */
const char *ynode_kind_name(const ynode *node);

#endif
