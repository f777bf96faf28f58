/* cmd_pull.c - `socfw pull ORG/NAME`: the one command that downloads
 * (socfw/hub.h does the work). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "socfw/hub.h"

typedef struct progress {
        int tty;
        char file[256];
        int printed;
} progress;

static void
show(void *user, const char *file, uint64_t done, uint64_t total)
{
        progress *p = user;
        if (!p->tty)
                return;
        if (strcmp(p->file, file) != 0) {
                if (p->printed)
                        fputc('\n', stderr);
                snprintf(p->file, sizeof p->file, "%s", file);
        }
        if (total)
                fprintf(stderr, "\r%s: %.1f / %.1f MB (%d%%)", file,
                        done / 1e6, total / 1e6, (int)(100.0 * done / total));
        else
                fprintf(stderr, "\r%s: %.1f MB", file, done / 1e6);
        p->printed = 1;
}

int
cli_cmd_pull(int argc, char **argv)
{
        static const struct option opts[] = {
                {"revision", required_argument, NULL, 'r'},
                {"file", required_argument, NULL, 'f'},
                {"endpoint", required_argument, NULL, 'e'},
                {"cache-dir", required_argument, NULL, 'c'},
                {"token", required_argument, NULL, 'k'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        socfw_hub_options o = {0};
        const char **files = calloc((size_t)argc + 1, sizeof *files);
        size_t n_files = 0;
        int c;
        if (!files) {
                cli_errorf("out of memory");
                return CLI_FAIL;
        }
        while ((c = getopt_long(argc, argv, "r:f:e:c:k:h", opts, NULL)) !=
               -1) {
                switch (c) {
                case 'r': o.revision = optarg; break;
                case 'f': files[n_files++] = optarg; break;
                case 'e': o.endpoint = optarg; break;
                case 'c': o.cache_dir = optarg; break;
                case 'k': o.token = optarg; break;
                case 'h':
                        cli_print_help(stdout, "pull");
                        free(files);
                        return CLI_OK;
                default:
                        free(files);
                        return cli_usage("pull", "bad option");
                }
        }
        if (optind + 1 != argc) {
                free(files);
                return cli_usage("pull", optind >= argc
                                                 ? "missing ORG/NAME"
                                                 : "one repository at a time");
        }
        o.files = n_files ? files : NULL;
        progress pr = {.tty = isatty(STDERR_FILENO)};
        o.progress = show;
        o.progress_user = &pr;
        socfw_error err = {0};
        char *path = NULL;
        int rc = socfw_hub_pull(argv[optind], &o, &path, &err);
        if (pr.printed)
                fputc('\n', stderr);
        free(files);
        if (rc < 0) {
                cli_error(&err);
                return CLI_FAIL;
        }
        printf("%s\n", path);
        free(path);
        return CLI_OK;
}
