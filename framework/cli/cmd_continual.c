/* cmd_continual.c - `socfw run PIPELINE --continue RUN --data NEW.jsonl`:
 * a new version of a task's adapter, trained from the current one on the
 * new data plus a replay sample of the old, promoted only when it passes
 * its gate (socfw/continual.h, socfw/adapter_store.h).
 *
 * The training runs in RUN/continual/<task>.work/ (a scratch output
 * directory over the run's backbone), so nothing the run serves changes
 * until the gate has decided; the work directory is removed afterwards.
 * Exit status: 0 promoted, 1 refused by the gate (the current version
 * keeps serving) or failed. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "socfw/adapter_store.h"
#include "socfw/continual.h"
#include "socfw/io.h"
#include "socfw/runtime.h"

#define MAX_OVERRIDES 160

static void
progress(const char *line, void *user)
{
        (void)user;
        fprintf(stderr, "socfw: %s\n", line);
}

/* The task's labels: what its run was trained with (checkpoint/meta.json),
 * else the pipeline's list.  *keep holds the strings. */
static size_t
task_labels(const char *run, const socfw_config *task_cfg, const char *task,
            const char **labels, size_t cap, json_t **keep)
{
        char path[PATH_MAX + 64];
        size_t n = 0;
        snprintf(path, sizeof path, "%s/checkpoint/meta.json", run);
        *keep = json_load_file(path, 0, NULL);
        json_t *arr = json_object_get(json_object_get(*keep, "labels"), task);
        for (size_t i = 0; i < json_array_size(arr) && n < cap; i++)
                if (json_string_value(json_array_get(arr, i)))
                        labels[n++] = json_string_value(json_array_get(arr, i));
        for (size_t i = 0; n == 0 && i < socfw_config_list_len(task_cfg,
                                                                "labels") &&
                           i < cap;
             i++)
                labels[i] = socfw_config_list_get(task_cfg, "labels", i);
        if (n == 0)
                n = socfw_config_list_len(task_cfg, "labels");
        return n > cap ? cap : n;
}

static json_t *
scores_json(const socfw_gate_scores *g)
{
        return json_pack("{s:s, s:{s:f, s:f, s:I}, s:{s:f, s:f, s:I}}",
                         "metric", g->metric, "gate", "current",
                         g->current_gate, "candidate", g->candidate_gate, "n",
                         (json_int_t)g->n_gate, "holdout", "current",
                         g->current_holdout, "candidate",
                         g->candidate_holdout, "n",
                         (json_int_t)g->n_holdout);
}

