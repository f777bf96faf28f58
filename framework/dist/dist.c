/* dist.c - data-parallel processes over MPI (socfw/dist.h).  Built with
 * MPI when configure finds Open MPI; otherwise one process. */
#include "socfw/dist.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifdef HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_joined = 0;
static double g_timeout = 300.0;        /* seconds; 0: for ever */

void
socfw_dist_set_timeout(double seconds)
{
        g_timeout = seconds > 0 ? seconds : 0;
}

int
socfw_dist_built_with_mpi(void)
{
#ifdef HAVE_MPI
        return 1;
#else
        return 0;
#endif
}

/* How many processes the launcher says it started (1 when none did):
 * Open MPI's mpirun, PMI/PMIx launchers, Slurm's srun. */
static int
launched_size(void)
{
        static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                           "PMIX_SIZE", "SLURM_NTASKS"};
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
                const char *v = getenv(vars[i]);
                long n = v && *v ? strtol(v, NULL, 10) : 0;
                if (v && *v)
                        return n > 0 && n < INT_MAX ? (int)n : 1;
        }
        return 1;
}

#ifdef HAVE_MPI
static int
mpi_error(socfw_error *err, int code, const char *what)
{
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
                snprintf(text, sizeof text, "MPI error %d", code);
        return socfw_error_set(err, SOCFW_EIO,
                               "%s failed on rank %d of %d: %s (hint: a "
                               "process of the job stopped or lost its "
                               "connection; see its own messages)",
                               what, g_rank, g_size, text);
}
#endif

int
socfw_dist_init(int *argc, char ***argv, socfw_error *err)
{
        int n = launched_size();
#ifdef HAVE_MPI
        if (n <= 1 || g_joined)
                return 0;
        int inited = 0;
        MPI_Initialized(&inited);
        if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS)
                return socfw_error_set(err, SOCFW_EIO,
                                       "MPI_Init failed (hint: start socfw "
                                       "with mpirun or srun)");
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
        MPI_Comm_size(MPI_COMM_WORLD, &g_size);
        g_joined = !inited;
        return 0;
#else
        (void)argc;
        (void)argv;
        if (n > 1)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "started as one of %d MPI processes, "
                                       "but this socfw was built without "
                                       "MPI (hint: install libopenmpi-dev "
                                       "and configure --with-mpi; `socfw "
                                       "version` says which)",
                                       n);
        return 0;
#endif
}

void
socfw_dist_finalize(void)
{
#ifdef HAVE_MPI
        if (g_joined) {
                MPI_Finalize();
                g_joined = 0;
        }
#endif
        g_rank = 0;
        g_size = 1;
}

int
socfw_dist_rank(void)
{
        return g_rank;
}

int
socfw_dist_size(void)
{
        return g_size;
}

void
socfw_dist_shard(size_t n, size_t *off, size_t *len)
{
        size_t N = (size_t)g_size, r = (size_t)g_rank;
        size_t base = n / N, extra = n % N;
        *off = r * base + (r < extra ? r : extra);
        *len = base + (r < extra ? 1 : 0);
}

#ifdef HAVE_MPI
static double
now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wait for `req` as MPI_Wait would, but give up after the timeout.  Open
 * MPI moves a nonblocking collective on only inside MPI calls, so this
 * keeps testing (a pause between tests would cut a large reduction's
 * bandwidth by orders of magnitude), yielding the core now and then for
 * a process sharing it, and reading the clock every 256 tests.  1 when
 * done, 0 when the time ran out, < 0 an MPI error code negated. */
static int
wait_until(MPI_Request *req, double deadline)
{
        for (unsigned long spins = 1;; spins++) {
                int done = 0;
                int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
                if (rc != MPI_SUCCESS)
                        return rc > 0 ? -rc : -1;
                if (done)
                        return 1;
                if (spins % 256 == 0) {
                        if (deadline > 0 && now() > deadline)
                                return 0;
                        sched_yield();
                }
        }
}

static double
deadline_from_now(void)
{
        return g_timeout > 0 ? now() + g_timeout : 0;
}

/* The error of a wait that failed or ran out of time; rank 0 waits for
 * everybody, the others for rank 0 (the root of every collective here). */
