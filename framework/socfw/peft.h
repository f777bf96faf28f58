/* socfw/peft.h - parameter-efficient adapters over a frozen backbone:
 * LoRA, AdaLoRA, (IA)3 and bottleneck adapters at the block's named linear
 * sites, prefix tuning in attention, prompt tuning at the input.
 *
 * Every transformer block of a socfw_model has the same named linear sites
 * (socfw_site): attn.q, attn.k, attn.v, attn.o, mlp.up, mlp.gate (Llama
 * only) and mlp.down.  GPT-2's fused c_attn is three sites, its column
 * slices.  An adapter holds its own tensors (a socfw_params store, names
 * "layers.<l>.<site>.<tensor>") and, attached to a model, changes what the
 * block computes at those sites in the training forward, in backward and in
 * KV-cache decoding alike - the backbone's own weights are never written.
 *
 *     socfw_adapter_config ac;
 *     socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
 *     ac.rank = 8; ac.alpha = 16;
 *     ac.targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
 *                  SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V);
 *     socfw_adapter *a = NULL;
 *     if (socfw_adapter_new(&a, model, &ac, seed, &err) < 0) goto fail;
 *     socfw_model_freeze(model, 0, false);        // backbone frozen
 *     socfw_model_attach(model, a, &err);         // borrowed until detached
 *     ... socfw_model_forward / socfw_model_backward as usual: gradients go
 *         to socfw_adapter_params(a) (and the model's trainable tensors) ...
 *     socfw_model_attach(model, NULL, &err);      // plain backbone again
 *     socfw_adapter_free(a);
 *
 * What each type computes at a site with input x (N,in), base output
 * y = x W + b (N,out):
 *
 *   LoRA     y += s * dropout(x) A^T B^T,  A (r,in), B (out,r),
 *            s = alpha / r (alpha / sqrt(r) with use_rslora).  PEFT's
 *            initialisation: A Kaiming-uniform (a = sqrt(5): U(+-1/sqrt(in))),
 *            B zero, so an untrained adapter changes nothing.
 *            Tensors: lora_A (r,in), lora_B (out,r).
 *            With `embed`, also on the token embedding table (PEFT's
 *            lora_embedding_A/B on wte / embed_tokens / word_embeddings):
 *            the word embedding of token id becomes
 *              E[id] + s * A_e[:, id]^T B_e^T,  A_e (r,vocab), B_e (hidden,r)
 *            (no dropout, as PEFT); A_e starts at zero and B_e N(0,1), as
 *            PEFT initialises it.  Only the input lookup changes: a tied
 *            LM head (GPT-2, tied Llama) keeps reading the frozen table.
 *            Full fine-tuning trains the embeddings, often the largest
 *            tensor of a small backbone; the block sites never reach them.
 *            Tensors: embed.lora_embedding_A, embed.lora_embedding_B.
 *   (IA)3    output sites (attn.q/k/v/o, mlp.up, mlp.gate): y = l * y with
 *            l (out); feed-forward input sites (mlp.down): y = (x * l) W + b
 *            with l (in), as PEFT's feedforward_modules.  l starts at 1.
 *            Tensor: ia3_l.
 *   AdaLoRA  (Zhang et al. 2023) LoRA in SVD form: y += s * x (A o E)^T B^T
 *            with lora_A = Q (r,in), lora_E = the r singular values
 *            (r,1), lora_B = P (out,r), s = alpha / r; A and B start
 *            N(0, 0.02), E at 0.  Training adds the orthogonality
 *            regulariser and, after each optimizer step, scores every
 *            singular triplet (smoothed |w * grad| times its uncertainty)
 *            and zeroes the lowest E entries down to a budget that falls
 *            cubically from init_r to target_r per site
 *            (socfw_adapter_adalora_step).  Tensors: lora_A, lora_B,
 *            lora_E.
 *   prefix   (Li & Liang 2021, PEFT's PREFIX_TUNING without projection)
 *            every block's attention also reads P learned key and value
 *            rows placed before the sequence, as a KV cache of P tokens
 *            would hold them: real tokens sit at positions P, P+1, ...
 *            (learned positions and RoPE alike); no site is touched.
 *            Tensors: layers.<l>.attn.k.prefix (P,kd), layers.<l>.attn.v.
 *            prefix (P,kd), start N(0,1) as PEFT's embedding.
 *   prefix with prefix_projection (PEFT's PrefixEncoder; Li & Liang's
 *            reparameterisation): the rows are not trained but computed,
 *            for all blocks at once, by
 *              Out = tanh(E W1^T + b1) W2^T + b2   (P, L*2*kd)
 *            E (P,kd) N(0,1), W1 (enc,kd), b1 (enc), W2 (L*2*kd,enc),
 *            b2 (L*2*kd) PyTorch's Linear init, enc = encoder_hidden_size
 *            (0: the backbone's hidden size).  Column (2l+v)*kd + c of
 *            row j is block l's key (v 0) or value (v 1) component c of
 *            virtual token j: per layer keys then values, PEFT's
 *            past_key_values view.  Only E and the MLP train (their
 *            gradient is the rows' chained back through the MLP; they are
 *            what checkpoints keep).  The rows are recomputed on every
 *            socfw_model_forward, else (other contexts, decoding, saving)
 *            only after a backward or socfw_adapter_params_changed() -
 *            once, not per token.  socfw_adapter_save folds: it writes
 *            the computed rows as PEFT does (no MLP is needed to load
 *            them).  Tensors: prefix_encoder.embedding.weight,
 *            prefix_encoder.transform.{0,2}.{weight,bias}.
 *   prompt   (Lester et al. 2021, PEFT's PROMPT_TUNING) P learned input
 *            embeddings placed before the token embeddings of every
 *            sequence; no site is touched.  The virtual tokens take
 *            positions 0..P-1 and real tokens follow at P, P+1, ...
 *            (learned positions and RoPE alike); a prompt row replaces the
 *            word embedding only, so BERT-style models still add its
 *            position, token type 0 and the embedding LayerNorm, and every
 *            model its embedding dropout.  Attention: causal models' virtual
 *            tokens see earlier virtual tokens, real tokens see all of them;
 *            encoders see everything; padding masks as without the
 *            adapter (virtual tokens are never masked).  The forward's
 *            hidden states are the real tokens' only, (B,T,C) as always,
 *            so heads, poolers (a classifier's CLS / first / last / mean,
 *            BERT's pooler: the real [CLS], not a virtual token as in
 *            PEFT's BertForSequenceClassification), taggers and the LM loss
 *            read the real sequence.  KV decoding runs the prompt through
 *            the blocks once, as the cache's first P positions.  Init:
 *            N(0,1) as nn.Embedding (PEFT's RANDOM), or rows of the frozen
 *            token embedding at uniformly drawn ids (PEFT's SAMPLE_VOCAB).
 *            Tensor: prompt_embeddings (P,hidden).
 *   bottleneck  at attn.o and/or mlp.down (Houlsby: both; Pfeiffer:
 *            mlp.down): y += up(act(down(y))), down (m,out) + bias,
 *            up (out,m) + bias, m = out / reduction_factor; near-identity
 *            start (down N(0, 0.01), up zero).  The adapter runs before the
 *            branch's dropout and residual add.  Tensors: down.weight,
 *            down.bias, up.weight, up.bias.
 *
 * Threading: an adapter holds its tensors and their gradients only.  What
 * a forward keeps for the adapter's backward (its activations, LoRA's
 * dropout masks, a prefix's keys and values) is the context's
 * (socfw_context, socfw/model.h), so forwards on several contexts over one
 * adapter may run at once, training or not, and each backward goes back
 * through its own context's forward.  The gradients are shared: backwards
 * over one adapter add into them one at a time, the caller serialising
 * them (the contract in socfw/model.h).
 */
