/* runpkg.c - run packages: what a finished `socfw run` leaves so that the
 * run is used without its pipeline file or training data, checked when it
 * is opened, protected from being trained over, and exported.
 *
 * When a run finishes, its directory gets
 *   pipeline.resolved.yaml  the pipeline as it ran (overrides applied,
 *                           paths absolute, inferred labels written out,
 *                           defaults as comments, data files commented out)
 *   README.md               a model card
 *   run.json (format 2)     the original pipeline and a SHA-256 of it, the
 *                           backbone by source and fingerprint, and a
 *                           manifest: size and SHA-256 of every file that
 *                           inference reads (snapshot, checkpoint, adapters,
 *                           backbone/).
 * Opening a run verifies the manifest and names the file that is missing
 * or damaged; `predict`, `evaluate`, `serve` and `chat` then load the
 * snapshot, not the pipeline file.
 */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "config.h"
#include "socfw/hub.h"
#include "socfw/io.h"
#include "socfw/peft.h"
#include "socfw/runtime.h"

#define SNAPSHOT "pipeline.resolved.yaml"

/* ---- files ---- */

/* Add every regular file under dir/rel to the manifest (recursively). */
static int
manifest_add(json_t *files, const char *dir, const char *rel)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (socfw_path_is_file(path)) {
                char hex[65];
                uint64_t size;
                socfw_error err = {0};
                if (socfw_file_sha256(path, hex, &size, &err) < 0) {
                        cli_error(&err);
                        return -1;
                }
                json_object_set_new(files, rel,
                                    json_pack("{s:I, s:s}", "size",
                                              (json_int_t)size, "sha256",
                                              hex));
                return 0;
        }
        DIR *d = opendir(path);
        if (!d)
                return 0; /* absent: nothing of it to check */
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char sub[PATH_MAX];
                snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
                rc = manifest_add(files, dir, sub);
        }
        closedir(d);
        return rc;
}

/* What inference reads from a run directory. */
static const char *const package_parts[] = {SNAPSHOT, "checkpoint",
                                            "adapters", "backbone", NULL};

/* ---- refusing to train over a finished run ---- */

/* Does the task train an adapter? */
static int
task_has_adapter(const socfw_pipeline *p, size_t i)
{
        int ty = socfw_runtime_task_adapter_type(p, i);
        return ty != SOCFW_ADAPTER_NONE;
}

int
cli_package_guard(const char *dir, const socfw_pipeline *p, int force,
                  int resume, size_t n_retrain)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/checkpoint/model.safetensors", dir);
        int trained = socfw_path_is_file(path);
        snprintf(path, sizeof path, "%s/adapters", dir);
        trained |= socfw_path_is_dir(path);
        snprintf(path, sizeof path, "%s/run.json", dir);
        json_t *doc = json_load_file(path, 0, NULL);
        json_t *tasks = json_object_get(doc, "tasks");
        if (!trained || force || resume) {
                json_decref(doc);
                return CLI_OK;
        }
        /* composition: every task trains its own adapter, so the runtime
         * reuses the ones trained on the same settings and data and trains
         * only new or changed tasks */
        int compose = socfw_pipeline_task_count(p) > 0;
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++)
                if (socfw_pipeline_task_head(p, i) && !task_has_adapter(p, i))
                        compose = 0;
        for (size_t i = 0; compose && i < json_array_size(tasks); i++)
                if (json_is_false(json_object_get(json_array_get(tasks, i),
                                                  "adapter")))
                        compose = 0;
        snprintf(path, sizeof path, "%s/adapters", dir);
        if (compose && (tasks || socfw_path_is_dir(path))) {
                json_decref(doc);
                return CLI_OK;
        }
        (void)n_retrain;
        cli_errorf("%s already holds a trained run; refusing to train over "
                   "it (hint: --force trains again and replaces it, "
                   "--resume continues an interrupted run, or choose "
                   "another output.dir)",
                   dir);
        json_decref(doc);
        return CLI_FAIL;
}

/* ---- the model card ---- */

/* Non-empty lines of a data file (its rows, for JSON Lines and CSV with a
 * header counted as one). */
