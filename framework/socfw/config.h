/* socfw/config.h - read-only access to a validated pipeline section.
 *
 * A plugin never sees YAML.  The host parses the pipeline, checks every key
 * against the plugin's parameter specs (socfw/plugin.h), fills in defaults,
 * and hands the plugin a `socfw_config` for its section.  Keys are dotted
 * paths relative to that section ("data.train", "pooling").
 *
 *     double lr = socfw_config_get_float(cfg, "lr");
 *     const char *train = socfw_config_get_string(cfg, "data.train");
 *     for (size_t i = 0; i < socfw_config_list_len(cfg, "labels"); i++)
 *             puts(socfw_config_list_get(cfg, "labels", i));
 *
 * Every getter returns the value from the YAML file, or the spec's default,
 * or (when neither exists) 0 / 0.0 / false / NULL.  Strings are borrowed:
 * they live as long as the pipeline they came from.  PATH values are already
 * resolved against the pipeline file's directory.
 */
#ifndef SOCFW_CONFIG_H
#define SOCFW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_config socfw_config;

/* 1 when the key was given in the file (or by --set), 0 when it comes from a
 * default or is absent. */
int socfw_config_has(const socfw_config *cfg, const char *key);

int64_t socfw_config_get_int(const socfw_config *cfg, const char *key);
double socfw_config_get_float(const socfw_config *cfg, const char *key);
bool socfw_config_get_bool(const socfw_config *cfg, const char *key);
/* STRING, ENUM and PATH values; NULL when unset.  Borrowed. */
const char *socfw_config_get_string(const socfw_config *cfg, const char *key);

/* LIST values: number of items, and item i (borrowed; NULL past the end). */
size_t socfw_config_list_len(const socfw_config *cfg, const char *key);
const char *socfw_config_list_get(const socfw_config *cfg, const char *key,
                                  size_t i);

/* MAP values (string -> string): number of entries, entry i, and lookup. */
size_t socfw_config_map_len(const socfw_config *cfg, const char *key);
const char *socfw_config_map_key(const socfw_config *cfg, const char *key,
                                 size_t i);
const char *socfw_config_map_value(const socfw_config *cfg, const char *key,
                                   size_t i);
const char *socfw_config_map_lookup(const socfw_config *cfg, const char *key,
                                    const char *entry);

/* Where a key was written, for error messages: the pipeline file, and the
 * 1-based line/column of the value (0 when it came from a default).
 * `key` may be NULL for the section itself. */
const char *socfw_config_file(const socfw_config *cfg);
long socfw_config_line(const socfw_config *cfg, const char *key);
long socfw_config_column(const socfw_config *cfg, const char *key);

/* The section's name as the user wrote it: a task's `name`, or the top-level
 * key ("privacy", "train"). Borrowed. */
const char *socfw_config_name(const socfw_config *cfg);

/* A digest of the section as written: its name and every key, value and
 * nesting in file order (BLAKE2b-256 into out).  Equal digests, equal
 * sections; reordering keys changes it. */
void socfw_config_digest(const socfw_config *cfg, unsigned char out[32]);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_CONFIG_H */
