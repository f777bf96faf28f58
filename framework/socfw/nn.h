/* socfw/nn.h - numerical kernels with forward and backward passes.
 *
 * llm.c style: plain contiguous float arrays (row-major), one function per
 * layer and direction:
 *
 *     socfw_nn_<layer>_forward(out, inp, weights..., dims)
 *     socfw_nn_<layer>_backward(dinp, dweights..., dout, saved..., dims)
 *
 * Rules that hold for every kernel here:
 *   - backward ADDS (+=) into every gradient it writes (dinp, dweight, ...),
 *     so the caller zeroes gradient buffers once per step and branches that
 *     share an input simply accumulate.  Exceptions are marked "(writes)".
 *   - any gradient pointer documented "may be NULL" is skipped when NULL
 *     (e.g. dW of a frozen weight: the work is not done at all).
 *   - shapes are given in comments as (B,T,C) etc.; N is a number of rows
 *     (often B*T).  Sizes are ints, products are computed in size_t.
 *   - big loops run through socfw_parallel_for (socfw/threads.h); results
 *     do not depend on the thread count (reductions over rows are done per
 *     column in a fixed order, not per thread; matrix products are split
 *     over the pool by rows, or by fixed column blocks, never along the
 *     summation), except matrix products of 64M multiply-adds and more,
 *     which run on OpenBLAS's threads (deterministic for a given thread
 *     count).  Work too small to pay for a thread hand-off runs inline.
 *   - out may not alias an input unless the function says "in place ok".
 *   - kernels do not allocate except where noted (attention scratch, RoPE
 *     cos/sin tables, the cross-entropy row buffer: O(rows) each).
 *
 * A transformer block, GPT-2 style, for (B,T,C) activations:
 *
 *     socfw_nn_layernorm_forward(ln1, ln1_mean, ln1_rstd, x, g, b, B*T, C, 1e-5f);
 *     socfw_nn_matmul_forward(qkv, ln1, c_attn_w, c_attn_b, B*T, C, 3*C,
 *                             SOCFW_NN_W_IN_OUT);
 *     socfw_nn_attn_desc ad = { .B = B, .T = T, .Tk = T, .H = nh, .Hkv = nh,
 *                               .D = C / nh, .causal = 1,
 *                               .ld_q = 3*C, .ld_kv = 3*C };
 *     socfw_nn_attention_forward(atty, att, qkv, qkv + C, qkv + 2*C, &ad);
 *     ...
 *     socfw_nn_attention_backward(dqkv, dqkv + C, dqkv + 2*C, datty,
 *                                 qkv, qkv + C, qkv + 2*C, att, &ad);
 */
#ifndef SOCFW_NN_H
#define SOCFW_NN_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- embedding ---------------------------------------------------------- */

/* out (N,C) = table (V,C) rows picked by ids (N).
 * Returns 0, or SOCFW_EINVAL if some id is outside [0,V) (that row of out is
 * set to zeros and the others are still computed). */
int socfw_nn_embedding_forward(float *out, const int32_t *ids,
                               const float *table, int N, int V, int C);

/* out (N,C) += table (V,C)[ids] - for token-type / position-id tables
 * (BERT token_type_ids, RoBERTa position ids).  Same return as above
 * (bad rows are left unchanged). */
int socfw_nn_embedding_add_forward(float *out, const int32_t *ids,
                                   const float *table, int N, int V, int C);

/* dtable (V,C) += scatter of dout (N,C) by ids (N).  Bad ids are skipped.
 * Works for both forward variants.  Deterministic (parallel over C). */
void socfw_nn_embedding_backward(float *dtable, const float *dout,
                                 const int32_t *ids, int N, int V, int C);

/* Learned absolute positions: x (B,T,C) += wpe (maxT,C)[pos0 + t].
 * Returns SOCFW_EINVAL (and does nothing) if pos0 + T > maxT or pos0 < 0. */
int socfw_nn_positional_forward(float *x, const float *wpe, int B, int T,
                                int C, int pos0, int maxT);

