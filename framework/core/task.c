/* task.c - task plugin instances and the accessors hooks use on them. */
#include <stdlib.h>
#include <string.h>

#include "core/example_impl.h"
#include "core/task_impl.h"
#include "socfw/data.h"

int
socfw_task_ctx_new(socfw_task_ctx **out, const char *name,
                   const socfw_plugin *plugin, const socfw_config *cfg,
                   socfw_error *err)
{
        *out = NULL;
        socfw_task_ctx *ctx = calloc(1, sizeof *ctx);
        if (!ctx || !(ctx->name = strdup(name))) {
                free(ctx);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        ctx->cfg = cfg;
        ctx->plugin = plugin;
        int rc = plugin->task->create(cfg, ctx, &ctx->state, err);
        if (rc < 0) {
                socfw_error_prefix(err, rc, "task '%s' (plugin %s)", name,
                                   plugin->name);
                free(ctx->name);
                free(ctx);
                return rc;
        }
        ctx->created = 1;
        *out = ctx;
        return 0;
}

void
socfw_task_ctx_free(socfw_task_ctx *ctx)
{
        if (!ctx)
                return;
        if (ctx->created && ctx->plugin->task->destroy)
                ctx->plugin->task->destroy(ctx->state);
        for (size_t i = 0; i < ctx->n_labels; i++)
                free(ctx->labels[i]);
        free(ctx->labels);
        free(ctx->name);
        free(ctx);
}

const char *
socfw_task_name(const socfw_task_ctx *ctx)
{
        return ctx->name;
}

int
socfw_task_ctx_set_labels(socfw_task_ctx *ctx, const char *const *labels,
                          size_t n)
{
        char **copy = calloc(n ? n : 1, sizeof *copy);
        if (!copy)
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(copy[i] = strdup(labels[i]))) {
                        while (i--)
                                free(copy[i]);
                        free(copy);
                        return SOCFW_ENOMEM;
                }
        for (size_t i = 0; i < ctx->n_labels; i++)
                free(ctx->labels[i]);
        free(ctx->labels);
        ctx->labels = copy;
        ctx->n_labels = n;
        return 0;
}

size_t
socfw_task_label_count(const socfw_task_ctx *ctx)
{
        if (ctx->labels)
                return ctx->n_labels;
        return socfw_config_list_len(ctx->cfg, "labels");
}

const char *
socfw_task_label(const socfw_task_ctx *ctx, size_t i)
{
        if (ctx->labels)
                return i < ctx->n_labels ? ctx->labels[i] : NULL;
        return socfw_config_list_get(ctx->cfg, "labels", i);
}

int
socfw_task_infer(socfw_task_ctx *ctx, const char *text, float *out, size_t n,
                 size_t *n_out, socfw_error *err)
{
        if (!ctx->infer)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' has no trained model to "
                                       "run (hint: train it with `socfw "
                                       "run`, then use the run directory)",
                                       ctx->name);
        return ctx->infer(ctx->runtime, ctx, text, out, n, n_out, err);
}

int
socfw_task_generate(socfw_task_ctx *ctx, const char *prompt,
                    const socfw_generate_opts *opts, char **reply,
                    socfw_error *err)
{
        *reply = NULL;
        if (!ctx->generate)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' has no language model to "
                                       "generate with (hint: give the "
                                       "pipeline a backbone and train or "
                                       "load the task)",
                                       ctx->name);
        return ctx->generate(ctx->runtime, ctx, prompt, opts, reply, err);
}

const char *
socfw_task_split(const socfw_task_ctx *ctx)
{
        return ctx ? ctx->split : NULL;
}

int
socfw_task_tag_words(socfw_task_ctx *ctx, const char *const *words,
                     size_t n_words, float *probs, size_t n_probs,
                     size_t *n_tags, socfw_error *err)
{
        size_t dummy;
        if (!n_tags)
                n_tags = &dummy;
        *n_tags = 0;
        if (!ctx || !ctx->tag_words)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' has no trained tagger to "
                                       "run (hint: give it head: {type: "
                                       "tagger}, train it with `socfw run`, "
                                       "then use the run directory)",
                                       ctx ? ctx->name : "?");
        return ctx->tag_words(ctx->runtime, ctx, words, n_words, probs,
                              n_probs, n_tags, err);
}

int
socfw_task_run_stage(socfw_task_ctx *ctx, const char *task, socfw_post *post,
                     socfw_error *err)
{
        if (!ctx || !ctx->run_stage)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' cannot run other stages "
                                       "here (hint: run the pipeline or its "
                                       "run directory with socfw)",
                                       ctx ? ctx->name : "?");
        if (!task || !post)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "socfw_task_run_stage: no task name "
                                       "or post");
        return ctx->run_stage(ctx->runtime, ctx, task, post, err);
}

