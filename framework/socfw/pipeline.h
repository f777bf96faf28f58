/* socfw/pipeline.h - YAML pipelines: load, override, validate, query.
 *
 * A pipeline file describes a whole job: the backbone, the tasks (each
 * naming its plugin, head, loss and data), training, evaluation, the chain
 * of stages that `predict`, `chat` and `serve` run, and where output goes.
 * doc/pipeline.md is the reference; `socfw help pipeline` prints the same.
 *
 *     socfw_pipeline *p = NULL;
 *     const char *sets[] = {"train.lr=1e-4"};
 *     if (socfw_pipeline_load(&p, "pipeline.yaml", sets, 1, &err) < 0 ||
 *         socfw_pipeline_validate(p, registry, &err) < 0) {
 *             for (size_t i = 0; i < socfw_pipeline_diag_count(p); i++)
 *                     fprintf(stderr, "%s\n", socfw_pipeline_diag(p, i));
 *     }
 *     const socfw_config *train = socfw_pipeline_section(p, "train");
 *     double lr = socfw_config_get_float(train, "lr");
 *     socfw_pipeline_free(p);
 *
 * Validation checks every key against a spec: the host's for the top-level
 * sections, the plugin's for a task, the head's for `head:` and `loss:`.
 * Problems are reported as "file:line:column: message" with a did-you-mean
 * for misspelt keys; all of them are collected, not only the first.
 */
#ifndef SOCFW_PIPELINE_H
#define SOCFW_PIPELINE_H

#include <stddef.h>

#include "socfw/config.h"
#include "socfw/error.h"
#include "socfw/plugin.h"
#include "socfw/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this socfw reads (`socfw: 1`). */
#define SOCFW_PIPELINE_VERSION 1

typedef struct socfw_pipeline socfw_pipeline;

/* Parse `path` and apply `overrides` ("a.b=value"; list items by index or,
 * for tasks, by name: "tasks.sentiment.head.dropout=0.2").  Syntax errors
 * fail here; schema errors are found by _validate.  *out is set even on
 * failure when the file could be read (so diagnostics can be printed);
 * free it with socfw_pipeline_free. */
int socfw_pipeline_load(socfw_pipeline **out, const char *path,
                        const char *const *overrides, size_t n_overrides,
                        socfw_error *err);

/* Same, from a buffer; `name` is used as the file name in messages and
 * relative paths resolve against `base_dir` (may be NULL: the cwd). */
int socfw_pipeline_load_buffer(socfw_pipeline **out, const char *text,
                               size_t len, const char *name,
                               const char *base_dir,
                               const char *const *overrides,
                               size_t n_overrides, socfw_error *err);

void socfw_pipeline_free(socfw_pipeline *p);

/* Check the whole pipeline against the host schema and the plugins found in
 * `reg`.  Returns 0, or SOCFW_ESCHEMA with the first problem in `err`; every
 * problem is in the diagnostics. */
int socfw_pipeline_validate(socfw_pipeline *p, const socfw_registry *reg,
                            socfw_error *err);

/* Problems found by load/validate, as "file:line:col: message" (borrowed). */
size_t socfw_pipeline_diag_count(const socfw_pipeline *p);
const char *socfw_pipeline_diag(const socfw_pipeline *p, size_t i);

/* The pipeline file and its directory (borrowed). */
const char *socfw_pipeline_path(const socfw_pipeline *p);
const char *socfw_pipeline_dir(const socfw_pipeline *p);

/* A top-level section ("backbone", "train", "pretrain", "evaluate",
 * "privacy", "serve", "output"), valid after _validate.  Never NULL after a
 * successful validation: an absent section reads its defaults. */
const socfw_config *socfw_pipeline_section(const socfw_pipeline *p,
                                           const char *name);

/* Tasks in file order. */
size_t socfw_pipeline_task_count(const socfw_pipeline *p);
const socfw_config *socfw_pipeline_task(const socfw_pipeline *p, size_t i);
const socfw_plugin *socfw_pipeline_task_plugin(const socfw_pipeline *p,
                                               size_t i);
/* The task's head plugin and its `head:` / `loss:` sections; NULL when the
 * task has no head. */
const socfw_plugin *socfw_pipeline_task_head(const socfw_pipeline *p,
                                             size_t i);
const socfw_config *socfw_pipeline_task_head_config(const socfw_pipeline *p,
                                                    size_t i);
const socfw_config *socfw_pipeline_task_loss_config(const socfw_pipeline *p,
                                                    size_t i);
/* Index of the task called `name`, or -1. */
int socfw_pipeline_task_find(const socfw_pipeline *p, const char *name);

/* The `privacy:` stage's plugin (NULL when the section is absent). */
const socfw_plugin *socfw_pipeline_privacy_plugin(const socfw_pipeline *p);

/* The chain: stage names in order ("privacy" or task names). */
size_t socfw_pipeline_chain_len(const socfw_pipeline *p);
const char *socfw_pipeline_chain_stage(const socfw_pipeline *p, size_t i);

/* The pipeline as it runs, as YAML text for a run's own copy
 * (OUTPUT/pipeline.resolved.yaml): every key given, --set overrides
 * applied, PATH values made absolute, and each default not given written
 * as a comment ("# lr: 5e-5  (default)").  The tasks' data files
 * (data.train/valid/test) are comments too, so the copy loads and
 * validates after the training data is gone.  Loading the text from any
 * directory gives the same settings.  `p` must be validated.  *out: caller
 * frees.  Returns 0, or SOCFW_ENOMEM / SOCFW_ESTATE. */
int socfw_pipeline_resolved_yaml(const socfw_pipeline *p, char **out,
                                 socfw_error *err);

/* The host's own specs for a top-level section (NULL for an unknown name),
 * and the list of section names (NULL-terminated).  Used by `socfw help
 * pipeline` and the reference documentation. */
const socfw_param_spec *socfw_pipeline_section_specs(const char *section);
const char *const *socfw_pipeline_section_names(void);
/* Keys every task accepts besides its plugin's (name, plugin, head, ...). */
const socfw_param_spec *socfw_pipeline_task_specs(void);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PIPELINE_H */
