/* arch_internal.h - what model.c (building, loading) and forward.c /
 * decode.c (numerics) share about a socfw_model.  Not installed. */
#ifndef SOCFW_ARCH_INTERNAL_H
#define SOCFW_ARCH_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "socfw/nn.h"
#include "socfw/peft.h"
#include "socfw/qtensor.h"
#include "peft/peft_internal.h"

/* Parameter indices into the store of one block; -1 when absent. */
typedef struct arch_layer {
        int ln1_w, ln1_b;       /* ln_1 / input_layernorm / attention LN  */
        int qkv_w, qkv_b;       /* GPT-2 fused c_attn (C,3C)              */
        int q_w, q_b, k_w, k_b, v_w, v_b;
        int o_w, o_b;           /* c_proj / attention.output.dense / o    */
        int ln2_w, ln2_b;       /* ln_2 / post_attention / output LN      */
        int fc_w, fc_b;         /* c_fc / intermediate.dense / gate_proj  */
        int up_w;               /* Llama up_proj                          */
        int down_w, down_b;     /* mlp.c_proj / output.dense / down_proj  */
} arch_layer;

/* Forward activations of one block for N = B*T rows (see forward.c). */
typedef struct arch_layer_ws {
        float *a_in;            /* (N,C) normed attention input (pre-LN)  */
        float *mean1, *rstd1;   /* (N)                                    */
        float *q, *k, *v;       /* (N,qd) (N,kd) (N,kd); GPT-2: q=(N,3C)  */
        float *att;             /* (B,H,T,T)                              */
        float *atty;            /* (N,qd)                                 */
        float *s1;              /* (N,C) BERT: input of attention LN      */
        float *mid;             /* (N,C) stream between attention and MLP */
        float *m_in;            /* (N,C) normed MLP input (pre-LN)        */
        float *mean2, *rstd2;   /* (N)                                    */
        float *fc, *up, *act;   /* (N,F)                                  */
        float *s2;              /* (N,C) BERT: input of output LN         */
        float *out;             /* (N,C) block output                     */
        uint8_t *drop1, *drop2; /* (N,C) dropout masks (training only)    */
} arch_layer_ws;

typedef struct arch_ws {
        int cap_n;              /* rows the buffers hold                  */
        int cap_bht;            /* B*T*T the att buffers hold             */
        int cap_drop;           /* rows the dropout masks hold            */
        float *fbuf;            /* one allocation for all float buffers   */
        uint8_t *dbuf;          /* dropout masks                          */
        int32_t *ibuf;          /* ids, mask, types, positions (4N)       */
        float *abuf;            /* attention probabilities, all layers    */
        arch_layer_ws *layers;
        /* top level */
        float *emb_sum;         /* (N,C) BERT: embedding LN input         */
        float *emb_mean, *emb_rstd;
        float *res0;            /* (N,C) embedding output                 */
        uint8_t *drop0;
        float *fin_mean, *fin_rstd;
        int32_t *ids, *mask, *types, *pos;
        /* backward scratch */
        float *d0, *d1, *d2, *dtmp; /* (N,C)                              */
        float *dq, *dk, *dv;    /* like q, k, v                           */
        float *datty;           /* (N,qd)                                 */
        float *dfc, *dup, *dact;/* (N,F)                                  */
        float *tmp;             /* (N,C) forward scratch                  */
        /* state of the last forward */
        int B, T;               /* T: rows per sequence, virtual ones too */
        int prompt;             /* a prompt adapter's virtual rows (P)    */
        int have_mask;
        float drop_p;
        int valid;
        /* pooler */
        float *pool_in, *pool_out; /* (B,C) */
        int pool_cap, pool_B, pool_T;
} arch_ws;

struct socfw_model {
        socfw_model_config cfg;
        socfw_params *ps;
        char prefix[32];
        /* top-level parameter indices (-1 when absent) */
        int tok_emb, pos_emb, type_emb, emb_ln_w, emb_ln_b;
        int fin_w, fin_b, lm_head, pool_w, pool_b;
        arch_layer *layers;
        socfw_nn_wlayout wl;    /* layout of block matrices               */
        int bw_floor;           /* lowest block backward runs through     */
        int bw_embeddings;      /* 1: run into the embeddings             */
        arch_ws ws;
        float *inv_freq;        /* scaled RoPE frequencies, or NULL       */
        socfw_context *ctx0;    /* the context of the socfw_model_* calls
                                   (made on first use), or NULL          */
        /* weights kept in their file's format (keep_quantized): qw[idx]
         * has data for such a parameter, whose float slot in ps stays
         * unused (never touched, so never resident) */
        socfw_qtensor *qw;      /* one per parameter, or NULL            */
        int n_quant;
        socfw_modelfile *mf;    /* the mapped file qw borrows, or NULL   */
};

/* One caller's state over a model (socfw_context in socfw/model.h): the
 * activations a forward keeps for its backward (the backbone's in ws, the
 * attached adapter's in saved), the attached adapter, and the adapter
 * hooks' scratch.  The weights and the adapter's tensors are read only
 * in a forward. */
struct socfw_context {
        socfw_model *m;
        arch_ws ws;
        socfw_adapter *adapter; /* attached (borrowed), or NULL           */
        peft_saved saved;       /* what its forward kept for backward     */
        peft_scratch_set scr;
        peft_run *runs;         /* socfw_context_forward_runs's, by rows  */
        int runs_cap;
};

/* The model's own context, made on first use; NULL when out of memory. */
__attribute__((visibility("hidden"))) socfw_context *arch_ctx0(socfw_model *m);

/* One sequence of a batched decoding step: its KV cache (every layer's
 * rows, (n_layers, cap, kd) each) and the position of its new token. */
