/* tests/test_heads_misc.c - descriptors, masking, dropout, tensor names,
 * frozen tensors and bad input for the head modules. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_impl.h"
#include "test_heads.h"

static const char *const head_names[] = {"classifier", "tagger", "lm",
                                         "ranker", NULL};

/* ---- descriptors ---- */

Test(heads_specs, descriptors_pass_plugin_check)
{
        socfw_registry *reg = heads_registry();
        for (const char *const *n = head_names; *n; n++) {
                const socfw_plugin *d =
                        socfw_registry_find(reg, *n, SOCFW_PLUGIN_HEAD);
                cr_assert_not_null(d, "head %s not found; problems: %zu", *n,
                                   socfw_registry_problem_count(reg));
                socfw_error err = {0};
                cr_expect_eq(socfw_plugin_check(d, *n, &err), 0, "%s: %s", *n,
                             err.message);
                cr_expect_eq(d->kind, SOCFW_PLUGIN_HEAD);
                cr_expect_eq(d->abi_major, SOCFW_ABI_MAJOR);
                cr_expect_eq(d->abi_minor, SOCFW_ABI_MINOR);
                unsigned maj, min, pat;
                char end;
                cr_expect(d->version &&
                                  sscanf(d->version, "%u.%u.%u%c", &maj,
                                         &min, &pat, &end) == 3,
                          "%s: version '%s' is not MAJOR.MINOR.PATCH", *n,
                          d->version ? d->version : "(null)");
                cr_expect_str_eq(d->license, "MIT");
                cr_expect(d->head->create && d->head->destroy &&
                          d->head->init_params && d->head->forward &&
                          d->head->loss && d->head->backward &&
                          d->head->output_size,
                          "%s: a hook is missing", *n);
                cr_assert_not_null(d->params);
                for (const socfw_param_spec *s = d->params; s->key; s++) {
                        cr_expect_str_neq(s->key, "type",
                                          "%s: 'type' belongs to the host",
                                          *n);
                        cr_expect(s->help && strlen(s->help) > 10,
                                  "%s.%s has no help", *n, s->key);
                }
                cr_assert_not_null(d->loss_params);
                const socfw_param_spec *type = NULL;
                for (const socfw_param_spec *s = d->loss_params; s->key; s++) {
                        cr_expect(s->help && strlen(s->help) > 10,
                                  "loss %s.%s has no help", *n, s->key);
                        if (strcmp(s->key, "type") == 0)
                                type = s;
                }
                cr_assert_not_null(type, "%s: loss has no 'type'", *n);
                cr_expect_eq(type->type, SOCFW_PARAM_ENUM);
                cr_assert_not_null(type->default_value);
                bool found = false;
                for (const char *const *c = type->choices; c && *c; c++)
                        found |= strcmp(*c, type->default_value) == 0;
                cr_expect(found, "%s: default loss '%s' is not a choice", *n,
                          type->default_value);
        }
}

Test(heads_specs, no_load_problems_for_heads)
{
        socfw_registry *reg = heads_registry();
        for (size_t i = 0; i < socfw_registry_problem_count(reg); i++)
                cr_expect_null(strstr(socfw_registry_problem(reg, i),
                                      "/heads/"),
                               "%s", socfw_registry_problem(reg, i));
}

/* ---- masking ---- */

/* Garbage in padding positions changes nothing, and padding receives no
 * gradient. */
