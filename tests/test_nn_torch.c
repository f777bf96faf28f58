/* tests/test_nn_torch.c - every kernel's forward and backward against
 * PyTorch reference values (tests/fixtures/nn/nn_fixtures.json, made by
 * tests/fixtures/nn/gen_nn_fixtures.py; gradients of sum(out * dout)). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/nn.h"
#include "test_nn_util.h"

#define ATOL 2e-5
#define RTOL 2e-4

/* A zero-initialised-then-preloaded gradient buffer. */
static float *
grad_buf(size_t n)
{
        float *g = malloc(n * sizeof *g);
        cr_assert_not_null(g);
        nn_fill_const(g, n, NN_GRAD_PRELOAD);
        return g;
}

static void
check_matmul(const char *name, socfw_nn_wlayout layout)
{
        json_t *c = nn_fixture(name);
        int N = nn_fixture_dim(c, "N"), C = nn_fixture_dim(c, "C"),
            OC = nn_fixture_dim(c, "OC");
        float *x = nn_fixture_floats(c, "x", NULL), *w = nn_fixture_floats(c, "w", NULL),
              *b = nn_fixture_floats(c, "b", NULL), *ref = nn_fixture_floats(c, "out", NULL),
              *dout = nn_fixture_floats(c, "dout", NULL),
              *rdx = nn_fixture_floats(c, "dx", NULL), *rdw = nn_fixture_floats(c, "dw", NULL),
              *rdb = nn_fixture_floats(c, "db", NULL);
        float out[64], *dx = grad_buf((size_t)N * C), *dw = grad_buf((size_t)OC * C),
              *db = grad_buf(OC);
        socfw_nn_matmul_forward(out, x, w, b, N, C, OC, layout);
        nn_assert_close("out", out, ref, (size_t)N * OC, ATOL, RTOL);
        socfw_nn_matmul_backward(dx, dw, db, dout, x, w, N, C, OC, layout);
        nn_unpreload(dx, (size_t)N * C);
        nn_unpreload(dw, (size_t)OC * C);
        nn_unpreload(db, OC);
        nn_assert_close("dx", dx, rdx, (size_t)N * C, ATOL, RTOL);
        nn_assert_close("dw", dw, rdw, (size_t)OC * C, ATOL, RTOL);
        nn_assert_close("db", db, rdb, OC, ATOL, RTOL);
        /* no bias: out = ref - b */
        socfw_nn_matmul_forward(out, x, w, NULL, N, C, OC, layout);
        for (int n = 0; n < N; n++)
                for (int o = 0; o < OC; o++)
                        cr_assert_float_eq(out[n * OC + o], ref[n * OC + o] - b[o], 1e-4);
        free(x); free(w); free(b); free(ref); free(dout); free(rdx); free(rdw);
        free(rdb); free(dx); free(dw); free(db);
}

Test(nn_torch, linear_out_in)
{
        check_matmul("linear", SOCFW_NN_W_OUT_IN);
}

Test(nn_torch, matmul_in_out_conv1d)
{
        check_matmul("conv1d", SOCFW_NN_W_IN_OUT);
}

Test(nn_torch, linear_wrapper_equals_matmul)
{
        json_t *c = nn_fixture("linear");
        int N = nn_fixture_dim(c, "N"), C = nn_fixture_dim(c, "C"),
            OC = nn_fixture_dim(c, "OC");
        float *x = nn_fixture_floats(c, "x", NULL), *w = nn_fixture_floats(c, "w", NULL),
              *b = nn_fixture_floats(c, "b", NULL), *ref = nn_fixture_floats(c, "out", NULL);
        float out[64];
        socfw_nn_linear_forward(out, x, w, b, N, C, OC);
        nn_assert_close("out", out, ref, (size_t)N * OC, ATOL, RTOL);
        free(x); free(w); free(b); free(ref);
}

