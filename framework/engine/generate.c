/* generate.c - the chain's socfw_task_generate hook: a task's reply
 * from the backbone's KV cache (which carries the task's adapter), the
 * prompt decoded alone and each next token batched with the other
 * live generations' (decode_batch.c); and socfw_task_count_tokens. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "socfw/generate.h"
#include "socfw/sampler.h"
#include "train/runtime_impl.h"

/* Decoding with the backbone's KV cache, for socfw_generate. */
typedef struct decoder {
        socfw_runtime *rt;
        socfw_model_kv *kv;
        float *logits;
        int live;               /* joined the batched decoding           */
        int batch;              /* the backbone is worth batching: fixed
                                   per generation, so that a small model's
                                   tokens take no lock                  */
} decoder;

/* The prompt (n > 1) goes through alone; each next token is batched with
 * the other generations' (decode_batch.c) when the backbone is big enough
 * for that to pay.  A step the batch would refuse
 * (a full cache) goes alone too, to fail with its own message. */
static const float *
decode_step(void *user, const int32_t *ids, size_t n, socfw_error *err)
{
        decoder *d = user;
        int rc;
        if (n == 1 && socfw_model_kv_len(d->kv) > 0 &&
            socfw_model_kv_len(d->kv) < socfw_model_kv_capacity(d->kv) &&
            d->batch) {
                if (!d->live) {
                        rt_decode_join(d->rt);
                        d->live = 1;
                }
                rc = rt_decode_one(d->rt, d->kv, ids[0], d->logits, err);
        } else {
                rc = socfw_model_decode_step(d->rt->model, d->kv, ids,
                                             (int)n, d->logits, err);
        }
        return rc < 0 ? NULL : d->logits;
}

static int
decode_piece(void *user, int32_t id, char *buf, size_t size)
{
        decoder *d = user;
        return socfw_tokenizer_token_to_piece(d->rt->tok, id, buf, size);
}

/* Token ids of a forced (required) word, without special tokens. */
static int
decode_encode(void *user, const char *text, size_t len, int32_t **ids,
              size_t *n)
{
        decoder *d = user;
        return socfw_tokenizer_encode(d->rt->tok, text, len, 0, ids, n,
                                      NULL);
}

static int generate_with(socfw_runtime *rt, socfw_adapter *adapter,
                         const char *prompt, const socfw_generate_opts *opts,
                         const socfw_model_config *mc, char **reply,
                         socfw_error *err);

int
rt_generate_hook(void *runtime, socfw_task_ctx *ctx, const char *prompt,
                 const socfw_generate_opts *opts, char **reply,
                 socfw_error *err)
{
        socfw_runtime *rt = runtime;
        const socfw_model_config *mc = socfw_model_config_of(rt->model);
        if (mc->arch != SOCFW_ARCH_GPT2 && mc->arch != SOCFW_ARCH_LLAMA)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "task '%s': generating text needs a "
                                       "decoder backbone (GPT-2, Llama), "
                                       "not %s",
                                       socfw_task_name(ctx),
                                       socfw_arch_name(mc->arch));
        /* fields up to opts->size are the plugin's; the rest default */
        socfw_generate_opts o = {.size = sizeof o, .max_tokens = 64,
                                 .temperature = 0.8f, .top_k = 40,
                                 .top_p = 0.95f, .repetition_penalty = 1.0f,
                                 .seed = 42};
        if (opts)
                memcpy(&o, opts, opts->size < sizeof o ? opts->size
                                                       : sizeof o);
        /* decoding is re-entrant: the KV cache (which carries the task's
         * adapter), logits and sampler are this call's */
        socfw_adapter *adapter = NULL;
        for (size_t i = 0; i < rt->n_tasks; i++)
                if (rt->tasks[i].ctx == ctx)
                        adapter = rt->tasks[i].adapter;
        return generate_with(rt, adapter, prompt, &o, mc, reply, err);
}

