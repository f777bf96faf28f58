/* framework/core/config_impl.h - how a socfw_config is built (internal). */
#ifndef SOCFW_CORE_CONFIG_IMPL_H
#define SOCFW_CORE_CONFIG_IMPL_H

#include "core/yamltree.h"
#include "socfw/config.h"
#include "socfw/plugin.h"

#define SOCFW_CONFIG_MAX_TABLES 4

struct socfw_config {
        char *name;                 /* section or task name               */
        const char *file;           /* pipeline file (borrowed)           */
        const char *base_dir;       /* for relative paths (borrowed)      */
        const ynode *node;          /* the section's mapping, may be NULL */
        const socfw_param_spec *tables[SOCFW_CONFIG_MAX_TABLES];
        size_t n_tables;
        /* PATH values resolved against base_dir, by key */
        char **path_keys;
        char **path_values;
        size_t n_paths;
        /* LIST defaults parsed into sequences, by key (owned) */
        char **list_keys;
        ynode **list_values;
        size_t n_lists;
};

/* Parse a LIST default: "[a, b]" (YAML flow) or "a,b".  Returns a YNODE_SEQ
 * of scalars (caller frees) or NULL when it is not a list. */
ynode *socfw_config_parse_list_default(const char *text);

/* New config over `node` (borrowed, may be NULL) with up to
 * SOCFW_CONFIG_MAX_TABLES spec tables (borrowed).  NULL on ENOMEM. */
socfw_config *socfw_config_new(const char *name, const char *file,
                               const char *base_dir, const ynode *node,
                               const socfw_param_spec *const *tables,
                               size_t n_tables);
void socfw_config_free(socfw_config *cfg);

/* Resolve every PATH spec (given or defaulted) against base_dir, and parse
 * LIST defaults. */
int socfw_config_resolve_paths(socfw_config *cfg);

/* The spec for a dotted key, or NULL. */
const socfw_param_spec *socfw_config_spec(const socfw_config *cfg,
                                          const char *key);

/* The node at a dotted key, or NULL. */
const ynode *socfw_config_node_at(const ynode *map, const char *key);

/* Join base_dir and a relative path (absolute paths and "scheme:" values
 * are returned as they are).  Caller frees. */
char *socfw_config_join_path(const char *base_dir, const char *path);

#endif