/* dwpe (maxT,C) rows pos0..pos0+T-1 += sum over b of dout (B,T,C). */
void socfw_nn_positional_backward(float *dwpe, const float *dout, int B,
                                  int T, int C, int pos0);

/* ---- matmul / linear ---------------------------------------------------- */

/* How a weight matrix is stored. */
typedef enum {
        SOCFW_NN_W_OUT_IN = 0,  /* W (OC,C): PyTorch nn.Linear, HF, GGUF    */
        SOCFW_NN_W_IN_OUT = 1,  /* W (C,OC): HF GPT-2 "Conv1D"              */
} socfw_nn_wlayout;

/* out (N,OC) = inp (N,C) @ W + bias (OC) [bias may be NULL], with W laid
 * out as `layout` says (cblas_sgemm).  out is written, not accumulated. */
void socfw_nn_matmul_forward(float *out, const float *inp, const float *w,
                             const float *bias, int N, int C, int OC,
                             socfw_nn_wlayout layout);

/* One row (N == 1, decoding) with W_OUT_IN runs socfw's own float32
 * matrix-vector kernel, split by output rows over the thread pool: AVX2 +
 * FMA where the CPU has it, else portable C; "blas" is OpenBLAS's sgemv
 * per block of rows (the reference).  W_IN_OUT one-row products always
 * run socfw's column-block kernel.  The environment variable
 * SOCFW_GEMV=scalar|avx2|blas picks the path at first use; tests and
 * benchmarks switch with socfw_nn_gemv_kernel_set:
 *
 *     if (socfw_nn_gemv_kernel_set("scalar") == 0)
 *             socfw_nn_matmul_forward(y, x, w, b, 1, C, OC, SOCFW_NN_W_OUT_IN);
 *
 * The name of the path in use: "avx2", "scalar" or "blas". */
const char *socfw_nn_gemv_kernel_name(void);

/* Use path `name` from now on (all threads).  Returns 0, or
 * SOCFW_EUNSUPPORTED when the CPU (or the build) lacks it. */
int socfw_nn_gemv_kernel_set(const char *name);

/* The same for a few rows (batched decoding: one new token of each of N
 * sequences): for 2 <= N <= 8 every weight is read once for all N rows
 * instead of sgemm packing W (which costs more than it saves below ~8
 * rows); with W_IN_OUT each row's result is bit for bit what
 * socfw_nn_matmul_forward gives for that row alone.  Other N: exactly
 * socfw_nn_matmul_forward. */
void socfw_nn_matmul_forward_few(float *out, const float *inp,
                                 const float *w, const float *bias, int N,
                                 int C, int OC, socfw_nn_wlayout layout);

/* dinp (N,C) += dout (N,OC) @ W^T        [dinp may be NULL]
 * dw   (same layout as w) += dout^T inp  [dw may be NULL: frozen weight]
 * dbias (OC) += sum over rows of dout   [dbias may be NULL] */
void socfw_nn_matmul_backward(float *dinp, float *dw, float *dbias,
                              const float *dout, const float *inp,
                              const float *w, int N, int C, int OC,
                              socfw_nn_wlayout layout);

/* The common case: W (OC,C) (nn.Linear).  Same as matmul with OUT_IN. */
void socfw_nn_linear_forward(float *out, const float *inp, const float *w,
                             const float *bias, int N, int C, int OC);
void socfw_nn_linear_backward(float *dinp, float *dw, float *dbias,
                              const float *dout, const float *inp,
                              const float *w, int N, int C, int OC);

/* ---- normalisation ------------------------------------------------------ */

/* out (N,C) = (inp - mean) * rstd * weight + bias per row.
 * mean, rstd (N) are saved for backward (both may be NULL at inference).
 * weight and bias (C) may be NULL (1 and 0).  In place ok (out == inp) only
 * when no backward is needed. */