static void
check_norm(const char *name, int rms)
{
        json_t *c = nn_fixture(name);
        int N = nn_fixture_dim(c, "N"), C = nn_fixture_dim(c, "C");
        float eps = (float)nn_fixture_num(c, "eps");
        float *x = nn_fixture_floats(c, "x", NULL), *w = nn_fixture_floats(c, "w", NULL),
              *ref = nn_fixture_floats(c, "out", NULL), *dout = nn_fixture_floats(c, "dout", NULL),
              *rdx = nn_fixture_floats(c, "dx", NULL), *rdw = nn_fixture_floats(c, "dw", NULL);
        float out[64], mean[8], rstd[8];
        float *dx = grad_buf((size_t)N * C), *dw = grad_buf(C), *db = grad_buf(C);
        if (rms) {
                socfw_nn_rmsnorm_forward(out, rstd, x, w, N, C, eps);
                nn_assert_close("out", out, ref, (size_t)N * C, ATOL, RTOL);
                socfw_nn_rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
        } else {
                float *b = nn_fixture_floats(c, "b", NULL), *rdb = nn_fixture_floats(c, "db", NULL);
                socfw_nn_layernorm_forward(out, mean, rstd, x, w, b, N, C, eps);
                nn_assert_close("out", out, ref, (size_t)N * C, ATOL, RTOL);
                socfw_nn_layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
                nn_unpreload(db, C);
                nn_assert_close("db", db, rdb, C, ATOL, RTOL);
                free(b);
                free(rdb);
        }
        nn_unpreload(dx, (size_t)N * C);
        nn_unpreload(dw, C);
        nn_assert_close("dx", dx, rdx, (size_t)N * C, ATOL, RTOL);
        nn_assert_close("dw", dw, rdw, C, ATOL, RTOL);
        free(x); free(w); free(ref); free(dout); free(rdx); free(rdw); free(dx);
        free(dw); free(db);
}

Test(nn_torch, layernorm)
{
        check_norm("layernorm", 0);
}

Test(nn_torch, rmsnorm)
{
        check_norm("rmsnorm", 1);
}

typedef void (*act_fw)(float *, const float *, size_t);
typedef void (*act_bw)(float *, const float *, const float *, size_t);

static void
check_act(const char *name, act_fw fw, act_bw bw)
{
        json_t *c = nn_fixture(name);
        size_t n;
        float *x = nn_fixture_floats(c, "x", &n), *ref = nn_fixture_floats(c, "out", NULL),
              *dout = nn_fixture_floats(c, "dout", NULL), *rdx = nn_fixture_floats(c, "dx", NULL);
        float out[64], *dx = grad_buf(n);
        fw(out, x, n);
        nn_assert_close(name, out, ref, n, ATOL, RTOL);
        bw(dx, x, dout, n);
        nn_unpreload(dx, n);
        nn_assert_close("dx", dx, rdx, n, ATOL, RTOL);
        /* in place */
        memcpy(out, x, n * sizeof *out);
        fw(out, out, n);
        nn_assert_close("in place", out, ref, n, ATOL, RTOL);
        free(x); free(ref); free(dout); free(rdx); free(dx);
}

Test(nn_torch, gelu_tanh)
{
        check_act("gelu", socfw_nn_gelu_forward, socfw_nn_gelu_backward);
}

Test(nn_torch, gelu_erf)
{
        check_act("gelu_erf", socfw_nn_gelu_erf_forward, socfw_nn_gelu_erf_backward);
}

Test(nn_torch, silu)
{
        check_act("silu", socfw_nn_silu_forward, socfw_nn_silu_backward);
}

Test(nn_torch, swiglu)
{
        json_t *c = nn_fixture("swiglu");
        size_t n;
        float *a = nn_fixture_floats(c, "a", &n), *b = nn_fixture_floats(c, "b", NULL),
              *ref = nn_fixture_floats(c, "out", NULL), *dout = nn_fixture_floats(c, "dout", NULL),
              *rda = nn_fixture_floats(c, "da", NULL), *rdb = nn_fixture_floats(c, "db", NULL);
        float out[64], *da = grad_buf(n), *db = grad_buf(n);
        socfw_nn_swiglu_forward(out, a, b, n);
        nn_assert_close("out", out, ref, n, ATOL, RTOL);
        socfw_nn_swiglu_backward(da, db, dout, a, b, n);
        nn_unpreload(da, n);
        nn_unpreload(db, n);
        nn_assert_close("da", da, rda, n, ATOL, RTOL);
        nn_assert_close("db", db, rdb, n, ATOL, RTOL);
        free(a); free(b); free(ref); free(dout); free(rda); free(rdb); free(da); free(db);
}

