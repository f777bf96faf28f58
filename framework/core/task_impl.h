/* framework/core/task_impl.h - a task plugin instantiated for a pipeline
 * (internal).  The same object serves the chain and, later, training. */
#ifndef SOCFW_CORE_TASK_IMPL_H
#define SOCFW_CORE_TASK_IMPL_H

#include "socfw/pipeline.h"
#include "socfw/plugin.h"

/* Runs tokenizer + backbone + head for socfw_task_infer; installed by the
 * runtime that owns a model.  NULL: no model in this pipeline. */
typedef int (*socfw_task_infer_fn)(void *runtime, socfw_task_ctx *ctx,
                                   const char *text, float *out, size_t n,
                                   size_t *n_out, socfw_error *err);

typedef int (*socfw_task_generate_fn)(void *runtime, socfw_task_ctx *ctx,
                                      const char *prompt,
                                      const socfw_generate_opts *opts,
                                      char **reply, socfw_error *err);

typedef int (*socfw_task_count_fn)(void *runtime, const char *text,
                                   size_t *n, socfw_error *err);

/* Per-word tag probabilities for socfw_task_tag_words (tagger heads). */
typedef int (*socfw_task_tag_fn)(void *runtime, socfw_task_ctx *ctx,
                                 const char *const *words, size_t n_words,
                                 float *probs, size_t n_probs,
                                 size_t *n_tags, socfw_error *err);

/* Another task of the same pipeline, run as a chain stage on a post, for
 * socfw_task_run_stage. */
typedef int (*socfw_task_stage_fn)(void *runtime, socfw_task_ctx *ctx,
                                   const char *task, socfw_post *post,
                                   socfw_error *err);

struct socfw_task_ctx {
        char *name;
        const socfw_config *cfg;     /* borrowed from the pipeline */
        const socfw_plugin *plugin;
        void *state;                 /* the plugin's                */
        int created;
        socfw_task_infer_fn infer;
        socfw_task_generate_fn generate;
        socfw_task_count_fn count_tokens;
        /* labels inferred from the training data when the pipeline gives
         * none (owned); socfw_task_label reads these first */
        char **labels;
        size_t n_labels;
        void *runtime;
        socfw_task_tag_fn tag_words;    /* NULL: no model */
        /* the split parse_example is reading ("train", "valid", "test",
         * "eval"), NULL outside (static strings) */
        const char *split;
        socfw_task_stage_fn run_stage;  /* NULL: no runtime */
};

/* Create the plugin's state for the task (or the privacy stage).  On
 * failure the message names the task and plugin. */
int socfw_task_ctx_new(socfw_task_ctx **out, const char *name,
                       const socfw_plugin *plugin, const socfw_config *cfg,
                       socfw_error *err);
void socfw_task_ctx_free(socfw_task_ctx *ctx);

/* Set the labels when the pipeline lists none (copied). */
int socfw_task_ctx_set_labels(socfw_task_ctx *ctx, const char *const *labels,
                              size_t n);

/* One example a task's parse_example produced from a record, handed to the
 * consumer of socfw_task_read_file.  Negative: the record is refused (perr
 * says why); positive: stop reading and return that value. */
struct example_item;
typedef int (*socfw_task_item_fn)(void *arg, const struct example_item *it,
                                  socfw_error *perr);

/* Read a task's data file as every consumer of it does: with the task's
 * data.format and data.max_rows, ctx->split set to `split` ("train",
 * "valid", "test"; anything else reads as "eval") while the plugin's
 * parse_example turns each record into examples, each handed to on_item.
 * A record the plugin or on_item refuses is rejected as the reader rejects
 * a malformed row: with skip_bad_rows it is logged and counted in
 * *skipped (with the reader's own skips), otherwise the read stops with
 * an error naming file:line. */
int socfw_task_read_file(socfw_task_ctx *ctx, const char *path,
                         const char *split, int skip_bad_rows,
                         socfw_task_item_fn on_item, void *arg,
                         size_t *skipped, socfw_error *err);

/* Read records `rows` (1-based ordinals, as socfw_task_read_file counted
 * them into example_item.record; 0 entries ignored) of `path` again, as
 * ctx reads its data.  *out gets an array of *n_out slots, slot k holding
 * record k + 1 when it was asked for (NULL otherwise); the caller frees
 * each with socfw_record_free, then the array.  Returns 0 or a negative
 * code. */
int socfw_task_read_records(socfw_task_ctx *ctx, const char *path,
                            const long *rows, size_t n_rows,
                            socfw_record ***out, size_t *n_out,
                            socfw_error *err);

#endif
