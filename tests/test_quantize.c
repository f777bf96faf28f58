/* tests/test_quantize.c - socfw_quantize_rows: float32 -> GGML blocks ->
 * the project's own dequantisers (dtype.c, kquants.c) -> error bounds per
 * type, on random rows of several blocks, all-zero, constant and extreme
 * blocks, and the refusals (block does not divide the row, NaN, a type
 * that is not a target). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/modelfile_internal.h"
#include "socfw/quantize.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double
uniform(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static float
gauss(void)
{
        double u = uniform(), v = uniform();
        return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Quantise rows x cols of x to t and dequantise again into y. */
static void
round_trip(socfw_dtype t, const float *x, int64_t rows, int64_t cols,
           float *y, uint8_t **blocks)
{
        size_t nbytes;
        cr_assert_eq(socfw_dtype_nbytes(t, (uint64_t)(rows * cols), &nbytes),
                     0);
        uint8_t *q = malloc(nbytes + 1);
        cr_assert_not_null(q);
        socfw_error err = {0};
        int rc = socfw_quantize_rows(t, x, rows, cols, q, nbytes, "w", &err);
        cr_assert_eq(rc, 0, "%s: %s", socfw_dtype_name(t), err.message);
        cr_assert_eq(socfw_model_convert_f32(t, q, (size_t)(rows * cols), y),
                     0);
        if (blocks)
                *blocks = q;
        else
                free(q);
}

