/* loop.c - the one training loop: accumulation, the gradient hook,
 * clipping, schedule, AdamW, progress, the wall-time budget and resumable
 * state, for every objective (see loop.h). */
#define _GNU_SOURCE /* vasprintf */
#include "train/loop.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "socfw/dist.h"
#include "socfw/safetensors.h"

#define STATE_FORMAT "socfw-train-state-1"

double
rt_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
rt_curve_add(rt_curve *c, double x, double y)
{
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                double *nx = realloc(c->x, cap * sizeof *nx);
                if (!nx)
                        return;
                c->x = nx;
                double *ny = realloc(c->y, cap * sizeof *ny);
                if (!ny)
                        return;
                c->y = ny;
                c->cap = cap;
        }
        c->x[c->n] = x;
        c->y[c->n++] = y;
}

void
rt_curve_clear(rt_curve *c)
{
        free(c->x);
        free(c->y);
        memset(c, 0, sizeof *c);
}

static void
say(const rt_loop *lp, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void
say(const rt_loop *lp, const char *fmt, ...)
{
        if (!lp->cfg.progress)
                return;
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        lp->cfg.progress(lp->cfg.progress_user, line);
}

void
rt_state_kv_add(rt_state_kv *kv, const char *key, const char *fmt, ...)
{
        /* a programming error: an objective adds a fixed handful */
        assert(kv->n < (int)(sizeof kv->key / sizeof kv->key[0]));
        if (kv->n >= (int)(sizeof kv->key / sizeof kv->key[0]))
                return;
        snprintf(kv->key[kv->n], sizeof kv->key[0], "%s", key);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(kv->value[kv->n], sizeof kv->value[0], fmt, ap);
        va_end(ap);
        kv->n++;
}

/* ---- set-up ---- */

static int
init_schedule(rt_loop *lp, long total, socfw_error *err)
{
        double w = lp->cfg.warmup;
        return socfw_lr_schedule_init(&lp->sched, lp->cfg.schedule, total,
                                      w >= 1 ? (long)w : 0, w < 1 ? w : 0,
                                      lp->cfg.min_ratio, err);
}

int
rt_loop_init(rt_loop *lp, const rt_loop_config *cfg, socfw_error *err)
{
        memset(lp, 0, sizeof *lp);
        lp->cfg = *cfg;
        lp->saved_at = -1;
        if (lp->cfg.accum < 1)
                lp->cfg.accum = 1;
        if (lp->cfg.log_every <= 0)
                lp->cfg.log_every = 50;
        if (!lp->cfg.what)
                lp->cfg.what = "training";
        return init_schedule(lp, cfg->total_steps, err);
}

void
rt_loop_clear(rt_loop *lp)
{
        if (!lp)
                return;
        free(lp->groups);
        free(lp->grads);
        free(lp->sizes);
        rt_curve_clear(&lp->loss);
        memset(lp, 0, sizeof *lp);
}

int
rt_loop_add_group(rt_loop *lp, const char *name, float *data, float *grad,
                  size_t n_floats, socfw_adamw *opt, const int *active)
{
        size_t n = lp->n_groups + 1;
        rt_group *g = realloc(lp->groups, n * sizeof *g);
        if (!g)
                return SOCFW_ENOMEM;
        lp->groups = g;
        float **gr = realloc(lp->grads, n * sizeof *gr);
        if (!gr)
                return SOCFW_ENOMEM;
        lp->grads = gr;
        size_t *sz = realloc(lp->sizes, n * sizeof *sz);
        if (!sz)
                return SOCFW_ENOMEM;
        lp->sizes = sz;
        gr[n - 1] = grad;
        sz[n - 1] = n_floats;
        g = &lp->groups[lp->n_groups++];
        memset(g, 0, sizeof *g);
        snprintf(g->name, sizeof g->name, "%s", name);
        g->data = data;
        g->grad = grad;
        g->n = n_floats;
        g->opt = opt;
        g->active = active;
        return 0;
}

void
rt_loop_stop(rt_loop *lp)
{
        lp->stop = 1;
}

/* ---- resumable state ---- */

int
rt_loop_save_state(rt_loop *lp, const rt_objective *obj, void *self,
                   socfw_error *err)
{
        if (!lp->cfg.state_path)
                return 0;
        size_t nt = 3 * lp->n_groups;
        socfw_tensor_info *ti = calloc(nt ? nt : 1, sizeof *ti);
        char (*names)[160] = calloc(nt ? nt : 1, sizeof *names);
        /* AdamW step counts per group: an adapter steps only with its
         * task's batches, so groups may differ */
        size_t steps_cap = 24 * lp->n_groups + 1;
        char *steps = calloc(steps_cap, 1);
        int rc = 0;
        if (!ti || !names || !steps) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        size_t at = 0;
        for (size_t g = 0; g < lp->n_groups; g++) {
                const rt_group *gr = &lp->groups[g];
                const float *src[3] = {gr->data, socfw_adamw_m(gr->opt),
                                       socfw_adamw_v(gr->opt)};
                static const char *const part[3] = {"param", "m", "v"};
                for (int k = 0; k < 3; k++) {
                        socfw_tensor_info *x = &ti[3 * g + (size_t)k];
                        snprintf(names[3 * g + (size_t)k], sizeof names[0],
                                 "%s.%s", gr->name, part[k]);
                        x->name = names[3 * g + (size_t)k];
                        x->dtype = SOCFW_DTYPE_F32;
                        x->ndim = 1;
                        x->shape[0] = (int64_t)gr->n;
                        x->nelem = (int64_t)gr->n;
                        x->data = src[k];
                        x->nbytes = gr->n * sizeof(float);
                }
                at += (size_t)snprintf(steps + at, steps_cap - at, "%s%ld",
                                       g ? " " : "",
                                       socfw_adamw_steps(gr->opt));
        }
        rt_state_kv kv = {.n = 0};
        rt_state_kv_add(&kv, "format", "%s", STATE_FORMAT);
        rt_state_kv_add(&kv, "step", "%ld", lp->step);
        rt_state_kv_add(&kv, "total_steps", "%ld", lp->sched.total_steps);
        rt_state_kv_add(&kv, "loss_acc", "%a", lp->loss_acc);
        rt_state_kv_add(&kv, "loss_n", "%d", lp->loss_n);
        if (lp->cfg.rng) {
                const socfw_rng *r = lp->cfg.rng;
                rt_state_kv_add(&kv, "rng", "%llx %llx %llx %llx %d",
                                (unsigned long long)r->s[0],
                                (unsigned long long)r->s[1],
                                (unsigned long long)r->s[2],
                                (unsigned long long)r->s[3], r->has_spare);
                rt_state_kv_add(&kv, "rng_spare", "%a", r->spare);
        }
        if (obj && obj->save)
                obj->save(self, &kv);
        socfw_safetensors_kv meta[18];
        size_t nm = 0;
        for (int k = 0; k < kv.n; k++)
                meta[nm++] = (socfw_safetensors_kv){kv.key[k], kv.value[k]};
        meta[nm++] = (socfw_safetensors_kv){"adam_steps", steps};
        rc = socfw_safetensors_write(lp->cfg.state_path, ti, nt, meta, nm,
                                     err);
        if (rc == 0)
                lp->saved_at = lp->step;
out:
        free(ti);
        free(names);
        free(steps);
        return rc;
}

int
rt_loop_state_get(const socfw_modelfile *mf, const char *path,
                  const char *key, const char **out, socfw_error *err)
{
        char full[128];
        snprintf(full, sizeof full, "__metadata__.%s", key);
        if (socfw_modelfile_get_string(mf, full, out, NULL, NULL) == 0)
                return 0;
        return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                  "the training state has no '%s' (hint: it "
                                  "was written by another version; remove "
                                  "it to start afresh)",
                                  key);
}

