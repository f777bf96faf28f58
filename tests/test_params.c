/* tests/test_params.c - the parameter store, the RNG and the thread pool. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/params.h"
#include "socfw/rng.h"
#include "socfw/threads.h"

static socfw_params *
make_store(void)
{
        socfw_params *ps = socfw_params_new();
        cr_assert_not_null(ps);
        int64_t s1[2] = { 3, 5 }, s2[1] = { 7 }, s3[3] = { 2, 2, 4 };
        cr_assert_eq(socfw_params_add(ps, "h.0.w", 2, s1, NULL), 0);
        cr_assert_eq(socfw_params_add(ps, "h.0.b", 1, s2, NULL), 1);
        cr_assert_eq(socfw_params_add(ps, "h.1.w", 3, s3, NULL), 2);
        return ps;
}

Test(params, layout_and_alignment)
{
        socfw_params *ps = make_store();
        cr_assert_null(socfw_params_data(ps, 0), "no data before finalize");
        cr_assert_eq(socfw_params_finalize(ps, NULL), 0);
        cr_assert(socfw_params_is_finalized(ps));
        cr_assert_eq(socfw_params_count(ps), 3);
        cr_assert_eq(socfw_params_numel(ps, 0), 15);
        cr_assert_eq(socfw_params_numel(ps, 2), 16);
        cr_assert_eq(socfw_params_total_numel(ps), 15 + 7 + 16);
        cr_assert_eq(socfw_params_offset(ps, 0), 0);
        cr_assert_eq(socfw_params_offset(ps, 1), 16);
        cr_assert_eq(socfw_params_offset(ps, 2), 32);
        cr_assert_eq(socfw_params_size(ps), 48);
        cr_assert_eq(socfw_params_ndim(ps, 2), 3);
        cr_assert_eq(socfw_params_shape(ps, 2)[2], 4);
        cr_assert_str_eq(socfw_params_name(ps, 1), "h.0.b");
        float *base = socfw_params_data_buffer(ps), *gbase = socfw_params_grad_buffer(ps);
        cr_assert_eq((uintptr_t)base % 64, 0);
        cr_assert_eq((uintptr_t)gbase % 64, 0);
        for (int i = 0; i < 3; i++) {
                cr_assert_eq(socfw_params_data(ps, i), base + socfw_params_offset(ps, i));
                cr_assert_eq(socfw_params_grad(ps, i), gbase + socfw_params_offset(ps, i));
                cr_assert_eq((uintptr_t)socfw_params_data(ps, i) % 64, 0);
        }
        for (int64_t i = 0; i < socfw_params_size(ps); i++)
                cr_assert(base[i] == 0.0f && gbase[i] == 0.0f, "buffers start zeroed");
        cr_assert_eq(socfw_params_find(ps, "h.1.w"), 2);
        cr_assert_lt(socfw_params_find(ps, "nope"), 0);
        cr_assert_null(socfw_params_data(ps, 3));
        cr_assert_null(socfw_params_name(ps, -1));
        socfw_params_free(ps);
        socfw_params_free(NULL);
}

Test(params, add_errors)
{
        socfw_params *ps = make_store();
        socfw_error err = {0};
        int64_t s[2] = { 3, 5 }, bad[2] = { 3, 0 }, huge[3] = { INT64_C(1) << 20,
                                                                INT64_C(1) << 20, 1 << 10 };
        cr_assert_eq(socfw_params_add(ps, "h.0.w", 2, s, &err), SOCFW_EINVAL);
        cr_assert(strstr(err.message, "duplicate") != NULL, "%s", err.message);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_params_add(ps, "x", 2, bad, &err), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_add(ps, "x", 0, s, NULL), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_add(ps, "x", SOCFW_PARAMS_MAX_DIMS + 1, s, NULL), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_add(ps, "", 2, s, NULL), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_add(ps, "huge", 3, huge, NULL), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_count(ps), 3, "failed adds add nothing");
        cr_assert_eq(socfw_params_finalize(ps, NULL), 0);
        cr_assert_eq(socfw_params_add(ps, "late", 2, s, NULL), SOCFW_ESTATE);
        cr_assert_eq(socfw_params_finalize(ps, NULL), SOCFW_ESTATE);
        socfw_params_free(ps);
}

Test(params, total_size_cap)
{
        socfw_params *ps = socfw_params_new();
        int64_t s[1] = { INT64_C(1) << 33 };    /* 8 Gi floats each */
        cr_assert_geq(socfw_params_add(ps, "a", 1, s, NULL), 0);
        cr_assert_geq(socfw_params_add(ps, "b", 1, s, NULL), 0);
        cr_assert_geq(socfw_params_add(ps, "c", 1, s, NULL), 0);
        socfw_error err = {0};
        cr_assert_eq(socfw_params_finalize(ps, &err), SOCFW_ENOMEM);
        cr_assert(strstr(err.message, "exceeds") != NULL, "%s", err.message);
        socfw_params_free(ps);
}

