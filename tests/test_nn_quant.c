/* tests/test_nn_quant.c - the linear layer over weights in their file's
 * format (socfw/qtensor.h) against "dequantise, then the float product in
 * double precision", for every weight type, on odd row counts and row
 * lengths of 1, 2, 3, 5 and 17 blocks, 1..17 input rows (the dot-product
 * and the dequantise-to-panel paths), and every kernel path the CPU has
 * plus the portable one forced.
 *
 * Tolerance, stated per output: the 8-bit activations differ from x by at
 * most d_a / 2 per element (d_a = max|x| / 127 over the element's block of
 * 32; of 256 for the one-row products of the K-quant formats on the
 * "avx2" and "scalar" paths), so |y - y_ref| <= sum_e |w_e| d_a(e) / 2
 * (times 1.01) plus 1e-4 of
 * sum_e |w_e x_e| for float rounding.  The half-precision and panel paths
 * multiply exact float weights: 1e-4 of sum_e |w_e x_e| + 1e-6.  The
 * integer GEMM of prefill (SOCFW_QGEMM=int) quantises the activations as
 * the dot products do and has their bound; it is also checked to give the
 * same bits on 1 and 2 threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/qtensor.h"
#include "socfw/rng.h"
#include "socfw/threads.h"

static uint64_t seed = 12345;

static uint32_t
rnd(void)
{
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return (uint32_t)(seed >> 33);
}

static float
urand(void)
{
        return (float)rnd() / 2147483648.0f - 1.0f;     /* [-1, 1) */
}

static void
put_f16(uint8_t *p, float v)
{
        uint16_t h = socfw_f32_to_f16(v);
        p[0] = (uint8_t)h;
        p[1] = (uint8_t)(h >> 8);
}

/* rows x cols of random weights of type t (random bits, sane scales). */
static uint8_t *
random_matrix(socfw_dtype t, int64_t rows, int64_t cols, size_t *nbytes)
{
        size_t n;
        cr_assert_eq(socfw_dtype_nbytes(t, (uint64_t)(rows * cols), &n), 0);
        uint8_t *p = malloc(n + 1);
        cr_assert_not_null(p);
        if (t == SOCFW_DTYPE_F16 || t == SOCFW_DTYPE_BF16) {
                for (int64_t i = 0; i < rows * cols; i++) {
                        uint16_t h = t == SOCFW_DTYPE_F16
                                             ? socfw_f32_to_f16(urand())
                                             : socfw_f32_to_bf16(urand());
                        p[2 * i] = (uint8_t)h;
                        p[2 * i + 1] = (uint8_t)(h >> 8);
                }
        } else {
                for (size_t i = 0; i < n; i++)
                        p[i] = (uint8_t)rnd();
                size_t bb = socfw_dtype_block_bytes(t);
                for (size_t b = 0; b < n / bb; b++)
                        for (const int *f =
                                     socfw_dtype_scale_offsets(t); *f >= 0; f++)
                                put_f16(p + b * bb + *f,
                                        0.01f + 0.05f * (urand() + 1.0f));
        }
        *nbytes = n;
        return p;
}

static const socfw_dtype types[] = {
        SOCFW_DTYPE_F16,  SOCFW_DTYPE_BF16, SOCFW_DTYPE_Q8_0, SOCFW_DTYPE_Q4_0,
        SOCFW_DTYPE_Q4_1, SOCFW_DTYPE_Q5_0, SOCFW_DTYPE_Q5_1, SOCFW_DTYPE_Q2_K,
        SOCFW_DTYPE_Q3_K, SOCFW_DTYPE_Q4_K, SOCFW_DTYPE_Q5_K, SOCFW_DTYPE_Q6_K,
};

/* The reference for one output: bias + w.x in double (*ref), the sum of
 * |w x| (*mag), and the tolerance a kernel gets: 1.01 x the bound of
 * quantising x to 8 bits per block of ab values (for each block, sum |w| x
 * max |x| / 127 / 2: half a step of its scale on every product), with
 * ab = 0 when the activations stay float, plus 1e-4 of the magnitude for
 * float rounding. */
static double
ref_dot(const float *w, const float *x, int64_t cols, int ab, double bias,
        double *ref, double *mag)
{
        double r = bias, m = fabs(bias), qb = 0;
        for (int64_t e = 0; e < cols; e++) {
                r += (double)w[e] * x[e];
                m += fabs((double)w[e] * x[e]);
        }
        for (int64_t b = 0; ab > 0 && b < cols / ab; b++) {
                double amax = 0, sw = 0;
                for (int e = 0; e < ab; e++) {
                        amax = fmax(amax, fabs(x[ab * b + e]));
                        sw += fabs(w[ab * b + e]);
                }
                qb += sw * amax / 127.0 / 2.0;
        }
        *ref = r;
        *mag = m;
        return 1.01 * qb + 1e-4 * m + 1e-6;
}

/* Check one (type, rows, blocks per row, N) case on the current path. */
static void
check_case(socfw_dtype t, int64_t rows, int64_t nblk, int N)
{
        int64_t bs = (int64_t)socfw_dtype_block_size(t);
        int64_t cols = nblk * (bs == 1 ? 32 : bs);
        size_t nbytes;
        uint8_t *data = random_matrix(t, rows, cols, &nbytes);
        socfw_qtensor w;
        socfw_error err = {0};
        cr_assert_eq(socfw_qtensor_init(&w, "w", t, rows, cols, data, nbytes,
                                        1, &err), 0, "%s", err.message);
        free(data);
        float *W = malloc((size_t)(rows * cols) * sizeof *W);
        float *x = malloc((size_t)(N * cols) * sizeof *x);
        float *y = malloc((size_t)(N * rows) * sizeof *y);
        float *bias = malloc((size_t)rows * sizeof *bias);
        cr_assert(W && x && y && bias);
        /* the reference reads the blocks with the portable dequantiser */
        cr_assert_eq(socfw_dtype_to_f32(t, w.data, (size_t)(rows * cols), W),
                     0);
        for (int64_t i = 0; i < N * cols; i++)
                x[i] = urand() * (i % 7 == 0 ? 3.0f : 1.0f);
        for (int64_t r = 0; r < rows; r++)
                bias[r] = urand();
        cr_assert_eq(socfw_nn_qlinear_forward(y, x, &w, bias, N), 0);
        const char *mode = socfw_nn_qgemm_name();
        /* the forced mode's path: the dot products for one row, for any
         * number under "dot", up to 8 under "panel" */
        int dots = N == 1 || !strcmp(mode, "dot") ||
                   (N <= 8 && !strcmp(mode, "panel"));
        int quant_acts = bs > 1 && (dots || !strcmp(mode, "int"));
        /* the activations' block: 256 for the K-quants' dot products
         * (nn_q8k) except on "avx2-q8", 32 otherwise (and in the GEMM) */
        int ab = bs == 256 && strcmp(socfw_nn_qkernel_name(), "avx2-q8") &&
                                 dots
                         ? 256 : 32;
        for (int n = 0; n < N; n++) {
                const float *xn = x + n * cols;
                for (int64_t r = 0; r < rows; r++) {
                        double ref, mag;
                        double tol = ref_dot(W + r * cols, xn, cols,
                                             quant_acts ? ab : 0, bias[r],
                                             &ref, &mag);
                        double got = y[n * rows + r];
                        cr_assert(fabs(got - ref) <= tol,
                                  "%s [%s] rows %lld cols %lld N %d: y[%d,%lld]"
                                  " = %.7g, reference %.7g (tolerance %.3g)",
                                  socfw_dtype_name(t), socfw_nn_qkernel_name(),
                                  (long long)rows, (long long)cols, N, n,
                                  (long long)r, got, ref, tol);
                }
        }
        socfw_qtensor_release(&w);
        free(W);
        free(x);
        free(y);
        free(bias);
}

