/* attention.c - scaled dot-product attention, forward, backward and the
 * single-query KV-cache variant (see socfw/nn.h). */
#include "socfw/nn.h"
#include "socfw/threads.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(HAVE_CONFIG_H)
#include "config.h"
#endif
#if defined(HAVE_CBLAS_H)
#include <cblas.h>
#define HAVE_OPENBLAS_THREADS 1
#else
#include <openblas/cblas.h>
#define HAVE_OPENBLAS_THREADS 1
#endif

typedef struct {
        const socfw_nn_attn_desc *d;
        int ldq, ldkv, ldo;
        float scale;
        float *out, *att;
        const float *q, *k, *v;
        float *dq, *dk, *dv;
        const float *dout, *catt;
        int oom;
} attn_ctx;

static int
attn_check(const socfw_nn_attn_desc *d, attn_ctx *c)
{
        if (!d || d->B <= 0 || d->T <= 0 || d->Tk <= 0 || d->H <= 0 ||
            d->Hkv <= 0 || d->D <= 0 || d->H % d->Hkv != 0)
                return SOCFW_EINVAL;
        if (d->causal && d->Tk < d->T)
                return SOCFW_EINVAL;
        c->ldq = d->ld_q ? d->ld_q : d->H * d->D;
        c->ldkv = d->ld_kv ? d->ld_kv : d->Hkv * d->D;
        c->ldo = d->ld_out ? d->ld_out : d->H * d->D;
        if (c->ldq < d->H * d->D || c->ldkv < d->Hkv * d->D ||
            c->ldo < d->H * d->D)
                return SOCFW_EINVAL;
        c->scale = d->scale != 0.0f ? d->scale : 1.0f / sqrtf((float)d->D);
        c->d = d;
        return 0;
}

/* Last key index (inclusive) query t may see. */
static inline int
attn_last_key(const socfw_nn_attn_desc *d, int t)
{
        return d->causal ? t + (d->Tk - d->T) : d->Tk - 1;
}

/* Softmax of one score row p[0..n) in place, entries marked -INFINITY are
 * masked; returns 0 if every entry was masked (row set to zeros). */
static inline __attribute__((always_inline)) int
softmax_row(float *p, int n)
{
        float mx = nn_max(p, n);
        if (mx == -INFINITY) {
                memset(p, 0, (size_t)n * sizeof *p);
                return 0;
        }
        for (int j = 0; j < n; j++) {
                /* masked (-inf) entries become exactly 0; integer select
                 * keeps the loop branch-free */
                union { float f; int32_t i; } e = { nn_expf(p[j] - mx) };
                e.i &= -(int32_t)(p[j] != -INFINITY);
                p[j] = e.f;
        }
        float inv = 1.0f / nn_sum(p, n);
        for (int j = 0; j < n; j++)
                p[j] *= inv;
        return 1;
}

/* OpenBLAS is called from inside the pool's threads below, one small
 * sgemm per head; it runs single-threaded (socfw_threads_blas_single: no
 * oversubscription, and a result that does not depend on the thread
 * count). */

/* Work of one (b,h) unit in socfw cost units (~ns): the two products
 * (2 T Tk D madds) and the masked softmax (~4 per score). */
static double
attn_unit_cost(const socfw_nn_attn_desc *d, double products)
{
        double tt = (double)d->T * (double)d->Tk;
        return tt * (products * d->D * (1.0 / 30.0) + 4.0);
}

/* Turn the score block s (T,Tk) of batch row b into probabilities:
 * causal and padding masks, then row softmax. */
NN_CLONES static void
mask_softmax_block(const socfw_nn_attn_desc *d, int b, float *s)
{
        int T = d->T, Tk = d->Tk;
        const int32_t *mask = d->key_mask ? d->key_mask + (size_t)b * Tk : NULL;
        for (int t = 0; t < T; t++) {
                float *p = s + (size_t)t * Tk;
                int n = attn_last_key(d, t) + 1;
                for (int j = n; j < Tk; j++)
                        p[j] = -INFINITY;
                if (mask)
                        for (int j = 0; j < n; j++)
                                if (!mask[j])
                                        p[j] = -INFINITY;
                softmax_row(p, Tk);
        }
}

