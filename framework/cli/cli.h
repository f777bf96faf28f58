/* framework/cli/cli.h - shared pieces of the socfw program.
 *
 * Exit codes: 0 success, 1 failure (bad input, failed run), 2 usage error.
 * Only the CLI prints to stdout or decides exit codes.
 */
#ifndef SOCFW_CLI_H
#define SOCFW_CLI_H

#include <stdio.h>

#include <jansson.h>

#include "socfw/error.h"
#include "socfw/pipeline.h"
#include "socfw/registry.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Options every command accepts (parsed before the command name or as
 * part of its own options). */
typedef struct cli_globals {
        const char *plugin_path;   /* --plugin-path, colon-separated */
        int threads;               /* --threads, 0 = default         */
        const char *tag;           /* message prefix: "socfw", or
                                      "socfw[rank N]" in an MPI job's
                                      other processes (NULL: "socfw") */
} cli_globals;

extern cli_globals cli_g;

/* Print "socfw: <message>" (with file:line:col when known) to stderr. */
void cli_error(const socfw_error *err);
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a usage error and a pointer to help; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Registry with the standard search path, scanned.  Problems are printed
 * as warnings when `warn` is set.  NULL on ENOMEM. */
socfw_registry *cli_registry(int warn);

/* ---- shared by the pipeline commands (rundir.c) ---- */

/* Load and validate; every diagnostic is printed.  NULL on failure. */
socfw_pipeline *cli_load_pipeline(const char *path, const char *const *sets,
                                  size_t n_sets, const socfw_registry *reg);

/* output.dir, or runs/<pipeline file stem> beside the pipeline (what
 * `socfw run` uses).  Caller frees; NULL on ENOMEM. */
char *cli_output_dir(const socfw_pipeline *p, const char *pipeline_path);

/* A run directory: `socfw run` records its pipeline and overrides in
 * run.json.  Returns 1 and fills *doc (caller json_decref's it; the strings
 * live in it), *pipeline and *overrides (an array of strings); 0 when `arg`
 * is not a directory; -1 (reported) when it is not a run directory. */
/* The chain's conversational stage (cmd_chat.c): the last stage whose
 * task generates text from a post; NULL when none.  *last: 1 when no stage
 * runs after it.  Used by `chat` and `serve`. */
const char *cli_chat_stage(const socfw_pipeline *p, int *last);

int cli_read_run_dir(const char *arg, json_t **doc, const char **pipeline,
                     json_t **overrides);

/* Copy the regular files under `from` to `to`, recursively (atomic
 * writes; hidden files skipped), leaving out the top-level
 * state.safetensors unless `with_state`.  0 or -1 (reported). */
int cli_copy_tree(const char *from, const char *to, int with_state);
/* Does every stage predict or serve runs (all of the chain, or `task`)
 * read records of its own rather than a post's text (its plugin declares
 * `input`, e.g. an ad-copy brief or a recommendation's {user})?  Then a
 * record needs no text field.  1 or 0. */
int cli_chain_reads_records(const socfw_pipeline *p, const char *task);
/* Remove `path` and everything under it (no symlinks followed). */
void cli_remove_tree(const char *path);
/* 1 when dir/rel is a regular file (socfw_path_is_file), else 0 (also
 * when the joined path does not fit in PATH_MAX). */
int cli_file_in(const char *dir, const char *rel);

/* ---- data-parallel jobs: mpirun -np N socfw run (dist_run.c) ---- */

/* Join the job's processes (socfw_dist_init), first thing in main; the
 * other ranks then log warnings and errors only, prefixed with their
 * rank.  A CLI_* code (reported). */
int cli_dist_start(int *argc, char ***argv);
/* Last thing in main: with rc a failure in a job of several processes,
 * stop them all (MPI_Abort); otherwise leave the job.  Returns rc. */
int cli_dist_end(int rc);
/* CLI_OK, or CLI_USAGE (said by rank 0) when `command` cannot run in a
 * job of several processes (every command but run, version, help). */
int cli_dist_only_run(const char *command);
/* Every process runs the same resolved pipeline and sees the same run
 * directory (its resumable state and cached backbone): CLI_OK, or
 * CLI_FAIL naming the first rank that differs.  Collective. */