static float
half_at(const uint8_t *p)
{
        return socfw_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

/* Relative RMS error of y against x. */
static double
rel_rmse(const float *x, const float *y, size_t n)
{
        double se = 0, sx = 0;
        for (size_t i = 0; i < n; i++) {
                se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                sx += (double)x[i] * x[i];
        }
        return sx > 0 ? sqrt(se / sx) : sqrt(se);
}

/* ---- per-block bounds of the 32-element formats ---- */

Test(quantize, q8_0_error_at_most_half_a_step_per_block)
{
        enum { R = 3, C = 7 * 32 };     /* odd number of blocks a row */
        float x[R * C], y[R * C];
        for (int i = 0; i < R * C; i++)
                x[i] = gauss() * (float)(1 + i / 64);
        uint8_t *q;
        round_trip(SOCFW_DTYPE_Q8_0, x, R, C, y, &q);
        for (int b = 0; b < R * C / 32; b++) {
                float d = half_at(q + 34 * b);
                /* half a step, plus 127 steps of the f16 rounding of d */
                float bound = d * (0.5f + 127.0f / 2048.0f) + 1e-7f;
                for (int j = 0; j < 32; j++) {
                        float e = fabsf(x[32 * b + j] - y[32 * b + j]);
                        cr_assert_leq(e, bound, "block %d elem %d: %g > %g",
                                      b, j, e, bound);
                }
        }
        free(q);
}

Test(quantize, symmetric_4_and_5_bit_within_one_step)
{
        /* Q4_0 / Q5_0: d = m / -8 (-16) for the element m of largest
         * magnitude: every value lies within one step |d| */
        static const struct { socfw_dtype t; size_t bb; } cases[] = {
                {SOCFW_DTYPE_Q4_0, 18}, {SOCFW_DTYPE_Q5_0, 22},
        };
        enum { R = 2, C = 5 * 32 };
        float x[R * C], y[R * C];
        for (size_t k = 0; k < 2; k++) {
                for (int i = 0; i < R * C; i++)
                        x[i] = gauss() + (i % 32 == 5 ? 3.0f : 0.0f);
                uint8_t *q;
                round_trip(cases[k].t, x, R, C, y, &q);
                for (int b = 0; b < R * C / 32; b++) {
                        float d = fabsf(half_at(q + cases[k].bb * b));
                        float bound = d * 1.02f + 1e-7f;
                        for (int j = 0; j < 32; j++)
                                cr_assert_leq(fabsf(x[32 * b + j] -
                                                    y[32 * b + j]),
                                              bound, "%s block %d elem %d",
                                              socfw_dtype_name(cases[k].t),
                                              b, j);
                }
                free(q);
        }
}

Test(quantize, offset_4_and_5_bit_within_half_a_step)
{
        /* Q4_1 / Q5_1: min..max in 15 (31) steps: half a step, plus the
         * f16 rounding of the scale and of the offset */
        static const struct { socfw_dtype t; float steps; } cases[] = {
                {SOCFW_DTYPE_Q4_1, 15}, {SOCFW_DTYPE_Q5_1, 31},
        };
        enum { R = 3, C = 3 * 32 };
        float x[R * C], y[R * C];
        for (size_t k = 0; k < 2; k++) {
                for (int i = 0; i < R * C; i++)
                        x[i] = gauss() + 2.0f;  /* not centred on zero */
                uint8_t *q;
                round_trip(cases[k].t, x, R, C, y, &q);
                for (int b = 0; b < R * C / 32; b++) {
                        const uint8_t *blk = q + (k ? 24 : 20) * b;
                        float d = half_at(blk), m = half_at(blk + 2);
                        float bound = d * (0.5f + cases[k].steps / 2048.0f) +
                                      fabsf(m) / 2048.0f + 1e-6f;
                        for (int j = 0; j < 32; j++)
                                cr_assert_leq(fabsf(x[32 * b + j] -
                                                    y[32 * b + j]),
                                              bound, "%s block %d elem %d",
                                              socfw_dtype_name(cases[k].t),
                                              b, j);
                }
                free(q);
        }
}

/* ---- RMS error of every type on Gaussian rows ---- */

static const struct {
        socfw_dtype t;
        double max_rel_rmse;    /* measured on this data, with margin */
} types[] = {
        /* measured: F16 0.00021, BF16 0.0017, Q8_0 0.0054, Q6_K 0.0178,
         * Q5_1 0.038, Q5_0 0.042, Q5_K 0.036, Q4_1 0.078, Q4_0 0.085,
         * Q4_K 0.071, Q3_K 0.151, Q2_K 0.298 */
        {SOCFW_DTYPE_F16, 0.0003},  {SOCFW_DTYPE_BF16, 0.002},
        {SOCFW_DTYPE_Q8_0, 0.0065}, {SOCFW_DTYPE_Q6_K, 0.021},
        {SOCFW_DTYPE_Q5_1, 0.045},  {SOCFW_DTYPE_Q5_0, 0.05},
        {SOCFW_DTYPE_Q5_K, 0.042},  {SOCFW_DTYPE_Q4_1, 0.09},
        {SOCFW_DTYPE_Q4_0, 0.1},    {SOCFW_DTYPE_Q4_K, 0.082},
        {SOCFW_DTYPE_Q3_K, 0.18},   {SOCFW_DTYPE_Q2_K, 0.35},
};

Test(quantize, relative_rmse_per_type)
{
        enum { R = 3, C = 3 * 256 };
        float *x = malloc(sizeof(float) * R * C);
        float *y = malloc(sizeof(float) * R * C);
        cr_assert(x && y);
        for (int i = 0; i < R * C; i++)
                x[i] = gauss() * 0.02f;         /* weight-like scale */
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
                round_trip(types[k].t, x, R, C, y, NULL);
                double e = rel_rmse(x, y, R * C);
                fprintf(stderr, "quantize %-5s relative RMSE %.5f\n",
                        socfw_dtype_name(types[k].t), e);
                cr_assert_leq(e, types[k].max_rel_rmse, "%s: %g > %g",
                              socfw_dtype_name(types[k].t), e,
                              types[k].max_rel_rmse);
        }
        free(x);
        free(y);
}

Test(quantize, all_zero_and_constant_blocks)
{
        enum { C = 256 };
        float x[C], y[C];
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
                memset(x, 0, sizeof x);
                round_trip(types[k].t, x, 1, C, y, NULL);
                for (int i = 0; i < C; i++)
                        cr_assert_eq(y[i], 0.0f, "%s zero block elem %d = %g",
                                     socfw_dtype_name(types[k].t), i,
                                     (double)y[i]);
                for (int i = 0; i < C; i++)
                        x[i] = -0.75f;
                round_trip(types[k].t, x, 1, C, y, NULL);
                for (int i = 0; i < C; i++)
                        cr_assert_float_eq(y[i], -0.75f, 0.75f * 0.02f,
                                           "%s constant block elem %d = %g",
                                           socfw_dtype_name(types[k].t), i,
                                           (double)y[i]);
        }
}

