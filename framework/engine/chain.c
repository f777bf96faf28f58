/* chain.c - the chain over the runtime's tasks: which task a context
 * is, the socfw_task_run_stage hook (another task's predict step on a
 * post), and socfw_runtime_chain. */
#include <string.h>

#include "engine/engine_internal.h"
#include "socfw/chain.h"
#include "train/runtime_impl.h"

/* The task whose context is ctx. */
rt_task *
rt_task_of(socfw_runtime *rt, const socfw_task_ctx *ctx)
{
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (rt->tasks[i].ctx == ctx)
                        return &rt->tasks[i];
        return NULL;
}

/* socfw_task_run_stage: another task's predict hook on a post. */
int
rt_stage_hook(void *runtime, socfw_task_ctx *ctx, const char *name,
              socfw_post *post, socfw_error *err)
{
        socfw_runtime *rt = runtime;
        if (!strcmp(name, socfw_task_name(ctx)))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "task '%s' cannot run itself as a "
                                       "stage", name);
        for (size_t i = 0; i < rt->n_tasks; i++) {
                rt_task *t = &rt->tasks[i];
                if (!t->ctx || strcmp(socfw_task_name(t->ctx), name))
                        continue;
                if (!t->plugin->task->predict)
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "task '%s' has no predict "
                                               "step", name);
                return t->plugin->task->predict(t->ctx->state, post, err);
        }
        return socfw_error_set(err, SOCFW_ENOTFOUND,
                               "no task '%s' in this pipeline (hint: add it "
                               "under tasks:)", name);
}

int socfw_chain_new_from(socfw_chain **out, const socfw_pipeline *p,
                         const char *const *stages,
                         socfw_task_ctx *(*lookup)(void *user,
                                                   const char *name),
                         void *user, socfw_error *err);

static socfw_task_ctx *
lookup_task(void *user, const char *name)
{
        socfw_runtime *rt = user;
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (rt->tasks[i].ctx &&
                    strcmp(socfw_task_name(rt->tasks[i].ctx), name) == 0)
                        return rt->tasks[i].ctx;
        return NULL;
}

int
socfw_runtime_chain(socfw_runtime *rt, socfw_chain **out, socfw_error *err)
{
        return socfw_chain_new_from(out, rt->p, NULL, lookup_task, rt, err);
}

int
socfw_runtime_chain_stages(socfw_runtime *rt, const char *const *stages,
                           socfw_chain **out, socfw_error *err)
{
        return socfw_chain_new_from(out, rt->p, stages, lookup_task, rt, err);
}