/* One group's tensors from the state file. */
static int
restore_group(rt_group *g, const socfw_modelfile *mf, const char *path,
              long adam_steps, socfw_error *err)
{
        char name[3][160];
        const socfw_tensor_info *t[3];
        static const char *const part[3] = {"param", "m", "v"};
        for (int k = 0; k < 3; k++) {
                snprintf(name[k], sizeof name[k], "%s.%s", g->name, part[k]);
                t[k] = socfw_modelfile_find(mf, name[k]);
                if (!t[k] || t[k]->nelem != (int64_t)g->n)
                        return socfw_error_set_at(
                                err, SOCFW_EFORMAT, path, 0, 0,
                                "tensor '%s' is missing or has %lld values "
                                "instead of %zu (hint: the state comes from "
                                "another pipeline; remove it to start "
                                "afresh)",
                                name[k], t[k] ? (long long)t[k]->nelem : 0LL,
                                g->n);
        }
        float *m = malloc(g->n * sizeof(float) + 1);
        float *v = malloc(g->n * sizeof(float) + 1);
        int rc = m && v ? 0 : socfw_error_set(err, SOCFW_ENOMEM,
                                              "out of memory");
        if (rc == 0)
                rc = socfw_modelfile_read_f32(mf, t[0], g->data, g->n, err);
        if (rc == 0)
                rc = socfw_modelfile_read_f32(mf, t[1], m, g->n, err);
        if (rc == 0)
                rc = socfw_modelfile_read_f32(mf, t[2], v, g->n, err);
        if (rc == 0)
                rc = socfw_adamw_restore(g->opt, m, v, g->n, adam_steps, err);
        free(m);
        free(v);
        return rc;
}

