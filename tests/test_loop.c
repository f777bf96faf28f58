/* test_loop.c - the one training loop (framework/train/loop.c) on a toy
 * objective: least squares with gradient noise from the loop's random
 * generator.  Accumulation equals a larger batch, resuming from the state
 * file continues bit for bit, the gradient hook sees every step's complete
 * gradients, inactive groups stay put, a non-finite gradient skips the
 * update, and the end of a pass cuts accumulation short. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "train/loop.h"

#define D 5
#define NS 16

typedef struct toy {
        float X[NS][D], y[NS];
        float w[D], gw[D];      /* group "w"                               */
        float b[2], gb[2];      /* group "b": gradient only when b_active  */
        int b_active;
        int mbs;                /* samples per micro-batch                 */
        int next;               /* next sample                             */
        socfw_rng *rng;         /* the loop's                              */
        float noise;
        long nan_at;            /* micro-batch giving a NaN gradient, or -1 */
        long micro;
        int passes_ended, after_updates, skipped_updates;
        long end_of_pass_steps[64];
        int n_end;
        long stop_at;           /* rt_loop_stop after this step (0: none)  */
} toy;

static void
toy_init(toy *t, int mbs, socfw_rng *rng)
{
        memset(t, 0, sizeof *t);
        socfw_rng r;
        socfw_rng_seed(&r, 42);
        for (int i = 0; i < NS; i++) {
                float dot = 0;
                for (int j = 0; j < D; j++) {
                        t->X[i][j] = socfw_rng_normal(&r);
                        dot += t->X[i][j] * (float)(j + 1) * 0.5f;
                }
                t->y[i] = dot + 0.1f * socfw_rng_normal(&r);
        }
        t->mbs = mbs;
        t->rng = rng;
        t->noise = 0.01f;
        t->nan_at = -1;
        t->b_active = 1;
}

static int
toy_batch(void *self, float scale, rt_micro *mb, socfw_error *err)
{
        (void)err;
        toy *t = self;
        double loss = 0;
        for (int k = 0; k < t->mbs; k++) {
                int i = t->next++;
                float r = -t->y[i];
                for (int j = 0; j < D; j++)
                        r += t->X[i][j] * t->w[j];
                loss += 0.5 * (double)r * r;
                for (int j = 0; j < D; j++)
                        t->gw[j] += scale * r * t->X[i][j] / (float)t->mbs;
        }
        /* noise drawn from the loop's generator: resuming must restore it */
        for (int j = 0; j < D; j++)
                t->gw[j] += scale * t->noise * socfw_rng_normal(t->rng);
        if (t->b_active)
                for (int j = 0; j < 2; j++)
                        t->gb[j] += scale * (t->b[j] - 1.0f);
        if (t->micro++ == t->nan_at)
                t->gw[0] = NAN;
        mb->loss = (float)(loss / t->mbs);
        mb->tokens = (size_t)t->mbs;
        if (t->next == NS) {
                t->next = 0;
                mb->end_of_pass = 1;
                t->passes_ended++;
        }
        return 0;
}

static void
toy_after_update(void *self, long step, long total, int updated)
{
        (void)step;
        (void)total;
        toy *t = self;
        t->after_updates++;
        t->skipped_updates += !updated;
}

static int
toy_after_step(void *self, rt_loop *lp, int end_of_pass, socfw_error *err)
{
        (void)err;
        toy *t = self;
        if (end_of_pass && t->n_end < 64)
                t->end_of_pass_steps[t->n_end++] = lp->step;
        if (lp->step == t->stop_at)
                rt_loop_stop(lp);
        return 0;
}

static void
toy_save(void *self, rt_state_kv *kv)
{
        toy *t = self;
        rt_state_kv_add(kv, "next", "%d", t->next);
}

static int
toy_restore(void *self, const socfw_modelfile *mf, const char *path,
            socfw_error *err)
{
        toy *t = self;
        const char *v = NULL;
        int rc = rt_loop_state_get(mf, path, "next", &v, err);
        if (rc == 0)
                t->next = atoi(v);
        return rc;
}

static const rt_objective toy_objective = {
        .micro_batch = toy_batch,
        .after_update = toy_after_update,
        .after_step = toy_after_step,
        .save = toy_save,
        .restore = toy_restore,
};

typedef struct run {
        toy t;
        socfw_rng rng;
        socfw_adamw *ow, *ob;
        rt_loop lp;
} run;

