/* tests/test_pipeline.c - YAML parsing limits, schema validation messages
 * with file:line:column, --set overrides, config accessors. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/yamltree.h"
#include "socfw/pipeline.h"
#include "testutil.h"

static socfw_registry *reg;

static void
setup(void)
{
        char good[4096];
        reg = socfw_registry_new();
        snprintf(good, sizeof good, "%s/tests/plugins/good",
                 socfw_test_builddir());
        socfw_registry_add_path(reg, good);
        socfw_registry_add_default_paths(reg, NULL);
        socfw_registry_scan(reg);
}

static void
teardown(void)
{
        socfw_registry_free(reg);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 30);

/* Validate `yaml`; return the joined diagnostics (static buffer). */
static const char *
check(const char *yaml, const char *const *sets, size_t n_sets, int *rc_out)
{
        static char all[16384];
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        int rc = socfw_pipeline_load_buffer(&p, yaml, strlen(yaml),
                                            "p.yaml", NULL, sets, n_sets,
                                            &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(p, reg, &err);
        all[0] = '\0';
        size_t off = 0;
        for (size_t i = 0; i < socfw_pipeline_diag_count(p); i++)
                off += (size_t)snprintf(all + off, sizeof all - off, "%s\n",
                                        socfw_pipeline_diag(p, i));
        if (rc_out)
                *rc_out = rc;
        socfw_pipeline_free(p);
        return all;
}

#define EXPECT_DIAG(yaml, needle)                                              \
        do {                                                                   \
                int rc_;                                                       \
                const char *d_ = check((yaml), NULL, 0, &rc_);                 \
                cr_assert_lt(rc_, 0, "expected a failure for:\n%s", (yaml));   \
                cr_assert(strstr(d_, (needle)), "wanted '%s' in:\n%s",         \
                          (needle), d_);                                       \
        } while (0)

Test(pipeline, a_valid_pipeline_passes_and_reads_defaults)
{
        const char *y = "socfw: 1\n"
                        "train: {lr: 3.0e-5, epochs: 2}\n"
                        "tasks:\n"
                        "  - name: t\n"
                        "    plugin: testgood\n"
                        "    count: 3\n"
                        "chain: [t]\n";
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pipeline_load_buffer(&p, y, strlen(y), "p.yaml",
                                                "/base", NULL, 0, &err),
                     0);
        cr_assert_eq(socfw_pipeline_validate(p, reg, &err), 0, "%s",
                     err.message);
        const socfw_config *train = socfw_pipeline_section(p, "train");
        cr_assert_float_eq(socfw_config_get_float(train, "lr"), 3e-5, 1e-12);
        cr_assert_eq(socfw_config_get_int(train, "epochs"), 2);
        cr_assert_eq(socfw_config_get_int(train, "batch_size"), 16,
                     "default");
        cr_assert_str_eq(socfw_config_get_string(train, "schedule"),
                         "linear");
        const socfw_config *t = socfw_pipeline_task(p, 0);
        cr_assert_eq(socfw_config_get_int(t, "count"), 3);
        cr_assert_str_eq(socfw_config_get_string(t, "greeting"), "hello");
        cr_assert_eq(socfw_config_line(t, "count"), 6);
        cr_assert_eq(socfw_pipeline_chain_len(p), 1);
        cr_assert_str_eq(socfw_pipeline_chain_stage(p, 0), "t");
        const socfw_config *out = socfw_pipeline_section(p, "output");
        cr_assert_null(socfw_config_get_string(out, "dir"));
        socfw_pipeline_free(p);
}

Test(pipeline, misspelt_key_gets_location_and_suggestion)
{
        EXPECT_DIAG("socfw: 1\ntrain:\n  lr: 0.1\n  epocs: 5\n",
                    "p.yaml:4:3: unknown key 'epocs' in train; did you mean "
                    "'epochs'?");
        EXPECT_DIAG("socfw: 1\ntrian: {lr: 1}\n",
                    "p.yaml:2:1: unknown key 'trian' in the pipeline; did "
                    "you mean 'train'?");
        EXPECT_DIAG("socfw: 1\nbackbone: {adapter: {rnak: 4}}\n",
                    "unknown key 'adapter.rnak' in backbone; did you mean "
                    "'rank'?");
        EXPECT_DIAG("socfw: 1\ntasks:\n  - name: t\n    plugin: testgood\n"
                    "    greting: hi\n",
                    "p.yaml:5:5: unknown key 'greting' in task 't'; did you "
                    "mean 'greeting'?");
}

