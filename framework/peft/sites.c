/* sites.c - what an adapter computes at one named linear site, forward and
 * backward (the contract is in peft_internal.h, the maths in socfw/peft.h),
 * and by runs of rows when a pass's rows have adapters of their own.
 *
 * Kept per site for backward, in the caller's peft_saved (saved.c), N rows:
 *   LoRA        z = drop(x) A^T (N,r); the dropout mask (N,in) if any
 *   IA3 output  the output before scaling (N,out)
 *   IA3 input   the scaled input the base projection read (N,in)
 *   bottleneck  y before the adapter (N,out), down pre-activation (N,m),
 *               activation (N,m) */
#include "peft/adapter_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "socfw/nn.h"

/* ---- helpers ------------------------------------------------------------ */

static float *
pgrad(socfw_adapter *a, int idx)
{
        return socfw_params_grad(a->ps, idx);
}

static const float *
pdata(const socfw_adapter *a, int idx)
{
        return socfw_params_data(a->ps, idx);
}

/* The buffer of n floats a hook writes what backward needs into: its
 * entry in what pass p keeps, or scratch 0 when p keeps nothing. */
static float *
keep_buf(const peft_pass *p, int l, socfw_site s, size_t n)
{
        peft_saved_site *e = peft_saved_at(p, l, s);
        return e ? peft_grow(&e->p, &e->cap, n) : peft_pass_scratch(p, 0, n);
}

static void
act_fw(socfw_adapter_act k, float *out, const float *in, size_t n)
{
        switch (k) {
        case SOCFW_ADAPTER_ACT_RELU:
                for (size_t i = 0; i < n; i++)
                        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
                break;
        case SOCFW_ADAPTER_ACT_GELU:
                socfw_nn_gelu_forward(out, in, n);
                break;
        case SOCFW_ADAPTER_ACT_SILU:
                socfw_nn_silu_forward(out, in, n);
                break;
        }
}

/* din = act'(in) * dout (written, not accumulated) */
static void
act_bw(socfw_adapter_act k, float *din, const float *in, const float *dout,
       size_t n)
{
        switch (k) {
        case SOCFW_ADAPTER_ACT_RELU:
                for (size_t i = 0; i < n; i++)
                        din[i] = in[i] > 0.0f ? dout[i] : 0.0f;
                return;
        case SOCFW_ADAPTER_ACT_GELU:
                memset(din, 0, n * sizeof *din);
                socfw_nn_gelu_backward(din, in, dout, n);
                return;
        case SOCFW_ADAPTER_ACT_SILU:
                memset(din, 0, n * sizeof *din);
                socfw_nn_silu_backward(din, in, dout, n);
                return;
        }
}

int
peft_hooks_in(const socfw_adapter *a, int l, socfw_site s)
{
        return a && a->cfg.type == SOCFW_ADAPTER_IA3 &&
               s == SOCFW_SITE_MLP_DOWN && socfw_adapter_has(a, l, s);
}

int
peft_hooks_out(const socfw_adapter *a, int l, socfw_site s)
{
        return a && a->cfg.type != SOCFW_ADAPTER_PREFIX &&
               socfw_adapter_has(a, l, s) && !peft_hooks_in(a, l, s);
}

/* ---- forward ------------------------------------------------------------ */

/* (IA)3 at a feed-forward input: xs (N,in) = x * l, row by row */
static void
ia3_scale_rows(const socfw_adapter *a, int l, socfw_site s, float *xs,
               const float *x, int N, int in)
{
        const float *lv = pdata(a, peft_slot_of(a, l, s)->t[0]);
        for (int i = 0; i < N; i++)
                for (int j = 0; j < in; j++)
                        xs[(size_t)i * in + j] = x[(size_t)i * in + j] * lv[j];
}