static void
check_all_types(void)
{
        static const int64_t rows[] = {1, 7, 33};
        static const int64_t blocks[] = {1, 2, 3, 5, 17};
        static const int Ns[] = {1, 2, 8, 9, 17};
        for (size_t t = 0; t < sizeof types / sizeof *types; t++)
                for (size_t r = 0; r < 3; r++)
                        for (size_t b = 0; b < 5; b++)
                                for (size_t n = 0; n < 5; n++)
                                        check_case(types[t], rows[r],
                                                   blocks[b], Ns[n]);
}

Test(nn_quant, portable_path_matches_dequantised_reference, .timeout = 120)
{
        cr_assert_eq(socfw_nn_qgemm_set("panel"), 0);
        cr_assert_eq(socfw_nn_qkernel_set("scalar"), 0);
        cr_assert_str_eq(socfw_nn_qkernel_name(), "scalar");
        check_all_types();
}

Test(nn_quant, avx2_path_matches_dequantised_reference, .timeout = 120)
{
        cr_assert_eq(socfw_nn_qgemm_set("panel"), 0);
        if (socfw_nn_qkernel_set("avx2") != 0)
                cr_skip_test("this CPU (or build) has no AVX2 path");
        cr_assert_str_eq(socfw_nn_qkernel_name(), "avx2");
        check_all_types();
}

Test(nn_quant, avx2_q8_path_matches_dequantised_reference, .timeout = 120)
{
        cr_assert_eq(socfw_nn_qgemm_set("panel"), 0);
        if (socfw_nn_qkernel_set("avx2-q8") != 0)
                cr_skip_test("this CPU (or build) has no AVX2 path");
        cr_assert_str_eq(socfw_nn_qkernel_name(), "avx2-q8");
        check_all_types();
}

/* ---- the K-quants' one-row products on activations per 256 ----
 * Every row length from 1 to 9 blocks and 22 (TinyLlama's 5632), 37 rows,
 * activations with one outlier per row at a block boundary (elements 255
 * and 256 alternately: the per-256 scale of one block large, its
 * neighbour's not) and blocks of negative f16 scales, on the portable and
 * AVX2 paths, 1 and 2 threads:
 *   - against the dequantised weights in double precision, within the
 *     bound of the per-256 quantisation (check_case's);
 *   - 1 and 2 threads give the same bits (each output is one dot product
 *     whichever thread computes it);
 *   - AVX2 against the portable path: the same integer products, float
 *     sums in another order, so within 1e-5 of sum_e |w_e x_e| + 1e-6. */
static const socfw_dtype ktypes[] = {SOCFW_DTYPE_Q2_K, SOCFW_DTYPE_Q3_K,
                                     SOCFW_DTYPE_Q4_K, SOCFW_DTYPE_Q5_K,
                                     SOCFW_DTYPE_Q6_K};

static float *
k_run(const socfw_qtensor *w, const float *x, const char *path, int threads)
{
        float *y = malloc((size_t)w->rows * sizeof *y);
        cr_assert_not_null(y);
        cr_assert_eq(socfw_nn_qkernel_set(path), 0);
        socfw_threads_set(threads);
        cr_assert_eq(socfw_nn_qlinear_forward(y, x, w, NULL, 1), 0);
        return y;
}

Test(nn_quant, k_decode_every_block_count_paths_and_threads, .timeout = 120)
{
        static const int64_t nbs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 22};
        int have_avx2 = socfw_nn_qkernel_set("avx2") == 0;
        int64_t rows = 37;
        for (size_t t = 0; t < sizeof ktypes / sizeof *ktypes; t++)
                for (size_t k = 0; k < sizeof nbs / sizeof *nbs; k++) {
                        int64_t cols = 256 * nbs[k];
                        size_t nbytes, bb = socfw_dtype_block_bytes(ktypes[t]);
                        uint8_t *data = random_matrix(ktypes[t], rows, cols,
                                                      &nbytes);
                        for (size_t b = 0; b < nbytes / bb; b += 3)
                                for (const int *f =
                                             socfw_dtype_scale_offsets(ktypes[t]);
                                     *f >= 0; f++)
                                        data[b * bb + (size_t)*f + 1] |= 0x80;
                        socfw_qtensor w;
                        cr_assert_eq(socfw_qtensor_init(&w, "w", ktypes[t],
                                                        rows, cols, data,
                                                        nbytes, 0, NULL), 0);
                        float *W = malloc((size_t)(rows * cols) * sizeof *W);
                        float *x = malloc((size_t)cols * sizeof *x);
                        cr_assert(W && x);
                        cr_assert_eq(socfw_dtype_to_f32(ktypes[t], data,
                                                        (size_t)(rows * cols),
                                                        W), 0);
                        for (int64_t i = 0; i < cols; i++)
                                x[i] = urand();
                        x[nbs[k] % 2 ? 255 : (cols > 256 ? 256 : 0)] = 40.0f;
                        float *ys1 = k_run(&w, x, "scalar", 1);
                        float *ys2 = k_run(&w, x, "scalar", 2);
                        float *ya1 = have_avx2 ? k_run(&w, x, "avx2", 1) : NULL;
                        float *ya2 = have_avx2 ? k_run(&w, x, "avx2", 2) : NULL;
                        size_t yb = (size_t)rows * sizeof *ys1;
                        cr_assert(!memcmp(ys1, ys2, yb),
                                  "%s scalar: 1 and 2 threads differ",
                                  socfw_dtype_name(ktypes[t]));
                        if (have_avx2)
                                cr_assert(!memcmp(ya1, ya2, yb),
                                          "%s avx2: 1 and 2 threads differ",
                                          socfw_dtype_name(ktypes[t]));
                        for (int64_t r = 0; r < rows; r++) {
                                double ref, mag;
                                double tol = ref_dot(W + r * cols, x, cols,
                                                     256, 0, &ref, &mag);
                                cr_assert(fabs(ys1[r] - ref) <= tol,
                                          "%s scalar cols %lld row %lld: %.7g"
                                          " vs %.7g (tolerance %.3g)",
                                          socfw_dtype_name(ktypes[t]),
                                          (long long)cols, (long long)r,
                                          ys1[r], ref, tol);
                                if (!have_avx2)
                                        continue;
                                cr_assert(fabs(ya1[r] - ref) <= tol,
                                          "%s avx2 cols %lld row %lld: %.7g "
                                          "vs %.7g (tolerance %.3g)",
                                          socfw_dtype_name(ktypes[t]),
                                          (long long)cols, (long long)r,
                                          ya1[r], ref, tol);
                                cr_assert(fabs(ya1[r] - ys1[r]) <=
                                                  1e-5 * mag + 1e-6,
                                          "%s cols %lld row %lld: avx2 %.7g "
                                          "scalar %.7g",
                                          socfw_dtype_name(ktypes[t]),
                                          (long long)cols, (long long)r,
                                          ya1[r], ys1[r]);
                        }
                        socfw_qtensor_release(&w);
                        free(ys1); free(ys2); free(ya1); free(ya2);
                        free(W); free(x); free(data);
                }
        socfw_threads_set(0);
}

