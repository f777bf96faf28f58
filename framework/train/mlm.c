/* mlm.c - masked-LM pieces for encoder pretraining: BERT masking and the
 * tied MLM output layer (see mlm.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/nn.h"
#include "train/mlm.h"

/* ---- masking ---- */

int
rt_mlm_vocab_init(rt_mlm_vocab *v, const socfw_tokenizer *tok,
                  socfw_error *err)
{
        memset(v, 0, sizeof *v);
        v->mask_id = -1;
        size_t V = socfw_tokenizer_vocab_size(tok);
        int32_t mask = socfw_tokenizer_special_id(tok, SOCFW_TOKENIZER_MASK);
        if (mask < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "masked-LM pretraining needs a mask "
                                       "token, and this vocabulary has none "
                                       "(hint: train the vocabulary with "
                                       "pretrain.tokenizer, or load an "
                                       "encoder's tokenizer with [MASK] or "
                                       "<mask>)");
        if (V == 0 || V > INT32_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "masked-LM pretraining: bad "
                                       "vocabulary size %zu", V);
        v->V = (int)V;
        v->mask_id = mask;
        v->special = calloc(V, 1);
        v->cont = calloc(V, 1);
        v->normal = malloc(V * sizeof *v->normal);
        if (!v->special || !v->cont || !v->normal) {
                rt_mlm_vocab_clear(v);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        int wordpiece = socfw_tokenizer_get_kind(tok) ==
                        SOCFW_TOKENIZER_WORDPIECE;
        for (size_t i = 0; i < V; i++) {
                int type = socfw_tokenizer_token_type(tok, (int32_t)i);
                size_t len = 0;
                const char *s = socfw_tokenizer_token_text(tok, (int32_t)i,
                                                           &len);
                v->special[i] = type == SOCFW_TOKEN_CONTROL ||
                                type == SOCFW_TOKEN_UNUSED;
                if (s && wordpiece)
                        v->cont[i] = len > 2 && s[0] == '#' && s[1] == '#';
                else if (s && !v->special[i])
                        /* byte-level BPE: "Ġ" (U+0120) is a leading space */
                        v->cont[i] = !(len >= 2 &&
                                       (unsigned char)s[0] == 0xc4 &&
                                       (unsigned char)s[1] == 0xa0);
        }
        for (int r = 0; r < SOCFW_TOKENIZER_SPECIAL_COUNT; r++) {
                int32_t id = socfw_tokenizer_special_id(
                        tok, (socfw_tokenizer_special)r);
                /* as HF's special_tokens_mask: [UNK] included */
                if (id >= 0 && (size_t)id < V)
                        v->special[id] = 1;
        }
        for (size_t i = 0; i < V; i++)
                if (!v->special[i])
                        v->normal[v->n_normal++] = (int32_t)i;
        return 0;
}

void
rt_mlm_vocab_clear(rt_mlm_vocab *v)
{
        free(v->special);
        free(v->cont);
        free(v->normal);
        memset(v, 0, sizeof *v);
        v->mask_id = -1;
}

static int
is_special(const rt_mlm_vocab *v, int32_t id)
{
        return id < 0 || id >= v->V || v->special[id];
}

size_t
rt_mlm_mask(int32_t *ids, int32_t *targets, size_t n, const rt_mlm_vocab *v,
            float prob, int whole_word, socfw_rng *rng)
{
        size_t selected = 0;
        int word_on = 0;        /* whole_word: the current word's draw */
        int in_word = 0;        /* the previous token was a word's     */
        for (size_t i = 0; i < n; i++) {
                targets[i] = -100;
                int32_t id = ids[i];
                if (is_special(v, id)) {
                        word_on = in_word = 0;
                        continue;
                }
                int pick;
                if (whole_word && v->cont[id] && in_word)
                        pick = word_on;
                else
                        pick = word_on = socfw_rng_uniform(rng) < prob;
                in_word = 1;
                if (!pick)
                        continue;
                selected++;
                targets[i] = id;
                float r = socfw_rng_uniform(rng);
                if (r < 0.8f)
                        ids[i] = v->mask_id;
                else if (r < 0.9f && v->n_normal)
                        ids[i] = v->normal[socfw_rng_below(rng, v->n_normal)];
        }
        return selected;
}

/* ---- the output layer ---- */

int
rt_mlm_head_new(rt_mlm_head **out, socfw_arch arch, int C, int V, float eps,
                uint64_t seed, socfw_error *err)
{
        static const char *const bert[] = {
                "cls.predictions.transform.dense.weight",
                "cls.predictions.transform.dense.bias",
                "cls.predictions.transform.LayerNorm.weight",
                "cls.predictions.transform.LayerNorm.bias",
                "cls.predictions.bias",
        };
        static const char *const roberta[] = {
                "lm_head.dense.weight", "lm_head.dense.bias",
                "lm_head.layer_norm.weight", "lm_head.layer_norm.bias",
                "lm_head.bias",
        };
        *out = NULL;
        if (C < 1 || V < 1 ||
            (arch != SOCFW_ARCH_BERT && arch != SOCFW_ARCH_ROBERTA))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "masked-LM head: needs an encoder "
                                       "(bert, roberta) and sizes >= 1");
        const char *const *names = arch == SOCFW_ARCH_BERT ? bert : roberta;
        rt_mlm_head *h = calloc(1, sizeof *h);
        if (!h || !(h->ps = socfw_params_new())) {
                free(h);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        h->C = C;
        h->V = V;
        h->eps = eps;
        h->grad_scale = 1.0f;
        int64_t cc[2] = {C, C}, c1[1] = {C}, v1[1] = {V};
        int rc = 0;
        if ((h->dense_w = socfw_params_add(h->ps, names[0], 2, cc, err)) < 0 ||
            (h->dense_b = socfw_params_add(h->ps, names[1], 1, c1, err)) < 0 ||
            (h->ln_w = socfw_params_add(h->ps, names[2], 1, c1, err)) < 0 ||
            (h->ln_b = socfw_params_add(h->ps, names[3], 1, c1, err)) < 0 ||
            (h->bias = socfw_params_add(h->ps, names[4], 1, v1, err)) < 0 ||
            (rc = socfw_params_finalize(h->ps, err)) < 0) {
                rc = rc < 0 ? rc : SOCFW_ENOMEM;
                rt_mlm_head_free(h);
                return rc;
        }
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        socfw_params_init_normal(h->ps, h->dense_w, 0.0f, 0.02f, &rng);
        socfw_params_init_const(h->ps, h->ln_w, 1.0f);
        *out = h;
        return 0;
}

void
rt_mlm_head_free(rt_mlm_head *h)
{
        if (!h)
                return;
        socfw_params_free(h->ps);
        free(h->t);
        free(h->logits);
        free(h);
}

static int
reserve(rt_mlm_head *h, int M, socfw_error *err)
{
        if (M <= h->cap)
                return 0;
        size_t C = (size_t)h->C, m = (size_t)M;
        /* t a u du da dt: 6 (M,C); mean rstd: 2 (M) */
        float *t = malloc(sizeof(float) * (6 * m * C + 2 * m));
        float *logits = malloc(sizeof(float) * m * (size_t)h->V);
        if (!t || !logits) {
                free(t);
                free(logits);
                return socfw_error_set(err, SOCFW_ENOMEM, "masked-LM head: "
                                       "out of memory for %d rows", M);
        }
        free(h->t);
        free(h->logits);
        h->t = t;
        h->a = t + m * C;
        h->u = t + 2 * m * C;
        h->du = t + 3 * m * C;
        h->da = t + 4 * m * C;
        h->dt = t + 5 * m * C;
        h->mean = t + 6 * m * C;
        h->rstd = h->mean + m;
        h->logits = logits;
        h->cap = M;
        return 0;
}

int
rt_mlm_head_step(rt_mlm_head *h, const float *x, int M, const float *emb,
                 float *demb, const int32_t *targets, float *loss,
                 int *correct, float *dx, socfw_error *err)
{
        if (loss)
                *loss = 0;
        if (correct)
                *correct = 0;
        if (M <= 0)
                return 0;
        int rc = reserve(h, M, err);
        if (rc < 0)
                return rc;
        int C = h->C, V = h->V;
        size_t mc = (size_t)M * (size_t)C;
        socfw_params *ps = h->ps;
        const float *W = socfw_params_data(ps, h->dense_w);
        const float *g = socfw_params_data(ps, h->ln_w);
        /* (M,C) -> dense -> gelu -> layernorm -> (M,V) against emb */
        socfw_nn_linear_forward(h->t, x, W, socfw_params_data(ps, h->dense_b),
                                M, C, C);
        socfw_nn_gelu_erf_forward(h->a, h->t, mc);
        socfw_nn_layernorm_forward(h->u, h->mean, h->rstd, h->a, g,
                                   socfw_params_data(ps, h->ln_b), M, C,
                                   h->eps);
        socfw_nn_linear_forward(h->logits, h->u, emb,
                                socfw_params_data(ps, h->bias), M, C, V);
        if (correct) {
                int ok = 0;
                for (int i = 0; i < M; i++) {
                        const float *row = h->logits + (size_t)i * V;
                        int best = 0;
                        for (int k = 1; k < V; k++)
                                if (row[k] > row[best])
                                        best = k;
                        ok += best == targets[i];
                }
                *correct = ok;
        }
        float l = 0;
        rc = socfw_nn_cross_entropy_forward_backward(&l, NULL, h->logits,
                                                     h->logits, targets, M, V,
                                                     NULL, err);
        if (rc < 0)
                return rc;
        if (loss)
                *loss = l;
        if (h->grad_scale != 1.0f)
                for (size_t i = 0; i < (size_t)M * (size_t)V; i++)
                        h->logits[i] *= h->grad_scale;
        bool tr_bias = socfw_params_trainable(ps, h->bias);
        /* the backward passes add into du, da, dt: zero the M rows of
         * each (they sit `cap` rows apart, so not one block when M < cap) */
        memset(h->du, 0, sizeof(float) * mc);
        memset(h->da, 0, sizeof(float) * mc);
        memset(h->dt, 0, sizeof(float) * mc);
        socfw_nn_linear_backward(h->du, demb,
                                 tr_bias ? socfw_params_grad(ps, h->bias)
                                         : NULL,
                                 h->logits, h->u, emb, M, C, V);
        socfw_nn_layernorm_backward(h->da, socfw_params_grad(ps, h->ln_w),
                                    socfw_params_grad(ps, h->ln_b), h->du,
                                    h->a, g, h->mean, h->rstd, M, C);
        socfw_nn_gelu_erf_backward(h->dt, h->t, h->da, mc);
        socfw_nn_linear_backward(dx, socfw_params_grad(ps, h->dense_w),
                                 socfw_params_grad(ps, h->dense_b), h->dt, x,
                                 W, M, C, C);
        return 0;
}
