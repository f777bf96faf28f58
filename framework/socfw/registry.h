/* socfw/registry.h - find, load and check plugins and heads (libltdl).
 *
 * The registry scans directories for libtool modules (`*.la`, else `*.so`),
 * loads each one, calls its single exported `socfw_plugin_<name>_get` and
 * checks the descriptor (ABI version, sizes, kind, name, parameter specs).
 * No hook is called: metadata only.  What it hands out is its own copy of
 * each descriptor and its hook tables at this socfw's sizes (a field or
 * hook past what the plugin's size covers reads 0/NULL), valid until
 * socfw_registry_free.  A module that fails is recorded as a problem
 * ("<file>: <reason>") and scanning goes on.
 *
 *     socfw_registry *reg = socfw_registry_new();
 *     socfw_registry_add_default_paths(reg, cli_plugin_path);
 *     socfw_registry_scan(reg);
 *     const socfw_plugin *p = socfw_registry_find(reg, "sentiment",
 *                                                 SOCFW_PLUGIN_TASK);
 *     for (size_t i = 0; i < socfw_registry_problem_count(reg); i++)
 *             fprintf(stderr, "%s\n", socfw_registry_problem(reg, i));
 *     socfw_registry_free(reg);
 *
 * Search order (first directory wins when two modules share a name):
 *   1. directories given on the command line (--plugin-path), in order;
 *   2. $SOCFW_PLUGIN_PATH, colon-separated;
 *   3. the build tree's plugins/ and heads/ when the program runs from the
 *      build tree (or SOCFW_UNINSTALLED=1 is set);
 *   4. otherwise, <the program's directory>/../lib/socfw-<ABI major> when
 *      it exists (an install made with `make install prefix=/x`, or moved);
 *   5. the install directory, $(libdir)/socfw-<ABI major>.
 */
#ifndef SOCFW_REGISTRY_H
#define SOCFW_REGISTRY_H

#include <stddef.h>

#include "socfw/error.h"
#include "socfw/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_registry socfw_registry;

/* New empty registry; NULL on allocation failure.  Free with _free. */
socfw_registry *socfw_registry_new(void);
/* Unloads every module.  Descriptors obtained from it become invalid. */
void socfw_registry_free(socfw_registry *reg);

/* Append one directory to the search path (copied).  Its modules and those
 * in its immediate subdirectories are found.  Returns 0 or SOCFW_ENOMEM. */
int socfw_registry_add_path(socfw_registry *reg, const char *dir);

/* Append the standard search order above.  `cli_paths` is a colon-separated
 * list from --plugin-path, or NULL. */
int socfw_registry_add_default_paths(socfw_registry *reg,
                                     const char *cli_paths);

/* Number of directories on the search path, and directory i (borrowed). */
size_t socfw_registry_path_count(const socfw_registry *reg);
const char *socfw_registry_path(const socfw_registry *reg, size_t i);

/* Load every module on the search path.  Returns the number of plugins
 * registered (>= 0); failures are problems, not errors. */
int socfw_registry_scan(socfw_registry *reg);

/* Load one module file.  Returns 0, or a negative code with the reason in
 * `err` (also recorded as a problem). */
int socfw_registry_load_file(socfw_registry *reg, const char *path,
                             socfw_error *err);

/* Register a descriptor linked into the program (tests, static builds).
 * `origin` is shown instead of a file name. */
int socfw_registry_add_static(socfw_registry *reg, const socfw_plugin *desc,
                              const char *origin, socfw_error *err);

/* Registered plugins in search order. */
size_t socfw_registry_count(const socfw_registry *reg);
const socfw_plugin *socfw_registry_get(const socfw_registry *reg, size_t i);
/* File the plugin came from (borrowed). */
const char *socfw_registry_file(const socfw_registry *reg, size_t i);

/* Find by name; kind 0 matches either kind.  NULL when absent. */
const socfw_plugin *socfw_registry_find(const socfw_registry *reg,
                                        const char *name, int kind);

/* Modules that could not be registered: "<file>: <reason>" (borrowed). */
size_t socfw_registry_problem_count(const socfw_registry *reg);
const char *socfw_registry_problem(const socfw_registry *reg, size_t i);

/* Check a descriptor as the registry does (ABI numbers, sizes, kind, name,
 * required hooks, a head's target, specs).
 * `expected_name` may be NULL.  Used by the registry and by plugin tests. */
int socfw_plugin_check(const socfw_plugin *desc, const char *expected_name,
                       socfw_error *err);

/* Short words for enum values ("task", "head"; "int", "path", ...). */
const char *socfw_plugin_kind_name(int kind);

/* The kind of gold target head `head` learns from (its declared
 * `target`); 0 for a task or NULL. */
socfw_target_kind socfw_registry_head_target(const socfw_plugin *head);

/* What task plugin `task` reads in predict (its declared `input`), or
 * NULL: a post's text (also for a head or NULL). */
const char *socfw_registry_task_input(const socfw_plugin *task);
const char *socfw_param_type_name(int type);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_REGISTRY_H */
