/* decode_batch.c - batched decoding of the runtime's concurrent
 * generations (continuous batching; see engine_internal.h, rt_decoder).
 *
 * Every generation runs its own loop on its caller's thread (socfw_generate:
 * sampling, stop strings, streaming callbacks, cancellation and timeouts
 * stay per request); only the model step of one new token goes through
 * here.  A thread that needs its next-token logits queues its step; the
 * first thread to find no leader leads: it waits until every live
 * generation has queued its step, but no longer than the last batched
 * step took (at most RT_DECODE_WAIT_US: one that is busy elsewhere, e.g.
 * writing to a slow client or not scheduled on a busy machine, joins the
 * next step; waiting longer than a step costs more than it saves), takes
 * the queue's steps (at most RT_DECODE_MAX; a generation's KV cache
 * carries its task's adapter, socfw_model_kv_attach: the steps of
 * different adapters share the batch, grouped by adapter) and runs them
 * as one
 * socfw_model_decode_batch, one pass over the weights for all of them,
 * then hands each its logits (a step the model refuses - a full cache, a
 * bad token id - fails its own generation only; run_steps).  A
 * generation is live from its first
 * one-token step (after its prompt, which goes through
 * socfw_model_decode_step alone) until it ends, so sequences join and
 * leave between steps.  A lone generation waits for nobody.
 *
 * Batching pays when a step is bound by reading the weights from memory:
 * a backbone whose weights fit in a processor cache (under
 * RT_DECODE_MIN_BYTES) decodes each sequence alone, as the
 * synchronisation would cost more than the shared reads save (measured:
 * the 1.4 MB chat-demo model lost a third of its 8-stream throughput).
 * SOCFW_DECODE_BATCH=1 batches any model, =0 none.
 *
 * SOCFW_DECODE_WAIT_US=N (0..1000000) replaces the leader's bound by N
 * microseconds: longer waits give fuller batches where a step is cheap
 * next to what a generation does between steps (tests use it to make
 * batches certain). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "socfw/log.h"
#include "socfw/params.h"
#include "engine/engine_internal.h"
#include "train/runtime_impl.h"

#define RT_DECODE_MAX 64        /* sequences in one batched step at most */
#define RT_DECODE_MIN_BYTES (8u << 20)  /* weights that batching pays for */
#define RT_DECODE_WAIT_US 2000  /* a leader waits at most this long for the
                                   rest (and no longer than a step takes) */

/* One waiting step. */
typedef struct rt_dstep {
        socfw_model_kv *kv;
        int32_t id;
        float *logits;          /* the caller's (V)                      */
        int rc, done;
        socfw_error err;
        struct rt_dstep *next;
} rt_dstep;

void
rt_decoder_init(rt_decoder *d)
{
        memset(d, 0, sizeof *d);
        pthread_mutex_init(&d->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&d->cond, &ca);
        pthread_cond_init(&d->gather, &ca);
        pthread_condattr_destroy(&ca);
        d->wait_ns = -1;
        d->mode = -1;
        const char *b = getenv("SOCFW_DECODE_BATCH");
        if (b && (!strcmp(b, "0") || !strcmp(b, "1")))
                d->mode = b[0] - '0';
        else if (b && b[0])
                SOCFW_LOG_WARN("SOCFW_DECODE_BATCH='%s' ignored (hint: 0 or "
                               "1)", b);
        const char *env = getenv("SOCFW_DECODE_WAIT_US");
        if (env && env[0]) {
                char *end;
                long us = strtol(env, &end, 10);
                if (*end == '\0' && us >= 0 && us <= 1000000)
                        d->wait_ns = us * 1000L;
                else
                        SOCFW_LOG_WARN("SOCFW_DECODE_WAIT_US='%s' ignored "
                                       "(hint: microseconds, 0 to "
                                       "1000000)", env);
        }
}

void
rt_decoder_destroy(rt_decoder *d)
{
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->cond);
        pthread_cond_destroy(&d->gather);
        free(d->logits);
        d->logits = NULL;
}

int
rt_decode_batches(socfw_runtime *rt)
{
        rt_decoder *d = &rt->dec;
        pthread_mutex_lock(&d->lock);
        if (d->mode < 0) {
                const socfw_params *ps = socfw_model_params(rt->model);
                double bytes = 4.0 * (double)socfw_params_total_numel(ps) +
                               (double)socfw_model_quantized_bytes(rt->model,
                                                                   NULL);
                d->mode = bytes >= (double)RT_DECODE_MIN_BYTES;
        }
        int on = d->mode;
        pthread_mutex_unlock(&d->lock);
        return on;
}

void
rt_decode_join(socfw_runtime *rt)
{
        rt_decoder *d = &rt->dec;
        pthread_mutex_lock(&d->lock);
        d->live++;
        pthread_mutex_unlock(&d->lock);
}

void
rt_decode_leave(socfw_runtime *rt)
{
        rt_decoder *d = &rt->dec;
        pthread_mutex_lock(&d->lock);
        d->live--;
        /* a leader waiting for this one need not */
        if (d->gathering)
                pthread_cond_signal(&d->gather);
        pthread_mutex_unlock(&d->lock);
}

/* Run steps[0..k) as one batch (the leader, without the lock).  A step
 * the batch refuses (a full cache, a bad id: socfw_model_decode_batch
 * then appends nothing) fails only its own generation: the batch is run
 * again one step at a time, so that every other step gets its logits and
 * the refused one its own error. */