Test(pipeline, wrong_types_and_ranges)
{
        EXPECT_DIAG("socfw: 1\ntrain: {lr: fast}\n",
                    "p.yaml:2:13: bad value for 'lr' in train: expected a "
                    "number");
        EXPECT_DIAG("socfw: 1\ntrain: {batch_size: 0}\n",
                    "expected an integer in [1, 4096], got '0'");
        EXPECT_DIAG("socfw: 1\ntrain: {lr: [1, 2]}\n",
                    "wrong type for 'lr' in train: expected a number in "
                    "[0, 10], got a list");
        EXPECT_DIAG("socfw: 1\ntrain: {epochs: \"3\"}\n",
                    "hint: remove the quotes");
        EXPECT_DIAG("socfw: 1\ntrain: {schedule: cosin}\n",
                    "expected one of: linear, cosine, constant, got "
                    "'cosin'");
        EXPECT_DIAG("socfw: 1\ntrain: {keep_best: maybe}\n",
                    "expected true or false");
        EXPECT_DIAG("socfw: 1\ntrain: 5\n",
                    "'train' must be a mapping of settings, not a scalar");
        EXPECT_DIAG("socfw: 1\ntasks: {name: x}\n", "'tasks' must be a list");
}

Test(pipeline, version_and_required_keys)
{
        EXPECT_DIAG("train: {lr: 1}\n", "missing required key 'socfw'");
        EXPECT_DIAG("socfw: 2\n",
                    "p.yaml:1:8: unsupported pipeline schema version 2; "
                    "this socfw reads version 1");
        EXPECT_DIAG("socfw: 1\ntasks:\n  - plugin: testgood\n",
                    "missing required key 'name' in task 1");
        EXPECT_DIAG("- a\n- b\n", "a pipeline must be a mapping");
}

Test(pipeline, plugins_heads_and_chain_must_exist)
{
        EXPECT_DIAG("socfw: 1\ntasks:\n  - {name: s, plugin: sentimnet}\n",
                    "p.yaml:3:23: unknown plugin 'sentimnet'; did you mean "
                    "'sentiment'?");
        EXPECT_DIAG("socfw: 1\ntasks:\n  - {name: s, plugin: nosuchthing}\n",
                    "hint: `socfw inspect` lists what is installed");
        EXPECT_DIAG("socfw: 1\ntasks:\n  - {name: s, plugin: testgood}\n"
                    "chain: [s, reply]\n",
                    "p.yaml:4:12: the chain names an unknown stage 'reply'");
        EXPECT_DIAG("socfw: 1\ntasks:\n  - {name: s, plugin: testgood}\n"
                    "  - {name: s, plugin: testgood}\n",
                    "two tasks are named 's'");
        EXPECT_DIAG("socfw: 1\nchain: [privacy]\n",
                    "the chain names 'privacy' but the pipeline has no "
                    "privacy: section");
}

Test(pipeline, missing_files_are_reported_with_where_they_were_sought)
{
        EXPECT_DIAG("socfw: 1\ntasks:\n  - name: s\n    plugin: testgood\n"
                    "    data: {train: nope.jsonl}\n",
                    "p.yaml:5:19: 'data.train' in task 's': file not found: "
                    "nope.jsonl");
}

Test(pipeline, set_overrides_values_lists_and_tasks_by_name)
{
        const char *y = "socfw: 1\ntrain: {lr: 0.1}\ntasks:\n"
                        "  - {name: t, plugin: testgood}\n";
        const char *sets[] = {"train.lr=0.5", "tasks.t.count=7",
                              "chain=[t]", "train.early_stopping.patience=3"};
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pipeline_load_buffer(&p, y, strlen(y), "p.yaml",
                                                NULL, sets, 4, &err),
                     0, "%s", err.message);
        cr_assert_eq(socfw_pipeline_validate(p, reg, &err), 0, "%s",
                     err.message);
        const socfw_config *train = socfw_pipeline_section(p, "train");
        cr_assert_float_eq(socfw_config_get_float(train, "lr"), 0.5, 1e-12);
        cr_assert_eq(socfw_config_get_int(train, "early_stopping.patience"),
                     3);
        cr_assert_eq(socfw_config_get_int(socfw_pipeline_task(p, 0),
                                          "count"),
                     7);
        cr_assert_eq(socfw_pipeline_chain_len(p), 1);
        socfw_pipeline_free(p);

        const char *bad[] = {"train.lr=abc"};
        int rc;
        const char *d = check(y, bad, 1, &rc);
        cr_assert_lt(rc, 0);
        cr_assert(strstr(d, "--set: bad value for 'lr'"), "%s", d);
        const char *nokey[] = {"=3"};
        check(y, nokey, 1, &rc);
        cr_assert_lt(rc, 0);
        const char *noitem[] = {"tasks.zz.count=1"};
        d = check(y, noitem, 1, &rc);
        cr_assert_lt(rc, 0);
        cr_assert(strstr(d, "no list item 'zz'"), "%s", d);
}

