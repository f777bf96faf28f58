/* test_optim.c - AdamW against torch, clipping, schedules, state restore. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/optim.h"
#include "testutil.h"

/* ---- fixture (tests/fixtures/optim/adamw.json, from
 *      gen_optim_fixture.py with torch.optim.AdamW) ---- */

static json_t *
load_fixture(void)
{
        char path[4096];
        json_error_t jerr;

        socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                        "tests/fixtures/optim/adamw.json");
        json_t *root = json_load_file(path, 0, &jerr);
        cr_assert(root, "cannot load %s: %s (line %d)", path, jerr.text,
                  jerr.line);
        return root;
}

static float *
get_floats(json_t *obj, const char *key, size_t n)
{
        json_t *a = json_object_get(obj, key);
        cr_assert(json_is_array(a) && json_array_size(a) == n,
                  "fixture field %s: expected %zu numbers", key, n);
        float *out = malloc(n * sizeof *out);
        cr_assert(out);
        for (size_t i = 0; i < n; i++)
                out[i] = (float)json_number_value(json_array_get(a, i));
        return out;
}

static double
get_num(json_t *obj, const char *key)
{
        json_t *x = json_object_get(obj, key);
        cr_assert(json_is_number(x), "fixture field %s missing", key);
        return json_number_value(x);
}

static double
max_abs_diff(const float *a, const float *b, size_t n)
{
        double d = 0.0;
        for (size_t i = 0; i < n; i++) {
                double e = fabs((double)a[i] - (double)b[i]);
                if (e > d || isnan(e))
                        d = isnan(e) ? INFINITY : e;
        }
        return d;
}

struct fixture {
        json_t *root;
        size_t n, n_decay;
        socfw_adamw_config cfg;
        float max_norm;
        float *init;
};

static void
fixture_open(struct fixture *f)
{
        f->root = load_fixture();
        f->n = (size_t)get_num(f->root, "n");
        f->n_decay = (size_t)get_num(f->root, "n_decay");
        socfw_adamw_config_default(&f->cfg);
        f->cfg.lr = (float)get_num(f->root, "lr");
        f->cfg.beta1 = (float)get_num(f->root, "beta1");
        f->cfg.beta2 = (float)get_num(f->root, "beta2");
        f->cfg.eps = (float)get_num(f->root, "eps");
        f->cfg.weight_decay = (float)get_num(f->root, "weight_decay");
        f->max_norm = (float)get_num(f->root, "max_norm");
        f->init = get_floats(f->root, "init", f->n);
}

static void
fixture_close(struct fixture *f)
{
        free(f->init);
        json_decref(f->root);
}

static socfw_adamw *
fixture_optimizer(struct fixture *f)
{
        socfw_error err = {0};
        socfw_adamw *opt = socfw_adamw_new(f->n, &f->cfg, &err);
        cr_assert(opt, "%s", err.message);
        cr_assert_eq(socfw_adamw_set_decay_range(opt, f->n_decay,
                                                 f->n - f->n_decay, 0, &err),
                     0);
        return opt;
}

