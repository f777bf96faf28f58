/* decode.c - incremental decoding with a KV cache (GPT-2, Llama family).
 *
 * The cache holds, per layer, keys and values of every position so far as
 * (Lmax, Hkv*D) rows (RoPE already applied to the keys).  A step appends n
 * tokens: their projections run as one sgemm over n rows, their k/v rows go
 * straight into the cache, and attention runs causally over the cache.  All
 * scratch memory lives in the cache object and only grows. */
#include "arch_internal.h"

#include <stdlib.h>
#include <string.h>

#define W(i) arch_w(m, (i))

/* out (n,OC) = inp (n,C) @ W + bias (socfw_nn_matmul_forward: one row,
 * the usual generation step, goes through a pool-split sgemv). */
static void
proj(float *out, const float *inp, const float *w, const float *bias, int n,
     int C, int OC, socfw_nn_wlayout layout)
{
        socfw_nn_matmul_forward(out, inp, w, bias, n, C, OC, layout);
}

struct socfw_model_kv {
        const socfw_model *m;
        int len, cap;
        float *k, *v;           /* (n_layers, cap, kd) each             */
        int rows;               /* scratch capacity in token rows       */
        float *x, *xn, *q, *atty, *tmp, *fc, *up, *act;
        float *att;             /* (H, rows, cap)                       */
};

static void
kv_scratch_free(socfw_model_kv *kv)
{
        free(kv->x);
        free(kv->xn);
        free(kv->q);
        free(kv->atty);
        free(kv->tmp);
        free(kv->fc);
        free(kv->up);
        free(kv->act);
        free(kv->att);
        kv->x = kv->xn = kv->q = kv->atty = kv->tmp = NULL;
        kv->fc = kv->up = kv->act = kv->att = NULL;
        kv->rows = 0;
}

static int
kv_scratch(socfw_model_kv *kv, int n)
{
        if (n <= kv->rows)
                return 0;
        const socfw_model_config *c = &kv->m->cfg;
        size_t C = (size_t)c->hidden, F = (size_t)c->ffn;
        size_t qd = (size_t)arch_qd(c);
        size_t qsz = c->arch == SOCFW_ARCH_GPT2 ? 3 * C : qd;
        size_t r = (size_t)n;
        kv_scratch_free(kv);
        kv->x = malloc(r * C * sizeof(float));
        kv->xn = malloc(r * C * sizeof(float));
        kv->q = malloc(r * qsz * sizeof(float));
        kv->atty = malloc(r * qd * sizeof(float));
        kv->tmp = malloc(r * C * sizeof(float));
        kv->fc = malloc(r * F * sizeof(float));
        kv->up = malloc(r * F * sizeof(float));
        kv->act = malloc(r * F * sizeof(float));
        kv->att = malloc((size_t)c->n_heads * r * (size_t)kv->cap *
                         sizeof(float));
        if (!kv->x || !kv->xn || !kv->q || !kv->atty || !kv->tmp ||
            !kv->fc || !kv->up || !kv->act || !kv->att) {
                kv_scratch_free(kv);
                return SOCFW_ENOMEM;
        }
        kv->rows = n;
        return 0;
}

int
socfw_model_kv_new(socfw_model_kv **out, const socfw_model *m, int max_len,
                   socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        *out = NULL;
        if (c->arch != SOCFW_ARCH_GPT2 && c->arch != SOCFW_ARCH_LLAMA)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "model kv cache: %s is not a decoder",
                                       socfw_arch_name(c->arch));
        if (max_len < 1 || max_len > (1 << 20))
                return socfw_error_set(err, SOCFW_EINVAL, "model kv cache: "
                                       "max_len %d out of range [1, %d]",
                                       max_len, 1 << 20);
        if (c->arch == SOCFW_ARCH_GPT2 && max_len > c->max_positions)
                max_len = c->max_positions;
        socfw_model_kv *kv = calloc(1, sizeof *kv);
        if (!kv)
                return socfw_error_set(err, SOCFW_ENOMEM, "model kv cache: "
                                       "out of memory");
        kv->m = m;
        kv->cap = max_len;
        size_t per = (size_t)c->n_layers * (size_t)max_len *
                     (size_t)arch_kd(c);
        kv->k = malloc(per * sizeof(float));
        kv->v = malloc(per * sizeof(float));
        if (!kv->k || !kv->v || kv_scratch(kv, 1) < 0) {
                socfw_model_kv_free(kv);
                return socfw_error_set(err, SOCFW_ENOMEM, "model kv cache: "
                                       "cannot allocate %d positions",
                                       max_len);
        }
        *out = kv;
        return 0;
}

