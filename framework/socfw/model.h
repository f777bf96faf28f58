/* socfw/model.h - transformer backbones: GPT-2, BERT, RoBERTa, Llama family.
 *
 * A socfw_model is a backbone (embeddings + blocks + final norm) with its
 * parameters in one socfw_params store, named with the Hugging Face names of
 * the file it came from (so checkpoints of trainable tensors interoperate),
 * a forward pass over a (B,T) batch that keeps what backward needs in a
 * workspace owned by the model, a backward pass that accumulates into the
 * store's gradients, the LM logits projection (tied or not), the encoder
 * pooler, freezing, and incremental decoding with a KV cache.
 *
 *     socfw_model *m = NULL;
 *     socfw_error err = {0};
 *     if (socfw_model_load(&m, "models/gpt2", NULL, &err) < 0)
 *             goto fail;
 *     const socfw_model_config *cfg = socfw_model_config_of(m);
 *     float *h = malloc(sizeof(float) * B * T * cfg->hidden);
 *     socfw_model_forward(m, ids, mask, NULL, B, T, true, 0.1f, &rng, h, &err);
 *     ... head: loss, dL/dh into dh (B,T,C) ...
 *     socfw_params_zero_grad(socfw_model_params(m));   // once per step
 *     socfw_model_backward(m, dh, &err);               // grads +=
 *
 *     // generation
 *     socfw_model_kv *kv = NULL;
 *     socfw_model_kv_new(&kv, m, 256, &err);
 *     float *logits = malloc(sizeof(float) * cfg->vocab_size);
 *     socfw_model_decode_step(m, kv, prompt, n_prompt, logits, &err);
 *     while (...) { next = argmax(logits);
 *                   socfw_model_decode_step(m, kv, &next, 1, logits, &err); }
 *     socfw_model_kv_free(kv);
 *     socfw_model_free(m);
 *
 * Supported files (through socfw/modelfile.h):
 *   - Hugging Face directories / safetensors with config.json, model_type
 *     gpt2, bert, roberta (also xlm-roberta, camembert), llama, mistral
 *     (without sliding window), qwen2.  Tensor names with or without the
 *     task-model prefix ("transformer.", "bert.", "roberta.", "model.").
 *   - GGUF with general.architecture llama or qwen2.  GGUF llama files store
 *     Q/K rows permuted for the interleaved RoPE convention; they are
 *     permuted back on load so that every model runs rotate-half RoPE on HF
 *     layout weights, and parameters get HF names
 *     ("model.layers.N.self_attn.q_proj.weight", ...).
 *
 * Conventions: activations are batch-contiguous row-major (B,T,C); token
 * ids and masks are int32 (B,T); mask nonzero = real token, 0 = padding.
 * Positions are 0..T-1 for GPT-2, BERT and Llama (use right padding);
 * RoBERTa numbers positions from padding_idx+1 skipping pad tokens, as HF.
 * The forward "hidden" output is HF's last_hidden_state: after the final
 * norm for decoders (ln_f / norm), after the last block for encoders.
 *
 * Dropout (training with rate p > 0) is applied to the embedding output and
 * to the output of each attention and MLP branch before its residual add
 * (HF embd/hidden/resid dropout); attention-probability dropout is not
 * applied.
 *
 * The socfw_model_* calls share the model's own context: one at a time.
 * Callers that run at once use a socfw_context each (see "contexts"
 * below; the kernels themselves run in parallel, see socfw/threads.h).
 */
#ifndef SOCFW_MODEL_H
#define SOCFW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/modelfile.h"
#include "socfw/params.h"
#include "socfw/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ------------------------------------------------------ */

typedef enum socfw_arch {
        SOCFW_ARCH_GPT2 = 1,    /* pre-LN decoder, learned positions, tied */
        SOCFW_ARCH_BERT = 2,    /* post-LN encoder + pooler               */
        SOCFW_ARCH_ROBERTA = 3, /* BERT with RoBERTa position numbering   */
        SOCFW_ARCH_LLAMA = 4,   /* RMSNorm, RoPE, SwiGLU, GQA (Qwen2 too) */
} socfw_arch;

