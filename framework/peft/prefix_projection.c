/* prefix_projection.c - prefix tuning with PEFT's prefix_projection: the
 * key and value rows of every block are not trained themselves but
 * computed by a small MLP (Li & Liang 2021, section 4.3; PEFT's
 * PrefixEncoder):
 *
 *     H    = tanh(E W1^T + b1)          E (P, td), W1 (enc, td), b1 (enc)
 *     Out  = H W2^T + b2                W2 (L*2*kd, enc), b2 (L*2*kd)
 *
 * td = kd = n_kv_heads * head_dim (socfw's token_dim), enc =
 * encoder_hidden_size.  Column (l*2 + v)*kd + h*D + d of Out row j is
 * block l's key (v = 0) or value (v = 1) of head h, component d, for
 * virtual token j: PEFT views Out as (P, L*2, heads, D) and splits it
 * into (key, value) pairs per layer, keys first - the same layout as
 * socfw's saved prompt_embeddings.  Only E, W1, b1, W2, b2 are in the
 * adapter's parameter store (trained, in checkpoints); the rows are a
 * cache of Out in the per-block (P, kd) form the attention reads.
 *
 * When the cache is recomputed: on every forward of the model's own
 * context (socfw_model_forward: training, finite differences, one caller
 * at a time), and otherwise (other contexts, KV decoding, saving) only
 * when the tensors may have changed since - after a backward (an
 * optimizer step follows) or socfw_adapter_params_changed().  So decoding
 * uses rows computed once, not per token. */
#include "peft/adapter_impl.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct peft_proj {
        int P, td, enc, L, kd;
        size_t R;               /* L * 2 * kd                             */
        int t_e, t_w1, t_b1, t_w2, t_b2;       /* params indices           */
        float *h;               /* H (P, enc) of the last refresh         */
        float *rows;            /* (L*2, P, kd): block l's keys at 2l     */
        float *drows;           /* their gradient, same layout            */
        float *dout;            /* scratch (P, R)                          */
        float *dh;              /* scratch (P, enc)                        */
        int stale;
        pthread_mutex_t lock;
};

int
peft_proj_declare(socfw_adapter *a, socfw_error *err)
{
        const socfw_adapter_config *c = &a->cfg;
        peft_proj *pj = calloc(1, sizeof *pj);
        if (!pj)
                return socfw_error_set(err, SOCFW_ENOMEM, "adapter: out of "
                                       "memory");
        pthread_mutex_init(&pj->lock, NULL);
        a->proj = pj;
        pj->P = c->prefix_length;
        pj->L = a->n_layers;
        pj->kd = a->shape.n_kv_heads * a->shape.head_dim;
        pj->td = pj->kd;
        pj->enc = c->encoder_hidden_size > 0 ? c->encoder_hidden_size
                                             : a->shape.hidden;
        a->cfg.encoder_hidden_size = pj->enc;
        pj->R = (size_t)pj->L * 2 * (size_t)pj->kd;
        pj->stale = 1;
        int64_t s_e[2] = {pj->P, pj->td}, s_w1[2] = {pj->enc, pj->td};
        int64_t s_b1[1] = {pj->enc}, s_w2[2] = {(int64_t)pj->R, pj->enc};
        int64_t s_b2[1] = {(int64_t)pj->R};
        pj->t_e = socfw_params_add(a->ps, "prefix_encoder.embedding.weight",
                                   2, s_e, err);
        pj->t_w1 = socfw_params_add(a->ps, "prefix_encoder.transform.0."
                                    "weight", 2, s_w1, err);
        pj->t_b1 = socfw_params_add(a->ps, "prefix_encoder.transform.0.bias",
                                    1, s_b1, err);
        pj->t_w2 = socfw_params_add(a->ps, "prefix_encoder.transform.2."
                                    "weight", 2, s_w2, err);
        pj->t_b2 = socfw_params_add(a->ps, "prefix_encoder.transform.2.bias",
                                    1, s_b2, err);
        if (pj->t_e < 0 || pj->t_w1 < 0 || pj->t_b1 < 0 || pj->t_w2 < 0 ||
            pj->t_b2 < 0)
                return pj->t_e < 0 ? pj->t_e : pj->t_w1 < 0 ? pj->t_w1
                       : pj->t_b1 < 0 ? pj->t_b1 : pj->t_w2 < 0 ? pj->t_w2
                                                               : pj->t_b2;
        size_t n = (size_t)pj->P * pj->R;
        pj->h = malloc((size_t)pj->P * pj->enc * sizeof *pj->h);
        pj->dh = malloc((size_t)pj->P * pj->enc * sizeof *pj->dh);
        pj->rows = malloc(n * sizeof *pj->rows);
        pj->drows = calloc(n, sizeof *pj->drows);
        pj->dout = malloc(n * sizeof *pj->dout);
        if (!pj->h || !pj->dh || !pj->rows || !pj->drows || !pj->dout)
                return socfw_error_set(err, SOCFW_ENOMEM, "adapter: out of "
                                       "memory for the prefix encoder "
                                       "(%d x %zu)", pj->P, pj->R);
        return 0;
}

/* PyTorch's defaults: nn.Embedding N(0, 1); nn.Linear weight and bias
 * U(+-1/sqrt(fan_in)). */
void
peft_proj_init(socfw_adapter *a, socfw_rng *rng)
{
        peft_proj *pj = a->proj;
        float b1 = 1.0f / sqrtf((float)pj->td);
        float b2 = 1.0f / sqrtf((float)pj->enc);
        socfw_params_init_normal(a->ps, pj->t_e, 0.0f, 1.0f, rng);
        socfw_params_init_uniform(a->ps, pj->t_w1, -b1, b1, rng);
        socfw_params_init_uniform(a->ps, pj->t_b1, -b1, b1, rng);
        socfw_params_init_uniform(a->ps, pj->t_w2, -b2, b2, rng);
        socfw_params_init_uniform(a->ps, pj->t_b2, -b2, b2, rng);
        pj->stale = 1;
}