static void
check_masking(const char *fixture)
{
        hcase c;
        hcase_open(&c, fixture);
        size_t N = (size_t)c.fx.B * c.fx.T, C = (size_t)c.fx.C;
        size_t nout = c.h.d->head->output_size(c.h.state, c.fx.B, c.fx.T);
        float l1 = hcase_step(&c, false, 3);
        float *out1 = malloc(nout * sizeof *out1);
        float *dh1 = malloc(N * C * sizeof *dh1);
        cr_assert(out1 && dh1);
        memcpy(out1, c.io.out, nout * sizeof *out1);
        memcpy(dh1, c.io.dhidden, N * C * sizeof *dh1);
        int padded = 0;
        for (size_t i = 0; i < N; i++) {
                if (c.mask[i])
                        continue;
                padded++;
                for (size_t k = 0; k < C; k++) {
                        cr_expect_eq(dh1[i * C + k], 0.0f,
                                     "%s: padding row %zu got a gradient",
                                     fixture, i);
                        c.hidden[i * C + k] = 1000.0f * (float)(k + 1) *
                                              ((i + k) % 2 ? -1.0f : 1.0f);
                }
        }
        cr_assert_gt(padded, 0, "%s: the fixture has no padding", fixture);
        float l2 = hcase_step(&c, false, 3);
        cr_expect_eq(l1, l2, "%s: loss changed with the padding", fixture);
        cr_expect_eq(memcmp(out1, c.io.out, nout * sizeof *out1), 0,
                     "%s: output changed with the padding", fixture);
        cr_expect_eq(memcmp(dh1, c.io.dhidden, N * C * sizeof *dh1), 0,
                     "%s: dhidden changed with the padding", fixture);
        free(out1);
        free(dh1);
        hcase_close(&c);
}

Test(heads_mask, padding_is_ignored)
{
        for (const char *const *f = heads_fixtures; *f; f++)
                check_masking(*f);
}

/* ---- dropout ---- */

static void
check_dropout(const char *fixture)
{
        hcase c;
        hcase_open(&c, fixture);
        size_t n = c.h.d->head->output_size(c.h.state, c.fx.B, c.fx.T);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        cr_assert(a && b);
        hcase_loss(&c, false, 1);
        memcpy(a, c.io.out, n * sizeof *a);
        hcase_loss(&c, false, 2);
        cr_expect_eq(memcmp(a, c.io.out, n * sizeof *a), 0,
                     "%s: eval output depends on the seed", fixture);
        socfw_rng fresh;
        socfw_rng_seed(&fresh, 2);
        cr_expect(memcmp(c.rng.s, fresh.s, sizeof fresh.s) == 0 &&
                          c.rng.has_spare == fresh.has_spare,
                  "%s: eval drew random numbers", fixture);
        /* training: same seed, same output; another seed, another one */
        hcase_loss(&c, true, 5);
        memcpy(b, c.io.out, n * sizeof *b);
        cr_expect_neq(memcmp(a, b, n * sizeof *a), 0,
                      "%s: dropout did nothing in training", fixture);
        hcase_loss(&c, true, 5);
        cr_expect_eq(memcmp(b, c.io.out, n * sizeof *b), 0,
                     "%s: training output not reproducible", fixture);
        hcase_loss(&c, true, 6);
        cr_expect_neq(memcmp(b, c.io.out, n * sizeof *b), 0,
                      "%s: the seed does not matter", fixture);
        free(a);
        free(b);
        hcase_close(&c);
}

Test(heads_dropout, eval_is_deterministic_classifier)
{
        check_dropout("classifier_mean_ce");
        check_dropout("classifier_cls_tanh_ce");
}

Test(heads_dropout, eval_is_deterministic_tagger)
{
        check_dropout("tagger_ce");
}

/* ---- tensor names ---- */

static int
create_into(const char *type, const char *head_yaml, socfw_params *ps,
            int C, int K, const float *emb, void **state, socfw_error *err)
{
        const socfw_plugin *d =
                socfw_registry_find(heads_registry(), type, SOCFW_PLUGIN_HEAD);
        cr_assert_not_null(d);
        ynode *hn, *ln;
        socfw_config *hc = heads_config(type, head_yaml, d->params, &hn);
        socfw_config *lc = heads_config("loss", NULL, d->loss_params, &ln);
        socfw_head_dims dims = {.hidden = C, .n_outputs = K, .max_seq = 8,
                                .max_batch = 4, .embedding = emb};
        int rc = d->head->create(hc, lc, &dims, ps, state, err);
        socfw_config_free(hc);
        socfw_config_free(lc);
        ynode_free(hn);
        ynode_free(ln);
        return rc;
}

static void
destroy(const char *type, void *state)
{
        socfw_registry_find(heads_registry(), type, SOCFW_PLUGIN_HEAD)
                ->head->destroy(state);
}

