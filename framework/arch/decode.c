/* decode.c - incremental decoding with a KV cache (GPT-2, Llama family).
 *
 * The cache holds, per layer, keys and values of every position so far as
 * (Lmax, Hkv*D) rows (RoPE already applied to the keys).  A step appends n
 * tokens through the same block code as training (block.c, with an
 * attached adapter's hooks): their projections run as one sgemm over n
 * rows, their k/v rows go into the cache, and attention runs causally over
 * the cache.  All scratch memory lives in the cache object and only
 * grows. */
#include "arch_internal.h"

#include "peft/peft_internal.h"

#include <stdlib.h>
#include <string.h>

#define W(i) arch_w(m, (i))

struct socfw_model_kv {
        const socfw_model *m;
        peft_scratch_set scr;   /* adapter scratch of this sequence       */
        int len, cap;
        float *k, *v;           /* (n_layers, cap, kd) each             */
        int rows;               /* scratch capacity in token rows       */
        float *x, *xn, *q, *atty, *tmp, *fc, *up, *act, *mid;
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
        free(kv->mid);
        kv->mid = NULL;
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
        kv->mid = malloc(r * C * sizeof(float));
        kv->att = malloc((size_t)c->n_heads * r * (size_t)kv->cap *
                         sizeof(float));
        if (!kv->x || !kv->xn || !kv->q || !kv->atty || !kv->tmp ||
            !kv->fc || !kv->up || !kv->act || !kv->att || !kv->mid) {
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
        /* an attached prefix adapter's rows take the first positions */
        int pre = socfw_adapter_prefix_length(socfw_model_attached(m));
        if (max_len <= (1 << 20) - pre)
                max_len += pre;
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
        if (kv)
                peft_scratch_set_clear(&kv->scr);
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

int
socfw_model_decode_step(socfw_model *m, socfw_model_kv *kv,
                        const int32_t *ids, int n, float *logits,
                        socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden, kd = arch_kd(c);
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
        /* a prefix adapter: its rows are the cache's first positions */
        socfw_adapter *ad = socfw_model_attached(m);
        int pre = socfw_adapter_prefix_length(ad);
        if (pre && kv->len == 0) {
                if (n > kv->cap - pre)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode: KV cache full (%d "
                                               "prefix + %d tokens > %d)",
                                               pre, n, kv->cap);
                for (int l = 0; l < c->n_layers; l++) {
                        memcpy(kv->k + (size_t)l * kv->cap * kd,
                               peft_prefix(ad, l, 0),
                               (size_t)pre * kd * sizeof(float));
                        memcpy(kv->v + (size_t)l * kv->cap * kd,
                               peft_prefix(ad, l, 1),
                               (size_t)pre * kd * sizeof(float));
                }
                kv->len = pre;
        }
        int pos0 = kv->len, Tk = pos0 + n;
        float *x = kv->x, *xn = kv->xn;
        arch_embed(m, x, ids, n);
        if (gpt2 && socfw_nn_positional_forward(x, W(m->pos_emb), 1, n, C,
                                                pos0, c->max_positions) < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: "
                                       "position %d past the model's %d",
                                       Tk, c->max_positions);
        /* one set of scratch rows for every block: nothing is kept */
        arch_layer_ws w;
        memset(&w, 0, sizeof w);
        w.a_in = w.m_in = xn;
        w.q = kv->q;
        w.atty = kv->atty;
        w.att = kv->att;
        w.mid = kv->mid;
        w.fc = kv->fc;
        w.up = kv->up;
        w.act = kv->act;
        w.out = x;              /* a pre-norm block may update x in place */
        arch_pass ap = {.B = 1, .T = n, .pos0 = pos0, .kv_cap = kv->cap,
                        .adapter = ad, .scr = &kv->scr};
        for (int l = 0; l < c->n_layers; l++) {
                ap.kc = kv->k + (size_t)l * kv->cap * kd;
                ap.vc = kv->v + (size_t)l * kv->cap * kd;
                if ((rc = arch_block_forward(m, l, x, &w, kv->tmp, &ap)) < 0)
                        goto bad;
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
                const socfw_qtensor *q = arch_qw(m, head);
                if (q) {
                        if ((rc = socfw_nn_qlinear_forward(logits, xn, q, NULL,
                                                           1)) < 0)
                                goto bad;
                } else {
                        socfw_nn_matmul_forward(logits, xn, W(head), NULL, 1,
                                                C, c->vocab_size,
                                                SOCFW_NN_W_OUT_IN);
                }
        }
        return 0;
bad:
        return socfw_error_set(err, rc, "model decode: kernel refused the "
                               "dimensions (bug?)");
}