Test(quantize, extreme_blocks_stay_finite_and_bounded)
{
        /* near the f16 limit, tiny values, and one outlier among small
         * values: finite output, error bounded by the block's magnitude */
        enum { C = 256 };
        float x[C], y[C];
        for (int pass = 0; pass < 3; pass++) {
                float amax = 0;
                for (int i = 0; i < C; i++) {
                        x[i] = pass == 0   ? 60000.0f * (i % 2 ? 1 : -1) *
                                                     (float)(i % 7) / 6.0f
                               : pass == 1 ? 1e-6f * gauss()
                                           : (i == 77 ? 1000.0f
                                                      : 0.01f * gauss());
                        amax = fmaxf(amax, fabsf(x[i]));
                }
                for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
                        if (types[k].t == SOCFW_DTYPE_BF16)
                                continue;
                        round_trip(types[k].t, x, 1, C, y, NULL);
                        for (int i = 0; i < C; i++) {
                                cr_assert(isfinite(y[i]), "%s pass %d elem "
                                          "%d not finite",
                                          socfw_dtype_name(types[k].t), pass,
                                          i);
                                /* f16 subnormal scales lose tiny values
                                 * whole (as in llama.cpp): only bound
                                 * the damage there */
                                float tol = pass == 1 ? 1e-3f : amax * 0.7f;
                                cr_assert_leq(fabsf(x[i] - y[i]), tol,
                                              "%s pass %d elem %d: %g vs %g",
                                              socfw_dtype_name(types[k].t),
                                              pass, i, (double)x[i],
                                              (double)y[i]);
                        }
                }
        }
}

Test(quantize, half_precision_is_the_rounding_conversion)
{
        float x[64], y[64];
        uint8_t *q;
        for (int i = 0; i < 64; i++)
                x[i] = gauss() * 100.0f;
        round_trip(SOCFW_DTYPE_F16, x, 2, 32, y, &q);
        for (int i = 0; i < 64; i++)
                cr_assert_eq((uint16_t)(q[2 * i] | (q[2 * i + 1] << 8)),
                             socfw_f32_to_f16(x[i]));
        free(q);
        round_trip(SOCFW_DTYPE_BF16, x, 2, 32, y, &q);
        for (int i = 0; i < 64; i++)
                cr_assert_eq((uint16_t)(q[2 * i] | (q[2 * i + 1] << 8)),
                             socfw_f32_to_bf16(x[i]));
        free(q);
}

/* ---- refusals ---- */

Test(quantize, block_must_divide_the_row)
{
        float x[2 * 48] = {0};
        uint8_t q[4096];
        socfw_error err = {0};
        int rc = socfw_quantize_rows(SOCFW_DTYPE_Q8_0, x, 2, 48, q, sizeof q,
                                     "blk.0.ffn_down.weight", &err);
        cr_assert_eq(rc, SOCFW_EINVAL);
        cr_assert(strstr(err.message, "blk.0.ffn_down.weight"), "%s",
                  err.message);
        cr_assert(strstr(err.message, "48"), "%s", err.message);
        memset(&err, 0, sizeof err);
        float k[2 * 288] = {0};
        rc = socfw_quantize_rows(SOCFW_DTYPE_Q4_K, k, 2, 288, q, sizeof q,
                                 "output.weight", &err);
        cr_assert_eq(rc, SOCFW_EINVAL);
        cr_assert(strstr(err.message, "256"), "%s", err.message);
}

Test(quantize, refuses_nan_small_buffer_and_other_types)
{
        float x[32] = {0};
        uint8_t q[64];
        socfw_error err = {0};
        x[9] = NAN;
        cr_assert_eq(socfw_quantize_rows(SOCFW_DTYPE_Q8_0, x, 1, 32, q,
                                         sizeof q, "t", &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "column 9"), "%s", err.message);
        x[9] = 0;
        cr_assert_eq(socfw_quantize_rows(SOCFW_DTYPE_Q8_0, x, 1, 32, q, 33,
                                         "t", &err),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_quantize_rows(SOCFW_DTYPE_Q8_K, x, 1, 32, q,
                                         sizeof q, "t", &err),
                     SOCFW_EUNSUPPORTED);
        cr_assert_eq(socfw_quantize_rows(SOCFW_DTYPE_I32, x, 1, 32, q,
                                         sizeof q, "t", &err),
                     SOCFW_EUNSUPPORTED);
}

Test(quantize, type_names)
{
        socfw_dtype t;
        cr_assert_eq(socfw_quantize_type_from_name("q4_k", &t), 0);
        cr_assert_eq(t, SOCFW_DTYPE_Q4_K);
        cr_assert_eq(socfw_quantize_type_from_name("BF16", &t), 0);
        cr_assert_eq(t, SOCFW_DTYPE_BF16);
        cr_assert_eq(socfw_quantize_type_from_name("q8_k", &t),
                     SOCFW_ENOTFOUND);
        cr_assert_eq(socfw_quantize_type_from_name("i32", &t),
                     SOCFW_ENOTFOUND);
}