typedef enum socfw_act {
        SOCFW_ACT_GELU_TANH = 1, /* "gelu_new", "gelu_pytorch_tanh"       */
        SOCFW_ACT_GELU_ERF = 2,  /* "gelu" (exact)                        */
        SOCFW_ACT_SWIGLU = 3,    /* silu(gate) * up (Llama "silu")        */
} socfw_act;

typedef enum socfw_rope {
        SOCFW_ROPE_NONE = 0,        /* learned absolute positions          */
        SOCFW_ROPE_HALF = 1,        /* HF rotate_half (NeoX)               */
        SOCFW_ROPE_INTERLEAVED = 2, /* pairs (2i, 2i+1): GPT-J / Meta      */
} socfw_rope;

/* How RoPE frequencies are stretched for contexts past the pretraining
 * length (HF config.json "rope_scaling"; GGUF rope.scaling.* or a
 * rope_freqs tensor). */
typedef enum socfw_rope_scaling {
        SOCFW_ROPE_SCALING_NONE = 0,
        SOCFW_ROPE_SCALING_LINEAR = 1,  /* every frequency / factor        */
        SOCFW_ROPE_SCALING_LLAMA3 = 2,  /* Llama 3.1: long wavelengths /
                                           factor, short ones kept, a
                                           smooth blend between            */
        SOCFW_ROPE_SCALING_FACTORS = 3, /* per-frequency divisors from the
                                           file (GGUF rope_freqs.weight)   */
} socfw_rope_scaling;

typedef struct socfw_model_config {
        socfw_arch arch;
        int vocab_size;
        int hidden;             /* C                                        */
        int n_layers;
        int n_heads;
        int n_kv_heads;         /* == n_heads unless GQA/MQA                */
        int head_dim;           /* D; hidden / n_heads unless the file says */
        int ffn;                /* MLP inner size                           */
        int max_positions;      /* learned table rows / context length      */
        int type_vocab_size;    /* BERT token types (0 for others)          */
        float norm_eps;
        float rope_theta;       /* Llama; 0 for others                      */
        socfw_rope rope;
        bool tie_embeddings;    /* LM head shares the token embedding       */
        bool attn_bias;         /* Llama q/k/v biases (Qwen2)               */
        bool pooler;            /* encoder has pooler.dense                 */
        socfw_act act;
        int pad_id, bos_id, eos_id; /* -1 when unknown                      */
        socfw_rope_scaling rope_scaling;
        float rope_factor;              /* LINEAR, LLAMA3                   */
        float rope_low_freq_factor;     /* LLAMA3 (1 in Llama 3.1)          */
        float rope_high_freq_factor;    /* LLAMA3 (4)                       */
        int rope_original_max_positions; /* LLAMA3 (8192)                   */
} socfw_model_config;

/* Fill `cfg` with the defaults of `arch` at the given size (GPT-2: tied,
 * gelu_new, eps 1e-5; BERT: gelu, eps 1e-12, 2 token types, pooler;
 * RoBERTa: pad 1, eps 1e-5, pooler; Llama: swiglu, rope half theta 1e4,
 * eps 1e-5, untied), n_kv_heads = n_heads, head_dim = hidden / n_heads.
 * Adjust fields afterwards as needed. */
void socfw_model_config_default(socfw_model_config *cfg, socfw_arch arch,
                                int vocab_size, int hidden, int n_layers,
                                int n_heads, int ffn, int max_positions);

/* "gpt2", "bert", "roberta", "llama"; "?" otherwise.  Static string. */
const char *socfw_arch_name(socfw_arch arch);

/* ---- lifetime ----------------------------------------------------------- */

typedef struct socfw_model socfw_model;

typedef struct socfw_model_options {
        /* Seed for tensors the file lacks but the model has (an encoder
         * without a pooler gets a fresh one, as HF does). */
        uint64_t seed;
        /* Do not create a pooler for encoders. */
        bool no_pooler;
        /* Inference only: keep the matrices of the linear sites, the LM
         * head and the token embeddings in the file's element type (F16,
         * BF16, Q8_0, Q4_K, ...; see socfw/qtensor.h) instead of
         * dequantising them to float32.  socfw_model_load borrows them from
         * the mapped file (kept open until socfw_model_free), and
         * socfw_model_load_modelfile copies them.  Float32 tensors, 1-D
         * tensors and GPT-2's (in, out) matrices load as usual.  Backward,
         * saving and training are refused on such a model (load it without
         * this option to train). */
        bool keep_quantized;
} socfw_model_options;