void socfw_nn_layernorm_forward(float *out, float *mean, float *rstd,
                                const float *inp, const float *weight,
                                const float *bias, int N, int C, float eps);

/* dinp (N,C) +=, dweight (C) +=, dbias (C) += ; each may be NULL.
 * weight may be NULL (as in forward). */
void socfw_nn_layernorm_backward(float *dinp, float *dweight, float *dbias,
                                 const float *dout, const float *inp,
                                 const float *weight, const float *mean,
                                 const float *rstd, int N, int C);

/* RMSNorm (Llama): out = inp * rstd * weight, rstd = 1/sqrt(mean(x^2)+eps).
 * rstd (N) saved (may be NULL at inference); weight (C) may be NULL. */
void socfw_nn_rmsnorm_forward(float *out, float *rstd, const float *inp,
                              const float *weight, int N, int C, float eps);
void socfw_nn_rmsnorm_backward(float *dinp, float *dweight, const float *dout,
                               const float *inp, const float *weight,
                               const float *rstd, int N, int C);

/* ---- attention ---------------------------------------------------------- */

/* Describes one scaled-dot-product attention call.
 *   q   (B,T,H,D)    rows of ld_q floats   (ld_q  = 0 means H*D)
 *   k,v (B,Tk,Hkv,D) rows of ld_kv floats  (ld_kv = 0 means Hkv*D)
 *   out (B,T,H,D)    rows of ld_out floats (ld_out = 0 means H*D)
 *   att (B,H,T,Tk)   softmax probabilities, saved for backward
 * Query head h uses kv head h / (H/Hkv) (grouped-query; H % Hkv == 0).
 * Causal: query t sees keys j <= t + (Tk - T) (queries are the last T
 * positions, so Tk > T works for prefixes and cached keys).
 * key_mask (B,Tk): nonzero = attend, 0 = padding; NULL = all keys.
 * A query that sees no key at all gets out = 0 and att = 0. */
typedef struct socfw_nn_attn_desc {
        int B, T, Tk, H, Hkv, D;
        int causal;               /* 1 causal (decoder), 0 bidirectional */
        float scale;              /* 0: 1/sqrt(D)                        */
        const int32_t *key_mask;  /* (B,Tk) or NULL                      */
        int ld_q, ld_kv, ld_out;  /* row strides in floats; 0: dense     */
} socfw_nn_attn_desc;

/* Returns 0, or SOCFW_EINVAL for inconsistent dims (H % Hkv, sizes <= 0,
 * strides too small, causal with Tk < T), SOCFW_ENOMEM.  att may be NULL
 * (inference: probabilities go to a per-thread (T,Tk) scratch; this
 * allocates).  Implementation: per (b,h) two cblas_sgemm calls run inside
 * the socfw thread pool (OpenBLAS single-threaded, see socfw/threads.h);
 * small problems run inline in the caller. */
int socfw_nn_attention_forward(float *out, float *att, const float *q,
                               const float *k, const float *v,
                               const socfw_nn_attn_desc *d);

/* dq (strides ld_q) +=, dk, dv (strides ld_kv) += ; any may be NULL.
 * att is what forward saved.  dq/dk/dv may point into one fused buffer
 * (e.g. dqkv, dqkv + C, dqkv + 2C) as forward's q/k/v may.
 * Returns 0 or SOCFW_EINVAL/ENOMEM as forward.  Allocates a per-thread
 * (T,Tk) block; same OpenBLAS note as forward. */
int socfw_nn_attention_backward(float *dq, float *dk, float *dv,
                                const float *dout, const float *q,
                                const float *k, const float *v,
                                const float *att,
                                const socfw_nn_attn_desc *d);

/* Incremental decoding with a KV cache: one new query per sequence.
 *   out (B,H,D) (written), q (B,H,D)
 *   kcache, vcache (B,Lmax,Hkv,D): positions 0..L-1 are valid (the new
 *   token's k,v must already be stored at L-1)
 *   key_mask (B,L) or NULL; scale 0 means 1/sqrt(D).
 * Equals the last row of a causal attention_forward over L positions.
 * Returns 0 or SOCFW_EINVAL (bad dims, L > Lmax, L < 1).  Allocates a
 * per-thread row of L floats. */
