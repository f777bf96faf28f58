/* nn_internal.h - helpers shared by the kernel files (not installed). */
#ifndef SOCFW_NN_INTERNAL_H
#define SOCFW_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/dtype.h"

/* ---- BLAS over the socfw pool (ops.c) ----------------------------------
 * Row-major C (M,N) = alpha op(A) op(B) + beta C, as cblas_sgemm with
 * CblasRowMajor (transA/transB: 0 no, 1 transposed).  Products are split
 * into row blocks (or fixed column blocks) run by socfw_parallel_for_cost,
 * each a single-threaded OpenBLAS call; small ones (and calls from inside
 * a parallel body) run inline; very large ones run on OpenBLAS's threads
 * (see ops.c).  The split never cuts the K (summation) dimension. */
__attribute__((visibility("hidden")))
void nn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

/* The unsplit reference: one cblas_sgemm call (single-threaded). */
__attribute__((visibility("hidden")))
void nn_sgemm_ref(int transA, int transB, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);

/* y (M) = alpha op(A) x + beta y with A row-major (rows, cols, lda):
 * trans 0: A (M,K) so y = A x; trans 1: A (K,M) so y = A^T x.  Split over
 * the outputs like nn_sgemm. */
__attribute__((visibility("hidden")))
void nn_sgemv(int trans, int M, int K, float alpha, const float *A, int lda,
              const float *x, float beta, float *y);

/* The float32 matrix-vector kernel of one-row products with W (M,K)
 * row-major (gemv.c): rows(A, lda, x, K, alpha, beta, y, r0, r1) sets
 * y[o] = alpha A[o].x + beta y[o] for o in [r0, r1) (y not read when beta
 * is 0).  rows is NULL for the "blas" path (cblas_sgemv per block). */
typedef void (*nn_gemv_rows_fn)(const float *A, int lda, const float *x,
                                int K, float alpha, float beta, float *y,
                                int64_t r0, int64_t r1);
typedef struct nn_gemv_kernel {
        const char *name;
        nn_gemv_rows_fn rows;
} nn_gemv_kernel;

__attribute__((visibility("hidden")))
const nn_gemv_kernel *nn_gemv_kernel_get(void);

/* Rows below this many floats of work are not worth a thread hand-off. */
#define NN_GRAIN_FLOATS 16384

/* Items per chunk so that each chunk has about NN_GRAIN_FLOATS of work. */
static inline int64_t
nn_grain(int64_t per_item)
{
        if (per_item < 1)
                per_item = 1;
        int64_t g = NN_GRAIN_FLOATS / per_item;
        return g < 1 ? 1 : g;
}

/* Dot product with 8 independent partial sums (vectorisable without
 * -ffast-math); the summation order depends only on n. */
static inline __attribute__((always_inline)) float
nn_dot(const float *a, const float *b, int n)
{
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                        acc[j] += a[i + j] * b[i + j];
        float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
                  ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; i < n; i++)
                s += a[i] * b[i];
        return s;
}

/* Hot loops are compiled twice, for x86-64-v3 (AVX2 + FMA: Haswell, Zen
 * and later) and for the baseline, and the right one is picked at load
 * time (GNU ifunc).  "arch=x86-64-v3" is dispatched on the CPU's features;
 * "arch=haswell" (older GCC) on the CPU model, which never matches AMD
 * CPUs.  Results are deterministic on a given machine; FMA contraction may
 * change the last bit between the two variants. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
        defined(__ELF__) && \
        !defined(SOCFW_NO_TARGET_CLONES)
#if __GNUC__ >= 12
#define NN_CLONES_ARCH "arch=x86-64-v3"
#else
#define NN_CLONES_ARCH "arch=haswell"
#endif
#define NN_CLONES __attribute__((target_clones(NN_CLONES_ARCH, "default"), \
                                   optimize("vect-cost-model=dynamic")))
#else
#define NN_CLONES
#endif

/* exp(x) for float, branch-free and call-free so that loops using it
 * vectorise: 2^n * p(r), r = x - n ln2 in [-ln2/2, ln2/2], p the degree-6
 * Taylor polynomial (relative error ~2e-7).  x is clamped to
 * [-87.3, 88.0], so exp(-inf) gives ~1e-38, not 0: callers that need exact
 * zeros (masked softmax entries) handle -inf themselves. */
