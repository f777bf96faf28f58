/* main.c - the socfw program: global options and command dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "socfw/dist.h"
#include "socfw/log.h"
#include "socfw/plugin.h"
#include "socfw/threads.h"

cli_globals cli_g;

void
cli_error(const socfw_error *err)
{
        char buf[2048];
        fprintf(stderr, "%s: %s\n", cli_g.tag ? cli_g.tag : "socfw",
                socfw_error_string(err, buf, sizeof buf));
}

void
cli_errorf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", cli_g.tag ? cli_g.tag : "socfw");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("socfw: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        fprintf(stderr, "Try 'socfw help%s%s' for more information.\n",
                cmd ? " " : "", cmd ? cmd : "");
        return CLI_USAGE;
}

socfw_registry *
cli_registry(int warn)
{
        socfw_registry *reg = socfw_registry_new();
        if (!reg || socfw_registry_add_default_paths(reg, cli_g.plugin_path) < 0) {
                socfw_registry_free(reg);
                cli_errorf("out of memory");
                return NULL;
        }
        socfw_registry_scan(reg);
        if (warn)
                for (size_t i = 0; i < socfw_registry_problem_count(reg); i++)
                        fprintf(stderr, "socfw: warning: plugin skipped: %s\n",
                                socfw_registry_problem(reg, i));
        return reg;
}

static int
cmd_version(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        printf("socfw %s (plugin ABI %d.%d, pipeline schema %d, MPI %s)\n",
               PACKAGE_VERSION, SOCFW_ABI_MAJOR, SOCFW_ABI_MINOR, 1,
               socfw_dist_built_with_mpi() ? "yes" : "no");
        return CLI_OK;
}

typedef struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} command;

static const command commands[] = {
        {"run", cli_cmd_run, "run a pipeline: train, evaluate, predict"},
        {"init", cli_cmd_init, "write a complete, commented pipeline to "
                               "start from"},
        {"validate", cli_cmd_validate, "check a pipeline without running it"},
        {"inspect", cli_cmd_inspect, "list plugins and heads, or show one"},
        {"predict", cli_cmd_predict, "run a pipeline's chain over posts"},
        {"chat", cli_cmd_chat, "talk to a pipeline's dialog stage"},
        {"serve", cli_cmd_serve, "answer a pipeline's chain over HTTP"},
        {"monitor", cli_cmd_monitor, "follow sentiment per key and alert"},
        {"evaluate", cli_cmd_evaluate, "score a trained task on a file"},
        {"tokenize", cli_cmd_tokenize, "print the token ids of a text"},
        {"generate", cli_cmd_generate, "continue a prompt with a model"},
        {"logits", cli_cmd_logits, "print a model's output for token ids"},
        {"adapter", cli_cmd_adapter, "merge an adapter into its model, or "
                                     "inspect one"},
        {"export", cli_cmd_export, "copy a finished run into a "
                                   "self-contained directory"},
        {"perplexity", cli_cmd_perplexity, "a language model's perplexity "
                                           "on a text file"},
        {"quantize", cli_cmd_quantize, "write a model as a quantised GGUF "
                                       "file"},
        {"pull", cli_cmd_pull, "download a model from a hub into the cache"},
        {"version", cmd_version, "print the version"},
        {"help", cli_cmd_help, "show help for a command or topic"},
};

/* Edit distance (insertions, deletions, substitutions, and swaps of two
 * neighbours), for did-you-mean; long names give a large distance. */
static int
edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 31 || lb > 31)
                return 100;
        int d[32][32];
        for (size_t i = 0; i <= la; i++)
                d[i][0] = (int)i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = (int)j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
                        if (d[i - 1][j] + 1 < best)
                                best = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < best)
                                best = d[i][j - 1] + 1;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                            a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                                best = d[i - 2][j - 2] + 1;
                        d[i][j] = best;
                }
        return d[la][lb];
}

/* The command a mistyped name most likely meant: within two edits (one
 * for short names), or the only command it is a prefix of; NULL when none
 * stands out. */