static int
wait_error(socfw_error *err, int w, const char *what)
{
        if (w < 0)
                return mpi_error(err, -w, what);
        if (g_rank == 0)
                return socfw_error_set(
                        err, SOCFW_EIO,
                        "%s: no answer from the other processes within "
                        "%.0f s (hint: one of them died or hangs; see its "
                        "messages; train.dist_timeout sets the wait)",
                        what, g_timeout);
        return socfw_error_set(err, SOCFW_EIO,
                               "%s on rank %d: no answer from rank 0 within "
                               "%.0f s (hint: it died or hangs; see its "
                               "messages; train.dist_timeout sets the wait)",
                               what, g_rank, g_timeout);
}
#endif

#ifdef HAVE_MPI
/* The end of each nonblocking collective here: `rc` is what starting it
 * returned; wait for it within the timeout. */
static int
complete(int rc, MPI_Request *req, const char *what, socfw_error *err)
{
        if (rc != MPI_SUCCESS)
                return mpi_error(err, rc, what);
        int w = wait_until(req, deadline_from_now());
        return w <= 0 ? wait_error(err, w, what) : 0;
}
#endif

/* A reduction in a fixed order: summed at rank 0 (MPI_Reduce's tree for
 * this process count), then sent to all, so every process has the same
 * bits.  Blocking: Open MPI's nonblocking collectives moved 214 MB of
 * gradients 2-3x slower (bench/bench_dist); a process that hangs is
 * caught before, when the step's processes check in
 * (socfw_dist_checkin), and one that dies is reported by the launcher. */
int
socfw_dist_allreduce_sum(float *buf, size_t n, socfw_error *err)
{
#ifdef HAVE_MPI
        for (size_t at = 0; g_size > 1 && at < n;) {
                int count = n - at > (size_t)INT_MAX / 2 ? INT_MAX / 2
                                                         : (int)(n - at);
                int rc = MPI_Reduce(g_rank == 0 ? MPI_IN_PLACE : buf + at,
                                    buf + at, count, MPI_FLOAT, MPI_SUM, 0,
                                    MPI_COMM_WORLD);
                if (rc != MPI_SUCCESS)
                        return mpi_error(err, rc, "summing gradients");
                rc = MPI_Bcast(buf + at, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
                if (rc != MPI_SUCCESS)
                        return mpi_error(err, rc, "sharing gradients");
                at += (size_t)count;
        }
#else
        (void)buf;
        (void)n;
        (void)err;
#endif
        return 0;
}

int
socfw_dist_checkin(const char *what, long step, socfw_error *err)
{
#ifdef HAVE_MPI
        if (g_size <= 1)
                return 0;
        double deadline = deadline_from_now();
        /* static: a send still pending after a timeout keeps its buffer
         * (the job is over then; the caller aborts it) */
        static long long mine;
        mine = step;
        if (g_rank > 0) {
                MPI_Request req;
                int rc = MPI_Isend(&mine, 1, MPI_LONG_LONG, 0, 7301,
                                   MPI_COMM_WORLD, &req);
                if (rc != MPI_SUCCESS)
                        return mpi_error(err, rc, what);
                int w = wait_until(&req, deadline);
                if (w <= 0)
                        return wait_error(err, w, what);
        } else {
                long long *steps = calloc((size_t)g_size, sizeof *steps);
                MPI_Request *reqs = calloc((size_t)g_size, sizeof *reqs);
                int *done = calloc((size_t)g_size, sizeof *done);
                int rc = steps && reqs && done ? 0 : SOCFW_ENOMEM;
                if (rc < 0)
                        socfw_error_set(err, rc, "out of memory");
                for (int r = 1; rc == 0 && r < g_size; r++)
                        if (MPI_Irecv(&steps[r], 1, MPI_LONG_LONG, r, 7301,
                                      MPI_COMM_WORLD, &reqs[r]) != MPI_SUCCESS)
                                rc = mpi_error(err, MPI_ERR_OTHER, what);
                int left = g_size - 1;
                while (rc == 0 && left > 0) {
                        for (int r = 1; r < g_size; r++) {
                                int flag = 0;
                                if (done[r])
                                        continue;
                                MPI_Test(&reqs[r], &flag, MPI_STATUS_IGNORE);
                                if (flag) {
                                        done[r] = 1;
                                        left--;
                                }
                        }
                        if (left > 0 && deadline > 0 && now() > deadline) {
                                char who[256] = "";
                                size_t k = 0;
                                for (int r = 1; r < g_size && k + 16 < sizeof who; r++)
                                        if (!done[r])
                                                k += (size_t)snprintf(
                                                        who + k, sizeof who - k,
                                                        "%s%d", k ? ", " : "", r);
                                rc = socfw_error_set(
                                        err, SOCFW_EIO,
                                        "%s, step %ld: rank%s %s did not "
                                        "answer within %.0f s (hint: it "
                                        "died or hangs; see its messages; "
                                        "train.dist_timeout sets the wait)",
                                        what, step, left > 1 ? "s" : "", who,
                                        g_timeout);
                                for (int r = 1; r < g_size; r++)
                                        if (!done[r]) {
                                                MPI_Cancel(&reqs[r]);
                                                MPI_Wait(&reqs[r],
                                                         MPI_STATUS_IGNORE);
                                        }
                        } else if (left > 0) {
                                struct timespec pause = {0, 50000};
                                nanosleep(&pause, NULL);
                        }
                }
                for (int r = 1; rc == 0 && r < g_size; r++)
                        if (steps[r] != mine)
                                rc = socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "%s: rank %d is at step %lld, rank 0 "
                                        "at step %ld (hint: the processes "
                                        "must run the same pipeline on the "
                                        "same data)",
                                        what, r, steps[r], step);
                free(steps);
                free(reqs);
                free(done);
                if (rc < 0)
                        return rc;
        }
#else
        (void)what;
        (void)step;
        (void)err;
#endif
        return 0;
}