#ifndef SOCFW_PEFT_H
#define SOCFW_PEFT_H

#include <stdbool.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/model.h"
#include "socfw/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- named linear sites ------------------------------------------------- */

typedef enum socfw_site {
        SOCFW_SITE_ATTN_Q = 0,
        SOCFW_SITE_ATTN_K = 1,
        SOCFW_SITE_ATTN_V = 2,
        SOCFW_SITE_ATTN_O = 3,
        SOCFW_SITE_MLP_UP = 4,
        SOCFW_SITE_MLP_GATE = 5,
        SOCFW_SITE_MLP_DOWN = 6,
} socfw_site;

#define SOCFW_SITE_COUNT 7
#define SOCFW_SITE_BIT(s) (1u << (unsigned)(s))
#define SOCFW_SITE_ALL ((1u << SOCFW_SITE_COUNT) - 1u)

/* "attn.q", ...; "?" for a bad value.  Static string. */
const char *socfw_site_name(socfw_site s);

/* The site named `name` ("attn.q" ... "mlp.down"), or -1. */
int socfw_site_parse(const char *name);

/* Whether blocks of `m` have the site (mlp.gate: Llama family only). */
bool socfw_model_has_site(const socfw_model *m, socfw_site s);

/* Input and output width of a site of `m` (0 when it lacks the site). */
void socfw_model_site_dims(const socfw_model *m, socfw_site s, int *in,
                           int *out);