/* units u = b*H + h: S = scale Q K^T, P = softmax, O = P V (sgemm) */
static void
attn_fw_body(void *vctx, int64_t begin, int64_t end)
{
        attn_ctx *c = vctx;
        const socfw_nn_attn_desc *d = c->d;
        int T = d->T, Tk = d->Tk, H = d->H, D = d->D, G = d->H / d->Hkv;
        float *scratch = NULL;
        if (!c->att) {
                scratch = malloc((size_t)T * Tk * sizeof *scratch);
                if (!scratch) {
                        __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                        return;
                }
        }
        for (int64_t u = begin; u < end; u++) {
                int b = (int)(u / H), h = (int)(u % H), kvh = h / G;
                const float *qb = c->q + (size_t)b * T * c->ldq + (size_t)h * D;
                const float *kb = c->k + (size_t)b * Tk * c->ldkv + (size_t)kvh * D;
                const float *vb = c->v + (size_t)b * Tk * c->ldkv + (size_t)kvh * D;
                float *ob = c->out + (size_t)b * T * c->ldo + (size_t)h * D;
                float *p = c->att ? c->att + (size_t)u * T * Tk : scratch;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, Tk, D,
                            c->scale, qb, c->ldq, kb, c->ldkv, 0.0f, p, Tk);
                mask_softmax_block(d, b, p);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, Tk,
                            1.0f, p, Tk, vb, c->ldkv, 0.0f, ob, c->ldo);
        }
        free(scratch);
}

int
socfw_nn_attention_forward(float *out, float *att, const float *q,
                           const float *k, const float *v,
                           const socfw_nn_attn_desc *d)
{
        attn_ctx c = {0};
        int rc = attn_check(d, &c);
        if (rc < 0)
                return rc;
        c.out = out;
        c.att = att;
        c.q = q;
        c.k = k;
        c.v = v;
        socfw_threads_blas_single();
        socfw_parallel_for_cost((int64_t)d->B * d->H, attn_unit_cost(d, 2.0),
                                attn_fw_body, &c);
        return c.oom ? SOCFW_ENOMEM : 0;
}

/* units u = b*Hkv + kvh: each owns dk/dv of its kv head and dq of the
 * query heads of its group, so no two threads write the same float.
 *   dP = dO V^T, dV += P^T dO, dS = P o (dP - rowsum(P o dP)) * scale,
 *   dQ += dS K, dK += dS^T Q */
static void
attn_bw_body(void *vctx, int64_t begin, int64_t end)
{
        attn_ctx *c = vctx;
        const socfw_nn_attn_desc *d = c->d;
        int T = d->T, Tk = d->Tk, H = d->H, Hkv = d->Hkv, D = d->D;
        int G = H / Hkv;
        float *ds = malloc((size_t)T * Tk * sizeof *ds);
        if (!ds) {
                __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                return;
        }
        for (int64_t u = begin; u < end; u++) {
                int b = (int)(u / Hkv), kvh = (int)(u % Hkv);
                size_t kvoff = (size_t)b * Tk * c->ldkv + (size_t)kvh * D;
                const float *kb = c->k + kvoff, *vb = c->v + kvoff;
                for (int h = kvh * G; h < (kvh + 1) * G; h++) {
                        const float *p = c->catt + ((size_t)b * H + h) * T * Tk;
                        const float *gb = c->dout + (size_t)b * T * c->ldo + (size_t)h * D;
                        size_t qoff = (size_t)b * T * c->ldq + (size_t)h * D;
                        if (c->dv)
                                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                                            Tk, D, T, 1.0f, p, Tk, gb, c->ldo, 1.0f,
                                            c->dv + kvoff, c->ldkv);
                        if (!c->dq && !c->dk)
                                continue;
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, Tk, D,
                                    1.0f, gb, c->ldo, vb, c->ldkv, 0.0f, ds, Tk);
                        for (int t = 0; t < T; t++) {
                                const float *pr = p + (size_t)t * Tk;
                                float *dr = ds + (size_t)t * Tk;
                                float sum = nn_dot(pr, dr, Tk);
                                for (int j = 0; j < Tk; j++)
                                        dr[j] = c->scale * pr[j] * (dr[j] - sum);
                        }
                        if (c->dq)
                                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                            T, D, Tk, 1.0f, ds, Tk, kb, c->ldkv, 1.0f,
                                            c->dq + qoff, c->ldq);
                        if (c->dk)
                                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                                            Tk, D, T, 1.0f, ds, Tk, c->q + qoff, c->ldq,
                                            1.0f, c->dk + kvoff, c->ldkv);
                }
        }
        free(ds);
}

