/* tests/test_heads_torch.c - every head and loss against PyTorch.
 *
 * The fixtures (tests/fixtures/heads/NAME.txt, written by
 * gen_heads_fixtures.py) hold hidden states, a padding mask, weights and
 * targets, and torch's logits, loss and gradients.  Logits and loss must
 * agree within 1e-5 (absolute), gradients within 1e-4 relative. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "test_heads.h"

static void
expect_close(const char *fixture, const char *what, const float *got,
             const float *want, size_t n, double atol, double rtol)
{
        double md = 0.0;
        bool ok = heads_close(got, want, n, atol, rtol, &md);
        cr_log_info("%s: %s max |diff| %.3g over %zu values", fixture, what,
                    md, n);
        cr_expect(ok, "%s: %s differs from torch (max |diff| %.3g)", fixture,
                  what, md);
}

static void
check_torch(const char *fixture)
{
        hcase c;
        hcase_open(&c, fixture);
        /* eval mode: dropout is off, as in the torch reference */
        float loss = hcase_step(&c, false, 1);
        const hfx *f = &c.fx;
        const hfx_tensor *out = hfx_get(f, "out"), *dout = hfx_get(f, "dout"),
                         *dh = hfx_get(f, "dhidden");
        cr_assert(out && dout && dh, "%s: fixture incomplete", fixture);
        cr_assert_eq(c.io.out_len, out->n, "%s: output size %zu, torch %zu",
                     fixture, c.io.out_len, out->n);
        cr_expect(fabsf(loss - f->loss_value) < 1e-5f,
                  "%s: loss %.8g, torch %.8g", fixture, (double)loss,
                  (double)f->loss_value);
        expect_close(fixture, "out", c.io.out, out->v, out->n, 1e-5, 0.0);
        expect_close(fixture, "dout", c.io.dout, dout->v, dout->n, 1e-7,
                     1e-4);
        expect_close(fixture, "dhidden", c.io.dhidden, dh->v, dh->n, 1e-7,
                     1e-4);
        int n_grads = 0;
        for (int i = 0; i < f->nt; i++) {
                const char *name = f->t[i].name;
                if (strncmp(name, "grad:", 5) != 0)
                        continue;
                const float *g;
                if (strcmp(name, "grad:embedding") == 0) {
                        g = c.h.emb_grad;
                } else {
                        int idx = hinst_param(&c.h, name + 5);
                        cr_assert_geq(idx, 0, "%s: no tensor %s", fixture,
                                      name + 5);
                        g = socfw_params_grad(c.h.ps, idx);
                }
                cr_assert_not_null(g);
                expect_close(fixture, name, g, f->t[i].v, f->t[i].n, 1e-7,
                             1e-4);
                n_grads++;
        }
        /* every parameter of the store was compared */
        int n_store = socfw_params_count(c.h.ps) + (c.h.emb_grad ? 1 : 0);
        cr_expect_eq(n_grads, n_store, "%s: %d gradients in the fixture, %d "
                     "tensors", fixture, n_grads, n_store);
        hcase_close(&c);
}

#define TORCH_CASE(name)                                                       \
        Test(heads_torch, name) { check_torch(#name); }

TORCH_CASE(classifier_mean_ce)
TORCH_CASE(classifier_cls_tanh_ce)
TORCH_CASE(classifier_last_gelu_bce)
TORCH_CASE(classifier_max_relu_ce)
TORCH_CASE(classifier_mean_bce)
TORCH_CASE(tagger_ce)
TORCH_CASE(tagger_ce_plain)
TORCH_CASE(lm_tied)
TORCH_CASE(lm_untied)
TORCH_CASE(ranker_softmax)
TORCH_CASE(ranker_softmax_raw)
TORCH_CASE(ranker_bpr)
TORCH_CASE(ranker_bce)
TORCH_CASE(ranker_bce_score)
TORCH_CASE(tagger_lookahead)
