/* gemv.c - float32 matrix-vector products of decoding: y = alpha W x +
 * beta y for one row x against a weight W (OC,C) stored out-in (PyTorch,
 * HF, GGUF).  Each output is the dot product of one contiguous weight row
 * with x (x stays in L1), every weight read from memory once: short rows
 * one after the other (a block of rows is one sequential stream), long
 * rows four at a time (each load of x serving four rows).  A
 * decode step is memory-bound (one float of W per multiply-add), so the
 * kernel's job is to keep the loads streaming.
 *
 * Paths (socfw/nn.h, socfw_nn_gemv_kernel_set):
 *   "avx2"   AVX2 + FMA intrinsics, chosen at first use when the CPU has
 *            them;
 *   "scalar" portable C (8 partial sums per row, vectorisable at the
 *            baseline);
 *   "blas"   OpenBLAS cblas_sgemv per block of rows (the reference, and
 *            what socfw used before).
 * SOCFW_GEMV=scalar|avx2|blas in the environment picks one at first use.
 *
 * Every output row is computed the same way whichever block or thread it
 * falls in, so the result does not depend on the thread count. */
#include "nn/nn_internal.h"

#include <stdlib.h>
#include <string.h>

#include "socfw/error.h"
#include "socfw/nn.h"

/* ---- portable ------------------------------------------------------------ */

static inline float
put(float d, float alpha, float beta, const float *y)
{
        return beta == 0.0f ? alpha * d : alpha * d + beta * *y;
}

/* Rows [r0, r1) of A (lda floats apart) against x (K floats), one row
 * after the other: with lda == K the block is one sequential stream. */
static void
rows_scalar(const float *A, int lda, const float *x, int K, float alpha,
            float beta, float *y, int64_t r0, int64_t r1)
{
        for (int64_t o = r0; o < r1; o++)
                y[o] = put(nn_dot(A + (size_t)o * lda, x, K), alpha, beta,
                           y + o);
}

/* ---- AVX2 + FMA ---------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__) && defined(__ELF__) && \
        !defined(SOCFW_NO_TARGET_CLONES)
#define NN_GEMV_AVX2 1
#include <immintrin.h>

#include "nn/avx2_sum.h"

#define AVX2 __attribute__((target("avx2,fma")))

/* One row: two accumulators of 8 (16 floats a step). */
AVX2 static float
row_avx2(const float *a, const float *x, int K)
{
        __m256 s = _mm256_setzero_ps(), t = _mm256_setzero_ps();
        int k = 0;
        for (; k + 16 <= K; k += 16) {
                s = _mm256_fmadd_ps(_mm256_loadu_ps(a + k),
                                    _mm256_loadu_ps(x + k), s);
                t = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8),
                                    _mm256_loadu_ps(x + k + 8), t);
        }
        for (; k + 8 <= K; k += 8)
                s = _mm256_fmadd_ps(_mm256_loadu_ps(a + k),
                                    _mm256_loadu_ps(x + k), s);
        float d = nn_hsum8(_mm256_add_ps(s, t));
        for (; k < K; k++)
                d += a[k] * x[k];
        return d;
}

/* Rows of at least this many floats (4 KiB) are summed four at a time,
 * shorter ones one after the other (bench/bench_gemv, doc/performance.md:
 * with short rows four interleaved streams of 2-3 KiB ran below OpenBLAS,
 * one sequential stream above it; with rows of 6-12 KiB the other way). */
#define ROWS4_MIN_K 1024

/* Rows [r0, r1): for long rows four at a time, each load of x serving the
 * four; else one after the other, as rows_scalar.  Software prefetch 2 KiB
 * ahead was tried and measured no faster. */
AVX2 static void
rows_avx2(const float *A, int lda, const float *x, int K, float alpha,
          float beta, float *y, int64_t r0, int64_t r1)
{
        int64_t o = r0;
        for (; K >= ROWS4_MIN_K && o + 4 <= r1; o += 4) {
                const float *a0 = A + (size_t)o * lda, *a1 = a0 + lda,
                            *a2 = a1 + lda, *a3 = a2 + lda;
                __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
                __m256 t0 = s0, t1 = s0, t2 = s0, t3 = s0;
                int k = 0;
                for (; k + 16 <= K; k += 16) {
                        __m256 xa = _mm256_loadu_ps(x + k),
                               xb = _mm256_loadu_ps(x + k + 8);
                        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + k), xa, s0);
                        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + k), xa, s1);
                        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + k), xa, s2);
                        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + k), xa, s3);
                        t0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + k + 8), xb,
                                             t0);
                        t1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + k + 8), xb,
                                             t1);
                        t2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + k + 8), xb,
                                             t2);
                        t3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + k + 8), xb,
                                             t3);
                }
                for (; k + 8 <= K; k += 8) {
                        __m256 xa = _mm256_loadu_ps(x + k);
                        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + k), xa, s0);
                        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + k), xa, s1);
                        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + k), xa, s2);
                        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + k), xa, s3);
                }
                float d[4] = {nn_hsum8(_mm256_add_ps(s0, t0)),
                              nn_hsum8(_mm256_add_ps(s1, t1)),
                              nn_hsum8(_mm256_add_ps(s2, t2)),
                              nn_hsum8(_mm256_add_ps(s3, t3))};
                for (; k < K; k++) {
                        d[0] += a0[k] * x[k];
                        d[1] += a1[k] * x[k];
                        d[2] += a2[k] * x[k];
                        d[3] += a3[k] * x[k];
                }
                for (int r = 0; r < 4; r++)
                        y[o + r] = put(d[r], alpha, beta, y + o + r);
        }
        for (; o < r1; o++)
                y[o] = put(row_avx2(A + (size_t)o * lda, x, K), alpha, beta,
                           y + o);
}

static int
cpu_has_avx2(void)
{
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
}
#endif

/* ---- selection ----------------------------------------------------------- */

static const nn_gemv_kernel k_scalar = {"scalar", rows_scalar};
static const nn_gemv_kernel k_blas = {"blas", NULL};
#ifdef NN_GEMV_AVX2
static const nn_gemv_kernel k_avx2 = {"avx2", rows_avx2};
#endif

static const nn_gemv_kernel *selected;

static const nn_gemv_kernel *
by_name(const char *name)
{
        if (!name)
                return NULL;
        if (!strcmp(name, "scalar"))
                return &k_scalar;
        if (!strcmp(name, "blas"))
                return &k_blas;
#ifdef NN_GEMV_AVX2
        if (!strcmp(name, "avx2") && cpu_has_avx2())
                return &k_avx2;
#endif
        return NULL;
}

static const nn_gemv_kernel *
best(void)
{
        const nn_gemv_kernel *k = by_name(getenv("SOCFW_GEMV"));
        if (k)
                return k;
#ifdef NN_GEMV_AVX2
        if (cpu_has_avx2())
                return &k_avx2;
#endif
        return &k_scalar;
}

const nn_gemv_kernel *
nn_gemv_kernel_get(void)
{
        const nn_gemv_kernel *k = __atomic_load_n(&selected,
                                                  __ATOMIC_ACQUIRE);
        if (!k) {
                k = best();
                __atomic_store_n(&selected, k, __ATOMIC_RELEASE);
        }
        return k;
}

const char *
socfw_nn_gemv_kernel_name(void)
{
        return nn_gemv_kernel_get()->name;
}

int
socfw_nn_gemv_kernel_set(const char *name)
{
        const nn_gemv_kernel *k = by_name(name);
        if (!k)
                return SOCFW_EUNSUPPORTED;
        __atomic_store_n(&selected, k, __ATOMIC_RELEASE);
        return 0;
}