static long
count_rows(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return -1;
        long n = 0;
        int c, prev = '\n';
        while ((c = getc(f)) != EOF) {
                if (c == '\n' && prev != '\n')
                        n++;
                prev = c;
        }
        if (prev != '\n')
                n++;
        fclose(f);
        return n;
}

/* The last value of every metric in metrics.jsonl (caller decrefs). */
static json_t *
final_metrics(const char *dir)
{
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
        json_t *all = json_object();
        FILE *f = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        while (f && getline(&line, &cap, f) > 0) {
                json_t *row = json_loads(line, 0, NULL);
                const char *k;
                json_t *v;
                json_object_foreach(row, k, v)
                        if (json_is_number(v) && strchr(k, '.'))
                                json_object_set(all, k, v);
                json_decref(row);
        }
        free(line);
        if (f)
                fclose(f);
        return all;
}

static void
card_task(FILE *f, const socfw_pipeline *p, size_t i, json_t *metrics)
{
        const socfw_config *t = socfw_pipeline_task(p, i);
        const char *name = socfw_config_name(t);
        const socfw_plugin *pl = socfw_pipeline_task_plugin(p, i);
        const socfw_plugin *head = socfw_pipeline_task_head(p, i);
        fprintf(f, "\n## Task `%s`\n\n- plugin: %s", name,
                pl ? pl->name : "?");
        if (pl && pl->description)
                fprintf(f, " (%s)", pl->description);
        fprintf(f, "\n- head: %s\n", head ? head->name : "none");
        if (head)
                fprintf(f, "- adapter: %s\n",
                        task_has_adapter(p, i) ? "yes (the backbone is "
                                                 "frozen and shared)"
                                               : "none (full fine-tuning of "
                                                 "the trainable layers)");
        size_t nl = socfw_config_list_len(t, "labels");
        if (nl) {
                fputs("- labels:", f);
                for (size_t k = 0; k < nl; k++)
                        fprintf(f, "%s `%s`", k ? "," : "",
                                socfw_config_list_get(t, "labels", k));
                fputc('\n', f);
        }
        static const char *const splits[] = {"train", "valid", "test"};
        fputs("- data:\n", f);
        for (int s = 0; s < 3; s++) {
                char key[32];
                snprintf(key, sizeof key, "data.%s", splits[s]);
                const char *path = socfw_config_get_string(t, key);
                if (!path)
                        continue;
                long n = count_rows(path);
                fprintf(f, "  - %s: `%s` (%ld rows", splits[s], path, n);
                long max = (long)socfw_config_get_int(t, "data.max_rows");
                if (max > 0 && n > max)
                        fprintf(f, ", %ld used", max);
                fputs(")\n", f);
        }
        /* metrics: "<task>.<split>.<name>" */
        size_t plen = strlen(name);
        int any = 0;
        const char *k;
        json_t *v;
        json_object_foreach(metrics, k, v)
        {
                if (strncmp(k, name, plen) || k[plen] != '.')
                        continue;
                if (!any)
                        fputs("\n| split | metric | value |\n"
                              "|---|---|---|\n",
                              f);
                any = 1;
                const char *rest = k + plen + 1;
                const char *dot = strchr(rest, '.');
                if (!dot)
                        continue;
                fprintf(f, "| %.*s | %s | %.4f |\n", (int)(dot - rest), rest,
                        dot + 1, json_number_value(v));
        }
        if (!any)
                fputs("- metrics: none recorded\n", f);
}

