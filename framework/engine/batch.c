/* batch.c - micro-batching of concurrent classification and tagging
 * calls: windows that arrive while a forward runs wait in the runtime's
 * queue, and the next caller to find a leader's place free runs them as
 * one forward on one scratch (scratch.c), then hands each call its
 * answer.  One forward serves several tasks when their adapters act row
 * by row at the linear sites (LoRA, AdaLoRA, IA3, bottleneck, none): the
 * frozen backbone runs once for all rows, each task's adapter and head on
 * its own rows; a task with a prefix or prompt adapter, which changes the
 * sequence, has forwards of its own.
 *
 * Leaders.  With few callers, one forward at a time runs on the thread
 * pool: the lowest latency for a lone post.  When callers crowd in (more
 * of them in the engine than the pool has threads), each forward runs
 * serially in its leader's thread and up to one leader per thread run at
 * once: several small batches, one per core, cost less CPU per post than
 * one batch split over the cores (no hand-offs between threads, no
 * waiting for the slowest chunk), which is what a loaded server needs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "engine/engine_internal.h"
#include "socfw/nn.h"
#include "socfw/threads.h"
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

int
rt_task_mixes(const rt_task *t)
{
        return socfw_adapter_mixes(t->adapter);
}

/* Run jobs[0..k) (grouped by task: a task's jobs one after another) as
 * one forward and give each its answer; the runtime's counters by the
 * rows of each kind (under batch_lock). */
static void
run_batch(socfw_runtime *rt, rt_job **jobs, int k)
{
        int R = 0, T = 1, n_parts = 0;
        rt_part parts[RT_BATCH_ROWS];
        int part_of[RT_BATCH_ROWS], row_in_part[RT_BATCH_ROWS];
        for (int i = 0; i < k; i++) {
                R += jobs[i]->n;
                if (i == 0 || jobs[i]->t != jobs[i - 1]->t)
                        parts[n_parts++] = (rt_part){.t = jobs[i]->t};
                part_of[i] = n_parts - 1;
                row_in_part[i] = parts[n_parts - 1].n;
                parts[n_parts - 1].n += jobs[i]->n;
        }
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
        if (rc == 0)
                rc = rt_infer_forward(rt, sc, parts, n_parts, all, R, &err);
        /* a tagger's logits are (n, T, K), a classifier's (n, K) */
        for (int i = 0; rc == 0 && i < k; i++) {
                rt_task *t = jobs[i]->t;
                size_t K = (size_t)t->n_outputs;
                size_t per_row = rt_is_tagger(t) ? (size_t)T * K : K;
                job_answer(jobs[i],
                           sc->out + parts[part_of[i]].out0 +
                                   (size_t)row_in_part[i] * per_row,
                           T, K);
        }
        for (int i = 0; i < k; i++) {
                jobs[i]->rc = rc;
                if (rc < 0)
                        jobs[i]->err = err;
        }
        if (sc)
                rt_scratch_put(rt, sc);
        free(all);
        unsigned long long cls = 0, tag = 0;
        for (int i = 0; i < n_parts; i++)
                *(rt_is_tagger(parts[i].t) ? &tag : &cls) +=
                        (unsigned long long)parts[i].n;
        pthread_mutex_lock(&rt->batch_lock);
        if (cls) {
                rt->batches++;
                rt->batched_rows += cls;
        }
        if (tag) {
                rt->tag_batches++;
                rt->tag_rows += tag;
        }
        if (n_parts > 1) {
                rt->mixed_batches++;
                rt->mixed_parts += (unsigned long long)n_parts;
        }
        pthread_mutex_unlock(&rt->batch_lock);
}

/* Take from the queue the jobs of the next batch into take[] (at most
 * RT_BATCH_ROWS rows; at least the first job): the first job's task's,
 * and when its adapter mixes, those of every task whose adapter mixes,
 * grouped by task in the order the tasks first come.  Returns their
 * number.  Under batch_lock. */
static int
take_batch(socfw_runtime *rt, rt_job **take)
{
        int k = 0, used = 0;
        rt_task *bt = rt->queue->t;
        int mix = rt_task_mixes(bt);
        for (rt_job **pp = &rt->queue; *pp && k < RT_BATCH_ROWS;) {
                rt_job *j = *pp;
                if ((j->t == bt || (mix && rt_task_mixes(j->t))) &&
                    (k == 0 || used + j->n <= RT_BATCH_ROWS)) {
                        take[k++] = j;
                        used += j->n;
                        *pp = j->next;
                } else {
                        pp = &j->next;
                }
        }
        const void *task[RT_BATCH_ROWS];
        rt_job *picked[RT_BATCH_ROWS];
        int order[RT_BATCH_ROWS];
        for (int i = 0; i < k; i++) {
                picked[i] = take[i];
                task[i] = take[i]->t;
        }
        rt_group_order(task, k, order);
        for (int i = 0; i < k; i++)
                take[i] = picked[order[i]];
        return k;
}

