/* socfw/quantize.h - quantise float32 rows into the GGML block formats that
 * GGUF files (llama.cpp) store: F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and
 * the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
 *
 * The bytes are laid out exactly as llama.cpp lays them out and the values
 * follow its reference rounding rules (the ones `llama-quantize` uses when
 * no importance matrix is given), so a file written with these blocks reads
 * the same in llama.cpp and in socfw (socfw_modelfile_read_f32 dequantises
 * them; framework/model/dtype.c and kquants.c describe every layout).
 *
 *     // a weight of 4 rows x 64 columns to Q8_0: 2 blocks of 34 bytes a row
 *     size_t nbytes;
 *     socfw_dtype_nbytes(SOCFW_DTYPE_Q8_0, 4 * 64, &nbytes);
 *     void *q = malloc(nbytes);
 *     if (socfw_quantize_rows(SOCFW_DTYPE_Q8_0, w, 4, 64, q, nbytes,
 *                             "blk.0.attn_q.weight", &err) < 0) ...
 *
 * Error bounds (per block, x the input, y the dequantised value; "scale" is
 * the block's stored f16 scale): Q8_0 |x - y| <= scale/2 (+ the f16
 * rounding of the scale); Q4_0/Q5_0 and Q4_1/Q5_1 likewise with their 4-
 * and 5-bit grids; the K-quants pick scales by least squares, so their
 * bound is a root-mean-square one (tests/test_quantize.c has the figures).
 */
#ifndef SOCFW_QUANTIZE_H
#define SOCFW_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/modelfile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when socfw_quantize_rows can produce `t`: F32, F16, BF16, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. */
bool socfw_quantize_supported(socfw_dtype t);

/* Parse a quantisation type as the command line spells it, any case:
 * "q8_0", "Q4_K", "f16", "bf16", "f32", ...  Returns 0 and sets *out, or
 * SOCFW_ENOTFOUND for a name that is not a supported target. */
int socfw_quantize_type_from_name(const char *name, socfw_dtype *out);

/* Quantise `nrows` rows of `row_len` floats (src, row-major, nrows *
 * row_len values) to `t`, writing whole blocks to dst (`dst_size` bytes,
 * at least socfw_dtype_nbytes(t, nrows * row_len)).  `name` (may be NULL)
 * names the tensor in messages.
 *
 * Returns 0; SOCFW_EINVAL when row_len is not a multiple of t's block size
 * (the message names the tensor, the row length and the block size: a
 * block never straddles two rows), when dst_size is too small, or when
 * src holds a NaN or an infinity (named by row and column);
 * SOCFW_EUNSUPPORTED for a type that is not a quantisation target. */
int socfw_quantize_rows(socfw_dtype t, const float *src, int64_t nrows,
                        int64_t row_len, void *dst, size_t dst_size,
                        const char *name, socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_QUANTIZE_H */