typedef struct arch_seq {
        float *k, *v;
        int cap;
        int pos;
} arch_seq;

/* One pass of new rows through a block (block.c): a training / eval batch
 * of B sequences of T rows, T new tokens of one sequence appended to a
 * KV cache (kc != NULL, B = 1), or one new token of each of B sequences
 * with caches of their own (seq != NULL, T = 1). */
typedef struct arch_pass {
        int B, T;
        float drop;             /* residual-branch dropout (0: none)      */
        int training;           /* adapters' own dropout on               */
        socfw_rng *rng;         /* dropout masks                          */
        const int32_t *mask;    /* key mask (B,T), or NULL                */
        peft_saved *keep;       /* keep the adapter's activations for
                                   backward here, or NULL                 */
        socfw_adapter *adapter; /* of every row (attached to the caller),
                                   or NULL: none, or several (runs)       */
        const peft_run *runs;   /* adapters by rows at the sites, or NULL:
                                   `adapter` over all rows                */
        int n_runs;
        peft_scratch_set *scr;  /* the caller's adapter scratch           */
        float *kc, *vc;         /* this block's cache rows (kv_cap, kd)   */
        int pos0;               /* position of the first new row          */
        int kv_cap;
        const arch_seq *seq;    /* (B) batched decoding, or NULL          */
        const int32_t *seq_pos; /* (B) their positions                    */
} arch_pass;

/* Sizes used everywhere. */
static inline int arch_qd(const socfw_model_config *c)
{
        return c->n_heads * c->head_dim;
}

static inline int arch_kd(const socfw_model_config *c)
{
        return c->n_kv_heads * c->head_dim;
}

/* Parameter data / gradient (NULL when idx < 0, or for the gradient when
 * the tensor is frozen). */
static inline float *arch_w(const socfw_model *m, int idx)
{
        return idx < 0 ? NULL : socfw_params_data(m->ps, idx);
}

/* The weight at idx kept in its file's format, or NULL (float32). */
static inline const socfw_qtensor *arch_qw(const socfw_model *m, int idx)
{
        return idx >= 0 && m->qw && m->qw[idx].data ? &m->qw[idx] : NULL;
}

static inline float *arch_g(const socfw_model *m, int idx)
{
        if (idx < 0 || !socfw_params_trainable(m->ps, idx))
                return NULL;
        return socfw_params_grad(m->ps, idx);
}

static inline void
arch_zero(float *p, size_t n)
{
        memset(p, 0, n * sizeof *p);
}

/* dout through the dropout with `mask` of the saved forward: the gradient
 * before dropout (in ws->dtmp), or dout itself when no dropout ran. */
static inline const float *
arch_drop_bw(arch_ws *ws, const float *dout, const uint8_t *mask, size_t n)
{
        if (ws->drop_p <= 0.0f)
                return dout;
        arch_zero(ws->dtmp, n);
        socfw_nn_dropout_backward(ws->dtmp, dout, mask, n, ws->drop_p);
        return ws->dtmp;
}

#define ARCH_HIDDEN __attribute__((visibility("hidden")))

/* Release the workspace (forward.c).  Not exported from libsocfw. */
ARCH_HIDDEN void arch_ws_free(arch_ws *ws);

/* Block `l` forward (block.c): x (N,C) in, w->out (N,C) out; w holds the
 * block's activations (w->att: attention probabilities), tmp (N,C) is
 * scratch.  Returns 0 or a negative SOCFW_E* code. */
ARCH_HIDDEN int arch_block_forward(socfw_model *m, int l, const float *x,
                                   arch_layer_ws *w, float *tmp,
                                   const arch_pass *p);

/* Block `l` backward of the saved forward in cx->ws: *pdx holds dL/d(block
 * output) and on return points to dL/d(block input) (when need_dx); the
 * buffers *pdx and *pspare may be swapped. */
ARCH_HIDDEN int arch_block_backward(socfw_context *cx, int l, const float *x,
                                    float **pdx, float **pspare, int need_dx);

/* y (N,out) = x (N,in) W^T + b for the (out,in) weight wi and bias bi
 * (-1: none), whichever format W is kept in (block.c).  Returns 0 or
 * SOCFW_ENOMEM. */
ARCH_HIDDEN int arch_linear(const socfw_model *m, int wi, int bi, float *y,
                            const float *x, int N, int in, int out);
/* The same for a few rows (batched decoding, socfw_nn_matmul_forward_few):
 * each weight read once for all of them. */
ARCH_HIDDEN int arch_linear_few(const socfw_model *m, int wi, int bi,
                                float *y, const float *x, int N, int in,
                                int out);

/* x (N,C) = token embedding rows of ids (block.c); ids outside the
 * vocabulary give zero rows and SOCFW_EINVAL, as
 * socfw_nn_embedding_forward. */
ARCH_HIDDEN int arch_embed(const socfw_model *m, float *x, const int32_t *ids,
                           int N);

/* SOCFW_ESTATE with a hint when m keeps quantised weights (what: the
 * refused operation), else 0. */
ARCH_HIDDEN int arch_refuse_quantized(const socfw_model *m, const char *what,
                                      socfw_error *err);
/* Backward through matrices kept in their file's format is for frozen
 * ones (QLoRA: the input's gradient only): SOCFW_ESTATE naming the first
 * such matrix that is trainable, else 0. */
ARCH_HIDDEN int arch_refuse_trainable_quantized(const socfw_model *m,
                                                socfw_error *err);

/* The base weight / bias indices of site s in block l, and the first
 * output column of the site in that weight (GPT-2's fused q|k|v). */
ARCH_HIDDEN int arch_site_weight(const socfw_model *m, int l, socfw_site s,
                                 int *w_idx, int *b_idx, int *col0);

#endif
