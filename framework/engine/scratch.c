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

/* rt_forward for inference on scratch sc: the backbone on sc's context
 * with the task's adapter, the head under head_lock; the head's output is
 * in sc->out (out_len floats). */
int
rt_infer_forward(socfw_runtime *rt, rt_scratch *sc, rt_task *t,
                 const rt_example *const *ex, int B, size_t *out_len,
                 socfw_error *err)
{
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        int T = 1;
        for (int b = 0; b < B; b++)
                if (ex[b]->n > T)
                        T = ex[b]->n;
        size_t bt = (size_t)B * (size_t)T;
        size_t need = t->head->head->output_size(t->head_state, B, T);
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
        if (socfw_context_attached(sc->ctx) != t->adapter)
                rc = socfw_context_attach(sc->ctx, t->adapter, err);
        if (rc == 0)
                rc = socfw_context_forward(sc->ctx, sc->ids, sc->mask, NULL,
                                           B, T, false, 0.0f, NULL,
                                           sc->hidden, err);
        if (rc < 0)
                return rc;
        socfw_head_io io = {
                .B = B, .T = T, .C = mc->hidden,
                .hidden = sc->hidden, .mask = sc->mask, .ids = sc->ids,
                .out = sc->out, .out_len = need, .training = 0,
        };
        pthread_mutex_lock(&rt->head_lock);
        rc = t->head->head->forward(t->head_state, &io, err);
        pthread_mutex_unlock(&rt->head_lock);
        *out_len = io.out_len;
        return rc;
}
