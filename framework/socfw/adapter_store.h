/* socfw/adapter_store.h - the versions of a task's adapter in a run
 * directory, and which one is current.
 *
 * A continued run (socfw run --continue) trains a new version of a task's
 * adapter; the store keeps every version and a `current` pointer:
 *
 *   RUN/adapters/<task>/               what predict, serve, adapter merge
 *                                      and composition read: the current
 *                                      version's files (PEFT layout, head,
 *                                      meta.json with "version": N)
 *   RUN/adapters/<task>/current        "N\n", written atomically last
 *   RUN/adapters/<task>/versions/vN/   adapter files + head + meta.json and
 *                                      metrics.json (gate scores, decision
 *                                      and reasons, data fingerprint,
 *                                      parent version, time)
 *
 * Version directories are written once (a temporary directory renamed
 * into place) and never changed afterwards, except metrics.json's
 * "promoted" history.  Promotion copies a version's files over the
 * top-level ones (each file atomically) and then replaces `current`
 * atomically: a reader that follows `current` (socfw_adapter_store_current
 * + the version directory) always sees one whole version.
 *
 *     int cur;
 *     socfw_adapter_store_adopt("runs/x/adapters/sentiment", info, &cur,
 *                               &err);            // v1 = what the run made
 *     int v;
 *     socfw_adapter_store_add(tdir, "work/adapters/sentiment", metrics,
 *                             &v, &err);          // v2, not current yet
 *     socfw_adapter_store_promote(tdir, v, "passed its gate", &err);
 *
 * `task_dir` is RUN/adapters/<task>.  Errors name the file and carry a
 * hint; nothing is printed.
 */
#ifndef SOCFW_ADAPTER_STORE_H
#define SOCFW_ADAPTER_STORE_H

#include <jansson.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The current version: 0 when the task has no store yet (its adapter is
 * the one its run trained).  A damaged `current` file is SOCFW_EFORMAT. */
int socfw_adapter_store_current(const char *task_dir, int *version,
                                socfw_error *err);

/* The highest version number in versions/ (0: none). */
int socfw_adapter_store_latest(const char *task_dir);

/* versions/vN of task_dir (caller frees); NULL when out of memory. */
char *socfw_adapter_store_version_dir(const char *task_dir, int version);

/* Make sure the store exists: when versions/ is empty, or the top-level
 * files are not a version (a plain `socfw run` trained the task again),
 * they become a new version (metrics.json: the fields of `info`, borrowed,
 * plus version/parent/time/decision "adopted") and current.  *current
 * gets the current version. */
int socfw_adapter_store_adopt(const char *task_dir, json_t *info,
                              int *current, socfw_error *err);

/* Copy the adapter files of `src_dir` into a new version (latest + 1)
 * with metrics.json = `metrics` (borrowed; "version" and "time" added).
 * It does not become current.  *version gets its number. */
int socfw_adapter_store_add(const char *task_dir, const char *src_dir,
                            json_t *metrics, int *version, socfw_error *err);

/* Make version N current: its files replace the top-level ones, then
 * `current` is replaced; `why` is recorded in its metrics.json
 * "promoted" history.  An unknown version is SOCFW_ENOTFOUND naming the
 * versions there are. */
int socfw_adapter_store_promote(const char *task_dir, int version,
                                const char *why, socfw_error *err);

/* The parent of version N (metrics.json "parent"; 0 when it has none). */
int socfw_adapter_store_parent(const char *task_dir, int version);

/* Every version's metrics.json, in order, as a JSON array (new
 * reference; each object gains "current": true/false). */
int socfw_adapter_store_list(const char *task_dir, json_t **versions,
                             socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_ADAPTER_STORE_H */