int
cli_continual_run(const char *pipeline, const char *run, const char *data,
                  const char *task, const char *const *sets, size_t n_sets)
{
        char abs_run[PATH_MAX], tdir[PATH_MAX + 64], work[PATH_MAX + 64];
        char train[PATH_MAX + 128], holdout[PATH_MAX + 128];
        char *ov[MAX_OVERRIDES] = {0};
        size_t n_ov = 0;
        socfw_error err = {0};
        socfw_registry *reg = NULL;
        socfw_pipeline *p0 = NULL, *p1 = NULL;
        socfw_runtime *rt = NULL;
        json_t *runjson = NULL, *keep_labels = NULL, *info = NULL,
               *metrics = NULL;
        char *cur_dir = NULL;
        int rc = CLI_FAIL, work_made = 0, lock_fd = -1;
        const char *rec_pipeline;
        json_t *rec_sets;
        if (n_sets + 16 > MAX_OVERRIDES)
                return cli_usage("run", "too many --set options");
        if (cli_read_run_dir(run, &runjson, &rec_pipeline, &rec_sets) <= 0) {
                if (!runjson)
                        cli_errorf("--continue %s: not a run directory "
                                   "(hint: the directory `socfw run` "
                                   "wrote, with run.json)",
                                   run);
                goto out;
        }
        if (!realpath(run, abs_run)) {
                cli_errorf("--continue %s: cannot resolve the path", run);
                goto out;
        }
        /* the pipeline as the run saw it, then the command line's --set */
        for (size_t i = 0; i < json_array_size(rec_sets); i++)
                ov[n_ov++] = strdup(json_string_value(
                        json_array_get(rec_sets, i)));
        for (size_t i = 0; i < n_sets; i++)
                ov[n_ov++] = strdup(sets[i]);
        if (asprintf(&ov[n_ov++], "output.dir=%s", abs_run) < 0)
                ov[n_ov - 1] = NULL;
        for (size_t i = 0; i < n_ov; i++)
                if (!ov[i]) {
                        cli_errorf("out of memory");
                        goto out;
                }
        reg = cli_registry(1);
        p0 = reg ? cli_load_pipeline(pipeline, (const char *const *)ov,
                                     n_ov, reg)
                 : NULL;
        if (!p0)
                goto out;
        socfw_continual_settings s;
        if (socfw_continual_settings_read(p0, task, data, &s, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        int ti = socfw_pipeline_task_find(p0, s.task);
        const socfw_config *tcfg = socfw_pipeline_task(p0, (size_t)ti);
        snprintf(tdir, sizeof tdir, "%s/adapters/%s", abs_run, s.task);
        if (!cli_file_in(tdir, "adapter_config.json") ||
            !cli_file_in(tdir, "head.safetensors")) {
                cli_errorf("%s: no trained adapter of task '%s' (hint: "
                           "`socfw run %s` trains it first)",
                           tdir, s.task, pipeline);
                goto out;
        }
        /* the data: labels known, gate set disjoint, held-out part and
         * replay sample, before anything is trained or stored */
        const char *labels[256];
        size_t n_labels = task_labels(abs_run, tcfg, s.task, labels, 256,
                                      &keep_labels);
        /* one continued run of a task at a time: they share its work
         * directory and its next version number */
        char lock[PATH_MAX + 128];
        snprintf(work, sizeof work, "%s/continual", abs_run);
        snprintf(lock, sizeof lock, "%s/%s.lock", work, s.task);
        if (socfw_dir_make(work, 0755, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
                cli_errorf("%s: %s (hint: another continued run of task "
                           "'%s' is in progress; wait for it)",
                           lock, lock_fd < 0 ? strerror(errno) : "locked",
                           s.task);
                goto out;
        }
        snprintf(work, sizeof work, "%s/continual/%s.work", abs_run, s.task);
        cli_remove_tree(work);
        if (socfw_dir_make(work, 0755, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        work_made = 1;
        snprintf(train, sizeof train, "%s/train.jsonl", work);
        snprintf(holdout, sizeof holdout, "%s/holdout.jsonl", work);
        socfw_continual_data d;
        if (socfw_continual_prepare(&s, tcfg, n_labels ? labels : NULL,
                                    n_labels, train, holdout, &d,
                                    &err) < 0) {
                cli_error(&err);
                goto out;
        }
        fprintf(stderr, "socfw: continuing task %s on %s: %zu rows (%zu "
                "train, %zu held out) + %zu replayed from %s; gate set %s\n",
                s.task, s.data, d.n_new, d.n_train, d.n_holdout, d.n_replay,
                s.old_data ? s.old_data : "-", s.gate);
        /* the store: the run's own adapter becomes v1 */
        info = json_pack("{s:s, s:s}", "data", s.old_data ? s.old_data : "",
                         "source", "socfw run");
        int cur = 0;
        if (socfw_adapter_store_adopt(tdir, info, &cur, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        cur_dir = socfw_adapter_store_version_dir(tdir, cur);
        /* train: a scratch output directory over the run's backbone,
         * the task started from the current version */
        size_t n_base = n_ov - 1;       /* without output.dir */
        n_ov = n_base;
        char *extra[10] = {0};
        size_t n_extra = 0;
        int ok = asprintf(&extra[n_extra++], "output.dir=%s/out", work) >= 0 &&
                 asprintf(&extra[n_extra++], "tasks.%s.data.train=%s",
                          s.task, train) >= 0 &&
                 asprintf(&extra[n_extra++], "tasks.%s.data.valid=%s",
                          s.task, holdout) >= 0 &&
                 asprintf(&extra[n_extra++], "tasks.%s.data.max_rows=0",
                          s.task) >= 0 &&
                 asprintf(&extra[n_extra++], "tasks.%s.adapter.from=%s",
                          s.task, cur_dir) >= 0 &&
                 /* the gate compares versions, not a TF-IDF model */
                 asprintf(&extra[n_extra++], "evaluate.baseline=false") >= 0;
        if (ok && cli_file_in(abs_run, "backbone/config.json"))
                ok = asprintf(&extra[n_extra++], "backbone.model=%s/backbone",
                              abs_run) >= 0 &&
                     asprintf(&extra[n_extra++], "pretrain.steps=0") >= 0;
        for (size_t i = 0; i < n_extra; i++) {
                free(ov[n_ov]);
                ov[n_ov++] = extra[i];
        }
        if (!ok) {
                cli_errorf("out of memory");
                goto out;
        }
        p1 = cli_load_pipeline(pipeline, (const char *const *)ov, n_ov, reg);
        if (!p1)
                goto out;
        char outdir[PATH_MAX + 128];
        snprintf(outdir, sizeof outdir, "%s/out", work);
        if (socfw_dir_make(outdir, 0755, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        socfw_runtime_options ro = {.output_dir = outdir,
                                    .threads = cli_g.threads,
                                    .progress = progress,
                                    .only_task = s.task};
        socfw_gate_scores g;
        if (socfw_runtime_new(&rt, p1, &ro, &err) < 0 ||
            socfw_runtime_train(rt, &err) < 0 ||
            socfw_runtime_continual_gate(rt, &s, holdout, cur_dir, &g,
                                         &err) < 0) {
                cli_error(&err);
                goto out;
        }
        char why[1024];
        int pass = socfw_continual_decide(&g, s.tolerance, s.min_gain, why,
                                          sizeof why);
        metrics = json_pack(
                "{s:s, s:i, s:o, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, "
                "s:I}, s:{s:f, s:f, s:f, s:f, s:f, s:I}}",
                "decision", pass ? "promoted" : "refused", "parent", cur,
                "scores", scores_json(&g), "reasons", why, "data", s.data,
                "data_fingerprint", d.fingerprint, "gate_fingerprint",
                d.gate_fingerprint, "rows", "new", (json_int_t)d.n_new,
                "train", (json_int_t)d.n_train, "holdout",
                (json_int_t)d.n_holdout, "replay", (json_int_t)d.n_replay,
                "replay_pool", (json_int_t)d.n_old, "settings", "replay",
                s.replay, "holdout", s.holdout, "tolerance", s.tolerance,
                "min_gain", s.min_gain, "l2_sp", s.l2_sp, "seed",
                (json_int_t)s.seed);
        if (metrics)
                json_object_set_new(metrics, "gate", json_string(s.gate));
        char src[2 * PATH_MAX];
        snprintf(src, sizeof src, "%s/adapters/%s", outdir, s.task);
        int v = 0;
        if (!metrics) {
                cli_errorf("out of memory");
                goto out;
        }
        if (socfw_adapter_store_add(tdir, src, metrics, &v, &err) < 0 ||
            (pass && socfw_adapter_store_promote(tdir, v, why, &err) < 0)) {
                cli_error(&err);
                goto out;
        }
        if (pass && cli_package_refresh(abs_run) != CLI_OK)
                goto out;
        if (pass) {
                printf("task %s: version %d promoted (was %d): %s\n", s.task,
                       v, cur, why);
                rc = CLI_OK;
        } else {
                printf("task %s: version %d refused, version %d stays "
                       "current: %s\n",
                       s.task, v, cur, why);
                fprintf(stderr, "socfw: hint: `socfw adapter promote %s "
                        "--task %s --version %d` promotes it anyway\n",
                        run, s.task, v);
        }
out:
        socfw_runtime_free(rt);
        if (work_made)
                cli_remove_tree(work);
        if (lock_fd >= 0)
                close(lock_fd);         /* releases the lock */
        for (size_t i = 0; i < MAX_OVERRIDES; i++)
                free(ov[i]);
        free(cur_dir);
        json_decref(metrics);
        json_decref(info);
        json_decref(keep_labels);
        json_decref(runjson);
        socfw_pipeline_free(p1);
        socfw_pipeline_free(p0);
        socfw_registry_free(reg);
        return rc;
}
