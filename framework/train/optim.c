/* optim.c - AdamW (as torch.optim.AdamW) and gradient clipping. */
#include "socfw/optim.h"
#include "socfw/params.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Elements per thread below which threads do not pay for themselves. */
#define ADAMW_MIN_CHUNK ((size_t)1 << 16)
#define ADAMW_MAX_THREADS 64

struct socfw_adamw {
        socfw_adamw_config cfg;
        size_t n;
        long steps;
        float *m;
        float *v;
        uint8_t *decay;         /* n bytes; NULL = decay everything */
};

void
socfw_adamw_config_default(socfw_adamw_config *cfg)
{
        cfg->lr = 1e-3f;
        cfg->beta1 = 0.9f;
        cfg->beta2 = 0.999f;
        cfg->eps = 1e-8f;
        cfg->weight_decay = 0.01f;
        cfg->threads = 0;
}

static int
check_config(const socfw_adamw_config *c, socfw_error *err)
{
        if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) ||
            !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: betas (%g, %g) out of range, expected each in "
                        "[0, 1); hint: the usual values are 0.9 and 0.999",
                        (double)c->beta1, (double)c->beta2);
        if (!(c->eps >= 0.0f) || !isfinite(c->eps))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: eps %g must be a finite value >= 0",
                        (double)c->eps);
        if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: weight_decay %g must be a finite value >= 0",
                        (double)c->weight_decay);
        if (!(c->lr >= 0.0f) || !isfinite(c->lr))
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: lr %g must be a finite value >= 0",
                        (double)c->lr);
        if (c->threads < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: threads %d must be >= 0 (0 = one per CPU)",
                        c->threads);
        return 0;
}

socfw_adamw *
socfw_adamw_new(size_t n, const socfw_adamw_config *cfg, socfw_error *err)
{
        socfw_adamw *opt = NULL;
        socfw_adamw_config c;

        if (cfg)
                c = *cfg;
        else
                socfw_adamw_config_default(&c);
        if (n == 0) {
                socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: no parameters to optimize (n = 0); hint: "
                        "check that some tensors are trainable");
                goto fail;
        }
        if (n > SIZE_MAX / sizeof(float) / 2) {
                socfw_error_set(err, SOCFW_ENOMEM,
                        "adamw: %zu parameters is too many", n);
                goto fail;
        }
        if (check_config(&c, err) < 0)
                goto fail;
        opt = calloc(1, sizeof *opt);
        if (!opt)
                goto nomem;
        opt->cfg = c;
        opt->n = n;
        opt->m = calloc(n, sizeof(float));
        opt->v = calloc(n, sizeof(float));
        if (!opt->m || !opt->v)
                goto nomem;
        return opt;
nomem:
        socfw_error_set(err, SOCFW_ENOMEM,
                "adamw: cannot allocate state for %zu parameters (%zu MiB)",
                n, 2 * n * sizeof(float) >> 20);
fail:
        socfw_adamw_free(opt);
        return NULL;
}

void
socfw_adamw_free(socfw_adamw *opt)
{
        if (!opt)
                return;
        free(opt->m);
        free(opt->v);
        free(opt->decay);
        free(opt);
}

socfw_adamw_config *
socfw_adamw_get_config(socfw_adamw *opt)
{
        return &opt->cfg;
}

int
socfw_adamw_set_decay_range(socfw_adamw *opt, size_t offset, size_t len,
                            int decay, socfw_error *err)
{
        if (offset > opt->n || len > opt->n - offset)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: decay range [%zu, %zu) is outside the %zu "
                        "parameters", offset, offset + len, opt->n);
        if (!opt->decay) {
                if (decay)
                        return 0;       /* already decayed everywhere */
                opt->decay = malloc(opt->n);
                if (!opt->decay)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                "adamw: cannot allocate the decay mask");
                memset(opt->decay, 1, opt->n);
        }
        memset(opt->decay + offset, decay ? 1 : 0, len);
        return 0;
}

