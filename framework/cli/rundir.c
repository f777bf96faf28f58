/* rundir.c - what the pipeline commands share: loading a pipeline with its
 * diagnostics, the output directory, and run directories (run.json). */
#define _GNU_SOURCE /* asprintf */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "socfw/io.h"

socfw_pipeline *
cli_load_pipeline(const char *path, const char *const *sets, size_t n_sets,
                  const socfw_registry *reg)
{
        socfw_error err = {0};
        socfw_pipeline *p = NULL;
        int rc = socfw_pipeline_load(&p, path, sets, n_sets, &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(p, reg, &err);
        if (rc < 0) {
                size_t n = socfw_pipeline_diag_count(p);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, "%s\n", socfw_pipeline_diag(p, i));
                if (n == 0)
                        cli_error(&err);
                else if (n > 1)
                        fprintf(stderr, "socfw: %zu problems in %s\n", n,
                                path);
                socfw_pipeline_free(p);
                return NULL;
        }
        return p;
}

char *
cli_output_dir(const socfw_pipeline *p, const char *pipeline_path)
{
        const char *dir = socfw_config_get_string(
                socfw_pipeline_section(p, "output"), "dir");
        if (dir)
                return strdup(dir);
        const char *base = socfw_path_basename(pipeline_path);
        size_t stem = strcspn(base, ".");
        char *out = NULL;
        if (asprintf(&out, "%s/runs/%.*s", socfw_pipeline_dir(p), (int)stem,
                     base) < 0)
                return NULL;
        return out;
}

int
cli_read_run_dir(const char *arg, json_t **doc, const char **pipeline,
                 json_t **overrides)
{
        *doc = NULL;
        if (!socfw_path_is_dir(arg))
                return 0;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/run.json", arg);
        json_error_t je;
        json_t *d = json_load_file(path, 0, &je);
        const char *pl = json_string_value(json_object_get(d, "pipeline"));
        json_t *sets = json_object_get(d, "overrides");
        if (!pl || !json_is_array(sets)) {
                cli_errorf("%s: not a socfw run directory (%s; hint: give "
                           "the directory `socfw run` wrote, or a pipeline "
                           "file)",
                           arg, d ? "run.json lacks 'pipeline'" : je.text);
                json_decref(d);
                return -1;
        }
        /* a finished run loads its own copy of the pipeline */
        int pkg = cli_package_open(arg, d, &pl, &sets);
        if (pkg < 0) {
                json_decref(d);
                return -1;
        }
        for (size_t i = 0; i < json_array_size(sets); i++)
                if (!json_is_string(json_array_get(sets, i))) {
                        cli_errorf("%s: overrides must be strings", path);
                        json_decref(d);
                        return -1;
                }
        *doc = d;
        *pipeline = pl;
        *overrides = sets;
        return 1;
}

static int
remove_one(const char *path, const struct stat *st, int flag,
           struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

void
cli_remove_tree(const char *path)
{
        if (path && *path)
                nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
cli_file_in(const char *dir, const char *rel)
{
        char path[PATH_MAX];
        return socfw_path_join(path, sizeof path, dir, rel) == 0 &&
               socfw_path_is_file(path);
}

int
cli_chain_reads_records(const socfw_pipeline *p, const char *task)
{
        size_t n = task ? 1 : socfw_pipeline_chain_len(p);
        for (size_t i = 0; i < n; i++) {
                const char *st = task ? task : socfw_pipeline_chain_stage(p, i);
                int t = socfw_pipeline_task_find(p, st);
                if (t < 0 || !socfw_registry_task_input(
                                     socfw_pipeline_task_plugin(p, (size_t)t)))
                        return 0; /* privacy, or a task reading posts */
        }
        return n > 0;
}
