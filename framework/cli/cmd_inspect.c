/* cmd_inspect.c - `socfw inspect [NAME]`: what plugins and heads are
 * installed, and the parameters one of them takes (like gst-inspect). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/param.h"

void cli_print_specs(FILE *out, const socfw_param_spec *specs,
                     const char *indent);

void
cli_print_specs(FILE *out, const socfw_param_spec *specs, const char *indent)
{
        if (!specs || !specs[0].key) {
                fprintf(out, "%s(none)\n", indent);
                return;
        }
        for (const socfw_param_spec *s = specs; s->key; s++) {
                char desc[512];
                socfw_param_describe(s, desc, sizeof desc);
                fprintf(out, "%s%-26s %-7s %s%s%s%s\n", indent, s->key,
                        socfw_param_type_name(s->type),
                        (s->flags & SOCFW_PARAM_REQUIRED) ? "required"
                                                          : "default: ",
                        (s->flags & SOCFW_PARAM_REQUIRED)
                                ? ""
                                : (s->default_value ? s->default_value
                                                    : "(none)"),
                        (s->flags & SOCFW_PARAM_MUST_EXIST) ? ", must exist"
                                                            : "",
                        "");
                fprintf(out, "%s    %s\n", indent, s->help ? s->help : "");
                if (s->type == SOCFW_PARAM_INT || s->type == SOCFW_PARAM_FLOAT ||
                    s->type == SOCFW_PARAM_ENUM ||
                    (s->type == SOCFW_PARAM_LIST && s->choices))
                        fprintf(out, "%s    accepts %s\n", indent, desc);
        }
}

static void
print_hooks(const socfw_plugin *d)
{
        printf("  %-13s", "Hooks");
        const char *sep = "";
        if (d->kind == SOCFW_PLUGIN_TASK) {
                const struct {
                        const void *fn;
                        const char *name;
                } h[] = {
                        {(const void *)d->task->create, "create"},
                        {(const void *)d->task->parse_example, "parse_example"},
                        {(const void *)d->task->predict, "predict"},
                        {(const void *)d->task->evaluate, "evaluate"},
                };
                for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
                        if (h[i].fn) {
                                printf("%s%s", sep, h[i].name);
                                sep = ", ";
                        }
        } else {
                const struct {
                        const void *fn;
                        const char *name;
                } h[] = {
                        {(const void *)d->head->create, "create"},
                        {(const void *)d->head->forward, "forward"},
                        {(const void *)d->head->loss, "loss"},
                        {(const void *)d->head->backward, "backward"},
                };
                for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
                        if (h[i].fn) {
                                printf("%s%s", sep, h[i].name);
                                sep = ", ";
                        }
        }
        printf("\n");
}

/* What a head learns from, as `socfw inspect` says it. */
static const char *
target_name(socfw_target_kind k)
{
        switch (k) {
        case SOCFW_TARGET_CLASS: return "class (one class per example)";
        case SOCFW_TARGET_MULTI_LABEL: return "multi-label (0/1 per class)";
        case SOCFW_TARGET_TAGS: return "tags (one tag per word)";
        case SOCFW_TARGET_TOKENS: return "tokens (next-token ids)";
        case SOCFW_TARGET_SCORE: return "score (query/item pairs)";
        default: return "unknown";
        }
}