int
rt_loop_resume(rt_loop *lp, const rt_objective *obj, void *self,
               socfw_error *err)
{
        const char *path = lp->cfg.state_path;
        if (!path || access(path, F_OK) != 0)
                return 0;
        socfw_modelfile *mf = NULL;
        int rc = socfw_modelfile_open(&mf, path, err);
        if (rc < 0)
                return rc;
        const char *fmt = NULL, *step = NULL, *acc = NULL, *ln = NULL,
                   *steps = NULL;
        rc = rt_loop_state_get(mf, path, "format", &fmt, err);
        if (rc == 0 && strcmp(fmt, STATE_FORMAT) != 0)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "not a socfw training state "
                                        "(format '%s')",
                                        fmt);
        if (rc == 0)
                rc = rt_loop_state_get(mf, path, "step", &step, err);
        if (rc == 0)
                rc = rt_loop_state_get(mf, path, "loss_acc", &acc, err);
        if (rc == 0)
                rc = rt_loop_state_get(mf, path, "loss_n", &ln, err);
        if (rc == 0)
                rc = rt_loop_state_get(mf, path, "adam_steps", &steps, err);
        /* one count for every group (older states), or one per group */
        const char *s = steps;
        long last = 0;
        for (size_t g = 0; rc == 0 && g < lp->n_groups; g++) {
                char *end = NULL;
                long v = s ? strtol(s, &end, 10) : 0;
                if (s && end != s) {
                        last = v;
                        s = end;
                } else {
                        v = last;
                }
                rc = restore_group(&lp->groups[g], mf, path, v, err);
        }
        if (rc == 0 && lp->cfg.rng) {
                const char *r = NULL, *spare = NULL;
                unsigned long long s0, s1, s2, s3;
                int has;
                rc = rt_loop_state_get(mf, path, "rng", &r, err);
                if (rc == 0)
                        rc = rt_loop_state_get(mf, path, "rng_spare", &spare,
                                               err);
                if (rc == 0 && sscanf(r, "%llx %llx %llx %llx %d", &s0, &s1,
                                      &s2, &s3, &has) != 5)
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0,
                                                0, "bad random state '%s'",
                                                r);
                if (rc == 0) {
                        lp->cfg.rng->s[0] = s0;
                        lp->cfg.rng->s[1] = s1;
                        lp->cfg.rng->s[2] = s2;
                        lp->cfg.rng->s[3] = s3;
                        lp->cfg.rng->has_spare = has;
                        lp->cfg.rng->spare = strtod(spare, NULL);
                }
        }
        if (rc == 0) {
                lp->step = strtol(step, NULL, 10);
                lp->loss_acc = strtod(acc, NULL);
                lp->loss_n = (int)strtol(ln, NULL, 10);
                if (obj && obj->restore)
                        rc = obj->restore(self, mf, path, err);
        }
        socfw_modelfile_close(mf);
        return rc < 0 ? rc : 1;
}

