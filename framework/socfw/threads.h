/* socfw/threads.h - thread count and the runtime's parallel loop.
 *
 * One setting drives all of the runtime's parallel work, matrix products
 * included: socfw_parallel_for() splits [0, n) into contiguous chunks run
 * by a persistent pthread pool, and the socfw GEMM wrappers split products
 * over the same pool while OpenBLAS runs single-threaded (two thread pools
 * on the same cores only get in each other's way); only for very large
 * products (>= 64M multiply-adds) do they hand the cores to OpenBLAS's
 * threads for the duration of the call, and set it back to one.  The
 * split depends only on n, the thread count (and, for the _cost and _grain
 * variants, the work estimate), so a kernel whose chunks write disjoint
 * outputs gives bitwise-identical results for a given thread count (the
 * socfw kernels are written so that their results do not depend on the
 * thread count at all).
 *
 * Work too small to pay for a hand-off to another thread runs inline in
 * the caller: pass an estimate with socfw_parallel_for_cost() (or a
 * minimum chunk size with socfw_parallel_for_grain()).  Idle workers spin
 * for about 0.1 ms before they sleep, so a run of kernel calls pays at
 * most one wake-up.
 *
 *     static void body(void *ctx, int64_t begin, int64_t end)
 *     {
 *             float *x = ctx;
 *             for (int64_t i = begin; i < end; i++)
 *                     x[i] *= 2.0f;
 *     }
 *     socfw_threads_set(0);                    // all online CPUs
 *     socfw_parallel_for_cost(n, 0.5, body, x); // ~0.5 ns per item
 *
 * A parallel_for called from inside a parallel_for body runs serially in the
 * calling thread.  Calls from several application threads at once are
 * serialised (one pool).  `fn` must not throw/longjmp.  The pool survives
 * fork(): the child starts without workers and starts new ones on its
 * first parallel call (do not fork from inside a body).
 */
#ifndef SOCFW_THREADS_H
#define SOCFW_THREADS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_THREADS_MAX 256

/* Set the number of threads (n <= 0: number of online CPUs; capped at
 * SOCFW_THREADS_MAX).  Also sets OpenBLAS to one thread (see above; the
 * socfw kernels raise it to n only around very large products).
 * Returns the count in effect.  Also honours SOCFW_THREADS from the
 * environment the first time the pool is used if socfw_threads_set was
 * never called. */
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

/* Cost units: roughly one nanosecond of single-core work.  A chunk
 * handed to another thread should carry at least this much (a wake-up
 * costs a few microseconds when the worker spins, tens when it sleeps).
 * Rules of thumb per item: an elementwise float op ~0.5, an expf/tanhf
 * ~2-5, one sgemm multiply-add ~0.03. */
#define SOCFW_PARALLEL_CHUNK_COST 20000.0

/* Same as socfw_parallel_for, with `cost` the estimated work of one item
 * in the units above: uses k = min(threads, n, n*cost / CHUNK_COST)
 * chunks, and runs inline (k = 1) when the whole job is cheaper than two
 * chunks.  cost <= 0 runs inline. */
void socfw_parallel_for_cost(int64_t n, double cost, socfw_parallel_fn fn,
                             void *ctx);

/* 1 inside a parallel_for body (where nested calls run inline), else 0. */
int socfw_threads_in_parallel(void);

/* Make the calling application thread run its parallel work itself,
 * serially (on != 0), or hand it to the pool again (on == 0); returns the
 * previous setting.  For a program that runs several independent
 * computations at once, one per core (a server's concurrent batches):
 * each then costs less CPU than when split over the pool (no hand-offs,
 * no waiting for the slowest chunk), and they do not queue for the one
 * pool.  While on, socfw_threads_in_parallel() is 1 in this thread.  Not
 * from inside a parallel_for body. */
int socfw_threads_serial(int on);

/* Make sure OpenBLAS runs single-threaded (cheap; the socfw kernels call
 * it before their BLAS calls, in case the application changed it). */
void socfw_threads_blas_single(void);

/* Stop the pool's threads (they restart on the next parallel call).
 * Optional; for leak checkers and fork(). */
void socfw_threads_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_THREADS_H */
