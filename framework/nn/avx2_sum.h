/* avx2_sum.h - the horizontal sum of eight floats, shared by the AVX2
 * kernels of gemv.c, qdot.c and qgemm.c.  Include it only inside their
 * x86-64 target-clone guard (after <immintrin.h>); a caller compiled for
 * a wider target (avx2,fma,f16c) inlines it.  Not installed. */
#ifndef SOCFW_NN_AVX2_SUM_H
#define SOCFW_NN_AVX2_SUM_H

/* (v0 + v4) + (v1 + v5) ... in a fixed order: a kernel's result does not
 * depend on which file's copy of the reduction it went through. */
__attribute__((target("avx2"))) static inline float
nn_hsum8(__m256 v)
{
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
                              _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
}

#endif