/* The Hugging Face module of a site in block `layer`, without the
 * backbone's name prefix ("h.3.attn.c_attn", "layers.0.self_attn.q_proj",
 * "encoder.layer.1.attention.self.query"); GPT-2's q, k and v all live in
 * "h.N.attn.c_attn".  Writes at most `cap` bytes; returns 0 or
 * SOCFW_EINVAL (no such site / too small). */
int socfw_model_site_module(const socfw_model *m, int layer, socfw_site s,
                            char *buf, size_t cap);

/* The Hugging Face module of the token embedding table, without the
 * backbone's name prefix ("wte", "embed_tokens",
 * "embeddings.word_embeddings"): where PEFT puts an embedding LoRA.
 * Returns 0 or SOCFW_EINVAL (too small). */
int socfw_model_embed_module(const socfw_model *m, char *buf, size_t cap);

/* ---- adapter configuration ---------------------------------------------- */

typedef enum socfw_adapter_type {
        SOCFW_ADAPTER_NONE = 0,
        SOCFW_ADAPTER_LORA = 1,
        SOCFW_ADAPTER_IA3 = 2,
        SOCFW_ADAPTER_BOTTLENECK = 3,
        SOCFW_ADAPTER_ADALORA = 4,
        SOCFW_ADAPTER_PREFIX = 5,
        SOCFW_ADAPTER_PROMPT = 6,
} socfw_adapter_type;

/* How a prompt adapter's embeddings start. */
typedef enum socfw_prompt_init {
        SOCFW_PROMPT_INIT_RANDOM = 0, /* N(0,1): PEFT's RANDOM             */
        SOCFW_PROMPT_INIT_VOCAB = 1,  /* token embedding rows: SAMPLE_VOCAB */
} socfw_prompt_init;

typedef enum socfw_adapter_act {
        SOCFW_ADAPTER_ACT_RELU = 0,
        SOCFW_ADAPTER_ACT_GELU = 1,   /* tanh approximation */
        SOCFW_ADAPTER_ACT_SILU = 2,
} socfw_adapter_act;

typedef struct socfw_adapter_config {
        socfw_adapter_type type;
        unsigned targets;       /* SOCFW_SITE_BIT()s                       */
        /* LoRA */
        int rank;               /* r >= 1                                  */
        float alpha;            /* scale numerator                         */
        float dropout;          /* on the LoRA input, training only        */
        bool use_rslora;        /* s = alpha / sqrt(r)                     */
        bool embed;             /* LoRA also on the token embedding       */
        /* bottleneck */
        int reduction_factor;   /* m = width / reduction_factor            */
        socfw_adapter_act act;
        /* AdaLoRA (rank above is init_r) */
        int target_r;           /* average rank per site at the end       */
        long tinit, tfinal;     /* steps at full budget / at the target   */
        long delta_t;           /* steps between budget allocations       */
        float beta1, beta2;     /* importance and uncertainty EMAs        */
        float orth_reg_weight;  /* weight of ||PᵀP - I|| + ||QQᵀ - I||    */
        /* prefix tuning */
        int prefix_length;      /* virtual tokens per layer               */
        bool prefix_projection; /* rows computed by an MLP (see above)    */
        int encoder_hidden_size;/* its width; 0: the backbone's hidden    */
        /* prompt tuning */
        int num_virtual_tokens; /* learned input embeddings (P)           */
        socfw_prompt_init prompt_init;
} socfw_adapter_config;

