/* xent.c - fused softmax cross-entropy (see socfw/nn.h). */
#include "socfw/nn.h"
#include "socfw/threads.h"
#include "nn_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
        double *rowloss;
        float *dlogits;
        const float *logits;
        const int32_t *targets;
        const float *w;         /* class weights or NULL */
        int V, ignore;
        double eps, wsum, gscale_over_denom;
} xent_ctx;

NN_CLONES static void
xent_body(void *vctx, int64_t begin, int64_t end)
{
        xent_ctx *c = vctx;
        int V = c->V;
        for (int64_t i = begin; i < end; i++) {
                const float *z = c->logits + (size_t)i * V;
                float *d = c->dlogits ? c->dlogits + (size_t)i * V : NULL;
                int t = c->targets[i];
                if (t == c->ignore) {
                        c->rowloss[i] = 0.0;
                        if (d)
                                for (int k = 0; k < V; k++)
                                        d[k] = 0.0f;
                        continue;
                }
                double a = (1.0 - c->eps) * (c->w ? c->w[t] : 1.0);
                double e = c->eps / V;
                /* pass 1: max, and sum_k w_k z_k when smoothing (read z
                 * before any write: d may alias z) */
                float mx = nn_max(z, V);
                double wz = 0.0;
                if (e != 0.0)
                        for (int k = 0; k < V; k++)
                                wz += (c->w ? c->w[k] : 1.0) * z[k];
                float zt = z[t];
                /* pass 2: exponentials (kept in d when there is one) */
                double s;
                if (d) {
                        for (int k = 0; k < V; k++)
                                d[k] = nn_expf(z[k] - mx);
                        s = nn_sum(d, V);
                } else {
                        float blk[256];
                        s = 0.0;
                        for (int k0 = 0; k0 < V; k0 += 256) {
                                int m = V - k0 < 256 ? V - k0 : 256;
                                for (int k = 0; k < m; k++)
                                        blk[k] = nn_expf(z[k0 + k] - mx);
                                s += nn_sum(blk, m);
                        }
                }
                double lse = mx + log(s);
                double nll = lse - zt;
                /* sum_k w_k (-logp_k) = W lse - sum_k w_k z_k */
                double smooth = c->wsum * lse - wz;
                /* pass 3: d = g * ((1-eps) w_t (p - onehot) + eps/V (W p - w)) */
                if (d) {
                        float inv = (float)(1.0 / s);
                        float fa = (float)(c->gscale_over_denom * (a + e * c->wsum)) * inv;
                        float fe = (float)(c->gscale_over_denom * e);
                        if (c->w)
                                for (int k = 0; k < V; k++)
                                        d[k] = fa * d[k] - fe * c->w[k];
                        else
                                for (int k = 0; k < V; k++)
                                        d[k] = fa * d[k] - fe;
                        d[t] -= (float)(c->gscale_over_denom * a);
                }
                c->rowloss[i] = a * nll + e * smooth;
        }
}

int
socfw_nn_cross_entropy_forward_backward(float *loss, float *losses,
                                        float *dlogits, const float *logits,
                                        const int32_t *targets, int N, int V,
                                        const socfw_nn_xent_opts *opts,
                                        socfw_error *err)
{
        static const socfw_nn_xent_opts defaults = SOCFW_NN_XENT_OPTS_INIT;
        const socfw_nn_xent_opts *o = opts ? opts : &defaults;
        int rc = 0;
        double *rowloss = NULL;

        if (N < 0 || V <= 0 || !targets || !logits)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "cross_entropy: bad dims N=%d V=%d", N, V);
        if (!(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "cross_entropy: label_smoothing %g is outside [0,1]",
                                       (double)o->label_smoothing);
        /* validate targets and compute the denominator, in row order */
        double denom = 0.0;
        for (int i = 0; i < N; i++) {
                int t = targets[i];
                if (t == o->ignore_index)
                        continue;
                if (t < 0 || t >= V)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "cross_entropy: target %d at row %d is "
                                               "outside [0,%d); hint: label ids must "
                                               "index the logits, or use %d to ignore "
                                               "a row", t, i, V, o->ignore_index);
                denom += o->class_weights ? o->class_weights[t] : 1.0;
        }
        double wsum = 0.0;
        if (o->class_weights)
                for (int k = 0; k < V; k++)
                        wsum += o->class_weights[k];
        else
                wsum = V;

        rowloss = malloc(((size_t)N + 1) * sizeof *rowloss);
        if (!rowloss) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "cross_entropy: out of memory (%d rows)", N);
                goto out;
        }
        xent_ctx c = { rowloss, dlogits, logits, targets, o->class_weights, V,
                       o->ignore_index, o->label_smoothing, wsum,
                       denom != 0.0 ? (double)o->grad_scale / denom : 0.0 };
        socfw_parallel_for_grain(N, nn_grain((int64_t)V * 4), xent_body, &c);
        double total = 0.0;
        for (int i = 0; i < N; i++) {
                total += rowloss[i];
                if (losses)
                        losses[i] = (float)rowloss[i];
        }
        if (loss)
                *loss = denom != 0.0 ? (float)(total / denom) : 0.0f;
out:
        free(rowloss);
        return rc;
}
