/* tests/testutil.c - see testutil.h */
#include "testutil.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "socfw/pipeline.h"
#include "socfw/registry.h"
#include "socfw/runtime.h"

static const char *
env_or(const char *name, const char *fallback)
{
        const char *v = getenv(name);
        return v && *v ? v : fallback;
}

const char *
socfw_test_srcdir(void)
{
        return env_or("SOCFW_SRCDIR", SOCFW_SRCDIR);
}

const char *
socfw_test_builddir(void)
{
        return env_or("SOCFW_BUILDDIR", SOCFW_BUILDDIR);
}

const char *
socfw_test_shared_dir(void)
{
        return env_or("SOCFW_SHARED_DIR", SOCFW_SRCDIR "/../shared");
}

char *
socfw_test_path(char *buf, size_t size, const char *dir, const char *rel)
{
        snprintf(buf, size, "%s/%s", dir, rel);
        return buf;
}

int
socfw_test_shared(char *buf, size_t size, const char *rel)
{
        struct stat st;
        socfw_test_path(buf, size, socfw_test_shared_dir(), rel);
        return stat(buf, &st) == 0;
}

char *
socfw_test_tmpdir(char *buf, size_t size)
{
        snprintf(buf, size, "%s/socfw-test-XXXXXX", env_or("TMPDIR", "/tmp"));
        return mkdtemp(buf);
}

int
socfw_test_write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");
        if (!f)
                return -1;
        size_t n = fwrite(data, 1, len, f);
        return (fclose(f) == 0 && n == len) ? 0 : -1;
}

char *
socfw_test_read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        size_t cap = 4096, n = 0;
        char *buf = malloc(cap);
        size_t r;
        while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
                n += r;
                if (cap - n - 1 == 0) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb;
                        cap *= 2;
                }
        }
        fclose(f);
        if (!buf)
                return NULL;
        buf[n] = '\0';
        if (len)
                *len = n;
        return buf;
}

char *
socfw_test_run(const char *cmd, int *status)
{
        char full[8192];
        snprintf(full, sizeof full, "(%s) 2>&1 < /dev/null", cmd);
        FILE *p = popen(full, "r");
        if (!p) {
                if (status)
                        *status = -1;
                return NULL;
        }
        size_t cap = 4096, n = 0;
        char *out = malloc(cap);
        size_t r;
        while (out && (r = fread(out + n, 1, cap - n - 1, p)) > 0) {
                n += r;
                if (cap - n - 1 == 0) {
                        char *nb = realloc(out, cap * 2);
                        if (!nb)
                                break;
                        out = nb;
                        cap *= 2;
                }
        }
        int st = pclose(p);
        if (status)
                *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (out)
                out[n] = '\0';
        return out;
}

struct socfw_registry *
socfw_test_registry(void)
{
        socfw_registry *reg = socfw_registry_new();
        cr_assert_not_null(reg);
        socfw_registry_add_default_paths(reg, NULL);
        socfw_registry_scan(reg);
        return reg;
}

struct socfw_pipeline *
socfw_test_pipeline(const struct socfw_registry *reg, const char *yaml,
                    const char *dir)
{
        socfw_pipeline *p = NULL;
        socfw_error err = {0};
        int rc = socfw_pipeline_load_buffer(&p, yaml, strlen(yaml), "t.yaml",
                                            dir, NULL, 0, &err);
        if (rc == 0)
                rc = socfw_pipeline_validate(p, reg, &err);
        cr_assert_eq(rc, 0, "%s", socfw_pipeline_diag(p, 0) ?: err.message);
        return p;
}

void
socfw_test_quiet(const char *line, void *user)
{
        (void)line;
        (void)user;
}

size_t
socfw_test_utf8_chars(const char *s)
{
        size_t c = 0;
        for (; *s; s++)
                c += ((unsigned char)*s & 0xC0) != 0x80;
        return c;
}

int
socfw_test_has_icase(const char *hay, const char *needle)
{
        size_t n = strlen(needle);
        for (; *hay; hay++)
                if (!strncasecmp(hay, needle, n))
                        return 1;
        return 0;
}

socfw_fixture fx;

void
fx_setup(void)
{
        fx.reg = socfw_test_registry();
        cr_assert_not_null(socfw_test_tmpdir(fx.dir, sizeof fx.dir));
}

void
fx_teardown(void)
{
        socfw_registry_free(fx.reg);
        fx.reg = NULL;
}

socfw_pipeline *
fx_load(const char *yaml)
{
        return socfw_test_pipeline(fx.reg, yaml, fx.dir);
}

socfw_runtime *
socfw_test_runtime(const socfw_pipeline *p, const char *out_dir,
                   int from_checkpoint)
{
        socfw_runtime *rt = NULL;
        socfw_error err = {0};
        socfw_runtime_options o = {.output_dir = out_dir,
                                   .progress = socfw_test_quiet,
                                   .from_checkpoint = from_checkpoint};
        cr_assert_eq(socfw_runtime_new(&rt, p, &o, &err), 0, "%s",
                     err.message);
        return rt;
}

FILE *
socfw_test_create(const char *dir, const char *name)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f, "cannot create %s", path);
        return f;
}