/* Defaults of each type (PEFT's where PEFT has the type):
 *   LoRA: r 8, alpha 8, dropout 0, targets attn.q + attn.v;
 *   IA3: targets attn.k + attn.v + mlp.down;
 *   bottleneck: Pfeiffer (mlp.down), reduction 16, relu;
 *   prompt: 20 virtual tokens, random init. */
void socfw_adapter_config_default(socfw_adapter_config *c,
                                  socfw_adapter_type type);

/* "lora", "adalora", "ia3", "bottleneck", "prefix", "prompt", "none";
 * "?" otherwise.  Static string. */
const char *socfw_adapter_type_name(socfw_adapter_type t);

/* The type named `name` (as socfw_adapter_type_name gives it), or -1. */
int socfw_adapter_type_parse(const char *name);

/* ---- adapters ----------------------------------------------------------- */

typedef struct socfw_adapter socfw_adapter;

/* A new adapter for every block of `m` at cfg->targets, initialised as
 * documented above from `seed`.  Refuses (SOCFW_EINVAL, naming the site or
 * value) a target the architecture lacks, rank < 1 or above the smaller
 * side of a target projection (or of the embedding table with `embed`),
 * `embed` on a type other than LoRA, a bottleneck target other than attn.o /
 * mlp.down, a reduction factor that leaves no width.  Returns 0 and *out
 * (caller frees), or a negative SOCFW_E* code with *out = NULL. */
int socfw_adapter_new(socfw_adapter **out, const socfw_model *m,
                      const socfw_adapter_config *cfg, uint64_t seed,
                      socfw_error *err);

/* NULL is a no-op.  Detach it from its model first. */
void socfw_adapter_free(socfw_adapter *a);

/* Borrowed: the adapter's configuration and tensors (all trainable; the
 * store is finalized: read, write and optimize them, add none). */
const socfw_adapter_config *socfw_adapter_config_of(const socfw_adapter *a);
socfw_params *socfw_adapter_params(socfw_adapter *a);

/* ---- AdaLoRA training ---------------------------------------------------- */

/* After the gradients of an optimizer step are complete (before clipping):
 * add the orthogonality regulariser's gradient, weight orth_reg_weight,
 * mean over the adapter's A and B matrices of ||A Aᵀ - I||_F and
 * ||Bᵀ B - I||_F, as PEFT does; *reg (may be NULL) gets its value.  No-op
 * (0) for other types. */
int socfw_adapter_adalora_regularize(socfw_adapter *a, float *reg);

/* After optimizer step `step` (1-based) of `total_steps`, with the step's
 * gradients still in place: update the importance of every singular
 * triplet and, on allocation steps, zero the E entries with the lowest
 * scores so that at most budget(step) stay (the cubic schedule between
 * tinit and total_steps - tfinal, every delta_t steps; from then on the
 * final mask is kept).  Returns the budget now in force (total ranks), or
 * 0 for other types. */
long socfw_adapter_adalora_step(socfw_adapter *a, long step,
                                long total_steps);

/* Singular values still in use at (layer, site): its rank now (LoRA and
 * AdaLoRA; 0 for other types or absent sites). */
int socfw_adapter_site_rank(const socfw_adapter *a, int layer, socfw_site s);

/* LoRA scale s (1 for other types). */
float socfw_adapter_lora_scale(const socfw_adapter *a);

/* Virtual tokens of a prefix adapter (0 for other types or NULL): what
 * the backbone's positions and KV caches make room for. */
