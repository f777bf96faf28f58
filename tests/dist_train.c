/* dist_train.c - train a pipeline as one process of an MPI job (or
 * alone), for tests/dist-train.sh:
 *
 *     mpirun -np 2 tests/dist_train PIPELINE.yaml OUT
 *
 * Each process trains its share of every batch (socfw/dist.h) and keeps
 * its files in OUT/rank-<r>; the script compares the checkpoints of
 * different process counts.  Prints nothing on success.
 *
 * DIST_TRAIN_HANG_RANK=r makes rank r stop answering (it sleeps instead
 * of training), to check that the others give up after
 * train.dist_timeout naming it; a failed process then stops the job. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "socfw/dist.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"

static void
quiet(const char *line, void *user)
{
        (void)line;
        (void)user;
}

int
main(int argc, char **argv)
{
        socfw_error err = {0};
        if (socfw_dist_init(&argc, &argv, &err) < 0 || argc != 3) {
                fprintf(stderr, "dist_train: %s\n",
                        err.message[0] ? err.message
                                       : "usage: dist_train PIPELINE OUT");
                return 2;
        }
        socfw_registry *reg = socfw_registry_new();
        socfw_pipeline *p = NULL;
        socfw_runtime *rt = NULL;
        char out[4096];
        snprintf(out, sizeof out, "%s/rank-%d", argv[2], socfw_dist_rank());
        socfw_runtime_options o = {.output_dir = out, .progress = quiet};
        int rc = reg ? 0 : SOCFW_ENOMEM;
        if (rc == 0) {
                socfw_registry_add_default_paths(reg, NULL);
                socfw_registry_scan(reg);
                rc = socfw_pipeline_load(&p, argv[1], NULL, 0, &err);
        }
        if (rc == 0)
                rc = socfw_pipeline_validate(p, reg, &err);
        if (rc == 0)
                rc = socfw_runtime_new(&rt, p, &o, &err);
        const char *hang = getenv("DIST_TRAIN_HANG_RANK");
        if (rc == 0 && hang && strtol(hang, NULL, 10) == socfw_dist_rank())
                sleep(60);
        else if (rc == 0)
                rc = socfw_runtime_train(rt, &err);
        if (rc < 0)
                fprintf(stderr, "dist_train: rank %d: %s%s%s\n",
                        socfw_dist_rank(), err.file, err.file[0] ? ": " : "",
                        err.message);
        socfw_runtime_free(rt);
        socfw_pipeline_free(p);
        socfw_registry_free(reg);
        if (rc < 0)
                socfw_dist_abort(1);
        socfw_dist_finalize();
        return rc < 0 ? 1 : 0;
}