/* The largest integer products the formats allow (every weight byte 0x00,
 * 0xff, 0x55 or 0xaa: all-max or all-min 4-, 5- and 6-bit values and
 * scales) against activations all +1 or alternating +-1 (quantised
 * exactly to +-127): no 16-bit pair sum may saturate, so every path gives
 * the dequantised product to float rounding. */
Test(nn_quant, k_decode_extreme_values_do_not_saturate)
{
        static const uint8_t fills[] = {0x00, 0xff, 0x55, 0xaa};
        static const char *paths[] = {"scalar", "avx2", "avx2-q8"};
        int64_t rows = 3, cols = 512;
        float x[2][512];
        for (int i = 0; i < 512; i++) {
                x[0][i] = 1.0f;
                x[1][i] = i % 2 ? -1.0f : 1.0f;
        }
        for (size_t t = 0; t < sizeof ktypes / sizeof *ktypes; t++)
                for (size_t f = 0; f < 4; f++) {
                        size_t nbytes, bb = socfw_dtype_block_bytes(ktypes[t]);
                        cr_assert_eq(socfw_dtype_nbytes(ktypes[t],
                                                        (uint64_t)(rows * cols),
                                                        &nbytes), 0);
                        uint8_t *data = malloc(nbytes);
                        cr_assert_not_null(data);
                        memset(data, fills[f], nbytes);
                        for (size_t b = 0; b < nbytes / bb; b++)
                                for (const int *o =
                                             socfw_dtype_scale_offsets(ktypes[t]);
                                     *o >= 0; o++)
                                        put_f16(data + b * bb + (size_t)*o,
                                                0.0625f);
                        socfw_qtensor w;
                        cr_assert_eq(socfw_qtensor_init(&w, "w", ktypes[t],
                                                        rows, cols, data,
                                                        nbytes, 0, NULL), 0);
                        float W[512];
                        cr_assert_eq(socfw_dtype_to_f32(ktypes[t], data, 512,
                                                        W), 0);
                        for (int xi = 0; xi < 2; xi++) {
                                double ref = 0, mag = 0;
                                for (int e = 0; e < 512; e++) {
                                        ref += (double)W[e] * x[xi][e];
                                        mag += fabs((double)W[e]);
                                }
                                for (size_t p = 0; p < 3; p++) {
                                        if (socfw_nn_qkernel_set(paths[p]))
                                                continue;
                                        float y[3];
                                        cr_assert_eq(socfw_nn_qlinear_forward(
                                                             y, x[xi], &w,
                                                             NULL, 1), 0);
                                        cr_assert(fabs(y[0] - ref) <=
                                                          1e-5 * mag + 1e-6,
                                                  "%s fill 0x%02x x %d [%s]: "
                                                  "%.7g vs %.7g",
                                                  socfw_dtype_name(ktypes[t]),
                                                  fills[f], xi, paths[p], y[0],
                                                  ref);
                                }
                        }
                        free(data);
                }
}

/* ---- Q4_0's one-row products (the paired activations) ----
 * On "avx2" Q4_0 quantises the activations per 32 as every per-32 format
 * does, but lays two blocks out per entry with sums of four elements
 * (nn_q8x2), and its kernel takes the unsigned nibbles, subtracting 8
 * times those sums for the offset; "avx2-q8" keeps the previous (signed)
 * kernel.  Every row length from 1 to 9 blocks and 22 (TinyLlama's 5632;
 * odd counts end in half a pair), 229 rows (enough for 2 threads to split
 * the longer rows), an outlier at the end of the first block and the
 * start of the last (the per-32 scale of one block large, its
 * neighbour's not), every third block's f16 scale negative:
 *   - every path against the dequantised weights in double precision,
 *     within the bound of the per-32 quantisation (check_case's);
 *   - 1 and 2 threads give the same bits, and so does any run of rows
 *     taken alone (a row's value does not depend on its neighbours);
 *   - "avx2" and "avx2-q8" against the portable path: the same integer
 *     products, float sums in another order: within 1e-5 of
 *     sum_e |w_e x_e| + 1e-6. */
Test(nn_quant, q4_0_decode_every_block_count_paths_and_threads,
     .timeout = 120)
{
        static const int64_t nbs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 22};
        static const char *paths[] = {"avx2", "avx2-q8"};
        const socfw_dtype t = SOCFW_DTYPE_Q4_0;
        int have_avx2 = socfw_nn_qkernel_set("avx2") == 0;
        int64_t rows = 229;
        for (size_t k = 0; k < sizeof nbs / sizeof *nbs; k++) {
                int64_t cols = 32 * nbs[k];
                size_t nbytes;
                uint8_t *data = random_matrix(t, rows, cols, &nbytes);
                for (size_t b = 0; b < nbytes / 18; b += 3)
                        data[18 * b + 1] |= 0x80;
                socfw_qtensor w;
                cr_assert_eq(socfw_qtensor_init(&w, "w", t, rows, cols, data,
                                                nbytes, 0, NULL), 0);
                float *W = malloc((size_t)(rows * cols) * sizeof *W);
                float *x = malloc((size_t)cols * sizeof *x);
                cr_assert(W && x);
                cr_assert_eq(socfw_dtype_to_f32(t, data, (size_t)(rows * cols),
                                                W), 0);
                for (int64_t i = 0; i < cols; i++)
                        x[i] = urand();
                x[31] = 40.0f;
                x[cols - 32] = -40.0f;
                float *ys = k_run(&w, x, "scalar", 1);
                for (size_t p = 0; p < 2 && have_avx2; p++) {
                        float *y1 = k_run(&w, x, paths[p], 1);
                        float *y2 = k_run(&w, x, paths[p], 2);
                        cr_assert(!memcmp(y1, y2, (size_t)rows * sizeof *y1),
                                  "Q4_0 %s cols %lld: 1 and 2 threads "
                                  "differ", paths[p], (long long)cols);
                        /* rows 5..11 alone: the same bits */
                        socfw_qtensor part;
                        cr_assert_eq(socfw_qtensor_init(
                                             &part, "w", t, 7, cols,
                                             data + 5 * w.row_bytes,
                                             7 * w.row_bytes, 0, NULL), 0);
                        float *yp = k_run(&part, x, paths[p], 1);
                        cr_assert(!memcmp(yp, y1 + 5, 7 * sizeof *yp),
                                  "Q4_0 %s cols %lld: rows 5..11 alone "
                                  "differ", paths[p], (long long)cols);
                        for (int64_t r = 0; r < rows; r++) {
                                double ref, mag;
                                double tol = ref_dot(W + r * cols, x, cols,
                                                     32, 0, &ref, &mag);
                                cr_assert(fabs(ys[r] - ref) <= tol,
                                          "Q4_0 scalar cols %lld row %lld: "
                                          "%.7g vs %.7g (tolerance %.3g)",
                                          (long long)cols, (long long)r,
                                          ys[r], ref, tol);
                                cr_assert(fabs(y1[r] - ref) <= tol,
                                          "Q4_0 %s cols %lld row %lld: %.7g "
                                          "vs %.7g (tolerance %.3g)",
                                          paths[p], (long long)cols,
                                          (long long)r, y1[r], ref, tol);
                                cr_assert(fabs(y1[r] - ys[r]) <=
                                                  1e-5 * mag + 1e-6,
                                          "Q4_0 cols %lld row %lld: %s %.7g "
                                          "scalar %.7g", (long long)cols,
                                          (long long)r, paths[p], y1[r],
                                          ys[r]);
                        }
                        socfw_qtensor_release(&part);
                        free(y1); free(y2); free(yp);
                }
                socfw_qtensor_release(&w);
                free(ys); free(W); free(x); free(data);
        }
        socfw_threads_set(0);
}