Test(optim, adamw_matches_torch_20_steps)
{
        struct fixture f;
        fixture_open(&f);
        socfw_adamw *opt = fixture_optimizer(&f);
        float *param = malloc(f.n * sizeof *param);
        memcpy(param, f.init, f.n * sizeof *param);
        json_t *steps = json_object_get(f.root, "steps");
        cr_assert(json_array_size(steps) == 20);

        double worst = 0.0, worst_norm = 0.0;
        for (size_t s = 0; s < json_array_size(steps); s++) {
                json_t *st = json_array_get(steps, s);
                float *grad = get_floats(st, "grad", f.n);
                float *clipped = get_floats(st, "clipped", f.n);
                float *want = get_floats(st, "param", f.n);
                float norm = socfw_grad_clip_norm(grad, f.n, f.max_norm);
                double tn = get_num(st, "norm");
                double dn = fabs(norm - tn) / (tn > 1.0 ? tn : 1.0);
                if (dn > worst_norm)
                        worst_norm = dn;
                cr_assert_leq(max_abs_diff(grad, clipped, f.n), 1e-6,
                              "step %zu: clipped gradient differs", s);
                socfw_adamw_step(opt, param, grad, get_num(st, "lr"));
                double d = max_abs_diff(param, want, f.n);
                if (d > worst)
                        worst = d;
                cr_assert_lt(d, 1e-6, "step %zu: max |param - torch| = %g",
                             s, d);
                free(grad);
                free(clipped);
                free(want);
        }
        float *m = get_floats(f.root, "m", f.n);
        float *v = get_floats(f.root, "v", f.n);
        cr_assert_lt(max_abs_diff(socfw_adamw_m(opt), m, f.n), 1e-6);
        cr_assert_lt(max_abs_diff(socfw_adamw_v(opt), v, f.n), 1e-6);
        cr_assert_eq(socfw_adamw_steps(opt), (long)get_num(f.root,
                                                          "step_count"));
        cr_log_info("adamw vs torch over 20 steps: max |dparam| = %.3g, "
                    "max rel |dnorm| = %.3g", worst, worst_norm);
        free(m);
        free(v);
        free(param);
        socfw_adamw_free(opt);
        fixture_close(&f);
}

/* Without the decay mask the biases are decayed too, and the run no
 * longer matches torch's two parameter groups. */
Test(optim, decay_mask_matters)
{
        struct fixture f;
        fixture_open(&f);
        socfw_error err = {0};
        socfw_adamw *opt = socfw_adamw_new(f.n, &f.cfg, &err);
        cr_assert(opt);
        float *param = malloc(f.n * sizeof *param);
        memcpy(param, f.init, f.n * sizeof *param);
        json_t *steps = json_object_get(f.root, "steps");
        float *want = NULL;
        for (size_t s = 0; s < json_array_size(steps); s++) {
                json_t *st = json_array_get(steps, s);
                float *grad = get_floats(st, "clipped", f.n);
                socfw_adamw_step(opt, param, grad, get_num(st, "lr"));
                free(grad);
                if (s + 1 == json_array_size(steps))
                        want = get_floats(st, "param", f.n);
        }
        /* weights (decayed in both) agree, biases do not */
        cr_assert_lt(max_abs_diff(param, want, f.n_decay), 1e-6);
        cr_assert_gt(max_abs_diff(param + f.n_decay, want + f.n_decay,
                                  f.n - f.n_decay), 1e-4);
        free(want);
        free(param);
        socfw_adamw_free(opt);
        fixture_close(&f);
}

Test(optim, decay_only_where_masked)
{
        /* zero gradient: m = v = 0, so the step is pure decay */
        socfw_adamw_config cfg;
        socfw_adamw_config_default(&cfg);
        cfg.weight_decay = 0.5f;
        socfw_adamw *opt = socfw_adamw_new(6, &cfg, NULL);
        uint8_t mask[6] = {1, 0, 1, 0, 0, 1};
        socfw_adamw_set_decay_mask(opt, mask);
        float p[6] = {1, 1, 1, 1, 1, 1}, g[6] = {0};
        socfw_adamw_step(opt, p, g, 0.1);
        for (int i = 0; i < 6; i++)
                cr_assert_float_eq(p[i], mask[i] ? 0.95f : 1.0f, 1e-7,
                                   "element %d", i);
        cr_assert_neq(socfw_adamw_set_decay_range(opt, 4, 3, 0, NULL), 0);
        socfw_adamw_free(opt);
}

