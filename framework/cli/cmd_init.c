/* cmd_init.c - `socfw init [--task PLUGIN]... [--output FILE]`: a complete,
 * commented pipeline to start from.  It validates as written; the lines to
 * change first (the data, the backbone) say so.  Each task lists its
 * plugin's and its head's keys with their defaults as comments, taken from
 * the installed plugins' specs, so the text matches what validate checks.
 */
#define _GNU_SOURCE /* open_memstream */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "socfw/io.h"

#define MAX_TASKS 16

/* "# key: default  - help" lines for every spec with a default; help is
 * cut at its first sentence. */
static void
spec_comments(FILE *f, const socfw_param_spec *specs, const char *indent,
              const char *prefix)
{
        for (const socfw_param_spec *s = specs; s && s->key; s++) {
                if (!strcmp(s->key, "type"))
                        continue;
                const char *help = s->help ? s->help : "";
                size_t n = strcspn(help, ".;");
                if (n > 60)
                        n = 60;
                fprintf(f, "%s# %s%s: %s", indent, prefix, s->key,
                        s->default_value ? s->default_value : "");
                if (n)
                        fprintf(f, "  (%.*s%s)", (int)n, help,
                                help[n] && help[n] != '.' && help[n] != ';'
                                        ? "..."
                                        : "");
                fputc('\n', f);
        }
}

