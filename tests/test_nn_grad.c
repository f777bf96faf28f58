/* tests/test_nn_grad.c - finite-difference gradient check of every
 * kernel's backward (central differences on d(sum(out*dout))/d(input)).
 * Gradient buffers start at NN_GRAD_PRELOAD, so each check also proves
 * that backward accumulates (+=) instead of overwriting. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/nn.h"
#include "socfw/rng.h"
#include "test_nn_util.h"

#define EPS 1e-3f
#define ATOL 3e-3
#define RTOL 2e-2

static float *
rnd_buf(size_t n, float scale, socfw_rng *rng)
{
        float *x = malloc((n ? n : 1) * sizeof *x);
        cr_assert_not_null(x);
        nn_fill_normal(x, n, scale, rng);
        return x;
}

static float *
grad_buf(size_t n)
{
        float *g = malloc((n ? n : 1) * sizeof *g);
        cr_assert_not_null(g);
        nn_fill_const(g, n, NN_GRAD_PRELOAD);
        return g;
}

/* ---- embedding / positional ---------------------------------------------- */

typedef struct {
        float *out, *table, *wpe, *base;
        int32_t *ids;
        int N, V, C, B, T, pos0, maxT;
} emb_ctx;

static void
emb_fw(void *v)
{
        emb_ctx *c = v;
        memcpy(c->out, c->base, (size_t)c->N * c->C * sizeof(float));
        socfw_nn_embedding_add_forward(c->out, c->ids, c->table, c->N, c->V, c->C);
        socfw_nn_positional_forward(c->out, c->wpe, c->B, c->T, c->C, c->pos0, c->maxT);
}

Test(nn_grad, embedding_and_positional)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        int32_t ids[6] = { 3, 1, 3, 0, 4, 3 };  /* repeated ids accumulate */
        emb_ctx c = { .N = 6, .V = 5, .C = 4, .B = 2, .T = 3, .pos0 = 2, .maxT = 7,
                      .ids = ids };
        c.out = rnd_buf(24, 1, &rng);
        c.base = rnd_buf(24, 1, &rng);
        c.table = rnd_buf(20, 1, &rng);
        c.wpe = rnd_buf(28, 1, &rng);
        float *dout = rnd_buf(24, 1, &rng), *dtab = grad_buf(20), *dwpe = grad_buf(28);
        emb_fw(&c);
        socfw_nn_embedding_backward(dtab, dout, ids, c.N, c.V, c.C);
        socfw_nn_positional_backward(dwpe, dout, c.B, c.T, c.C, c.pos0);
        nn_unpreload(dtab, 20);
        nn_unpreload(dwpe, 28);
        nn_fd_check("dtable", &c, emb_fw, c.out, dout, 24, c.table, 20, dtab, EPS, ATOL, RTOL);
        nn_fd_check("dwpe", &c, emb_fw, c.out, dout, 24, c.wpe, 28, dwpe, EPS, ATOL, RTOL);
        /* unused rows get nothing */
        for (int i = 0; i < 4; i++)
                cr_assert_eq(dtab[2 * 4 + i], 0.0f);
        free(c.out); free(c.base); free(c.table); free(c.wpe); free(dout); free(dtab);
        free(dwpe);
}

Test(nn_grad, embedding_forward_rows_and_bad_ids)
{
        float table[6] = { 1, 2, 3, 4, 5, 6 };  /* V=3, C=2 */
        int32_t ids[3] = { 2, 0, 7 };
        float out[6];
        cr_assert_eq(socfw_nn_embedding_forward(out, ids, table, 2, 3, 2), 0);
        cr_assert_eq(out[0], 5.0f);
        cr_assert_eq(out[1], 6.0f);
        cr_assert_eq(out[2], 1.0f);
        cr_assert_eq(out[3], 2.0f);
        nn_fill_const(out, 6, 9.0f);
        cr_assert_eq(socfw_nn_embedding_forward(out, ids, table, 3, 3, 2), SOCFW_EINVAL);
        cr_assert_eq(out[4], 0.0f, "bad id row must be zeroed");
        cr_assert_eq(out[0], 5.0f, "good rows still computed");
        int32_t neg[1] = { -1 };
        cr_assert_eq(socfw_nn_embedding_forward(out, neg, table, 1, 3, 2), SOCFW_EINVAL);
        float wpe[4] = { 0 };
        cr_assert_eq(socfw_nn_positional_forward(out, wpe, 1, 2, 2, 1, 2), SOCFW_EINVAL,
                     "pos0 + T > maxT must fail");
}