/* ---- data-parallel processes ---- */

int
rt_loop_average_over_processes(void *user, rt_group *groups, size_t n,
                               socfw_error *err)
{
        const rt_loop *lp = user;
        int N = socfw_dist_size();
        if (N <= 1)
                return 0;
        int rc = socfw_dist_checkin(lp ? lp->cfg.what : "training",
                                    lp ? lp->step + 1 : 0, err);
        if (rc < 0)
                return rc;
        for (size_t g = 0; g < n; g++) {
                rc = socfw_dist_allreduce_sum(groups[g].grad, groups[g].n,
                                              err);
                if (rc < 0)
                        return rc;
                socfw_grad_scale(groups[g].grad, groups[g].n,
                                 1.0f / (float)N);
        }
        return 0;
}

/* ---- the loop ---- */

/* The step's update over every group: clip, AdamW.  Returns the
 * gradient norm before clipping (non-finite: no update). */
static float
update(rt_loop *lp, double lr)
{
        float clip = lp->cfg.clip > 0 ? lp->cfg.clip : INFINITY;
        float norm = socfw_grad_clip_norm_multi(lp->grads, lp->sizes,
                                                lp->n_groups, clip);
        /* a non-finite norm skips the step, as mixed-precision scalers do */
        for (size_t g = 0; isfinite(norm) && g < lp->n_groups; g++) {
                rt_group *gr = &lp->groups[g];
                if (!gr->active || *gr->active)
                        socfw_adamw_step(gr->opt, gr->data, gr->grad, lr);
        }
        return norm;
}

/* The wall-time budget after a step: 1 to go on, 0 when spent.  With
 * fit_budget the schedule is shortened (never lengthened) to end inside
 * the budget, from the speed measured so far. */
static int
within_budget(rt_loop *lp)
{
        double limit = lp->cfg.budget_seconds;
        long total = lp->sched.total_steps;
        if (limit <= 0 || lp->step >= total)
                return 1;
        double el = rt_seconds() - lp->t0;
        /* the processes of a data-parallel job decide by the slowest
         * clock, so that they stop and reschedule at the same step */
        if (socfw_dist_size() > 1 && socfw_dist_max_f64(&el, NULL) < 0)
                el = limit; /* the job is broken: stop and save */
        long done = lp->step - lp->first_step;
        if (el >= limit) {
                say(lp, "%s: the time budget (%.1f min) is spent after %ld "
                        "of %ld steps",
                    lp->cfg.what, limit / 60, lp->step, total);
                lp->budget_spent = 1;
                if (lp->cfg.fit_budget)
                        lp->sched.total_steps = lp->step;
                return 0;
        }
        if (lp->cfg.fit_budget && done > 0 &&
            (done == 10 || lp->step % 100 == 0)) {
                long fit = lp->first_step + (long)(limit / (el / (double)done));
                if (fit < total && fit > lp->step) {
                        say(lp, "%s: %ld steps fit in the time budget "
                                "(%.1f min); the schedule now ends there",
                            lp->cfg.what, fit, limit / 60);
                        init_schedule(lp, fit, NULL);
                }
        }
        return 1;
}