static int
write_card(const char *dir, const socfw_pipeline *p, const char *pipeline,
           json_t *meta, const char *date, socfw_error *err)
{
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        const char *base = socfw_path_basename(pipeline);
        json_t *bb = json_object_get(meta, "backbone");
        json_t *metrics = final_metrics(dir);
        fprintf(f, "# %.*s\n\nA model trained by socfw %s from `%s` on %s.\n",
                (int)strcspn(base, "."), base, PACKAGE_VERSION, base, date);
        fprintf(f, "\nUse it with `socfw predict %s --input posts.jsonl`, "
                   "`socfw serve %s` or `socfw chat %s`; it needs neither "
                   "the pipeline file nor the training data "
                   "(`%s` is the pipeline as it ran).\n",
                dir, dir, dir, SNAPSHOT);
        fputs("\n## Backbone\n\n", f);
        if (bb)
                fprintf(f, "- source: %s\n- architecture: %s, %lld layers, "
                           "hidden %lld, vocabulary %lld\n- fingerprint: "
                           "`%s`\n",
                        json_string_value(json_object_get(bb, "source")),
                        json_string_value(json_object_get(bb, "architecture")),
                        (long long)json_integer_value(
                                json_object_get(bb, "layers")),
                        (long long)json_integer_value(
                                json_object_get(bb, "hidden")),
                        (long long)json_integer_value(
                                json_object_get(bb, "vocab_size")),
                        json_string_value(json_object_get(bb, "fingerprint")));
        else
                fputs("- none (the tasks run without a model)\n", f);
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++)
                card_task(f, p, i, metrics);
        const socfw_config *tr = socfw_pipeline_section(p, "train");
        fprintf(f, "\n## Training\n\n- learning rate %g, %lld epoch(s), "
                   "batch size %lld, seed %lld\n",
                socfw_config_get_float(tr, "lr"),
                (long long)socfw_config_get_int(tr, "epochs"),
                (long long)socfw_config_get_int(tr, "batch_size"),
                (long long)socfw_config_get_int(tr, "seed"));
        if (meta)
                fprintf(f, "- best checkpoint: step %lld, %s = %.4f\n",
                        (long long)json_integer_value(
                                json_object_get(meta, "step")),
                        json_string_value(json_object_get(meta, "metric")),
                        json_number_value(json_object_get(meta, "value")));
        fputs("- every setting: `" SNAPSHOT "`; curves: `curves.svg`, "
              "`metrics.jsonl`\n",
              f);
        fputs("\n## Intended use and limitations\n\n"
              "- Made for the posts its training data resembles (language, "
              "platform, period, topics); measure it on your own data "
              "(`socfw evaluate RUN --task NAME --input FILE`) before "
              "relying on it.\n"
              "- The figures above come from the splits listed; a small or "
              "skewed split gives figures that do not carry over.\n"
              "- Predictions about people (sentiment, intent, identity) "
              "can be wrong and biased by the training data; do not use "
              "them alone for decisions that affect someone.\n"
              "- Posts can hold personal data: keep the privacy stage in "
              "the chain when the output is stored or shared.\n",
              f);
        json_decref(metrics);
        if (fclose(f) != 0 || !text) {
                free(text);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/README.md", dir);
        int rc = socfw_file_write_atomic(path, text, strlen(text), err);
        free(text);
        return rc;
}

/* ---- finishing a run ---- */

