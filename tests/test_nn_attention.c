/* tests/test_nn_attention.c - properties of attention and RoPE: GQA equals
 * MHA on repeated K/V, masks really mask, the KV-cache decode equals the
 * last row of full causal attention, RoPE conventions differ by the
 * expected permutation, results do not depend on the thread count. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/nn.h"
#include "socfw/rng.h"
#include "socfw/threads.h"
#include "test_nn_util.h"

static float *
rnd_buf(size_t n, socfw_rng *rng)
{
        float *x = malloc((n ? n : 1) * sizeof *x);
        cr_assert_not_null(x);
        nn_fill_normal(x, n, 1.0f, rng);
        return x;
}

static float *
zeros(size_t n)
{
        float *x = calloc(n ? n : 1, sizeof *x);
        cr_assert_not_null(x);
        return x;
}

/* (B,T,Hkv,D) -> (B,T,H,D) repeating each kv head H/Hkv times */
static float *
repeat_kv(const float *k, int B, int T, int H, int Hkv, int D)
{
        float *r = malloc((size_t)B * T * H * D * sizeof *r);
        for (int bt = 0; bt < B * T; bt++)
                for (int h = 0; h < H; h++)
                        memcpy(r + ((size_t)bt * H + h) * D,
                               k + ((size_t)bt * Hkv + h / (H / Hkv)) * D, D * sizeof *r);
        return r;
}

Test(nn_attention, gqa_equals_repeated_kv_mha)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 7);
        int B = 2, T = 5, H = 6, Hkv = 2, D = 8, G = H / Hkv;
        size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * Hkv * D;
        float *q = rnd_buf(nq, &rng), *k = rnd_buf(nk, &rng), *v = rnd_buf(nk, &rng);
        float *dout = rnd_buf(nq, &rng);
        float *kr = repeat_kv(k, B, T, H, Hkv, D), *vr = repeat_kv(v, B, T, H, Hkv, D);
        float *o1 = zeros(nq), *o2 = zeros(nq);
        float *a1 = zeros((size_t)B * H * T * T), *a2 = zeros((size_t)B * H * T * T);
        socfw_nn_attn_desc g = { .B = B, .T = T, .Tk = T, .H = H, .Hkv = Hkv, .D = D,
                                 .causal = 1 };
        socfw_nn_attn_desc m = g;
        m.Hkv = H;
        cr_assert_eq(socfw_nn_attention_forward(o1, a1, q, k, v, &g), 0);
        cr_assert_eq(socfw_nn_attention_forward(o2, a2, q, kr, vr, &m), 0);
        nn_assert_close("out", o1, o2, nq, 1e-6, 1e-5);
        float *dq1 = zeros(nq), *dk1 = zeros(nk), *dv1 = zeros(nk);
        float *dq2 = zeros(nq), *dk2 = zeros(nq), *dv2 = zeros(nq);
        socfw_nn_attention_backward(dq1, dk1, dv1, dout, q, k, v, a1, &g);
        socfw_nn_attention_backward(dq2, dk2, dv2, dout, q, kr, vr, a2, &m);
        nn_assert_close("dq", dq1, dq2, nq, 1e-5, 1e-4);
        /* dk of a shared head = sum of the repeated heads' dk */
        float *sk = zeros(nk), *sv = zeros(nk);
        for (int bt = 0; bt < B * T; bt++)
                for (int h = 0; h < H; h++)
                        for (int i = 0; i < D; i++) {
                                sk[((size_t)bt * Hkv + h / G) * D + i] += dk2[((size_t)bt * H + h) * D + i];
                                sv[((size_t)bt * Hkv + h / G) * D + i] += dv2[((size_t)bt * H + h) * D + i];
                        }
        nn_assert_close("dk", dk1, sk, nk, 1e-5, 1e-4);
        nn_assert_close("dv", dv1, sv, nk, 1e-5, 1e-4);
        free(q); free(k); free(v); free(dout); free(kr); free(vr); free(o1); free(o2);
        free(a1); free(a2); free(dq1); free(dk1); free(dv1); free(dq2); free(dk2);
        free(dv2); free(sk); free(sv);
}