/* Load a backbone from a HF directory, a .safetensors file (config.json
 * beside it is NOT read by modelfile then: give the directory) or a .gguf
 * file.  `opts` may be NULL.  Returns 0 and sets *out (caller frees with
 * socfw_model_free), or a negative SOCFW_E* code with *out = NULL and
 * `err` saying which file / tensor / key is wrong. */
int socfw_model_load(socfw_model **out, const char *path,
                     const socfw_model_options *opts, socfw_error *err);

/* Same from an already open model file (borrowed; all data is copied, so
 * the file may be closed afterwards). */
int socfw_model_load_modelfile(socfw_model **out, const socfw_modelfile *mf,
                               const socfw_model_options *opts,
                               socfw_error *err);

/* A freshly initialised model for pretraining from scratch: normal(0,0.02)
 * matrices and embeddings (GPT-2 output projections scaled by
 * 1/sqrt(2*n_layers)), norms 1, biases 0.  The config is copied and
 * checked.  Returns 0 / SOCFW_EINVAL (bad config) / SOCFW_ENOMEM. */
int socfw_model_new_random(socfw_model **out, const socfw_model_config *cfg,
                           uint64_t seed, socfw_error *err);

/* Bytes of weights kept in their file's format (socfw_model_options
 * keep_quantized), and how many matrices; 0 for a float32 model. */
size_t socfw_model_quantized_bytes(const socfw_model *m, int *n_tensors);

/* Free the model, its parameters and workspace.  NULL is a no-op. */
void socfw_model_free(socfw_model *m);

/* Borrowed views.  The config is read-only; the parameter store may be
 * used by optimizers, checkpoint writers and adapters (do not add tensors
 * to it: it is finalized). */
const socfw_model_config *socfw_model_config_of(const socfw_model *m);
socfw_params *socfw_model_params(socfw_model *m);

/* The rotary inverse frequencies in use when RoPE is scaled (head_dim/2
 * floats, *n gets the count), or NULL when the plain theta^(-2i/d) ones
 * are (no scaling, or no RoPE).  Borrowed. */
const float *socfw_model_rope_inv_freq(const socfw_model *m, int *n);

/* Prefix of the backbone tensor names ("", "transformer.", "bert.",
 * "roberta.", "model."); borrowed. */
const char *socfw_model_name_prefix(const socfw_model *m);

/* A short identity of the weights: hex BLAKE2b-256 (64 digits + NUL) of
 * the architecture, every size, each tensor's name and shape and a sample
 * of its values.  Checkpoints and adapters record it, and are refused on
 * a model whose fingerprint differs. */
void socfw_model_fingerprint(const socfw_model *m, char hex[65]);

/* Save as a Hugging Face directory: config.json (the model_type and sizes
 * transformers reads) and model.safetensors (every tensor under its own
 * name; unprefixed encoder tensors under "bert." / "roberta."), plus the
 * `n_extra` tensors of `extra` (may be NULL) in the same file.  The
 * directory is made if needed; each file is written atomically.  The
 * tokenizer is not written (socfw_tokenizer_save).  Returns 0,
 * SOCFW_EUNSUPPORTED (an architecture without an HF config), SOCFW_EIO. */
struct socfw_tensor_info;
int socfw_model_save(socfw_model *m, const char *dir,
                     const struct socfw_tensor_info *extra, size_t n_extra,
                     socfw_error *err);

/* ---- freezing ----------------------------------------------------------- */

/* Make only the top `top_layers` blocks trainable (< 0: all blocks; 0:
 * none), plus the final norm, untied LM head and pooler when top_layers
 * != 0, plus the embeddings when `embeddings` is true.  Backward then stops
 * below the lowest trainable part.  Returns 0. */
int socfw_model_freeze(socfw_model *m, int top_layers, bool embeddings);

/* ---- training forward / backward --------------------------------------- */