static int
generate_with(socfw_runtime *rt, socfw_adapter *adapter, const char *prompt,
              const socfw_generate_opts *opts, const socfw_model_config *mc,
              char **reply, socfw_error *err)
{
        socfw_generate_opts o = *opts;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = socfw_tokenizer_encode(rt->tok, prompt, strlen(prompt),
                                        SOCFW_TOKENIZER_ADD_SPECIAL |
                                                SOCFW_TOKENIZER_PARSE_SPECIAL,
                                        &ids, &n, err);
        if (rc < 0)
                return rc;
        int max_new = o.max_tokens > 0 ? o.max_tokens : 64;
        /* required words may be forced in past max_tokens: room for them
         * (a token is at least one byte) */
        size_t n_req = 0;
        while (o.required && o.required[n_req]) {
                if (max_new < 1 << 20)
                        max_new += (int)strnlen(o.required[n_req], 4096) + 2;
                n_req++;
        }
        /* keep the end of a prompt that would not fit (a prefix
         * adapter's rows take the first positions) */
        size_t used = (size_t)max_new +
                      (size_t)socfw_adapter_prefix_length(adapter);
        size_t room = (size_t)mc->max_positions > used + 1
                              ? (size_t)mc->max_positions - used
                              : 1;
        const int32_t *start = ids;
        if (n > room) {
                start = ids + (n - room);
                n = room;
        }
        decoder d = {.rt = rt, .batch = rt_decode_batches(rt)};
        d.logits = malloc(sizeof(float) * (size_t)mc->vocab_size);
        socfw_sampler_config sc;
        socfw_sampler_config_default(&sc);
        sc.temperature = o.temperature;
        sc.top_k = o.top_k;
        sc.top_p = o.top_p > 0 ? o.top_p : 1.0f;
        sc.repeat_penalty = o.repetition_penalty > 0 ? o.repetition_penalty
                                                     : 1.0f;
        sc.seed = o.seed;
        socfw_sampler *smp = NULL;
        socfw_generate_result res = {0};
        if (!d.logits)
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (rc == 0)
                rc = socfw_model_kv_new(&d.kv, rt->model,
                                        (int)n + max_new + 1, err);
        if (rc == 0)
                rc = socfw_model_kv_attach(d.kv, adapter, err);
        if (rc == 0 && !(smp = socfw_sampler_new(mc->vocab_size, &sc, err)))
                rc = SOCFW_ENOMEM;
        if (rc == 0) {
                socfw_generate_model gm = {
                        .n_vocab = mc->vocab_size,
                        .n_ctx = (size_t)mc->max_positions,
                        .step = decode_step, .piece = decode_piece,
                        .user = &d, .encode = decode_encode};
                socfw_generate_config gc;
                socfw_generate_config_default(&gc);
                gc.max_tokens = (size_t)(o.max_tokens > 0 ? o.max_tokens
                                                          : 64);
                gc.max_chars = o.max_chars > 0 ? (size_t)o.max_chars : 0;
                gc.required = o.required;
                gc.n_required = n_req;
                gc.required_ignore_case = 1;
                gc.valid_utf8 = 1;      /* replies become annotations */
                int32_t eos = socfw_tokenizer_special_id(rt->tok,
                                                         SOCFW_TOKENIZER_EOS);
                if (eos >= 0) {
                        gc.stop_tokens = &eos;
                        gc.n_stop_tokens = 1;
                }
                size_t ns = 0, nb = 0;
                while (o.stop && o.stop[ns])
                        ns++;
                while (o.banned && o.banned[nb])
                        nb++;
                gc.stop_strings = o.stop;
                gc.n_stop_strings = ns;
                gc.blocklist = o.banned;
                gc.n_blocklist = nb;
                gc.blocklist_ignore_case = 1;
                /* the plugin's streaming callback (opts->on_piece) */
                gc.stream = o.on_piece;
                gc.stream_user = o.on_piece_user;
                rc = socfw_generate(&gm, smp, &gc, start, n, &res, err);
        }
        if (rc == 0) {
                *reply = res.text;
                res.text = NULL;
                if (o.score)
                        *o.score = res.n_tokens ? res.logprob /
                                                          (double)res.n_tokens
                                                : 0.0;
                if (o.n_forced)
                        *o.n_forced = (int)res.n_forced;
                if (o.at_limit)
                        *o.at_limit =
                                res.stop == SOCFW_GENERATE_STOP_MAX_TOKENS ||
                                res.stop == SOCFW_GENERATE_STOP_CONTEXT;
        }
        if (d.live)
                rt_decode_leave(rt);
        socfw_generate_result_free(&res);
        socfw_sampler_free(smp);
        socfw_model_kv_free(d.kv);
        free(d.logits);
        free(ids);
        return rc;
}

int
rt_count_hook(void *runtime, const char *text, size_t *n,
              socfw_error *err)
{
        socfw_runtime *rt = runtime;
        int32_t *ids = NULL;
        /* counted as rt_generate_hook encodes prompts */
        int rc = socfw_tokenizer_encode(rt->tok, text, strlen(text),
                                        SOCFW_TOKENIZER_ADD_SPECIAL |
                                                SOCFW_TOKENIZER_PARSE_SPECIAL,
                                        &ids, n, err);
        free(ids);
        return rc;
}
