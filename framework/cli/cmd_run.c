/* cmd_run.c - `socfw run`, `validate`, `predict` and `evaluate`. */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "socfw/chain.h"
#include "socfw/dist.h"
#include "socfw/io.h"
#include "socfw/log.h"
#include "socfw/pipeline.h"
#include "socfw/runtime.h"

#define MAX_SETS 128

/* Options shared by the pipeline commands. */
typedef struct run_opts {
        const char *pipeline;
        const char *sets[MAX_SETS];
        size_t n_sets;
        const char *input;
        const char *output;
        const char *text_field;
        const char *task;       /* predict/evaluate: one task only */
        int resume;             /* run: continue from the saved state */
        int force;              /* run: train over a finished run     */
        const char *retrain[MAX_SETS]; /* run: tasks to train again       */
        size_t n_retrain;
        const char *continue_run; /* run --continue RUN (continual)    */
        const char *data;       /* run --data NEW.jsonl (continual)   */
        const char *host;       /* serve                              */
        int port;               /* serve                              */
} run_opts;

static int
parse_run_opts(const char *cmd, int argc, char **argv, run_opts *o,
               int want_io)
{
        static const struct option opts[] = {
                {"set", required_argument, NULL, 's'},
                {"input", required_argument, NULL, 'i'},
                {"output", required_argument, NULL, 'o'},
                {"text-field", required_argument, NULL, 'f'},
                {"task", required_argument, NULL, 'T'},
                {"resume", no_argument, NULL, 'R'},
                {"force", no_argument, NULL, 'F'},
                {"retrain", required_argument, NULL, 'r'},
                {"continue", required_argument, NULL, 'C'},
                {"data", required_argument, NULL, 'D'},
                {"host", required_argument, NULL, 'H'},
                {"port", required_argument, NULL, 'p'},
                {"plugin-path", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        int c;
        memset(o, 0, sizeof *o);
        o->host = "127.0.0.1";
        o->port = 8080;
        while ((c = getopt_long(argc, argv, "s:i:o:T:P:h", opts, NULL)) !=
               -1) {
                switch (c) {
                case 's':
                        if (o->n_sets == MAX_SETS)
                                return cli_usage(cmd, "too many --set "
                                                      "options");
                        o->sets[o->n_sets++] = optarg;
                        break;
                case 'i':
                case 'o':
                case 'f':
                        if (!want_io)
                                return cli_usage(cmd, "'%s' takes no "
                                                      "--input/--output",
                                                 cmd);
                        if (c == 'i')
                                o->input = optarg;
                        else if (c == 'o')
                                o->output = optarg;
                        else
                                o->text_field = optarg;
                        break;
                case 'R':
                        if (strcmp(cmd, "run") != 0)
                                return cli_usage(cmd, "only 'run' takes "
                                                      "--resume");
                        o->resume = 1;
                        break;
                case 'F':
                        if (strcmp(cmd, "run") != 0)
                                return cli_usage(cmd, "only 'run' takes "
                                                      "--force");
                        o->force = 1;
                        break;
                case 'r':
                        if (strcmp(cmd, "run") != 0)
                                return cli_usage(cmd, "only 'run' takes "
                                                      "--retrain");
                        if (o->n_retrain == MAX_SETS)
                                return cli_usage(cmd, "too many --retrain "
                                                      "options");
                        o->retrain[o->n_retrain++] = optarg;
                        break;
                case 'C':
                case 'D':
                        if (strcmp(cmd, "run") != 0)
                                return cli_usage(cmd, "only 'run' takes "
                                                      "--continue/--data");
                        if (c == 'C')
                                o->continue_run = optarg;
                        else
                                o->data = optarg;
                        break;
                case 'T':
                        if (!want_io)
                                return cli_usage(cmd, "'%s' takes no --task",
                                                 cmd);
                        o->task = optarg;
                        break;
                case 'H':
                case 'p': {
                        if (strcmp(cmd, "serve") != 0)
                                return cli_usage(cmd, "only 'serve' takes "
                                                      "--host/--port");
                        if (c == 'H') {
                                o->host = optarg;
                                break;
                        }
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (*optarg == '\0' || *end || v < 0 || v > 65535)
                                return cli_usage(cmd, "--port: expected 0 "
                                                      "to 65535 (0: any free "
                                                      "port)");
                        o->port = (int)v;
                        break;
                }
                case 'P':
                        cli_g.plugin_path = optarg;
                        break;
                case 'h':
                        cli_print_help(stdout, cmd);
                        return -1;
                default:
                        return cli_usage(cmd, "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage(cmd, "missing the pipeline file");
        if (optind + 1 < argc)
                return cli_usage(cmd, "unexpected argument '%s'",
                                 argv[optind + 1]);
        o->pipeline = argv[optind];
        return 0;
}

int
cli_cmd_validate(int argc, char **argv)
{
        run_opts o;
        int rc = parse_run_opts("validate", argc, argv, &o, 0);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        socfw_registry *reg = cli_registry(1);
        if (!reg)
                return CLI_FAIL;
        socfw_pipeline *p = cli_load_pipeline(o.pipeline, o.sets, o.n_sets,
                                              reg);
        socfw_error err = {0};
        if (p && socfw_runtime_preflight(p, &err) < 0) {
                cli_error(&err);        /* what socfw run would refuse */
                socfw_pipeline_free(p);
                p = NULL;
        }
        if (p) {
                printf("%s: ok (%zu task%s, chain of %zu stage%s)\n",
                       o.pipeline, socfw_pipeline_task_count(p),
                       socfw_pipeline_task_count(p) == 1 ? "" : "s",
                       socfw_pipeline_chain_len(p),
                       socfw_pipeline_chain_len(p) == 1 ? "" : "s");
        }
        socfw_pipeline_free(p);
        socfw_registry_free(reg);
        return p ? CLI_OK : CLI_FAIL;
}

/* The chain of a pipeline opened for inference: the trained stages of `rt`
 * when there is a run, else the model-free ones; `task` (NULL: all) keeps
 * one stage.  Prints the problem and returns NULL when it cannot be built
 * or is empty. */
static socfw_chain *
inference_chain(const socfw_pipeline *p, socfw_runtime *rt, const char *task)
{
        const char *only[2] = {task, NULL};
        socfw_error err = {0};
        socfw_chain *chain = NULL;
        int rc = rt ? socfw_runtime_chain_stages(rt, task ? only : NULL,
                                                 &chain, &err)
                    : socfw_chain_new(&chain, p, task ? only : NULL, &err);
        if (rc == 0 && socfw_chain_len(chain) == 0)
                rc = socfw_error_set(&err, SOCFW_ESCHEMA,
                                     "%s has an empty chain (hint: add "
                                     "chain: [privacy, ...])",
                                     socfw_pipeline_path(p));
        if (rc < 0) {
                cli_error(&err);
                socfw_chain_free(chain);
                return NULL;
        }
        return chain;
}

/* Run the chain over every line of `input` (JSON Lines), writing one JSON
 * line per post to `output` atomically ("-" = stdout).  A bad line stops
 * the run with file:line; nothing half-written is left behind. */
static int
predict_file(socfw_chain *chain, const char *input, const char *output,
             const char *text_field, int records)
{
        socfw_error err = {0};
        socfw_atomic_file *out = NULL;
        FILE *in = NULL;
        char *line = NULL;
        size_t cap = 0, n_posts = 0;
        long lineno = 0;
        int rc;
        in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
        if (!in) {
                rc = socfw_error_set_at(&err, SOCFW_EIO, input, 0, 0,
                                        "cannot open: %m");
                goto out;
        }
        if (strcmp(output, "-") != 0 &&
            (rc = socfw_atomic_file_open(&out, output, &err)) < 0)
                goto out;
        ssize_t len;
        while ((len = getline(&line, &cap, in)) >= 0) {
                lineno++;
                while (len > 0 && (line[len - 1] == '\n' ||
                                   line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (len == 0)
                        continue;
                socfw_post *post = NULL;
                rc = records ? socfw_post_from_record(&post, line,
                                                      (size_t)len,
                                                      text_field, &err)
                             : socfw_post_from_json(&post, line, (size_t)len,
                                                    text_field, &err);
                if (rc == 0)
                        rc = socfw_chain_run(chain, post, &err);
                char *json = rc == 0 ? socfw_post_to_json(post) : NULL;
                socfw_post_free(post);
                if (rc < 0) {
                        err.line = lineno;
                        err.column = err.column > 0 ? err.column : 0;
                        snprintf(err.file, sizeof err.file, "%s", input);
                        goto out;
                }
                if (!json) {
                        rc = socfw_error_set(&err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                if (out) {
                        rc = socfw_atomic_file_printf(out, &err, "%s\n",
                                                      json);
                } else {
                        fputs(json, stdout);
                        fputc('\n', stdout);
                }
                free(json);
                if (rc < 0)
                        goto out;
                n_posts++;
        }
        if (out) {
                rc = socfw_atomic_file_commit(out, &err);
                out = NULL;
                if (rc < 0)
                        goto out;
                fprintf(stderr, "socfw: %zu posts -> %s\n", n_posts, output);
        }
        rc = 0;
out:
        socfw_atomic_file_abort(out);
        if (in && in != stdin)
                fclose(in);
        free(line);
        if (rc < 0)
                cli_error(&err);
        return rc < 0 ? CLI_FAIL : CLI_OK;
}

/* On a terminal, step lines overwrite each other (a progress line with
 * loss, tokens/s and ETA); other lines, and everything in a log file, are
 * printed one per line. */
static void
print_progress(const char *line, void *user)
{
        static int tty = -1, pending;
        (void)user;
        /* progress is information: -q and SOCFW_LOG=warn silence it */
        if (socfw_log_get_level() < SOCFW_LOG_LEVEL_INFO)
                return;
        if (tty < 0)
                tty = isatty(STDERR_FILENO);
        int step = strncmp(line, "epoch ", 6) == 0 ||
                   strncmp(line, "pretrain step ", 14) == 0;
        if (tty && step) {
                fprintf(stderr, "\r\033[Ksocfw: %s", line);
                pending = 1;
                return;
        }
        if (pending)
                fputc('\n', stderr);
        pending = 0;
        fprintf(stderr, "socfw: %s\n", line);
}

/* ---- run directories ---- */

/* run.json records how a run was started, so that `socfw predict RUN_DIR`
 * and `socfw evaluate RUN_DIR` rebuild the same pipeline. */
static int
write_run_json(const char *dir, const run_opts *o, socfw_error *err)
{
        char abs[PATH_MAX];
        if (!realpath(o->pipeline, abs))
                snprintf(abs, sizeof abs, "%s", o->pipeline);
        json_t *sets = json_array();
        for (size_t i = 0; i < o->n_sets; i++)
                json_array_append_new(sets, json_string(o->sets[i]));
        json_t *doc = json_pack("{s:i, s:s, s:o}", "format", 1, "pipeline",
                                abs, "overrides", sets);
        char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        json_decref(doc);
        char *path = socfw_path_join_alloc(dir, "run.json");
        int rc = text && path ? socfw_file_write_atomic(path, text,
                                                        strlen(text), err)
                              : socfw_error_set(err, SOCFW_ENOMEM,
                                                "out of memory");
        free(text);
        free(path);
        return rc;
}

/* If `arg` is a run directory, fill o->pipeline and o->sets from its
 * run.json (plus output.dir pointing at it).  Returns 1 when it was one,
 * 0 when `arg` is not a directory, -1 (reported) on a broken run directory.
 * The strings live in *keep (free with json_decref). */
static int
open_run_dir(const char *arg, run_opts *o, json_t **keep, char *dir_set,
             size_t dir_set_size)
{
        const char *pipeline;
        json_t *sets;
        int rc = cli_read_run_dir(arg, keep, &pipeline, &sets);
        if (rc <= 0)
                return rc;
        /* command-line --set values come after the recorded ones */
        size_t n_cli = o->n_sets, n_rec = json_array_size(sets);
        if (n_rec + n_cli + 1 > MAX_SETS) {
                cli_errorf("%s: too many overrides", arg);
                json_decref(*keep);
                *keep = NULL;
                return -1;
        }
        memmove(o->sets + n_rec + 1, o->sets, n_cli * sizeof *o->sets);
        for (size_t i = 0; i < n_rec; i++)
                o->sets[i] = json_string_value(json_array_get(sets, i));
        char abs[PATH_MAX];
        if (!realpath(arg, abs))
                snprintf(abs, sizeof abs, "%s", arg);
        snprintf(dir_set, dir_set_size, "output.dir=%s", abs);
        o->sets[n_rec] = dir_set;
        o->n_sets = n_rec + 1 + n_cli;
        o->pipeline = pipeline;
        return 1;
}


int
cli_cmd_run(int argc, char **argv)
{
        run_opts o;
        int rc = parse_run_opts("run", argc, argv, &o, 1);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        if (o.data && !o.continue_run)
                return cli_usage("run", "--data goes with --continue RUN");
        if (o.continue_run && socfw_dist_size() > 1)
                return cli_usage("run", "--continue (continual "
                                        "re-fine-tuning) runs as one "
                                        "process; start it without mpirun");
        if (o.continue_run)     /* continual re-fine-tuning */
                return cli_continual_run(o.pipeline, o.continue_run, o.data,
                                         o.task, o.sets, o.n_sets);
        socfw_registry *reg = cli_registry(1);
        if (!reg)
                return CLI_FAIL;
        socfw_pipeline *p = cli_load_pipeline(o.pipeline, o.sets, o.n_sets,
                                              reg);
        socfw_runtime *rt = NULL;
        char *dir = p ? cli_output_dir(p, o.pipeline) : NULL;
        char *pred_path = NULL;
        /* in a data-parallel job rank 0 writes the run directory; the
         * other ranks keep what the runtime writes to themselves */
        int writer = socfw_dist_rank() == 0;
        char *own_dir = NULL;
        socfw_error err = {0};
        rc = CLI_FAIL;
        if (!p || !dir)
                goto out;
        if (cli_package_guard(dir, p, o.force, o.resume, o.n_retrain) !=
            CLI_OK)
                goto out;
        if (!writer && !(own_dir = cli_dist_private_dir(dir)))
                goto out;
        if (cli_dist_check_run(p, dir) != CLI_OK)
                goto out;
        if (writer && (socfw_dir_make(dir, 0755, &err) < 0 ||
                       write_run_json(dir, &o, &err) < 0)) {
                cli_error(&err);
                goto out;
        }
        if (writer && socfw_dist_size() > 1)
                fprintf(stderr, "socfw: data-parallel training over %d "
                                "processes (socfw/dist.h): each batch is "
                                "split between them; rank 0 writes %s\n",
                        socfw_dist_size(), dir);
        socfw_runtime_options ro = {.output_dir = writer ? dir : own_dir,
                                    .threads = cli_g.threads,
                                    .resume = o.resume,
                                    .progress = print_progress,
                                    .retrain = o.retrain,
                                    .n_retrain = o.n_retrain};
        if (socfw_runtime_new(&rt, p, &ro, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        if (socfw_runtime_pretraining_paused(rt)) {
                rc = CLI_OK;
                if (!writer)
                        goto out;
                fprintf(stderr, "socfw: pretraining paused at its time "
                                "budget (the backbone so far is in "
                                "%s/backbone); continue with `socfw run %s "
                                "--resume`\n",
                        dir, o.pipeline);
                goto out;
        }
        if (socfw_runtime_train(rt, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        /* final evaluation on the splits the pipeline asks for */
        const socfw_config *ev = socfw_pipeline_section(p, "evaluate");
        if (socfw_runtime_has_training(rt))
                for (size_t i = 0; i < socfw_config_list_len(ev, "splits");
                     i++) {
                        const char *split = socfw_config_list_get(ev,
                                                                  "splits", i);
                        if (!strcmp(split, "train"))
                                continue;
                        if (socfw_runtime_evaluate(rt, split, &err) < 0) {
                                cli_error(&err);
                                goto out;
                        }
                }
        /* the chain over the pipeline's (or the command line's) input */
        const socfw_config *outc = socfw_pipeline_section(p, "output");
        const char *input = o.input ? o.input
                                    : socfw_config_get_string(outc, "input");
        rc = CLI_OK;
        if (input && writer) {
                const char *output = o.output;
                if (!output) {
                        pred_path = socfw_path_join_alloc(
                                dir, socfw_config_get_string(outc,
                                                             "predictions"));
                        output = pred_path;
                }
                socfw_chain *chain = output ? inference_chain(p, rt, NULL)
                                            : NULL;
                rc = chain ? predict_file(chain, input, output, o.text_field,
                                          cli_chain_reads_records(p, NULL))
                           : CLI_FAIL;
                socfw_chain_free(chain);
        }
        /* the run directory becomes self-contained */
        if (rc == CLI_OK && writer)
                rc = cli_package_finish(dir, o.pipeline, o.sets, o.n_sets,
                                        reg);
        if (rc == CLI_OK && writer &&
            socfw_log_get_level() >= SOCFW_LOG_LEVEL_INFO)
                fprintf(stderr, "socfw: done; results in %s\n", dir);
out:
        socfw_runtime_free(rt);
        if (own_dir)
                cli_remove_tree(own_dir);
        free(own_dir);
        free(pred_path);
        free(dir);
        socfw_pipeline_free(p);
        socfw_registry_free(reg);
        return rc;
}

/* A runtime over the run's checkpoint when there is one; NULL (and *rc =
 * CLI_OK) when the pipeline has no trained model, so the chain runs its
 * model-free stages only. */
static socfw_runtime *
runtime_for_inference(const socfw_pipeline *p, const char *pipeline_path,
                      int *rc)
{
        *rc = CLI_OK;
        char *dir = cli_output_dir(p, pipeline_path);
        char *ckpt = dir ? socfw_path_join_alloc(
                                   dir, "checkpoint/model.safetensors")
                         : NULL;
        struct stat st;
        socfw_runtime *rt = NULL;
        if (ckpt && stat(ckpt, &st) == 0) {
                socfw_error err = {0};
                socfw_runtime_options ro = {.output_dir = dir,
                                            .threads = cli_g.threads,
                                            .from_checkpoint = 1,
                                            .progress = print_progress};
                if (socfw_runtime_new(&rt, p, &ro, &err) < 0) {
                        cli_error(&err);
                        *rc = CLI_FAIL;
                }
        }
        free(ckpt);
        free(dir);
        return rt;
}

/* What predict, serve and evaluate work on: the pipeline (or run
 * directory) from the options, its task checked, and the runtime of its
 * trained run when there is one. */
typedef cli_inference inference;

/* Returns CLI_OK, or CLI_FAIL after printing the problem. */
static int
inference_open(inference *in, run_opts *o)
{
        memset(in, 0, sizeof *in);
        if (open_run_dir(o->pipeline, o, &in->keep, in->dir_set,
                         sizeof in->dir_set) < 0)
                return CLI_FAIL;
        in->reg = cli_registry(1);
        in->p = in->reg ? cli_load_pipeline(o->pipeline, o->sets, o->n_sets,
                                            in->reg)
                        : NULL;
        if (!in->p)
                return CLI_FAIL;
        if (o->task && socfw_pipeline_task_find(in->p, o->task) < 0) {
                cli_errorf("--task %s: %s has no such task", o->task,
                           o->pipeline);
                return CLI_FAIL;
        }
        int rc;
        in->rt = runtime_for_inference(in->p, o->pipeline, &rc);
        return rc;
}

static void
inference_close(inference *in)
{
        socfw_runtime_free(in->rt);
        socfw_pipeline_free(in->p);
        socfw_registry_free(in->reg);
        json_decref(in->keep);
}

int
cli_inference_open(cli_inference *in, const char *pipeline,
                   const char *const *sets, size_t n_sets)
{
        run_opts o;
        memset(&o, 0, sizeof o);
        o.pipeline = pipeline;
        if (n_sets > MAX_SETS / 2)
                n_sets = MAX_SETS / 2;
        for (size_t i = 0; i < n_sets; i++)
                o.sets[i] = sets[i];
        o.n_sets = n_sets;
        int rc = inference_open(in, &o);
        in->pipeline = o.pipeline;
        return rc;
}

void
cli_inference_close(cli_inference *in)
{
        inference_close(in);
}

socfw_chain *
cli_inference_chain(const socfw_pipeline *p, socfw_runtime *rt,
                    const char *task)
{
        return inference_chain(p, rt, task);
}

int
cli_cmd_predict(int argc, char **argv)
{
        run_opts o;
        inference in;
        int rc = parse_run_opts("predict", argc, argv, &o, 1);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        if (!o.input)
                return cli_usage("predict", "missing --input FILE.jsonl "
                                            "(- reads standard input)");
        rc = inference_open(&in, &o);
        socfw_chain *chain = rc == CLI_OK ? inference_chain(in.p, in.rt,
                                                            o.task)
                                          : NULL;
        if (chain)
                rc = predict_file(chain, o.input, o.output ? o.output : "-",
                                  o.text_field, cli_chain_reads_records(in.p, o.task));
        else
                rc = CLI_FAIL;
        socfw_chain_free(chain);
        inference_close(&in);
        return rc;
}

int
cli_cmd_evaluate(int argc, char **argv)
{
        run_opts o;
        inference in;
        int rc = parse_run_opts("evaluate", argc, argv, &o, 1);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        if (!o.input || !o.task)
                return cli_usage("evaluate", "needs --task NAME and --input "
                                             "FILE");
        rc = inference_open(&in, &o);
        char *report = NULL;
        socfw_error err = {0};
        if (rc == CLI_OK && !in.rt) {
                cli_errorf("%s has no trained model to evaluate (hint: "
                           "`socfw run` it first)",
                           o.pipeline);
                rc = CLI_FAIL;
        } else if (rc == CLI_OK &&
                   socfw_runtime_evaluate_file(in.rt, o.task, o.input,
                                               &report, &err) < 0) {
                cli_error(&err);
                rc = CLI_FAIL;
        } else if (rc == CLI_OK && report) {
                fputs(report, stdout);
        }
        free(report);
        inference_close(&in);
        return rc;
}