Test(optim, clip_norm_torch_semantics)
{
        float g[4] = {3, 4, 0, 0};
        float norm = socfw_grad_clip_norm(g, 4, 10.0f);
        cr_assert_float_eq(norm, 5.0f, 1e-6);
        cr_assert_eq(g[0], 3.0f);       /* below max: untouched */
        norm = socfw_grad_clip_norm(g, 4, 1.0f);
        cr_assert_float_eq(norm, 5.0f, 1e-6);
        /* torch: coef = 1 / (5 + 1e-6) */
        cr_assert_float_eq(g[0], 3.0f / (5.0f + 1e-6f), 1e-7);
        cr_assert_float_eq(g[1], 4.0f / (5.0f + 1e-6f), 1e-7);

        float a[2] = {1, 2}, b[3] = {2, 0, 4};
        float *bufs[2] = {a, b};
        size_t ns[2] = {2, 3};
        norm = socfw_grad_clip_norm_multi(bufs, ns, 2, 2.5f);
        cr_assert_float_eq(norm, 5.0f, 1e-6);
        cr_assert_float_eq(b[2], 4.0f * 2.5f / (5.0f + 1e-6f), 1e-6);

        float bad[2] = {INFINITY, 1};
        norm = socfw_grad_clip_norm(bad, 2, 1.0f);
        cr_assert(isinf(norm));
        cr_assert_eq(bad[1], 1.0f);
}

Test(optim, accumulation_helpers)
{
        float acc[3] = {0}, g1[3] = {1, 2, 3}, g2[3] = {3, 2, 1};
        socfw_grad_accumulate(acc, g1, 3);
        socfw_grad_accumulate(acc, g2, 3);
        socfw_grad_scale(acc, 3, 0.5f);
        for (int i = 0; i < 3; i++)
                cr_assert_float_eq(acc[i], 2.0f, 1e-7);
}

/* Save m, v and the step count after 7 steps, restore them into a fresh
 * optimizer and continue: bitwise the same as the uninterrupted run. */
Test(optim, state_restore_identical_continuation)
{
        struct fixture f;
        fixture_open(&f);
        json_t *steps = json_object_get(f.root, "steps");
        size_t ns = json_array_size(steps), cut = 7;
        socfw_adamw *a = fixture_optimizer(&f);
        float *pa = malloc(f.n * sizeof *pa), *pb = malloc(f.n * sizeof *pb);
        float *sm = malloc(f.n * sizeof *sm), *sv = malloc(f.n * sizeof *sv);
        memcpy(pa, f.init, f.n * sizeof *pa);
        socfw_adamw *b = NULL;
        long saved_steps = 0;
        for (size_t s = 0; s < ns; s++) {
                json_t *st = json_array_get(steps, s);
                float *g = get_floats(st, "clipped", f.n);
                if (s == cut) {
                        memcpy(pb, pa, f.n * sizeof *pb);
                        memcpy(sm, socfw_adamw_m(a), f.n * sizeof *sm);
                        memcpy(sv, socfw_adamw_v(a), f.n * sizeof *sv);
                        saved_steps = socfw_adamw_steps(a);
                        b = fixture_optimizer(&f);
                        socfw_error err = {0};
                        cr_assert_eq(socfw_adamw_restore(b, sm, sv, f.n,
                                                         saved_steps, &err),
                                     0, "%s", err.message);
                }
                socfw_adamw_step(a, pa, g, get_num(st, "lr"));
                if (b)
                        socfw_adamw_step(b, pb, g, get_num(st, "lr"));
                free(g);
        }
        cr_assert_eq(saved_steps, (long)cut);
        cr_assert(memcmp(pa, pb, f.n * sizeof *pa) == 0);
        cr_assert(memcmp(socfw_adamw_m(a), socfw_adamw_m(b),
                         f.n * sizeof(float)) == 0);
        cr_assert(memcmp(socfw_adamw_v(a), socfw_adamw_v(b),
                         f.n * sizeof(float)) == 0);
        cr_assert_eq(socfw_adamw_steps(a), socfw_adamw_steps(b));

        /* a corrupt or mismatched state is refused */
        socfw_error err = {0};
        sv[3] = -1.0f;
        cr_assert_eq(socfw_adamw_restore(b, sm, sv, f.n, 3, &err),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_adamw_restore(b, sm, sm, f.n - 1, 3, NULL),
                     SOCFW_EINVAL);
        free(pa);
        free(pb);
        free(sm);
        free(sv);
        socfw_adamw_free(a);
        socfw_adamw_free(b);
        fixture_close(&f);
}