/* The sums of four and the interleaved layout, exactly: weights with
 * d = 1 whose nibbles are all 8 (the value 0) except one, 9 or 7 (+1 or
 * -1), at element r of row r (rows 0..95 over 3 blocks: every position
 * of a pair and of the half pair at the end), and a row of nibbles all 8.
 * Each output is then +-d_a q_a at one element, exactly, on every path:
 * the integer sums are exact, so any activation landing in the wrong lane
 * or any sum of four off by one shows as a difference from the portable
 * path's bits; the all-8 row is exactly 0. */
Test(nn_quant, q4_0_offset_sums_and_layout_are_exact)
{
        static const char *paths[] = {"avx2", "avx2-q8"};
        int64_t rows = 97, cols = 96;
        size_t nbytes = (size_t)rows * 3 * 18;
        uint8_t *data = malloc(nbytes);
        cr_assert_not_null(data);
        memset(data, 0x88, nbytes);
        for (int64_t r = 0; r < rows; r++)
                for (int b = 0; b < 3; b++)
                        put_f16(data + 18 * (3 * r + b), 1.0f);
        for (int64_t r = 0; r < 96; r++) {
                int e = (int)r % 32;
                uint8_t *q = data + 18 * (3 * r + r / 32) + 2 + e % 16;
                uint8_t v = r % 2 ? 7 : 9;
                *q = e < 16 ? (uint8_t)((*q & 0xf0) | v)
                            : (uint8_t)((*q & 0x0f) | (v << 4));
        }
        socfw_qtensor w;
        cr_assert_eq(socfw_qtensor_init(&w, "w", SOCFW_DTYPE_Q4_0, rows, cols,
                                        data, nbytes, 0, NULL), 0);
        float x[96];
        for (int i = 0; i < 96; i++)
                x[i] = (0.25f + (float)((i * 37) % 101) / 101.0f) *
                       (i % 3 ? 1.0f : -1.0f);
        float *ys = k_run(&w, x, "scalar", 1);
        for (int64_t r = 0; r < 96; r++)
                cr_assert(ys[r] != 0.0f && (ys[r] > 0) == ((x[r] > 0) ==
                                                           (r % 2 == 0)),
                          "scalar row %lld: %g", (long long)r, ys[r]);
        cr_assert_eq(ys[96], 0.0f);
        for (size_t p = 0; p < 2; p++) {
                if (socfw_nn_qkernel_set(paths[p]) != 0)
                        continue;
                float *y = k_run(&w, x, paths[p], 1);
                for (int64_t r = 0; r < rows; r++)
                        cr_assert(y[r] == ys[r],
                                  "%s row %lld: %a, portable %a", paths[p],
                                  (long long)r, y[r], ys[r]);
                free(y);
        }
        socfw_qtensor_release(&w);
        free(ys);
        free(data);
}

/* The largest products Q4_0 allows (nibbles all 0, all 15, or mixed;
 * all 8 for zero) against activations all +1, all -1 or alternating
 * (quantised exactly to +-127, so the sums of four reach +-508): no
 * 16-bit lane may overflow, so every path gives the dequantised product
 * to float rounding; 16 blocks and 3 (the half pair). */
Test(nn_quant, q4_0_decode_extreme_values_do_not_saturate)
{
        static const uint8_t fills[] = {0x00, 0xff, 0x0f, 0xf0, 0x88, 0x5a};
        static const char *paths[] = {"scalar", "avx2", "avx2-q8"};
        static const int64_t nbs[] = {16, 3};
        for (size_t k = 0; k < 2; k++) {
                int64_t rows = 3, cols = 32 * nbs[k];
                size_t nbytes = (size_t)(rows * nbs[k]) * 18;
                uint8_t *data = malloc(nbytes);
                float *W = malloc((size_t)(rows * cols) * sizeof *W);
                float *x = malloc(3 * (size_t)cols * sizeof *x);
                cr_assert(data && W && x);
                for (int64_t i = 0; i < cols; i++) {
                        x[i] = 1.0f;
                        x[cols + i] = -1.0f;
                        x[2 * cols + i] = i % 2 ? -1.0f : 1.0f;
                }
                for (size_t f = 0; f < sizeof fills; f++) {
                        memset(data, fills[f], nbytes);
                        for (size_t b = 0; b < nbytes / 18; b++)
                                put_f16(data + 18 * b, 0.0625f);
                        socfw_qtensor w;
                        cr_assert_eq(socfw_qtensor_init(&w, "w",
                                                        SOCFW_DTYPE_Q4_0,
                                                        rows, cols, data,
                                                        nbytes, 0, NULL), 0);
                        cr_assert_eq(socfw_dtype_to_f32(SOCFW_DTYPE_Q4_0,
                                                        data,
                                                        (size_t)(rows * cols),
                                                        W), 0);
                        for (int xi = 0; xi < 3; xi++) {
                                const float *xv = x + xi * cols;
                                double ref = 0, mag = 0;
                                for (int64_t e = 0; e < cols; e++) {
                                        ref += (double)W[e] * xv[e];
                                        mag += fabs((double)W[e]);
                                }
                                for (size_t p = 0; p < 3; p++) {
                                        if (socfw_nn_qkernel_set(paths[p]))
                                                continue;
                                        float y[3];
                                        cr_assert_eq(socfw_nn_qlinear_forward(
                                                             y, xv, &w, NULL,
                                                             1), 0);
                                        for (int r = 0; r < 3; r++)
                                                cr_assert(fabs(y[r] - ref) <=
                                                                  1e-5 * mag +
                                                                  1e-6,
                                                          "Q4_0 %lld blocks "
                                                          "fill 0x%02x x %d "
                                                          "[%s] row %d: %.7g "
                                                          "vs %.7g",
                                                          (long long)nbs[k],
                                                          fills[f], xi,
                                                          paths[p], r, y[r],
                                                          ref);
                                }
                        }
                        socfw_qtensor_release(&w);
                }
                free(data);
                free(W);
                free(x);
        }
}