Test(params, empty_store)
{
        socfw_params *ps = socfw_params_new();
        cr_assert_eq(socfw_params_finalize(ps, NULL), 0);
        cr_assert_eq(socfw_params_size(ps), 0);
        cr_assert_eq(socfw_params_grad_norm(ps), 0.0);
        socfw_params_zero_grad(ps);
        socfw_params_free(ps);
}

Test(params, trainable_zero_grad_and_norm)
{
        socfw_params *ps = make_store();
        cr_assert_eq(socfw_params_finalize(ps, NULL), 0);
        for (int i = 0; i < 3; i++) {
                cr_assert(socfw_params_trainable(ps, i));
                float *g = socfw_params_grad(ps, i);
                for (int64_t j = 0; j < socfw_params_numel(ps, i); j++)
                        g[j] = 1.0f;
        }
        cr_assert_float_eq(socfw_params_grad_norm(ps), sqrt(38.0), 1e-9);
        cr_assert_eq(socfw_params_set_trainable_prefix(ps, "h.0.", false), 2);
        cr_assert_not(socfw_params_trainable(ps, 0));
        cr_assert(socfw_params_trainable(ps, 2));
        cr_assert_eq(socfw_params_trainable_numel(ps), 16);
        cr_assert_float_eq(socfw_params_grad_norm(ps), 4.0, 1e-9);
        socfw_params_scale_grad(ps, 0.5f);
        cr_assert_float_eq(socfw_params_grad_norm(ps), 2.0, 1e-9);
        cr_assert_eq(socfw_params_grad(ps, 0)[0], 1.0f, "frozen grads not scaled");
        socfw_params_zero_grad(ps);
        cr_assert_eq(socfw_params_grad(ps, 2)[15], 0.0f);
        cr_assert_eq(socfw_params_grad(ps, 0)[0], 1.0f, "frozen grads untouched");
        cr_assert_eq(socfw_params_set_trainable(ps, 0, true), 0);
        cr_assert_eq(socfw_params_set_trainable(ps, 9, true), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_set_trainable_prefix(ps, "", false), 3);
        cr_assert_eq(socfw_params_trainable_numel(ps), 0);
        socfw_params_free(ps);
}

Test(params, init_helpers_are_deterministic)
{
        socfw_params *a = make_store(), *b = make_store();
        cr_assert_eq(socfw_params_init_const(a, 0, 1.0f), SOCFW_ESTATE);
        socfw_params_finalize(a, NULL);
        socfw_params_finalize(b, NULL);
        socfw_rng ra, rb;
        socfw_rng_seed(&ra, 42);
        socfw_rng_seed(&rb, 42);
        cr_assert_eq(socfw_params_init_normal(a, 0, 0.0f, 0.02f, &ra), 0);
        cr_assert_eq(socfw_params_init_normal(b, 0, 0.0f, 0.02f, &rb), 0);
        cr_assert_eq(memcmp(socfw_params_data(a, 0), socfw_params_data(b, 0), 15 * 4), 0);
        cr_assert_eq(socfw_params_init_uniform(a, 2, -1.0f, 1.0f, &ra), 0);
        for (int i = 0; i < 16; i++) {
                float v = socfw_params_data(a, 2)[i];
                cr_assert(v >= -1.0f && v < 1.0f);
        }
        cr_assert_eq(socfw_params_init_const(a, 1, 3.5f), 0);
        cr_assert_eq(socfw_params_data(a, 1)[6], 3.5f);
        cr_assert_eq(socfw_params_data(a, 1)[7], 0.0f, "padding stays zero");
        cr_assert_eq(socfw_params_init_normal(a, 0, 0.0f, -1.0f, &ra), SOCFW_EINVAL);
        cr_assert_eq(socfw_params_init_const(a, 5, 0.0f), SOCFW_EINVAL);
        socfw_params_free(a);
        socfw_params_free(b);
}