int socfw_adapter_prefix_length(const socfw_adapter *a);

/* Whether `a` is a prefix adapter with prefix_projection (its tensors
 * are E and the MLP; the rows are computed from them). */
bool socfw_adapter_prefix_projected(const socfw_adapter *a);

/* Tell `a` that its tensors were written other than by an optimizer step
 * after a backward (loading a checkpoint, a test's perturbation): a
 * prefix_projection adapter then recomputes its rows before they are next
 * read.  No-op for other adapters and NULL. */
void socfw_adapter_params_changed(socfw_adapter *a);
/* Virtual tokens of a prompt adapter (0 for other types or NULL): rows
 * the forward runs in front of every sequence, positions it takes. */
int socfw_adapter_prompt_length(const socfw_adapter *a);

/* Whether `a` is a LoRA with an adapter on the token embedding (cfg.embed);
 * false for NULL. */
bool socfw_adapter_embeds(const socfw_adapter *a);

/* Whether block `layer` has the adapter at site `s`. */
bool socfw_adapter_has(const socfw_adapter *a, int layer, socfw_site s);

/* Attach `a` to `m` (borrowed until detached; NULL detaches).  Checks that
 * the adapter was made for a model of this shape (SOCFW_EINVAL naming the
 * first difference).  Backward then runs down to the lowest adapted block
 * even when the backbone is frozen; frozen weights get no gradient. */
int socfw_model_attach(socfw_model *m, socfw_adapter *a, socfw_error *err);

/* The attached adapter, or NULL.  Borrowed. */
socfw_adapter *socfw_model_attached(const socfw_model *m);

/* The same for one context (socfw/model.h): an adapter may be attached to
 * several contexts at once, each keeping its own activations (Threading,
 * above). */
int socfw_context_attach(socfw_context *c, socfw_adapter *a,
                         socfw_error *err);
socfw_adapter *socfw_context_attached(const socfw_context *c);

/* The adapter a sequence decodes with (a KV cache, socfw/model.h).  A
 * cache follows the adapter attached to its model (socfw_model_attach)
 * until it is given its own here: then it decodes with `a` (NULL: the plain backbone)
 * whatever the model has attached, so generations with different adapters
 * can run at once over one model, each with its own cache.  `a` is
 * borrowed (it must outlive the cache's use) and is only read by
 * decoding, so many caches may share it.  Attach before the first step
 * (or after socfw_model_kv_reset): returns SOCFW_EINVAL when the cache
 * holds positions or `a` was made for another shape of model,
 * SOCFW_ENOMEM.  socfw_model_kv_attached gives the adapter decoding
 * uses now (own or the model's). */
int socfw_model_kv_attach(socfw_model_kv *kv, socfw_adapter *a,
                          socfw_error *err);
socfw_adapter *socfw_model_kv_attached(const socfw_model_kv *kv);

/* ---- several adapters in one forward (inference) ----------------------- *
 *
 * Many tasks over one frozen backbone, each with its own adapter, can
 * share a forward pass: the frozen projections run once over every
 * sequence of the batch, and each adapter changes the rows of its own
 * sequences only (the segmented LoRA of S-LoRA / punica).  That is exact
 * for the adapters that act row by row at the linear sites - LoRA,
 * AdaLoRA, (IA)3, bottleneck - and for the plain backbone (NULL); prefix
 * and prompt adapters change the sequence attention sees, so their
 * sequences run in forwards of their own.
 *
 *     socfw_adapter_run runs[] = {{sentiment_lora, 3}, {intent_lora, 2}};
 *     // sequences 0-2 with the sentiment adapter, 3-4 with the intent one
 *     socfw_context_forward_runs(ctx, runs, 2, ids, mask, NULL, 5, T,
 *                                hidden, &err);
 */

/* Whether `a` can share a forward with other adapters (above): true for
 * NULL and the site adapters, false for prefix and prompt. */
bool socfw_adapter_mixes(const socfw_adapter *a);

