/* adapter_store.c - versions of a task's adapter in a run directory and
 * the `current` pointer (see socfw/adapter_store.h for the layout). */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "socfw/adapter_store.h"
#include "socfw/io.h"


static void
iso_now(char buf[32])
{
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *
socfw_adapter_store_version_dir(const char *task_dir, int version)
{
        char *out = NULL;
        if (asprintf(&out, "%s/versions/v%d", task_dir, version) < 0)
                return NULL;
        return out;
}

int
socfw_adapter_store_current(const char *task_dir, int *version,
                            socfw_error *err)
{
        char path[4200], *text = NULL;
        *version = 0;
        snprintf(path, sizeof path, "%s/current", task_dir);
        int rc = socfw_file_read(path, 64, &text, NULL, err);
        if (rc == SOCFW_ENOTFOUND) {
                if (err)
                        *err = (socfw_error){0};
                return 0;
        }
        if (rc < 0)
                return rc;
        char *end;
        long v = strtol(text, &end, 10);
        while (*end == '\n' || *end == ' ')
                end++;
        if (end == text || *end || v < 1 || v > 1000000)
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 1, 1,
                                        "expected a version number (hint: "
                                        "socfw adapter promote RUN --task T "
                                        "--version N writes it)");
        else
                *version = (int)v;
        free(text);
        return rc;
}

int
socfw_adapter_store_latest(const char *task_dir)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/versions", task_dir);
        DIR *d = opendir(path);
        int latest = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) {
                char *end;
                if (e->d_name[0] != 'v')
                        continue;
                long v = strtol(e->d_name + 1, &end, 10);
                if (end != e->d_name + 1 && !*end && v > latest &&
                    v < 1000000)
                        latest = (int)v;
        }
        if (d)
                closedir(d);
        return latest;
}

/* The adapter's own files in a directory: every regular file but the
 * store's (current, metrics.json) and temporaries. */
static int
is_adapter_file(const char *dir, const char *name)
{
        if (name[0] == '.' || !strcmp(name, "current") ||
            !strcmp(name, "metrics.json") || strstr(name, ".tmp"))
                return 0;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return socfw_path_is_file(path);
}

/* Copy the adapter files of src into dst; meta.json through `meta_fix`
 * when given. */
static int
copy_adapter(const char *src, const char *dst,
             int (*meta_fix)(json_t *meta, void *arg), void *arg,
             socfw_error *err)
{
        DIR *d = opendir(src);
        if (!d)
                return socfw_error_set_at(err, SOCFW_EIO, src, 0, 0,
                                          "cannot read the directory: %s",
                                          strerror(errno));
        int rc = 0, n = 0;
        struct dirent *e;
        while (rc == 0 && (e = readdir(d))) {
                if (!is_adapter_file(src, e->d_name))
                        continue;
                char from[4400], to[4400];
                snprintf(from, sizeof from, "%s/%s", src, e->d_name);
                snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
                n++;
                if (meta_fix && !strcmp(e->d_name, "meta.json")) {
                        json_error_t je;
                        json_t *meta = json_load_file(from, 0, &je);
                        if (!meta) {
                                rc = socfw_error_set_at(err, SOCFW_EFORMAT,
                                                        from, je.line,
                                                        je.column, "%s",
                                                        je.text);
                                break;
                        }
                        rc = meta_fix(meta, arg);
                        char *text = rc == 0 ? json_dumps(
                                                 meta, JSON_INDENT(2) |
                                                        JSON_SORT_KEYS)
                                             : NULL;
                        json_decref(meta);
                        rc = text ? socfw_file_write_atomic(to, text,
                                                            strlen(text), err)
                                  : socfw_error_set(err, SOCFW_ENOMEM,
                                                    "out of memory");
                        free(text);
                        continue;
                }
                rc = socfw_file_copy(from, to, err);
        }
        closedir(d);
        if (rc == 0 && n == 0)
                rc = socfw_error_set_at(err, SOCFW_ENOTFOUND, src, 0, 0,
                                        "no adapter files in it");
        return rc;
}

