/* nn_internal.h - helpers shared by the kernel files (not installed). */
#ifndef SOCFW_NN_INTERNAL_H
#define SOCFW_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

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
static inline float
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

/* y += a * x over n floats. */
static inline void
nn_axpy(float *y, float a, const float *x, int n)
{
        for (int i = 0; i < n; i++)
                y[i] += a * x[i];
}

#endif