/* 1 thread and several threads give bitwise the same parameters. */
Test(optim, threads_bitwise_deterministic, .timeout = 30)
{
        size_t n = (size_t)1 << 19;
        float *p1 = malloc(n * sizeof *p1), *p2 = malloc(n * sizeof *p2);
        float *g = malloc(n * sizeof *g);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
                x = x * 1664525u + 1013904223u;
                p1[i] = p2[i] = (float)(x >> 8) / 16777216.0f - 0.5f;
                g[i] = (float)((x * 7u) >> 8) / 16777216.0f - 0.5f;
        }
        socfw_adamw_config cfg;
        socfw_adamw_config_default(&cfg);
        cfg.threads = 1;
        socfw_adamw *a = socfw_adamw_new(n, &cfg, NULL);
        cfg.threads = 4;
        socfw_adamw *b = socfw_adamw_new(n, &cfg, NULL);
        socfw_adamw_set_decay_range(a, 1000, 5000, 0, NULL);
        socfw_adamw_set_decay_range(b, 1000, 5000, 0, NULL);
        for (int s = 0; s < 3; s++) {
                socfw_adamw_step(a, p1, g, 1e-3);
                socfw_adamw_step(b, p2, g, 1e-3);
        }
        cr_assert(memcmp(p1, p2, n * sizeof *p1) == 0);
        cr_assert(memcmp(socfw_adamw_v(a), socfw_adamw_v(b),
                         n * sizeof(float)) == 0);
        socfw_adamw_free(a);
        socfw_adamw_free(b);
        free(p1);
        free(p2);
        free(g);
}

Test(optim, bad_config_refused)
{
        socfw_adamw_config cfg;
        socfw_adamw_config_default(&cfg);
        socfw_error err = {0};
        cr_assert_null(socfw_adamw_new(0, &cfg, &err));
        cr_assert_eq(err.code, SOCFW_EINVAL);
        cfg.beta2 = 1.0f;
        socfw_error_clear(&err);
        cr_assert_null(socfw_adamw_new(4, &cfg, &err));
        cr_assert(strstr(err.message, "betas") != NULL, "%s", err.message);
        cfg.beta2 = 0.999f;
        cfg.eps = NAN;
        cr_assert_null(socfw_adamw_new(4, &cfg, NULL));
        socfw_adamw_free(NULL);
}

/* ---- schedules: values of HF's lr_lambda formulas, worked out by hand ---- */

struct sched_case {
        socfw_lr_schedule_kind kind;
        long total, warmup;
        double ratio, min_ratio;
        long step;
        double want;
};

