/* tests/test_heads_grad.c - finite-difference gradient checks.
 *
 * For every fixture (every head and loss): the gradient of the loss with
 * respect to every parameter element, the tied embedding and every hidden
 * state is compared with central differences.  Heads with dropout run in
 * training mode with the generator reseeded before each evaluation, so the
 * dropout masks are the same in every evaluation and are checked too. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_heads.h"

static float fd_eps = 1e-3f;
#define FD_EPS fd_eps
#define FD_ATOL 5e-4
#define FD_RTOL 2e-2

typedef struct {
        int checked, bad;
        double worst;
} fd_stats;

static double
fd_at(hcase *c, float *x, size_t i, float eps)
{
        float keep = x[i];
        x[i] = keep + eps;
        double lp = hcase_loss(c, true, 99);
        x[i] = keep - eps;
        double lm = hcase_loss(c, true, 99);
        x[i] = keep;
        return (lp - lm) / (2.0 * eps);
}

static bool
fd_ok(double num, double ana)
{
        return fabs(num - ana) <= FD_ATOL + FD_RTOL * fabs(num);
}

/* A relu, max pooling or last-token choice has kinks: when the step
 * crosses one, the difference is retried with a 10x smaller step, which
 * stays on one side of it (the float32 noise is then still below the
 * tolerance for these small cases). */
static void
fd_vector(hcase *c, float *x, const float *grad, size_t n, const char *what,
          fd_stats *st)
{
        for (size_t i = 0; i < n; i++) {
                double num = fd_at(c, x, i, FD_EPS);
                if (!fd_ok(num, grad[i]))
                        num = fd_at(c, x, i, FD_EPS / 10.0f);
                double d = fabs(num - grad[i]);
                st->checked++;
                if (d > st->worst)
                        st->worst = d;
                if (!fd_ok(num, grad[i])) {
                        st->bad++;
                        cr_log_error("%s: %s[%zu] analytic %.6g numeric %.6g",
                                     c->fx.type, what, i, (double)grad[i],
                                     num);
                }
        }
}

static void
check_fd(const char *fixture)
{
        hcase c;
        const char *e = getenv("HEADS_FD_EPS");   /* for debugging */
        if (e)
                fd_eps = strtof(e, NULL);
        hcase_open(&c, fixture);
        hcase_step(&c, true, 99);
        /* snapshot the analytic gradients */
        int64_t np = socfw_params_size(c.h.ps);
        size_t nh = (size_t)c.fx.B * c.fx.T * c.fx.C;
        size_t ne = c.h.emb_grad ? (size_t)c.fx.K * c.fx.C : 0;
        float *gp = calloc(np > 0 ? (size_t)np : 1, sizeof *gp);
        float *gh = malloc(nh * sizeof *gh);
        float *ge = calloc(ne ? ne : 1, sizeof *ge);
        cr_assert(gp && gh && ge);
        if (np > 0)
                memcpy(gp, socfw_params_grad_buffer(c.h.ps),
                       (size_t)np * sizeof *gp);
        memcpy(gh, c.io.dhidden, nh * sizeof *gh);
        if (ne)
                memcpy(ge, c.h.emb_grad, ne * sizeof *ge);

        fd_stats st = {0};
        for (int t = 0; t < socfw_params_count(c.h.ps); t++) {
                int64_t off = socfw_params_offset(c.h.ps, t);
                fd_vector(&c, socfw_params_data(c.h.ps, t), gp + off,
                          (size_t)socfw_params_numel(c.h.ps, t),
                          socfw_params_name(c.h.ps, t), &st);
        }
        if (ne)
                fd_vector(&c, c.h.emb, ge, ne, "embedding", &st);
        fd_vector(&c, c.hidden, gh, nh, "hidden", &st);
        cr_log_info("%s: %d gradients checked, worst |diff| %.3g", fixture,
                    st.checked, st.worst);
        cr_expect_eq(st.bad, 0, "%s: %d of %d gradients disagree with finite "
                     "differences", fixture, st.bad, st.checked);
        cr_expect_eq(st.checked,
                     (int)(nh + ne + socfw_params_total_numel(c.h.ps)),
                     "%s: not every gradient was checked", fixture);
        free(gp);
        free(gh);
        free(ge);
        hcase_close(&c);
}

#define FD_CASE(name)                                                          \
        Test(heads_grad, name) { check_fd(#name); }

FD_CASE(classifier_mean_ce)
FD_CASE(classifier_cls_tanh_ce)
FD_CASE(classifier_last_gelu_bce)
FD_CASE(classifier_max_relu_ce)
FD_CASE(classifier_mean_bce)
FD_CASE(tagger_ce)
FD_CASE(tagger_ce_plain)
FD_CASE(lm_tied)
FD_CASE(lm_untied)
FD_CASE(ranker_softmax)
FD_CASE(ranker_softmax_raw)
FD_CASE(ranker_bpr)
FD_CASE(ranker_bce)
FD_CASE(ranker_bce_score)
FD_CASE(tagger_lookahead)
