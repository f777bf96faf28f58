/* socfw/dtype.h - element types of tensors: the plain ones (F32, F16,
 * BF16, integers) and GGML's block-quantised formats (Q8_0, Q4_0, ...,
 * Q2_K..Q6_K) with their names, block sizes and half-precision helpers.
 *
 * A block type stores `socfw_dtype_block_size(t)` elements in
 * `socfw_dtype_block_bytes(t)` bytes, exactly as GGUF / llama.cpp lay them
 * out (framework/nn/dtype.c and kquants.c document each layout).  A row of
 * a quantised matrix is a whole number of blocks.
 *
 *     size_t bytes;
 *     if (socfw_dtype_nbytes(SOCFW_DTYPE_Q4_0, 4096, &bytes) == 0)
 *             ;                       // bytes == 128 blocks * 18 = 2304
 *     float x = socfw_f16_to_f32(0x3c00);     // 1.0f
 *
 * Kernels over these types (matrix-vector products, dequantisation) are in
 * socfw/qtensor.h.
 */
#ifndef SOCFW_DTYPE_H
#define SOCFW_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- element types ---- */

/* Tensor element types.  The values are socfw's own (NOT the GGML ids). */
typedef enum socfw_dtype {
        SOCFW_DTYPE_F32 = 0,
        SOCFW_DTYPE_F16,
        SOCFW_DTYPE_BF16,
        SOCFW_DTYPE_F64,
        SOCFW_DTYPE_I8,
        SOCFW_DTYPE_I16,
        SOCFW_DTYPE_I32,
        SOCFW_DTYPE_I64,
        SOCFW_DTYPE_U8,
        SOCFW_DTYPE_U16,
        SOCFW_DTYPE_U32,
        SOCFW_DTYPE_U64,
        SOCFW_DTYPE_BOOL,
        /* GGML block-quantised types (32 elements per block unless noted) */
        SOCFW_DTYPE_Q4_0,       /* f16 d + 16 B nibbles: (q - 8) * d      */
        SOCFW_DTYPE_Q4_1,       /* f16 d, f16 m + 16 B nibbles: q * d + m */
        SOCFW_DTYPE_Q5_0,       /* f16 d + 4 B high bits + 16 B nibbles   */
        SOCFW_DTYPE_Q5_1,       /* f16 d, f16 m + 4 B high bits + 16 B    */
        SOCFW_DTYPE_Q8_0,       /* f16 d + 32 int8: q * d                 */
        SOCFW_DTYPE_Q8_1,       /* f16 d, f16 s + 32 int8 (not readable)  */
        SOCFW_DTYPE_Q2_K,       /* K-quants: 256 elements per block with  */
        SOCFW_DTYPE_Q3_K,       /* per-sub-block scales (framework/nn/    */
        SOCFW_DTYPE_Q4_K,       /* kquants.c has the layouts)             */
        SOCFW_DTYPE_Q5_K,
        SOCFW_DTYPE_Q6_K,
        SOCFW_DTYPE_Q8_K,
        SOCFW_DTYPE_COUNT
} socfw_dtype;

/* "F32", "F16", "BF16", "Q8_0", ... ; "?" for an out-of-range value.
 * Returns a static string. */
const char *socfw_dtype_name(socfw_dtype t);

/* Inverse of socfw_dtype_name (case-sensitive; also accepts the safetensors
 * spelling, which is the same).  Returns 0 and sets *out, or
 * SOCFW_ENOTFOUND. */
int socfw_dtype_from_name(const char *name, socfw_dtype *out);

/* Elements per block: 1 for plain types, 32 for Q*_0/Q*_1, 256 for K-quants.
 * Returns 0 for an out-of-range value. */
size_t socfw_dtype_block_size(socfw_dtype t);

/* Bytes per block: 4 for F32, 2 for F16, 34 for Q8_0, 18 for Q4_0, ...
 * Returns 0 for an out-of-range value. */
size_t socfw_dtype_block_bytes(socfw_dtype t);

/* Byte offsets of the float16 scale fields (d, and m / dmin where the
 * type has one) inside one block of a block-quantised type, ended by -1:
 * {0, -1} for Q4_0, Q5_0, Q8_0; {0, 2, -1} for Q4_1, Q5_1, Q4_K, Q5_K;
 * {80, 82, -1} Q2_K; {108, -1} Q3_K; {208, -1} Q6_K.  An empty list ({-1})
 * for every other type.  For code that writes valid random blocks (tests,
 * benchmarks): random bytes elsewhere, finite scales here. */
const int *socfw_dtype_scale_offsets(socfw_dtype t);

/* Bytes needed for `nelem` elements.  Returns 0 and sets *out, or
 * SOCFW_EINVAL if nelem is not a multiple of the block size or the size
 * overflows size_t. */
int socfw_dtype_nbytes(socfw_dtype t, uint64_t nelem, size_t *out);

/* ---- half-precision helpers (also used by the writer and kernels) ---- */

float socfw_f16_to_f32(uint16_t h);
float socfw_bf16_to_f32(uint16_t h);
uint16_t socfw_f32_to_f16(float f);     /* round to nearest even */
uint16_t socfw_f32_to_bf16(float f);    /* round to nearest even */

#ifdef __cplusplus
}
#endif

#endif