int
socfw_task_count_tokens(socfw_task_ctx *ctx, const char *text, size_t *n,
                        socfw_error *err)
{
        if (!ctx->count_tokens)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s' has no tokenizer",
                                       ctx->name);
        return ctx->count_tokens(ctx->runtime, text, n, err);
}

/* A reader over the task's data file `path` as its data: section says
 * (format), bad rows skipped or errors.  socfw_task_read_file and
 * socfw_task_read_records open files only through it, so that the record
 * ordinals of the one are the ordinals of the other. */
static int
task_reader_open(const socfw_task_ctx *ctx, const char *path,
                 int skip_bad_rows, socfw_reader **r, socfw_error *err)
{
        socfw_reader_options ro = SOCFW_READER_OPTIONS_INIT;
        int fmt = socfw_data_format_parse(
                socfw_config_get_string(ctx->cfg, "data.format"));
        ro.format = fmt < 0 ? SOCFW_DATA_FORMAT_AUTO : (socfw_data_format)fmt;
        ro.bad_rows = skip_bad_rows ? SOCFW_BAD_ROWS_SKIP
                                    : SOCFW_BAD_ROWS_ERROR;
        return socfw_reader_open(r, path, &ro, err);
}

int
socfw_task_read_file(socfw_task_ctx *ctx, const char *path, const char *split,
                     int skip_bad_rows, socfw_task_item_fn on_item, void *arg,
                     size_t *skipped, socfw_error *err)
{
        int64_t max_rows = socfw_config_get_int(ctx->cfg, "data.max_rows");
        const char *saved = ctx->split;
        ctx->split = !strcmp(split, "train")   ? "train"
                     : !strcmp(split, "valid") ? "valid"
                     : !strcmp(split, "test")  ? "test"
                                               : "eval";
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        socfw_example *ex = socfw_example_new();
        int rc = ex ? task_reader_open(ctx, path, skip_bad_rows, &r, err)
                    : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (int64_t rows = 0;
             rc == 0 && (max_rows <= 0 || rows < max_rows); rows++) {
                int got = socfw_reader_next(r, &rec, err);
                if (got <= 0) {
                        rc = got;
                        break;
                }
                socfw_error perr = {0};
                socfw_example_reset(ex);
                int prc = ctx->plugin->task->parse_example(ctx->state, rec,
                                                           ex, &perr);
                for (size_t i = 0; i < socfw_example_count(ex); i++)
                        ex->items[i].record = (long)rows + 1;
                for (size_t i = 0; prc == 0 && i < socfw_example_count(ex);
                     i++)
                        prc = on_item(arg, socfw_example_item(ex, i), &perr);
                if (prc > 0)
                        rc = prc;
                else if (prc == SOCFW_ENOMEM)
                        rc = socfw_error_set(err, prc, "out of memory");
                else if (prc < 0) /* logged and counted, or the error */
                        rc = socfw_reader_reject(r, rec, prc, err, "%s",
                                                 perr.message);
                socfw_record_free(rec);
                rec = NULL;
        }
        if (skipped) /* the reader counts the rows refused here too */
                *skipped = r ? socfw_reader_skipped(r) : 0;
        ctx->split = saved;
        socfw_reader_close(r);
        socfw_example_free(ex);
        return rc;
}

int
socfw_task_read_records(socfw_task_ctx *ctx, const char *path,
                        const long *rows, size_t n_rows,
                        socfw_record ***out, size_t *n_out, socfw_error *err)
{
        *out = NULL;
        *n_out = 0;
        long last = 0;
        for (size_t i = 0; i < n_rows; i++)
                if (rows[i] > last)
                        last = rows[i];
        if (last == 0)
                return 0;
        unsigned char *want = calloc((size_t)last, 1);
        socfw_record **recs = calloc((size_t)last, sizeof *recs);
        socfw_reader *r = NULL;
        /* bad rows skipped: they were told once, when first read */
        int rc = want && recs ? task_reader_open(ctx, path, 1, &r, err)
                              : socfw_error_set(err, SOCFW_ENOMEM,
                                                "out of memory");
        for (size_t i = 0; rc == 0 && i < n_rows; i++)
                if (rows[i] > 0)
                        want[rows[i] - 1] = 1;
        for (long row = 0; rc == 0 && row < last; row++) {
                socfw_record *rec = NULL;
                int got = socfw_reader_next(r, &rec, err);
                if (got <= 0) {
                        rc = got; /* the file got shorter: fewer records */
                        break;
                }
                if (want[row])
                        recs[row] = rec;
                else
                        socfw_record_free(rec);
        }
        socfw_reader_close(r);
        free(want);
        if (rc < 0) {
                for (long i = 0; recs && i < last; i++)
                        socfw_record_free(recs[i]);
                free(recs);
                return rc;
        }
        *out = recs;
        *n_out = (size_t)last;
        return 0;
}
