/* socfw/threads.h - thread count and the runtime's parallel loop.
 *
 * One setting drives both OpenBLAS (openblas_set_num_threads) and the
 * runtime's own loops.  socfw_parallel_for() splits [0, n) into contiguous
 * chunks run by a persistent pthread pool; the split depends only on n and
 * the thread count, so a kernel whose chunks write disjoint outputs gives
 * bitwise-identical results for a given thread count (the socfw kernels are
 * written so that their results do not depend on the thread count at all).
 *
 *     static void body(void *ctx, int64_t begin, int64_t end)
 *     {
 *             float *x = ctx;
 *             for (int64_t i = begin; i < end; i++)
 *                     x[i] *= 2.0f;
 *     }
 *     socfw_threads_set(0);                    // all online CPUs
 *     socfw_parallel_for(n, body, x);
 *
 * A parallel_for called from inside a parallel_for body runs serially in the
 * calling thread.  Calls from several application threads at once are
 * serialised (one pool).  `fn` must not throw/longjmp.
 */
#ifndef SOCFW_THREADS_H
#define SOCFW_THREADS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_THREADS_MAX 256

/* Set the number of threads (n <= 0: number of online CPUs; capped at
 * SOCFW_THREADS_MAX).  Also sets OpenBLAS's thread count.  Returns the
 * count in effect.  Also honours SOCFW_THREADS from the environment the
 * first time the pool is used if socfw_threads_set was never called. */
int socfw_threads_set(int n);

/* Threads in effect (>= 1). */
int socfw_threads_get(void);

typedef void (*socfw_parallel_fn)(void *ctx, int64_t begin, int64_t end);

/* Run fn(ctx, begin, end) over disjoint chunks covering [0, n), in
 * parallel, and return when all are done.  n <= 0 does nothing.  Chunk i of
 * k is [n*i/k, n*(i+1)/k) with k = min(threads, n). */
void socfw_parallel_for(int64_t n, socfw_parallel_fn fn, void *ctx);

/* Same, but stays serial unless each chunk would get at least `grain`
 * items (use it for cheap per-item work). */
void socfw_parallel_for_grain(int64_t n, int64_t grain, socfw_parallel_fn fn,
                              void *ctx);

/* Stop the pool's threads (they restart on the next parallel call).
 * Optional; for leak checkers and fork(). */
void socfw_threads_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_THREADS_H */
