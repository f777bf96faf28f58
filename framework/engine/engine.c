/* engine.c - the engine's part of a runtime's life: its locks and
 * decoder when the runtime is made, the scratch pool freed before the
 * model, and the hooks each task's context gets (engine_internal.h). */
#include <pthread.h>

#include "core/task_impl.h"
#include "engine/engine_internal.h"
#include "train/runtime_impl.h"

void
rt_engine_init(socfw_runtime *rt)
{
        pthread_mutex_init(&rt->infer_lock, NULL);
        pthread_mutex_init(&rt->head_lock, NULL);
        pthread_mutex_init(&rt->batch_lock, NULL);
        pthread_cond_init(&rt->batch_cond, NULL);
        rt_decoder_init(&rt->dec);
}

void
rt_engine_destroy(socfw_runtime *rt)
{
        rt_scratch_pool_free(rt);
        pthread_mutex_destroy(&rt->infer_lock);
        pthread_mutex_destroy(&rt->head_lock);
        pthread_mutex_destroy(&rt->batch_lock);
        pthread_cond_destroy(&rt->batch_cond);
        rt_decoder_destroy(&rt->dec);
}

void
rt_engine_bind(socfw_runtime *rt, socfw_task_ctx *ctx, int head)
{
        ctx->runtime = rt;
        if (head) {
                ctx->infer = rt_infer_hook;
                ctx->generate = rt_generate_hook;
                ctx->count_tokens = rt_count_hook;
                ctx->tag_words = rt_tag_words_hook;
        }
        ctx->run_stage = rt_stage_hook;
}

void
rt_group_order(const void *const *keys, int k, int *order)
{
        int n = 0;
        for (int i = 0; i < k; i++) {
                int first = 1;  /* the first index of its key? */
                for (int j = 0; j < i && first; j++)
                        first = keys[j] != keys[i];
                if (!first)
                        continue;
                for (int j = i; j < k; j++)
                        if (keys[j] == keys[i])
                                order[n++] = j;
        }
}