/* ---- the integer GEMM of prefill (SOCFW_QGEMM=int) ----
 * Same bound as the dot products (it quantises the activations the same
 * way).  Output counts cross the tile (2 weight rows) and chunk (32 rows)
 * edges, row counts the 4-row tiles, rows of 1, 2, 3 and 5 blocks. */
static void
check_int_gemm(void)
{
        static const int64_t rows[] = {1, 2, 3, 5, 31, 32, 33, 65};
        static const int64_t blocks[] = {1, 2, 3, 5};
        static const int Ns[] = {2, 3, 5, 9, 13};
        cr_assert_eq(socfw_nn_qgemm_set("int"), 0);
        cr_assert_str_eq(socfw_nn_qgemm_name(), "int");
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
                if (socfw_dtype_block_size(types[t]) == 1)
                        continue;
                for (size_t r = 0; r < 8; r++)
                        for (size_t b = 0; b < 4; b++)
                                for (size_t n = 0; n < 5; n++)
                                        check_case(types[t], rows[r],
                                                   blocks[b], Ns[n]);
        }
        socfw_nn_qgemm_set("auto");
}

Test(nn_quant, int_gemm_portable_matches_dequantised_reference,
     .timeout = 120)
{
        cr_assert_eq(socfw_nn_qkernel_set("scalar"), 0);
        check_int_gemm();
}

Test(nn_quant, int_gemm_avx2_matches_dequantised_reference, .timeout = 120)
{
        if (socfw_nn_qkernel_set("avx2") != 0)
                cr_skip_test("this CPU (or build) has no AVX2 path");
        check_int_gemm();
}

/* y of the integer GEMM for (rows, cols, N) of type t on the current
 * kernel path and thread count (caller frees). */
static float *
int_gemm_run(socfw_dtype t, const uint8_t *data, size_t nbytes,
             int64_t rows, int64_t cols, const float *x, int N)
{
        socfw_qtensor w;
        cr_assert_eq(socfw_qtensor_init(&w, "w", t, rows, cols, data, nbytes,
                                        0, NULL), 0);
        float *y = malloc((size_t)(N * rows) * sizeof *y);
        cr_assert_not_null(y);
        cr_assert_eq(socfw_nn_qgemm_set("int"), 0);
        cr_assert_eq(socfw_nn_qlinear_forward(y, x, &w, NULL, N), 0);
        socfw_nn_qgemm_set("auto");
        return y;
}

/* The split over threads by output columns does not change a bit; the
 * AVX2 and portable paths agree to float rounding (same integer sums,
 * float sums in another order: 1e-5 of sum |w x|). */
Test(nn_quant, int_gemm_is_thread_count_independent, .timeout = 60)
{
        static const socfw_dtype ts[] = {SOCFW_DTYPE_Q8_0, SOCFW_DTYPE_Q4_0,
                                         SOCFW_DTYPE_Q4_K, SOCFW_DTYPE_Q6_K};
        int64_t rows = 1001, cols = 1024;
        int N = 17;
        float *x = malloc((size_t)(N * cols) * sizeof *x);
        cr_assert_not_null(x);
        for (int64_t i = 0; i < N * cols; i++)
                x[i] = urand();
        for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) {
                size_t nbytes;
                uint8_t *data = random_matrix(ts[k], rows, cols, &nbytes);
                const char *paths[] = {"scalar", "avx2"};
                /* float rounding scale of each output: sum |w x| */
                float *W = malloc((size_t)(rows * cols) * sizeof *W);
                double *mag = calloc((size_t)(N * rows), sizeof *mag);
                cr_assert(W && mag);
                cr_assert_eq(socfw_dtype_to_f32(ts[k], data,
                                                (size_t)(rows * cols), W), 0);
                for (int n = 0; n < N; n++)
                        for (int64_t r = 0; r < rows; r++)
                                for (int64_t e = 0; e < cols; e++)
                                        mag[n * rows + r] +=
                                                fabs((double)W[r * cols + e] *
                                                     x[n * cols + e]);
                float *ref = NULL;
                for (size_t p = 0; p < 2; p++) {
                        if (socfw_nn_qkernel_set(paths[p]) != 0)
                                continue;
                        socfw_threads_set(1);
                        float *y1 = int_gemm_run(ts[k], data, nbytes, rows,
                                                 cols, x, N);
                        socfw_threads_set(2);
                        float *y2 = int_gemm_run(ts[k], data, nbytes, rows,
                                                 cols, x, N);
                        cr_assert(memcmp(y1, y2, (size_t)(N * rows) *
                                                         sizeof *y1) == 0,
                                  "%s [%s]: 1 and 2 threads differ",
                                  socfw_dtype_name(ts[k]), paths[p]);
                        if (!ref) {
                                ref = y1;
                        } else {
                                for (int64_t i = 0; i < N * rows; i++)
                                        cr_assert_float_eq(
                                                y1[i], ref[i],
                                                1e-5 * mag[i] + 1e-6,
                                                "%s element %lld: avx2 %g "
                                                "scalar %g",
                                                socfw_dtype_name(ts[k]),
                                                (long long)i, y1[i], ref[i]);
                                free(y1);
                        }
                        free(y2);
                }
                free(ref);
                free(data);
                free(W);
                free(mag);
        }
        socfw_threads_set(0);
        free(x);
}

/* Every forced path for several rows on K-quant weights (batched
 * decoding, short prefills): "int", "panel" and "dot" against the
 * dequantised weights within check_case's bound, for 2 to 9 rows and 33,
 * on the portable and AVX2 kernels; 1 and 2 threads give the same bits
 * (each output is computed whole by one thread: one dot product, one
 * column of the integer GEMM or of one panel's sgemm); and under "dot"
 * every row of 9 is bit for bit the product of that row alone. */
static float *
forced_run(const socfw_qtensor *w, const float *x, int N, int threads)
{
        float *y = malloc((size_t)(N * w->rows) * sizeof *y);
        cr_assert_not_null(y);
        socfw_threads_set(threads);
        cr_assert_eq(socfw_nn_qlinear_forward(y, x, w, NULL, N), 0);
        return y;
}

