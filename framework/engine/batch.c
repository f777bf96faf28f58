/* batch.c - micro-batching of concurrent classification and tagging
 * calls: windows that arrive while a forward runs wait in the runtime's
 * queue, and the next caller to find no leader runs all of them (one
 * task at a time) as one forward on one scratch (scratch.c), then hands
 * each call its answer. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "engine/engine_internal.h"
#include "socfw/nn.h"
#include "train/runtime_impl.h"

/* Job j's answer from the logits of its rows, o[0 .. j->n) of a batch
 * padded to T tokens (K outputs each; a classifier's are one per row). */
static void
job_answer(rt_job *j, float *o, int T, size_t K)
{
        if (rt_is_tagger(j->t)) {
                for (size_t w = 0; w < j->n_words; w++)
                        if (j->word_pos[w] >= 0)
                                socfw_nn_softmax_forward(
                                        j->out + w * K,
                                        o + ((size_t)j->word_row[w] * T +
                                             (size_t)j->word_pos[w]) * K,
                                        1, (int)K);
                return;
        }
        if (j->t->kind == SOCFW_TARGET_MULTI_LABEL)
                for (size_t i = 0; i < (size_t)j->n * K; i++)
                        o[i] = 1.0f / (1.0f + expf(-o[i]));
        else
                socfw_nn_softmax_forward(o, o, j->n, (int)K);
        for (size_t c = 0; c < K && c < j->n_out; c++) {
                double sum = 0;
                for (int b = 0; b < j->n; b++)
                        sum += o[(size_t)b * K + c];
                j->out[c] = (float)(sum / j->n);
        }
}

/* Run jobs[0..k) (one task) as one forward and give each its answer. */
static void
run_batch(socfw_runtime *rt, rt_job **jobs, int k)
{
        rt_task *t = jobs[0]->t;
        int R = 0, T = 1;
        for (int i = 0; i < k; i++)
                R += jobs[i]->n;
        const rt_example **all = calloc((size_t)R, sizeof *all);
        socfw_error err = {0};
        int rc = all ? 0 : socfw_error_set(&err, SOCFW_ENOMEM,
                                           "out of memory");
        for (int i = 0, r = 0; rc == 0 && i < k; i++)
                for (int j = 0; j < jobs[i]->n; j++) {
                        all[r] = jobs[i]->rows[j];
                        if (all[r]->n > T)
                                T = all[r]->n;  /* as rt_infer_forward pads */
                        r++;
                }
        rt_scratch *sc = rc == 0 ? rt_scratch_get(rt, &err) : NULL;
        if (rc == 0 && !sc)
                rc = err.code ? err.code : SOCFW_ENOMEM;
        size_t out_len = 0;
        if (rc == 0)
                rc = rt_infer_forward(rt, sc, t, all, R, &out_len, &err);
        /* a tagger's logits are (R, T, K), a classifier's (R, K) */
        size_t K = (size_t)t->n_outputs;
        size_t per_row = rt_is_tagger(t) ? (size_t)T * K : K;
        for (int i = 0, r0 = 0; rc == 0 && i < k; r0 += jobs[i]->n, i++)
                job_answer(jobs[i], sc->out + (size_t)r0 * per_row, T, K);
        for (int i = 0; i < k; i++) {
                jobs[i]->rc = rc;
                if (rc < 0)
                        jobs[i]->err = err;
        }
        if (sc)
                rt_scratch_put(rt, sc);
        free(all);
}

#define RT_BATCH_WAIT_US 1000  /* a leader waits this long at most for
                                   callers that are encoding their text  */

/* A call announces itself before encoding its text, so that a leader
 * gathering a batch waits for it (batch_entered: the announcement is
 * taken back, by queueing or by failing). */
void
rt_batch_entering(socfw_runtime *rt, int delta)
{
        pthread_mutex_lock(&rt->batch_lock);
        rt->batch_entering += delta;
        if (delta < 0)
                pthread_cond_broadcast(&rt->batch_cond);
        pthread_mutex_unlock(&rt->batch_lock);
}

/* Job me's answer, its rows batched with the calls of other threads.  The
 * first caller to find no leader leads: it waits while other callers are
 * still encoding their texts (at most RT_BATCH_WAIT_US), then runs
 * everything queued for its task as one forward; callers arriving
 * meanwhile form the next batch.  A lone caller runs at once: batching
 * adds no wait.  The caller has announced itself (rt_batch_entering);
 * queueing takes the announcement back. */
int
rt_infer_batched(socfw_runtime *rt, rt_job *me, socfw_error *err)
{
        pthread_mutex_lock(&rt->batch_lock);
        rt->batch_entering--;
        rt_job **tail = &rt->queue;
        while (*tail)
                tail = &(*tail)->next;
        *tail = me;
        pthread_cond_broadcast(&rt->batch_cond);        /* a leader waits */
        while (!me->done) {
                if (rt->batch_leader) {
                        pthread_cond_wait(&rt->batch_cond, &rt->batch_lock);
                        continue;
                }
                rt->batch_leader = 1;
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += RT_BATCH_WAIT_US * 1000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                while (rt->batch_entering > 0 &&
                       pthread_cond_timedwait(&rt->batch_cond,
                                              &rt->batch_lock,
                                              &until) != ETIMEDOUT)
                        ;
                rt_job *take[RT_BATCH_ROWS];
                int k = 0, used = 0;
                rt_task *bt = rt->queue->t;
                for (rt_job **pp = &rt->queue; *pp && k < RT_BATCH_ROWS;) {
                        rt_job *j = *pp;
                        if (j->t == bt &&
                            (k == 0 || used + j->n <= RT_BATCH_ROWS)) {
                                take[k++] = j;
                                used += j->n;
                                *pp = j->next;
                        } else {
                                pp = &j->next;
                        }
                }
                pthread_mutex_unlock(&rt->batch_lock);
                run_batch(rt, take, k);
                pthread_mutex_lock(&rt->batch_lock);
                for (int i = 0; i < k; i++)
                        take[i]->done = 1;
                if (rt_is_tagger(bt)) {
                        rt->tag_batches++;
                        rt->tag_rows += (unsigned long long)used;
                } else {
                        rt->batches++;
                        rt->batched_rows += (unsigned long long)used;
                }
                rt->batch_leader = 0;
                pthread_cond_broadcast(&rt->batch_cond);
        }
        pthread_mutex_unlock(&rt->batch_lock);
        if (me->rc < 0 && err)
                *err = me->err;
        return me->rc;
}

void
socfw_runtime_batch_stats(socfw_runtime *rt, unsigned long long *batches,
                          unsigned long long *rows)
{
        pthread_mutex_lock(&rt->batch_lock);
        *batches = rt->batches;
        *rows = rt->batched_rows;
        pthread_mutex_unlock(&rt->batch_lock);
}

void
socfw_runtime_tag_batch_stats(socfw_runtime *rt, unsigned long long *batches,
                              unsigned long long *rows)
{
        pthread_mutex_lock(&rt->batch_lock);
        *batches = rt->tag_batches;
        *rows = rt->tag_rows;
        pthread_mutex_unlock(&rt->batch_lock);
}