static void
run_setup(run *r, int mbs, int accum, long steps, const char *state)
{
        socfw_rng_seed(&r->rng, 7);
        toy_init(&r->t, mbs, &r->rng);
        socfw_adamw_config ac;
        socfw_adamw_config_default(&ac);
        ac.weight_decay = 0;
        socfw_error err = {0};
        r->ow = socfw_adamw_new(D, &ac, &err);
        r->ob = socfw_adamw_new(2, &ac, &err);
        cr_assert(r->ow && r->ob);
        rt_loop_config lc = {.total_steps = steps, .accum = accum,
                             .lr = 0.05, .clip = 1.0f,
                             .schedule = SOCFW_LR_COSINE, .warmup = 2,
                             .log_every = 5, .state_path = state,
                             .rng = &r->rng};
        cr_assert_eq(rt_loop_init(&r->lp, &lc, &err), 0, "%s", err.message);
        cr_assert_eq(rt_loop_add_group(&r->lp, "w", r->t.w, r->t.gw, D,
                                       r->ow, NULL),
                     0);
        cr_assert_eq(rt_loop_add_group(&r->lp, "b", r->t.b, r->t.gb, 2,
                                       r->ob, &r->t.b_active),
                     0);
}

static void
run_go(run *r)
{
        socfw_error err = {0};
        cr_assert_eq(rt_loop_run(&r->lp, &toy_objective, &r->t, &err), 0,
                     "%s", err.message);
}

static void
run_free(run *r)
{
        rt_loop_clear(&r->lp);
        socfw_adamw_free(r->ow);
        socfw_adamw_free(r->ob);
}

Test(loop, accumulation_equals_the_larger_batch)
{
        run a, b;
        run_setup(&a, 8, 2, 20, NULL);
        run_setup(&b, 16, 1, 20, NULL);
        a.t.noise = b.t.noise = 0; /* the draws differ in number */
        run_go(&a);
        run_go(&b);
        cr_expect_eq(a.lp.step, 20);
        double worst = 0;
        for (int j = 0; j < D; j++)
                worst = fmax(worst, fabs((double)a.t.w[j] - b.t.w[j]));
        cr_log_info("accumulated 2 x 8 vs 16: max |dw| %.3g", worst);
        cr_expect_lt(worst, 1e-6);
        /* and it learnt: w moves toward (0.5, 1, 1.5, 2, 2.5) */
        cr_expect_gt(a.t.w[4], 0.3f, "w[4] = %g", a.t.w[4]);
        run_free(&a);
        run_free(&b);
}