void
peft_proj_free(peft_proj *pj)
{
        if (!pj)
                return;
        pthread_mutex_destroy(&pj->lock);
        free(pj->h);
        free(pj->dh);
        free(pj->rows);
        free(pj->drows);
        free(pj->dout);
        free(pj);
}

static float *
pdata(const socfw_adapter *a, int t)
{
        return socfw_params_data(a->ps, t);
}

static float *
pgrad(const socfw_adapter *a, int t)
{
        return socfw_params_grad(a->ps, t);
}

/* The rows from the current tensors (Out into dout, scattered). */
static void
compute(const socfw_adapter *a, peft_proj *pj)
{
        int P = pj->P, enc = pj->enc, td = pj->td, kd = pj->kd;
        size_t R = pj->R;
        const float *b1 = pdata(a, pj->t_b1), *b2 = pdata(a, pj->t_b2);
        for (int j = 0; j < P; j++)
                memcpy(pj->h + (size_t)j * enc, b1, (size_t)enc * sizeof *b1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, enc, td,
                    1.0f, pdata(a, pj->t_e), td, pdata(a, pj->t_w1), td,
                    1.0f, pj->h, enc);
        for (size_t i = 0; i < (size_t)P * enc; i++)
                pj->h[i] = tanhf(pj->h[i]);
        float *out = pj->dout;
        for (int j = 0; j < P; j++)
                memcpy(out + (size_t)j * R, b2, R * sizeof *b2);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, P, (int)R, enc,
                    1.0f, pj->h, enc, pdata(a, pj->t_w2), enc, 1.0f, out,
                    (int)R);
        for (size_t lv = 0; lv < (size_t)pj->L * 2; lv++)
                for (int j = 0; j < P; j++)
                        memcpy(pj->rows + (lv * P + (size_t)j) * kd,
                               out + (size_t)j * R + lv * kd,
                               (size_t)kd * sizeof *out);
}

void
peft_proj_refresh(const socfw_adapter *a, int force)
{
        peft_proj *pj = a ? a->proj : NULL;
        if (!pj)
                return;
        pthread_mutex_lock(&pj->lock);
        if (force || pj->stale) {
                compute(a, pj);
                pj->stale = 0;
        }
        pthread_mutex_unlock(&pj->lock);
}

const float *
peft_proj_rows(const socfw_adapter *a, int l, int value)
{
        const peft_proj *pj = a->proj;
        return pj->rows + ((size_t)l * 2 + (size_t)value) * pj->P * pj->kd;
}

float *
peft_proj_grad(socfw_adapter *a, int l, int value)
{
        peft_proj *pj = a->proj;
        return pj->drows + ((size_t)l * 2 + (size_t)value) * pj->P * pj->kd;
}

/* The rows' gradient (accumulated by the blocks' backward) through the
 * MLP into E, W1, b1, W2, b2 (+=), then cleared; the tensors are about to
 * change, so the next reader recomputes the rows.  Needs H of the forward
 * that backward went through: that forward refreshed it. */
void
peft_proj_backward(socfw_adapter *a)
{
        peft_proj *pj = a ? a->proj : NULL;
        if (!pj)
                return;
        int P = pj->P, enc = pj->enc, td = pj->td, kd = pj->kd;
        size_t R = pj->R;
        float *dout = pj->dout;
        pthread_mutex_lock(&pj->lock);
        for (size_t lv = 0; lv < (size_t)pj->L * 2; lv++)
                for (int j = 0; j < P; j++)
                        memcpy(dout + (size_t)j * R + lv * kd,
                               pj->drows + (lv * P + (size_t)j) * kd,
                               (size_t)kd * sizeof *dout);
        memset(pj->drows, 0, (size_t)P * R * sizeof *pj->drows);
        float *gb2 = pgrad(a, pj->t_b2), *gb1 = pgrad(a, pj->t_b1);
        for (int j = 0; j < P; j++)
                for (size_t i = 0; i < R; i++)
                        gb2[i] += dout[(size_t)j * R + i];
        /* dW2 += dOut^T H;  dH = dOut W2 */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)R, enc, P,
                    1.0f, dout, (int)R, pj->h, enc, 1.0f, pgrad(a, pj->t_w2),
                    enc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, enc,
                    (int)R, 1.0f, dout, (int)R, pdata(a, pj->t_w2), enc, 0.0f,
                    pj->dh, enc);
        for (size_t i = 0; i < (size_t)P * enc; i++)
                pj->dh[i] *= 1.0f - pj->h[i] * pj->h[i];
        for (int j = 0; j < P; j++)
                for (int i = 0; i < enc; i++)
                        gb1[i] += pj->dh[(size_t)j * enc + i];
        /* dW1 += dZ^T E;  dE += dZ W1 */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, enc, td, P, 1.0f,
                    pj->dh, enc, pdata(a, pj->t_e), td, 1.0f,
                    pgrad(a, pj->t_w1), td);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, td, enc,
                    1.0f, pj->dh, enc, pdata(a, pj->t_w1), td, 1.0f,
                    pgrad(a, pj->t_e), td);
        pj->stale = 1;
        pthread_mutex_unlock(&pj->lock);
}

void
socfw_adapter_params_changed(socfw_adapter *a)
{
        if (!a || !a->proj)
                return;
        pthread_mutex_lock(&a->proj->lock);
        a->proj->stale = 1;
        pthread_mutex_unlock(&a->proj->lock);
}

bool
socfw_adapter_prefix_projected(const socfw_adapter *a)
{
        return a && a->proj;
}