/* Consecutive sequences of a batch served by one adapter. */
typedef struct socfw_adapter_run {
        socfw_adapter *adapter; /* borrowed; NULL: the plain backbone     */
        int n_seqs;             /* sequences, >= 1                        */
} socfw_adapter_run;

/* socfw_context_forward (socfw/model.h) for inference (training off)
 * with runs[0..n_runs) serving the B sequences in order: each sequence's
 * hidden states are what socfw_context_forward computes with its run's
 * adapter attached, the frozen projections shared.  The adapter attached
 * to c is neither used nor changed, and nothing is kept for a backward
 * (socfw_context_backward then refuses).  Refused (SOCFW_EINVAL, naming
 * the run): a run of no sequences, runs that do not add up to B, an
 * adapter that does not mix (prefix, prompt) or was made for another
 * shape of model.  Returns 0 or a negative SOCFW_E* code. */
int socfw_context_forward_runs(socfw_context *c,
                               const socfw_adapter_run *runs, int n_runs,
                               const int32_t *ids, const int32_t *mask,
                               const int32_t *token_types, int B, int T,
                               float *hidden, socfw_error *err);

/* Fold a LoRA or IA3 adapter into the weights of `m` (W += s B A, or the
 * (IA)3 scalings), so that `m` alone computes what `m` + `a` did.
 * `m` must not have `a` attached.  Bottleneck, prefix and prompt adapters
 * cannot be folded: SOCFW_EUNSUPPORTED; nor can an embedding LoRA into a
 * model whose LM head shares the embedding table (GPT-2, tied Llama): the
 * LM head would change with it. */
int socfw_adapter_merge(const socfw_adapter *a, socfw_model *m,
                        socfw_error *err);

/* ---- files (Hugging Face PEFT layout) ---------------------------------- */

/* Write `dir`/adapter_config.json and adapter_model.safetensors as PEFT
 * does for the Hugging Face model of `m` (tensor names
 * "base_model.model.<module>.lora_A.weight", ...; GPT-2's q/k/v sites as
 * one c_attn adapter), and meta.json: type, task (may be NULL), the base
 * model's fingerprint and `base_source` (may be NULL).  Bottleneck
 * adapters use the same layout with peft_type "SOCFW_BOTTLENECK" (socfw
 * reads them, PEFT does not).  A LoRA with `embed` also writes
 * "<embedding module>.lora_embedding_A" (r,vocab) and ".lora_embedding_B"
 * (hidden,r), PEFT's parameter names (no ".weight"), and lists the module
 * in target_modules.  Prompt adapters are PEFT's PROMPT_TUNING:
 * adapter_model.safetensors holds prompt_embeddings (P,hidden), the
 * config num_virtual_tokens, token_dim, num_transformer_submodules 1,
 * prompt_tuning_init.  Files are written atomically; `dir` is made
 * if needed.  Returns 0 or a negative SOCFW_E* code. */
int socfw_adapter_save(const socfw_adapter *a, const socfw_model *m,
                       const char *dir, const char *task,
                       const char *base_source, socfw_error *err);

/* Read an adapter directory (written by socfw or by PEFT: LoRA, AdaLoRA,
 * IA3, PREFIX_TUNING without projection, PROMPT_TUNING; LoRA's embedding
 * tensors too)
 * for `m`.  With check_base, an adapter whose meta.json names another base
 * model fingerprint is refused naming both.  Refused with the file and
 * tensor: a tensor of no site of this architecture, a missing partner, a
 * shape that does not fit (both shapes shown), an unsupported PEFT type
 * or option (DoRA, trained biases, modules_to_save).  A loaded LoRA has
 * one rank (the largest; smaller ones zero-padded) and scale 1, each
 * module's alpha / r folded into its B: the same function.  A
 * PREFIX_TUNING file with prefix_projection holds the folded rows and
 * loads as a plain prefix adapter (no MLP).  Returns 0 and
 * *out (caller frees), or a negative code with *out NULL. */
int socfw_adapter_load(socfw_adapter **out, const socfw_model *m,
                       const char *dir, bool check_base, socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PEFT_H */