/* ---- matmul ------------------------------------------------------------- */

typedef struct {
        float *out, *x, *w, *b;
        int N, C, OC;
        socfw_nn_wlayout layout;
} mm_ctx;

static void
mm_fw(void *v)
{
        mm_ctx *c = v;
        socfw_nn_matmul_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC, c->layout);
}

static void
check_mm(socfw_nn_wlayout layout)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 2 + layout);
        mm_ctx c = { .N = 5, .C = 7, .OC = 3, .layout = layout };
        size_t nx = 35, nw = 21, no = 15;
        c.x = rnd_buf(nx, 1, &rng);
        c.w = rnd_buf(nw, 1, &rng);
        c.b = rnd_buf(3, 1, &rng);
        c.out = rnd_buf(no, 1, &rng);
        float *dout = rnd_buf(no, 1, &rng);
        float *dx = grad_buf(nx), *dw = grad_buf(nw), *db = grad_buf(3);
        mm_fw(&c);
        socfw_nn_matmul_backward(dx, dw, db, dout, c.x, c.w, c.N, c.C, c.OC, layout);
        nn_unpreload(dx, nx);
        nn_unpreload(dw, nw);
        nn_unpreload(db, 3);
        nn_fd_check("dx", &c, mm_fw, c.out, dout, no, c.x, nx, dx, EPS, ATOL, RTOL);
        nn_fd_check("dw", &c, mm_fw, c.out, dout, no, c.w, nw, dw, EPS, ATOL, RTOL);
        nn_fd_check("db", &c, mm_fw, c.out, dout, no, c.b, 3, db, EPS, ATOL, RTOL);
        /* NULL gradients are skipped */
        float *dx2 = grad_buf(nx);
        socfw_nn_matmul_backward(dx2, NULL, NULL, dout, c.x, c.w, c.N, c.C, c.OC, layout);
        nn_unpreload(dx2, nx);
        nn_assert_close("dx only", dx2, dx, nx, 1e-6, 1e-5);
        free(c.x); free(c.w); free(c.b); free(c.out); free(dout); free(dx); free(dw);
        free(db); free(dx2);
}

Test(nn_grad, matmul_out_in)
{
        check_mm(SOCFW_NN_W_OUT_IN);
}

Test(nn_grad, matmul_in_out)
{
        check_mm(SOCFW_NN_W_IN_OUT);
}

/* ---- norms -------------------------------------------------------------- */

typedef struct {
        float *out, *x, *w, *b, *mean, *rstd;
        int N, C, rms;
} norm_ctx;

static void
norm_fw(void *v)
{
        norm_ctx *c = v;
        if (c->rms)
                socfw_nn_rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
        else
                socfw_nn_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b,
                                           c->N, c->C, 1e-5f);
}

static void
check_norm(int rms, int affine)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 10 + rms);
        norm_ctx c = { .N = 4, .C = 6, .rms = rms };
        size_t n = 24;
        c.x = rnd_buf(n, 1, &rng);
        c.w = affine ? rnd_buf(6, 1, &rng) : NULL;
        c.b = affine ? rnd_buf(6, 1, &rng) : NULL;
        c.out = rnd_buf(n, 1, &rng);
        c.mean = rnd_buf(4, 1, &rng);
        c.rstd = rnd_buf(4, 1, &rng);
        float *dout = rnd_buf(n, 1, &rng), *dx = grad_buf(n), *dw = grad_buf(6),
              *db = grad_buf(6);
        norm_fw(&c);
        if (rms)
                socfw_nn_rmsnorm_backward(dx, affine ? dw : NULL, dout, c.x, c.w, c.rstd,
                                          c.N, c.C);
        else
                socfw_nn_layernorm_backward(dx, affine ? dw : NULL, affine ? db : NULL, dout,
                                            c.x, c.w, c.mean, c.rstd, c.N, c.C);
        nn_unpreload(dx, n);
        nn_fd_check("dx", &c, norm_fw, c.out, dout, n, c.x, n, dx, EPS, ATOL, RTOL);
        if (affine) {
                nn_unpreload(dw, 6);
                nn_fd_check("dw", &c, norm_fw, c.out, dout, n, c.w, 6, dw, EPS, ATOL, RTOL);
                if (!rms) {
                        nn_unpreload(db, 6);
                        nn_fd_check("db", &c, norm_fw, c.out, dout, n, c.b, 6, db, EPS,
                                    ATOL, RTOL);
                }
        }
        free(c.x); free(c.w); free(c.b); free(c.out); free(c.mean); free(c.rstd);
        free(dout); free(dx); free(dw); free(db);
}