Test(nn_torch, softmax)
{
        json_t *c = nn_fixture("softmax");
        int N = nn_fixture_dim(c, "N"), C = nn_fixture_dim(c, "C");
        float *x = nn_fixture_floats(c, "x", NULL), *ref = nn_fixture_floats(c, "out", NULL),
              *dout = nn_fixture_floats(c, "dout", NULL), *rdx = nn_fixture_floats(c, "dx", NULL);
        float out[64], *dx = grad_buf((size_t)N * C);
        socfw_nn_softmax_forward(out, x, N, C);
        nn_assert_close("out", out, ref, (size_t)N * C, ATOL, RTOL);
        socfw_nn_softmax_backward(dx, dout, out, N, C);
        nn_unpreload(dx, (size_t)N * C);
        nn_assert_close("dx", dx, rdx, (size_t)N * C, ATOL, RTOL);
        free(x); free(ref); free(dout); free(rdx); free(dx);
}

static void
check_attention(const char *name)
{
        json_t *c = nn_fixture(name);
        socfw_nn_attn_desc d = {
                .B = nn_fixture_dim(c, "B"), .T = nn_fixture_dim(c, "T"),
                .Tk = nn_fixture_dim(c, "Tk"), .H = nn_fixture_dim(c, "H"),
                .Hkv = nn_fixture_dim(c, "Hkv"), .D = nn_fixture_dim(c, "D"),
                .causal = nn_fixture_dim(c, "causal"),
        };
        size_t nq, nk, na;
        int32_t *mask = nn_fixture_ints(c, "mask", NULL);
        float *q = nn_fixture_floats(c, "q", &nq), *k = nn_fixture_floats(c, "k", &nk),
              *v = nn_fixture_floats(c, "v", NULL), *ref = nn_fixture_floats(c, "out", NULL),
              *ratt = nn_fixture_floats(c, "att", &na), *dout = nn_fixture_floats(c, "dout", NULL),
              *rdq = nn_fixture_floats(c, "dq", NULL), *rdk = nn_fixture_floats(c, "dk", NULL),
              *rdv = nn_fixture_floats(c, "dv", NULL);
        d.key_mask = mask;
        float *out = malloc(nq * sizeof *out), *att = malloc(na * sizeof *att);
        float *dq = grad_buf(nq), *dk = grad_buf(nk), *dv = grad_buf(nk);
        cr_assert_eq(socfw_nn_attention_forward(out, att, q, k, v, &d), 0);
        nn_assert_close("out", out, ref, nq, ATOL, RTOL);
        nn_assert_close("att", att, ratt, na, ATOL, RTOL);
        cr_assert_eq(socfw_nn_attention_backward(dq, dk, dv, dout, q, k, v, att, &d), 0);
        nn_unpreload(dq, nq);
        nn_unpreload(dk, nk);
        nn_unpreload(dv, nk);
        nn_assert_close("dq", dq, rdq, nq, ATOL, RTOL);
        nn_assert_close("dk", dk, rdk, nk, ATOL, RTOL);
        nn_assert_close("dv", dv, rdv, nk, ATOL, RTOL);
        /* inference path (att NULL) gives the same output */
        float *out2 = malloc(nq * sizeof *out2);
        cr_assert_eq(socfw_nn_attention_forward(out2, NULL, q, k, v, &d), 0);
        cr_assert_eq(memcmp(out, out2, nq * sizeof *out), 0);
        free(out2);
        free(mask); free(q); free(k); free(v); free(ref); free(ratt); free(dout);
        free(rdq); free(rdk); free(rdv); free(out); free(att); free(dq); free(dk);
        free(dv);
}

Test(nn_torch, attention_causal_gqa_padded)
{
        check_attention("attn_causal");
}

Test(nn_torch, attention_bidirectional_gqa_padded)
{
        check_attention("attn_bidir");
}

Test(nn_torch, attention_causal_with_prefix_keys)
{
        check_attention("attn_prefix");
}