const float *
peft_in_forward(socfw_adapter *a, int l, socfw_site s, const float *x,
                int in, const peft_pass *p)
{
        if (!peft_hooks_in(a, l, s))
                return x;
        float *xs = keep_buf(p, l, s, (size_t)p->N * (size_t)in);
        if (!xs)
                return NULL;
        ia3_scale_rows(a, l, s, xs, x, p->N, in);
        peft_saved_site *e = peft_saved_at(p, l, s);
        if (e)
                e->n = p->N;
        return xs;
}

/* The A the product uses: A itself, or AdaLoRA's A o E (each row k
 * scaled by the singular value E[k]) in scratch 3. */
static const float *
lora_a(socfw_adapter *a, const peft_slot *sl, int in, const peft_pass *p)
{
        const float *A = pdata(a, sl->t[0]);
        if (a->cfg.type != SOCFW_ADAPTER_ADALORA)
                return A;
        int r = a->cfg.rank;
        const float *E = pdata(a, sl->t[2]);
        float *Ae = peft_pass_scratch(p, 3, (size_t)r * in);
        if (!Ae)
                return NULL;
        for (int k = 0; k < r; k++)
                for (int i = 0; i < in; i++)
                        Ae[(size_t)k * in + i] = A[(size_t)k * in + i] * E[k];
        return Ae;
}

static int
lora_forward(socfw_adapter *a, int l, socfw_site s, const float *x, float *y,
             int ldy, int in, int out, const peft_pass *p)
{
        const peft_slot *sl = peft_slot_of(a, l, s);
        peft_saved_site *e = peft_saved_at(p, l, s);
        int N = p->N, r = a->cfg.rank;
        float drop = p->training ? a->cfg.dropout : 0.0f;
        const float *A = lora_a(a, sl, in, p), *B = pdata(a, sl->t[1]);
        if (!A)
                return SOCFW_ENOMEM;
        size_t nr = (size_t)N * r, nin = (size_t)N * in;
        float *z = keep_buf(p, l, s, nr);
        if (!z)
                return SOCFW_ENOMEM;
        const float *xin = x;
        if (drop > 0.0f) {      /* the mask is kept: a training pass keeps */
                float *xd = peft_pass_scratch(p, 1, nin);
                if (!xd || !p->rng || !e)
                        return xd ? SOCFW_EINVAL : SOCFW_ENOMEM;
                if (!peft_grow_bytes((void **)&e->mask, &e->mask_cap, nin,
                                     1))
                        return SOCFW_ENOMEM;
                int rc = socfw_nn_dropout_forward(xd, e->mask, x, nin, drop,
                                                  p->rng);
                if (rc < 0)
                        return rc;
                xin = xd;
        }
        /* z (N,r) = xin (N,in) A^T;  y (N,out) += s z B^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, in, 1.0f,
                    xin, in, A, in, 0.0f, z, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, r,
                    a->scale, z, r, B, r, 1.0f, y, ldy);
        if (e)
                e->drop = drop;
        return 0;
}

static int
ia3_out_forward(socfw_adapter *a, int l, socfw_site s, float *y, int ldy,
                int out, const peft_pass *p)
{
        const float *lv = pdata(a, peft_slot_of(a, l, s)->t[0]);
        peft_saved_site *e = peft_saved_at(p, l, s);
        float *pre = NULL;      /* only backward reads it */
        if (e && !(pre = peft_grow(&e->p, &e->cap, (size_t)p->N * out)))
                return SOCFW_ENOMEM;
        for (int i = 0; i < p->N; i++) {
                float *row = y + (size_t)i * ldy;
                if (pre)
                        memcpy(pre + (size_t)i * out, row,
                               (size_t)out * sizeof *row);
                for (int j = 0; j < out; j++)
                        row[j] *= lv[j];
        }
        return 0;
}