/* Forward over ids (B,T).  mask (B,T) may be NULL (all real tokens);
 * token_types (B,T) may be NULL (all 0; BERT only).  With `training` and
 * dropout > 0, `rng` (not NULL) draws the dropout masks.  hidden (B,T,C)
 * receives the last hidden state.  The activations for backward are kept
 * in the model's workspace (grown when B*T grows, never shrunk).
 * Returns 0, SOCFW_EINVAL (bad id, T > max_positions, bad sizes),
 * SOCFW_ENOMEM. */
int socfw_model_forward(socfw_model *m, const int32_t *ids,
                        const int32_t *mask, const int32_t *token_types,
                        int B, int T, bool training, float dropout,
                        socfw_rng *rng, float *hidden, socfw_error *err);

/* Backward of the last forward: dhidden (B,T,C) = dL/dhidden (read only).
 * Accumulates (+=) into the gradients of trainable parameters.  Returns 0
 * or SOCFW_ESTATE (no forward before). */
int socfw_model_backward(socfw_model *m, const float *dhidden,
                         socfw_error *err);

/* ---- LM head ------------------------------------------------------------ */

/* logits (N,V) = hidden (N,C) @ W^T with W the LM head (lm_head.weight, or
 * the token embedding when tied).  Decoders only: SOCFW_EUNSUPPORTED for
 * encoders. */
int socfw_model_lm_logits(socfw_model *m, const float *hidden, int N,
                          float *logits, socfw_error *err);

/* dhidden (N,C) += dlogits @ W; dW += dlogits^T hidden (when trainable).
 * dhidden may be NULL.  hidden is what lm_logits got. */
int socfw_model_lm_logits_backward(socfw_model *m, const float *hidden,
                                   const float *dlogits, int N,
                                   float *dhidden, socfw_error *err);

/* ---- pooler (encoders) -------------------------------------------------- */

/* pooled (B,C) = tanh(dense(hidden[:, 0, :])) from hidden (B,T,C); the
 * first-token rows and the output are saved for backward.  Returns 0,
 * SOCFW_EUNSUPPORTED (no pooler), SOCFW_ENOMEM. */
int socfw_model_pool(socfw_model *m, const float *hidden, int B, int T,
                     float *pooled, socfw_error *err);

/* dhidden (B,T,C) += from dpooled (B,C) (only row 0 of each sequence is
 * touched); pooler gradients +=.  B, T as in the last socfw_model_pool. */
int socfw_model_pool_backward(socfw_model *m, const float *dpooled,
                              float *dhidden, socfw_error *err);

/* ---- contexts: many callers over one set of weights -------------------- */

/* A context is one caller's state over a model: the activations a forward
 * keeps for its backward (the backbone's and the attached adapter's) and
 * an attached adapter (socfw/peft.h).  The socfw_model_forward/backward/
 * pool calls use the model's own context.
 *
 * Threading contract: the weights, and an adapter's tensors, are read
 * only while contexts run.  Forwards on distinct contexts may run at the
 * same time from different threads, also with one adapter attached to
 * several of them, training or not: each keeps its activations in its own
 * context, so contexts over one adapter may also interleave (forward A,
 * forward B, backward A, backward B), each backward going back through its
 * own forward.  The gradients are not per context: a backward adds (+=)
 * into the gradients of the model's and the adapter's trainable tensors,
 * so the caller runs the backwards over one model or adapter one at a time
 * (what they add up to is the gradient of both batches; zero or read the
 * gradients in between for each alone), and steps the optimizer only when
 * no context is between a forward and its backward.  A backward may run
 * beside forwards of other contexts, except over a prefix_projection
 * adapter, whose backward has the next forward recompute the rows other
 * forwards read.  socfw's kernels share one thread pool, whose calls are
 * serialised.  KV caches (below) are per sequence in the same way. */
typedef struct socfw_context socfw_context;

/* A new context over m (borrowed; it must outlive the context).  Returns
 * 0 and *out (caller frees), or SOCFW_ENOMEM. */
int socfw_context_new(socfw_context **out, socfw_model *m, socfw_error *err);

/* NULL is a no-op. */
void socfw_context_free(socfw_context *c);

