/* threads.c - thread count and a persistent pthread pool for
 * socfw_parallel_for (see socfw/threads.h).
 *
 * A job is cut into k fixed chunks (boundaries depend only on n and k);
 * the caller and the woken workers claim chunks through one atomic counter
 * tagged with the job's generation, so when a worker is slow to be
 * scheduled (a busy machine) the caller simply runs its chunks itself.
 * Which thread runs a chunk never changes what the chunk computes.
 *
 * Cost model: socfw_parallel_for_cost() gets an estimate of the work per
 * item and only uses as many chunks as there are SOCFW_PARALLEL_CHUNK_COST
 * units of work; anything smaller runs inline in the caller without
 * touching the pool (no lock, no wake-up).  Workers spin for a short, time
 * bounded while (SPIN_NS) on the generation counter before blocking on a
 * condition variable, so back-to-back kernel calls rarely pay a futex
 * wake, and an idle pool costs nothing.
 *
 * OpenBLAS is kept single-threaded: the socfw GEMM wrappers split
 * products over this pool themselves (nn/ops.c), except very large ones,
 * which they give to OpenBLAS's threads for the duration of the call while
 * this pool is idle, so only one set of threads competes for the cores at
 * a time.
 */
#include "socfw/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
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

/* How long a worker waits for the next job, and the caller for the
 * workers' chunks, spinning before blocking (nanoseconds). */
#define SPIN_NS_WORKER 100000
#define SPIN_NS_CALLER 300000
#define SPIN_YIELD_NS 20000     /* spin this long before yielding too */