static int
bottleneck_forward(socfw_adapter *a, int l, socfw_site s, float *y, int ldy,
                   int out, const peft_pass *p)
{
        const peft_slot *sl = peft_slot_of(a, l, s);
        int N = p->N, m = sl->mid;
        size_t no = (size_t)N * out, nm = (size_t)N * m;
        float *buf = keep_buf(p, l, s, no + 2 * nm);
        if (!buf)
                return SOCFW_ENOMEM;
        float *pre = buf, *h = buf + no, *act = buf + no + nm;
        for (int i = 0; i < N; i++)
                memcpy(pre + (size_t)i * out, y + (size_t)i * ldy,
                       (size_t)out * sizeof *y);
        /* h (N,m) = pre Wd^T + bd;  y += act(h) Wu^T + bu */
        socfw_nn_linear_forward(h, pre, pdata(a, sl->t[0]),
                                pdata(a, sl->t[1]), N, out, m);
        act_fw(a->cfg.act, act, h, nm);
        const float *bu = pdata(a, sl->t[3]);
        for (int i = 0; i < N; i++)
                for (int j = 0; j < out; j++)
                        y[(size_t)i * ldy + j] += bu[j];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, m, 1.0f,
                    act, m, pdata(a, sl->t[2]), m, 1.0f, y, ldy);
        return 0;
}

int
peft_out_forward(socfw_adapter *a, int l, socfw_site s, const float *x,
                 float *y, int ldy, int in, int out, const peft_pass *p)
{
        if (!peft_hooks_out(a, l, s))
                return 0;
        peft_saved_site *e = peft_saved_at(p, l, s);
        int rc = 0;
        if (e)
                e->n = 0;
        switch (a->cfg.type) {
        case SOCFW_ADAPTER_LORA:
        case SOCFW_ADAPTER_ADALORA:
                rc = lora_forward(a, l, s, x, y, ldy, in, out, p);
                break;
        case SOCFW_ADAPTER_IA3:
                rc = ia3_out_forward(a, l, s, y, ldy, out, p);
                break;
        case SOCFW_ADAPTER_BOTTLENECK:
                rc = bottleneck_forward(a, l, s, y, ldy, out, p);
                break;
        case SOCFW_ADAPTER_PREFIX:      /* in attention, block.c */
        case SOCFW_ADAPTER_PROMPT:      /* before the blocks, forward.c */
        case SOCFW_ADAPTER_NONE:
                break;
        }
        if (rc == 0 && e)
                e->n = p->N;
        return rc;
}

/* ---- rows of several adapters ------------------------------------------ */

const float *
peft_runs_in_forward(const peft_run *r, int n, int l, socfw_site s,
                     const float *x, int in, const peft_pass *p)
{
        if (n == 1)     /* one adapter over every row */
                return peft_in_forward(r[0].a, l, s, x, in, p);
        socfw_adapter *hook = NULL;
        for (int i = 0; i < n && !hook; i++)
                if (peft_hooks_in(r[i].a, l, s))
                        hook = r[i].a;
        if (!hook)
                return x;
        /* the frozen projection reads each run's input as its adapter
         * scales it (or as it is): one buffer of the pass's rows, in the
         * caller's scratch (peft_runs_out_forward's runs reuse it after
         * the projection has read it) */
        float *xs = peft_pass_scratch(p, 0, (size_t)p->N * in);
        if (!xs)
                return NULL;
        for (int i = 0; i < n; i++) {
                size_t at = (size_t)r[i].row0 * in;
                if (peft_hooks_in(r[i].a, l, s))
                        ia3_scale_rows(r[i].a, l, s, xs + at, x + at,
                                       r[i].rows, in);
                else
                        memcpy(xs + at, x + at,
                               (size_t)r[i].rows * in * sizeof *xs);
        }
        return xs;
}