Test(nn_quant, k_forced_paths_match_reference_for_small_batches,
     .timeout = 180)
{
        static const char *modes[] = {"int", "panel", "dot"};
        static const char *paths[] = {"scalar", "avx2"};
        static const int Ns[] = {2, 3, 4, 5, 6, 7, 8, 9, 33};
        int64_t rows = 37, cols = 768;
        for (size_t p = 0; p < 2; p++) {
                if (socfw_nn_qkernel_set(paths[p]) != 0)
                        continue;
                for (size_t m = 0; m < 3; m++) {
                        cr_assert_eq(socfw_nn_qgemm_set(modes[m]), 0);
                        for (size_t t = 0; t < sizeof ktypes / sizeof *ktypes;
                             t++)
                                for (size_t n = 0; n < sizeof Ns / sizeof *Ns;
                                     n++) {
                                        socfw_threads_set(2);
                                        check_case(ktypes[t], rows, 3, Ns[n]);
                                }
                        /* 1 and 2 threads */
                        for (size_t t = 0; t < sizeof ktypes / sizeof *ktypes;
                             t++) {
                                size_t nbytes;
                                uint8_t *data = random_matrix(
                                        ktypes[t], 301, cols, &nbytes);
                                socfw_qtensor w;
                                cr_assert_eq(socfw_qtensor_init(
                                                     &w, "w", ktypes[t], 301,
                                                     cols, data, nbytes, 0,
                                                     NULL), 0);
                                int N = 9;
                                float *x = malloc((size_t)(N * cols) *
                                                  sizeof *x);
                                cr_assert_not_null(x);
                                for (int64_t i = 0; i < N * cols; i++)
                                        x[i] = urand();
                                float *y1 = forced_run(&w, x, N, 1);
                                float *y2 = forced_run(&w, x, N, 2);
                                cr_assert(!memcmp(y1, y2,
                                                  (size_t)(N * 301) *
                                                          sizeof *y1),
                                          "%s [%s, %s]: 1 and 2 threads "
                                          "differ", socfw_dtype_name(ktypes[t]),
                                          paths[p], modes[m]);
                                /* "dot": every row as if decoded alone */
                                for (int n = 0; m == 2 && n < N; n++) {
                                        float *y = forced_run(
                                                &w, x + n * cols, 1, 2);
                                        cr_assert(!memcmp(y, y1 + n * 301,
                                                          301 * sizeof *y),
                                                  "%s [%s]: dot row %d is "
                                                  "not the one-row product",
                                                  socfw_dtype_name(ktypes[t]),
                                                  paths[p], n);
                                        free(y);
                                }
                                free(y1);
                                free(y2);
                                free(x);
                                free(data);
                        }
                }
        }
        socfw_nn_qgemm_set("auto");
        socfw_threads_set(0);
}

/* SOCFW_QGEMM picks the mode at first use (each test runs in its own
 * process, so nothing has set it yet). */
Test(nn_quant, qgemm_mode_from_the_environment)
{
        setenv("SOCFW_QGEMM", "int", 1);
        cr_assert_str_eq(socfw_nn_qgemm_name(), "int");
}

/* "auto" follows the measured rule.  On the portable path (the K-quants'
 * dot products there not re-measured): Q4_K at 8 rows and Q6_K at 32
 * take the integer GEMM, Q4_0 too at 5 and 12 rows, Q8_0 (never), Q4_0
 * at 33 rows (above 16) and Q5_0 / Q6_K above 32 rows (AVX2 panels) the
 * panel path, Q5_K (scalar panels) the integer GEMM up to 128.  On AVX2:
 * Q4_0 the dot products up to 8 rows ("panel" there), the K-quants the
 * per-256 dot products ("dot"): Q6_K up to 8 rows (then the integer GEMM
 * to 32, the panels above), Q4_K up to 32 (then the panels), Q3_K and
 * Q5_K up to 64 (then the integer GEMM to 128), Q2_K up to 128.  Each is
 * compared bit for bit with the forced mode. */
static void
check_auto_takes(socfw_dtype t, int N, const char *expect)
{
        int64_t rows = 40, cols = 512;
        size_t nbytes;
        uint8_t *data = random_matrix(t, rows, cols, &nbytes);
        socfw_qtensor w;
        cr_assert_eq(socfw_qtensor_init(&w, "w", t, rows, cols, data, nbytes,
                                        0, NULL), 0);
        float *x = malloc((size_t)(N * cols) * sizeof *x);
        float *ya = malloc((size_t)(N * rows) * sizeof *ya);
        float *yf = malloc((size_t)(N * rows) * sizeof *yf);
        cr_assert(x && ya && yf);
        for (int64_t i = 0; i < N * cols; i++)
                x[i] = urand();
        cr_assert_eq(socfw_nn_qgemm_set("auto"), 0);
        cr_assert_eq(socfw_nn_qlinear_forward(ya, x, &w, NULL, N), 0);
        cr_assert_eq(socfw_nn_qgemm_set(expect), 0);
        cr_assert_eq(socfw_nn_qlinear_forward(yf, x, &w, NULL, N), 0);
        cr_assert(memcmp(ya, yf, (size_t)(N * rows) * sizeof *ya) == 0,
                  "%s, %d rows: auto is not the %s path",
                  socfw_dtype_name(t), N, expect);
        socfw_nn_qgemm_set("auto");
        free(x);
        free(ya);
        free(yf);
        free(data);
}

Test(nn_quant, qgemm_auto_follows_the_rule)
{
        if (socfw_nn_qkernel_set("avx2") == 0) {
                check_auto_takes(SOCFW_DTYPE_Q4_0, 5, "panel");
                check_auto_takes(SOCFW_DTYPE_Q4_0, 12, "int");
                check_auto_takes(SOCFW_DTYPE_Q4_K, 2, "dot");
                check_auto_takes(SOCFW_DTYPE_Q4_K, 16, "dot");
                check_auto_takes(SOCFW_DTYPE_Q4_K, 32, "dot");
                check_auto_takes(SOCFW_DTYPE_Q4_K, 33, "panel");
                check_auto_takes(SOCFW_DTYPE_Q6_K, 8, "dot");
                check_auto_takes(SOCFW_DTYPE_Q6_K, 9, "int");
                check_auto_takes(SOCFW_DTYPE_Q6_K, 32, "int");
                check_auto_takes(SOCFW_DTYPE_Q6_K, 33, "panel");
                check_auto_takes(SOCFW_DTYPE_Q2_K, 4, "dot");
                check_auto_takes(SOCFW_DTYPE_Q2_K, 128, "dot");
                check_auto_takes(SOCFW_DTYPE_Q2_K, 129, "panel");
                check_auto_takes(SOCFW_DTYPE_Q3_K, 17, "dot");
                check_auto_takes(SOCFW_DTYPE_Q3_K, 64, "dot");
                check_auto_takes(SOCFW_DTYPE_Q3_K, 65, "int");
                check_auto_takes(SOCFW_DTYPE_Q5_K, 32, "dot");
                check_auto_takes(SOCFW_DTYPE_Q5_K, 100, "int");
                check_auto_takes(SOCFW_DTYPE_Q8_0, 5, "panel");
                /* "avx2-q8" has no per-256 dot products: the rule of
                 * the portable path for the K-quants */
                cr_assert_eq(socfw_nn_qkernel_set("avx2-q8"), 0);
                check_auto_takes(SOCFW_DTYPE_Q4_K, 8, "int");
                check_auto_takes(SOCFW_DTYPE_Q5_K, 20, "int");
        }
        cr_assert_eq(socfw_nn_qkernel_set("scalar"), 0);
        check_auto_takes(SOCFW_DTYPE_Q4_K, 8, "int");
        check_auto_takes(SOCFW_DTYPE_Q4_K, 16, "int");
        check_auto_takes(SOCFW_DTYPE_Q6_K, 32, "int");
        check_auto_takes(SOCFW_DTYPE_Q6_K, 100, "panel");
        check_auto_takes(SOCFW_DTYPE_Q5_0, 33, "panel");
        check_auto_takes(SOCFW_DTYPE_Q5_K, 20, "int");
        check_auto_takes(SOCFW_DTYPE_Q5_K, 100, "int");
        check_auto_takes(SOCFW_DTYPE_Q4_0, 5, "int");
        check_auto_takes(SOCFW_DTYPE_Q4_0, 33, "panel");
        check_auto_takes(SOCFW_DTYPE_Q8_0, 33, "panel");
        check_auto_takes(SOCFW_DTYPE_Q8_0, 5, "panel");
}