int socfw_nn_attention_decode(float *out, const float *q, const float *kcache,
                              const float *vcache, const int32_t *key_mask,
                              int B, int L, int Lmax, int H, int Hkv, int D,
                              float scale);

/* ---- rotary position embedding ----------------------------------------- */

typedef enum {
        /* rotate (x[2i], x[2i+1]): GPT-J, llama.cpp GGUF Llama, llama2.c */
        SOCFW_NN_ROPE_INTERLEAVED = 0,
        /* rotate (x[i], x[i+R/2]): HF Llama/Mistral/Qwen rotate_half,
         * GPT-NeoX, GGUF "neox" models (Qwen2) */
        SOCFW_NN_ROPE_HALF = 1,
} socfw_nn_rope_mode;

/* x (B,T,H,D) with rows of ld floats (0: H*D); only the first rot_dim
 * dims of each head rotate (0: all D; must be even).  Frequency i
 * (0 <= i < rot_dim/2) is inv_freq[i] if given, else theta^(-2i/rot_dim).
 * Position of token (b,t) is pos[b*T+t] if pos != NULL, else pos0 + t. */
typedef struct socfw_nn_rope_desc {
        int B, T, H, D;
        int ld;                   /* row stride in floats; 0: H*D          */
        int rot_dim;              /* 0: D                                  */
        float theta;              /* base, e.g. 10000 or 500000            */
        socfw_nn_rope_mode mode;
        int pos0;                 /* first position (KV cache offset)      */
        const int32_t *pos;       /* (B,T) explicit positions or NULL      */
        const float *inv_freq;    /* (rot_dim/2) e.g. Llama-3 scaled, NULL */
} socfw_nn_rope_desc;

/* Rotate x in place.  Returns 0 or SOCFW_EINVAL (odd rot_dim, rot_dim > D,
 * bad sizes, theta <= 0 without inv_freq).  Allocates a (T, rot_dim/2)
 * cos/sin table (or one row per token with explicit pos). */
int socfw_nn_rope_forward(float *x, const socfw_nn_rope_desc *d);

/* In place too: dx holds d(loss)/d(rotated x) on entry and
 * d(loss)/d(x before rotation) on return (the inverse rotation). */
int socfw_nn_rope_backward(float *dx, const socfw_nn_rope_desc *d);

/* ---- activations (elementwise over n floats) --------------------------- */

/* GELU, tanh approximation (GPT-2 "gelu_new"). In place ok. */
void socfw_nn_gelu_forward(float *out, const float *inp, size_t n);
void socfw_nn_gelu_backward(float *dinp, const float *inp, const float *dout,
                            size_t n);

/* GELU, exact x * Phi(x) with erf (BERT "gelu"). In place ok. */
void socfw_nn_gelu_erf_forward(float *out, const float *inp, size_t n);
void socfw_nn_gelu_erf_backward(float *dinp, const float *inp,
                                const float *dout, size_t n);

/* tanh (BERT pooler). In place ok.  Backward uses the OUTPUT:
 * dinp += (1 - out^2) * dout. */
void socfw_nn_tanh_forward(float *out, const float *inp, size_t n);
void socfw_nn_tanh_backward(float *dinp, const float *out, const float *dout,
                            size_t n);

/* SiLU x * sigmoid(x). In place ok. */
void socfw_nn_silu_forward(float *out, const float *inp, size_t n);
void socfw_nn_silu_backward(float *dinp, const float *inp, const float *dout,
                            size_t n);

/* SwiGLU out = silu(a) * b (Llama MLP: a = gate_proj x, b = up_proj x).
 * da, db += ; either may be NULL. */
void socfw_nn_swiglu_forward(float *out, const float *a, const float *b,
                             size_t n);