int
cli_package_finish(const char *dir, const char *pipeline,
                   const char *const *sets, size_t n_sets,
                   const socfw_registry *reg)
{
        socfw_error err = {0};
        char path[PATH_MAX], abs[PATH_MAX], date[32];
        char **extra = NULL;
        const char **all = NULL;
        socfw_pipeline *p = NULL;
        char *yaml = NULL, *text = NULL;
        json_t *doc = NULL;
        int rc = CLI_FAIL;
        snprintf(path, sizeof path, "%s/checkpoint/meta.json", dir);
        json_t *meta = json_load_file(path, 0, NULL);
        json_t *labels = json_object_get(meta, "labels");
        /* the labels a task inferred from its data become part of it */
        size_t n_lab = json_object_size(labels), n = 0;
        extra = calloc(n_lab + 1, sizeof *extra);
        all = calloc(n_sets + n_lab + 1, sizeof *all);
        if (!extra || !all)
                goto oom;
        for (size_t i = 0; i < n_sets; i++)
                all[n++] = sets[i];
        const char *task;
        json_t *names;
        size_t k = 0;
        json_object_foreach(labels, task, names)
        {
                if (!json_array_size(names) || strchr(task, '.'))
                        continue;
                char *list = json_dumps(names, JSON_COMPACT);
                if (!list || asprintf(&extra[k], "tasks.%s.labels=%s", task,
                                      list) < 0) {
                        free(list);
                        goto oom;
                }
                free(list);
                all[n++] = extra[k++];
        }
        p = cli_load_pipeline(pipeline, all, n, reg);
        if (!p)
                goto out;
        if (socfw_pipeline_resolved_yaml(p, &yaml, &err) < 0)
                goto fail;
        snprintf(path, sizeof path, "%s/" SNAPSHOT, dir);
        if (socfw_file_write_atomic(path, yaml, strlen(yaml), &err) < 0)
                goto fail;
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (write_card(dir, p, pipeline, meta, date, &err) < 0)
                goto fail;

        /* run.json, format 2 */
        if (!realpath(pipeline, abs))
                snprintf(abs, sizeof abs, "%s", pipeline);
        char hex[65] = "";
        socfw_file_sha256(pipeline, hex, NULL, NULL); /* "" when unreadable */
        json_t *ov = json_array(), *files = json_object(),
               *tasks = json_array();
        for (size_t i = 0; i < n_sets; i++)
                json_array_append_new(ov, json_string(sets[i]));
        for (size_t i = 0; i < socfw_pipeline_task_count(p); i++)
                json_array_append_new(
                        tasks,
                        json_pack("{s:s, s:b}", "name",
                                  socfw_config_name(socfw_pipeline_task(p, i)),
                                  "adapter",
                                  socfw_pipeline_task_head(p, i) &&
                                          task_has_adapter(p, i)));
        doc = json_pack("{s:i, s:s, s:s, s:o, s:s, s:s, s:s, s:o}", "format",
                        2, "pipeline", abs, "pipeline_sha256", hex,
                        "overrides", ov, "snapshot", SNAPSHOT, "finished",
                        date, "socfw_version", PACKAGE_VERSION, "tasks",
                        tasks);
        if (!doc || !files) {
                json_decref(files);
                goto oom;
        }
        json_t *bb = json_object_get(meta, "backbone");
        if (bb)
                json_object_set(doc, "backbone", bb);
        for (size_t i = 0; package_parts[i]; i++)
                if (manifest_add(files, dir, package_parts[i]) < 0) {
                        json_decref(files);
                        goto out;
                }
        json_object_set_new(doc, "files", files);
        text = json_dumps(doc, JSON_INDENT(2));
        snprintf(path, sizeof path, "%s/run.json", dir);
        if (!text)
                goto oom;
        if (socfw_file_write_atomic(path, text, strlen(text), &err) < 0)
                goto fail;
        rc = CLI_OK;
        goto out;
oom:
        socfw_error_set(&err, SOCFW_ENOMEM, "out of memory");
fail:
        cli_error(&err);
out:
        for (size_t i = 0; extra && i < n_lab; i++)
                free(extra[i]);
        free(extra);
        free(all);
        free(yaml);
        free(text);
        json_decref(doc);
        json_decref(meta);
        socfw_pipeline_free(p);
        return rc;
}

/* After a run's files changed on purpose (an adapter version promoted or
 * rolled back): the manifest lists the files as they are now. */
int
cli_package_refresh(const char *dir)
{
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/run.json", dir);
        json_error_t jerr;
        json_t *doc = json_load_file(path, 0, &jerr);
        socfw_error err = {0};
        int rc = CLI_OK;
        if (!doc || !json_object_get(doc, "files")) {
                json_decref(doc); /* a run from before packages */
                return CLI_OK;
        }
        json_t *files = json_object();
        char *text = NULL;
        for (size_t i = 0; files && package_parts[i]; i++)
                if (manifest_add(files, dir, package_parts[i]) < 0) {
                        json_decref(files);
                        files = NULL;
                }
        if (files)
                json_object_set_new(doc, "files", files);
        text = files ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (!text) {
                cli_errorf("%s: cannot list the run's files", dir);
                rc = CLI_FAIL;
        } else if (socfw_file_write_atomic(path, text, strlen(text), &err) <
                   0) {
                cli_error(&err);
                rc = CLI_FAIL;
        }
        free(text);
        json_decref(doc);
        return rc;
}

/* ---- opening a run ---- */