Test(nn_grad, layernorm)
{
        check_norm(0, 1);
}

Test(nn_grad, layernorm_no_affine)
{
        check_norm(0, 0);
}

Test(nn_grad, rmsnorm)
{
        check_norm(1, 1);
}

Test(nn_grad, rmsnorm_no_weight)
{
        check_norm(1, 0);
}

/* ---- elementwise ------------------------------------------------------- */

typedef struct {
        float *out, *a, *b;
        size_t n;
        int which;
        uint8_t *mask;
        float p;
} ew_ctx;

static void
ew_fw(void *v)
{
        ew_ctx *c = v;
        switch (c->which) {
        case 0: socfw_nn_gelu_forward(c->out, c->a, c->n); break;
        case 1: socfw_nn_gelu_erf_forward(c->out, c->a, c->n); break;
        case 2: socfw_nn_silu_forward(c->out, c->a, c->n); break;
        case 3: socfw_nn_swiglu_forward(c->out, c->a, c->b, c->n); break;
        case 4: socfw_nn_residual_forward(c->out, c->a, c->b, c->n); break;
        case 5: {
                socfw_rng r;
                socfw_rng_seed(&r, 99);         /* same mask every call */
                socfw_nn_dropout_forward(c->out, c->mask, c->a, c->n, c->p, &r);
                break;
        }
        case 6: socfw_nn_softmax_forward(c->out, c->a, 3, (int)c->n / 3); break;
        case 7: socfw_nn_tanh_forward(c->out, c->a, c->n); break;
        }
}

static void
check_ew(int which)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 20 + which);
        size_t n = 24;
        uint8_t mask[24];
        ew_ctx c = { .n = n, .which = which, .mask = mask, .p = 0.3f };
        c.a = rnd_buf(n, 2, &rng);
        c.b = rnd_buf(n, 2, &rng);
        c.out = rnd_buf(n, 1, &rng);
        float *dout = rnd_buf(n, 1, &rng), *da = grad_buf(n), *db = grad_buf(n);
        ew_fw(&c);
        switch (which) {
        case 0: socfw_nn_gelu_backward(da, c.a, dout, n); break;
        case 1: socfw_nn_gelu_erf_backward(da, c.a, dout, n); break;
        case 2: socfw_nn_silu_backward(da, c.a, dout, n); break;
        case 3: socfw_nn_swiglu_backward(da, db, dout, c.a, c.b, n); break;
        case 4: socfw_nn_residual_backward(da, db, dout, n); break;
        case 5: socfw_nn_dropout_backward(da, dout, mask, n, c.p); break;
        case 6: socfw_nn_softmax_backward(da, dout, c.out, 3, (int)n / 3); break;
        case 7:
                for (size_t i = 0; i < n; i++)
                        cr_assert_float_eq(c.out[i], tanhf(c.a[i]), 1e-6);
                socfw_nn_tanh_backward(da, c.out, dout, n);
                break;
        }
        nn_unpreload(da, n);
        nn_fd_check("da", &c, ew_fw, c.out, dout, n, c.a, n, da, EPS, ATOL, RTOL);
        if (which == 3 || which == 4) {
                nn_unpreload(db, n);
                nn_fd_check("db", &c, ew_fw, c.out, dout, n, c.b, n, db, EPS, ATOL, RTOL);
        }
        free(c.a); free(c.b); free(c.out); free(dout); free(da); free(db);
}

Test(nn_grad, gelu_tanh) { check_ew(0); }
Test(nn_grad, gelu_erf) { check_ew(1); }
Test(nn_grad, silu) { check_ew(2); }
Test(nn_grad, swiglu) { check_ew(3); }
Test(nn_grad, residual) { check_ew(4); }
Test(nn_grad, dropout) { check_ew(5); }
Test(nn_grad, softmax) { check_ew(6); }
Test(nn_grad, tanh) { check_ew(7); }

