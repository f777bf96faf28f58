/* tests/test_nn_util.c - helpers for the nn test binary. */
#include "test_nn_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

void
nn_fill_normal(float *x, size_t n, float scale, socfw_rng *rng)
{
        for (size_t i = 0; i < n; i++)
                x[i] = scale * socfw_rng_normal(rng);
}

void
nn_fill_const(float *x, size_t n, float v)
{
        for (size_t i = 0; i < n; i++)
                x[i] = v;
}

double
nn_max_abs_diff(const float *a, const float *b, size_t n)
{
        double m = 0.0;
        for (size_t i = 0; i < n; i++) {
                double d = fabs((double)a[i] - (double)b[i]);
                if (d > m || isnan(d))
                        m = isnan(d) ? INFINITY : d;
        }
        return m;
}

void
nn_assert_close(const char *what, const float *a, const float *b, size_t n,
                double atol, double rtol)
{
        for (size_t i = 0; i < n; i++) {
                double d = fabs((double)a[i] - (double)b[i]);
                double tol = atol + rtol * fabs((double)b[i]);
                if (!(d <= tol))
                        cr_assert_fail("%s[%zu]: got %.8g, expected %.8g (|diff| %.3g > tol %.3g); "
                                 "max |diff| %.3g", what, i, (double)a[i], (double)b[i],
                                 d, tol, nn_max_abs_diff(a, b, n));
        }
}

void
nn_unpreload(float *g, size_t n)
{
        for (size_t i = 0; i < n; i++)
                g[i] -= NN_GRAD_PRELOAD;
}

static double
weighted_sum(const float *out, const float *dout, size_t n)
{
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
                s += (double)out[i] * (double)dout[i];
        return s;
}

void
nn_fd_check(const char *what, void *ctx, nn_fwd_fn fwd, const float *out,
            const float *dout, size_t nout, float *x, size_t nx,
            const float *analytic, float eps, double atol, double rtol)
{
        for (size_t i = 0; i < nx; i++) {
                float save = x[i];
                x[i] = save + eps;
                fwd(ctx);
                double lp = weighted_sum(out, dout, nout);
                x[i] = save - eps;
                fwd(ctx);
                double lm = weighted_sum(out, dout, nout);
                x[i] = save;
                double num = (lp - lm) / (2.0 * (double)eps);
                double a = analytic[i];
                double tol = atol + rtol * fmax(fabs(a), fabs(num));
                if (!(fabs(a - num) <= tol))
                        cr_assert_fail("%s: gradient [%zu] analytic %.6g vs numeric %.6g "
                                 "(|diff| %.3g > %.3g)", what, i, a, num,
                                 fabs(a - num), tol);
        }
        fwd(ctx);       /* leave out consistent with x */
}

static json_t *fixtures;

json_t *
nn_fixture(const char *name)
{
        if (!fixtures) {
                char path[4096];
                socfw_test_path(path, sizeof path, socfw_test_srcdir(),
                                "tests/fixtures/nn/nn_fixtures.json");
                json_error_t jerr;
                fixtures = json_load_file(path, 0, &jerr);
                if (!fixtures)
                        cr_assert_fail("cannot load %s: %s (line %d)", path, jerr.text,
                                 jerr.line);
        }
        json_t *c = json_object_get(json_object_get(fixtures, "cases"), name);
        if (!c)
                cr_assert_fail("fixture case '%s' missing; regenerate with "
                         "tests/fixtures/nn/gen_nn_fixtures.py", name);
        return c;
}

float *
nn_fixture_floats(json_t *c, const char *key, size_t *n)
{
        json_t *a = json_object_get(c, key);
        if (!json_is_array(a))
                cr_assert_fail("fixture array '%s' missing", key);
        size_t len = json_array_size(a);
        float *v = malloc((len ? len : 1) * sizeof *v);
        cr_assert_not_null(v);
        for (size_t i = 0; i < len; i++)
                v[i] = (float)json_number_value(json_array_get(a, i));
        if (n)
                *n = len;
        return v;
}

int32_t *
nn_fixture_ints(json_t *c, const char *key, size_t *n)
{
        json_t *a = json_object_get(c, key);
        if (!json_is_array(a))
                cr_assert_fail("fixture array '%s' missing", key);
        size_t len = json_array_size(a);
        int32_t *v = malloc((len ? len : 1) * sizeof *v);
        cr_assert_not_null(v);
        for (size_t i = 0; i < len; i++)
                v[i] = (int32_t)json_integer_value(json_array_get(a, i));
        if (n)
                *n = len;
        return v;
}

int
nn_fixture_dim(json_t *c, const char *key)
{
        json_t *d = json_object_get(json_object_get(c, "dims"), key);
        if (!json_is_integer(d))
                cr_assert_fail("fixture dim '%s' missing", key);
        return (int)json_integer_value(d);
}

double
nn_fixture_num(json_t *c, const char *key)
{
        json_t *d = json_object_get(c, key);
        if (!json_is_number(d))
                cr_assert_fail("fixture number '%s' missing", key);
        return json_number_value(d);
}