void
socfw_adamw_set_decay_mask(socfw_adamw *opt, const uint8_t *mask)
{
        if (!mask) {
                free(opt->decay);
                opt->decay = NULL;
                return;
        }
        if (!opt->decay) {
                opt->decay = malloc(opt->n);
                if (!opt->decay)
                        return; /* NOTE: keeps decaying everything */
        }
        for (size_t i = 0; i < opt->n; i++)
                opt->decay[i] = mask[i] != 0;
}

/* ---- the update ---- */

struct adamw_job {
        float *param;
        const float *grad;
        float *m;
        float *v;
        const uint8_t *decay;
        size_t begin, end;
        float decay_mul;        /* 1 - lr * wd                        */
        float b1, one_m_b1;
        float b2, one_m_b2;
        float bc2_sqrt;         /* sqrt(1 - b2^t)                     */
        float step_size;        /* lr / (1 - b1^t)                    */
        float eps;
};

/* The element-wise loop.  Every element is independent of the others, so
 * any split into chunks gives bitwise the same result. */
static void
adamw_range(const struct adamw_job *j)
{
        float *p = j->param, *m = j->m, *v = j->v;
        const float *g = j->grad;

        for (size_t i = j->begin; i < j->end; i++) {
                float pi = p[i];
                if (!j->decay || j->decay[i])
                        pi *= j->decay_mul;
                float gi = g[i];
                float mi = m[i] * j->b1 + gi * j->one_m_b1;
                float vi = v[i] * j->b2 + gi * gi * j->one_m_b2;
                float denom = sqrtf(vi) / j->bc2_sqrt + j->eps;
                p[i] = pi - j->step_size * (mi / denom);
                m[i] = mi;
                v[i] = vi;
        }
}

static void *
adamw_thread(void *arg)
{
        adamw_range(arg);
        return NULL;
}

static int
pick_threads(const socfw_adamw *opt)
{
        size_t want = opt->n / ADAMW_MIN_CHUNK;
        int t = opt->cfg.threads;

        if (t == 0) {
                long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                t = cpus > 0 ? (int)cpus : 1;
        }
        if (t > ADAMW_MAX_THREADS)
                t = ADAMW_MAX_THREADS;
        if ((size_t)t > want)
                t = want > 0 ? (int)want : 1;
        return t;
}

int
socfw_adamw_step(socfw_adamw *opt, float *param, const float *grad,
                 double lr)
{
        const socfw_adamw_config *c = &opt->cfg;
        double dlr = lr < 0.0 ? (double)c->lr : lr;
        double b1 = c->beta1, b2 = c->beta2;
        struct adamw_job base, jobs[ADAMW_MAX_THREADS];
        pthread_t tids[ADAMW_MAX_THREADS];
        int started[ADAMW_MAX_THREADS] = {0};

        opt->steps++;
        double t = (double)opt->steps;
        /* scalars as torch computes them (in double, used as float) */
        base.param = param;
        base.grad = grad;
        base.m = opt->m;
        base.v = opt->v;
        base.decay = opt->decay;
        base.decay_mul = (float)(1.0 - dlr * (double)c->weight_decay);
        base.b1 = c->beta1;
        base.one_m_b1 = (float)(1.0 - b1);
        base.b2 = c->beta2;
        base.one_m_b2 = (float)(1.0 - b2);
        base.bc2_sqrt = (float)sqrt(1.0 - pow(b2, t));
        base.step_size = (float)(dlr / (1.0 - pow(b1, t)));
        base.eps = c->eps;

        /* NOTE: own short-lived threads rather than socfw_parallel_for;
         * see the report (the pool could hang on its first use). */
        int nt = pick_threads(opt);
        size_t chunk = (opt->n + (size_t)nt - 1) / (size_t)nt;
        for (int k = 0; k < nt; k++) {
                jobs[k] = base;
                jobs[k].begin = (size_t)k * chunk;
                jobs[k].end = jobs[k].begin + chunk < opt->n ?
                              jobs[k].begin + chunk : opt->n;
        }
        for (int k = 1; k < nt; k++)
                started[k] = pthread_create(&tids[k], NULL, adamw_thread,
                                            &jobs[k]) == 0;
        adamw_range(&jobs[0]);
        for (int k = 1; k < nt; k++) {
                if (started[k])
                        pthread_join(tids[k], NULL);
                else
                        adamw_range(&jobs[k]);  /* could not start: do it */
        }
        return 0;
}