Test(nn_grad, dropout_semantics)
{
        enum { N = 20000 };
        static float x[N], y[N];
        static uint8_t m[N], m2[N];
        socfw_rng r;
        nn_fill_const(x, N, 1.0f);
        socfw_rng_seed(&r, 5);
        cr_assert_eq(socfw_nn_dropout_forward(y, m, x, N, 0.25f, &r), 0);
        int kept = 0;
        for (int i = 0; i < N; i++) {
                kept += m[i];
                cr_assert_float_eq(y[i], m[i] ? 1.0f / 0.75f : 0.0f, 1e-6);
        }
        cr_assert(kept > N * 0.73 && kept < N * 0.77, "kept %d of %d", kept, N);
        /* same seed, same mask */
        socfw_rng_seed(&r, 5);
        socfw_nn_dropout_forward(y, m2, x, N, 0.25f, &r);
        cr_assert_eq(memcmp(m, m2, N), 0);
        /* p = 0 is the identity and leaves the rng alone */
        socfw_rng before = r;
        cr_assert_eq(socfw_nn_dropout_forward(y, NULL, x, N, 0.0f, &r), 0);
        cr_assert_eq(memcmp(x, y, sizeof x), 0);
        cr_assert_eq(memcmp(&before, &r, sizeof r), 0);
        cr_assert_eq(socfw_nn_dropout_forward(y, NULL, x, N, 0.5f, &r), SOCFW_EINVAL);
        cr_assert_eq(socfw_nn_dropout_forward(y, m, x, N, -0.1f, &r), SOCFW_EINVAL);
}

/* Masks keyed by example (socfw_rng_key_rows, for data-parallel
 * training): the rate is right, a row's mask depends on its global index
 * and not on how the batch is split, successive calls differ, rows
 * differ, and the stream is left alone. */
Test(nn_grad, dropout_keyed_by_example)
{
        enum { B = 16, C = 1000, N = B * C };
        static float x[N], y[N], y2[N];
        static uint8_t m[N], m2[N];
        socfw_rng whole, part;
        nn_fill_const(x, N, 1.0f);
        socfw_rng_seed(&whole, 5);
        socfw_rng_seed(&part, 99); /* another stream: must not matter */
        socfw_rng stream = part;
        socfw_rng_key_rows(&whole, 1234, 0, B);
        cr_assert_eq(socfw_nn_dropout_forward(y, m, x, N, 0.25f, &whole), 0);
        int kept = 0;
        for (int i = 0; i < N; i++)
                kept += m[i];
        cr_assert(kept > N * 0.74 && kept < N * 0.76, "kept %d of %d", kept,
                  N);
        /* the batch in two shares of 8 rows, as two processes hold it */
        socfw_rng_key_rows(&part, 1234, 0, 8);
        socfw_nn_dropout_forward(y2, m2, x, N / 2, 0.25f, &part);
        socfw_rng_key_rows(&part, 1234, 8, 8);
        socfw_nn_dropout_forward(y2 + N / 2, m2 + N / 2, x, N / 2, 0.25f,
                                 &part);
        cr_assert_eq(memcmp(m, m2, N), 0, "a split batch drew other masks");
        cr_assert_eq(memcmp(y, y2, sizeof y), 0);
        cr_assert_eq(memcmp(part.s, stream.s, sizeof stream.s), 0,
                     "keyed masks advanced the stream");
        /* the next call under the same key, and another row, differ */
        socfw_nn_dropout_forward(y2, m2, x, N, 0.25f, &whole);
        cr_assert_neq(memcmp(m, m2, N), 0);
        cr_assert_neq(memcmp(m, m + C, C), 0);
        /* another key differs; rows 0 returns to the stream */
        socfw_rng_key_rows(&part, 1235, 0, B);
        socfw_nn_dropout_forward(y2, m2, x, N, 0.25f, &part);
        cr_assert_neq(memcmp(m, m2, N), 0);
        socfw_rng_key_rows(&part, 0, 0, 0);
        socfw_nn_dropout_forward(y2, m2, x, N, 0.25f, &part);
        cr_assert_neq(memcmp(part.s, stream.s, sizeof stream.s), 0);
}