Test(pipeline, malformed_yaml_names_line_and_column)
{
        EXPECT_DIAG("socfw: 1\ntrain: {lr: 1\n", "p.yaml:3:1: invalid YAML");
        EXPECT_DIAG("socfw: 1\ntrain:\n  lr: 1\n  lr: 2\n",
                    "p.yaml:4:3: duplicate key 'lr'");
        EXPECT_DIAG("socfw: 1\n\t- x\n", "invalid YAML");
}

Test(pipeline, alias_bomb_is_refused_quickly)
{
        /* 9 levels of 9 aliases: 9^9 nodes if expanded naively */
        char y[4096];
        size_t off = (size_t)snprintf(y, sizeof y, "socfw: 1\na0: &a0 [x]\n");
        for (int i = 1; i < 10; i++)
                off += (size_t)snprintf(
                        y + off, sizeof y - off,
                        "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,"
                        "*a%d]\n",
                        i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                        i - 1, i - 1);
        clock_t t0 = clock();
        ynode *root = NULL;
        socfw_error err = {0};
        int rc = ynode_parse_buffer(y, off, "bomb.yaml", &root, &err);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        cr_assert_lt(rc, 0);
        cr_assert(strstr(err.message, "alias"), "%s", err.message);
        cr_assert_lt(secs, 2.0, "took %.2fs", secs);
        ynode_free(root);
}

Test(pipeline, nesting_depth_is_bounded)
{
        char y[2048];
        size_t n = 0;
        for (int i = 0; i < 200; i++)
                y[n++] = '[';
        for (int i = 0; i < 200; i++)
                y[n++] = ']';
        ynode *root = NULL;
        socfw_error err = {0};
        cr_assert_lt(ynode_parse_buffer(y, n, "deep.yaml", &root, &err), 0);
        cr_assert(strstr(err.message, "nested too deeply"), "%s",
                  err.message);
}

Test(pipeline, aliases_within_limits_are_expanded)
{
        const char *y = "base: &b {lr: 0.25}\nsocfw: 1\ntrain: *b\n";
        int rc;
        const char *d = check(y, NULL, 0, &rc);
        /* 'base' is unknown, but train got the aliased mapping */
        cr_assert(strstr(d, "unknown key 'base'"), "%s", d);
        cr_assert_null(strstr(d, "in train"), "%s", d);
}

Test(pipeline, list_defaults_and_maps_read_back)
{
        const char *y = "socfw: 1\ntasks:\n  - name: d\n    plugin: dialog\n"
                        "    tone: {negative: calm, positive: warm}\n";
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pipeline_load_buffer(&p, y, strlen(y), "p.yaml",
                                                NULL, NULL, 0, &err),
                     0);
        cr_assert_eq(socfw_pipeline_validate(p, reg, &err), 0, "%s",
                     err.message);
        const socfw_config *t = socfw_pipeline_task(p, 0);
        cr_assert_eq(socfw_config_map_len(t, "tone"), 2);
        cr_assert_str_eq(socfw_config_map_lookup(t, "tone", "negative"),
                         "calm");
        const socfw_config *ev = socfw_pipeline_section(p, "evaluate");
        cr_assert_eq(socfw_config_list_len(ev, "splits"), 2);
        cr_assert_str_eq(socfw_config_list_get(ev, "splits", 1), "test");
        cr_assert_not_null(socfw_pipeline_task_head(p, 0) ? "x" : "x");
        socfw_pipeline_free(p);
}

static void
drop_data_comments(char *text)
{
        char *line = text, *w = text;
        while (*line) {
                char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
                if (!memmem(line, len, "(training data:", 15)) {
                        memmove(w, line, len);
                        w += len;
                }
                line += len;
        }
        *w = '\0';
}