int
peft_runs_out_forward(const peft_run *r, int n, int l, socfw_site s,
                      const float *x, float *y, int ldy, int in, int out,
                      const peft_pass *p)
{
        for (int i = 0; i < n; i++) {
                peft_pass sub = *p;
                sub.N = r[i].rows;
                int rc = peft_out_forward(r[i].a, l, s,
                                          x + (size_t)r[i].row0 * in,
                                          y + (size_t)r[i].row0 * ldy, ldy,
                                          in, out, &sub);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* ---- backward ----------------------------------------------------------- */

static int
lora_backward(socfw_adapter *a, const peft_slot *sl,
              const peft_saved_site *e, const float *x, const float *dy,
              int ldy, float *dx, int in, int out, const peft_pass *p)
{
        int N = p->N, r = a->cfg.rank;
        int ada = a->cfg.type == SOCFW_ADAPTER_ADALORA;
        float s = a->scale, drop = e->drop;
        const float *A = lora_a(a, sl, in, p), *B = pdata(a, sl->t[1]);
        float *dA = pgrad(a, sl->t[0]), *dB = pgrad(a, sl->t[1]);
        const float *z = e->p;
        size_t nin = (size_t)N * in;
        float *dz = peft_pass_scratch(p, 0, (size_t)N * r);
        /* AdaLoRA: the gradient of A o E first, then split into A and E */
        float *dAe = ada ? peft_pass_scratch(p, 2, (size_t)r * in) : NULL;
        if (!dz || !A || (ada && !dAe))
                return SOCFW_ENOMEM;
        if (ada)
                memset(dAe, 0, (size_t)r * in * sizeof *dAe);
        /* dB (out,r) += s dy^T z;  dz (N,r) = s dy B */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, r, N, s, dy,
                    ldy, z, r, 1.0f, dB, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, out, s,
                    dy, ldy, B, r, 0.0f, dz, r);
        const float *xin = x;
        if (drop > 0.0f) {      /* the input A saw: x * mask / (1-p) */
                float *xd = peft_pass_scratch(p, 1, nin);
                if (!xd)
                        return SOCFW_ENOMEM;
                float k = 1.0f / (1.0f - drop);
                for (size_t i = 0; i < nin; i++)
                        xd[i] = e->mask[i] ? x[i] * k : 0.0f;
                xin = xd;
        }
        /* dA (r,in) += dz^T xin */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, in, N, 1.0f,
                    dz, r, xin, in, 1.0f, ada ? dAe : dA, in);
        if (ada) {      /* d(A o E): dA += . o E, dE += rowsum(. o A) */
                const float *A0 = pdata(a, sl->t[0]), *E = pdata(a, sl->t[2]);
                float *dE = pgrad(a, sl->t[2]);
                for (int k = 0; k < r; k++) {
                        double acc = 0.0;
                        for (int i = 0; i < in; i++) {
                                size_t j = (size_t)k * in + i;
                                dA[j] += dAe[j] * E[k];
                                acc += (double)dAe[j] * A0[j];
                        }
                        dE[k] += (float)acc;
                }
        }
        if (!dx)
                return 0;
        if (drop <= 0.0f) {     /* dx += dz A */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in,
                            r, 1.0f, dz, r, A, in, 1.0f, dx, in);
                return 0;
        }
        float *t = peft_pass_scratch(p, 1, nin);
        if (!t)
                return SOCFW_ENOMEM;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, r, 1.0f,
                    dz, r, A, in, 0.0f, t, in);
        socfw_nn_dropout_backward(dx, t, e->mask, nin, drop);
        return 0;
}

static void
ia3_out_backward(socfw_adapter *a, const peft_slot *sl,
                 const peft_saved_site *e, float *dy, int ldy, int out, int N)
{
        const float *lv = pdata(a, sl->t[0]), *pre = e->p;
        float *dl = pgrad(a, sl->t[0]);
        for (int i = 0; i < N; i++) {
                float *row = dy + (size_t)i * ldy;
                const float *pr = pre + (size_t)i * out;
                for (int j = 0; j < out; j++) {
                        dl[j] += pr[j] * row[j];
                        row[j] *= lv[j];
                }
        }
}

