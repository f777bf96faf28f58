/* socfw/dist.h - data-parallel training across processes (MPI).
 *
 * N processes, started by `mpirun -np N` or Slurm's `srun`, each build the
 * same pipeline; every batch is split between them by rank, each computes
 * the gradient of its share, and the training loop's gradient hook
 * averages the gradients of the trainable tensors over all processes
 * before the update (socfw_dist_grad_hook), so every process makes the
 * same update and holds the same weights.  One process with batch B and N
 * processes with B/N each make the same steps, up to the order in which
 * floats are summed.
 *
 * Without MPI (a build without it, or a program not started by an MPI
 * launcher) there is one process: rank 0 of 1, and everything here is a
 * no-op.
 *
 *     socfw_dist_init(&argc, &argv, &err);      // once, first thing
 *     if (socfw_dist_size() > 1) ...             // started by mpirun
 *     socfw_dist_shard(B, &off, &len);           // my share of a batch
 *     ...
 *     socfw_dist_finalize();                     // once, at exit
 */
#ifndef SOCFW_DIST_H
#define SOCFW_DIST_H

#include <stddef.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when socfw was built with MPI (configure --with-mpi). */
int socfw_dist_built_with_mpi(void);

/* Join the processes the launcher started (MPI_Init when socfw was built
 * with MPI and an MPI launcher started the program; otherwise nothing).
 * Returns 0, or SOCFW_EUNSUPPORTED when the environment says an MPI
 * launcher started N > 1 processes but socfw was built without MPI. */
int socfw_dist_init(int *argc, char ***argv, socfw_error *err);

/* Leave the process group (MPI_Finalize); a no-op when not joined. */
void socfw_dist_finalize(void);

/* This process's rank (0-based) and the number of processes. */
int socfw_dist_rank(void);
int socfw_dist_size(void);

/* This process's share of `n` items split by rank as evenly as possible
 * (the first n % size ranks get one more): items [*off, *off + *len). */
void socfw_dist_shard(size_t n, size_t *off, size_t *len);

/* Sum `buf` (n floats, in place) over all processes, each process ending
 * with the same sums.  0, or SOCFW_EIO naming the failure.  It waits
 * without the timeout below (it is the bulk transfer of a step; call
 * socfw_dist_checkin first to catch a process that hangs). */
int socfw_dist_allreduce_sum(float *buf, size_t n, socfw_error *err);

/* Sum doubles likewise (metrics, loss sums). */
int socfw_dist_allreduce_sum_f64(double *buf, size_t n, socfw_error *err);

/* Stop waiting for the other processes after `seconds` in any of the
 * calls below (0: wait for ever; the default is 300): a process that died
 * or hangs then makes the others fail with SOCFW_EIO naming it where
 * it can be known (rank 0 knows who did not check in; the others know
 * that rank 0 did not answer), instead of waiting for ever. */
void socfw_dist_set_timeout(double seconds);

/* Every process says it reached step `step` of the work `what` before the
 * step's collective work; returns when all have, SOCFW_EIO naming
 * the ranks that did not check in within the timeout, or SOCFW_EINVAL
 * when a rank is at another step (they must move in lockstep). */
int socfw_dist_checkin(const char *what, long step, socfw_error *err);

/* The largest of every process's `*value` (in place): decisions taken
 * from local measurements (elapsed time) become the same everywhere. */
int socfw_dist_max_f64(double *value, socfw_error *err);

/* Rank 0's `n` doubles for everyone (in place): values that must agree
 * bit for bit (an evaluation metric that decides early stopping). */
int socfw_dist_bcast_f64(double *buf, size_t n, socfw_error *err);

/* Stop every process of the job now (MPI_Abort) with exit status `code`.
 * For programs (the CLI) after they printed why; library code never
 * calls it.  A no-op returning when there is one process. */
void socfw_dist_abort(int code);

/* Check that every process has the same `value` for `what` (e.g. the
 * pipeline's fingerprint): 0, or SOCFW_EINVAL naming the first rank that
 * differs and both values. */
int socfw_dist_check_same(const char *what, const char *value,
                          socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DIST_H */