static const char *
closest_command(const char *name)
{
        /* words other tools use for what socfw calls otherwise */
        static const char *const synonyms[][2] = {
                {"train", "run"},     {"fit", "run"},
                {"finetune", "run"},  {"infer", "predict"},
                {"classify", "predict"}, {"check", "validate"},
                {"server", "serve"},  {"download", "pull"},
                {"eval", "evaluate"}, {"package", "export"},
        };
        for (size_t i = 0; i < sizeof synonyms / sizeof synonyms[0]; i++)
                if (edit_distance(name, synonyms[i][0]) <= 1)
                        return synonyms[i][1];
        const char *best = NULL, *prefix_of = NULL;
        int bd = 100, n_prefix = 0;
        size_t len = strlen(name);
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
                int d = edit_distance(name, commands[i].name);
                if (d < bd) {
                        bd = d;
                        best = commands[i].name;
                }
                if (len >= 2 && !strncmp(commands[i].name, name, len)) {
                        prefix_of = commands[i].name;
                        n_prefix++;
                }
        }
        if (bd <= (len <= 4 ? 1 : 2))
                return best;
        return n_prefix == 1 ? prefix_of : NULL;
}

static int
run_command_line(int argc, char **argv)
{
        static const struct option opts[] = {
                {"plugin-path", required_argument, NULL, 'P'},
                {"threads", required_argument, NULL, 't'},
                {"verbose", no_argument, NULL, 'v'},
                {"quiet", no_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0, 0, 0, 0},
        };
        int c;
        /* global options stop at the command name */
        while ((c = getopt_long(argc, argv, "+P:t:vqhV", opts, NULL)) != -1) {
                switch (c) {
                case 'P':
                        cli_g.plugin_path = optarg;
                        break;
                case 't': {
                        char *end;
                        long v = strtol(optarg, &end, 10);
                        if (*end || v < 0 || v > 1024)
                                return cli_usage(NULL,
                                                 "--threads: expected a "
                                                 "number from 0 to 1024, got "
                                                 "'%s'",
                                                 optarg);
                        cli_g.threads = (int)v;
                        break;
                }
                case 'v':
                        socfw_log_set_level(SOCFW_LOG_LEVEL_DEBUG);
                        break;
                case 'q':
                        socfw_log_set_level(SOCFW_LOG_LEVEL_WARN);
                        break;
                case 'h':
                        return cli_print_help(stdout, NULL) == 0 ? CLI_OK
                                                                 : CLI_FAIL;
                case 'V':
                        return cmd_version(0, NULL);
                default:
                        return cli_usage(NULL, "unknown global option");
                }
        }
        if (optind >= argc) {
                cli_print_help(stderr, NULL);
                return CLI_USAGE;
        }
        if (cli_g.threads > 0)
                socfw_threads_set(cli_g.threads);
        int idx = optind;
        const char *name = argv[idx];
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
                if (strcmp(commands[i].name, name) == 0) {
                        int rc = cli_dist_only_run(name);
                        if (rc != CLI_OK)
                                return rc;
                        optind = 0; /* re-initialise getopt for the command */
                        return commands[i].fn(argc - idx, argv + idx);
                }
        }
        const char *near = closest_command(name);
        if (near)
                return cli_usage(NULL, "unknown command '%s'; did you mean "
                                       "'%s'?",
                                 name, near);
        return cli_usage(NULL, "unknown command '%s'", name);
}

int
main(int argc, char **argv)
{
        /* an MPI launcher's processes join first (mpirun -np N socfw run) */
        int rc = cli_dist_start(&argc, &argv);
        if (rc == CLI_OK)
                rc = run_command_line(argc, argv);
        return cli_dist_end(rc);
}

/* Used by `socfw help` to list the commands. */
void cli_list_commands(FILE *out);
void
cli_list_commands(FILE *out)
{
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                fprintf(out, "  %-10s %s\n", commands[i].name,
                        commands[i].summary);
}