Test(rng, deterministic_known_values)
{
        socfw_rng r;
        socfw_rng_seed(&r, 42);
        /* fixed values: any change in the stream breaks reproducibility */
        uint64_t first = socfw_rng_next(&r);
        socfw_rng r2;
        socfw_rng_seed(&r2, 42);
        cr_assert_eq(socfw_rng_next(&r2), first);
        cr_assert_eq(first, UINT64_C(0x15780b2e0c2ec716));
        socfw_rng_seed(&r2, 43);
        cr_assert_neq(socfw_rng_next(&r2), first);
}

Test(rng, distributions)
{
        socfw_rng r;
        socfw_rng_seed(&r, 1);
        enum { N = 100000 };
        double s = 0, s2 = 0, us = 0;
        int counts[7] = { 0 };
        for (int i = 0; i < N; i++) {
                double z = socfw_rng_normal(&r);
                s += z;
                s2 += z * z;
                float u = socfw_rng_uniform(&r);
                cr_assert(u >= 0.0f && u < 1.0f);
                us += u;
                uint64_t k = socfw_rng_below(&r, 7);
                cr_assert_lt(k, 7);
                counts[k]++;
        }
        cr_assert_float_eq(s / N, 0.0, 0.02);
        cr_assert_float_eq(s2 / N, 1.0, 0.02);
        cr_assert_float_eq(us / N, 0.5, 0.01);
        for (int k = 0; k < 7; k++)
                cr_assert(abs(counts[k] - N / 7) < N / 70, "bucket %d: %d", k, counts[k]);
        cr_assert_eq(socfw_rng_below(&r, 0), 0);
        socfw_rng f1, f2;
        socfw_rng_seed(&r, 5);
        socfw_rng_fork(&r, 1, &f1);
        socfw_rng_seed(&r, 5);
        socfw_rng_fork(&r, 2, &f2);
        cr_assert_neq(socfw_rng_next(&f1), socfw_rng_next(&f2));
        int32_t v[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, sum = 0;
        socfw_rng_shuffle_i32(&r, v, 10);
        for (int i = 0; i < 10; i++)
                sum += v[i];
        cr_assert_eq(sum, 45);
}

/* ---- thread pool ---------------------------------------------------------- */

typedef struct {
        int *hits;
        int nested;
} pf_ctx;

static void
inner_body(void *vctx, int64_t b, int64_t e)
{
        int *hits = vctx;
        for (int64_t i = b; i < e; i++)
                __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
}

static void
pf_body(void *vctx, int64_t b, int64_t e)
{
        pf_ctx *c = vctx;
        for (int64_t i = b; i < e; i++)
                __atomic_add_fetch(&c->hits[i], 1, __ATOMIC_RELAXED);
        if (c->nested)  /* nested calls run serially, still cover the range */
                socfw_parallel_for(8, inner_body, c->hits + 1000);
}

Test(threads, parallel_for_covers_range_once, .timeout = 30)
{
        static int hits[1008];
        for (int nt = 1; nt <= 3; nt++) {
                cr_assert_eq(socfw_threads_set(nt), nt);
                for (int rep = 0; rep < 200; rep++) {
                        memset(hits, 0, sizeof hits);
                        int n = 1 + rep * 5 % 1000;
                        pf_ctx c = { hits, rep % 2 };
                        socfw_parallel_for(n, pf_body, &c);
                        for (int i = 0; i < n; i++)
                                cr_assert_eq(hits[i], 1, "nt %d n %d i %d", nt, n, i);
                        for (int i = n; i < 1000; i++)
                                cr_assert_eq(hits[i], 0);
                }
        }
        socfw_parallel_for(0, pf_body, NULL);
        socfw_threads_shutdown();
        memset(hits, 0, sizeof hits);
        pf_ctx c = { hits, 0 };
        socfw_parallel_for(100, pf_body, &c);   /* restarts after shutdown */
        cr_assert_eq(hits[99], 1);
        cr_assert_geq(socfw_threads_set(0), 1);
}