static int
write_json(const char *path, json_t *doc, socfw_error *err)
{
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS |
                                           JSON_REAL_PRECISION(10));
        int rc = text ? socfw_file_write_atomic(path, text, strlen(text), err)
                      : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        free(text);
        return rc;
}

static void
remove_tree(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                char path[4400];
                if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) <
                    (int)sizeof path)
                        unlink(path);
        }
        if (d)
                closedir(d);
        rmdir(dir);
}

int
socfw_adapter_store_add(const char *task_dir, const char *src_dir,
                        json_t *metrics, int *version, socfw_error *err)
{
        char vdir[4200], tmp[4300], path[4400], when[32];
        int v = socfw_adapter_store_latest(task_dir) + 1;
        snprintf(vdir, sizeof vdir, "%s/versions/v%d", task_dir, v);
        snprintf(tmp, sizeof tmp, "%s/versions/.v%d.tmp-%ld", task_dir, v,
                 (long)getpid());
        int rc = socfw_dir_make(tmp, 0755, err);
        if (rc == 0)
                rc = copy_adapter(src_dir, tmp, NULL, NULL, err);
        json_t *m = metrics ? json_deep_copy(metrics) : json_object();
        iso_now(when);
        if (rc == 0 && (!m || json_object_set_new(m, "version",
                                                  json_integer(v)) ||
                        json_object_set_new(m, "time", json_string(when))))
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        snprintf(path, sizeof path, "%s/metrics.json", tmp);
        if (rc == 0)
                rc = write_json(path, m, err);
        json_decref(m);
        if (rc == 0 && rename(tmp, vdir) != 0)
                rc = socfw_error_set_at(err, SOCFW_EIO, vdir, 0, 0,
                                        "cannot create it: %s (hint: "
                                        "another continued run of this task "
                                        "at the same time?)",
                                        strerror(errno));
        if (rc < 0) {
                remove_tree(tmp);
                return rc;
        }
        *version = v;
        return 0;
}

/* The top-level meta.json of a promoted version: the version's own, with
 * "version" and the composition fingerprint of the files it replaces
 * (what the pipeline's plain `socfw run` compares, so that it keeps the
 * promoted version instead of training the task again). */
typedef struct meta_arg {
        int version;
        json_t *task_fp;        /* the replaced meta.json's, or NULL */
} meta_arg;

static int
fix_meta(json_t *meta, void *arg)
{
        const meta_arg *a = arg;
        if (json_object_set_new(meta, "version", json_integer(a->version)))
                return SOCFW_ENOMEM;
        if (a->task_fp &&
            json_object_set(meta, "task_fingerprint", a->task_fp))
                return SOCFW_ENOMEM;
        return 0;
}