#define RT_BATCH_WAIT_US 1000  /* a leader waits this long at most for
                                   callers that are encoding their text  */
#define RT_BATCH_FILL_US 2000  /* and a leader beside another forward for
                                   its share of the callers              */

/* Windows waiting in the queue.  Under batch_lock. */
static int
queued_rows(const socfw_runtime *rt)
{
        int n = 0;
        for (const rt_job *j = rt->queue; j; j = j->next)
                n += j->n;
        return n;
}

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

/* May the caller lead a batch now, and how: 0 no (wait), 1 on the pool,
 * 2 serially in its own thread (see the top of the file).  Under
 * batch_lock, with the caller's job queued or answered. */
static int
may_lead(const socfw_runtime *rt, int nthr)
{
        int crowded = nthr > 1 &&
                      rt->batch_callers + rt->batch_entering > nthr;
        if (rt->batch_leaders == 0)
                return crowded ? 2 : 1;
        if (rt->batch_pooled || rt->batch_leaders >= nthr || !rt->queue ||
            !crowded)
                return 0;
        return 2;
}

/* Before a new leader takes its batch: wait while callers are still
 * encoding their texts (at most RT_BATCH_WAIT_US), and beside another
 * forward also for this leader's share of the callers, their moving
 * average over the threads (at most RT_BATCH_FILL_US, and no longer once
 * the other forward is done): taking the first call to queue would make
 * batches of one or two.  Under batch_lock, the leader counted. */
static void
gather(socfw_runtime *rt, int beside, int nthr)
{
        int share = (int)(rt->batch_crowd / nthr);
        share = share < 1 ? 1 : share > RT_BATCH_ROWS ? RT_BATCH_ROWS : share;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (beside ? RT_BATCH_FILL_US : RT_BATCH_WAIT_US) * 1000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        while ((rt->batch_entering > 0 ||
                (beside && rt->batch_leaders > 1 &&
                 queued_rows(rt) < share)) &&
               pthread_cond_timedwait(&rt->batch_cond, &rt->batch_lock,
                                      &until) != ETIMEDOUT)
                ;
}

/* Job me's answer, its rows batched with the calls of other threads.  A
 * caller that may lead (may_lead) gathers (above), then runs everything
 * queued for the first queued job's task as one forward; callers arriving
 * meanwhile form the next batch.  A lone caller runs at once: batching
 * adds no wait.  The caller has announced itself (rt_batch_entering);
 * queueing takes the announcement back. */
int
rt_infer_batched(socfw_runtime *rt, rt_job *me, socfw_error *err)
{
        int nthr = socfw_threads_in_parallel() ? 1 : socfw_threads_get();
        pthread_mutex_lock(&rt->batch_lock);
        rt->batch_entering--;
        rt->batch_callers++;
        rt->batch_crowd += 0.125 * ((double)rt->batch_callers -
                                    rt->batch_crowd);
        rt_job **tail = &rt->queue;
        while (*tail)
                tail = &(*tail)->next;
        *tail = me;
        pthread_cond_broadcast(&rt->batch_cond);        /* a leader waits */
        while (!me->done) {
                int how = may_lead(rt, nthr);
                if (!how || !rt->queue) {
                        pthread_cond_wait(&rt->batch_cond, &rt->batch_lock);
                        continue;
                }
                int beside = rt->batch_leaders > 0;
                rt->batch_leaders++;
                rt->batch_pooled += how == 1;
                gather(rt, beside, nthr);
                rt_job *take[RT_BATCH_ROWS];
                int k = rt->queue ? take_batch(rt, take) : 0;
                if (k > 0 && rt->batch_leaders > 1)
                        rt->batch_overlaps++;
                pthread_mutex_unlock(&rt->batch_lock);
                if (k > 0) {
                        int was = how == 2 ? socfw_threads_serial(1) : 0;
                        run_batch(rt, take, k);
                        if (how == 2)
                                socfw_threads_serial(was);
                }
                pthread_mutex_lock(&rt->batch_lock);
                for (int i = 0; i < k; i++)
                        take[i]->done = 1;
                rt->batch_leaders--;
                rt->batch_pooled -= how == 1;
                pthread_cond_broadcast(&rt->batch_cond);
        }
        rt->batch_callers--;
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

unsigned long long
socfw_runtime_batch_overlaps(socfw_runtime *rt)
{
        pthread_mutex_lock(&rt->batch_lock);
        unsigned long long n = rt->batch_overlaps;
        pthread_mutex_unlock(&rt->batch_lock);
        return n;
}

void
socfw_runtime_mixed_batch_stats(socfw_runtime *rt,
                                unsigned long long *batches,
                                unsigned long long *tasks)
{
        pthread_mutex_lock(&rt->batch_lock);
        *batches = rt->mixed_batches;
        *tasks = rt->mixed_parts;
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