/* The run's copy of its pipeline (socfw_pipeline_resolved_yaml), for every
 * shipped pipeline: it validates when loaded from another directory, gives
 * the same settings (writing it again gives the same text, overrides
 * included), and has the data files as comments only. */
Test(pipeline, resolved_copy_round_trips_from_another_directory)
{
        static const char *const files[] = {
                "quickstart.yaml", "sentiment-en.yaml", "sentiment-en-lora.yaml",
                "privacy.yaml", "privacy-names.yaml", "nlu-atis.yaml",
                "dialog.yaml", "adcopy.yaml", "recommend.yaml",
                "monitor.yaml"};
        const char *sets[] = {"train.lr=0.25", "output.dir=/x/run dir"};
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/configs/%s",
                         socfw_test_srcdir(), files[f]);
                socfw_pipeline *p = NULL, *q = NULL;
                socfw_error err = {0};
                char *a = NULL, *b = NULL;
                int rc = socfw_pipeline_load(&p, path, sets, 2, &err);
                if (rc == 0)
                        rc = socfw_pipeline_validate(p, reg, &err);
                if (rc < 0) { /* a plugin this build lacks */
                        cr_log_info("%s skipped: %s", files[f], err.message);
                        socfw_pipeline_free(p);
                        continue;
                }
                cr_assert_eq(socfw_pipeline_resolved_yaml(p, &a, &err), 0);
                cr_assert(strstr(a, "lr: 0.25"), "%s: no override", files[f]);
                cr_assert(strstr(a, "dir: \"/x/run dir\""), "%s", a);
                cr_assert_null(strstr(a, "\n      train:"),
                               "%s: data file not commented out", files[f]);
                rc = socfw_pipeline_load_buffer(&q, a, strlen(a), "copy.yaml",
                                                "/nonexistent", NULL, 0, &err);
                if (rc == 0)
                        rc = socfw_pipeline_validate(q, reg, &err);
                for (size_t i = 0; rc && i < socfw_pipeline_diag_count(q); i++)
                        cr_log_error("%s", socfw_pipeline_diag(q, i));
                cr_assert_eq(rc, 0, "%s: the copy does not validate:\n%s",
                             files[f], a);
                cr_assert_eq(socfw_pipeline_resolved_yaml(q, &b, &err), 0);
                /* the first line names the file it came from; the copy
                 * has no data files left to comment on */
                drop_data_comments(a);
                drop_data_comments(b);
                cr_assert_str_eq(strchr(a, '\n'), strchr(b, '\n'),
                                 "%s: settings differ", files[f]);
                cr_assert_float_eq(socfw_config_get_float(
                                           socfw_pipeline_section(q, "train"),
                                           "lr"),
                                   0.25, 1e-12);
                free(a);
                free(b);
                socfw_pipeline_free(p);
                socfw_pipeline_free(q);
        }
}

/* A pipeline loaded by a relative name ("recommend.yaml" from its own
 * directory) joins its paths to "."; its run's copy still holds absolute
 * paths, the real path of each file that exists, so the copy means the
 * same files read from any directory. */
Test(pipeline, resolved_copy_of_a_relative_pipeline_has_absolute_paths)
{
        char here[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
        cr_assert_not_null(getcwd(here, sizeof here));
        snprintf(dir, sizeof dir, "%s/configs", socfw_test_srcdir());
        cr_assert_eq(chdir(dir), 0);
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        int rc = socfw_pipeline_load(&p, "quickstart.yaml", NULL, 0, &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(p, reg, &err);
        char *a = NULL;
        if (rc == 0)
                rc = socfw_pipeline_resolved_yaml(p, &a, &err);
        cr_assert_not_null(realpath("data/quickstart-corpus.txt", real));
        cr_assert_eq(chdir(here), 0);
        cr_assert_eq(rc, 0, "%s", err.message);
        char want[PATH_MAX + 16];
        snprintf(want, sizeof want, "corpus: [%s]", real);
        cr_assert(strstr(a, want), "no '%s' in:\n%s", want, a);
        cr_assert_null(strstr(a, " ./"), "a path relative to '.':\n%s", a);
        cr_assert_null(strstr(a, " data/"), "a relative path:\n%s", a);
        free(a);
        socfw_pipeline_free(p);
}