static void
check_rope(const char *name, socfw_nn_rope_mode mode)
{
        json_t *c = nn_fixture(name);
        socfw_nn_rope_desc d = {
                .B = nn_fixture_dim(c, "B"), .T = nn_fixture_dim(c, "T"),
                .H = nn_fixture_dim(c, "H"), .D = nn_fixture_dim(c, "D"),
                .pos0 = nn_fixture_dim(c, "pos0"),
                .theta = (float)nn_fixture_num(c, "theta"), .mode = mode,
        };
        size_t n;
        float *x = nn_fixture_floats(c, "x", &n), *ref = nn_fixture_floats(c, "out", NULL),
              *dout = nn_fixture_floats(c, "dout", NULL), *rdx = nn_fixture_floats(c, "dx", NULL);
        cr_assert_eq(socfw_nn_rope_forward(x, &d), 0);
        nn_assert_close("out", x, ref, n, ATOL, RTOL);
        cr_assert_eq(socfw_nn_rope_backward(dout, &d), 0);
        nn_assert_close("dx", dout, rdx, n, ATOL, RTOL);
        /* the same through explicit positions */
        float *x2 = nn_fixture_floats(c, "x", NULL);
        int32_t pos[64];
        for (int i = 0; i < d.B * d.T; i++)
                pos[i] = d.pos0 + i % d.T;
        d.pos = pos;
        d.pos0 = 0;
        cr_assert_eq(socfw_nn_rope_forward(x2, &d), 0);
        nn_assert_close("out (pos ids)", x2, ref, n, ATOL, RTOL);
        free(x); free(x2); free(ref); free(dout); free(rdx);
}

Test(nn_torch, rope_half_split_hf)
{
        check_rope("rope_half", SOCFW_NN_ROPE_HALF);
}

Test(nn_torch, rope_interleaved_gptj)
{
        check_rope("rope_interleaved", SOCFW_NN_ROPE_INTERLEAVED);
}

static void
check_xent(const char *name)
{
        json_t *c = nn_fixture(name);
        int N = nn_fixture_dim(c, "N"), V = nn_fixture_dim(c, "V");
        float *logits = nn_fixture_floats(c, "logits", NULL),
              *rd = nn_fixture_floats(c, "dlogits", NULL);
        int32_t *targets = nn_fixture_ints(c, "targets", NULL);
        float *w = json_is_array(json_object_get(c, "weights")) ?
                   nn_fixture_floats(c, "weights", NULL) : NULL;
        socfw_nn_xent_opts o = SOCFW_NN_XENT_OPTS_INIT;
        o.label_smoothing = (float)nn_fixture_num(c, "label_smoothing");
        o.class_weights = w;
        float loss = -1, losses[16], d[64];
        socfw_error err = {0};
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(&loss, losses, d, logits,
                                                             targets, N, V, &o, &err), 0);
        cr_assert_float_eq(loss, nn_fixture_num(c, "loss"), 1e-5, "%s: loss %g vs %g", name,
                           (double)loss, nn_fixture_num(c, "loss"));
        nn_assert_close("dlogits", d, rd, (size_t)N * V, 1e-6, RTOL);
        for (int i = 0; i < N; i++)
                if (targets[i] == -100)
                        cr_assert_eq(losses[i], 0.0f);
        /* in place: dlogits aliasing logits */
        cr_assert_eq(socfw_nn_cross_entropy_forward_backward(NULL, NULL, logits, logits,
                                                             targets, N, V, &o, NULL), 0);
        nn_assert_close("dlogits in place", logits, rd, (size_t)N * V, 1e-6, RTOL);
        free(logits); free(rd); free(targets); free(w);
}

Test(nn_torch, cross_entropy_plain_ignore_index)
{
        check_xent("xent_plain");
}

Test(nn_torch, cross_entropy_label_smoothing)
{
        check_xent("xent_smooth");
}

Test(nn_torch, cross_entropy_class_weights)
{
        check_xent("xent_weighted");
}

Test(nn_torch, cross_entropy_smoothing_and_weights)
{
        check_xent("xent_smooth_weighted");
}
