/* attention.c - scaled dot-product attention, forward, backward and the
 * single-query KV-cache variant (see socfw/nn.h). */
#include "socfw/nn.h"
#include "socfw/threads.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
static int
softmax_row(float *p, int n)
{
        float mx = -INFINITY;
        for (int j = 0; j < n; j++)
                if (p[j] > mx)
                        mx = p[j];
        if (mx == -INFINITY) {
                memset(p, 0, (size_t)n * sizeof *p);
                return 0;
        }
        float s = 0.0f;
        for (int j = 0; j < n; j++) {
                float e = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
                p[j] = e;
                s += e;
        }
        float inv = 1.0f / s;
        for (int j = 0; j < n; j++)
                p[j] *= inv;
        return 1;
}

/* rows r = ((b*H + h)*T + t) */
static void
attn_fw_body(void *vctx, int64_t begin, int64_t end)
{
        attn_ctx *c = vctx;
        const socfw_nn_attn_desc *d = c->d;
        int T = d->T, Tk = d->Tk, H = d->H, D = d->D, G = d->H / d->Hkv;
        float *scratch = NULL;
        if (!c->att) {
                scratch = malloc((size_t)Tk * sizeof *scratch);
                if (!scratch) {
                        __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                        return;
                }
        }
        for (int64_t r = begin; r < end; r++) {
                int t = (int)(r % T);
                int h = (int)((r / T) % H);
                int b = (int)(r / ((int64_t)T * H));
                int kvh = h / G;
                const float *qr = c->q + ((size_t)b * T + t) * c->ldq + (size_t)h * D;
                const float *kb = c->k + (size_t)b * Tk * c->ldkv + (size_t)kvh * D;
                const float *vb = c->v + (size_t)b * Tk * c->ldkv + (size_t)kvh * D;
                const int32_t *mask = d->key_mask ? d->key_mask + (size_t)b * Tk : NULL;
                float *p = c->att ? c->att + (size_t)r * Tk : scratch;
                int last = attn_last_key(d, t);
                int n = last + 1;
                for (int j = 0; j < n; j++) {
                        if (mask && !mask[j])
                                p[j] = -INFINITY;
                        else
                                p[j] = c->scale * nn_dot(qr, kb + (size_t)j * c->ldkv, D);
                }
                softmax_row(p, n);
                for (int j = n; j < Tk; j++)
                        p[j] = 0.0f;
                float *o = c->out + ((size_t)b * T + t) * c->ldo + (size_t)h * D;
                memset(o, 0, (size_t)D * sizeof *o);
                for (int j = 0; j < n; j++)
                        if (p[j] != 0.0f)
                                nn_axpy(o, p[j], vb + (size_t)j * c->ldkv, D);
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
        int64_t rows = (int64_t)d->B * d->H * d->T;
        socfw_parallel_for_grain(rows, nn_grain((int64_t)d->Tk * d->D * 2),
                                 attn_fw_body, &c);
        return c.oom ? SOCFW_ENOMEM : 0;
}

/* units u = b*Hkv + kvh: each owns dk/dv of its kv head and dq of the
 * query heads of its group, so no two threads write the same float. */
static void
attn_bw_body(void *vctx, int64_t begin, int64_t end)
{
        attn_ctx *c = vctx;
        const socfw_nn_attn_desc *d = c->d;
        int T = d->T, Tk = d->Tk, H = d->H, Hkv = d->Hkv, D = d->D;
        int G = H / Hkv;
        float *dp = malloc((size_t)Tk * sizeof *dp);
        if (!dp) {
                __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                return;
        }
        for (int64_t u = begin; u < end; u++) {
                int b = (int)(u / Hkv), kvh = (int)(u % Hkv);
                size_t kvoff = (size_t)b * Tk * c->ldkv + (size_t)kvh * D;
                const float *kb = c->k + kvoff, *vb = c->v + kvoff;
                float *dkb = c->dk ? c->dk + kvoff : NULL;
                float *dvb = c->dv ? c->dv + kvoff : NULL;
                for (int h = kvh * G; h < (kvh + 1) * G; h++) {
                        for (int t = 0; t < T; t++) {
                                size_t row = ((size_t)b * T + t);
                                const float *p = c->catt + (((size_t)b * H + h) * T + t) * Tk;
                                const float *g = c->dout + row * c->ldo + (size_t)h * D;
                                const float *qr = c->q + row * c->ldq + (size_t)h * D;
                                float *dqr = c->dq ? c->dq + row * c->ldq + (size_t)h * D : NULL;
                                int n = attn_last_key(d, t) + 1;
                                /* dp_j = g . v_j ; dv_j += p_j g */
                                float sum = 0.0f;
                                for (int j = 0; j < n; j++) {
                                        if (p[j] == 0.0f) {
                                                dp[j] = 0.0f;
                                                continue;
                                        }
                                        dp[j] = nn_dot(g, vb + (size_t)j * c->ldkv, D);
                                        sum += p[j] * dp[j];
                                        if (dvb)
                                                nn_axpy(dvb + (size_t)j * c->ldkv, p[j], g, D);
                                }
                                /* ds_j = p_j (dp_j - sum), scores = scale q.k */
                                for (int j = 0; j < n; j++) {
                                        if (p[j] == 0.0f)
                                                continue;
                                        float ds = c->scale * p[j] * (dp[j] - sum);
                                        if (dqr)
                                                nn_axpy(dqr, ds, kb + (size_t)j * c->ldkv, D);
                                        if (dkb)
                                                nn_axpy(dkb + (size_t)j * c->ldkv, ds, qr, D);
                                }
                        }
                }
        }
        free(dp);
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
        socfw_parallel_for((int64_t)d->B * d->Hkv, attn_bw_body, &c);
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

static void
decode_body(void *vctx, int64_t begin, int64_t end)
{
        decode_ctx *c = vctx;
        int H = c->H, D = c->D, L = c->L, G = c->H / c->Hkv;
        size_t ld = (size_t)c->Hkv * D;
        float *p = malloc((size_t)L * sizeof *p);
        if (!p) {
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
        socfw_parallel_for_grain((int64_t)B * H, nn_grain((int64_t)L * D * 2),
                                 decode_body, &c);
        return c.oom ? SOCFW_ENOMEM : 0;
}
