/* block.c - THE transformer block of every socfw backbone: forward (a
 * training batch, or new tokens appended to a KV cache), backward, and the
 * named linear sites where an attached adapter (socfw/peft.h) hooks in.
 *
 * Three block shapes share this code:
 *   GPT-2 (pre-LN):  x + drop(o(attn(ln1 x))),  then + drop(down(act(up)))
 *                    q|k|v come from one fused projection (c_attn), three
 *                    sites over its column slices;
 *   Llama (pre-RMS): RoPE on q and k, GQA, SwiGLU MLP (mlp.gate, mlp.up);
 *   BERT/RoBERTa (post-LN): ln1(x + drop(o(attn x))), then
 *                    ln2(mid + drop(down(act(up mid)))).
 *
 * Sites and their base weights:   GPT-2        BERT           Llama
 *   attn.q / attn.k / attn.v      c_attn slice query/key/value q/k/v_proj
 *   attn.o                        attn.c_proj  output.dense   o_proj
 *   mlp.up                        c_fc         intermediate   up_proj
 *   mlp.gate                      -            -              gate_proj
 *   mlp.down                      mlp.c_proj   output.dense   down_proj
 *
 * A pass's adapters come by rows (arch_pass.runs): one adapter over every
 * row (the attached one), or runs of rows with adapters of their own
 * (socfw_context_forward_runs), each site's frozen projection computed
 * once for all of them and each adapter's hooks on its own rows.
 */
#include "arch_internal.h"

#include <stdio.h>
#include <string.h>

#include "peft/peft_internal.h"

#define W(i) arch_w(m, (i))   /* parameter data         */
#define G(i) arch_g(m, (i))   /* its gradient or NULL   */

/* ---- sites -------------------------------------------------------------- */

bool
socfw_model_has_site(const socfw_model *m, socfw_site s)
{
        if ((int)s < 0 || (int)s >= SOCFW_SITE_COUNT)
                return false;
        if (s == SOCFW_SITE_MLP_GATE)
                return m->cfg.arch == SOCFW_ARCH_LLAMA;
        return true;
}

void
socfw_model_site_dims(const socfw_model *m, socfw_site s, int *in, int *out)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden, F = c->ffn, qd = arch_qd(c), kd = arch_kd(c);
        int i = 0, o = 0;
        if (socfw_model_has_site(m, s)) {
                switch (s) {
                case SOCFW_SITE_ATTN_Q: i = C; o = qd; break;
                case SOCFW_SITE_ATTN_K:
                case SOCFW_SITE_ATTN_V: i = C; o = kd; break;
                case SOCFW_SITE_ATTN_O: i = qd; o = C; break;
                case SOCFW_SITE_MLP_UP:
                case SOCFW_SITE_MLP_GATE: i = C; o = F; break;
                case SOCFW_SITE_MLP_DOWN: i = F; o = C; break;
                }
        }
        if (in)
                *in = i;
        if (out)
                *out = o;
}

int
socfw_model_site_module(const socfw_model *m, int layer, socfw_site s,
                        char *buf, size_t cap)
{
        static const char *const gpt2[SOCFW_SITE_COUNT] = {
                "attn.c_attn", "attn.c_attn", "attn.c_attn", "attn.c_proj",
                "mlp.c_fc", NULL, "mlp.c_proj"};
        static const char *const bert[SOCFW_SITE_COUNT] = {
                "attention.self.query", "attention.self.key",
                "attention.self.value", "attention.output.dense",
                "intermediate.dense", NULL, "output.dense"};
        static const char *const llama[SOCFW_SITE_COUNT] = {
                "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                "self_attn.o_proj", "mlp.up_proj", "mlp.gate_proj",
                "mlp.down_proj"};
        if (!socfw_model_has_site(m, s) || layer < 0 ||
            layer >= m->cfg.n_layers || !buf || cap == 0)
                return SOCFW_EINVAL;
        int n;
        switch (m->cfg.arch) {
        case SOCFW_ARCH_GPT2:
                n = snprintf(buf, cap, "h.%d.%s", layer, gpt2[s]);
                break;
        case SOCFW_ARCH_LLAMA:
                n = snprintf(buf, cap, "layers.%d.%s", layer, llama[s]);
                break;
        default:
                n = snprintf(buf, cap, "encoder.layer.%d.%s", layer, bert[s]);
                break;
        }
        return n < 0 || (size_t)n >= cap ? SOCFW_EINVAL : 0;
}

int
socfw_model_embed_module(const socfw_model *m, char *buf, size_t cap)
{
        const char *name = m->cfg.arch == SOCFW_ARCH_GPT2    ? "wte"
                           : m->cfg.arch == SOCFW_ARCH_LLAMA ? "embed_tokens"
                                                  : "embeddings.word_embeddings";
        if (!buf || cap == 0)
                return SOCFW_EINVAL;
        int n = snprintf(buf, cap, "%s", name);
        return n < 0 || (size_t)n >= cap ? SOCFW_EINVAL : 0;
}

