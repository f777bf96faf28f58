/* tests/test_arch_util.c - see test_arch_util.h */
#include "test_arch_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

char *
arch_fixture_dir(char *buf, size_t size, const char *name)
{
        snprintf(buf, size, "%s/tests/fixtures/arch/%s", socfw_test_srcdir(),
                 name);
        return buf;
}

socfw_modelfile *
arch_ref_open(const char *name)
{
        char dir[4096], path[4200];
        arch_fixture_dir(dir, sizeof dir, name);
        snprintf(path, sizeof path, "%s/ref.safetensors", dir);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        int rc = socfw_modelfile_open(&mf, path, &err);
        cr_assert_eq(rc, 0, "open %s: %s", path, err.message);
        return mf;
}

const socfw_tensor_info *
arch_ref_info(const socfw_modelfile *ref, const char *name)
{
        const socfw_tensor_info *t = socfw_modelfile_find(ref, name);
        cr_assert_not_null(t, "reference tensor '%s' missing", name);
        return t;
}

float *
arch_ref_f32(const socfw_modelfile *ref, const char *name, size_t *n)
{
        const socfw_tensor_info *t = arch_ref_info(ref, name);
        float *v = malloc((size_t)t->nelem * sizeof *v);
        cr_assert_not_null(v);
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_read_f32(ref, t, v, (size_t)t->nelem,
                                              &err), 0, "%s", err.message);
        if (n)
                *n = (size_t)t->nelem;
        return v;
}

int32_t *
arch_ref_i32(const socfw_modelfile *ref, const char *name, size_t *n)
{
        size_t k;
        float *f = arch_ref_f32(ref, name, &k);
        int32_t *v = malloc(k * sizeof *v);
        cr_assert_not_null(v);
        for (size_t i = 0; i < k; i++)
                v[i] = (int32_t)lrintf(f[i]);
        free(f);
        if (n)
                *n = k;
        return v;
}

double
arch_max_diff(const float *a, const float *b, size_t n)
{
        double m = 0.0;
        for (size_t i = 0; i < n; i++) {
                double d = fabs((double)a[i] - (double)b[i]);
                if (d > m || d != d)
                        m = d != d ? INFINITY : d;
        }
        return m;
}

double
arch_max_abs(const float *a, size_t n)
{
        double m = 0.0;
        for (size_t i = 0; i < n; i++)
                if (fabs(a[i]) > m)
                        m = fabs(a[i]);
        return m;
}

socfw_model *
arch_load_fixture(const char *name)
{
        char dir[4096];
        socfw_model *m = NULL;
        socfw_error err = {0};
        arch_fixture_dir(dir, sizeof dir, name);
        int rc = socfw_model_load(&m, dir, NULL, &err);
        cr_assert_eq(rc, 0, "load %s: %s", dir, err.message);
        return m;
}
