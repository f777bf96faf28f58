/* tests/fuzz/fuzz_qlinear.c - libFuzzer target for the linear layer over
 * weights in their file's format (framework/nn/qtensor.c, qdot.c): any
 * bytes as blocks of any element type, through every kernel path.
 *
 * The input:
 *
 *   byte 0   element type (socfw_dtype, modulo the count: unsupported
 *            types must be refused)
 *   byte 1   rows (1..8)
 *   byte 2   columns in blocks (1..4); bit 7: one column more than that
 *            (rows that are not whole blocks must be refused)
 *   byte 3   input rows N (1..12: the dot-product and the panel paths)
 *   rest     block bytes, repeated to fill the matrix (at least 1 byte)
 *
 * The matrix sits in a buffer of exactly its size, so ASan sees any read
 * past it.  Checked: refusals happen exactly for unsupported types and
 * partial blocks; every path (the portable one, AVX2 when the CPU has it)
 * writes every output; where weights and results are finite, each path
 * is within the 8-bit activation bound of "dequantise, then float" (the
 * paths may quantise the activations per 32 or per 256 elements, and the
 * kernel families choose differently for a row count, so they are not
 * held to each other); row dequantisation equals socfw_dtype_to_f32 on
 * every path.
 *
 * Built and run by `make check` (tests/fuzz.sh) when clang with libFuzzer
 * is present, and for longer by tests/fuzz/run-fuzz.sh qlinear.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/qtensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
all_finite(const float *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!isfinite(v[i]))
                        return 0;
        return 1;
}

/* am[e] = the largest |x| of the 256-element block of row x (n wide)
 * that holds element e: the coarsest step any path quantises e's
 * activation with is that / 127 (half of it the rounding). */
static void
amax256(double *am, const float *x, int64_t n)
{
        for (int64_t b0 = 0; b0 < n; b0 += 256) {
                int64_t b1 = b0 + 256 < n ? b0 + 256 : n;
                double m = 0;
                for (int64_t i = b0; i < b1; i++)
                        m = fabs((double)x[i]) > m ? fabs((double)x[i]) : m;
                for (int64_t i = b0; i < b1; i++)
                        am[i] = m;
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 5)
                return 0;
        socfw_dtype t = (socfw_dtype)(data[0] % SOCFW_DTYPE_COUNT);
        int64_t rows = 1 + data[1] % 8;
        size_t bs = socfw_dtype_block_size(t);
        size_t per = bs == 1 ? 32 : bs;
        int64_t cols = (int64_t)(per * (1 + (data[2] & 0x7f) % 4)) +
                       (data[2] & 0x80 ? 1 : 0);
        int N = 1 + data[3] % 12;
        const uint8_t *src = data + 4;
        size_t srclen = size - 4;
        size_t bb = socfw_dtype_block_bytes(t);
        size_t nbytes = bs ? (size_t)(rows * cols) / bs * bb : 0;
        if (nbytes == 0)
                nbytes = 1;
        uint8_t *w = malloc(nbytes);
        float *x = malloc(sizeof(float) * (size_t)(N * cols));
        float *y0 = malloc(sizeof(float) * (size_t)(N * rows));
        float *y1 = malloc(sizeof(float) * (size_t)(N * rows));
        float *W = malloc(sizeof(float) * (size_t)(rows * cols));
        float *R = malloc(sizeof(float) * (size_t)(rows * cols));
        if (!w || !x || !y0 || !y1 || !W || !R)
                abort();
        for (size_t i = 0; i < nbytes; i++)
                w[i] = src[i % srclen];
        for (int64_t i = 0; i < N * cols; i++)
                x[i] = (float)((int)src[i % srclen] - 128) / 64.0f;

        socfw_qtensor q;
        socfw_error err = {0};
        int rc = socfw_qtensor_init(&q, "fuzz", t, rows, cols, w, nbytes, 0,
                                    &err);
        int expect_ok = socfw_qtensor_type_supported(t) &&
                        (uint64_t)cols % bs == 0;
        if ((rc == 0) != expect_ok)
                abort();
        if (rc < 0) {
                if (!err.message[0])
                        abort();
                goto out;
        }
        socfw_dtype_to_f32(t, w, (size_t)(rows * cols), R);
        const char *paths[] = {"scalar", "avx2"};
        int have = 0;
        for (int p = 0; p < 2; p++) {
                if (socfw_nn_qkernel_set(paths[p]) != 0)
                        continue;
                float *y = have ? y1 : y0;
                for (int64_t i = 0; i < N * rows; i++)
                        y[i] = NAN;
                if (socfw_nn_qlinear_forward(y, x, &q, NULL, N) != 0)
                        abort();
                socfw_qtensor_dequant_rows(&q, 0, rows, W);
                for (int64_t i = 0; i < rows * cols; i++)
                        if (memcmp(&W[i], &R[i], sizeof(float)) != 0 &&
                            !(W[i] == R[i]) && !(isnan(W[i]) && isnan(R[i])))
                                abort();
                have++;
        }
        double *am = malloc(sizeof(double) * (size_t)cols);
        if (!am)
                abort();
        if (all_finite(R, (size_t)(rows * cols))) {
                for (int n = 0; n < N; n++) {
                        amax256(am, x + n * cols, cols);
                        for (int64_t r = 0; r < rows; r++) {
                                const float *xr = x + n * cols;
                                const float *wr = R + r * cols;
                                double ref = 0, mag = 0, bound = 0;
                                for (int64_t e = 0; e < cols; e++) {
                                        ref += (double)wr[e] * xr[e];
                                        mag += fabs((double)wr[e] * xr[e]) +
                                               fabs((double)wr[e]);
                                        bound += fabs((double)wr[e]) *
                                                 am[e] / 254.0;
                                }
                                double tol = bound + 1e-3 * mag + 1e-3;
                                for (int p = 0; p < have; p++) {
                                        float v = (p ? y1 : y0)[n * rows + r];
                                        if (!isfinite(v) && mag < 1e30)
                                                abort();  /* not written? */
                                        if (isfinite(v) &&
                                            fabs((double)v - ref) > tol)
                                                abort();
                                }
                        }
                }
        }
        free(am);
        socfw_qtensor_release(&q);
out:
        free(w);
        free(x);
        free(y0);
        free(y1);
        free(W);
        free(R);
        return 0;
}
