/* l2sp.c - L2-SP (Li et al. 2018, "Explicit inductive bias for transfer
 * learning"): a task that starts from an earlier adapter (adapter.from,
 * which a continued run sets) is pulled toward those starting weights
 * instead of toward zero.  The loss gains (l2_sp / 2) * |w - w0|^2 over
 * the task's adapter and head tensors; its gradient l2_sp * (w - w0) joins
 * theirs before clipping and the AdamW step.  continual.l2_sp gives the
 * strength (0: off). */
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

typedef struct l2sp_set {
        socfw_params *ps;       /* borrowed: the task's adapter or head     */
        float *ref;             /* its values when training started        */
        size_t n;
        const rt_task *task;
} l2sp_set;

struct rt_l2sp {
        float lambda;
        l2sp_set *sets;
        size_t n_sets;
};

static int
add_set(struct rt_l2sp *l, const rt_task *t, socfw_params *ps)
{
        size_t n = ps ? (size_t)socfw_params_size(ps) : 0;
        if (!n)
                return 0;
        l2sp_set *ns = realloc(l->sets, (l->n_sets + 1) * sizeof *ns);
        if (!ns)
                return SOCFW_ENOMEM;
        l->sets = ns;
        float *ref = malloc(n * sizeof *ref);
        if (!ref)
                return SOCFW_ENOMEM;
        memcpy(ref, socfw_params_data_buffer(ps), n * sizeof *ref);
        l->sets[l->n_sets++] = (l2sp_set){ps, ref, n, t};
        return 0;
}

int
rt_l2sp_setup(socfw_runtime *rt, socfw_error *err)
{
        rt_continual_settings cs;
        rt_continual_settings_read(&cs, rt->p);
        double lambda = cs.l2_sp;
        if (!(lambda > 0))
                return 0;
        struct rt_l2sp *l = calloc(1, sizeof *l);
        if (!l)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        l->lambda = (float)lambda;
        rt->l2sp = l;
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                int from = t->set.adapter.from ||
                           rt->backbone.adapter.from;
                if (!t->adapter || !from)
                        continue;
                if (add_set(l, t, socfw_adapter_params(t->adapter)) < 0 ||
                    add_set(l, t, t->hps) < 0)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                rt_progress(rt, "task %s: L2-SP %g toward the adapter and "
                            "head it starts from",
                            socfw_task_name(t->ctx), lambda);
        }
        return 0;
}

void
rt_l2sp_apply(socfw_runtime *rt)
{
        struct rt_l2sp *l = rt->l2sp;
        for (size_t s = 0; l && s < l->n_sets; s++) {
                const l2sp_set *x = &l->sets[s];
                if (!x->task->had_batch)
                        continue;
                const float *w = socfw_params_data_buffer(x->ps);
                float *g = socfw_params_grad_buffer(x->ps);
                for (size_t i = 0; i < x->n; i++)
                        g[i] += l->lambda * (w[i] - x->ref[i]);
        }
}

void
rt_l2sp_free(socfw_runtime *rt)
{
        struct rt_l2sp *l = rt->l2sp;
        for (size_t s = 0; l && s < l->n_sets; s++)
                free(l->sets[s].ref);
        if (l)
                free(l->sets);
        free(l);
        rt->l2sp = NULL;
}