static inline __attribute__((always_inline)) float
nn_expf(float x)
{
        /* clamp with integer masks: float ?: turns into branches that
         * stop the vectoriser */
        union { float f; int32_t i; } u = { x }, lo = { -87.3f }, hi = { 88.0f };
        int32_t mlo = -(int32_t)(x < lo.f), mhi = -(int32_t)(x > hi.f);
        u.i = (u.i & ~mlo) | (lo.i & mlo);
        u.i = (u.i & ~mhi) | (hi.i & mhi);
        x = u.f;
        float t = x * 1.44269504088896341f;
        float n = (t + 12582912.0f) - 12582912.0f;      /* round to nearest */
        float r = x - n * 0.693145751953125f;           /* ln2 hi */
        r = r - n * 1.428606765330187e-06f;             /* ln2 lo */
        float p = 1.0f / 720.0f;
        p = p * r + 1.0f / 120.0f;
        p = p * r + 1.0f / 24.0f;
        p = p * r + 1.0f / 6.0f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        union { int32_t i; float f; } sc;
        sc.i = ((int32_t)n + 127) << 23;
        return p * sc.f;
}

/* Sum and max of n floats with 8 independent lanes (vectorisable; the
 * order depends only on n). */
static inline __attribute__((always_inline)) float
nn_sum(const float *a, int n)
{
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                        acc[j] += a[i + j];
        float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
                  ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; i < n; i++)
                s += a[i];
        return s;
}

static inline __attribute__((always_inline)) float
nn_max(const float *a, int n)
{
        float m = -__builtin_inff();
        int i = 0;
        if (n >= 8) {
                float acc[8];
                for (int j = 0; j < 8; j++)
                        acc[j] = a[j];
                for (i = 8; i + 8 <= n; i += 8)
                        for (int j = 0; j < 8; j++)
                                acc[j] = a[i + j] > acc[j] ? a[i + j] : acc[j];
                for (int j = 0; j < 8; j++)
                        m = acc[j] > m ? acc[j] : m;
        }
        for (; i < n; i++)
                m = a[i] > m ? a[i] : m;
        return m;
}

/* y += a * x over n floats. */
static inline __attribute__((always_inline)) void
nn_axpy(float *y, float a, const float *x, int n)
{
        for (int i = 0; i < n; i++)
                y[i] += a * x[i];
}

/* ---- block formats (dtype.c, kquants.c, qdot.c, qtensor.c) ------------- */

/* Unpack one weight block into small integers q[block] and, per group of
 * 16 elements g, a scale s[g] and an offset m[g]:
 *     element e = s[e / 16] * q[e] + m[e / 16]
 * (|q| <= 128 always, so q fits the int8 dot products). */
typedef void (*nn_unpack_fn)(const uint8_t *blk, int8_t *q, float *s,
                             float *m);

/* The type-traits of one block format. */
typedef struct nn_qtraits {
        int block;              /* elements per block: 32 or 256          */
        size_t bytes;           /* bytes per block                        */
        nn_unpack_fn unpack;
} nn_qtraits;

/* The traits of a block format, or NULL for F32/F16/BF16/integer types. */
__attribute__((visibility("hidden")))
const nn_qtraits *nn_qtraits_of(socfw_dtype t);

/* dst (nblocks * block) = the blocks at src as float. */
__attribute__((visibility("hidden")))
void nn_dequant_blocks(const nn_qtraits *tr, const uint8_t *src,
                       size_t nblocks, float *dst);

/* The K-quant unpackers (kquants.c). */
#define NN_UNPACK_DECL(T) __attribute__((visibility("hidden"))) \
        void nn_unpack_##T(const uint8_t *x, int8_t *q, float *s, float *m)
NN_UNPACK_DECL(q2_k);
NN_UNPACK_DECL(q3_k);
NN_UNPACK_DECL(q4_k);
NN_UNPACK_DECL(q5_k);
NN_UNPACK_DECL(q6_k);
NN_UNPACK_DECL(q8_k);

/* An activation row quantised to 8 bits per 32 elements: element i of
 * block b is d * q[i]; bs[h] is the sum of q over its half h (16). */
typedef struct nn_q8 {
        float d;
        int16_t bs[2];
        int8_t q[32];
} nn_q8;

/* y (n / 32 blocks) = x (n floats, n a multiple of 32) quantised:
 * d = max|x| / 127, q = round(x / d). */
__attribute__((visibility("hidden")))
void nn_quantize_q8(const float *x, nn_q8 *y, int64_t n);

/* An activation row quantised as nn_q8 (the same d and q per 32), laid
 * out for the one-row products of Q4_0 (qdot.c): each entry holds two
 * blocks (elements 64 j .. 64 j + 63; the second all zero, d = 0, past an
 * odd number of blocks) with their halves interleaved as the nibbles of
 * two Q4_0 blocks unpack into one register:
 *     q[0..15]  block 0, elements 0..15     q[32..47] block 0, 16..31
 *     q[16..31] block 1, elements 0..15     q[48..63] block 1, 16..31
 * s4[8 k + i] is the sum of block k's q over elements 2i, 2i+1, 16+2i and
 * 17+2i (the four that one 16-bit lane of the kernel's products adds), so
 * the weights' offset (Q4_0's 8) is one 16-bit subtraction; d[4 k .. 4 k
 * + 3] is block k's d (one float per 32-bit lane of the kernel's sums). */
