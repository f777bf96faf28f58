/* framework/engine/engine_internal.h - the inference engine: what the
 * runtime (framework/train/runtime.c) and the engine's files share.
 * Internal.
 *
 * The engine is the inference host over one socfw_runtime: the shared,
 * read-only backbone, each task's adapter and head, and what concurrent
 * callers need on top of them.  The chain's hooks (socfw_task_infer,
 * socfw_task_tag_words, socfw_task_generate, ...), and through them
 * `socfw predict`, `chat` and `serve`, run here; the runtime builds the
 * model, the tokenizer and the tasks (train/runtime.c) and trains them
 * (train/trainer.c), and no engine file needs the training code.
 *
 *   decode_batch.c  continuous batching of concurrent generations' steps
 *
 * The runtime struct stays in train/runtime_impl.h for now.  Of its
 * fields the engine owns:
 *   dec                                the decoder of batched generation
 *                                      steps (rt_decoder, below)
 * and reads, never writes: model, tok, tasks/n_tasks (adapter, head,
 * head_state, kind, n_outputs), pad_id, and what rt_encode* read.
 *
 * train/runtime_impl.h includes this header, so code that holds the
 * runtime's internals (tests) reaches the engine's too. */
#ifndef SOCFW_ENGINE_INTERNAL_H
#define SOCFW_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/model.h"
#include "socfw/runtime.h"

/* ---- batched decoding (decode_batch.c) ---- */

/* The scheduler of batched decoding: the runtime's `dec`. */
typedef struct rt_decoder {
        pthread_mutex_t lock;
        pthread_cond_t cond;            /* a batch is done (CLOCK_MONOTONIC) */
        pthread_cond_t gather;          /* a step queued, a generation left:
                                           for the leader gathering        */
        int gathering;                  /* the leader waits on `gather`   */
        long step_ns;                   /* a batched step takes (average) */
        long wait_ns;                   /* SOCFW_DECODE_WAIT_US, or -1    */
        int mode;                       /* 1 batch, 0 not, -1 not decided */
        struct rt_dstep *queue;         /* steps waiting for a batch      */
        int queued;                     /* their number                   */
        int live;                       /* generations past their prompt  */
        int leader;                     /* a batch is being gathered/run  */
        float *logits;                  /* the leader's (k, V)            */
        size_t cap;
        unsigned long long steps, rows; /* batched steps run, their rows  */
} rt_decoder;

/* Between rt_decode_join and rt_decode_leave a generation is live, and
 * rt_decode_one runs its one-token steps batched with the other live
 * generations' steps. */
void rt_decoder_init(rt_decoder *d);
void rt_decoder_destroy(rt_decoder *d);
int rt_decode_batches(socfw_runtime *rt);        /* 1: worth it (size) */
void rt_decode_join(socfw_runtime *rt);
void rt_decode_leave(socfw_runtime *rt);
int rt_decode_one(socfw_runtime *rt, socfw_model_kv *kv, int32_t id,
                  float *logits, socfw_error *err);

#endif
