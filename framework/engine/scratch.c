/* scratch.c - the engine's inference scratch: one socfw_context and
 * batch buffers per concurrent caller, kept in a pool over the shared
 * weights, and the forward pass (backbone on the scratch's context with
 * the task's adapter, then the task's head) that runs on one. */
#include <stdbool.h>
#include <stdlib.h>

#include "engine/engine_internal.h"
#include "socfw/model.h"
#include "train/runtime_impl.h"

static void
scratch_free(rt_scratch *sc)
{
        if (!sc)
                return;
        socfw_context_free(sc->ctx);
        free(sc->hidden);
        free(sc->out);
        free(sc->ids);
        free(sc->mask);
        free(sc);
}

/* A scratch for this call (a spare one, or a new one). */
rt_scratch *
rt_scratch_get(socfw_runtime *rt, socfw_error *err)
{
        pthread_mutex_lock(&rt->infer_lock);
        rt_scratch *sc = rt->spare;
        if (sc)
                rt->spare = sc->next;
        pthread_mutex_unlock(&rt->infer_lock);
        if (sc)
                return sc;
        if (!(sc = calloc(1, sizeof *sc))) {
                socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                return NULL;
        }
        if (socfw_context_new(&sc->ctx, rt->model, err) < 0) {
                free(sc);
                return NULL;
        }
        return sc;
}

void
rt_scratch_put(socfw_runtime *rt, rt_scratch *sc)
{
        pthread_mutex_lock(&rt->infer_lock);
        sc->next = rt->spare;
        rt->spare = sc;
        pthread_mutex_unlock(&rt->infer_lock);
}

void
rt_scratch_pool_free(socfw_runtime *rt)
{
        while (rt->spare) {     /* before the model they are over */
                rt_scratch *sc = rt->spare;
                rt->spare = sc->next;
                scratch_free(sc);
        }
}

void
rt_scratch_detach(socfw_runtime *rt, const socfw_adapter *a)
{
        pthread_mutex_lock(&rt->infer_lock);
        for (rt_scratch *sc = rt->spare; sc; sc = sc->next)
                if (a && socfw_context_attached(sc->ctx) == a)
                        socfw_context_attach(sc->ctx, NULL, NULL);
        pthread_mutex_unlock(&rt->infer_lock);
}

/* rt_forward for inference on scratch sc, for the tasks of parts[]
 * (their rows one after another in ex): the backbone on sc's context,
 * once for every row - with the one task's adapter attached, or with
 * each task's adapter on its own rows (socfw_context_forward_runs) -
 * then each task's head on its rows under head_lock. */
int
rt_infer_forward(socfw_runtime *rt, rt_scratch *sc, rt_part *parts,
                 int n_parts, const rt_example *const *ex, int B,
                 socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int T = 1;
        for (int b = 0; b < B; b++)
                if (ex[b]->n > T)
                        T = ex[b]->n;
        size_t bt = (size_t)B * (size_t)T, need = 0;
        socfw_adapter_run runs[RT_BATCH_ROWS];
        for (int i = 0; i < n_parts; i++) {
                rt_task *t = parts[i].t;
                parts[i].out0 = need;
                parts[i].out_len = t->head->head->output_size(
                        t->head_state, parts[i].n, T);
                need += parts[i].out_len;
                runs[i] = (socfw_adapter_run){t->adapter, parts[i].n};
        }
        if (rt_grow((void **)&sc->hidden, &sc->cap_hidden,
                    bt * (size_t)mc->hidden, sizeof(float)) < 0 ||
            rt_grow((void **)&sc->out, &sc->cap_out, need,
                    sizeof(float)) < 0 ||
            rt_grow((void **)&sc->ids, &sc->cap_tokens, bt,
                    sizeof(int32_t)) < 0 ||
            (sc->cap_tokens = 0,
             rt_grow((void **)&sc->mask, &sc->cap_tokens, bt,
                     sizeof(int32_t)) < 0))
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "out of memory for a batch of %d x "
                                       "%d",
                                       B, T);
        for (int b = 0; b < B; b++)
                for (int i = 0; i < T; i++) {
                        size_t k = (size_t)b * T + i;
                        int real = i < ex[b]->n;
                        sc->ids[k] = real ? ex[b]->ids[i] : rt->pad_id;
                        sc->mask[k] = real;
                }
        int rc = 0;
        socfw_adapter *a = parts[0].t->adapter;
        if (n_parts > 1) {      /* each task's adapter on its own rows */
                rc = socfw_context_forward_runs(sc->ctx, runs, n_parts,
                                                sc->ids, sc->mask, NULL, B,
                                                T, sc->hidden, err);
        } else {
                if (socfw_context_attached(sc->ctx) != a)
                        rc = socfw_context_attach(sc->ctx, a, err);
                if (rc == 0)
                        rc = socfw_context_forward(sc->ctx, sc->ids,
                                                   sc->mask, NULL, B, T,
                                                   false, 0.0f, NULL,
                                                   sc->hidden, err);
        }
        pthread_mutex_lock(&rt->head_lock);
        for (int i = 0, b0 = 0; rc == 0 && i < n_parts;
             b0 += parts[i].n, i++) {
                size_t at = (size_t)b0 * T;
                socfw_head_io io = {
                        .B = parts[i].n, .T = T, .C = mc->hidden,
                        .hidden = sc->hidden + at * (size_t)mc->hidden,
                        .mask = sc->mask + at, .ids = sc->ids + at,
                        .out = sc->out + parts[i].out0,
                        .out_len = parts[i].out_len, .training = 0,
                };
                rt_task *t = parts[i].t;
                rc = t->head->head->forward(t->head_state, &io, err);
                parts[i].out_len = io.out_len;
        }
        pthread_mutex_unlock(&rt->head_lock);
        return rc;
}