void
socfw_model_kv_free(socfw_model_kv *kv)
{
        if (!kv)
                return;
        kv_scratch_free(kv);
        free(kv->k);
        free(kv->v);
        free(kv);
}

void
socfw_model_kv_reset(socfw_model_kv *kv)
{
        kv->len = 0;
}

int
socfw_model_kv_len(const socfw_model_kv *kv)
{
        return kv->len;
}

int
socfw_model_kv_capacity(const socfw_model_kv *kv)
{
        return kv->cap;
}

static void
act_fw(socfw_act a, float *out, const float *in, size_t n)
{
        if (a == SOCFW_ACT_GELU_ERF)
                socfw_nn_gelu_erf_forward(out, in, n);
        else
                socfw_nn_gelu_forward(out, in, n);
}

int
socfw_model_decode_step(socfw_model *m, socfw_model_kv *kv,
                        const int32_t *ids, int n, float *logits,
                        socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden, F = c->ffn, qd = arch_qd(c), kd = arch_kd(c);
        int gpt2 = c->arch == SOCFW_ARCH_GPT2;
        int rc;
        if (!kv || kv->m != m)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: the "
                                       "KV cache belongs to another model");
        if (!ids || n < 1)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: no "
                                       "tokens");
        if (n > kv->cap - kv->len)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: KV "
                                       "cache full (%d + %d tokens > %d); "
                                       "hint: a larger max_len or a shorter "
                                       "prompt", kv->len, n, kv->cap);
        for (int i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= c->vocab_size)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "model decode: token id %d "
                                               "outside the vocabulary "
                                               "[0,%d)", ids[i],
                                               c->vocab_size);
        if (kv_scratch(kv, n) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model decode: out "
                                       "of memory for %d tokens", n);
        int pos0 = kv->len, Tk = pos0 + n;
        size_t nC = (size_t)n * C, nF = (size_t)n * F;
        float *x = kv->x, *xn = kv->xn;
        socfw_nn_embedding_forward(x, ids, W(m->tok_emb), n, c->vocab_size,
                                   C);
        if (gpt2 && socfw_nn_positional_forward(x, W(m->pos_emb), 1, n, C,
                                                pos0, c->max_positions) < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: "
                                       "position %d past the model's %d",
                                       Tk, c->max_positions);
        for (int l = 0; l < c->n_layers; l++) {
                const arch_layer *P = &m->layers[l];
                float *kc = kv->k + (size_t)l * kv->cap * kd;
                float *vc = kv->v + (size_t)l * kv->cap * kd;
                socfw_nn_attn_desc ad;
                memset(&ad, 0, sizeof ad);
                ad.B = 1;
                ad.T = n;
                ad.Tk = Tk;
                ad.H = c->n_heads;
                ad.Hkv = c->n_kv_heads;
                ad.D = c->head_dim;
                ad.causal = 1;
                ad.ld_kv = kd;
                if (gpt2) {
                        socfw_nn_layernorm_forward(xn, NULL, NULL, x,
                                                   W(P->ln1_w), W(P->ln1_b),
                                                   n, C, c->norm_eps);
                        proj(kv->q, xn, W(P->qkv_w), W(P->qkv_b), n, C,
                             3 * C, m->wl);
                        for (int t = 0; t < n; t++) {
                                const float *r = kv->q + (size_t)t * 3 * C;
                                memcpy(kc + (size_t)(pos0 + t) * kd, r + C,
                                       (size_t)C * sizeof(float));
                                memcpy(vc + (size_t)(pos0 + t) * kd,
                                       r + 2 * C, (size_t)C * sizeof(float));
                        }
                        ad.ld_q = 3 * C;
                } else {
                        socfw_nn_rmsnorm_forward(xn, NULL, x, W(P->ln1_w), n,
                                                 C, c->norm_eps);
                        float *kn = kc + (size_t)pos0 * kd;
                        float *vn = vc + (size_t)pos0 * kd;
                        proj(kv->q, xn, W(P->q_w), W(P->q_b), n, C, qd,
                             m->wl);
                        proj(kn, xn, W(P->k_w), W(P->k_b), n, C, kd, m->wl);
                        proj(vn, xn, W(P->v_w), W(P->v_b), n, C, kd, m->wl);
                        socfw_nn_rope_desc rd;
                        memset(&rd, 0, sizeof rd);
                        rd.B = 1;
                        rd.T = n;
                        rd.D = c->head_dim;
                        rd.theta = c->rope_theta;
                        rd.inv_freq = m->inv_freq;
                        rd.mode = c->rope == SOCFW_ROPE_INTERLEAVED
                                          ? SOCFW_NN_ROPE_INTERLEAVED
                                          : SOCFW_NN_ROPE_HALF;
                        rd.pos0 = pos0;
                        rd.H = c->n_heads;
                        if ((rc = socfw_nn_rope_forward(kv->q, &rd)) < 0)
                                goto bad;
                        rd.H = c->n_kv_heads;
                        if ((rc = socfw_nn_rope_forward(kn, &rd)) < 0)
                                goto bad;
                }
                if (n == 1)     /* one query: dot products, no sgemm */
                        rc = socfw_nn_attention_decode(kv->atty, kv->q, kc, vc,
                                                       NULL, 1, Tk, kv->cap,
                                                       ad.H, ad.Hkv, ad.D,
                                                       0.0f);
                else
                        rc = socfw_nn_attention_forward(kv->atty, kv->att,
                                                        kv->q, kc, vc, &ad);
                if (rc < 0)
                        goto bad;
                proj(kv->tmp, kv->atty, W(P->o_w), W(P->o_b), n, qd, C,
                     m->wl);
                socfw_nn_residual_forward(x, x, kv->tmp, nC);
                if (gpt2) {
                        socfw_nn_layernorm_forward(xn, NULL, NULL, x,
                                                   W(P->ln2_w), W(P->ln2_b),
                                                   n, C, c->norm_eps);
                        proj(kv->fc, xn, W(P->fc_w), W(P->fc_b), n, C, F,
                             m->wl);
                        act_fw(c->act, kv->act, kv->fc, nF);
                } else {
                        socfw_nn_rmsnorm_forward(xn, NULL, x, W(P->ln2_w), n,
                                                 C, c->norm_eps);
                        proj(kv->fc, xn, W(P->fc_w), NULL, n, C, F, m->wl);
                        proj(kv->up, xn, W(P->up_w), NULL, n, C, F, m->wl);
                        socfw_nn_swiglu_forward(kv->act, kv->fc, kv->up, nF);
                }
                proj(kv->tmp, kv->act, W(P->down_w), W(P->down_b), n, F,
                     C, m->wl);
                socfw_nn_residual_forward(x, x, kv->tmp, nC);
        }
        kv->len = Tk;
        if (logits) {
                const float *last = x + (size_t)(n - 1) * C;
                if (gpt2)
                        socfw_nn_layernorm_forward(xn, NULL, NULL, last,
                                                   W(m->fin_w), W(m->fin_b),
                                                   1, C, c->norm_eps);
                else
                        socfw_nn_rmsnorm_forward(xn, NULL, last, W(m->fin_w),
                                                 1, C, c->norm_eps);
                int head = m->lm_head >= 0 ? m->lm_head : m->tok_emb;
                proj(logits, xn, W(head), NULL, 1, C, c->vocab_size,
                     SOCFW_NN_W_OUT_IN);
        }
        return 0;
bad:
        return socfw_error_set(err, rc, "model decode: kernel refused the "
                               "dimensions (bug?)");
}