static const struct sched_case sched_cases[] = {
        /* get_constant_schedule / _with_warmup(num_warmup_steps=4) */
        {SOCFW_LR_CONSTANT, 100, 0, 0.0, 0.0, 0, 1.0},
        {SOCFW_LR_CONSTANT, 100, 0, 0.0, 0.0, 99, 1.0},
        {SOCFW_LR_CONSTANT, 100, 4, 0.0, 0.0, 0, 0.0},
        {SOCFW_LR_CONSTANT, 100, 4, 0.0, 0.0, 1, 0.25},
        {SOCFW_LR_CONSTANT, 100, 4, 0.0, 0.0, 4, 1.0},
        /* get_linear_schedule_with_warmup(10, 110) */
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 0, 0.0},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 3, 0.3},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 9, 0.9},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 10, 1.0},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 35, 0.75},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 60, 0.5},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 109, 0.01},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 110, 0.0},
        {SOCFW_LR_LINEAR, 110, 10, 0.0, 0.0, 500, 0.0},
        /* no warmup: (total - step) / total */
        {SOCFW_LR_LINEAR, 8, 0, 0.0, 0.0, 0, 1.0},
        {SOCFW_LR_LINEAR, 8, 0, 0.0, 0.0, 6, 0.25},
        /* warmup ratio 0.06 of 1000 -> ceil(60) = 60 steps */
        {SOCFW_LR_LINEAR, 1000, 0, 0.06, 0.0, 30, 0.5},
        {SOCFW_LR_LINEAR, 1000, 0, 0.06, 0.0, 60, 1.0},
        {SOCFW_LR_LINEAR, 1000, 0, 0.06, 0.0, 530, 0.5},
        /* ratio 0.1 of 25 -> ceil(2.5) = 3 */
        {SOCFW_LR_LINEAR, 25, 0, 0.1, 0.0, 1, 1.0 / 3.0},
        {SOCFW_LR_LINEAR, 25, 0, 0.1, 0.0, 3, 1.0},
        {SOCFW_LR_LINEAR, 25, 0, 0.1, 0.0, 14, 0.5},
        /* get_cosine_schedule_with_warmup(10, 110):
         * 0.5 * (1 + cos(pi * (step - 10) / 100)) */
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 5, 0.5},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 10, 1.0},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 35, 0.85355339059327373},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 60, 0.5},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 85, 0.14644660940672627},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 110, 0.0},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 30, 0.90450849718747373},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.0, 100, 0.024471741852423234},
        /* with min_lr_rate 0.1: f * 0.9 + 0.1 */
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.1, 60, 0.55},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.1, 110, 0.1},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.1, 35, 0.86819805153394636},
        {SOCFW_LR_COSINE, 110, 10, 0.0, 0.1, 1000, 0.1},
        /* warmup_steps wins over the ratio */
        {SOCFW_LR_COSINE, 200, 20, 0.5, 0.0, 110, 0.5},
};

Test(optim, schedules_match_hf_formulas)
{
        for (size_t i = 0; i < sizeof sched_cases / sizeof *sched_cases;
             i++) {
                const struct sched_case *c = &sched_cases[i];
                socfw_lr_schedule s;
                socfw_error err = {0};
                cr_assert_eq(socfw_lr_schedule_init(&s, c->kind, c->total,
                                                    c->warmup, c->ratio,
                                                    c->min_ratio, &err),
                             0, "case %zu: %s", i, err.message);
                double got = socfw_lr_schedule_factor(&s, c->step);
                cr_assert_float_eq(got, c->want, 1e-12,
                                   "case %zu (kind %d, step %ld): %.17g, "
                                   "want %.17g", i, (int)c->kind, c->step,
                                   got, c->want);
        }
}

Test(optim, schedule_bad_input)
{
        socfw_lr_schedule s;
        cr_assert_neq(socfw_lr_schedule_init(&s, SOCFW_LR_LINEAR, 10, 0,
                                             1.5, 0, NULL), 0);
        cr_assert_neq(socfw_lr_schedule_init(&s, SOCFW_LR_LINEAR, -1, 0, 0,
                                             0, NULL), 0);
        cr_assert_neq(socfw_lr_schedule_init(&s, (socfw_lr_schedule_kind)9,
                                             10, 0, 0, 0, NULL), 0);
        cr_assert_eq(socfw_lr_schedule_kind_parse("cosine"), SOCFW_LR_COSINE);
        cr_assert_eq(socfw_lr_schedule_kind_parse("step"), -1);
        /* total 0 steps must not divide by zero */
        cr_assert_eq(socfw_lr_schedule_init(&s, SOCFW_LR_COSINE, 0, 0, 0, 0,
                                            NULL), 0);
        cr_assert(isfinite(socfw_lr_schedule_factor(&s, 0)));
}