int
socfw_dist_max_f64(double *value, socfw_error *err)
{
#ifdef HAVE_MPI
        MPI_Request req;
        if (g_size > 1)
                return complete(MPI_Iallreduce(MPI_IN_PLACE, value, 1,
                                               MPI_DOUBLE, MPI_MAX,
                                               MPI_COMM_WORLD, &req),
                                &req, "agreeing on a value", err);
#else
        (void)value;
        (void)err;
#endif
        return 0;
}

int
socfw_dist_bcast_f64(double *buf, size_t n, socfw_error *err)
{
#ifdef HAVE_MPI
        MPI_Request req;
        if (g_size > 1 && n > 0)
                return complete(MPI_Ibcast(buf, (int)n, MPI_DOUBLE, 0,
                                           MPI_COMM_WORLD, &req),
                                &req, "sharing rank 0's values", err);
#else
        (void)buf;
        (void)n;
        (void)err;
#endif
        return 0;
}

void
socfw_dist_abort(int code)
{
#ifdef HAVE_MPI
        if (g_size > 1)
                MPI_Abort(MPI_COMM_WORLD, code);
#else
        (void)code;
#endif
}

int
socfw_dist_allreduce_sum_f64(double *buf, size_t n, socfw_error *err)
{
#ifdef HAVE_MPI
        MPI_Request req;
        if (g_size > 1)
                return complete(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n,
                                               MPI_DOUBLE, MPI_SUM,
                                               MPI_COMM_WORLD, &req),
                                &req, "summing values", err);
#else
        (void)buf;
        (void)n;
        (void)err;
#endif
        return 0;
}

int
socfw_dist_check_same(const char *what, const char *value, socfw_error *err)
{
#ifdef HAVE_MPI
        if (g_size <= 1)
                return 0;
        enum { W = 160 };
        char mine[W] = {0};
        snprintf(mine, sizeof mine, "%s", value ? value : "");
        char *all = malloc((size_t)W * (size_t)g_size);
        if (!all)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        MPI_Request req;
        int rc = complete(MPI_Iallgather(mine, W, MPI_CHAR, all, W, MPI_CHAR,
                                         MPI_COMM_WORLD, &req),
                          &req, "comparing the processes' setup", err);
        if (rc < 0) {
                free(all);
                return rc;
        }
        for (int r = 1; r < g_size; r++)
                if (memcmp(all, all + (size_t)r * W, W) != 0) {
                        rc = socfw_error_set(
                                err, SOCFW_EINVAL,
                                "the processes disagree on %s: rank 0 has "
                                "'%.*s', rank %d has '%.*s' (hint: start "
                                "every rank with the same pipeline and "
                                "files)",
                                what, W, all, r, W, all + (size_t)r * W);
                        free(all);
                        return rc;
                }
        free(all);
#else
        (void)what;
        (void)value;
        (void)err;
#endif
        return 0;
}
