/* retrieval.c - training and evaluating ranker tasks (two-tower
 * retrieval, e.g. the recommend plugin).
 *
 * A ranker task's examples are (query, item) pairs: rt_example.ids is the
 * query's tokens, ids2 the item's, score the label (1 = interacted; 0 = a
 * negative the plugin sampled, for bce).  Both texts go through the SAME
 * backbone and head, as separate rows of one batch laid out as the
 * ranker's loss expects (heads/ranker/ranker.c):
 *
 *   in_batch_softmax   [q0 .. q(k-1), i0 .. i(k-1)]      every other item
 *                                                        is a negative
 *   bce                [q0 .. q(k-1), i0 .. i(k-1)]      labels = scores
 *   bpr                [q..., pos..., neg...]            neg drawn from
 *                                                        the training
 *                                                        items (by
 *                                                        frequency)
 *
 * Evaluation computes the loss on the split, then hands over to the task
 * plugin's evaluate hook, which ranks its whole catalogue for each example
 * of socfw_eval_source() (it embeds texts through socfw_task_infer) and
 * adds its ranking metrics; they land in the runtime's metrics as
 * <task>.<split>.<name>, so early stopping can watch them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/example_impl.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "train/runtime_impl.h"

#define MAX_PAIRS 4096

int
rt_is_ranker(const rt_task *t)
{
        return t && t->head &&
               socfw_registry_head_target(t->head) == SOCFW_TARGET_SCORE;
}

enum { LOSS_SOFTMAX, LOSS_BPR, LOSS_BCE };

static int
loss_kind(const rt_task *t)
{
        const char *lt = t->set.loss_type;
        if (lt && !strcmp(lt, "bpr"))
                return LOSS_BPR;
        if (lt && !strcmp(lt, "bce"))
                return LOSS_BCE;
        return LOSS_SOFTMAX;
}

static int
same_tokens(const int32_t *a, int na, const int32_t *b, int nb)
{
        return na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
}

/* A negative item for `pos`: the item of a random positive example of
 * `pool` (so items are drawn by how often they occur), not `pos` itself
 * when a few tries can avoid it.  NULL when the pool has no items. */
static const rt_example *
draw_negative(socfw_runtime *rt, const rt_split *pool, const rt_example *pos)
{
        const rt_example *best = NULL;
        if (!pool || pool->n == 0)
                return NULL;
        for (int tries = 0; tries < 8; tries++) {
                const rt_example *c =
                        &pool->ex[socfw_rng_below(&rt->rng, pool->n)];
                if (!c->ids2 || c->score <= 0.0f)
                        continue;
                best = c;
                if (!same_tokens(c->ids2, c->n2, pos->ids2, pos->n2))
                        break;
        }
        return best;
}

int
rt_ranker_batch(socfw_runtime *rt, rt_task *t, const rt_example *const *ex,
                int k, const rt_split *pool, int training, float grad_scale,
                float *loss, socfw_error *err)
{
        int lk = loss_kind(t);
        int per = lk == LOSS_BPR ? 3 : 2;
        if (k <= 0 || k > MAX_PAIRS)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s': %d pairs in a batch "
                                       "(expected 1..%d)",
                                       socfw_task_name(t->ctx), k, MAX_PAIRS);
        rt_example *rows = calloc((size_t)k * per, sizeof *rows);
        const rt_example **ptr = calloc((size_t)k * per, sizeof *ptr);
        float *score = calloc((size_t)k, sizeof *score);
        int rc = 0;
        if (!rows || !ptr || !score) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (int j = 0; j < k; j++) {
                if (!ex[j]->ids2) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "task '%s': example without an "
                                             "item text",
                                             socfw_task_name(t->ctx));
                        goto out;
                }
                rows[j] = (rt_example){.ids = ex[j]->ids, .n = ex[j]->n,
                                       .label = -1};
                rows[k + j] = (rt_example){.ids = ex[j]->ids2,
                                           .n = ex[j]->n2, .label = -1};
                score[j] = ex[j]->score;
                if (lk == LOSS_BPR) {
                        const rt_example *neg = draw_negative(
                                rt, pool && pool->n ? pool : NULL, ex[j]);
                        if (!neg) /* no pool: another pair's item */
                                neg = ex[(j + 1) % k];
                        rows[2 * k + j] = (rt_example){.ids = neg->ids2,
                                                       .n = neg->n2,
                                                       .label = -1};
                }
        }
        for (int r = 0; r < k * per; r++)
                ptr[r] = &rows[r];
        socfw_head_io io;
        rc = rt_forward(rt, t, ptr, k * per, training, &io, err);
        if (rc < 0)
                goto out;
        socfw_head_targets tg = {.kind = SOCFW_TARGET_SCORE, .score = score};
        rc = t->head->head->loss(t->head_state, &io, &tg, loss, err);
        if (rc < 0 || grad_scale <= 0)
                goto out;
        if (!isfinite(*loss)) {
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "task '%s': the loss is not finite "
                                     "(%g); hint: lower train.lr or raise "
                                     "loss.temperature",
                                     socfw_task_name(t->ctx), *loss);
                goto out;
        }
        for (size_t i = 0; i < io.out_len; i++)
                io.dout[i] *= grad_scale;
        memset(io.dhidden, 0, (size_t)io.B * io.T * io.C * sizeof(float));
        rc = t->head->head->backward(t->head_state, &io, err);
        if (rc == 0 && rt->backbone_trainable)
                rc = socfw_model_backward(rt->model, io.dhidden, err);