/* socfw_model_forward / _backward / _pool / _pool_backward on context c:
 * the same contracts, with c's workspace and adapter, but for one: with
 * an adapter attached, only a training forward keeps what the adapter's
 * backward needs (in c, so the backward goes back through c's own last
 * forward whatever other contexts over the adapter ran since); an
 * inference forward keeps nothing of the adapter's, sparing that memory,
 * and a backward of it is refused.  socfw_model_forward always keeps it
 * (gradients of an evaluation-mode pass, as gradient checks take). */
int socfw_context_forward(socfw_context *c, const int32_t *ids,
                          const int32_t *mask, const int32_t *token_types,
                          int B, int T, bool training, float dropout,
                          socfw_rng *rng, float *hidden, socfw_error *err);
int socfw_context_backward(socfw_context *c, const float *dhidden,
                           socfw_error *err);
int socfw_context_pool(socfw_context *c, const float *hidden, int B, int T,
                       float *pooled, socfw_error *err);
int socfw_context_pool_backward(socfw_context *c, const float *dpooled,
                                float *dhidden, socfw_error *err);

/* ---- incremental decoding ----------------------------------------------- */

typedef struct socfw_model_kv socfw_model_kv;

/* A KV cache for one sequence of up to max_len positions (capped at the
 * model's max_positions for learned positions).  Decoders only.  Returns
 * 0 and *out (caller frees), SOCFW_EUNSUPPORTED (encoder), SOCFW_EINVAL,
 * SOCFW_ENOMEM. */
int socfw_model_kv_new(socfw_model_kv **out, const socfw_model *m,
                       int max_len, socfw_error *err);

/* NULL is a no-op. */
void socfw_model_kv_free(socfw_model_kv *kv);

/* Forget all positions (keeps the memory). */
void socfw_model_kv_reset(socfw_model_kv *kv);

/* Positions held; capacity.  With a prefix or prompt adapter (socfw/
 * peft.h: the cache's own, or the model's when the cache was made) the
 * cache has room for its rows too, and they are the first positions held
 * once a step ran. */
int socfw_model_kv_len(const socfw_model_kv *kv);
int socfw_model_kv_capacity(const socfw_model_kv *kv);

/* Append n >= 1 tokens (a prompt, or one generated token) at positions
 * len .. len+n-1 and, if logits (V) is not NULL, write the logits of the
 * last of them.  `kv` must have been made for `m`.  Returns 0,
 * SOCFW_EINVAL (bad id, cache full: nothing is appended then). */
int socfw_model_decode_step(socfw_model *m, socfw_model_kv *kv,
                            const int32_t *ids, int n, float *logits,
                            socfw_error *err);

/* One new token for each of k sequences at once: ids[b] is appended to
 * kvs[b] (each at its own position; every cache holds its prompt already,
 * from socfw_model_decode_step) and logits (k, V) gets row b's next-token
 * logits.  The linear layers and the language-model head run as (k, C) x
 * W^T products, one pass over the weights for the k tokens; attention
 * runs per sequence over its own cache.  Greedy decoding gives the
 * tokens of k separate decode_step calls (the float sums are the same
 * products in another blocking, so logits agree to rounding).  The batch
 * uses kvs[0]'s scratch, which grows to k rows.  Each row decodes with
 * its cache's adapter (socfw_model_kv_attached), whichever: the products
 * with the frozen weights run once for all rows and each adapter's
 * low-rank or scaling terms on its own rows (a prefix's or a prompt's
 * rows are in its cache); rows of one adapter next to each other make
 * fewer, larger such products.  Returns 0, or SOCFW_EINVAL (a cache of
 * another model, empty or full, shared by two rows, a bad id: nothing is
 * appended then), SOCFW_ENOMEM.
 *
 *     socfw_model_kv *kvs[2] = {a, b};     // prompts already decoded
 *     int32_t next[2] = {ta, tb};
 *     socfw_model_decode_batch(m, kvs, next, 2, logits2, &err); */
int socfw_model_decode_batch(socfw_model *m, socfw_model_kv *const *kvs,
                             const int32_t *ids, int k, float *logits,
                             socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_MODEL_H */