Test(nn_quant, qgemm_modes_are_named)
{
        cr_assert_eq(socfw_nn_qgemm_set("nonsense"), SOCFW_EUNSUPPORTED);
        cr_assert_eq(socfw_nn_qgemm_set("panel"), 0);
        cr_assert_str_eq(socfw_nn_qgemm_name(), "panel");
        cr_assert_eq(socfw_nn_qgemm_set("dot"), 0);
        cr_assert_str_eq(socfw_nn_qgemm_name(), "dot");
        cr_assert_eq(socfw_nn_qgemm_set("auto"), 0);
        cr_assert_str_eq(socfw_nn_qgemm_name(), "auto");
}

/* The paths agree with each other more closely than with the reference:
 * same quantised activations, same integer sums. */
Test(nn_quant, paths_agree, .timeout = 60)
{
        if (socfw_nn_qkernel_set("avx2") != 0)
                cr_skip_test("this CPU (or build) has no AVX2 path");
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
                int64_t rows = 5, cols = 3 * 256;
                size_t nbytes;
                uint8_t *data = random_matrix(types[t], rows, cols, &nbytes);
                socfw_qtensor w;
                cr_assert_eq(socfw_qtensor_init(&w, "w", types[t], rows, cols,
                                                data, nbytes, 0, NULL), 0);
                float x[3 * 256], ya[5], ys[5];
                for (int i = 0; i < cols; i++)
                        x[i] = urand();
                socfw_nn_qkernel_set("avx2");
                socfw_nn_qlinear_forward(ya, x, &w, NULL, 1);
                socfw_nn_qkernel_set("scalar");
                socfw_nn_qlinear_forward(ys, x, &w, NULL, 1);
                for (int r = 0; r < rows; r++)
                        cr_assert_float_eq(ya[r], ys[r],
                                           1e-5f * (fabsf(ys[r]) + 1.0f),
                                           "%s row %d: avx2 %g scalar %g",
                                           socfw_dtype_name(types[t]), r,
                                           ya[r], ys[r]);
                free(data);
        }
}

Test(nn_quant, f32_weights_take_the_float_path)
{
        float W[2 * 3] = {1, 2, 3, 4, 5, 6}, x[3] = {1, 0, -1}, y[2];
        socfw_qtensor w;
        cr_assert_eq(socfw_qtensor_init(&w, "w", SOCFW_DTYPE_F32, 2, 3, W,
                                        sizeof W, 0, NULL), 0);
        cr_assert_eq(socfw_nn_qlinear_forward(y, x, &w, NULL, 1), 0);
        cr_assert_float_eq(y[0], -2.0f, 1e-6f);
        cr_assert_float_eq(y[1], -2.0f, 1e-6f);
}

Test(nn_quant, rows_that_are_not_whole_blocks_are_refused)
{
        uint8_t buf[34 * 4] = {0};
        socfw_qtensor w;
        socfw_error err = {0};
        int rc = socfw_qtensor_init(&w, "blk.3.ffn_up.weight",
                                    SOCFW_DTYPE_Q8_0, 2, 48, buf, sizeof buf,
                                    0, &err);
        cr_assert_eq(rc, SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "blk.3.ffn_up.weight"), "%s",
                  err.message);
        cr_assert(strstr(err.message, "Q8_0"), "%s", err.message);
        cr_assert_null(w.data);
        /* bytes that do not match the shape */
        rc = socfw_qtensor_init(&w, "t", SOCFW_DTYPE_Q8_0, 3, 32, buf,
                                sizeof buf, 0, &err);
        cr_assert_eq(rc, SOCFW_EFORMAT);
}

Test(nn_quant, unsupported_types_are_named)
{
        uint8_t buf[64] = {0};
        socfw_qtensor w;
        socfw_error err = {0};
        int rc = socfw_qtensor_init(&w, "emb", SOCFW_DTYPE_I32, 2, 8, buf,
                                    sizeof buf, 0, &err);
        cr_assert_eq(rc, SOCFW_EUNSUPPORTED);
        cr_assert(strstr(err.message, "I32") && strstr(err.message, "emb"),
                  "%s", err.message);
        cr_assert(!socfw_qtensor_type_supported(SOCFW_DTYPE_Q8_1));
        cr_assert(socfw_qtensor_type_supported(SOCFW_DTYPE_Q6_K));
}

Test(nn_quant, permute_rows_moves_whole_rows)
{
        size_t nbytes;
        uint8_t *data = random_matrix(SOCFW_DTYPE_Q4_K, 4, 256, &nbytes);
        socfw_qtensor w, p;
        cr_assert_eq(socfw_qtensor_init(&w, "w", SOCFW_DTYPE_Q4_K, 4, 256,
                                        data, nbytes, 0, NULL), 0);
        int64_t perm[4] = {2, 0, 3, 1};
        cr_assert_eq(socfw_qtensor_permute_rows(&p, &w, perm, NULL), 0);
        float a[256], b[256];
        for (int i = 0; i < 4; i++) {
                socfw_qtensor_dequant_rows(&p, i, 1, a);
                socfw_qtensor_dequant_rows(&w, perm[i], 1, b);
                cr_assert_arr_eq(a, b, sizeof a);
        }
        socfw_qtensor_release(&p);
        socfw_qtensor_release(&w);
        socfw_qtensor_release(NULL);
        free(data);
}

/* Row dequantisation (the prefill panels, token embeddings) on every path
 * equals the portable dequantiser exactly. */
