/* infer.c - the chain's socfw_task_infer hook: a classifier's class
 * probabilities, averaged over the windows of a long text and batched
 * with other threads' calls (batch.c), or a ranker's embedding. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "train/runtime_impl.h"

/* A ranker's embedding of text: one window, not batched. */
static int
embed_text(socfw_runtime *rt, rt_task *t, const char *text, float *out,
           size_t n, size_t *n_out, socfw_error *err)
{
        rt_example ex = {.label = -1};
        int rc = rt_encode(rt, text, &ex.ids, &ex.n, err);
        rt_scratch *sc = rc == 0 ? rt_scratch_get(rt, err) : NULL;
        if (rc == 0 && !sc)
                rc = err ? err->code : SOCFW_ENOMEM;
        const rt_example *one = &ex;
        rt_part part = {.t = t, .n = 1};
        if (rc == 0)
                rc = rt_infer_forward(rt, sc, &part, 1, &one, 1, err);
        if (rc == 0) {
                size_t K = (size_t)t->n_outputs;
                *n_out = K;
                memcpy(out, sc->out, (K < n ? K : n) * sizeof *out);
        }
        free(ex.ids);
        if (sc)
                rt_scratch_put(rt, sc);
        return rc;
}

int
rt_infer_hook(void *runtime, socfw_task_ctx *ctx, const char *text,
              float *out, size_t n, size_t *n_out, socfw_error *err)
{
        socfw_runtime *rt = runtime;
        rt_task *t = rt_task_of(rt, ctx);
        if (!t || !t->head_state)
                return socfw_error_set(err, SOCFW_ESTATE,
                                       "task '%s' has no head to run",
                                       socfw_task_name(ctx));
        if (t->kind == SOCFW_TARGET_SCORE)
                return embed_text(rt, t, text ? text : "", out, n, n_out,
                                  err);
        /* a classifier reads every window of the text (chunk_average) and
         * averages, batched with other threads' calls */
        rt_chunks c = {0};
        rt_batch_entering(rt, 1);  /* rt_infer_batched takes it back */
        int rc = rt_encode_chunks(rt, text ? text : "", &c, err);
        rt_example *ex = rc == 0 ? calloc((size_t)c.count, sizeof *ex) : NULL;
        const rt_example **rows =
                rc == 0 ? calloc((size_t)c.count, sizeof *rows) : NULL;
        if (rc == 0 && (!ex || !rows))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (int i = 0; rc == 0 && i < c.count; i++) {
                ex[i] = (rt_example){.ids = c.ids[i], .n = c.n[i],
                                     .label = -1, .chunk = i};
                rows[i] = &ex[i];
        }
        rt_job me = {.t = t, .rows = rows, .n = c.count, .out = out,
                     .n_out = n};
        if (rc == 0)
                rc = rt_infer_batched(rt, &me, err);
        else
                rt_batch_entering(rt, -1);
        if (rc == 0)
                *n_out = (size_t)t->n_outputs;
        free(ex);
        free(rows);
        rt_chunks_clear(&c);
        return rc;
}