static void
run_steps(socfw_runtime *rt, rt_dstep **steps, int k, float *logits)
{
        socfw_model_kv *kvs[RT_DECODE_MAX];
        int32_t ids[RT_DECODE_MAX];
        int len0[RT_DECODE_MAX];
        for (int i = 0; i < k; i++) {
                kvs[i] = steps[i]->kv;
                ids[i] = steps[i]->id;
                len0[i] = socfw_model_kv_len(kvs[i]);
        }
        size_t V = (size_t)socfw_model_config_of(rt->model)->vocab_size;
        socfw_error err = {0};
        int rc = socfw_model_decode_batch(rt->model, kvs, ids, k, logits,
                                          &err);
        for (int i = 0; i < k; i++) {
                steps[i]->rc = rc;
                if (rc < 0 && k > 1 && socfw_model_kv_len(kvs[i]) == len0[i])
                        steps[i]->rc = socfw_model_decode_batch(
                                rt->model, &kvs[i], &ids[i], 1,
                                logits + (size_t)i * V, &steps[i]->err);
                else if (rc < 0)        /* appended already: not again */
                        steps[i]->err = err;
                if (steps[i]->rc == 0)
                        memcpy(steps[i]->logits, logits + (size_t)i * V,
                               V * sizeof *logits);
        }
}

int
rt_decode_one(socfw_runtime *rt, socfw_model_kv *kv, int32_t id,
              float *logits, socfw_error *err)
{
        rt_decoder *d = &rt->dec;
        size_t V = (size_t)socfw_model_config_of(rt->model)->vocab_size;
        rt_dstep me = {.kv = kv, .id = id, .logits = logits};
        pthread_mutex_lock(&d->lock);
        rt_dstep **tail = &d->queue;
        while (*tail)
                tail = &(*tail)->next;
        *tail = &me;
        d->queued++;
        if (d->gathering)
                pthread_cond_signal(&d->gather);        /* a leader counts us */
        while (!me.done) {
                if (d->leader) {
                        pthread_cond_wait(&d->cond, &d->lock);
                        continue;
                }
                d->leader = 1;
                long wait_ns = d->wait_ns >= 0 ? d->wait_ns
                               : d->step_ns < RT_DECODE_WAIT_US * 1000L
                                       ? d->step_ns
                                       : RT_DECODE_WAIT_US * 1000L;
                struct timespec until, t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += wait_ns / 1000000000L;
                until.tv_nsec += wait_ns % 1000000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                d->gathering = 1;
                while (d->queued < d->live && d->queued < RT_DECODE_MAX &&
                       pthread_cond_timedwait(&d->gather, &d->lock,
                                              &until) != ETIMEDOUT)
                        ;
                d->gathering = 0;
                /* the queue's steps, whatever their adapters (each
                 * adapter's terms run on its own rows), grouped by
                 * adapter: the rows of one make one run */
                rt_dstep *queued[RT_DECODE_MAX], *take[RT_DECODE_MAX];
                const void *adapter[RT_DECODE_MAX];
                int order[RT_DECODE_MAX], k = 0;
                for (; d->queue && k < RT_DECODE_MAX; k++) {
                        queued[k] = d->queue;
                        d->queue = d->queue->next;
                        adapter[k] = socfw_model_kv_attached(queued[k]->kv);
                }
                rt_group_order(adapter, k, order);
                for (int i = 0; i < k; i++)
                        take[i] = queued[order[i]];
                d->queued -= k;
                /* the (k, V) logits: the leader's alone until it is done */
                float *buf = d->logits;
                if (d->cap < (size_t)k * V) {
                        buf = realloc(d->logits, (size_t)k * V * sizeof *buf);
                        if (buf) {
                                d->logits = buf;
                                d->cap = (size_t)k * V;
                        }
                }
                pthread_mutex_unlock(&d->lock);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                if (buf) {
                        run_steps(rt, take, k, buf);
                } else {
                        for (int i = 0; i < k; i++)
                                take[i]->rc = socfw_error_set(
                                        &take[i]->err, SOCFW_ENOMEM,
                                        "out of memory for a decoding batch "
                                        "of %d", k);
                }
                clock_gettime(CLOCK_MONOTONIC, &t1);
                pthread_mutex_lock(&d->lock);
                /* how long a step takes (a moving average) */
                long ns = (long)(t1.tv_sec - t0.tv_sec) * 1000000000L +
                          (t1.tv_nsec - t0.tv_nsec);
                d->step_ns = d->step_ns ? (3 * d->step_ns + ns) / 4 : ns;
                for (int i = 0; i < k; i++)
                        take[i]->done = 1;
                d->steps++;
                d->rows += (unsigned long long)k;
                d->leader = 0;
                pthread_cond_broadcast(&d->cond);
        }
        pthread_mutex_unlock(&d->lock);
        if (me.rc < 0 && err)
                *err = me.err;
        return me.rc;
}

void
socfw_runtime_decode_stats(socfw_runtime *rt, unsigned long long *steps,
                           unsigned long long *rows)
{
        pthread_mutex_lock(&rt->dec.lock);
        *steps = rt->dec.steps;
        *rows = rt->dec.rows;
        pthread_mutex_unlock(&rt->dec.lock);
}