Test(nn_attention, causal_mask_hides_the_future)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 8);
        int B = 1, T = 6, H = 2, D = 4;
        size_t n = (size_t)B * T * H * D;
        float *q = rnd_buf(n, &rng), *k = rnd_buf(n, &rng), *v = rnd_buf(n, &rng);
        float *o1 = zeros(n), *o2 = zeros(n), *att = zeros((size_t)H * T * T);
        socfw_nn_attn_desc d = { .B = B, .T = T, .Tk = T, .H = H, .Hkv = H, .D = D,
                                 .causal = 1 };
        socfw_nn_attention_forward(o1, att, q, k, v, &d);
        for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++) {
                        float s = 0;
                        for (int j = 0; j < T; j++) {
                                float p = att[((size_t)h * T + t) * T + j];
                                if (j > t)
                                        cr_assert_eq(p, 0.0f, "att[%d,%d,%d] = %g", h, t, j, p);
                                s += p;
                        }
                        cr_assert_float_eq(s, 1.0f, 1e-5);
                }
        /* change keys/values of the last position: rows 0..T-2 unchanged */
        for (int i = 0; i < H * D; i++) {
                k[(size_t)(T - 1) * H * D + i] += 5.0f;
                v[(size_t)(T - 1) * H * D + i] -= 3.0f;
        }
        socfw_nn_attention_forward(o2, NULL, q, k, v, &d);
        size_t rows = (size_t)(T - 1) * H * D;
        cr_assert_eq(memcmp(o1, o2, rows * sizeof *o1), 0);
        cr_assert(nn_max_abs_diff(o1 + rows, o2 + rows, (size_t)H * D) > 1e-3,
                  "the last row must see the change");
        /* first query sees only itself: out = v[0] */
        nn_assert_close("row 0", o1, v, (size_t)H * D, 0, 0);
        free(q); free(k); free(v); free(o1); free(o2); free(att);
}

Test(nn_attention, padding_mask_hides_keys)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 9);
        int B = 2, T = 5, H = 2, D = 4;
        size_t n = (size_t)B * T * H * D;
        int32_t mask[10] = { 1, 1, 1, 0, 0,   0, 1, 1, 1, 1 };
        float *q = rnd_buf(n, &rng), *k = rnd_buf(n, &rng), *v = rnd_buf(n, &rng);
        float *o1 = zeros(n), *o2 = zeros(n), *att = zeros((size_t)B * H * T * T);
        for (int causal = 0; causal <= 1; causal++) {
                socfw_nn_attn_desc d = { .B = B, .T = T, .Tk = T, .H = H, .Hkv = H,
                                         .D = D, .causal = causal, .key_mask = mask };
                socfw_nn_attention_forward(o1, att, q, k, v, &d);
                for (int b = 0; b < B; b++)
                        for (int h = 0; h < H; h++)
                                for (int t = 0; t < T; t++)
                                        for (int j = 0; j < T; j++)
                                                if (!mask[b * T + j])
                                                        cr_assert_eq(att[(((size_t)b * H + h) * T + t) * T + j], 0.0f);
                /* garbage in masked keys/values changes nothing */
                float *k2 = malloc(n * sizeof *k2), *v2 = malloc(n * sizeof *v2);
                memcpy(k2, k, n * sizeof *k2);
                memcpy(v2, v, n * sizeof *v2);
                for (int b = 0; b < B; b++)
                        for (int j = 0; j < T; j++)
                                if (!mask[b * T + j])
                                        for (int i = 0; i < H * D; i++) {
                                                k2[((size_t)b * T + j) * H * D + i] = 1e3f;
                                                v2[((size_t)b * T + j) * H * D + i] = -7e2f;
                                        }
                socfw_nn_attention_forward(o2, NULL, q, k2, v2, &d);
                nn_assert_close("masked out", o2, o1, n, 0, 0);
                if (causal) {
                        /* batch row 1, query 0 sees only masked key 0: zeros */
                        for (int i = 0; i < H * D; i++)
                                cr_assert_eq(o1[(size_t)1 * T * H * D + i], 0.0f);
                }
                free(k2);
                free(v2);
        }
        free(q); free(k); free(v); free(o1); free(o2); free(att);
}

