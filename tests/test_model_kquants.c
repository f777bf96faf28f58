/* tests/test_model_kquants.c - dequantisation of the GGML K-quant types
 * (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K) through socfw_modelfile_read_f32,
 * against values computed element by element from the block layouts by
 * tests/fixtures/kquants/make_kquants.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/modelfile.h"
#include "testutil.h"

static void
put(uint8_t **p, uint64_t v, int bytes)
{
        for (int i = 0; i < bytes; i++)
                *(*p)++ = (uint8_t)(v >> (8 * i));
}

/* A GGUF v3 with one 1-D tensor "w" of `nelem` elements of `gtype`. */
static uint8_t *
one_tensor_gguf(uint32_t gtype, uint64_t nelem, const void *data,
                size_t len, size_t *out_len)
{
        size_t header = 4 + 4 + 8 + 8 + (8 + 1) + 4 + 8 + 4 + 8;
        size_t start = (header + 31) / 32 * 32;
        uint8_t *buf = calloc(1, start + len);
        cr_assert_not_null(buf);
        uint8_t *p = buf;
        memcpy(p, "GGUF", 4);
        p += 4;
        put(&p, 3, 4);          /* version          */
        put(&p, 1, 8);          /* tensors          */
        put(&p, 0, 8);          /* metadata entries */
        put(&p, 1, 8);          /* name "w"         */
        *p++ = 'w';
        put(&p, 1, 4);          /* n_dims           */
        put(&p, nelem, 8);
        put(&p, gtype, 4);
        put(&p, 0, 8);          /* offset           */
        memcpy(buf + start, data, len);
        *out_len = start + len;
        return buf;
}

static void
check_type(const char *name, uint32_t gtype, socfw_dtype dtype)
{
        char path[4096], fix[4200];
        snprintf(path, sizeof path, "%s/tests/fixtures/kquants/%s",
                 socfw_test_srcdir(), name);
        size_t nblk = 0, nval = 0;
        snprintf(fix, sizeof fix, "%s.bin", path);
        uint8_t *blocks = (uint8_t *)socfw_test_read_file(fix, &nblk);
        snprintf(fix, sizeof fix, "%s.f32", path);
        float *want = (float *)(void *)socfw_test_read_file(fix, &nval);
        cr_assert(blocks && want, "fixture %s missing", path);
        size_t n = nval / sizeof(float);
        cr_assert_eq(n, 512);
        cr_assert_eq(nblk, 2 * socfw_dtype_block_bytes(dtype));

        size_t len;
        uint8_t *file = one_tensor_gguf(gtype, n, blocks, nblk, &len);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, file, len, "k.gguf",
                                                 &err),
                     0, "%s", err.message);
        const socfw_tensor_info *t = socfw_modelfile_find(mf, "w");
        cr_assert_not_null(t);
        cr_assert_eq(t->dtype, dtype, "%s", name);
        float got[512];
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, got, 512, &err), 0,
                     "%s: %s", name, err.message);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
                double tol = 1e-6 * fmax(1.0, fabs(want[i]));
                double diff = fabs((double)got[i] - want[i]);
                cr_assert(diff <= tol, "%s[%zu] = %.9g, expected %.9g", name,
                          i, got[i], want[i]);
                worst = fmax(worst, diff);
        }
        cr_log_info("%s: 512 values, max abs diff %.3g", name, worst);
        socfw_modelfile_close(mf);
        free(file);
        free(blocks);
        free(want);
}

Test(model_kquants, q2_k) { check_type("q2_k", 10, SOCFW_DTYPE_Q2_K); }
Test(model_kquants, q3_k) { check_type("q3_k", 11, SOCFW_DTYPE_Q3_K); }
Test(model_kquants, q4_k) { check_type("q4_k", 12, SOCFW_DTYPE_Q4_K); }
Test(model_kquants, q5_k) { check_type("q5_k", 13, SOCFW_DTYPE_Q5_K); }
Test(model_kquants, q6_k) { check_type("q6_k", 14, SOCFW_DTYPE_Q6_K); }
Test(model_kquants, q8_k) { check_type("q8_k", 15, SOCFW_DTYPE_Q8_K); }

/* A K-quant tensor whose length is not a whole number of blocks is
 * refused when the file is opened (the data could not be cut into rows). */
Test(model_kquants, partial_block_is_refused)
{
        uint8_t blocks[144] = {0};
        size_t len;
        uint8_t *file = one_tensor_gguf(12, 100, blocks, sizeof blocks, &len);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_lt(socfw_modelfile_open_memory(&mf, file, len, "k.gguf",
                                                 &err),
                     0);
        cr_assert(strstr(err.message, "w"), "%s", err.message);
        free(file);
}