Test(heads_names, unique_per_instance_and_prefix)
{
        socfw_params *ps = socfw_params_new();
        socfw_error err = {0};
        void *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
        cr_assert_eq(create_into("classifier", "{hidden: 3}", ps, 4, 2, NULL,
                                 &s1, &err), 0, "%s", err.message);
        cr_assert_eq(create_into("classifier", NULL, ps, 4, 2, NULL, &s2,
                                 &err), 0, "%s", err.message);
        cr_assert_eq(create_into("classifier", "{prefix: head.sentiment}", ps,
                                 4, 2, NULL, &s3, &err), 0, "%s",
                     err.message);
        cr_assert_eq(create_into("tagger", NULL, ps, 4, 5, NULL, &s4, &err),
                     0, "%s", err.message);
        const char *want[] = {"head.classifier.dense.weight",
                              "head.classifier.dense.bias",
                              "head.classifier.out.weight",
                              "head.classifier.out.bias",
                              "head.classifier.1.out.weight",
                              "head.classifier.1.out.bias",
                              "head.sentiment.out.weight",
                              "head.sentiment.out.bias",
                              "head.tagger.out.weight",
                              "head.tagger.out.bias"};
        cr_assert_eq(socfw_params_count(ps), 10);
        for (int i = 0; i < 10; i++)
                cr_expect_str_eq(socfw_params_name(ps, i), want[i]);
        const int64_t *sh = socfw_params_shape(ps, 2);
        cr_expect(sh[0] == 2 && sh[1] == 3, "out.weight is (K, hidden)");
        /* the same prefix twice is refused with a message */
        void *s5 = NULL;
        socfw_error e2 = {0};
        cr_expect_lt(create_into("classifier", "{prefix: head.sentiment}", ps,
                                 4, 2, NULL, &s5, &e2), 0);
        cr_expect_null(s5);
        cr_expect_neq(e2.message[0], '\0');
        destroy("classifier", s1);
        destroy("classifier", s2);
        destroy("classifier", s3);
        destroy("tagger", s4);
        socfw_params_free(ps);
}