typedef struct nn_q8x2 {
        int8_t q[64];
        int16_t s4[16];
        float d[8];
} nn_q8x2;

/* y ((n / 32 + 1) / 2 entries) = x (n floats, n a multiple of 32)
 * quantised as nn_quantize_q8 quantises it. */
__attribute__((visibility("hidden")))
void nn_quantize_q8x2(const float *x, nn_q8x2 *y, int64_t n);

/* An activation row quantised to 8 bits per 256 elements, for the
 * one-row dot products of the 256-element K-quant formats: element i of
 * block b is d * q[i]; bs[g] is the sum of q over its group g of 16, and
 * bs32[j] over its group j of 32 (computed once per row).  One
 * float scale per 256 lets a kernel add the 8 or 16 sub-block products
 * of a weight block as integers (each times its small integer scale) and
 * convert once per block; the sums bs give the offsets (mins, Q6_K's -32)
 * as one small integer dot product per block. */
typedef struct nn_q8k {
        int8_t q[256];
        int16_t bs[16];
        int16_t bs32[8];
        float d;
} nn_q8k;

/* y (n / 256 blocks) = x (n floats, n a multiple of 256) quantised:
 * d = max|x| / 127 over each 256, q = round(x / d). */
__attribute__((visibility("hidden")))
void nn_quantize_q8k(const float *x, nn_q8k *y, int64_t n);

/* dot(weight row, activation row) for a row of `nblocks` blocks of a block
 * format with traits tr, against the quantised activations a (per 32, or
 * per 256 for the dotk kernels of the 256-element formats); float rows
 * (F16, BF16) against the float activations x (n elements). */
typedef float (*nn_qdot_fn)(const nn_qtraits *tr, const uint8_t *row,
                            const nn_q8 *a, int64_t nblocks);
typedef float (*nn_qdotk_fn)(const nn_qtraits *tr, const uint8_t *row,
                             const nn_q8k *a, int64_t nblocks);
typedef float (*nn_hdot_fn)(const uint8_t *row, const float *x, int64_t n);
/* out[r] = dot(weight row r, activation row) for the nrows rows starting
 * at w (row_bytes apart), each of nblocks blocks of a per-32 format,
 * against the activations a in the paired layout (nn_q8x2): one indirect
 * call for a run of rows.  Each row's value does not depend on nrows or on
 * where the row falls in the run, so the result is the same on any number
 * of threads. */
typedef void (*nn_qdotx2_fn)(const uint8_t *w, size_t row_bytes,
                             int64_t nrows, const nn_q8x2 *a,
                             int64_t nblocks, float *out);

/* dst (n floats) = n elements at src of one type (n whole blocks). */
typedef void (*nn_deq_fn)(const uint8_t *src, float *dst, int64_t n);

/* The kernels of the selected path (qdot.c); deq entries may be NULL
 * (socfw_dtype_to_f32 then).  Where dotk has an entry the one-row
 * products of that (256-element) format quantise the activations per 256
 * (nn_q8k) and use it; where dotx2 has one (Q4_0 on AVX2), per 32 in
 * the paired layout (nn_q8x2) and several rows per call; otherwise per
 * 32 (nn_q8) and dot. */
typedef struct nn_qkernels {
        const char *name;
        int avx2;                               /* AVX2 instructions      */
        nn_qdot_fn dot[SOCFW_DTYPE_COUNT];      /* block formats          */
        nn_qdotk_fn dotk[SOCFW_DTYPE_COUNT];    /* 256-element formats    */
        nn_qdotx2_fn dotx2[SOCFW_DTYPE_COUNT];  /* per 32, nn_q8x2 acts   */
        nn_hdot_fn hdot[SOCFW_DTYPE_COUNT];     /* F16, BF16              */
        nn_deq_fn deq[SOCFW_DTYPE_COUNT];       /* fast dequantisation    */
} nn_qkernels;

__attribute__((visibility("hidden")))
const nn_qkernels *nn_qkernels_get(void);

/* The portable kernels (every entry set): the fallback of a missing one. */
__attribute__((visibility("hidden")))
const nn_qkernels *nn_qkernels_portable(void);

/* out (M, w->rows) = inp (M, w->cols) W^T + bias [may be NULL] through
 * the integer GEMM (qgemm.c): activations quantised to 8 bits per 32 once,
 * register tiles of integer dot products against unpacked weight blocks,
 * split over the pool by output columns.  w is a block format
 * (nn_qtraits_of non-NULL).  Returns 0 or SOCFW_ENOMEM. */
struct socfw_qtensor;
__attribute__((visibility("hidden")))
int nn_qgemm_forward(float *out, const float *inp,
                     const struct socfw_qtensor *w, const float *bias,
                     int M);

#endif