static struct {
        pthread_mutex_t dispatch;       /* one parallel_for at a time      */
        pthread_mutex_t m;
        pthread_cond_t start, done;
        int nthreads;                   /* 0: not decided yet              */
        int running;                    /* workers started (nthreads - 1)  */
        pthread_t tid[SOCFW_THREADS_MAX];
        uint_fast64_t spawn_gen[SOCFW_THREADS_MAX]; /* gen when created  */
        atomic_uint_fast64_t gen;
        atomic_uint_fast64_t claim;     /* (gen & 0xffffffff) << 32 | next */
        atomic_int done_chunks;
        int stop;
        int sleepers;                   /* workers blocked on `start`      */
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
static atomic_int nthreads_cache;       /* pool.nthreads once decided      */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

static inline uint64_t
mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One step of a bounded spin that started at *t0 (0: not yet): pause,
 * and every 32 steps look at the clock; past SPIN_YIELD_NS give the core
 * away with sched_yield (on a busy machine the thread we wait for may be
 * queued behind us; on an idle one the call returns at once).  Returns 0
 * once `ns` nanoseconds have passed. */
static inline int
spin_step(unsigned i, uint64_t *t0, uint64_t ns)
{
        cpu_relax();
        if ((i & 31) != 31)
                return 1;
        uint64_t t = mono_ns();         /* vDSO, ~20 ns */
        if (*t0 == 0) {
                *t0 = t;
                return 1;
        }
        if (t - *t0 > ns)
                return 0;
        if (t - *t0 > SPIN_YIELD_NS)
                sched_yield();
        return 1;
}

/* Spin until *a != v (returns 1) or `ns` nanoseconds passed (returns 0). */
static int
spin_while_eq(atomic_uint_fast64_t *a, uint_fast64_t v, uint64_t ns)
{
        uint64_t t0 = 0;
        for (unsigned i = 0;; i++) {
                if (atomic_load_explicit(a, memory_order_acquire) != v)
                        return 1;
                if (!spin_step(i, &t0, ns))
                        return 0;
        }
}

static void
run_chunk(socfw_parallel_fn fn, void *ctx, int64_t n, int64_t k, int64_t i)
{
        int64_t begin = n * i / k, end = n * (i + 1) / k;
        if (begin < end)
                fn(ctx, begin, end);
}

/* Claim and run chunks of job `g` until none is left. */
static void
claim_and_run(uint_fast64_t g, socfw_parallel_fn fn, void *ctx, int64_t n,
              int k)
{
        uint_fast64_t tag = (g & 0xffffffffu) << 32;
        for (;;) {
                uint_fast64_t v = atomic_load(&pool.claim);
                if ((v & ~(uint_fast64_t)0xffffffffu) != tag)
                        return;         /* a later job: not ours */
                uint_fast64_t i = v & 0xffffffffu;
                if (i >= (uint_fast64_t)k)
                        return;
                if (!atomic_compare_exchange_weak(&pool.claim, &v, v + 1))
                        continue;
                run_chunk(fn, ctx, n, k, (int64_t)i);
                if (atomic_fetch_add(&pool.done_chunks, 1) + 1 == k) {
                        pthread_mutex_lock(&pool.m);
                        pthread_cond_broadcast(&pool.done);
                        pthread_mutex_unlock(&pool.m);
                }
        }
}

static void *
worker(void *arg)
{
        int id = (int)(intptr_t)arg;
        /* not atomic_load(&pool.gen): a job may already be posted */
        uint_fast64_t seen = pool.spawn_gen[id];
        in_parallel = 1;
        for (;;) {
                spin_while_eq(&pool.gen, seen, SPIN_NS_WORKER);
                pthread_mutex_lock(&pool.m);
                while (atomic_load(&pool.gen) == seen && !pool.stop) {
                        pool.sleepers++;
                        pthread_cond_wait(&pool.start, &pool.m);
                        pool.sleepers--;
                }
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
                if (id < k)
                        claim_and_run(seen, fn, ctx, n, k);
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

/* fork(): the child has none of the workers, and a lock a worker held at
 * the fork would stay locked; start afresh there (threads restart on the
 * next parallel call). */
static void
atfork_prepare(void)
{
        pthread_mutex_lock(&pool.m);
}

static void
atfork_parent(void)
{
        pthread_mutex_unlock(&pool.m);
}

static void
atfork_child(void)
{
        pthread_mutex_init(&pool.dispatch, NULL);
        pthread_mutex_init(&pool.m, NULL);
        pthread_cond_init(&pool.start, NULL);
        pthread_cond_init(&pool.done, NULL);
        pool.running = 0;
        pool.stop = 0;
        pool.sleepers = 0;
}

static void
atfork_register(void)
{
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Called with pool.dispatch held. */
static void
start_workers(void)
{
        pthread_once(&atfork_once, atfork_register);
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

/* The thread count without taking the dispatch lock (decided once). */
static int
nthreads_now(void)
{
        int n = atomic_load_explicit(&nthreads_cache, memory_order_relaxed);
        if (n > 0)
                return n;
        pthread_mutex_lock(&pool.dispatch);
        if (pool.nthreads == 0)
                pool.nthreads = default_threads();
        n = pool.nthreads;
        atomic_store(&nthreads_cache, n);
        pthread_mutex_unlock(&pool.dispatch);
        return n;
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
        atomic_store(&nthreads_cache, n);
        pthread_mutex_unlock(&pool.dispatch);
        socfw_threads_blas_single();
        return n;
}

int
socfw_threads_get(void)
{
        return nthreads_now();
}

void
socfw_threads_blas_single(void)
{
#ifdef HAVE_OPENBLAS_THREADS
        /* a global read in OpenBLAS: cheap enough to check on every call */
        if (openblas_get_num_threads() != 1)
                openblas_set_num_threads(1);
#endif
}

int
socfw_threads_in_parallel(void)
{
        return in_parallel;
}

int
socfw_threads_serial(int on)
{
        /* every entry point runs the body inline when in_parallel is set,
         * as for a nested call */
        int prev = in_parallel;
        in_parallel = on != 0;
        return prev;
}

void
socfw_threads_shutdown(void)
{
        pthread_mutex_lock(&pool.dispatch);
        stop_workers();
        pthread_mutex_unlock(&pool.dispatch);
}

/* Run [0, n) as k >= 2 chunks on the pool. */
static void
dispatch(int64_t n, int64_t k, socfw_parallel_fn fn, void *ctx)
{
        pthread_mutex_lock(&pool.dispatch);
        start_workers();
        if (k > pool.running + 1)
                k = pool.running + 1;
        if (k <= 1) {           /* no worker could be started */
                pthread_mutex_unlock(&pool.dispatch);
                in_parallel = 1;
                fn(ctx, 0, n);
                in_parallel = 0;
                return;
        }
        pthread_mutex_lock(&pool.m);
        pool.fn = fn;
        pool.ctx = ctx;
        pool.n = n;
        pool.k = (int)k;
        atomic_store(&pool.done_chunks, 0);
        uint_fast64_t g = atomic_load(&pool.gen) + 1;
        atomic_store(&pool.claim, (g & 0xffffffffu) << 32);
        atomic_store_explicit(&pool.gen, g, memory_order_release);
        if (pool.sleepers > 0)
                pthread_cond_broadcast(&pool.start);
        pthread_mutex_unlock(&pool.m);

        in_parallel = 1;
        claim_and_run(g, fn, ctx, n, (int)k);
        in_parallel = 0;

        uint64_t t0 = 0;
        for (unsigned i = 0;
             atomic_load_explicit(&pool.done_chunks, memory_order_acquire) != k;
             i++)
                if (!spin_step(i, &t0, SPIN_NS_CALLER))
                        break;
        if (atomic_load_explicit(&pool.done_chunks, memory_order_acquire) != k) {
                pthread_mutex_lock(&pool.m);
                while (atomic_load(&pool.done_chunks) != k)
                        pthread_cond_wait(&pool.done, &pool.m);
                pthread_mutex_unlock(&pool.m);
        }
        pthread_mutex_unlock(&pool.dispatch);
}

static void
run_inline(int64_t n, socfw_parallel_fn fn, void *ctx)
{
        in_parallel = 1;
        fn(ctx, 0, n);
        in_parallel = 0;
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
        int64_t k = nthreads_now();
        if (grain < 1)
                grain = 1;
        if (k > n / grain)
                k = n / grain;
        if (k <= 1)
                run_inline(n, fn, ctx);
        else
                dispatch(n, k, fn, ctx);
}

void
socfw_parallel_for_cost(int64_t n, double cost, socfw_parallel_fn fn,
                        void *ctx)
{
        if (n <= 0 || !fn)
                return;
        if (in_parallel) {
                fn(ctx, 0, n);
                return;
        }
        int64_t k = nthreads_now();
        double total = (double)n * (cost > 0.0 ? cost : 0.0);
        double chunks = total / SOCFW_PARALLEL_CHUNK_COST;
        if ((double)k > chunks)
                k = (int64_t)chunks;
        if (k > n)
                k = n;
        if (k <= 1)
                run_inline(n, fn, ctx);
        else
                dispatch(n, k, fn, ctx);
}

void
socfw_parallel_for(int64_t n, socfw_parallel_fn fn, void *ctx)
{
        socfw_parallel_for_grain(n, 1, fn, ctx);
}
