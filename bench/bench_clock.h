/* bench_clock.h - what every benchmark measures with: wall-clock seconds
 * and sorting a sample of timings (for medians and bests). */
#ifndef SOCFW_BENCH_CLOCK_H
#define SOCFW_BENCH_CLOCK_H

#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock (differences only). */
static inline double
bench_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int
bench_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* Sorts n timings in place, fastest first. */
static inline void
bench_sort(double *t, size_t n)
{
        qsort(t, n, sizeof *t, bench_cmp_double);
}

#endif
