/* dist.c - data-parallel processes over MPI (socfw/dist.h).  Built with
 * MPI when configure finds Open MPI; otherwise one process. */
#include "socfw/dist.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifdef HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_joined = 0;

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
                if (v && *v)
                        return atoi(v) > 0 ? atoi(v) : 1;
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

/* A reduction in a fixed order: summed at rank 0 (MPI_Reduce's tree for
 * this process count), then sent to all, so every process has the same
 * bits. */
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
socfw_dist_allreduce_sum_f64(double *buf, size_t n, socfw_error *err)
{
#ifdef HAVE_MPI
        if (g_size > 1) {
                int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE,
                                       MPI_SUM, MPI_COMM_WORLD);
                if (rc != MPI_SUCCESS)
                        return mpi_error(err, rc, "summing values");
        }
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
        int rc = MPI_Allgather(mine, W, MPI_CHAR, all, W, MPI_CHAR,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
                free(all);
                return mpi_error(err, rc, "comparing the processes' setup");
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