int
socfw_nn_attention_backward(float *dq, float *dk, float *dv,
                            const float *dout, const float *q, const float *k,
                            const float *v, const float *att,
                            const socfw_nn_attn_desc *d)
{
        attn_ctx c = {0};
        int rc = attn_check(d, &c);
        if (rc < 0)
                return rc;
        if (!att || !dout)
                return SOCFW_EINVAL;
        if (!dq && !dk && !dv)
                return 0;
        c.dq = dq;
        c.dk = dk;
        c.dv = dv;
        c.dout = dout;
        c.q = q;
        c.k = k;
        c.v = v;
        c.catt = att;
        socfw_threads_blas_single();
        socfw_parallel_for_cost((int64_t)d->B * d->Hkv,
                                attn_unit_cost(d, 4.0) * (d->H / d->Hkv),
                                attn_bw_body, &c);
        return c.oom ? SOCFW_ENOMEM : 0;
}

/* ---- incremental decoding ----------------------------------------------- */

typedef struct {
        float *out;
        const float *q, *kc, *vc;
        const int32_t *mask;
        int L, Lmax, H, Hkv, D;
        float scale;
        int oom;
} decode_ctx;

/* score rows up to this long live on the stack (no allocation per call) */
#define DECODE_STACK_ROW 2048

NN_CLONES static void
decode_body(void *vctx, int64_t begin, int64_t end)
{
        decode_ctx *c = vctx;
        int H = c->H, D = c->D, L = c->L, G = c->H / c->Hkv;
        size_t ld = (size_t)c->Hkv * D;
        float stack_row[DECODE_STACK_ROW];
        float *p = stack_row;
        if (L > DECODE_STACK_ROW && !(p = malloc((size_t)L * sizeof *p))) {
                __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                return;
        }
        for (int64_t r = begin; r < end; r++) {
                int b = (int)(r / H), h = (int)(r % H);
                const float *qr = c->q + (size_t)r * D;
                size_t base = (size_t)b * c->Lmax * ld + (size_t)(h / G) * D;
                const float *kb = c->kc + base, *vb = c->vc + base;
                const int32_t *mask = c->mask ? c->mask + (size_t)b * L : NULL;
                for (int j = 0; j < L; j++)
                        p[j] = (mask && !mask[j]) ? -INFINITY :
                               c->scale * nn_dot(qr, kb + (size_t)j * ld, D);
                softmax_row(p, L);
                float *o = c->out + (size_t)r * D;
                memset(o, 0, (size_t)D * sizeof *o);
                for (int j = 0; j < L; j++)
                        if (p[j] != 0.0f)
                                nn_axpy(o, p[j], vb + (size_t)j * ld, D);
        }
        if (p != stack_row)
                free(p);
}

int
socfw_nn_attention_decode(float *out, const float *q, const float *kcache,
                          const float *vcache, const int32_t *key_mask, int B,
                          int L, int Lmax, int H, int Hkv, int D, float scale)
{
        if (B <= 0 || L < 1 || L > Lmax || H <= 0 || Hkv <= 0 || D <= 0 ||
            H % Hkv != 0)
                return SOCFW_EINVAL;
        decode_ctx c = { out, q, kcache, vcache, key_mask, L, Lmax, H, Hkv, D,
                         scale != 0.0f ? scale : 1.0f / sqrtf((float)D), 0 };
        socfw_parallel_for_cost((int64_t)B * H, (double)L * (D * 0.5 + 4.0),
                                decode_body, &c);
        return c.oom ? SOCFW_ENOMEM : 0;
}
