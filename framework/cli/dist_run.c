/* dist_run.c - the program's side of a data-parallel job
 * (`mpirun -np N socfw run PIPELINE`, socfw/dist.h): joining the
 * processes, who speaks and who writes, and stopping them all when one
 * fails.
 *
 * Rank 0 is the run: it logs, writes the run directory, the predictions
 * and the run package, exactly as one process would.  Every other rank
 * trains its share of each batch in lockstep with it, logs only warnings
 * and errors (prefixed with its rank), and keeps what the runtime writes
 * (checkpoints, reports, the state) in a private directory under $TMPDIR
 * that it removes at the end; with --resume it starts from a copy of the
 * run directory, so every node must see that directory (a shared file
 * system, or a copy in the same place).  A rank that fails stops the job
 * (MPI_Abort) after printing why, so that no process waits for ever for
 * it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "cli/cli.h"
#include "socfw/dist.h"
#include "socfw/io.h"
#include "socfw/log.h"

static char rank_tag[32] = "socfw";

static void
rank_sink(socfw_log_level level, const char *msg, void *user)
{
        static const char *const names[] = {"error", "warn", "info",
                                            "debug", "trace"};
        (void)user;
        const char *name = (int)level >= 0 && (size_t)level < 5
                                   ? names[level]
                                   : "log";
        fprintf(stderr, "%s: %s: %s\n", rank_tag, name, msg);
}

int
cli_dist_start(int *argc, char ***argv)
{
        socfw_error err = {0};
        if (socfw_dist_init(argc, argv, &err) < 0) {
                cli_error(&err);
                return CLI_FAIL;
        }
        if (socfw_dist_size() > 1 && socfw_dist_rank() > 0) {
                snprintf(rank_tag, sizeof rank_tag, "socfw[rank %d]",
                         socfw_dist_rank());
                cli_g.tag = rank_tag;
                socfw_log_set_sink(rank_sink, NULL);
                socfw_log_set_level(SOCFW_LOG_LEVEL_WARN);
        }
        return CLI_OK;
}

int
cli_dist_end(int rc)
{
        /* a failed process stops the others, which may be waiting for it
         * in a collective step */
        if (rc != CLI_OK && socfw_dist_size() > 1) {
                fflush(stdout);
                fflush(stderr);
                socfw_dist_abort(rc);
        }
        socfw_dist_finalize();
        return rc;
}

int
cli_dist_only_run(const char *command)
{
        if (socfw_dist_size() <= 1 || !strcmp(command, "run") ||
            !strcmp(command, "version") || !strcmp(command, "help"))
                return CLI_OK;
        if (socfw_dist_rank() == 0)
                cli_errorf("'socfw %s' runs as one process; under mpirun or "
                           "srun only 'socfw run' trains (across %d "
                           "processes here) (hint: start 'socfw %s' without "
                           "mpirun)",
                           command, socfw_dist_size(), command);
        return CLI_USAGE;
}

/* The SHA-256 of the resolved pipeline (every key, defaults included), in
 * hex: what each process will run. */
static int
pipeline_digest(const socfw_pipeline *p, char hex[65])
{
        char *text = NULL;
        socfw_error err = {0};
        if (socfw_pipeline_resolved_yaml(p, &text, &err) < 0) {
                cli_error(&err);
                return CLI_FAIL;
        }
        unsigned char h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
        free(text);
        sodium_bin2hex(hex, 65, h, sizeof h);
        return CLI_OK;
}

static long long
file_size(const char *dir, const char *name)
{
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int
cli_dist_check_run(const socfw_pipeline *p, const char *dir)
{
        if (socfw_dist_size() <= 1)
                return CLI_OK;
        char hex[65], seen[160];
        if (pipeline_digest(p, hex) != CLI_OK)
                return CLI_FAIL;
        /* what --resume and a cached backbone would start from */
        snprintf(seen, sizeof seen,
                 "state %lld bytes, pretraining state %lld bytes, backbone "
                 "%s",
                 file_size(dir, "state.safetensors"),
                 file_size(dir, "pretrain.state.safetensors"),
                 file_size(dir, "backbone/model.safetensors") >= 0 ? "cached"
                                                                 : "none");
        socfw_error err = {0};
        if (socfw_dist_check_same("the resolved pipeline's SHA-256", hex,
                                  &err) < 0 ||
            socfw_dist_check_same("the run directory", seen, &err) < 0) {
                cli_error(&err);
                if (strstr(err.message, "run directory"))
                        cli_errorf("hint: every process reads %s; on "
                                   "several machines put it on a shared "
                                   "file system",
                                   dir);
                return CLI_FAIL;
        }
        return CLI_OK;
}

char *
cli_dist_private_dir(const char *dir)
{
        const char *tmp = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/socfw-rank%d-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp", socfw_dist_rank());
        if (!mkdtemp(tmpl)) {
                cli_errorf("%s: cannot make a private directory: %s (hint: "
                           "set TMPDIR to a writable directory)",
                           tmpl, strerror(errno));
                return NULL;
        }
        char *out = strdup(tmpl);
        /* the run so far: a cached backbone, the state to resume from */
        if (out && socfw_path_is_dir(dir) &&
            cli_copy_tree(dir, out, 1) < 0) {
                cli_remove_tree(out);
                free(out);
                return NULL;
        }
        if (!out)
                cli_errorf("out of memory");
        return out;
}