void socfw_nn_swiglu_backward(float *da, float *db, const float *dout,
                              const float *a, const float *b, size_t n);

/* Residual out = a + b (out may alias a or b); backward da += dout,
 * db += dout (either may be NULL). */
void socfw_nn_residual_forward(float *out, const float *a, const float *b,
                               size_t n);
void socfw_nn_residual_backward(float *da, float *db, const float *dout,
                                size_t n);

/* ---- softmax ------------------------------------------------------------ */

/* Row softmax: out (N,C) = softmax(inp (N,C)) along C, max-subtracted.
 * In place ok. */
void socfw_nn_softmax_forward(float *out, const float *inp, int N, int C);

/* dinp (N,C) += out * (dout - sum(dout * out)) per row; out is forward's. */
void socfw_nn_softmax_backward(float *dinp, const float *dout,
                               const float *out, int N, int C);

/* ---- dropout ------------------------------------------------------------ */

/* Training: mask[i] = 1 with probability 1-p (drawn in order from rng, so
 * results depend only on the seed; or, when rng is keyed by example with
 * socfw_rng_key_rows, from the example's key, so they do not depend on
 * how the batch is split between processes), out = inp * mask / (1-p).
 * p == 0 (or eval: pass p = 0): out = inp, mask (if not NULL) all 1, rng
 * untouched.  p must be in [0,1); p >= 1 zeroes everything.  mask (n) may
 * be NULL only when p == 0.  In place ok.  Returns 0 or SOCFW_EINVAL
 * (p < 0, p > 0 with mask or rng NULL). */
int socfw_nn_dropout_forward(float *out, uint8_t *mask, const float *inp,
                             size_t n, float p, socfw_rng *rng);

/* dinp += dout * mask / (1-p); mask may be NULL when p == 0. */
void socfw_nn_dropout_backward(float *dinp, const float *dout,
                               const uint8_t *mask, size_t n, float p);

/* ---- cross-entropy ------------------------------------------------------ */

typedef struct socfw_nn_xent_opts {
        int ignore_index;           /* rows with this target count for nothing */
        float label_smoothing;      /* epsilon in [0,1]                        */
        const float *class_weights; /* (V) or NULL: PyTorch `weight=`          */
        float grad_scale;           /* dlogits are multiplied by this          */
} socfw_nn_xent_opts;

#define SOCFW_NN_XENT_OPTS_INIT { -100, 0.0f, NULL, 1.0f }

/* Fused softmax cross-entropy over logits (N,V), targets (N), matching
 * torch.nn.functional.cross_entropy(reduction="mean") incl. ignore_index,
 * label_smoothing and weight:
 *   loss = sum_i [ (1-eps) w[t_i] nll_i + eps/V sum_c w[c] (-logp_ic) ]
 *          / sum_i w[t_i]        over rows i with t_i != ignore_index.
 * *loss receives the mean (0 if no row counts); losses (N) (may be NULL)
 * the per-row numerators (1-eps) w[t_i] nll_i + eps/V sum_c w[c] (-logp_ic),
 * i.e. the plain nll_i without weights or smoothing (ignored rows 0, so
 * perplexity = exp(sum losses / count)); dlogits (N,V)
 * (may be NULL) is WRITTEN (not accumulated) with d(loss)/d(logits) *
 * grad_scale (ignored rows 0).  dlogits may alias logits (in place).
 * opts NULL = SOCFW_NN_XENT_OPTS_INIT.  Max-subtracted log-sum-exp
 * (exponentials summed in double).  Allocates N doubles.
 * Returns 0, or SOCFW_EINVAL if a target is outside [0,V) and is not
 * ignore_index (nothing is written then) or eps is outside [0,1],
 * SOCFW_ENOMEM. */
int socfw_nn_cross_entropy_forward_backward(float *loss, float *losses,
                                            float *dlogits,
                                            const float *logits,
                                            const int32_t *targets, int N,
                                            int V,
                                            const socfw_nn_xent_opts *opts,
                                            socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_NN_H */