static void
log_progress(rt_loop *lp, const rt_objective *obj, void *self)
{
        double t = rt_seconds();
        double mean = lp->loss_acc / (lp->loss_n ? lp->loss_n : 1);
        long total = lp->sched.total_steps;
        char where[64] = "", extra[160] = "";
        if (obj->where)
                obj->where(self, where, sizeof where);
        if (obj->on_log)
                obj->on_log(self, lp->step, mean, extra, sizeof extra);
        rt_curve_add(&lp->loss, (double)lp->step, mean);
        double el = t - lp->tok_t0;
        double per = (t - lp->t0) / (double)(lp->step - lp->first_step);
        /* every process logs at the same step: the tokens of all of them */
        double tokens = (double)lp->tokens;
        if (socfw_dist_size() > 1 &&
            socfw_dist_allreduce_sum_f64(&tokens, 1, NULL) < 0)
                tokens = (double)lp->tokens * socfw_dist_size();
        say(lp, "%s%sstep %ld/%ld loss %.4f%s lr %.3g grad-norm %.3g %.0f "
                "tokens/s ETA %.0fs",
            where, where[0] ? " " : "", lp->step, total, mean, extra,
            lp->last_lr, (double)lp->last_norm,
            el > 0 ? tokens / el : 0,
            per * (double)(total - lp->step));
        lp->loss_acc = 0;
        lp->loss_n = 0;
        lp->tokens = 0;
        lp->tok_t0 = t;
}

int
rt_loop_run(rt_loop *lp, const rt_objective *obj, void *self,
            socfw_error *err)
{
        int rc = 0;
        lp->t0 = lp->tok_t0 = rt_seconds();
        lp->first_step = lp->step;
        lp->stop = lp->budget_spent = 0;
        while (lp->step < lp->sched.total_steps && !lp->stop &&
               !lp->budget_spent) {
                /* the step's micro-batches */
                int done = 0, end_of_pass = 0;
                float scale = 1.0f / (float)lp->cfg.accum;
                while (done < lp->cfg.accum) {
                        rt_micro mb = {0};
                        rc = obj->micro_batch(self, scale, &mb, err);
                        if (rc < 0)
                                return rc;
                        if (mb.exhausted)
                                break;
                        done++;
                        lp->loss_acc += mb.loss;
                        lp->loss_n++;
                        lp->tokens += mb.tokens;
                        if (mb.end_of_pass) {
                                end_of_pass = 1;
                                break;
                        }
                }
                if (done == 0)
                        break; /* no data left */
                if (obj->before_update &&
                    (rc = obj->before_update(self, err)) < 0)
                        return rc;
                if (lp->cfg.grad_hook &&
                    (rc = lp->cfg.grad_hook(lp->cfg.hook_user, lp->groups,
                                            lp->n_groups, err)) < 0)
                        return rc;
                lp->last_lr = lp->cfg.lr *
                              socfw_lr_schedule_factor(&lp->sched, lp->step);
                lp->last_norm = update(lp, lp->last_lr);
                lp->step++;
                /* (AdaLoRA's importance reads the step's gradients) */
                if (obj->after_update)
                        obj->after_update(self, lp->step,
                                          lp->sched.total_steps,
                                          isfinite(lp->last_norm));
                for (size_t g = 0; g < lp->n_groups; g++)
                        memset(lp->groups[g].grad, 0,
                               lp->groups[g].n * sizeof(float));
                int go = within_budget(lp);
                if (lp->step % lp->cfg.log_every == 0 ||
                    lp->step == lp->sched.total_steps || !go)
                        log_progress(lp, obj, self);
                if (obj->after_step &&
                    (rc = obj->after_step(self, lp, end_of_pass, err)) < 0)
                        return rc;
                if (lp->cfg.checkpoint_every > 0 &&
                    lp->step % lp->cfg.checkpoint_every == 0 &&
                    lp->saved_at != lp->step &&
                    (rc = rt_loop_save_state(lp, obj, self, err)) < 0)
                        return rc;
        }
        /* stopped by the budget: the state to continue from */
        if (lp->budget_spent && !lp->cfg.fit_budget &&
            lp->saved_at != lp->step)
                rc = rt_loop_save_state(lp, obj, self, err);
        return rc;
}