static void
print_details(const socfw_plugin *d, const char *file,
              const socfw_registry *reg)
{
        printf("Plugin Details:\n");
        printf("  %-13s%s\n", "Name", d->name);
        printf("  %-13s%s\n", "Kind", socfw_plugin_kind_name(d->kind));
        printf("  %-13s%s\n", "Description", d->description);
        printf("  %-13s%s\n", "Version", d->version);
        printf("  %-13s%s\n", "License", d->license ? d->license : "unknown");
        if (d->author)
                printf("  %-13s%s\n", "Author", d->author);
        printf("  %-13s%u.%u\n", "ABI", d->abi_major, d->abi_minor);
        printf("  %-13s%s\n", "File", file);
        if (d->kind == SOCFW_PLUGIN_HEAD)
                printf("  %-13s%s\n", "Target", target_name(d->target));
        if (d->kind == SOCFW_PLUGIN_TASK) {
                printf("  %-13s%s\n", "Default head",
                       d->default_head ? d->default_head : "(none)");
                const char *in = socfw_registry_task_input(d);
                printf("  %-13s%s\n", "Input",
                       in ? in : "a post {\"text\": ...}");
        }
        print_hooks(d);
        printf("\n%s:\n", d->kind == SOCFW_PLUGIN_TASK
                                  ? "Parameters (keys of the task; every task "
                                    "also takes name, plugin, head, loss, "
                                    "weight, labels and data.*)"
                                  : "Parameters (keys of head:)");
        cli_print_specs(stdout, d->params, "  ");
        if (d->kind == SOCFW_PLUGIN_HEAD) {
                printf("\nLoss parameters (keys of loss:):\n");
                cli_print_specs(stdout, d->loss_params, "  ");
        }
        /* a task's default head: the keys of its head: and loss: too */
        const socfw_plugin *h = d->kind == SOCFW_PLUGIN_TASK &&
                                                d->default_head
                                        ? socfw_registry_find(
                                                  reg, d->default_head,
                                                  SOCFW_PLUGIN_HEAD)
                                        : NULL;
        if (h) {
                printf("\nHead parameters (keys of head:, default head "
                       "'%s'; `socfw inspect HEAD` for another):\n",
                       h->name);
                cli_print_specs(stdout, h->params, "  ");
                printf("\nLoss parameters (keys of loss:):\n");
                cli_print_specs(stdout, h->loss_params, "  ");
        } else if (d->kind == SOCFW_PLUGIN_TASK && d->default_head) {
                printf("\nHead '%s' not found on the plugin path.\n",
                       d->default_head);
        }
}

int
cli_cmd_inspect(int argc, char **argv)
{
        static const struct option opts[] = {
                {"plugin-path", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        int c;
        while ((c = getopt_long(argc, argv, "P:h", opts, NULL)) != -1) {
                switch (c) {
                case 'P':
                        cli_g.plugin_path = optarg;
                        break;
                case 'h':
                        cli_print_help(stdout, "inspect");
                        return CLI_OK;
                default:
                        return cli_usage("inspect", "bad option");
                }
        }
        if (optind + 1 < argc)
                return cli_usage("inspect", "expected at most one name");
        socfw_registry *reg = cli_registry(1);
        if (!reg)
                return CLI_FAIL;
        int rc = CLI_OK;
        if (optind < argc) {
                const char *name = argv[optind];
                size_t i = 0, n = socfw_registry_count(reg);
                for (; i < n; i++)
                        if (strcmp(socfw_registry_get(reg, i)->name, name) ==
                            0)
                                break;
                if (i == n) {
                        cli_errorf("no plugin or head named '%s' (hint: "
                                   "`socfw inspect` lists them; searched %zu "
                                   "director%s)",
                                   name, socfw_registry_path_count(reg),
                                   socfw_registry_path_count(reg) == 1
                                           ? "y"
                                           : "ies");
                        rc = CLI_FAIL;
                } else {
                        print_details(socfw_registry_get(reg, i),
                                      socfw_registry_file(reg, i), reg);
                }
        } else {
                size_t counts[3] = {0};
                const int kinds[2] = {SOCFW_PLUGIN_TASK, SOCFW_PLUGIN_HEAD};
                const char *titles[2] = {"Task plugins", "Heads"};
                for (int k = 0; k < 2; k++) {
                        printf("%s:\n", titles[k]);
                        for (size_t i = 0; i < socfw_registry_count(reg);
                             i++) {
                                const socfw_plugin *d =
                                        socfw_registry_get(reg, i);
                                if ((int)d->kind != kinds[k])
                                        continue;
                                counts[k]++;
                                printf("  %-14s %-8s %s\n", d->name,
                                       d->version, d->description);
                        }
                        if (!counts[k])
                                printf("  (none found)\n");
                        printf("\n");
                }
                printf("%zu task plugin%s, %zu head%s",
                       counts[0], counts[0] == 1 ? "" : "s", counts[1],
                       counts[1] == 1 ? "" : "s");
                if (socfw_registry_problem_count(reg))
                        printf(", %zu module%s skipped (see above)",
                               socfw_registry_problem_count(reg),
                               socfw_registry_problem_count(reg) == 1 ? ""
                                                                      : "s");
                printf("\n");
                if (socfw_registry_count(reg) == 0)
                        fprintf(stderr,
                                "socfw: hint: no plugins found; searched:\n");
                for (size_t i = 0; socfw_registry_count(reg) == 0 &&
                                   i < socfw_registry_path_count(reg);
                     i++)
                        fprintf(stderr, "  %s\n", socfw_registry_path(reg, i));
        }
        socfw_registry_free(reg);
        return rc;
}