Test(nn_attention, kv_cache_decode_equals_last_causal_row)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 10);
        int B = 2, L = 7, Lmax = 11, H = 4, Hkv = 2, D = 8;
        size_t nq = (size_t)B * L * H * D, nk = (size_t)B * L * Hkv * D;
        float *q = rnd_buf(nq, &rng), *k = rnd_buf(nk, &rng), *v = rnd_buf(nk, &rng);
        int32_t mask[14] = { 1, 1, 1, 1, 1, 1, 1,   0, 0, 1, 1, 1, 1, 1 };
        float *full = zeros(nq);
        socfw_nn_attn_desc d = { .B = B, .T = L, .Tk = L, .H = H, .Hkv = Hkv, .D = D,
                                 .causal = 1, .key_mask = mask };
        cr_assert_eq(socfw_nn_attention_forward(full, NULL, q, k, v, &d), 0);
        /* caches (B,Lmax,Hkv,D) with the first L positions filled */
        size_t row = (size_t)Hkv * D;
        float *kc = zeros((size_t)B * Lmax * row), *vc = zeros((size_t)B * Lmax * row);
        for (int b = 0; b < B; b++) {
                memcpy(kc + (size_t)b * Lmax * row, k + (size_t)b * L * row, L * row * sizeof(float));
                memcpy(vc + (size_t)b * Lmax * row, v + (size_t)b * L * row, L * row * sizeof(float));
        }
        float qlast[2 * 4 * 8], out[2 * 4 * 8], ref[2 * 4 * 8];
        for (int b = 0; b < B; b++) {
                memcpy(qlast + (size_t)b * H * D, q + ((size_t)b * L + L - 1) * H * D, H * D * sizeof(float));
                memcpy(ref + (size_t)b * H * D, full + ((size_t)b * L + L - 1) * H * D, H * D * sizeof(float));
        }
        cr_assert_eq(socfw_nn_attention_decode(out, qlast, kc, vc, mask, B, L, Lmax, H, Hkv, D,
                                               0.0f), 0);
        nn_assert_close("decode", out, ref, (size_t)B * H * D, 1e-6, 1e-5);
        /* the general kernel with T=1 < Tk (queries at the end) agrees too */
        socfw_nn_attn_desc d1 = { .B = 1, .T = 1, .Tk = L, .H = H, .Hkv = Hkv, .D = D,
                                  .causal = 1 };
        float o1[4 * 8];
        cr_assert_eq(socfw_nn_attention_forward(o1, NULL, qlast, kc, vc, &d1), 0);
        nn_assert_close("T=1 forward", o1, ref, (size_t)H * D, 1e-6, 1e-5);
        cr_assert_eq(socfw_nn_attention_decode(out, qlast, kc, vc, NULL, B, 12, Lmax, H, Hkv, D,
                                               0.0f), SOCFW_EINVAL, "L > Lmax must fail");
        free(q); free(k); free(v); free(full); free(kc); free(vc);
}

Test(nn_attention, bad_dims_are_rejected)
{
        float x[16] = { 0 };
        socfw_nn_attn_desc d = { .B = 1, .T = 2, .Tk = 2, .H = 3, .Hkv = 2, .D = 2 };
        cr_assert_eq(socfw_nn_attention_forward(x, NULL, x, x, x, &d), SOCFW_EINVAL);
        d.Hkv = 1;
        d.ld_q = 5;     /* < H*D */
        cr_assert_eq(socfw_nn_attention_forward(x, NULL, x, x, x, &d), SOCFW_EINVAL);
        d.ld_q = 0;
        d.causal = 1;
        d.Tk = 1;       /* causal needs Tk >= T */
        cr_assert_eq(socfw_nn_attention_forward(x, NULL, x, x, x, &d), SOCFW_EINVAL);
        socfw_nn_rope_desc r = { .B = 1, .T = 1, .H = 1, .D = 4, .rot_dim = 3, .theta = 1e4f };
        cr_assert_eq(socfw_nn_rope_forward(x, &r), SOCFW_EINVAL);
        r.rot_dim = 0;
        r.theta = 0;
        cr_assert_eq(socfw_nn_rope_forward(x, &r), SOCFW_EINVAL);
}

