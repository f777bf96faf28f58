/* rope.c - rotary position embedding, both pair conventions
 * (see socfw/nn.h). */
#include "socfw/nn.h"
#include "socfw/threads.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
        const socfw_nn_rope_desc *d;
        float *x;
        int ld, R;
        const float *freq;      /* (R/2) */
        const float *table;     /* (T, R) cos then sin, or NULL */
        float sign;             /* +1 forward, -1 backward */
        int oom;
} rope_ctx;

static void
rotate_token(float *x, int H, int D, int R, socfw_nn_rope_mode mode,
             const float *cs, const float *sn, float sign)
{
        int half = R / 2;
        for (int h = 0; h < H; h++) {
                float *xh = x + (size_t)h * D;
                for (int i = 0; i < half; i++) {
                        int i0, i1;
                        if (mode == SOCFW_NN_ROPE_INTERLEAVED) {
                                i0 = 2 * i;
                                i1 = 2 * i + 1;
                        } else {
                                i0 = i;
                                i1 = i + half;
                        }
                        float c = cs[i], s = sign * sn[i];
                        float a = xh[i0], b = xh[i1];
                        xh[i0] = a * c - b * s;
                        xh[i1] = a * s + b * c;
                }
        }
}

static void
fill_cos_sin(float *cs, float *sn, int half, const float *freq, int pos)
{
        for (int i = 0; i < half; i++) {
                float ang = (float)pos * freq[i];
                cs[i] = (float)cos((double)ang);
                sn[i] = (float)sin((double)ang);
        }
}

static void
rope_body(void *vctx, int64_t begin, int64_t end)
{
        rope_ctx *c = vctx;
        const socfw_nn_rope_desc *d = c->d;
        int half = c->R / 2;
        float *buf = NULL;
        if (!c->table) {
                buf = malloc((size_t)c->R * sizeof *buf);
                if (!buf) {
                        __atomic_store_n(&c->oom, 1, __ATOMIC_RELAXED);
                        return;
                }
        }
        for (int64_t r = begin; r < end; r++) {
                int t = (int)(r % d->T);
                const float *cs, *sn;
                if (c->table) {
                        cs = c->table + (size_t)t * c->R;
                        sn = cs + half;
                } else {
                        fill_cos_sin(buf, buf + half, half, c->freq, d->pos[r]);
                        cs = buf;
                        sn = buf + half;
                }
                rotate_token(c->x + (size_t)r * c->ld, d->H, d->D, c->R,
                             d->mode, cs, sn, c->sign);
        }
        free(buf);
}

static int
rope_run(float *x, const socfw_nn_rope_desc *d, float sign)
{
        if (!d || !x || d->B <= 0 || d->T <= 0 || d->H <= 0 || d->D <= 0)
                return SOCFW_EINVAL;
        int R = d->rot_dim ? d->rot_dim : d->D;
        int ld = d->ld ? d->ld : d->H * d->D;
        if (R <= 0 || R % 2 != 0 || R > d->D || ld < d->H * d->D)
                return SOCFW_EINVAL;
        if (d->mode != SOCFW_NN_ROPE_INTERLEAVED && d->mode != SOCFW_NN_ROPE_HALF)
                return SOCFW_EINVAL;
        if (!d->inv_freq && !(d->theta > 0.0f))
                return SOCFW_EINVAL;
        if (!d->pos && d->pos0 < 0)
                return SOCFW_EINVAL;
        int half = R / 2;
        int rc = 0;
        float *freq = malloc((size_t)half * sizeof *freq);
        float *table = NULL;
        if (!freq)
                return SOCFW_ENOMEM;
        for (int i = 0; i < half; i++)
                freq[i] = d->inv_freq ? d->inv_freq[i] :
                          (float)(1.0 / pow((double)d->theta, (double)(2 * i) / R));
        if (!d->pos) {
                table = malloc((size_t)d->T * R * sizeof *table);
                if (!table) {
                        rc = SOCFW_ENOMEM;
                        goto out;
                }
                for (int t = 0; t < d->T; t++)
                        fill_cos_sin(table + (size_t)t * R,
                                     table + (size_t)t * R + half, half, freq,
                                     d->pos0 + t);
        }
        rope_ctx c = { d, x, ld, R, freq, table, sign, 0 };
        socfw_parallel_for_grain((int64_t)d->B * d->T,
                                 nn_grain((int64_t)d->H * R * 2), rope_body, &c);
        if (c.oom)
                rc = SOCFW_ENOMEM;
out:
        free(table);
        free(freq);
        return rc;
}

int
socfw_nn_rope_forward(float *x, const socfw_nn_rope_desc *d)
{
        return rope_run(x, d, 1.0f);
}

int
socfw_nn_rope_backward(float *dx, const socfw_nn_rope_desc *d)
{
        return rope_run(dx, d, -1.0f);
}
