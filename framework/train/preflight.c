/* preflight.c - what would stop a run, found before it pretrains or loads
 * anything (socfw_runtime_preflight): `socfw validate` runs the same
 * checks, so a pipeline that validates gets past the run's setup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_impl.h"
#include "core/task_impl.h"
#include "runtime_impl.h"

static void
quiet(const char *line, void *user)
{
        (void)line;
        (void)user;
}

static int
stop_after(void *arg, const struct example_item *it, socfw_error *perr)
{
        size_t *n = arg;
        (void)it;
        (void)perr;
        return ++*n >= SOCFW_PREFLIGHT_ROWS ? 1 : 0;
}

/* Every file of pretrain.<key> (corpus, valid: files[0..n)) can be
 * read. */
static int
check_pretrain_files(const socfw_pipeline *p, const rt_pretrain_settings *ps,
                     const char *key, const char *const *files, size_t n,
                     socfw_error *err)
{
        if (ps->steps <= 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char *path = socfw_config_join_path(socfw_pipeline_dir(p),
                                                    files[i]);
                if (!path)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                FILE *f = fopen(path, "rb");
                int e = errno;
                if (f) {
                        fclose(f);
                        free(path);
                        continue;
                }
                int rc = socfw_error_set_at(
                        err, SOCFW_EIO, socfw_config_file(ps->section),
                        socfw_config_line(ps->section, key),
                        socfw_config_column(ps->section, key),
                        "pretrain.%s: cannot read %s: %s (hint: paths "
                        "are relative to the pipeline file)",
                        key, path, strerror(e));
                free(path);
                return rc;
        }
        return 0;
}

/* Labels as training sets them up, then the first rows of each split. */
static int
check_task_data(const socfw_pipeline *p, size_t i, socfw_error *err)
{
        static const char *const splits[] = {"train", "valid", "test"};
        rt_task t = {0};
        t.cfg = socfw_pipeline_task(p, i);
        t.plugin = socfw_pipeline_task_plugin(p, i);
        t.head = socfw_pipeline_task_head(p, i);
        t.head_cfg = socfw_pipeline_task_head_config(p, i);
        t.loss_cfg = socfw_pipeline_task_loss_config(p, i);
        rt_task_settings_read(&t.set, t.cfg, t.head_cfg, t.loss_cfg);
        const char *const paths[] = {t.set.data_train, t.set.data_valid,
                                     t.set.data_test};
        int any = paths[0] || paths[1] || paths[2];
        if (!any || !t.head || !t.plugin || !t.plugin->task->parse_example)
                return 0; /* nothing read, or refused later with a reason */
        socfw_runtime rt = {.p = p, .progress = quiet};
        /* bad rows stop the run unless train.on_bad_row says skip */
        rt_train_settings tr;
        rt_train_settings_read(&tr, p);
        int skip = tr.skip_bad_rows;
        int rc = socfw_task_ctx_new(&t.ctx, socfw_config_name(t.cfg),
                                    t.plugin, t.cfg, err);
        if (rc == 0)
                rc = rt_setup_labels(&rt, &t, err);
        for (int s = 0; rc == 0 && s < 3; s++) {
                char key[16];
                snprintf(key, sizeof key, "data.%s", splits[s]);
                const char *path = paths[s];
                size_t n = 0, skipped = 0;
                if (!path)
                        continue;
                rc = socfw_task_read_file(t.ctx, path, splits[s], skip,
                                          stop_after, &n, &skipped, err);
                if (rc > 0)
                        rc = 0;
                else if (rc == 0 && n == 0)
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0,
                                                0, "no usable examples (the file has no records)");
                if (rc < 0)
                        socfw_error_prefix(err, rc, "task '%s': %s",
                                           socfw_config_name(t.cfg), key);
        }
        socfw_task_ctx_free(t.ctx);
        return rc;
}

int
socfw_runtime_preflight(const socfw_pipeline *p, socfw_error *err)
{
        int rc = socfw_runtime_check_adapters(p, err);
        if (rc < 0)
                return rc;
        /* a base pipeline that only pretrains a backbone has work to do */
        rt_pretrain_settings ps;
        if (rt_pretrain_settings_read(&ps, p) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int pretrains = ps.n_corpus > 0 && ps.steps > 0;
        if (socfw_pipeline_task_count(p) == 0 &&
            socfw_pipeline_chain_len(p) == 0 &&
            !socfw_pipeline_privacy_plugin(p) && !pretrains) {
                rt_pretrain_settings_clear(&ps);
                return socfw_error_set_at(
                        err, SOCFW_ESCHEMA, socfw_pipeline_path(p), 0, 0,
                        "the pipeline has no tasks, no chain and no "
                        "pretraining: nothing to run (hint: `socfw init` "
                        "writes a complete pipeline to start from)");
        }
        rc = check_pretrain_files(p, &ps, "corpus", ps.corpus, ps.n_corpus,
                                  err);
        if (rc == 0)
                rc = check_pretrain_files(p, &ps, "valid", ps.valid,
                                          ps.n_valid, err);
        rt_pretrain_settings_clear(&ps);
        for (size_t i = 0; rc == 0 && i < socfw_pipeline_task_count(p); i++)
                rc = check_task_data(p, i, err);
        return rc;
}
