/* socfw/qtensor.h - weight matrices kept in their file's element type
 * (F32, F16, BF16 or a GGML block format: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K..Q6_K), and the linear layer over them.
 *
 * A quantised checkpoint holds 2-8x fewer bytes per weight than float32;
 * keeping its matrices as they are (memory-mapped where the file allows)
 * keeps resident memory near the file size, and a decoded token streams
 * that many fewer bytes.  The linear layer quantises each activation row to
 * 8 bits per block of 32 and takes integer dot products against the weight
 * blocks (AVX2 where the CPU has it, else portable C, chosen at run time);
 * for many rows at once (prefill, batched decoding) it dequantises panels
 * of weight rows to float32 and calls sgemm, runs an integer GEMM over the
 * 8-bit activations, or keeps to the dot products row by row, whichever
 * was measured faster for the type and row count (socfw_nn_qgemm_set).
 *
 *     socfw_qtensor w;
 *     socfw_error err = {0};
 *     // (OC, C) matrix whose bytes are in a mapped GGUF file (borrowed)
 *     if (socfw_qtensor_init(&w, "blk.0.ffn_up.weight", SOCFW_DTYPE_Q4_K,
 *                            OC, C, info->data, info->nbytes, 0, &err) < 0)
 *             goto fail;              // err names the tensor and the type
 *     socfw_nn_qlinear_forward(out, inp, &w, NULL, N);   // out (N,OC)
 *     socfw_qtensor_release(&w);
 *
 * Results equal "dequantise to float32, then the float32 product" up to the
 * 8-bit rounding of the activations (relative error about 1e-2 of the dot
 * product's magnitude; tests/test_nn_quant.c states the bounds).
 */
#ifndef SOCFW_QTENSOR_H
#define SOCFW_QTENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/dtype.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A row-major (rows, cols) matrix of `dtype`; each row is cols /
 * block_size(dtype) whole blocks, row_bytes long. */
typedef struct socfw_qtensor {
        socfw_dtype dtype;
        int64_t rows, cols;
        size_t row_bytes;
        const uint8_t *data;    /* rows * row_bytes bytes                 */
        void *owned;            /* the allocation behind data when the
                                   tensor owns it, else NULL (borrowed)   */
} socfw_qtensor;

/* True when the linear layer takes `t` as a weight type (F32, F16, BF16,
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). */
bool socfw_qtensor_type_supported(socfw_dtype t);

/* Describe `nbytes` bytes at `data` as a (rows, cols) matrix of dtype.
 * copy = 0 borrows data (it must outlive the tensor); copy = 1 copies it
 * into a 64-byte aligned allocation the tensor owns.  `name` (may be NULL)
 * is used in messages only.  Returns 0, or SOCFW_EUNSUPPORTED (a type the
 * layer does not take, named), SOCFW_EFORMAT (the block size does not
 * divide cols, or nbytes does not match), SOCFW_ENOMEM; on error *t is
 * zeroed. */
int socfw_qtensor_init(socfw_qtensor *t, const char *name, socfw_dtype dtype,
                       int64_t rows, int64_t cols, const void *data,
                       size_t nbytes, int copy, socfw_error *err);

/* An owned tensor of the same type and shape with rows reordered: row i of
 * the result is row perm[i] of src.  Returns 0 or SOCFW_ENOMEM. */
int socfw_qtensor_permute_rows(socfw_qtensor *dst, const socfw_qtensor *src,
                               const int64_t *perm, socfw_error *err);

/* Free what the tensor owns and zero it.  NULL or a zeroed tensor is a
 * no-op. */
void socfw_qtensor_release(socfw_qtensor *t);

/* dst (n, cols) = rows row0 .. row0+n-1 as float32.  Rows out of range are
 * a programmer error (not checked beyond an assert). */
void socfw_qtensor_dequant_rows(const socfw_qtensor *t, int64_t row0,
                                int64_t n, float *dst);

/* out (N, rows) = inp (N, cols) W^T + bias (rows) [bias may be NULL]:
 * the nn.Linear product with W = t.  Split over the thread pool by output
 * rows.  out is written, not accumulated.  Returns 0 or SOCFW_ENOMEM (a
 * scratch buffer; out is then undefined). */
int socfw_nn_qlinear_forward(float *out, const float *inp,
                              const socfw_qtensor *w, const float *bias,
                              int N);

/* dinp (N, cols) += dout (N, rows) W: the input's gradient of
 * socfw_nn_qlinear_forward through a frozen W (QLoRA: adapters train over
 * a backbone kept in its file's format; W itself gets no gradient).  W is
 * dequantised panel by panel into float32 and multiplied exactly, so the
 * result equals the float32 product with the dequantised W up to the
 * order of sums.  Split over the thread pool by rows of the batch.
 * Returns 0 or SOCFW_ENOMEM (a panel; dinp is then partly updated). */
int socfw_nn_qlinear_backward_input(float *dinp, const float *dout,
                                    const socfw_qtensor *w, int N);

/* Convert nelem elements of t (F32, F16, BF16 or whole blocks of a block
 * format) to float32.  Returns 0 or SOCFW_EUNSUPPORTED. */
int socfw_dtype_to_f32(socfw_dtype t, const void *src, size_t nelem,
                       float *dst);

/* ---- kernel selection (tests and benchmarks) ---- */

/* The integer dot-product path in use: "avx2", "avx2-q8" or "scalar".
 * The best the CPU has is chosen on first use; the environment variable
 * SOCFW_QKERNEL=scalar forces the portable one.  "avx2" and "scalar"
 * quantise a one-row product's activations per 256 for the K-quant
 * formats (Q2_K..Q6_K) and per 32 for the others; "avx2-q8"
 * (SOCFW_QKERNEL=avx2-q8) is the AVX2 path with activations per 32 for
 * every format: slower for K-quants, closer to float where activations
 * have outliers.  It also keeps the previous one-row Q4_0 kernel (signed
 * nibbles, about twice the vector operations of "avx2"'s), for
 * comparison: the same quantised activations, so the same values to
 * float rounding. */
const char *socfw_nn_qkernel_name(void);

/* Use path `name` ("scalar", "avx2", "avx2-q8") from now on.  Returns 0,
 * or SOCFW_EUNSUPPORTED when the CPU (or the build) lacks it. */
int socfw_nn_qkernel_set(const char *name);

/* The many-row (prefill, batched decode) product over block formats:
 *   "auto"  the measured rule (doc/performance.md, "Integer GEMM" and
 *           "K-quants, 2-128 rows"): per type, row count and kernel path,
 *           whichever of the three below was faster;
 *   "panel" one row: dot products; 2..8 rows: dot products per row; more:
 *           weight panels dequantised to float32, then sgemm;
 *   "int"   2 rows or more: the integer GEMM (activations quantised to 8
 *           bits per 32 once, register tiles of integer dot products,
 *           AVX2 or portable as socfw_nn_qkernel_name says);
 *   "dot"   any number of rows: the one-row dot products, each row's
 *           output bit for bit its one-row product (auto's choice for
 *           K-quant batches on AVX2).
 * The environment variable SOCFW_QGEMM=auto|panel|int|dot picks one at
 * first use (default auto); F16, BF16 and F32 weights take "panel" for
 * "int". */
const char *socfw_nn_qgemm_name(void);

/* Use mode `name` ("auto", "panel", "int", "dot") from now on.  Returns 0
 * or SOCFW_EUNSUPPORTED (an unknown name). */
int socfw_nn_qgemm_set(const char *name);

#ifdef __cplusplus
}
#endif

#endif
