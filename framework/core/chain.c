/* chain.c - the stages predict/chat/serve run over each post. */
#include <stdlib.h>
#include <string.h>

#include "core/task_impl.h"
#include "socfw/chain.h"

struct socfw_chain {
        socfw_task_ctx **stages; /* one per chain entry; may repeat */
        int *owned;              /* 1 where this entry created the ctx */
        size_t n;
};

void
socfw_chain_free(socfw_chain *chain)
{
        if (!chain)
                return;
        for (size_t i = 0; i < chain->n; i++)
                if (chain->owned[i])
                        socfw_task_ctx_free(chain->stages[i]);
        free(chain->stages);
        free(chain->owned);
        free(chain);
}

static int
stage_for(const socfw_pipeline *p, const char *name,
          const socfw_plugin **plugin, const socfw_config **cfg,
          socfw_error *err)
{
        if (strcmp(name, "privacy") == 0) {
                *plugin = socfw_pipeline_privacy_plugin(p);
                *cfg = socfw_pipeline_section(p, "privacy");
        } else {
                int i = socfw_pipeline_task_find(p, name);
                if (i < 0)
                        return socfw_error_set(err, SOCFW_ENOTFOUND,
                                               "no stage named '%s' in %s",
                                               name, socfw_pipeline_path(p));
                *plugin = socfw_pipeline_task_plugin(p, (size_t)i);
                *cfg = socfw_pipeline_task(p, (size_t)i);
        }
        if (!*plugin)
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "stage '%s' has no plugin", name);
        if (!(*plugin)->task->predict)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "stage '%s': plugin '%s' cannot run "
                                       "in a chain (it has no predict hook)",
                                       name, (*plugin)->name);
        return 0;
}

typedef socfw_task_ctx *(*lookup_fn)(void *user, const char *name);

static int
chain_build(socfw_chain **out, const socfw_pipeline *p,
            const char *const *stages, lookup_fn lookup, void *user,
            socfw_error *err)
{
        *out = NULL;
        size_t n = 0;
        if (stages)
                while (stages[n])
                        n++;
        else
                n = socfw_pipeline_chain_len(p);
        socfw_chain *c = calloc(1, sizeof *c);
        if (!c || (n && (!(c->stages = calloc(n, sizeof *c->stages)) ||
                         !(c->owned = calloc(n, sizeof *c->owned))))) {
                socfw_chain_free(c);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
                const char *name = stages ? stages[i]
                                          : socfw_pipeline_chain_stage(p, i);
                /* a stage listed twice (privacy in and out) shares state */
                for (size_t j = 0; j < i && !c->stages[i]; j++)
                        if (strcmp(socfw_task_name(c->stages[j]), name) == 0)
                                c->stages[i] = c->stages[j];
                c->n = i + 1;
                if (!c->stages[i] && lookup)
                        c->stages[i] = lookup(user, name);
                if (c->stages[i])
                        continue;
                const socfw_plugin *plugin = NULL;
                const socfw_config *cfg = NULL;
                int rc = stage_for(p, name, &plugin, &cfg, err);
                if (rc == 0)
                        rc = socfw_task_ctx_new(&c->stages[i], name, plugin,
                                                cfg, err);
                if (rc < 0) {
                        c->n = i;
                        socfw_chain_free(c);
                        return rc;
                }
                c->owned[i] = 1;
        }
        *out = c;
        return 0;
}

int
socfw_chain_new(socfw_chain **out, const socfw_pipeline *p,
                const char *const *stages, socfw_error *err)
{
        return chain_build(out, p, stages, NULL, NULL, err);
}

/* Stages that `lookup` knows (a runtime's tasks) are borrowed from it; the
 * others are created.  Declared by the runtime (socfw/runtime.h). */
int socfw_chain_new_from(socfw_chain **out, const socfw_pipeline *p,
                         const char *const *stages, lookup_fn lookup,
                         void *user, socfw_error *err);

int
socfw_chain_new_from(socfw_chain **out, const socfw_pipeline *p,
                     const char *const *stages, lookup_fn lookup, void *user,
                     socfw_error *err)
{
        return chain_build(out, p, stages, lookup, user, err);
}

size_t
socfw_chain_len(const socfw_chain *chain)
{
        return chain->n;
}

const char *
socfw_chain_stage_name(const socfw_chain *chain, size_t i)
{
        return i < chain->n ? socfw_task_name(chain->stages[i]) : NULL;
}

int
socfw_chain_run(socfw_chain *chain, socfw_post *post, socfw_error *err)
{
        for (size_t i = 0; i < chain->n; i++) {
                socfw_task_ctx *t = chain->stages[i];
                if (!t->plugin->task->predict)
                        return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                               "stage '%s': plugin '%s' "
                                               "cannot run in a chain (it "
                                               "has no predict hook)",
                                               socfw_task_name(t),
                                               t->plugin->name);
                int rc = t->plugin->task->predict(t->state, post, err);
                if (rc < 0)
                        return socfw_error_prefix(err, rc, "stage '%s'",
                                                  socfw_task_name(t));
        }
        return 0;
}