Test(heads_names, lm_tied_registers_nothing)
{
        float emb[6 * 4] = {0};
        socfw_params *ps = socfw_params_new();
        socfw_error err = {0};
        void *a = NULL, *b = NULL, *c = NULL;
        cr_assert_eq(create_into("lm", NULL, ps, 4, 6, emb, &a, &err), 0);
        cr_expect_eq(socfw_params_count(ps), 0, "tied lm owns no tensor");
        /* no embedding lent: own matrix */
        cr_assert_eq(create_into("lm", NULL, ps, 4, 6, NULL, &b, &err), 0);
        cr_assert_eq(socfw_params_count(ps), 1);
        cr_expect_str_eq(socfw_params_name(ps, 0), "head.lm.out.weight");
        cr_assert_eq(create_into("lm", "{tie_weights: false, bias: true}", ps,
                                 4, 6, emb, &c, &err), 0);
        cr_assert_eq(socfw_params_count(ps), 3);
        cr_expect_str_eq(socfw_params_name(ps, 1), "head.lm.1.out.weight");
        cr_expect_str_eq(socfw_params_name(ps, 2), "head.lm.1.out.bias");
        destroy("lm", a);
        destroy("lm", b);
        destroy("lm", c);
        socfw_params_free(ps);

        /* a tied lm with a bias, then an untied one: no clash on out.bias */
        ps = socfw_params_new();
        cr_assert_eq(create_into("lm", "{bias: true}", ps, 4, 6, emb, &a,
                                 &err), 0, "%s", err.message);
        cr_assert_eq(create_into("lm", "{tie_weights: false, bias: true}", ps,
                                 4, 6, emb, &b, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_params_count(ps), 3);
        cr_expect_str_eq(socfw_params_name(ps, 0), "head.lm.out.bias");
        cr_expect_str_eq(socfw_params_name(ps, 1), "head.lm.1.out.weight");
        cr_expect_str_eq(socfw_params_name(ps, 2), "head.lm.1.out.bias");
        destroy("lm", a);
        destroy("lm", b);
        socfw_params_free(ps);
}

Test(heads_names, init_params_normal_and_zero_bias)
{
        hinst h;
        socfw_error err = {0};
        cr_assert_eq(hinst_new(&h, "classifier", "{hidden: 64}", NULL, 128,
                               3, NULL, &err), 0, "%s", err.message);
        int w = hinst_param(&h, "dense.weight"), b = hinst_param(&h,
                                                                "dense.bias");
        cr_assert(w >= 0 && b >= 0);
        const float *W = socfw_params_data(h.ps, w);
        double s = 0, s2 = 0;
        size_t n = (size_t)socfw_params_numel(h.ps, w);
        for (size_t i = 0; i < n; i++) {
                s += W[i];
                s2 += (double)W[i] * W[i];
        }
        double sd = sqrt(s2 / n - (s / n) * (s / n));
        cr_expect(fabs(sd - 0.02) < 0.002, "std %g, expected 0.02", sd);
        cr_expect(fabs(s / n) < 0.002, "mean %g", s / n);
        for (int64_t i = 0; i < socfw_params_numel(h.ps, b); i++)
                cr_expect_eq(socfw_params_data(h.ps, b)[i], 0.0f);
        hinst_free(&h);
}

/* ---- frozen tensors, missing dhidden, big batches ---- */

Test(heads_misc, frozen_tensor_gets_no_gradient)
{
        hcase c;
        hcase_open(&c, "classifier_cls_tanh_ce");
        hcase_step(&c, false, 1);
        int w = hinst_param(&c.h, "out.weight");
        int d = hinst_param(&c.h, "dense.weight");
        size_t nd = (size_t)socfw_params_numel(c.h.ps, d);
        float *ref = malloc(nd * sizeof *ref);
        cr_assert_not_null(ref);
        memcpy(ref, socfw_params_grad(c.h.ps, d), nd * sizeof *ref);
        socfw_params_set_trainable(c.h.ps, w, false);
        /* zero_grad leaves frozen tensors alone: clear it by hand */
        memset(socfw_params_grad(c.h.ps, w), 0,
               (size_t)socfw_params_numel(c.h.ps, w) * sizeof(float));
        hcase_step(&c, false, 1);
        const float *gw = socfw_params_grad(c.h.ps, w);
        for (int64_t i = 0; i < socfw_params_numel(c.h.ps, w); i++)
                cr_expect_eq(gw[i], 0.0f);
        cr_expect_eq(memcmp(ref, socfw_params_grad(c.h.ps, d),
                            nd * sizeof *ref), 0);
        free(ref);
        hcase_close(&c);
}

Test(heads_misc, backward_without_dhidden)
{
        for (const char *const *f = heads_fixtures; *f; f++) {
                hcase c;
                hcase_open(&c, *f);
                hcase_step(&c, false, 1);
                int64_t n = socfw_params_size(c.h.ps);
                float *ref = calloc(n > 0 ? (size_t)n : 1, sizeof *ref);
                cr_assert_not_null(ref);
                if (n > 0)
                        memcpy(ref, socfw_params_grad_buffer(c.h.ps),
                               (size_t)n * sizeof *ref);
                float *dh = c.io.dhidden;
                c.io.dhidden = NULL;
                socfw_params_zero_grad(c.h.ps);
                socfw_error err = {0};
                hcase_loss(&c, false, 1);
                cr_expect_eq(c.h.d->head->backward(c.h.state, &c.io, &err), 0,
                             "%s: %s", *f, err.message);
                if (n > 0)
                        cr_expect_eq(memcmp(ref,
                                            socfw_params_grad_buffer(c.h.ps),
                                            (size_t)n * sizeof *ref),
                                     0, "%s", *f);
                c.io.dhidden = dh;
                free(ref);
                hcase_close(&c);
        }
}

Test(heads_misc, batch_larger_than_max_batch)
{
        hinst h;
        socfw_error err = {0};
        cr_assert_eq(hinst_new(&h, "classifier", "{pooling: max, hidden: 4}",
                               NULL, 8, 3, NULL, &err), 0);
        int B = 40, T = 7, C = 8;
        size_t n = h.d->head->output_size(h.state, B, T);
        cr_assert_eq(n, (size_t)B * 3);
        float *hid = calloc((size_t)B * T * C, sizeof *hid);
        float *out = calloc(n, sizeof *out), *dout = calloc(n, sizeof *dout);
        float *dh = calloc((size_t)B * T * C, sizeof *dh);
        int32_t *cls = calloc((size_t)B, sizeof *cls);
        cr_assert(hid && out && dout && dh && cls);
        for (size_t i = 0; i < (size_t)B * T * C; i++)
                hid[i] = sinf((float)i);
        socfw_rng rng;
        socfw_rng_seed(&rng, 1);
        socfw_head_io io = {.B = B, .T = T, .C = C, .hidden = hid,
                            .dhidden = dh, .out = out, .dout = dout,
                            .training = true, .rng = &rng};
        socfw_head_targets tg = {.kind = SOCFW_TARGET_CLASS,
                                 .class_ids = cls};
        float loss = 0;
        cr_expect_eq(h.d->head->forward(h.state, &io, &err), 0, "%s",
                     err.message);
        cr_expect_eq(h.d->head->loss(h.state, &io, &tg, &loss, &err), 0);
        cr_expect(isfinite(loss) && loss > 0);
        cr_expect_eq(h.d->head->backward(h.state, &io, &err), 0);
        free(hid);
        free(out);
        free(dout);
        free(dh);
        free(cls);
        hinst_free(&h);
}

/* ---- bad input ---- */

Test(heads_errors, wrong_targets_and_layouts)
{
        socfw_error err = {0};
        float loss;
        hcase c;
        hcase_open(&c, "classifier_mean_ce");
        hcase_loss(&c, false, 1);
        /* multi-label targets for cross_entropy */
        socfw_head_targets multi = {.kind = SOCFW_TARGET_MULTI_LABEL,
                                    .multi = c.ftarget};
        cr_expect_eq(c.h.d->head->loss(c.h.state, &c.io, &multi, &loss, &err),
                     SOCFW_EINVAL);
        cr_expect_neq(strstr(err.message, "bce"), NULL, "%s", err.message);
        /* NULL targets */
        memset(&err, 0, sizeof err);
        cr_expect_eq(c.h.d->head->loss(c.h.state, &c.io, NULL, &loss, &err),
                     SOCFW_EINVAL);
        /* a class id out of range */
        memset(&err, 0, sizeof err);
        c.itarget[1] = 7;
        cr_expect_eq(c.h.d->head->loss(c.h.state, &c.io, &c.tg, &loss, &err),
                     SOCFW_EINVAL);
        cr_expect_neq(err.message[0], '\0');
        /* loss for another batch size than the last forward */
        memset(&err, 0, sizeof err);
        c.itarget[1] = 0;
        c.io.B = 2;
        cr_expect_eq(c.h.d->head->loss(c.h.state, &c.io, &c.tg, &loss, &err),
                     SOCFW_ESTATE);
        c.io.B = c.fx.B;
        /* training with dropout but no generator */
        memset(&err, 0, sizeof err);
        c.io.training = true;
        c.io.rng = NULL;
        cr_expect_eq(c.h.d->head->forward(c.h.state, &c.io, &err),
                     SOCFW_EINVAL);
        hcase_close(&c);

        /* ranker layouts: odd batch for in-batch softmax, B % 3 for bpr */
        hcase_open(&c, "ranker_softmax_raw");       /* B = 4 */
        c.io.B = 3;
        memset(&err, 0, sizeof err);
        cr_expect_eq(c.h.d->head->forward(c.h.state, &c.io, &err), 0);
        cr_expect_eq(c.h.d->head->loss(c.h.state, &c.io, NULL, &loss, &err),
                     SOCFW_EINVAL);
        cr_expect_neq(strstr(err.message, "pairs"), NULL, "%s", err.message);
        hcase_close(&c);
        hcase_open(&c, "ranker_bpr");               /* B = 6 */
        c.io.B = 4;
        memset(&err, 0, sizeof err);
        cr_expect_eq(c.h.d->head->forward(c.h.state, &c.io, &err), 0);
        cr_expect_eq(c.h.d->head->loss(c.h.state, &c.io, NULL, &loss, &err),
                     SOCFW_EINVAL);
        cr_expect_neq(strstr(err.message, "triples"), NULL, "%s",
                      err.message);
        hcase_close(&c);

        /* bad dims at create */
        hinst h;
        memset(&err, 0, sizeof err);
        cr_expect_eq(hinst_new(&h, "tagger", NULL, NULL, 8, 0, NULL, &err),
                     SOCFW_EINVAL);
        cr_expect_null(h.state);
        hinst_free(&h);
}