/* What a task's data rows look like, by plugin. */
static const char *
data_shape(const char *plugin)
{
        static const struct {
                const char *plugin, *shape;
        } shapes[] = {
                {"sentiment", "{\"text\": \"...\", \"label\": \"positive\"}"},
                {"nlu", "{\"text\": \"...\", \"intent\": \"...\", "
                        "\"slots\": [...]}  (socfw inspect nlu)"},
                {"dialog", "{\"context\": [...], \"reply\": \"...\"}  "
                           "(socfw inspect dialog)"},
                {"adcopy", "{\"category\": ..., \"advertiser\": ..., "
                           "\"product\": ..., \"copy\": ...}"},
                {"recommend", "interactions {\"user\": ..., \"item\": ...}"},
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
                if (!strcmp(shapes[i].plugin, plugin))
                        return shapes[i].shape;
        return "one record per line; see `socfw inspect` for the plugin";
}

static void
write_task(FILE *f, const socfw_registry *reg, const socfw_plugin *pl,
           const char *name)
{
        fprintf(f, "  # %s\n", pl->description);
        fprintf(f, "  - name: %s\n    plugin: %s\n", name, pl->name);
        const socfw_plugin *head = pl->default_head
                                           ? socfw_registry_find(
                                                     reg, pl->default_head,
                                                     SOCFW_PLUGIN_HEAD)
                                           : NULL;
        if (head) {
                fprintf(f, "    head:\n      type: %s   # the output layer "
                           "(socfw inspect %s)\n",
                        head->name, head->name);
                spec_comments(f, head->params, "      ", "");
        }
        if (!strcmp(pl->name, "sentiment"))
                fputs("    labels: [negative, neutral, positive]   # in "
                      "this order; without it they are\n"
                      "                                            # "
                      "inferred from data.train\n",
                      f);
        else if (head && socfw_registry_head_target(head) ==
                                 SOCFW_TARGET_CLASS)
                fputs("    # labels: [a, b, c]   # inferred from data.train "
                      "when absent\n",
                      f);
        if (head) {
                fprintf(f, "    # 1. Point these at your data (JSON Lines, "
                           "CSV or TSV), then remove the #:\n"
                           "    #    rows look like %s\n"
                           "    # data:\n"
                           "    #   train: data/%s-train.jsonl\n"
                           "    #   valid: data/%s-valid.jsonl   # model "
                           "selection, early stopping\n"
                           "    #   test: data/%s-test.jsonl     # the final "
                           "report\n"
                           "    #   text_field: text\n"
                           "    #   label_field: label\n",
                        data_shape(pl->name), name, name, name);
                fputs("    # adapter: {type: lora, rank: 8}   # train a "
                      "small adapter instead of the backbone\n",
                      f);
        }
        if (pl->params && pl->params[0].key) {
                fprintf(f, "    # The plugin's own keys, with their "
                           "defaults:\n");
                spec_comments(f, pl->params, "    ", "");
        }
}

static int
write_pipeline(FILE *f, const socfw_registry *reg, const char *const *names,
               size_t n)
{
        int privacy = 0;
        const socfw_plugin *pls[MAX_TASKS];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                if (!strcmp(names[i], "privacy")) {
                        privacy = 1;
                        continue;
                }
                pls[m++] = socfw_registry_find(reg, names[i],
                                               SOCFW_PLUGIN_TASK);
        }
        const socfw_plugin *pp = socfw_registry_find(reg, "privacy",
                                                     SOCFW_PLUGIN_TASK);
        /* personal data is masked unless the user removes the stage */
        privacy = pp != NULL;
        fputs("# A socfw pipeline, written by `socfw init`.\n"
              "#   socfw validate THIS.yaml    check every key and the data\n"
              "#   socfw run THIS.yaml         train, evaluate, predict\n"
              "#   socfw predict runs/THIS --input posts.jsonl\n"
              "# `socfw help pipeline` lists every key; `socfw inspect "
              "PLUGIN` a plugin's.\n"
              "# Paths are relative to this file.\n"
              "socfw: 1\n\n",
              f);
        fputs("# The transformer every task shares.  Either load a trained "
              "one:\n"
              "#   model: path/to/hf-dir | model.gguf | hub:ORG/NAME (after "
              "`socfw pull ORG/NAME`)\n"
              "# or let socfw build this architecture and pretrain it on "
              "pretrain.corpus\n"
              "# plus the tasks' training texts (what the lines below do).\n"
              "backbone:\n"
              "  # model: hub:ORG/NAME\n"
              "  arch: gpt2            # gpt2, llama, bert, roberta\n"
              "  hidden: 128\n"
              "  layers: 4\n"
              "  heads: 4\n"
              "  max_positions: 128\n"
              "  max_seq_len: 128      # longer posts are truncated "
              "(backbone.truncation)\n"
              "  dropout: 0.1\n"
              "  # freeze: none        # none, all, top_layers\n\n"
              "pretrain:               # only when socfw builds the "
              "backbone\n"
              "  # corpus: [data/corpus.txt]   # plain text, one post per "
              "line\n"
              "  steps: 300\n"
              "  batch_size: 16\n"
              "  tokenizer: {vocab_size: 2000}\n\n",
              f);
        fputs("tasks:\n", f);
        if (m == 0)
                fputs("  []   # add tasks: socfw init --task sentiment\n", f);
        for (size_t i = 0; i < m; i++) {
                char name[64];
                size_t same = 0;
                for (size_t k = 0; k < i; k++)
                        same += pls[k] == pls[i];
                if (same)
                        snprintf(name, sizeof name, "%s%zu", pls[i]->name,
                                 same + 1);
                else
                        snprintf(name, sizeof name, "%s", pls[i]->name);
                write_task(f, reg, pls[i], name);
                if (i + 1 < m)
                        fputc('\n', f);
        }
        fputs("\ntrain:\n"
              "  lr: 1.0e-3\n"
              "  epochs: 3\n"
              "  batch_size: 32\n"
              "  seed: 42\n"
              "  # early_stopping: {metric: TASK.valid.macro_f1, patience: "
              "2}\n"
              "  # on_bad_row: error   # or skip: log and count bad rows\n\n"
              "evaluate:\n"
              "  splits: [valid, test]\n\n",
              f);
        if (privacy && pp) {
                fputs("# Personal data found in posts is replaced by type "
                      "tags, before training\n"
                      "# and in the chain (socfw inspect privacy).\n"
                      "privacy:\n"
                      "  entities: [EMAIL_ADDRESS, PHONE_NUMBER, "
                      "CREDIT_CARD, IBAN_CODE, IP_ADDRESS, URL]\n"
                      "  operator: replace\n\n",
                      f);
        }
        fputs("# What predict, serve and chat run on each post, in order.\n"
              "chain: [",
              f);
        const char *sep = "";
        if (privacy && pp) {
                fputs("privacy", f);
                sep = ", ";
        }
        for (size_t i = 0; i < m; i++) {
                size_t same = 0;
                for (size_t k = 0; k < i; k++)
                        same += pls[k] == pls[i];
                if (same)
                        fprintf(f, "%s%s%zu", sep, pls[i]->name, same + 1);
                else
                        fprintf(f, "%s%s", sep, pls[i]->name);
                sep = ", ";
        }
        fputs("]\n\noutput:\n"
              "  # dir: runs/NAME      # default: runs/<this file's name> "
              "beside it\n"
              "  # input: data/posts.jsonl   # posts `socfw run` passes "
              "through the chain\n",
              f);
        return 0;
}