int
cli_package_open(const char *dir, json_t *doc, const char **pipeline,
                 json_t **overrides)
{
        const char *snap = json_string_value(json_object_get(doc,
                                                             "snapshot"));
        json_t *files = json_object_get(doc, "files");
        if (!snap)
                return 0; /* a run from before packages, or unfinished */
        if (!json_is_object(files) || strchr(snap, '/')) {
                cli_errorf("%s/run.json: 'snapshot' or 'files' is damaged "
                           "(hint: copy the run directory again)",
                           dir);
                return -1;
        }
        const char *rel;
        json_t *want;
        json_object_foreach(files, rel, want)
        {
                char path[PATH_MAX], hex[65];
                uint64_t size = 0;
                snprintf(path, sizeof path, "%s/%s", dir, rel);
                if (strstr(rel, "..") || !socfw_path_is_file(path)) {
                        cli_errorf("%s: missing from the run directory "
                                   "(hint: copy the whole directory; "
                                   "`socfw export RUN DIR` makes a "
                                   "self-contained copy)",
                                   path);
                        return -1;
                }
                const char *sha = json_string_value(json_object_get(want,
                                                                    "sha256"));
                if (socfw_file_sha256(path, hex, &size, NULL) < 0 || !sha ||
                    (json_int_t)size !=
                            json_integer_value(json_object_get(want, "size")) ||
                    strcmp(hex, sha) != 0) {
                        cli_errorf("%s: damaged (its size or SHA-256 differs "
                                   "from what run.json recorded when the run "
                                   "finished; hint: copy it again from the "
                                   "original run, or train again with "
                                   "`socfw run --force`)",
                                   path);
                        return -1;
                }
        }
        /* the pipeline file may have moved on since */
        const char *orig = json_string_value(json_object_get(doc, "pipeline"));
        const char *osha = json_string_value(json_object_get(doc,
                                                             "pipeline_sha256"));
        char hex[65];
        if (orig && osha && osha[0] && socfw_file_sha256(orig, hex, NULL, NULL) == 0 &&
            strcmp(hex, osha) != 0)
                fprintf(stderr, "socfw: warning: %s changed since the run "
                                "was trained; using the run's own copy "
                                "(%s/%s)\n",
                        orig, dir, snap);
        char abs[PATH_MAX], *path = NULL;
        if (!realpath(dir, abs))
                snprintf(abs, sizeof abs, "%s", dir);
        if (asprintf(&path, "%s/%s", abs, snap) < 0)
                return -1;
        json_object_set_new(doc, "_snapshot_path", json_string(path));
        free(path);
        /* the recorded overrides are in the snapshot; a backbone copied in
         * by `export --with-backbone` replaces the original */
        json_t *ov = json_array();
        const char *copy = json_string_value(json_object_get(
                json_object_get(doc, "backbone"), "copy"));
        if (copy && copy[0] != '/' && !strstr(copy, "..")) {
                char *set = NULL;
                if (asprintf(&set, "backbone.model=%s/%s", abs, copy) >= 0)
                        json_array_append_new(ov, json_string(set));
                free(set);
        }
        json_object_set_new(doc, "_open_overrides", ov);
        *pipeline = json_string_value(json_object_get(doc, "_snapshot_path"));
        *overrides = ov;
        return *pipeline ? 1 : -1;
}

/* ---- socfw export ---- */

static int
copy_file(const char *from, const char *to)
{
        socfw_error err = {0};
        char dir[PATH_MAX];
        socfw_path_dirname(dir, sizeof dir, to);
        int rc = socfw_dir_make(dir, 0755, &err);
        if (rc == 0)
                rc = socfw_file_copy(from, to, &err);
        if (rc < 0)
                cli_error(&err);
        return rc;
}

static int
copy_tree(const char *from, const char *to, int top, int with_state)
{
        DIR *d = opendir(from);
        if (!d) {
                cli_errorf("%s: cannot open: %s", from, strerror(errno));
                return -1;
        }
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
                if (e->d_name[0] == '.' ||
                    (top && !with_state &&
                     !strcmp(e->d_name, "state.safetensors")))
                        continue;
                char a[PATH_MAX], b[PATH_MAX];
                snprintf(a, sizeof a, "%s/%s", from, e->d_name);
                snprintf(b, sizeof b, "%s/%s", to, e->d_name);
                if (socfw_path_is_dir(a))
                        rc = copy_tree(a, b, 0, with_state);
                else if (socfw_path_is_file(a))
                        rc = copy_file(a, b);
        }
        closedir(d);
        return rc;
}

