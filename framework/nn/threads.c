/* threads.c - thread count and a persistent pthread pool for
 * socfw_parallel_for (see socfw/threads.h).
 *
 * The caller runs chunk 0 itself; workers 1..k-1 run the others.  Workers
 * spin briefly on a generation counter before blocking on a condition
 * variable, so back-to-back kernel calls do not pay a futex wake each.
 */
#include "socfw/threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(HAVE_CONFIG_H)
#include "config.h"
#endif
#if defined(HAVE_CBLAS_H)
#include <cblas.h>
#define HAVE_OPENBLAS_THREADS 1
#elif defined(HAVE_OPENBLAS_CBLAS_H)
#include <openblas/cblas.h>
#define HAVE_OPENBLAS_THREADS 1
#endif

#define SPIN_ITERS 20000

static struct {
        pthread_mutex_t dispatch;       /* one parallel_for at a time      */
        pthread_mutex_t m;
        pthread_cond_t start, done;
        int nthreads;                   /* 0: not decided yet              */
        int running;                    /* workers started (nthreads - 1)  */
        pthread_t tid[SOCFW_THREADS_MAX];
        uint_fast64_t spawn_gen[SOCFW_THREADS_MAX]; /* gen when created  */
        atomic_uint_fast64_t gen;
        atomic_int pending;
        int stop;
        /* the current job */
        socfw_parallel_fn fn;
        void *ctx;
        int64_t n;
        int k;
} pool = {
        .dispatch = PTHREAD_MUTEX_INITIALIZER,
        .m = PTHREAD_MUTEX_INITIALIZER,
        .start = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER,
};

static _Thread_local int in_parallel;

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

static void
run_chunk(socfw_parallel_fn fn, void *ctx, int64_t n, int64_t k, int64_t i)
{
        int64_t begin = n * i / k, end = n * (i + 1) / k;
        if (begin < end)
                fn(ctx, begin, end);
}

static void *
worker(void *arg)
{
        int id = (int)(intptr_t)arg;
        /* not atomic_load(&pool.gen): a job may already be posted */
        uint_fast64_t seen = pool.spawn_gen[id];
        in_parallel = 1;
        for (;;) {
                int spins = 0;
                while (atomic_load_explicit(&pool.gen, memory_order_acquire) == seen &&
                       spins < SPIN_ITERS) {
                        cpu_relax();
                        spins++;
                }
                pthread_mutex_lock(&pool.m);
                while (atomic_load(&pool.gen) == seen && !pool.stop)
                        pthread_cond_wait(&pool.start, &pool.m);
                /* snapshot the job under the lock: the caller writes it
                 * under the same lock before bumping gen */
                int stop = pool.stop;
                seen = atomic_load(&pool.gen);
                socfw_parallel_fn fn = pool.fn;
                void *ctx = pool.ctx;
                int64_t n = pool.n;
                int k = pool.k;
                pthread_mutex_unlock(&pool.m);
                if (stop)
                        break;
                if (id < k) {
                        run_chunk(fn, ctx, n, k, id);
                        if (atomic_fetch_sub(&pool.pending, 1) == 1) {
                                pthread_mutex_lock(&pool.m);
                                pthread_cond_broadcast(&pool.done);
                                pthread_mutex_unlock(&pool.m);
                        }
                }
        }
        return NULL;
}

static int
default_threads(void)
{
        const char *e = getenv("SOCFW_THREADS");
        if (e && *e) {
                char *end;
                long v = strtol(e, &end, 10);
                if (*end == '\0' && v > 0 && v <= SOCFW_THREADS_MAX)
                        return (int)v;
        }
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        if (c < 1)
                c = 1;
        if (c > SOCFW_THREADS_MAX)
                c = SOCFW_THREADS_MAX;
        return (int)c;
}

/* Called with pool.dispatch held. */
static void
stop_workers(void)
{
        if (pool.running == 0)
                return;
        pthread_mutex_lock(&pool.m);
        pool.stop = 1;
        pthread_cond_broadcast(&pool.start);
        pthread_mutex_unlock(&pool.m);
        for (int i = 1; i <= pool.running; i++)
                pthread_join(pool.tid[i], NULL);
        pool.running = 0;
        pool.stop = 0;
}

/* Called with pool.dispatch held. */
static void
start_workers(void)
{
        if (pool.nthreads == 0)
                pool.nthreads = default_threads();
        while (pool.running < pool.nthreads - 1) {
                int id = pool.running + 1;
                pool.spawn_gen[id] = atomic_load(&pool.gen);
                if (pthread_create(&pool.tid[id], NULL, worker,
                                   (void *)(intptr_t)id) != 0)
                        break;  /* fewer threads than asked: still correct */
                pool.running++;
        }
}

int
socfw_threads_set(int n)
{
        if (n <= 0)
                n = default_threads();
        if (n > SOCFW_THREADS_MAX)
                n = SOCFW_THREADS_MAX;
        pthread_mutex_lock(&pool.dispatch);
        if (n != pool.nthreads) {
                stop_workers();
                pool.nthreads = n;
        }
        pthread_mutex_unlock(&pool.dispatch);
#ifdef HAVE_OPENBLAS_THREADS
        openblas_set_num_threads(n);
#endif
        return n;
}

int
socfw_threads_get(void)
{
        pthread_mutex_lock(&pool.dispatch);
        if (pool.nthreads == 0)
                pool.nthreads = default_threads();
        int n = pool.nthreads;
        pthread_mutex_unlock(&pool.dispatch);
        return n;
}

void
socfw_threads_shutdown(void)
{
        pthread_mutex_lock(&pool.dispatch);
        stop_workers();
        pthread_mutex_unlock(&pool.dispatch);
}

void
socfw_parallel_for_grain(int64_t n, int64_t grain, socfw_parallel_fn fn,
                         void *ctx)
{
        if (n <= 0 || !fn)
                return;
        if (in_parallel) {
                fn(ctx, 0, n);
                return;
        }
        pthread_mutex_lock(&pool.dispatch);
        if (pool.nthreads == 0)
                pool.nthreads = default_threads();
        int64_t k = pool.nthreads;
        if (grain < 1)
                grain = 1;
        if (k > n / grain)
                k = n / grain;
        if (k <= 1) {
                pthread_mutex_unlock(&pool.dispatch);
                in_parallel = 1;
                fn(ctx, 0, n);
                in_parallel = 0;
                return;
        }
        start_workers();
        if (k > pool.running + 1)
                k = pool.running + 1;
        pthread_mutex_lock(&pool.m);
        pool.fn = fn;
        pool.ctx = ctx;
        pool.n = n;
        pool.k = (int)k;
        atomic_store(&pool.pending, (int)k - 1);
        atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
        pthread_cond_broadcast(&pool.start);
        pthread_mutex_unlock(&pool.m);

        in_parallel = 1;
        run_chunk(fn, ctx, n, k, 0);
        in_parallel = 0;

        int spins = 0;
        while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0 &&
               spins < SPIN_ITERS) {
                cpu_relax();
                spins++;
        }
        pthread_mutex_lock(&pool.m);
        while (atomic_load(&pool.pending) != 0)
                pthread_cond_wait(&pool.done, &pool.m);
        pthread_mutex_unlock(&pool.m);
        pthread_mutex_unlock(&pool.dispatch);
}

void
socfw_parallel_for(int64_t n, socfw_parallel_fn fn, void *ctx)
{
        socfw_parallel_for_grain(n, 1, fn, ctx);
}