/* ---- attention ------------------------------------------------------------- */

typedef struct {
        float *out, *att, *qkv;
        socfw_nn_attn_desc d;
        size_t qoff, koff, voff;
} attn_ctx;

static void
attn_fw(void *v)
{
        attn_ctx *c = v;
        cr_assert_eq(socfw_nn_attention_forward(c->out, c->att, c->qkv + c->qoff,
                                                c->qkv + c->koff, c->qkv + c->voff, &c->d), 0);
}

/* q, k, v all live in one fused (B,T,H*D + 2*Hkv*D) buffer with strides,
 * as a fused QKV projection produces them. */
static void
check_attn(int causal, int H, int Hkv, int use_mask)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 30 + causal * 4 + H + Hkv);
        int B = 2, T = 4, D = 4;
        int ld = H * D + 2 * Hkv * D;
        int32_t mask[8] = { 1, 1, 1, 0, 0, 1, 1, 1 };
        attn_ctx c = { .d = { .B = B, .T = T, .Tk = T, .H = H, .Hkv = Hkv, .D = D,
                              .causal = causal, .key_mask = use_mask ? mask : NULL,
                              .ld_q = ld, .ld_kv = ld },
                       .qoff = 0, .koff = (size_t)H * D, .voff = (size_t)(H + Hkv) * D };
        size_t nqkv = (size_t)B * T * ld, nout = (size_t)B * T * H * D;
        c.qkv = rnd_buf(nqkv, 1, &rng);
        c.out = rnd_buf(nout, 1, &rng);
        c.att = rnd_buf((size_t)B * H * T * T, 1, &rng);
        float *dout = rnd_buf(nout, 1, &rng), *dqkv = grad_buf(nqkv);
        attn_fw(&c);
        cr_assert_eq(socfw_nn_attention_backward(dqkv + c.qoff, dqkv + c.koff, dqkv + c.voff,
                                                 dout, c.qkv + c.qoff, c.qkv + c.koff,
                                                 c.qkv + c.voff, c.att, &c.d), 0);
        nn_unpreload(dqkv, nqkv);
        nn_fd_check("dqkv", &c, attn_fw, c.out, dout, nout, c.qkv, nqkv, dqkv, EPS, ATOL,
                    RTOL);
        free(c.qkv); free(c.out); free(c.att); free(dout); free(dqkv);
}

Test(nn_grad, attention_causal_mha) { check_attn(1, 2, 2, 0); }
Test(nn_grad, attention_causal_gqa_masked) { check_attn(1, 4, 2, 1); }
Test(nn_grad, attention_bidir_mqa_masked) { check_attn(0, 3, 1, 1); }

/* ---- rope -------------------------------------------------------------------- */

typedef struct {
        float *out, *x;
        size_t n;
        socfw_nn_rope_desc d;
} rope_ctx;

static void
rope_fw(void *v)
{
        rope_ctx *c = v;
        memcpy(c->out, c->x, c->n * sizeof(float));
        cr_assert_eq(socfw_nn_rope_forward(c->out, &c->d), 0);
}

static void
check_rope(socfw_nn_rope_mode mode, int rot_dim)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 40 + mode);
        rope_ctx c = { .d = { .B = 2, .T = 3, .H = 2, .D = 8, .rot_dim = rot_dim,
                              .theta = 100.0f, .mode = mode, .pos0 = 3 } };
        c.n = 2 * 3 * 2 * 8;
        c.x = rnd_buf(c.n, 1, &rng);
        c.out = rnd_buf(c.n, 1, &rng);
        float *dout = rnd_buf(c.n, 1, &rng), *dx = malloc(c.n * sizeof *dx);
        memcpy(dx, dout, c.n * sizeof *dx);
        rope_fw(&c);
        cr_assert_eq(socfw_nn_rope_backward(dx, &c.d), 0);
        nn_fd_check("dx", &c, rope_fw, c.out, dout, c.n, c.x, c.n, dx, EPS, ATOL, RTOL);
        free(c.x); free(c.out); free(dout); free(dx);
}

