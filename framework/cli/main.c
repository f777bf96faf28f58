/* main.c - the socfw program: global options and command dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"
#include "socfw/log.h"
#include "socfw/plugin.h"
#include "socfw/threads.h"

cli_globals cli_g;

void
cli_error(const socfw_error *err)
{
        char buf[2048];
        fprintf(stderr, "socfw: %s\n", socfw_error_string(err, buf, sizeof buf));
}

void
cli_errorf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("socfw: ", stderr);
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
        printf("socfw %s (plugin ABI %d.%d, pipeline schema %d)\n",
               PACKAGE_VERSION, SOCFW_ABI_MAJOR, SOCFW_ABI_MINOR, 1);
        return CLI_OK;
}

typedef struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} command;

static const command commands[] = {
        {"run", cli_cmd_run, "run a pipeline: train, evaluate, predict"},
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
        {"pull", cli_cmd_pull, "download a model from a hub into the cache"},
        {"version", cmd_version, "print the version"},
        {"help", cli_cmd_help, "show help for a command or topic"},
};

int
main(int argc, char **argv)
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
                        optind = 0; /* re-initialise getopt for the command */
                        return commands[i].fn(argc - idx, argv + idx);
                }
        }
        return cli_usage(NULL, "unknown command '%s'", name);
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