Test(loop, resuming_from_the_state_continues_bit_for_bit)
{
        char dir[4096], state[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(state, sizeof state, "%s/state.safetensors", dir);
        run whole, first, second;
        run_setup(&whole, 4, 2, 12, NULL);
        run_go(&whole);
        /* the first 5 steps, then a new process resumes */
        run_setup(&first, 4, 2, 12, state);
        first.t.stop_at = 5;
        run_go(&first);
        socfw_error err = {0};
        cr_assert_eq(rt_loop_save_state(&first.lp, &toy_objective, &first.t,
                                        &err),
                     0, "%s", err.message);
        run_setup(&second, 4, 2, 12, state);
        cr_assert_eq(rt_loop_resume(&second.lp, &toy_objective, &second.t,
                                    &err),
                     1, "%s", err.message);
        cr_expect_eq(second.lp.step, 5);
        cr_expect_eq(second.t.next, first.t.next);
        run_go(&second);
        cr_expect_eq(second.lp.step, 12);
        cr_expect_eq(memcmp(whole.t.w, second.t.w, sizeof whole.t.w), 0,
                     "resumed weights differ");
        cr_expect_eq(memcmp(whole.t.b, second.t.b, sizeof whole.t.b), 0);
        cr_expect_eq(memcmp(&whole.rng, &second.rng, sizeof whole.rng), 0);
        run_free(&whole);
        run_free(&first);
        run_free(&second);
}

Test(loop, a_state_from_another_shape_is_refused_naming_the_tensor)
{
        char dir[4096], state[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(state, sizeof state, "%s/state.safetensors", dir);
        run a, b;
        run_setup(&a, 4, 1, 3, state);
        run_go(&a);
        socfw_error err = {0};
        cr_assert_eq(rt_loop_save_state(&a.lp, &toy_objective, &a.t, &err),
                     0);
        run_setup(&b, 4, 1, 3, state);
        b.lp.groups[0].n = D - 1; /* as if the model had changed */
        cr_expect_lt(rt_loop_resume(&b.lp, &toy_objective, &b.t, &err), 0);
        cr_expect(strstr(err.message, "'w.param'") != NULL, "%s",
                  err.message);
        cr_expect(strstr(err.file, "state.safetensors") != NULL);
        b.lp.groups[0].n = D;
        run_free(&a);
        run_free(&b);
}

/* the hook sees each step's gradients once, complete, before clipping */
typedef struct hook_log {
        int calls;
        float first_gw0;
        int fail_at;
} hook_log;

static int
hook(void *user, rt_group *g, size_t n, socfw_error *err)
{
        hook_log *h = user;
        cr_assert_eq(n, 2);
        cr_assert_str_eq(g[0].name, "w");
        if (h->calls == 0)
                h->first_gw0 = g[0].grad[0];
        if (++h->calls == h->fail_at)
                return socfw_error_set(err, SOCFW_EIO, "rank 1 is gone");
        return 0;
}

Test(loop, the_gradient_hook_runs_once_per_step_before_the_update)
{
        run a, ref;
        run_setup(&ref, 8, 2, 1, NULL);
        ref.t.noise = 0;
        /* the first step's full gradient, computed by hand */
        float g0 = 0;
        for (int i = 0; i < NS; i++) {
                float r = -ref.t.y[i];
                g0 += r * ref.t.X[i][0] / NS;
        }
        run_setup(&a, 8, 2, 6, NULL);
        a.t.noise = 0;
        hook_log h = {0};
        a.lp.cfg.grad_hook = hook;
        a.lp.cfg.hook_user = &h;
        run_go(&a);
        cr_expect_eq(h.calls, 6);
        cr_expect_float_eq(h.first_gw0, g0, 1e-5, "%g vs %g", h.first_gw0,
                           g0);
        /* an error from the hook (a lost process) ends the loop with it */
        run b;
        run_setup(&b, 8, 2, 6, NULL);
        hook_log hb = {.fail_at = 3};
        b.lp.cfg.grad_hook = hook;
        b.lp.cfg.hook_user = &hb;
        socfw_error err = {0};
        cr_expect_eq(rt_loop_run(&b.lp, &toy_objective, &b.t, &err),
                     SOCFW_EIO);
        cr_expect(strstr(err.message, "rank 1") != NULL);
        cr_expect_eq(b.lp.step, 2);
        run_free(&a);
        run_free(&ref);
        run_free(&b);
}

Test(loop, an_inactive_group_stays_and_a_nan_step_is_skipped)
{
        run a;
        run_setup(&a, 16, 1, 6, NULL);
        a.t.b_active = 0;
        a.t.b[0] = 3.0f;
        a.t.nan_at = 2; /* the third micro-batch = the third step */
        float w_before[D];
        run_go(&a);
        cr_expect_float_eq(a.t.b[0], 3.0f, 0, "inactive group moved");
        cr_expect_eq(a.t.skipped_updates, 1);
        cr_expect_eq(a.t.after_updates, 6);
        for (int j = 0; j < D; j++) {
                cr_expect(isfinite(a.t.w[j]));
                cr_expect_float_eq(a.t.gw[j], 0, 0, "gradients zeroed");
        }
        /* the same run without the NaN makes one more update */
        run b;
        run_setup(&b, 16, 1, 6, NULL);
        b.t.b_active = 0;
        run_go(&b);
        memcpy(w_before, b.t.w, sizeof w_before);
        cr_expect_neq(memcmp(w_before, a.t.w, sizeof w_before), 0);
        run_free(&a);
        run_free(&b);
}

Test(loop, the_end_of_a_pass_cuts_accumulation_short)
{
        run a;
        /* 16 samples in micro-batches of 4: a pass is 4 micro-batches;
         * accumulating 3, a step takes 3 and the pass's last one is a
         * step of its own */
        run_setup(&a, 4, 3, 6, NULL);
        run_go(&a);
        cr_expect_eq(a.lp.step, 6);
        cr_expect_eq(a.t.micro, 12, "micro-batches %ld", a.t.micro);
        cr_assert_eq(a.t.n_end, 3);
        cr_expect_eq(a.t.end_of_pass_steps[0], 2);
        cr_expect_eq(a.t.end_of_pass_steps[1], 4);
        cr_expect_eq(a.t.end_of_pass_steps[2], 6);
        cr_expect_eq(a.lp.loss.n, 2, "progress points at steps 5 and 6");
        run_free(&a);
}