int
socfw_adapter_store_promote(const char *task_dir, int version,
                            const char *why, socfw_error *err)
{
        char *vdir = socfw_adapter_store_version_dir(task_dir, version);
        char path[4400], when[32], num[32];
        struct stat st;
        if (!vdir)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        if (stat(vdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                int latest = socfw_adapter_store_latest(task_dir);
                free(vdir);
                return latest
                        ? socfw_error_set_at(err, SOCFW_ENOTFOUND, task_dir,
                                             0, 0, "no version %d (hint: "
                                             "versions 1 to %d; socfw "
                                             "adapter versions lists them)",
                                             version, latest)
                        : socfw_error_set_at(err, SOCFW_ENOTFOUND, task_dir,
                                             0, 0, "no versions yet (hint: "
                                             "socfw run PIPELINE --continue "
                                             "RUN --data NEW.jsonl makes "
                                             "them)");
        }
        snprintf(path, sizeof path, "%s/meta.json", task_dir);
        json_t *old = json_load_file(path, 0, NULL);
        meta_arg a = {version, json_object_get(old, "task_fingerprint")};
        int rc = copy_adapter(vdir, task_dir, fix_meta, &a, err);
        json_decref(old);
        /* the promotion history in the version's metrics.json */
        snprintf(path, sizeof path, "%s/metrics.json", vdir);
        json_t *m = rc == 0 ? json_load_file(path, 0, NULL) : NULL;
        if (rc == 0 && !m)
                m = json_object();
        json_t *hist = m ? json_object_get(m, "promoted") : NULL;
        if (m && !json_is_array(hist)) {
                hist = json_array();
                json_object_set_new(m, "promoted", hist);
        }
        iso_now(when);
        if (hist)
                json_array_append_new(hist, json_pack("{s:s, s:s}", "time",
                                                      when, "why",
                                                      why ? why : ""));
        if (rc == 0)
                rc = m ? write_json(path, m, err)
                       : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        json_decref(m);
        /* last: the pointer readers follow */
        snprintf(path, sizeof path, "%s/current", task_dir);
        snprintf(num, sizeof num, "%d\n", version);
        if (rc == 0)
                rc = socfw_file_write_atomic(path, num, strlen(num), err);
        free(vdir);
        return rc;
}

int
socfw_adapter_store_adopt(const char *task_dir, json_t *info, int *current,
                          socfw_error *err)
{
        char path[4200];
        *current = 0;
        int rc = socfw_adapter_store_current(task_dir, current, err);
        if (rc < 0)
                return rc;
        snprintf(path, sizeof path, "%s/meta.json", task_dir);
        json_t *meta = json_load_file(path, 0, NULL);
        int is_version = json_is_integer(json_object_get(meta, "version"));
        json_decref(meta);
        if (*current > 0 && is_version)
                return 0;
        /* the files a run trained: they become the next version */
        json_t *m = info ? json_deep_copy(info) : json_object();
        if (!m)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        json_object_set_new(m, "decision", json_string("adopted"));
        json_object_set_new(m, "parent", *current ? json_integer(*current)
                                                  : json_null());
        int v = 0;
        rc = socfw_adapter_store_add(task_dir, task_dir, m, &v, err);
        json_decref(m);
        if (rc == 0)
                rc = socfw_adapter_store_promote(
                        task_dir, v,
                        "adopted: the adapter the run trained", err);
        if (rc == 0)
                *current = v;
        return rc;
}

int
socfw_adapter_store_parent(const char *task_dir, int version)
{
        char *vdir = socfw_adapter_store_version_dir(task_dir, version);
        char path[4400];
        snprintf(path, sizeof path, "%s/metrics.json", vdir ? vdir : "");
        free(vdir);
        json_t *m = json_load_file(path, 0, NULL);
        int parent = (int)json_integer_value(json_object_get(m, "parent"));
        json_decref(m);
        return parent;
}

int
socfw_adapter_store_list(const char *task_dir, json_t **versions,
                         socfw_error *err)
{
        int cur = 0;
        *versions = NULL;
        int rc = socfw_adapter_store_current(task_dir, &cur, err);
        if (rc < 0)
                return rc;
        json_t *arr = json_array();
        int latest = socfw_adapter_store_latest(task_dir);
        for (int v = 1; arr && v <= latest; v++) {
                char path[4400];
                snprintf(path, sizeof path, "%s/versions/v%d/metrics.json",
                         task_dir, v);
                json_error_t je;
                json_t *m = json_load_file(path, 0, &je);
                if (!m) {
                        struct stat st;
                        if (stat(path, &st) != 0)
                                continue;       /* a gap: removed by hand */
                        json_decref(arr);
                        return socfw_error_set_at(err, SOCFW_EFORMAT, path,
                                                  je.line, je.column, "%s",
                                                  je.text);
                }
                json_object_set_new(m, "version", json_integer(v));
                json_object_set_new(m, "current", json_boolean(v == cur));
                json_array_append_new(arr, m);
        }
        if (!arr)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        *versions = arr;
        return 0;
}