int
cli_copy_tree(const char *from, const char *to, int with_state)
{
        return copy_tree(from, to, 1, with_state);
}

int
cli_cmd_export(int argc, char **argv)
{
        static const struct option opts[] = {
                {"with-backbone", no_argument, NULL, 'b'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        int c, with_backbone = 0;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                if (c == 'b')
                        with_backbone = 1;
                else if (c == 'h')
                        return cli_print_help(stdout, "export") == 0
                                       ? CLI_OK
                                       : CLI_FAIL;
                else
                        return cli_usage("export", "bad option");
        }
        if (argc - optind != 2)
                return cli_usage("export", "expected RUN_DIR and a new "
                                           "directory");
        const char *run = argv[optind], *to = argv[optind + 1];
        json_t *doc = NULL, *ov;
        const char *pl;
        int rc = cli_read_run_dir(run, &doc, &pl, &ov);
        if (rc == 0)
                cli_errorf("%s: not a directory", run);
        if (rc <= 0)
                return CLI_FAIL;
        if (!json_object_get(doc, "snapshot")) {
                cli_errorf("%s is not a finished run (run.json has no "
                           "snapshot; hint: finish it with `socfw run`, or "
                           "run it again with this socfw)",
                           run);
                json_decref(doc);
                return CLI_FAIL;
        }
        struct stat st;
        if (stat(to, &st) == 0) {
                cli_errorf("%s already exists (hint: export into a new "
                           "directory)",
                           to);
                json_decref(doc);
                return CLI_FAIL;
        }
        socfw_error err = {0};
        rc = socfw_dir_make(to, 0755, &err) < 0 ? (cli_error(&err), -1)
                                                : copy_tree(run, to, 1, 0);
        /* the backbone the run loaded, when it lives outside the run */
        json_t *bb = json_object_get(doc, "backbone");
        const char *src = json_string_value(json_object_get(bb, "source"));
        char bdir[PATH_MAX];
        snprintf(bdir, sizeof bdir, "%s/backbone", run);
        if (rc == 0 && with_backbone && src && !socfw_path_is_dir(bdir) &&
            strcmp(src, "pretrained by the pipeline") != 0) {
                char *local = NULL;
                if (!strncmp(src, "hub:", 4) &&
                    socfw_hub_resolve(src, NULL, &local, &err) < 0) {
                        cli_error(&err);
                        rc = -1;
                }
                const char *from = local ? local : src;
                char dst[PATH_MAX];
                snprintf(dst, sizeof dst, "%s/backbone", to);
                if (rc == 0 && socfw_path_is_dir(from)) {
                        rc = copy_tree(from, dst, 0, 0);
                        json_object_set_new(bb, "copy", json_string("backbone"));
                } else if (rc == 0) {
                        char *rel = NULL;
                        snprintf(dst, sizeof dst, "%s/backbone/%s", to,
                                 socfw_path_basename(from));
                        rc = copy_file(from, dst);
                        if (asprintf(&rel, "backbone/%s",
                                     socfw_path_basename(from)) >= 0)
                                json_object_set_new(bb, "copy",
                                                    json_string(rel));
                        free(rel);
                }
                free(local);
        }
        if (rc == 0) {
                json_object_del(doc, "_snapshot_path");
                json_object_del(doc, "_open_overrides");
                char *text = json_dumps(doc, JSON_INDENT(2));
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/run.json", to);
                rc = text ? socfw_file_write_atomic(path, text, strlen(text),
                                                    &err)
                          : -1;
                if (rc < 0)
                        cli_error(&err);
                free(text);
        }
        json_decref(doc);
        if (rc == 0)
                fprintf(stderr, "socfw: %s exported to %s%s\n", run, to,
                        with_backbone ? " with its backbone" : "");
        return rc == 0 ? CLI_OK : CLI_FAIL;
}