int
cli_cmd_init(int argc, char **argv)
{
        static const struct option opts[] = {
                {"task", required_argument, NULL, 'T'},
                {"output", required_argument, NULL, 'o'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *tasks[MAX_TASKS], *output = NULL;
        size_t n = 0;
        int c;
        while ((c = getopt_long(argc, argv, "T:o:h", opts, NULL)) != -1) {
                switch (c) {
                case 'T':
                        if (n == MAX_TASKS)
                                return cli_usage("init", "too many --task "
                                                         "options");
                        tasks[n++] = optarg;
                        break;
                case 'o':
                        output = optarg;
                        break;
                case 'h':
                        cli_print_help(stdout, "init");
                        return CLI_OK;
                default:
                        return cli_usage("init", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage("init", "unexpected argument '%s' (hint: "
                                         "--output FILE)",
                                 argv[optind]);
        socfw_registry *reg = cli_registry(1);
        if (!reg)
                return CLI_FAIL;
        int rc = CLI_OK;
        if (n == 0)
                tasks[n++] = "sentiment";
        for (size_t i = 0; i < n && rc == CLI_OK; i++) {
                if (!strcmp(tasks[i], "privacy") ||
                    socfw_registry_find(reg, tasks[i], SOCFW_PLUGIN_TASK))
                        continue;
                cli_errorf("--task %s: no task plugin of that name (hint: "
                           "`socfw inspect` lists them)",
                           tasks[i]);
                rc = CLI_FAIL;
        }
        struct stat st;
        if (rc == CLI_OK && output && stat(output, &st) == 0) {
                cli_errorf("%s already exists; not replacing it (hint: "
                           "choose another --output)",
                           output);
                rc = CLI_FAIL;
        }
        char *text = NULL;
        size_t len = 0;
        FILE *f = rc == CLI_OK ? open_memstream(&text, &len) : NULL;
        if (rc == CLI_OK && !f) {
                cli_errorf("out of memory");
                rc = CLI_FAIL;
        }
        if (f) {
                write_pipeline(f, reg, tasks, n);
                if (fclose(f) != 0 || !text) {
                        cli_errorf("out of memory");
                        rc = CLI_FAIL;
                }
        }
        if (rc == CLI_OK && output) {
                socfw_error err = {0};
                if (socfw_file_write_atomic(output, text, len, &err) < 0) {
                        cli_error(&err);
                        rc = CLI_FAIL;
                } else {
                        fprintf(stderr, "socfw: wrote %s; check it with "
                                        "`socfw validate %s`\n",
                                output, output);
                }
        } else if (rc == CLI_OK) {
                fputs(text, stdout);
        }
        free(text);
        socfw_registry_free(reg);
        return rc;
}