int
arch_site_weight(const socfw_model *m, int l, socfw_site s, int *w_idx,
                 int *b_idx, int *col0)
{
        const arch_layer *P = &m->layers[l];
        int C = m->cfg.hidden, gpt2 = m->cfg.arch == SOCFW_ARCH_GPT2;
        int llama = m->cfg.arch == SOCFW_ARCH_LLAMA;
        *col0 = 0;
        switch (s) {
        case SOCFW_SITE_ATTN_Q:
        case SOCFW_SITE_ATTN_K:
        case SOCFW_SITE_ATTN_V:
                if (gpt2) {
                        *w_idx = P->qkv_w;
                        *b_idx = P->qkv_b;
                        *col0 = (int)s * C;
                } else if (s == SOCFW_SITE_ATTN_Q) {
                        *w_idx = P->q_w;
                        *b_idx = P->q_b;
                } else if (s == SOCFW_SITE_ATTN_K) {
                        *w_idx = P->k_w;
                        *b_idx = P->k_b;
                } else {
                        *w_idx = P->v_w;
                        *b_idx = P->v_b;
                }
                return 0;
        case SOCFW_SITE_ATTN_O:
                *w_idx = P->o_w;
                *b_idx = P->o_b;
                return 0;
        case SOCFW_SITE_MLP_UP:
                *w_idx = llama ? P->up_w : P->fc_w;
                *b_idx = llama ? -1 : P->fc_b;
                return 0;
        case SOCFW_SITE_MLP_GATE:
                if (!llama)
                        return SOCFW_EINVAL;
                *w_idx = P->fc_w;
                *b_idx = -1;
                return 0;
        case SOCFW_SITE_MLP_DOWN:
                *w_idx = P->down_w;
                *b_idx = P->down_b;
                return 0;
        }
        return SOCFW_EINVAL;
}

/* The adapters of pass p by rows at the sites: its runs, or one run of
 * p->adapter over all its rows (in *one). */
static const peft_run *
pass_runs(const arch_pass *p, peft_run *one, int *n)
{
        if (p->runs) {
                *n = p->n_runs;
                return p->runs;
        }
        *one = (peft_run){p->adapter, 0, p->B * p->T};
        *n = 1;
        return one;
}

/* The adapter hooks' view of pass p over N rows. */
static peft_pass
hook_pass(const arch_pass *p, int N)
{
        return (peft_pass){.N = N, .keep = p->keep, .training = p->training,
                           .rng = p->rng, .scr = p->scr};
}

/* The adapter hooks' view of the backward of cx's kept forward, N rows. */
static peft_pass
hook_backward(socfw_context *cx, int N)
{
        return (peft_pass){.N = N, .keep = &cx->saved, .scr = &cx->scr};
}

/* y (N,out) = x (N,in) W + b at site s, then the hooks of the adapters
 * of the pass's rows: the frozen projection once for every row, each
 * adapter on its own rows. */
static int
site_forward(socfw_model *m, int l, socfw_site s, float *y, const float *x,
             int in, int out, const arch_pass *p)
{
        int wi, bi, col0;
        arch_site_weight(m, l, s, &wi, &bi, &col0);
        peft_run one;
        int nr;
        const peft_run *r = pass_runs(p, &one, &nr);
        peft_pass pp = hook_pass(p, p->B * p->T);
        const float *xin = peft_runs_in_forward(r, nr, l, s, x, in, &pp);
        if (!xin)
                return SOCFW_ENOMEM;
        int rc = p->seq ? arch_linear_few(m, wi, bi, y, xin, pp.N, in, out)
                        : arch_linear(m, wi, bi, y, xin, pp.N, in, out);
        if (rc < 0)
                return rc;
        return peft_runs_out_forward(r, nr, l, s, x, y, out, in, out, &pp);
}

int
arch_linear(const socfw_model *m, int wi, int bi, float *y, const float *x,
            int N, int in, int out)
{
        const socfw_qtensor *q = arch_qw(m, wi);
        if (q)
                return socfw_nn_qlinear_forward(y, x, q, W(bi), N);
        socfw_nn_matmul_forward(y, x, W(wi), W(bi), N, in, out, m->wl);
        return 0;
}

int
arch_linear_few(const socfw_model *m, int wi, int bi, float *y,
                const float *x, int N, int in, int out)
{
        const socfw_qtensor *q = arch_qw(m, wi);
        if (q)
                return socfw_nn_qlinear_forward(y, x, q, W(bi), N);
        socfw_nn_matmul_forward_few(y, x, W(wi), W(bi), N, in, out, m->wl);
        return 0;
}

int
arch_embed(const socfw_model *m, float *x, const int32_t *ids, int N)
{
        const socfw_model_config *c = &m->cfg;
        const socfw_qtensor *q = arch_qw(m, m->tok_emb);
        if (!q)
                return socfw_nn_embedding_forward(x, ids, W(m->tok_emb), N,
                                                  c->vocab_size, c->hidden);
        int rc = 0;
        for (int i = 0; i < N; i++) {
                float *row = x + (size_t)i * c->hidden;
                if (ids[i] < 0 || ids[i] >= c->vocab_size) {
                        arch_zero(row, (size_t)c->hidden);
                        rc = SOCFW_EINVAL;
                        continue;
                }
                socfw_qtensor_dequant_rows(q, ids[i], 1, row);
        }
        return rc;
}

int
arch_refuse_quantized(const socfw_model *m, const char *what,
                      socfw_error *err)
{
        if (m->n_quant == 0)
                return 0;
        return socfw_error_set(err, SOCFW_ESTATE,
                               "model: %s needs float32 weights, but %d "
                               "matrices are kept in their file's format; "
                               "hint: load the model without keep_quantized "
                               "(socfw generate/logits: --dequantize)",
                               what, m->n_quant);
}