Test(nn_attention, rope_conventions_differ_by_permutation)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 11);
        int B = 1, T = 4, H = 3, D = 8, half = D / 2;
        size_t n = (size_t)B * T * H * D;
        float *x = rnd_buf(n, &rng), *y = zeros(n), *back = zeros(n);
        /* y = x with each head's dims permuted: y[i] = x[2i], y[i+D/2] = x[2i+1]
         * (the Q/K weight permutation llama.cpp's converter applies) */
        for (size_t r = 0; r < (size_t)B * T * H; r++)
                for (int i = 0; i < half; i++) {
                        y[r * D + i] = x[r * D + 2 * i];
                        y[r * D + i + half] = x[r * D + 2 * i + 1];
                }
        socfw_nn_rope_desc di = { .B = B, .T = T, .H = H, .D = D, .theta = 10000.0f,
                                  .mode = SOCFW_NN_ROPE_INTERLEAVED, .pos0 = 2 };
        socfw_nn_rope_desc dh = di;
        dh.mode = SOCFW_NN_ROPE_HALF;
        float *xi = malloc(n * sizeof *xi);
        memcpy(xi, x, n * sizeof *xi);
        socfw_nn_rope_forward(xi, &di);
        socfw_nn_rope_forward(y, &dh);
        for (size_t r = 0; r < (size_t)B * T * H; r++)
                for (int i = 0; i < half; i++) {
                        back[r * D + 2 * i] = y[r * D + i];
                        back[r * D + 2 * i + 1] = y[r * D + i + half];
                }
        nn_assert_close("permuted", back, xi, n, 1e-6, 1e-6);
        /* and the two conventions really differ on the same input */
        float *xh = malloc(n * sizeof *xh);
        memcpy(xh, x, n * sizeof *xh);
        socfw_nn_rope_forward(xh, &dh);
        cr_assert(nn_max_abs_diff(xh, xi, n) > 1e-2);
        /* position 0 is the identity; backward undoes forward */
        socfw_nn_rope_desc d0 = dh;
        d0.T = 1;
        d0.pos0 = 0;
        float *z = malloc(n * sizeof *z);
        memcpy(z, x, n * sizeof *z);
        socfw_nn_rope_forward(z, &d0);
        nn_assert_close("pos 0", z, x, (size_t)H * D, 0, 0);
        socfw_nn_rope_backward(xh, &dh);
        nn_assert_close("inverse", xh, x, n, 1e-5, 1e-5);
        free(x); free(y); free(back); free(xi); free(xh); free(z);
}

Test(nn_attention, rope_llama_inv_freq_override)
{
        float x[8] = { 1, 0, 1, 0, 1, 0, 1, 0 }, ref[8];
        float inv[4] = { 1.0f, 0.5f, 0.25f, 0.0f };
        socfw_nn_rope_desc d = { .B = 1, .T = 1, .H = 1, .D = 8, .mode = SOCFW_NN_ROPE_INTERLEAVED,
                                 .pos0 = 3, .inv_freq = inv };
        for (int i = 0; i < 4; i++) {
                ref[2 * i] = cosf(3.0f * inv[i]);
                ref[2 * i + 1] = sinf(3.0f * inv[i]);
        }
        cr_assert_eq(socfw_nn_rope_forward(x, &d), 0);
        nn_assert_close("rotated", x, ref, 8, 1e-6, 1e-5);
}

/* Same inputs with 1 and 2 threads: bitwise-identical results. */
Test(nn_attention, thread_count_does_not_change_results, .timeout = 60)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, 12);
        int B = 4, T = 32, H = 4, D = 16, C = H * D;
        size_t n = (size_t)B * T * C, na = (size_t)B * H * T * T;
        float *q = rnd_buf(n, &rng), *k = rnd_buf(n, &rng), *v = rnd_buf(n, &rng);
        float *dout = rnd_buf(n, &rng), *w = rnd_buf(C, &rng), *bb = rnd_buf(C, &rng);
        float *res[2][6];
        for (int run = 0; run < 2; run++) {
                socfw_threads_set(run + 1);
                cr_assert_eq(socfw_threads_get(), run + 1);
                float *o = zeros(n), *att = zeros(na), *dq = zeros(n), *dk = zeros(n),
                      *dv = zeros(n), *dw = zeros(C), *ln = zeros(n), *dx = zeros(n);
                float mean[128], rstd[128];
                socfw_nn_attn_desc d = { .B = B, .T = T, .Tk = T, .H = H, .Hkv = H, .D = D,
                                         .causal = 1 };
                socfw_nn_attention_forward(o, att, q, k, v, &d);
                socfw_nn_attention_backward(dq, dk, dv, dout, q, k, v, att, &d);
                socfw_nn_layernorm_forward(ln, mean, rstd, q, w, bb, B * T, C, 1e-5f);
                socfw_nn_layernorm_backward(dx, dw, NULL, dout, q, w, mean, rstd, B * T, C);
                res[run][0] = o; res[run][1] = dq; res[run][2] = dk; res[run][3] = dv;
                res[run][4] = dw; res[run][5] = dx;
                free(att); free(ln);
        }
        socfw_threads_set(0);
        for (int i = 0; i < 6; i++) {
                size_t len = i == 4 ? (size_t)C : n;
                cr_assert_eq(memcmp(res[0][i], res[1][i], len * sizeof(float)), 0,
                             "result %d differs between 1 and 2 threads", i);
                free(res[0][i]);
                free(res[1][i]);
        }
        free(q); free(k); free(v); free(dout); free(w); free(bb);
}