Test(nn_grad, rope_interleaved) { check_rope(SOCFW_NN_ROPE_INTERLEAVED, 0); }
Test(nn_grad, rope_half) { check_rope(SOCFW_NN_ROPE_HALF, 0); }
Test(nn_grad, rope_half_partial) { check_rope(SOCFW_NN_ROPE_HALF, 4); }

/* ---- cross-entropy ------------------------------------------------------------ */

typedef struct {
        float loss, *logits;
        int32_t *targets;
        int N, V;
        socfw_nn_xent_opts o;
} xent_ctx;

static void
xent_fw(void *v)
{
        xent_ctx *c = v;
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(&c->loss, NULL, NULL, c->logits,
                                                             c->targets, c->N, c->V, &c->o,
                                                             NULL), 0);
}

Test(nn_grad, cross_entropy_all_options)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 50);
        int32_t targets[5] = { 2, -100, 0, 3, 3 };
        float w[4] = { 0.5f, 1.0f, 2.0f, 1.5f };
        xent_ctx c = { .N = 5, .V = 4, .targets = targets, .o = SOCFW_NN_XENT_OPTS_INIT };
        c.o.label_smoothing = 0.1f;
        c.o.class_weights = w;
        c.o.grad_scale = 2.0f;
        c.logits = rnd_buf(20, 3, &rng);
        float d[20], one = 2.0f;        /* grad_scale 2 = d(2*loss) */
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(&c.loss, NULL, d, c.logits,
                                                             targets, c.N, c.V, &c.o, NULL), 0);
        for (int k = 0; k < 4; k++)
                cr_assert_eq(d[4 + k], 0.0f, "ignored row must get no gradient");
        nn_fd_check("dlogits", &c, xent_fw, &c.loss, &one, 1, c.logits, 20, d, EPS, ATOL,
                    RTOL);
        free(c.logits);
}

Test(nn_grad, cross_entropy_errors_and_stability)
{
        float logits[6] = { 1000.0f, 0.0f, -1000.0f, 3.0f, 3.0f, 3.0f };
        int32_t t[2] = { 0, 2 };
        float loss = -1, d[6];
        socfw_error err = {0};
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(&loss, NULL, d, logits, t, 2, 3,
                                                             NULL, &err), 0);
        /* row 0: loss ~0, row 1: log 3 */
        cr_assert_float_eq(loss, (0.0 + log(3.0)) / 2, 1e-5);
        for (int i = 0; i < 6; i++)
                cr_assert(isfinite(d[i]));
        int32_t bad[2] = { 0, 3 };
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(&loss, NULL, d, logits, bad, 2, 3,
                                                             NULL, &err), SOCFW_EINVAL);
        cr_assert(strstr(err.message, "target 3") != NULL, "%s", err.message);
        int32_t all_ignored[2] = { -100, -100 };
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(&loss, NULL, d, logits,
                                                             all_ignored, 2, 3, NULL, NULL), 0);
        cr_assert_eq(loss, 0.0f);
        cr_assert_eq(d[0], 0.0f);
}

/* The vectorisable exp used by the kernels (framework/nn/nn_internal.h). */
#include "nn/nn_internal.h"

Test(nn_grad, fast_exp_accuracy)
{
        double worst = 0.0;
        for (int i = 0; i <= 200000; i++) {
                float x = -87.0f + 175.0f * (float)i / 200000.0f;
                double ref = exp((double)x);
                double rel = fabs((double)nn_expf(x) - ref) / ref;
                if (rel > worst)
                        worst = rel;
        }
        cr_assert_lt(worst, 1e-6, "max relative error %g", worst);
        cr_assert_eq(nn_expf(0.0f), 1.0f);
        float big = nn_expf(1e30f), tiny = nn_expf(-1e30f);
        cr_assert(isfinite(big) && big > 1e38f, "exp(huge) = %g", (double)big);
        cr_assert(tiny >= 0.0f && tiny < 1e-37f, "exp(-huge) = %g", (double)tiny);
        cr_assert(nn_expf(-INFINITY) < 1e-37f);
        float a[37], s = 0.0f;
        for (int i = 0; i < 37; i++) {
                a[i] = (float)(i % 11) - 5.0f;
                s += a[i];
        }
        cr_assert_float_eq(nn_sum(a, 37), s, 1e-5);
        cr_assert_eq(nn_max(a, 37), 5.0f);
        cr_assert_eq(nn_max(a, 3), -3.0f);
}