Test(nn_quant, dequant_rows_equal_portable_on_every_path)
{
        const char *paths[] = {"scalar", "avx2"};
        for (size_t p = 0; p < 2; p++) {
                if (socfw_nn_qkernel_set(paths[p]) != 0)
                        continue;
                for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
                        int64_t rows = 3, cols = 512;
                        size_t nbytes;
                        uint8_t *data = random_matrix(types[t], rows, cols,
                                                      &nbytes);
                        socfw_qtensor w;
                        cr_assert_eq(socfw_qtensor_init(&w, "w", types[t],
                                                        rows, cols, data,
                                                        nbytes, 0, NULL), 0);
                        float a[2 * 512], b[2 * 512];
                        socfw_qtensor_dequant_rows(&w, 1, 2, a);
                        socfw_dtype_to_f32(types[t], data + w.row_bytes,
                                           2 * 512, b);
                        for (int i = 0; i < 2 * 512; i++)
                                cr_assert(a[i] == b[i],
                                          "%s [%s] element %d: %g vs %g",
                                          socfw_dtype_name(types[t]),
                                          paths[p], i, a[i], b[i]);
                        free(data);
                }
        }
}

/* The AVX2 dequantisers of the prefill panels (Q5_0, Q4_K, Q6_K and the
 * older Q8_0 / Q4_0) give the portable dequantiser's bits exactly, signed
 * zeros included: rows of 1, 2, 3, 5 and 17 blocks, every start row and
 * row count of a 5-row matrix (so every block boundary inside and between
 * rows), scales of both signs. */
Test(nn_quant, avx2_dequant_is_bitwise_portable)
{
        if (socfw_nn_qkernel_set("avx2") != 0)
                cr_skip_test("this CPU (or build) has no AVX2 path");
        static const socfw_dtype qt[] = {
                SOCFW_DTYPE_Q8_0, SOCFW_DTYPE_Q4_0, SOCFW_DTYPE_Q5_0,
                SOCFW_DTYPE_Q4_K, SOCFW_DTYPE_Q6_K,
        };
        static const int64_t blocks[] = {1, 2, 3, 5, 17};
        for (size_t t = 0; t < sizeof qt / sizeof *qt; t++) {
                int64_t bs = (int64_t)socfw_dtype_block_size(qt[t]);
                size_t bb = socfw_dtype_block_bytes(qt[t]);
                for (size_t k = 0; k < 5; k++) {
                        int64_t rows = 5, cols = blocks[k] * bs;
                        size_t nbytes;
                        uint8_t *data = random_matrix(qt[t], rows, cols,
                                                      &nbytes);
                        /* every third block: negative f16 scales */
                        for (size_t b = 0; b < nbytes / bb; b += 3)
                                for (const int *f =
                                             socfw_dtype_scale_offsets(qt[t]);
                                     *f >= 0; f++)
                                        data[b * bb + (size_t)*f + 1] |= 0x80;
                        socfw_qtensor w;
                        cr_assert_eq(socfw_qtensor_init(&w, "w", qt[t], rows,
                                                        cols, data, nbytes, 0,
                                                        NULL), 0);
                        size_t ne = (size_t)(rows * cols);
                        float *a = malloc(ne * sizeof *a);
                        float *ref = malloc(ne * sizeof *ref);
                        cr_assert(a && ref);
                        socfw_nn_qkernel_set("scalar");
                        socfw_qtensor_dequant_rows(&w, 0, rows, ref);
                        socfw_nn_qkernel_set("avx2");
                        for (int64_t r0 = 0; r0 < rows; r0++)
                                for (int64_t n = 1; r0 + n <= rows; n++) {
                                        memset(a, 0xff, ne * sizeof *a);
                                        socfw_qtensor_dequant_rows(&w, r0, n,
                                                                   a);
                                        size_t off = (size_t)(r0 * cols);
                                        for (size_t i = 0;
                                             i < (size_t)(n * cols); i++)
                                                cr_assert(
                                                        !memcmp(a + i,
                                                                ref + off + i,
                                                                sizeof *a),
                                                        "%s cols %lld rows "
                                                        "%lld+%lld element "
                                                        "%zu: %a vs %a",
                                                        socfw_dtype_name(qt[t]),
                                                        (long long)cols,
                                                        (long long)r0,
                                                        (long long)n, i, a[i],
                                                        ref[off + i]);
                                        /* nothing written past the rows */
                                        if (r0 + n < rows)
                                                cr_assert(isnan(a[n * cols]));
                                }
                        socfw_qtensor_release(&w);
                        free(a);
                        free(ref);
                        free(data);
                }
        }
}

/* QLoRA's backward: dinp += dout W through a frozen matrix kept in its
 * format equals the double-precision product with the dequantised W; dinp
 * is added to, not overwritten. */
static void
check_backward(socfw_dtype t, int64_t R, int N)
{
        int64_t bs = (int64_t)socfw_dtype_block_size(t);
        int64_t C = 3 * (bs == 1 ? 32 : bs);
        size_t nbytes;
        uint8_t *data = random_matrix(t, R, C, &nbytes);
        socfw_qtensor w;
        socfw_error err = {0};
        cr_assert_eq(socfw_qtensor_init(&w, "w", t, R, C, data, nbytes, 1,
                                        &err), 0, "%s", err.message);
        free(data);
        float *W = malloc((size_t)(R * C) * sizeof *W);
        float *dy = malloc((size_t)(N * R) * sizeof *dy);
        float *dx = malloc((size_t)(N * C) * sizeof *dx);
        cr_assert(W && dy && dx);
        cr_assert_eq(socfw_dtype_to_f32(t, w.data, (size_t)(R * C), W), 0);
        for (int64_t i = 0; i < N * R; i++)
                dy[i] = urand();
        for (int64_t i = 0; i < N * C; i++)
                dx[i] = 0.5f;
        cr_assert_eq(socfw_nn_qlinear_backward_input(dx, dy, &w, N), 0);
        for (int n = 0; n < N; n++)
                for (int64_t c = 0; c < C; c++) {
                        double ref = 0.5, mag = 0.5;
                        for (int64_t o = 0; o < R; o++) {
                                double v = (double)dy[n * R + o] * W[o * C + c];
                                ref += v;
                                mag += fabs(v);
                        }
                        double got = dx[n * C + c];
                        cr_assert(fabs(got - ref) <= 1e-5 * mag + 1e-6,
                                  "%s rows %lld N %d: dx[%d,%lld] = %.7g, "
                                  "reference %.7g",
                                  socfw_dtype_name(t), (long long)R, N, n,
                                  (long long)c, got, ref);
                }
        socfw_qtensor_release(&w);
        free(W);
        free(dy);
        free(dx);
}

/* Every type; rows that end inside the first 128-row panel and past it;
 * batches of 1 to 33 rows. */
Test(nn_quant, backward_input_matches_dequantised_reference, .timeout = 120)
{
        static const int64_t rows[] = {7, 130};
        static const int Ns[] = {1, 5, 33};
        for (size_t t = 0; t < sizeof types / sizeof *types; t++)
                for (size_t r = 0; r < 2; r++)
                        for (size_t k = 0; k < 3; k++)
                                check_backward(types[t], rows[r], Ns[k]);
}
