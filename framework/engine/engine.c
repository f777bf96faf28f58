/* engine.c - the engine's part of a runtime's life: its locks and
 * decoder when the runtime is made, the scratch pool freed before the
 * model (engine_internal.h). */
#include <pthread.h>

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