float *
socfw_adamw_m(socfw_adamw *opt)
{
        return opt->m;
}

float *
socfw_adamw_v(socfw_adamw *opt)
{
        return opt->v;
}

size_t
socfw_adamw_size(const socfw_adamw *opt)
{
        return opt->n;
}

long
socfw_adamw_steps(const socfw_adamw *opt)
{
        return opt->steps;
}

int
socfw_adamw_restore(socfw_adamw *opt, const float *m, const float *v,
                    size_t n, long steps, socfw_error *err)
{
        if (!m || !v)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: restore needs both moment buffers");
        if (n != opt->n)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: saved state has %zu values, the optimizer has "
                        "%zu; hint: the checkpoint belongs to a different "
                        "model or set of trainable parameters", n, opt->n);
        if (steps < 0)
                return socfw_error_set(err, SOCFW_EINVAL,
                        "adamw: saved step count %ld is negative", steps);
        for (size_t i = 0; i < n; i++) {
                if (!isfinite(m[i]) || !isfinite(v[i]) || v[i] < 0.0f)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                "adamw: saved state value %zu is invalid "
                                "(m %g, v %g); expected finite values and "
                                "v >= 0", i, (double)m[i], (double)v[i]);
        }
        memcpy(opt->m, m, n * sizeof(float));
        memcpy(opt->v, v, n * sizeof(float));
        opt->steps = steps;
        return 0;
}

/* ---- gradients ---- */

static double
sum_squares(const float *g, size_t n)
{
        /* four partial sums: fixed order, so the result is deterministic */
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t i = 0;

        for (; i + 4 <= n; i += 4) {
                s0 += (double)g[i] * g[i];
                s1 += (double)g[i + 1] * g[i + 1];
                s2 += (double)g[i + 2] * g[i + 2];
                s3 += (double)g[i + 3] * g[i + 3];
        }
        for (; i < n; i++)
                s0 += (double)g[i] * g[i];
        return (s0 + s1) + (s2 + s3);
}

float
socfw_grad_clip_norm_multi(float *const *grads, const size_t *ns,
                           size_t count, float max_norm)
{
        double ss = 0.0;

        for (size_t k = 0; k < count; k++)
                ss += sum_squares(grads[k], ns[k]);
        float norm = (float)sqrt(ss);
        if (!isfinite(norm) || !(max_norm > 0.0f))
                return norm;
        /* torch: coef = max_norm / (norm + 1e-6), clamped to 1 */
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f)
                for (size_t k = 0; k < count; k++)
                        socfw_grad_scale(grads[k], ns[k], coef);
        return norm;
}

float
socfw_grad_clip_norm(float *grad, size_t n, float max_norm)
{
        return socfw_grad_clip_norm_multi(&grad, &n, 1, max_norm);
}

void
socfw_grad_scale(float *grad, size_t n, float scale)
{
        for (size_t i = 0; i < n; i++)
                grad[i] *= scale;
}

void
socfw_grad_accumulate(float *dst, const float *src, size_t n)
{
        for (size_t i = 0; i < n; i++)
                dst[i] += src[i];
}

socfw_adamw *
socfw_adamw_new_for_params(const socfw_params *ps,
                           const socfw_adamw_config *cfg, socfw_error *err)
{
        size_t n = (size_t)socfw_params_size(ps);
        if (n == 0)
                return NULL;
        socfw_adamw *opt = socfw_adamw_new(n, cfg, err);
        if (!opt)
                return NULL;
        socfw_adamw_set_decay_range(opt, 0, n, 0, NULL);
        for (int k = 0; k < socfw_params_count(ps); k++)
                if (socfw_params_ndim(ps, k) >= 2)
                        socfw_adamw_set_decay_range(
                                opt, (size_t)socfw_params_offset(ps, k),
                                (size_t)socfw_params_numel(ps, k), 1, NULL);
        return opt;
}