int cli_dist_check_run(const socfw_pipeline *p, const char *dir);
/* A ranks > 0 process's own output directory under $TMPDIR, holding a
 * copy of run directory `dir` when it exists (to resume from); the
 * caller removes it with cli_remove_tree and frees it.  NULL: reported. */
char *cli_dist_private_dir(const char *dir);

/* ---- run packages (runpkg.c) ---- */

/* Before `socfw run` writes into `dir`: CLI_OK, or CLI_FAIL (reported)
 * when dir holds a finished run that this run would replace - unless
 * `force` or `resume`, or every task trains its own adapter (composition:
 * the unchanged ones are reused, only new or changed tasks train). */
int cli_package_guard(const char *dir, const socfw_pipeline *p, int force,
                      int resume, size_t n_retrain);
/* After a successful run: the snapshot (pipeline.resolved.yaml), the
 * model card (README.md) and run.json with the manifest.  Returns a CLI_*
 * code (reported). */
int cli_package_finish(const char *dir, const char *pipeline,
                       const char *const *sets, size_t n_sets,
                       const socfw_registry *reg);
/* Called by cli_read_run_dir: for a finished run, check every file of the
 * manifest (the first missing or damaged one is named), warn when the
 * pipeline file changed since, and give the snapshot and the overrides to
 * load it with (strings stored in `doc`).  1: a package; 0: a run from
 * before packages (use run.json's pipeline); -1: reported. */
int cli_package_open(const char *dir, json_t *doc, const char **pipeline,
                     json_t **overrides);
/* Rewrite the manifest of run `dir` after its files changed on purpose
 * (an adapter version promoted or rolled back).  A CLI_* code (reported);
 * a run from before packages is left alone. */
int cli_package_refresh(const char *dir);
int cli_cmd_export(int argc, char **argv);
int cli_cmd_init(int argc, char **argv);

/* What predict, serve and monitor work on (cmd_run.c): a pipeline or run
 * directory loaded and validated, and the runtime of its trained run when
 * there is one. */
struct socfw_runtime;
typedef struct cli_inference {
        json_t *keep;                   /* strings of a run directory  */
        char dir_set[4096 + 16];
        socfw_registry *reg;
        socfw_pipeline *p;
        struct socfw_runtime *rt;       /* NULL: no trained run        */
        const char *pipeline;           /* the pipeline file's path    */
} cli_inference;

/* Returns CLI_OK, or CLI_FAIL after printing the problem; close `in`
 * either way. */
int cli_inference_open(cli_inference *in, const char *pipeline,
                       const char *const *sets, size_t n_sets);
void cli_inference_close(cli_inference *in);
/* The inference chain (all stages, or only `task`); prints the problem and
 * returns NULL when it cannot be built or is empty. */
struct socfw_chain *cli_inference_chain(const socfw_pipeline *p,
                                        struct socfw_runtime *rt,
                                        const char *task);

/* `socfw run PIPELINE --continue RUN --data NEW` (cmd_continual.c):
 * train, gate and maybe promote a new version of a task's adapter (task
 * NULL: continual.task or the only task with an adapter).  Returns CLI_OK
 * when promoted, CLI_FAIL when refused or failed. */
int cli_continual_run(const char *pipeline, const char *run,
                      const char *data, const char *task,
                      const char *const *sets, size_t n_sets);

/* Commands: argc/argv start at the command name. */
int cli_cmd_monitor(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_pull(int argc, char **argv);
int cli_cmd_serve(int argc, char **argv);

int cli_cmd_validate(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_predict(int argc, char **argv);
int cli_cmd_evaluate(int argc, char **argv);
int cli_cmd_help(int argc, char **argv);
int cli_cmd_chat(int argc, char **argv);
/* Model debugging tools (cmd_model.c). */
int cli_cmd_tokenize(int argc, char **argv);
int cli_cmd_generate(int argc, char **argv);
int cli_cmd_logits(int argc, char **argv);
int cli_cmd_quantize(int argc, char **argv);
int cli_cmd_perplexity(int argc, char **argv);
/* Adapters: merge into the base model, inspect (cmd_adapter.c). */
int cli_cmd_adapter(int argc, char **argv);

/* `socfw help TOPIC` text; returns 0 when the topic exists. */
int cli_print_help(FILE *out, const char *topic);

#endif