int
arch_refuse_trainable_quantized(const socfw_model *m, socfw_error *err)
{
        int n = socfw_params_count(m->ps);
        for (int i = 0; m->n_quant && i < n; i++)
                if (arch_qw(m, i) && socfw_params_trainable(m->ps, i))
                        return socfw_error_set(
                                err, SOCFW_ESTATE,
                                "model backward: '%s' is kept in its file's "
                                "format (%s) and cannot be trained; hint: "
                                "freeze the backbone and train an adapter "
                                "(QLoRA), or load it as float32 "
                                "(backbone.keep_quantized: false)",
                                socfw_params_name(m->ps, i),
                                socfw_dtype_name(arch_qw(m, i)->dtype));
        return 0;
}

/* GPT-2: qkv (N,3C) = x c_attn, then the q, k, v sites' hooks on their
 * column slices. */
static int
fused_qkv(socfw_model *m, int l, float *qkv, const float *x,
          const arch_pass *p)
{
        const arch_layer *P = &m->layers[l];
        int C = m->cfg.hidden, N = p->B * p->T;
        if (p->seq)     /* batched decoding: a few rows */
                socfw_nn_matmul_forward_few(qkv, x, W(P->qkv_w),
                                            W(P->qkv_b), N, C, 3 * C, m->wl);
        else
                socfw_nn_matmul_forward(qkv, x, W(P->qkv_w), W(P->qkv_b), N,
                                        C, 3 * C, m->wl);
        peft_run one;
        int nr;
        const peft_run *r = pass_runs(p, &one, &nr);
        peft_pass pp = hook_pass(p, N);
        for (int s = SOCFW_SITE_ATTN_Q; s <= SOCFW_SITE_ATTN_V; s++) {
                int rc = peft_runs_out_forward(r, nr, l, (socfw_site)s, x,
                                               qkv + (size_t)s * C, 3 * C, C,
                                               C, &pp);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* Backward of site_forward: dy (N,out, row stride ldy) is dL/dy and is
 * modified in place (the adapter's output hooks); dx (N,in) += dL/dx
 * (NULL: not needed); base and adapter gradients +=. */
static int
site_backward(socfw_context *cx, int l, socfw_site s, float *dy, float *dx,
              const float *x, int in, int out, int N)
{
        socfw_model *m = cx->m;
        int wi, bi, col0;
        arch_site_weight(m, l, s, &wi, &bi, &col0);
        socfw_adapter *a = cx->adapter;
        const float *xin = x;
        if (a) {
                peft_pass pp = hook_backward(cx, N);
                int rc = peft_out_backward(a, l, s, x, dy, out, dx, in, out,
                                           &pp);
                if (rc < 0)
                        return rc;
                if (!(xin = peft_in_saved(a, l, s, x, &pp)))
                        return SOCFW_ESTATE;
        }
        const socfw_qtensor *q = arch_qw(m, wi);
        if (q) {
                /* a matrix kept in its file's format is frozen (QLoRA):
                 * only the input's gradient flows through it */
                int rc = socfw_nn_qlinear_backward_input(dx, dy, q, N);
                float *db = G(bi);
                for (int n = 0; rc == 0 && db && n < N; n++)
                        for (int o = 0; o < out; o++)
                                db[o] += dy[(size_t)n * out + o];
                if (rc < 0)
                        return rc;
        } else {
                socfw_nn_matmul_backward(dx, G(wi), G(bi), dy, xin, W(wi), N,
                                         in, out, m->wl);
        }
        if (a && dx)
                peft_in_backward(a, l, s, x, dx, in, N);
        return 0;
}

static int
fused_qkv_backward(socfw_context *cx, int l, float *dqkv, float *dx,
                   const float *x, int N)
{
        socfw_model *m = cx->m;
        const arch_layer *P = &m->layers[l];
        int C = m->cfg.hidden;
        if (cx->adapter) {
                peft_pass pp = hook_backward(cx, N);
                for (int s = SOCFW_SITE_ATTN_Q; s <= SOCFW_SITE_ATTN_V; s++) {
                        int rc = peft_out_backward(cx->adapter, l,
                                                   (socfw_site)s, x,
                                                   dqkv + (size_t)s * C,
                                                   3 * C, dx, C, C, &pp);
                        if (rc < 0)
                                return rc;
                }
        }
        socfw_nn_matmul_backward(dx, G(P->qkv_w), G(P->qkv_b), dqkv, x,
                                 W(P->qkv_w), N, C, 3 * C, m->wl);
        return 0;
}

/* ---- small helpers ------------------------------------------------------ */

static void
act_forward(socfw_act a, float *out, const float *in, size_t n)
{
        if (a == SOCFW_ACT_GELU_ERF)
                socfw_nn_gelu_erf_forward(out, in, n);
        else
                socfw_nn_gelu_forward(out, in, n);
}

static void
act_backward(socfw_act a, float *din, const float *in, const float *dout,
             size_t n)
{
        if (a == SOCFW_ACT_GELU_ERF)
                socfw_nn_gelu_erf_backward(din, in, dout, n);
        else
                socfw_nn_gelu_backward(din, in, dout, n);
}

static socfw_nn_rope_desc
rope_desc(const socfw_model *m, int B, int T, int H, int pos0)
{
        const socfw_model_config *c = &m->cfg;
        socfw_nn_rope_desc d;
        memset(&d, 0, sizeof d);
        d.B = B;
        d.T = T;
        d.H = H;
        d.D = c->head_dim;
        d.theta = c->rope_theta;
        d.inv_freq = m->inv_freq;
        d.mode = c->rope == SOCFW_ROPE_INTERLEAVED ? SOCFW_NN_ROPE_INTERLEAVED
                                                   : SOCFW_NN_ROPE_HALF;
        d.pos0 = pos0;
        return d;
}

static socfw_nn_attn_desc
attn_desc(const socfw_model *m, const arch_pass *p)
{
        const socfw_model_config *c = &m->cfg;
        socfw_nn_attn_desc d;
        memset(&d, 0, sizeof d);
        d.B = p->B;
        d.T = p->T;
        d.Tk = p->kc ? p->pos0 + p->T : p->T;
        d.H = c->n_heads;
        d.Hkv = c->n_kv_heads;
        d.D = c->head_dim;
        d.causal = c->arch == SOCFW_ARCH_GPT2 || c->arch == SOCFW_ARCH_LLAMA;
        d.key_mask = p->mask;
        if (c->arch == SOCFW_ARCH_GPT2)
                d.ld_q = d.ld_kv = 3 * c->hidden;
        if (p->kc)
                d.ld_kv = arch_kd(c);
        return d;
}

/* Prefix tuning over a batch: the block's keys and values with the
 * adapter's P rows in front of every sequence, (B, P+T, kd) each, kept in
 * the caller's peft_saved for backward; *pmask the key mask with the
 * prefix's rows set (NULL when the batch has none). */
static int
prefix_kv(socfw_model *m, int l, const arch_layer_ws *w, const arch_pass *p,
          float **kf, float **vf, int32_t **pmask)
{
        socfw_adapter *a = p->adapter;
        int B = p->B, T = p->T;
        const int32_t *mask = p->mask;
        int P = socfw_adapter_prefix_length(a), Tk = P + T;
        int kd = arch_kd(&m->cfg);
        int ld = m->cfg.arch == SOCFW_ARCH_GPT2 ? 3 * m->cfg.hidden : kd;
        size_t n = (size_t)B * Tk * kd;
        peft_pass pp = hook_pass(p, B * T);
        *kf = peft_prefix_saved(&pp, l, 0, n);
        *vf = peft_prefix_saved(&pp, l, 1, n);
        *pmask = mask ? peft_prefix_mask(&pp, (size_t)B * Tk) : NULL;
        if (!*kf || !*vf || (mask && !*pmask))
                return SOCFW_ENOMEM;
        const float *pk = peft_prefix(a, l, 0), *pv = peft_prefix(a, l, 1);
        size_t row = (size_t)kd * sizeof(float);
        for (int b = 0; b < B; b++) {
                float *kb = *kf + (size_t)b * Tk * kd;
                float *vb = *vf + (size_t)b * Tk * kd;
                memcpy(kb, pk, (size_t)P * row);
                memcpy(vb, pv, (size_t)P * row);
                for (int t = 0; t < T; t++) {
                        size_t src = ((size_t)b * T + t) * ld;
                        memcpy(kb + (size_t)(P + t) * kd, w->k + src, row);
                        memcpy(vb + (size_t)(P + t) * kd, w->v + src, row);
                }
                if (mask)
                        for (int j = 0; j < Tk; j++)
                                (*pmask)[(size_t)b * Tk + j] =
                                        j < P ? 1 : mask[(size_t)b * T + j - P];
        }
        return 0;
}

/* Attention of the new rows: over themselves (training), with a prefix
 * adapter's rows in front, or over the cache (decoding, where k and v
 * already hold the new rows and the prefix). */
static int
attend(socfw_model *m, int l, arch_layer_ws *w, const arch_pass *p)
{
        socfw_nn_attn_desc ad = attn_desc(m, p);
        if (p->seq) {   /* one query per sequence, over its own cache */
                const socfw_model_config *c = &m->cfg;
                int qd = arch_qd(c), kd = arch_kd(c);
                int ldq = c->arch == SOCFW_ARCH_GPT2 ? 3 * c->hidden : qd;
                for (int b = 0; b < p->B; b++) {
                        const arch_seq *sq = &p->seq[b];
                        size_t at = (size_t)l * sq->cap * kd;
                        int rc = socfw_nn_attention_decode(
                                w->atty + (size_t)b * qd,
                                w->q + (size_t)b * ldq, sq->k + at,
                                sq->v + at, NULL, 1, sq->pos + 1, sq->cap,
                                ad.H, ad.Hkv, ad.D, 0.0f);
                        if (rc < 0)
                                return rc;
                }
                return 0;
        }
        int P = socfw_adapter_prefix_length(p->adapter);
        if (!p->kc && P) {
                float *kf, *vf;
                int32_t *pm;
                int rc = prefix_kv(m, l, w, p, &kf, &vf, &pm);
                if (rc < 0)
                        return rc;
                ad.Tk = P + p->T;
                ad.ld_kv = arch_kd(&m->cfg);
                ad.key_mask = pm;
                return socfw_nn_attention_forward(w->atty, w->att, w->q, kf,
                                                  vf, &ad);
        }
        if (!p->kc)
                return socfw_nn_attention_forward(w->atty, w->att, w->q, w->k,
                                                  w->v, &ad);
        if (p->T == 1)  /* one query: dot products, no sgemm */
                return socfw_nn_attention_decode(w->atty, w->q, p->kc, p->vc,
                                                 NULL, 1, ad.Tk, p->kv_cap,
                                                 ad.H, ad.Hkv, ad.D, 0.0f);
        return socfw_nn_attention_forward(w->atty, w->att, w->q, p->kc, p->vc,
                                          &ad);
}

static int
dropout(float *x, uint8_t *mask, size_t n, const arch_pass *p)
{
        if (p->drop <= 0.0f)
                return 0;
        return socfw_nn_dropout_forward(x, mask, x, n, p->drop, p->rng);
}

/* ---- forward ------------------------------------------------------------ */

/* Post-norm encoder block (BERT, RoBERTa); training forward only. */
static int
block_forward_postnorm(socfw_model *m, int l, const float *x,
                       arch_layer_ws *w, float *tmp, const arch_pass *p)
{
        const socfw_model_config *c = &m->cfg;
        const arch_layer *P = &m->layers[l];
        int N = p->B * p->T, C = c->hidden, F = c->ffn;
        int qd = arch_qd(c), kd = arch_kd(c);
        size_t NC = (size_t)N * C, NF = (size_t)N * F;
        float eps = c->norm_eps;
        int rc;
        if ((rc = site_forward(m, l, SOCFW_SITE_ATTN_Q, w->q, x, C, qd, p)) ||
            (rc = site_forward(m, l, SOCFW_SITE_ATTN_K, w->k, x, C, kd, p)) ||
            (rc = site_forward(m, l, SOCFW_SITE_ATTN_V, w->v, x, C, kd, p)) ||
            (rc = attend(m, l, w, p)) ||
            (rc = site_forward(m, l, SOCFW_SITE_ATTN_O, tmp, w->atty, qd, C,
                               p)) ||
            (rc = dropout(tmp, w->drop1, NC, p)))
                return rc;
        socfw_nn_residual_forward(w->s1, x, tmp, NC);
        socfw_nn_layernorm_forward(w->mid, w->mean1, w->rstd1, w->s1,
                                   W(P->ln1_w), W(P->ln1_b), N, C, eps);
        if ((rc = site_forward(m, l, SOCFW_SITE_MLP_UP, w->fc, w->mid, C, F,
                               p)))
                return rc;
        act_forward(c->act, w->act, w->fc, NF);
        if ((rc = site_forward(m, l, SOCFW_SITE_MLP_DOWN, tmp, w->act, F, C,
                               p)) ||
            (rc = dropout(tmp, w->drop2, NC, p)))
                return rc;
        socfw_nn_residual_forward(w->s2, w->mid, tmp, NC);
        socfw_nn_layernorm_forward(w->out, w->mean2, w->rstd2, w->s2,
                                   W(P->ln2_w), W(P->ln2_b), N, C, eps);
        return 0;
}

int
arch_block_forward(socfw_model *m, int l, const float *x, arch_layer_ws *w,
                   float *tmp, const arch_pass *p)
{
        const socfw_model_config *c = &m->cfg;
        const arch_layer *P = &m->layers[l];
        int B = p->B, T = p->T, N = B * T, C = c->hidden, F = c->ffn;
        int qd = arch_qd(c), kd = arch_kd(c);
        size_t NC = (size_t)N * C, NF = (size_t)N * F;
        float eps = c->norm_eps;
        int gpt2 = c->arch == SOCFW_ARCH_GPT2;
        int rc;
        if (c->arch == SOCFW_ARCH_BERT || c->arch == SOCFW_ARCH_ROBERTA)
                return p->kc ? SOCFW_EUNSUPPORTED
                             : block_forward_postnorm(m, l, x, w, tmp, p);
        /* pre-norm decoders: attention */
        if (gpt2) {
                socfw_nn_layernorm_forward(w->a_in, w->mean1, w->rstd1, x,
                                           W(P->ln1_w), W(P->ln1_b), N, C,
                                           eps);
                if ((rc = fused_qkv(m, l, w->q, w->a_in, p)) < 0)
                        return rc;
                for (int b = 0; p->seq && b < B; b++) {
                        const arch_seq *sq = &p->seq[b];
                        const float *r = w->q + (size_t)b * 3 * C;
                        size_t at = ((size_t)l * sq->cap + sq->pos) * kd;
                        memcpy(sq->k + at, r + C, (size_t)C * sizeof(float));
                        memcpy(sq->v + at, r + 2 * C,
                               (size_t)C * sizeof(float));
                }
                if (p->kc) {    /* the new k, v rows go into the cache */
                        for (int t = 0; t < T; t++) {
                                const float *r = w->q + (size_t)t * 3 * C;
                                size_t at = (size_t)(p->pos0 + t) * kd;
                                memcpy(p->kc + at, r + C,
                                       (size_t)C * sizeof(float));
                                memcpy(p->vc + at, r + 2 * C,
                                       (size_t)C * sizeof(float));
                        }
                }
        } else {
                socfw_nn_rmsnorm_forward(w->a_in, w->rstd1, x, W(P->ln1_w), N,
                                         C, eps);
                float *k = p->kc ? p->kc + (size_t)p->pos0 * kd : w->k;
                float *v = p->vc ? p->vc + (size_t)p->pos0 * kd : w->v;
                if ((rc = site_forward(m, l, SOCFW_SITE_ATTN_Q, w->q, w->a_in,
                                       C, qd, p)) ||
                    (rc = site_forward(m, l, SOCFW_SITE_ATTN_K, k, w->a_in,
                                       C, kd, p)) ||
                    (rc = site_forward(m, l, SOCFW_SITE_ATTN_V, v, w->a_in,
                                       C, kd, p)))
                        return rc;
                socfw_nn_rope_desc rq = rope_desc(m, B, T, c->n_heads,
                                                  p->pos0);
                socfw_nn_rope_desc rk = rope_desc(m, B, T, c->n_kv_heads,
                                                  p->pos0);
                rq.pos = rk.pos = p->seq_pos;
                if ((rc = socfw_nn_rope_forward(w->q, &rq)) < 0 ||
                    (rc = socfw_nn_rope_forward(k, &rk)) < 0)
                        return rc;
                /* batched decoding: each new k, v row into its cache */
                for (int b = 0; p->seq && b < B; b++) {
                        const arch_seq *sq = &p->seq[b];
                        size_t at = ((size_t)l * sq->cap + sq->pos) * kd;
                        memcpy(sq->k + at, k + (size_t)b * kd,
                               (size_t)kd * sizeof(float));
                        memcpy(sq->v + at, v + (size_t)b * kd,
                               (size_t)kd * sizeof(float));
                }
        }
        if ((rc = attend(m, l, w, p)) < 0 ||
            (rc = site_forward(m, l, SOCFW_SITE_ATTN_O, tmp, w->atty, qd, C,
                               p)) < 0 ||
            (rc = dropout(tmp, w->drop1, NC, p)) < 0)
                return rc;
        socfw_nn_residual_forward(w->mid, x, tmp, NC);
        /* MLP */
        if (gpt2) {
                socfw_nn_layernorm_forward(w->m_in, w->mean2, w->rstd2,
                                           w->mid, W(P->ln2_w), W(P->ln2_b),
                                           N, C, eps);
                if ((rc = site_forward(m, l, SOCFW_SITE_MLP_UP, w->fc,
                                       w->m_in, C, F, p)) < 0)
                        return rc;
                act_forward(c->act, w->act, w->fc, NF);
        } else {
                socfw_nn_rmsnorm_forward(w->m_in, w->rstd2, w->mid,
                                         W(P->ln2_w), N, C, eps);
                if ((rc = site_forward(m, l, SOCFW_SITE_MLP_GATE, w->fc,
                                       w->m_in, C, F, p)) < 0 ||
                    (rc = site_forward(m, l, SOCFW_SITE_MLP_UP, w->up,
                                       w->m_in, C, F, p)) < 0)
                        return rc;
                socfw_nn_swiglu_forward(w->act, w->fc, w->up, NF);
        }
        if ((rc = site_forward(m, l, SOCFW_SITE_MLP_DOWN, tmp, w->act, F, C,
                               p)) < 0 ||
            (rc = dropout(tmp, w->drop2, NC, p)) < 0)
                return rc;
        socfw_nn_residual_forward(w->out, w->mid, tmp, NC);
        return 0;
}

/* ---- backward ----------------------------------------------------------- */

/* Attention backward of block l: dq, dk, dv (their strides as the
 * forward's q, k, v) +=; with a prefix adapter through the saved keys and
 * values with the prefix in front, whose rows' gradient goes to the
 * prefix tensors. */
static int
attend_backward(socfw_context *cx, int l, arch_layer_ws *w,
                socfw_nn_attn_desc *ad)
{
        socfw_model *m = cx->m;
        arch_ws *ws = &cx->ws;
        socfw_adapter *a = cx->adapter;
        int P = socfw_adapter_prefix_length(a);
        if (!P)
                return socfw_nn_attention_backward(ws->dq, ws->dk, ws->dv,
                                                   ws->datty, w->q, w->k,
                                                   w->v, w->att, ad);
        int B = ad->B, T = ad->T, Tk = P + T, kd = arch_kd(&m->cfg);
        int ld = m->cfg.arch == SOCFW_ARCH_GPT2 ? 3 * m->cfg.hidden : kd;
        size_t n = (size_t)B * Tk * kd;
        peft_pass pp = hook_backward(cx, B * T);
        float *kf = peft_prefix_saved(&pp, l, 0, n);
        float *vf = peft_prefix_saved(&pp, l, 1, n);
        float *dkf = peft_pass_scratch(&pp, 1, n);
        float *dvf = peft_pass_scratch(&pp, 2, n);
        /* the key mask the forward made (prefix rows set), still there */
        int32_t *pm = ad->key_mask ? peft_prefix_mask(&pp, (size_t)B * Tk)
                                   : NULL;
        if (!kf || !vf || !dkf || !dvf || (ad->key_mask && !pm))
                return SOCFW_ENOMEM;
        memset(dkf, 0, n * sizeof *dkf);
        memset(dvf, 0, n * sizeof *dvf);
        socfw_nn_attn_desc pd = *ad;
        pd.Tk = Tk;
        pd.ld_kv = kd;
        pd.key_mask = pm;
        int rc = socfw_nn_attention_backward(ws->dq, dkf, dvf, ws->datty,
                                             w->q, kf, vf, w->att, &pd);
        if (rc < 0)
                return rc;
        float *gk = peft_prefix_grad(a, l, 0), *gv = peft_prefix_grad(a, l, 1);
        for (int b = 0; b < B; b++) {
                const float *kb = dkf + (size_t)b * Tk * kd;
                const float *vb = dvf + (size_t)b * Tk * kd;
                for (size_t i = 0; i < (size_t)P * kd; i++) {
                        gk[i] += kb[i];
                        gv[i] += vb[i];
                }
                for (int t = 0; t < T; t++) {
                        float *dk = ws->dk + ((size_t)b * T + t) * ld;
                        float *dv = ws->dv + ((size_t)b * T + t) * ld;
                        const float *sk = kb + (size_t)(P + t) * kd;
                        const float *sv = vb + (size_t)(P + t) * kd;
                        for (int i = 0; i < kd; i++) {
                                dk[i] += sk[i];
                                dv[i] += sv[i];
                        }
                }
        }
        return 0;
}

/* The gradient arriving at a site's output must be writable (the
 * adapter's hooks change it in place) and must not be a buffer the rest of
 * backward still reads: everything but dtmp (drop_bw's private result) is
 * copied there first. */
static float *
own(arch_ws *ws, const float *d, size_t n)
{
        if (d != ws->dtmp)
                memcpy(ws->dtmp, d, n * sizeof *d);
        return ws->dtmp;
}

/* Pre-norm block backward: dx (N,C) holds dL/d(block output) and receives
 * dL/d(block input) (when need_dx). */
static int
block_backward_prenorm(socfw_context *cx, int l, const float *x, float *dx,
                       int need_dx)
{
        socfw_model *m = cx->m;
        const socfw_model_config *c = &m->cfg;
        const arch_layer *P = &m->layers[l];
        arch_ws *ws = &cx->ws;
        arch_layer_ws *w = &ws->layers[l];
        int B = ws->B, T = ws->T, N = B * T, C = c->hidden, F = c->ffn;
        int qd = arch_qd(c), kd = arch_kd(c);
        size_t NC = (size_t)N * C, NF = (size_t)N * F;
        int gpt2 = c->arch == SOCFW_ARCH_GPT2;
        float *d1 = ws->d1;
        int rc;
        /* MLP branch */
        float *dd = own(ws, arch_drop_bw(ws, dx, w->drop2, NC), NC);
        arch_zero(ws->dact, NF);
        if ((rc = site_backward(cx, l, SOCFW_SITE_MLP_DOWN, dd, ws->dact,
                                w->act, F, C, N)) < 0)
                return rc;
        arch_zero(ws->dfc, NF);
        arch_zero(d1, NC);
        if (gpt2) {
                act_backward(c->act, ws->dfc, w->fc, ws->dact, NF);
                if ((rc = site_backward(cx, l, SOCFW_SITE_MLP_UP, ws->dfc, d1,
                                        w->m_in, C, F, N)) < 0)
                        return rc;
                socfw_nn_layernorm_backward(dx, G(P->ln2_w), G(P->ln2_b), d1,
                                            w->mid, W(P->ln2_w), w->mean2,
                                            w->rstd2, N, C);
        } else {
                arch_zero(ws->dup, NF);
                socfw_nn_swiglu_backward(ws->dfc, ws->dup, ws->dact, w->fc,
                                         w->up, NF);
                if ((rc = site_backward(cx, l, SOCFW_SITE_MLP_GATE, ws->dfc,
                                        d1, w->m_in, C, F, N)) < 0 ||
                    (rc = site_backward(cx, l, SOCFW_SITE_MLP_UP, ws->dup, d1,
                                        w->m_in, C, F, N)) < 0)
                        return rc;
                socfw_nn_rmsnorm_backward(dx, G(P->ln2_w), d1, w->mid,
                                          W(P->ln2_w), w->rstd2, N, C);
        }
        /* attention branch */
        dd = own(ws, arch_drop_bw(ws, dx, w->drop1, NC), NC);
        arch_zero(ws->datty, (size_t)N * qd);
        if ((rc = site_backward(cx, l, SOCFW_SITE_ATTN_O, dd, ws->datty,
                                w->atty, qd, C, N)) < 0)
                return rc;
        arch_pass p = {.B = B, .T = T,
                       .mask = ws->have_mask ? ws->mask : NULL};
        socfw_nn_attn_desc ad = attn_desc(m, &p);
        arch_zero(d1, NC);
        /* d1 (into the first norm) is needed for the block input's
         * gradient and for the norm's own weights when they train */
        int need_d1 = need_dx || G(P->ln1_w) || G(P->ln1_b);
        float *dA = need_d1 ? d1 : NULL;
        if (gpt2) {
                arch_zero(ws->dq, (size_t)N * 3 * C);
                rc = attend_backward(cx, l, w, &ad);
                if (rc < 0 ||
                    (rc = fused_qkv_backward(cx, l, ws->dq, dA, w->a_in, N)) < 0)
                        return rc;
                socfw_nn_layernorm_backward(need_dx ? dx : NULL, G(P->ln1_w),
                                            G(P->ln1_b), d1, x, W(P->ln1_w),
                                            w->mean1, w->rstd1, N, C);
        } else {
                arch_zero(ws->dq, (size_t)N * qd);
                arch_zero(ws->dk, (size_t)N * kd);
                arch_zero(ws->dv, (size_t)N * kd);
                rc = attend_backward(cx, l, w, &ad);
                if (rc < 0)
                        return rc;
                /* real tokens sit after a prefix adapter's rows */
                int pre = socfw_adapter_prefix_length(cx->adapter);
                socfw_nn_rope_desc rq = rope_desc(m, B, T, c->n_heads, pre);
                socfw_nn_rope_desc rk = rope_desc(m, B, T, c->n_kv_heads,
                                                  pre);
                if ((rc = socfw_nn_rope_backward(ws->dq, &rq)) < 0 ||
                    (rc = socfw_nn_rope_backward(ws->dk, &rk)) < 0)
                        return rc;
                if ((rc = site_backward(cx, l, SOCFW_SITE_ATTN_Q, ws->dq, dA,
                                        w->a_in, C, qd, N)) < 0 ||
                    (rc = site_backward(cx, l, SOCFW_SITE_ATTN_K, ws->dk, dA,
                                        w->a_in, C, kd, N)) < 0 ||
                    (rc = site_backward(cx, l, SOCFW_SITE_ATTN_V, ws->dv, dA,
                                        w->a_in, C, kd, N)) < 0)
                        return rc;
                socfw_nn_rmsnorm_backward(need_dx ? dx : NULL, G(P->ln1_w),
                                          d1, x, W(P->ln1_w), w->rstd1, N, C);
        }
        return 0;
}

/* Post-norm (BERT) block backward: *pdx holds dL/d(block output); on
 * return *pdx points to dL/d(block input) (buffers are rotated). */
static int
block_backward_postnorm(socfw_context *cx, int l, const float *x, float **pdx,
                        float **pspare, int need_dx)
{
        socfw_model *m = cx->m;
        const socfw_model_config *c = &m->cfg;
        const arch_layer *P = &m->layers[l];
        arch_ws *ws = &cx->ws;
        arch_layer_ws *w = &ws->layers[l];
        int B = ws->B, T = ws->T, N = B * T, C = c->hidden, F = c->ffn;
        int qd = arch_qd(c), kd = arch_kd(c);
        size_t NC = (size_t)N * C, NF = (size_t)N * F;
        float *dx = *pdx, *d1 = ws->d1, *d2 = *pspare;
        int rc;
        /* output LN */
        arch_zero(d1, NC);
        socfw_nn_layernorm_backward(d1, G(P->ln2_w), G(P->ln2_b), dx, w->s2,
                                    W(P->ln2_w), w->mean2, w->rstd2, N, C);
        /* MLP: d1 = dL/ds2, which is also the residual part of dL/dmid */
        float *dd = own(ws, arch_drop_bw(ws, d1, w->drop2, NC), NC);
        arch_zero(ws->dact, NF);
        if ((rc = site_backward(cx, l, SOCFW_SITE_MLP_DOWN, dd, ws->dact,
                                w->act, F, C, N)) < 0)
                return rc;
        arch_zero(ws->dfc, NF);
        act_backward(c->act, ws->dfc, w->fc, ws->dact, NF);
        if ((rc = site_backward(cx, l, SOCFW_SITE_MLP_UP, ws->dfc, d1, w->mid,
                                C, F, N)) < 0)
                return rc;
        /* attention LN: d2 = dL/ds1 */
        arch_zero(d2, NC);
        socfw_nn_layernorm_backward(d2, G(P->ln1_w), G(P->ln1_b), d1, w->s1,
                                    W(P->ln1_w), w->mean1, w->rstd1, N, C);
        dd = own(ws, arch_drop_bw(ws, d2, w->drop1, NC), NC);
        arch_zero(ws->datty, (size_t)N * qd);
        if ((rc = site_backward(cx, l, SOCFW_SITE_ATTN_O, dd, ws->datty,
                                w->atty, qd, C, N)) < 0)
                return rc;
        arch_pass p = {.B = B, .T = T,
                       .mask = ws->have_mask ? ws->mask : NULL};
        socfw_nn_attn_desc ad = attn_desc(m, &p);
        arch_zero(ws->dq, (size_t)N * qd);
        arch_zero(ws->dk, (size_t)N * kd);
        arch_zero(ws->dv, (size_t)N * kd);
        rc = attend_backward(cx, l, w, &ad);
        if (rc < 0)
                return rc;
        float *dA = need_dx ? d2 : NULL;
        if ((rc = site_backward(cx, l, SOCFW_SITE_ATTN_Q, ws->dq, dA, x, C, qd,
                                N)) < 0 ||
            (rc = site_backward(cx, l, SOCFW_SITE_ATTN_K, ws->dk, dA, x, C, kd,
                                N)) < 0 ||
            (rc = site_backward(cx, l, SOCFW_SITE_ATTN_V, ws->dv, dA, x, C, kd,
                                N)) < 0)
                return rc;
        *pdx = d2;
        *pspare = dx;
        return 0;
}

int
arch_block_backward(socfw_context *cx, int l, const float *x, float **pdx,
                    float **pspare, int need_dx)
{
        const socfw_model_config *c = &cx->m->cfg;
        if (c->arch == SOCFW_ARCH_BERT || c->arch == SOCFW_ARCH_ROBERTA)
                return block_backward_postnorm(cx, l, x, pdx, pspare,
                                               need_dx);
        return block_backward_prenorm(cx, l, x, *pdx, need_dx);
}

/* ---- attaching an adapter ----------------------------------------------- */

int
socfw_context_attach(socfw_context *c, socfw_adapter *a, socfw_error *err)
{
        if (a) {
                int rc = peft_shape_check(a, c->m, err);
                if (rc < 0)
                        return rc;
        }
        c->adapter = a;
        c->ws.valid = 0;        /* a saved forward no longer matches */
        return 0;
}

socfw_adapter *
socfw_context_attached(const socfw_context *c)
{
        return c->adapter;
}

int
socfw_model_attach(socfw_model *m, socfw_adapter *a, socfw_error *err)
{
        socfw_context *c = arch_ctx0(m);
        if (!c)
                return socfw_error_set(err, SOCFW_ENOMEM, "model attach: out "
                                       "of memory");
        return socfw_context_attach(c, a, err);
}

socfw_adapter *
socfw_model_attached(const socfw_model *m)
{
        return m->ctx0 ? m->ctx0->adapter : NULL;
}