out:
        free(rows);
        free(ptr);
        free(score);
        return rc;
}


int
rt_ranker_evaluate(socfw_runtime *rt, rt_task *t, const char *split,
                   const rt_split *s, char **report_out, socfw_error *err)
{
        int B = rt->train.eval_batch_size;
        if (B < 2)
                B = 2;
        if (B > 512)
                B = 512;
        const rt_example *batch[512];
        double loss_sum = 0;
        size_t loss_n = 0;
        int rc = 0;
        /* the loss, in fixed batches (in-batch negatives depend on them) */
        for (size_t start = 0; start < s->n; start += (size_t)B) {
                int nb = (int)(s->n - start < (size_t)B ? s->n - start
                                                       : (size_t)B);
                for (int b = 0; b < nb; b++)
                        batch[b] = &s->ex[start + (size_t)b];
                float loss;
                rc = rt_ranker_batch(rt, t, batch, nb,
                                     t->train.n ? &t->train : s, 0, 0, &loss,
                                     err);
                if (rc < 0)
                        return rc;
                loss_sum += (double)loss * nb;
                loss_n += (size_t)nb;
        }
        double loss = loss_n ? loss_sum / (double)loss_n : 0;
        char name[512];
        snprintf(name, sizeof name, "%s.%s.loss", socfw_task_name(t->ctx),
                 split);
        socfw_metrics_set(rt->metrics, name, loss, 0);

        /* ranking metrics from the plugin */
        int *zeros = calloc(s->n ? s->n : 1, sizeof *zeros);
        long *rows = calloc(s->n ? s->n : 1, sizeof *rows);
        if (!zeros || !rows) {
                free(zeros);
                free(rows);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < s->n; i++)
                rows[i] = s->ex[i].record;
        socfw_eval e;
        socfw_eval_init(&e, s->n, zeros, zeros, NULL, 0);
        e.kind = SOCFW_TARGET_SCORE;
        e.rows = rows;
        e.ctx = t->ctx;
        e.source = s->source;
        e.split = split;
        if (t->plugin->task->evaluate)
                rc = t->plugin->task->evaluate(t->ctx->state, &e, err);
        if (rc == 0)
                rc = socfw_eval_add_metric(&e, "loss", loss, false);
        char line[1024];
        int len = snprintf(line, sizeof line, "%s %s:",
                           socfw_task_name(t->ctx), split);
        for (size_t m = 0; rc == 0 && m < e.n_metrics; m++) {
                snprintf(name, sizeof name, "%s.%s.%s",
                         socfw_task_name(t->ctx), split, e.names[m]);
                socfw_metrics_set(rt->metrics, name, e.values[m],
                                  e.higher[m]);
                if (len > 0 && (size_t)len < sizeof line)
                        len += snprintf(line + len, sizeof line - (size_t)len,
                                        " %s %.4f", e.names[m], e.values[m]);
        }
        if (rc == 0)
                rt_progress(rt, "%s (%zu examples)", line, s->n);
        if (rc == 0 && e.report && report_out)
                *report_out = strdup(e.report);
        if (rc == 0 && e.report && rt->out_dir && !report_out) {
                char path[4200];
                snprintf(path, sizeof path, "%s/%s.%s.txt", rt->out_dir,
                         socfw_task_name(t->ctx), split);
                rc = socfw_file_write_atomic(path, e.report, strlen(e.report),
                                             err);
        }
        if (rc == 0 && rt->out_dir && !report_out)
                rc = rt_write_eval_json(rt, t, split, s->n,
                                        rt_eval_metrics_json(&e), NULL, err);
        socfw_eval_clear(&e);
        free(zeros);
        free(rows);
        return rc;
}
