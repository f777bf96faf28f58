/* tests/test_arch_eval.c - a training step must not depend on what the
 * model ran before it: evaluation forwards (training=false) of other,
 * larger shapes, or training steps of other shapes, leave no state in the
 * workspace that changes the next step's hidden states or gradients. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/params.h"
#include "socfw/rng.h"

#define DROP 0.1f

static socfw_model *
tiny(socfw_arch arch)
{
        socfw_model_config c;
        socfw_model_config_default(&c, arch, 50, 16, 3, 4,
                                   arch == SOCFW_ARCH_LLAMA ? 24 : 32, 20);
        if (arch == SOCFW_ARCH_LLAMA)
                c.n_kv_heads = 2;
        socfw_model *m = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_new_random(&m, &c, 7, &err), 0, "%s %s",
                     socfw_arch_name(arch), err.message);
        return m;
}

typedef struct {
        float *hidden;          /* (B,T,C) */
        float *grad;            /* whole gradient buffer */
        size_t nh;
        size_t ng;
} step_out;

static void
step_out_free(step_out *o)
{
        free(o->hidden);
        free(o->grad);
        memset(o, 0, sizeof *o);
}

static void
make_ids(const socfw_model_config *c, int B, int T, int salt, int32_t *ids,
         int32_t *mask)
{
        for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                        int i = b * T + t;
                        ids[i] = (i * 7 + 3 + salt * 11) % c->vocab_size;
                        /* right padding on every other row */
                        mask[i] = !(b & 1) || t < T - 1 - b % 3;
                }
}

/* One forward (training or not) of a (B,T) batch; with `o`, also backward
 * of sum(hidden * r) from zeroed gradients, keeping hidden and gradients. */
static void
run(socfw_model *m, int B, int T, int salt, bool training, socfw_rng *rng,
    step_out *o)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        socfw_params *ps = socfw_model_params(m);
        size_t N = (size_t)B * T, nh = N * c->hidden;
        int32_t *ids = malloc(N * sizeof *ids);
        int32_t *mask = malloc(N * sizeof *mask);
        float *h = malloc(nh * sizeof *h), *dh = malloc(nh * sizeof *dh);
        cr_assert(ids && mask && h && dh);
        make_ids(c, B, T, salt, ids, mask);
        socfw_error err = {0};
        cr_assert_eq(socfw_model_forward(m, ids, mask, NULL, B, T, training,
                                         DROP, rng, h, &err), 0, "%s",
                     err.message);
        if (o) {
                for (size_t i = 0; i < nh; i++)
                        dh[i] = (float)((i * 13 + 5) % 17) / 17.0f - 0.5f;
                socfw_params_zero_grad(ps);
                cr_assert_eq(socfw_model_backward(m, dh, &err), 0, "%s",
                             err.message);
                o->nh = nh;
                o->ng = (size_t)socfw_params_size(ps);
                o->hidden = h;
                o->grad = malloc(o->ng * sizeof(float));
                cr_assert_not_null(o->grad);
                memcpy(o->grad, socfw_params_grad_buffer(ps),
                       o->ng * sizeof(float));
                h = NULL;
        }
        free(ids);
        free(mask);
        free(h);
        free(dh);
}

static void
expect_same(const step_out *a, const step_out *b, const char *what)
{
        cr_assert_eq(a->nh, b->nh);
        cr_assert_eq(a->ng, b->ng);
        size_t bad_h = 0, bad_g = 0;
        for (size_t i = 0; i < a->nh; i++)
                bad_h += memcmp(&a->hidden[i], &b->hidden[i],
                                sizeof(float)) != 0;
        for (size_t i = 0; i < a->ng; i++)
                bad_g += memcmp(&a->grad[i], &b->grad[i],
                                sizeof(float)) != 0;
        cr_expect_eq(bad_h, 0, "%s: %zu of %zu hidden values differ", what,
                     bad_h, a->nh);
        cr_expect_eq(bad_g, 0, "%s: %zu of %zu gradients differ", what,
                     bad_g, a->ng);
}

/* The brief's case: an eval forward of a larger batch first, then a
 * training step, against the training step alone. */
static void
check_eval_first(socfw_arch arch)
{
        socfw_model *a = tiny(arch), *b = tiny(arch);
        socfw_rng ra, rb;
        socfw_rng_seed(&ra, 42);
        socfw_rng_seed(&rb, 42);
        step_out oa = {0}, ob = {0};
        run(a, 4, 8, 0, true, &ra, &oa);
        run(b, 16, 12, 1, false, &rb, NULL);
        socfw_rng r0;
        socfw_rng_seed(&r0, 42);
        cr_assert_eq(memcmp(r0.s, rb.s, sizeof r0.s), 0, "rng moved in eval");
        run(b, 4, 8, 0, true, &rb, &ob);
        expect_same(&oa, &ob, socfw_arch_name(arch));
        step_out_free(&oa);
        step_out_free(&ob);
        socfw_model_free(a);
        socfw_model_free(b);
}

/* Training with varying shapes (dynamic padding), with and without
 * evaluations of larger batches in between: every training step must
 * equal the same step run by a fresh model from the same rng state. */
static void
check_sequence(socfw_arch arch)
{
        static const struct {
                int B, T, train;
        } seq[] = {
                { 4, 8, 1 }, { 2, 12, 1 }, { 16, 12, 0 }, { 4, 8, 1 },
                { 3, 16, 1 }, { 8, 16, 0 }, { 4, 10, 1 }, { 1, 16, 1 },
                { 32, 16, 0 }, { 5, 9, 1 }, { 6, 5, 1 },
        };
        socfw_model *m = tiny(arch);
        socfw_rng rng;
        socfw_rng_seed(&rng, 1234);
        for (size_t s = 0; s < sizeof seq / sizeof seq[0]; s++) {
                if (!seq[s].train) {
                        run(m, seq[s].B, seq[s].T, (int)s, false, &rng,
                            NULL);
                        continue;
                }
                socfw_model *fresh = tiny(arch);
                socfw_rng r0 = rng;
                step_out got = {0}, want = {0};
                run(m, seq[s].B, seq[s].T, (int)s, true, &rng, &got);
                run(fresh, seq[s].B, seq[s].T, (int)s, true, &r0, &want);
                cr_assert_eq(memcmp(rng.s, r0.s, sizeof rng.s), 0,
                             "step %zu: rng differs", s);
                char what[64];
                snprintf(what, sizeof what, "%s step %zu (B=%d T=%d)",
                         socfw_arch_name(arch), s, seq[s].B, seq[s].T);
                expect_same(&got, &want, what);
                step_out_free(&got);
                step_out_free(&want);
                socfw_model_free(fresh);
        }
        socfw_model_free(m);
}

Test(arch_eval, eval_first_gpt2) { check_eval_first(SOCFW_ARCH_GPT2); }
Test(arch_eval, eval_first_bert) { check_eval_first(SOCFW_ARCH_BERT); }
Test(arch_eval, eval_first_llama) { check_eval_first(SOCFW_ARCH_LLAMA); }

Test(arch_eval, sequence_gpt2) { check_sequence(SOCFW_ARCH_GPT2); }
Test(arch_eval, sequence_bert) { check_sequence(SOCFW_ARCH_BERT); }
Test(arch_eval, sequence_roberta) { check_sequence(SOCFW_ARCH_ROBERTA); }
Test(arch_eval, sequence_llama) { check_sequence(SOCFW_ARCH_LLAMA); }