static int
bottleneck_backward(socfw_adapter *a, const peft_slot *sl,
                    const peft_saved_site *e, float *dy, int ldy, int out,
                    const peft_pass *p)
{
        int N = p->N, m = sl->mid;
        size_t no = (size_t)N * out, nm = (size_t)N * m;
        const float *pre = e->p, *h = e->p + no, *act = e->p + no + nm;
        const float *Wd = pdata(a, sl->t[0]), *Wu = pdata(a, sl->t[2]);
        float *dWd = pgrad(a, sl->t[0]), *dbd = pgrad(a, sl->t[1]);
        float *dWu = pgrad(a, sl->t[2]), *dbu = pgrad(a, sl->t[3]);
        float *da = peft_pass_scratch(p, 0, 2 * nm);
        if (!da)
                return SOCFW_ENOMEM;
        float *dh = da + nm;
        for (int i = 0; i < N; i++)
                for (int j = 0; j < out; j++)
                        dbu[j] += dy[(size_t)i * ldy + j];
        /* dWu (out,m) += dy^T act;  da (N,m) = dy Wu */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, m, N, 1.0f,
                    dy, ldy, act, m, 1.0f, dWu, m);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, m, out,
                    1.0f, dy, ldy, Wu, m, 0.0f, da, m);
        act_bw(a->cfg.act, dh, h, da, nm);
        for (int i = 0; i < N; i++)
                for (int j = 0; j < m; j++)
                        dbd[j] += dh[(size_t)i * m + j];
        /* dWd (m,out) += dh^T pre;  dy += dh Wd */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, out, N, 1.0f,
                    dh, m, pre, out, 1.0f, dWd, out);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, out, m,
                    1.0f, dh, m, Wd, out, 1.0f, dy, ldy);
        return 0;
}

/* What p->keep holds of (l, s) when it is a forward of `a` over p->N
 * rows, else NULL. */
static const peft_saved_site *
kept(const socfw_adapter *a, int l, socfw_site s, const peft_pass *p)
{
        const peft_saved_site *e = peft_saved_at(p, l, s);
        return e && p->keep->a == a && e->n == p->N ? e : NULL;
}

int
peft_out_backward(socfw_adapter *a, int l, socfw_site s, const float *x,
                  float *dy, int ldy, float *dx, int in, int out,
                  const peft_pass *p)
{
        if (!peft_hooks_out(a, l, s))
                return 0;
        const peft_slot *sl = peft_slot_of(a, l, s);
        const peft_saved_site *e = kept(a, l, s, p);
        if (!e)
                return SOCFW_ESTATE;
        switch (a->cfg.type) {
        case SOCFW_ADAPTER_LORA:
        case SOCFW_ADAPTER_ADALORA:
                return lora_backward(a, sl, e, x, dy, ldy, dx, in, out, p);
        case SOCFW_ADAPTER_IA3:
                ia3_out_backward(a, sl, e, dy, ldy, out, p->N);
                return 0;
        case SOCFW_ADAPTER_BOTTLENECK:
                return bottleneck_backward(a, sl, e, dy, ldy, out, p);
        case SOCFW_ADAPTER_PREFIX:
        case SOCFW_ADAPTER_PROMPT:
        case SOCFW_ADAPTER_NONE:
                break;
        }
        return 0;
}

void
peft_in_backward(socfw_adapter *a, int l, socfw_site s, const float *x,
                 float *dx, int in, int N)
{
        if (!peft_hooks_in(a, l, s))
                return;
        peft_slot *sl = peft_slot_of(a, l, s);
        const float *lv = pdata(a, sl->t[0]);
        float *dl = pgrad(a, sl->t[0]);
        for (int i = 0; i < N; i++) {
                float *row = dx + (size_t)i * in;
                const float *xr = x + (size_t)i * in;
                for (int j = 0; j < in; j++) {
                        dl[j] += xr[j] * row[j];
                        row[j] *= lv[j];
                }
        }
}

const float *
peft_in_saved(const socfw_adapter *a, int l, socfw_site s, const float *x,
              const peft_pass *p)
{
        if (!peft_hooks_in(a, l, s))
                return x;
        const peft_saved_site *e = kept(a, l, s, p);
        return e ? e->p : NULL;
}
