/* tests/test_io.c - atomic writes (including a SIGKILL mid-write), bounded
 * reads, file hashes and checks, mkdir -p and path helpers. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "socfw/io.h"
#include "testutil.h"

static void
rm_rf(const char *dir)
{
        char cmd[4200];
        int status;
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        free(socfw_test_run(cmd, &status));
}

static size_t
count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        size_t n = 0;
        struct dirent *e;
        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

Test(io, write_atomic_creates_and_replaces, .timeout = 10)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "a.txt");
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(path, "old\n", 4, &err), 0);
        cr_assert_eq(socfw_file_write_atomic(path, "new data\n", 9, &err), 0);
        char *data = NULL;
        size_t len = 0;
        cr_assert_eq(socfw_file_read(path, 1024, &data, &len, &err), 0);
        cr_assert_eq(len, 9);
        cr_assert_str_eq(data, "new data\n");
        free(data);
        cr_assert_eq(count_entries(dir), 1, "temporary file left behind");
        rm_rf(dir);
}

Test(io, streaming_writer_large_and_printf, .timeout = 10)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "big.bin");
        socfw_error err = {0};
        socfw_atomic_file *f;
        cr_assert_eq(socfw_atomic_file_open(&f, path, &err), 0);
        size_t total = 0;
        static char chunk[100000];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 1000; i++) {
                cr_assert_eq(socfw_atomic_file_printf(f, &err, "%04d,", i), 0);
                total += 5;
        }
        cr_assert_eq(socfw_atomic_file_write(f, chunk, sizeof chunk, &err), 0);
        total += sizeof chunk;
        /* nothing visible before commit */
        struct stat st;
        cr_assert_neq(stat(path, &st), 0);
        cr_assert_eq(socfw_atomic_file_commit(f, &err), 0);
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq((size_t)st.st_size, total);
        cr_assert_eq(st.st_mode & 0777, 0644);
        char *data;
        cr_assert_eq(socfw_file_read(path, total, &data, NULL, &err), 0);
        cr_assert_eq(strncmp(data, "0000,0001,", 10), 0);
        free(data);
        rm_rf(dir);
}

Test(io, abort_keeps_old_file_and_removes_temp, .timeout = 10)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "keep.txt");
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(path, "v1", 2, &err), 0);
        socfw_atomic_file *f;
        cr_assert_eq(socfw_atomic_file_open(&f, path, &err), 0);
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", socfw_atomic_file_temp_path(f));
        cr_assert_eq(strncmp(tmp, dir, strlen(dir)), 0, "temp not in same dir");
        socfw_atomic_file_write(f, "v2-partial", 10, &err);
        socfw_atomic_file_abort(f);
        socfw_atomic_file_abort(NULL);
        struct stat st;
        cr_assert_neq(stat(tmp, &st), 0);
        char *data;
        cr_assert_eq(socfw_file_read(path, 100, &data, NULL, &err), 0);
        cr_assert_str_eq(data, "v1");
        free(data);
        rm_rf(dir);
}

Test(io, open_in_missing_directory_fails_cleanly, .timeout = 10)
{
        socfw_error err = {0};
        socfw_atomic_file *f = (void *)1;
        int rc = socfw_atomic_file_open(&f, "/nonexistent-socfw/dir/x.txt",
                                        &err);
        cr_assert_eq(rc, SOCFW_EIO);
        cr_assert_null(f);
        cr_assert_not_null(strstr(err.message, "temporary file"));
}

Test(io, commit_failure_keeps_old_file, .timeout = 10)
{
        /* rename onto a non-empty directory fails: old content intact */
        char dir[4096], path[4096], inner[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "d");
        socfw_error err = {0};
        cr_assert_eq(socfw_dir_make(path, 0755, &err), 0);
        socfw_path_join(inner, sizeof inner, path, "x");
        cr_assert_eq(socfw_file_write_atomic(inner, "keep", 4, &err), 0);
        socfw_error_clear(&err);
        cr_assert_lt(socfw_file_write_atomic(path, "zz", 2, &err), 0);
        cr_assert_not_null(strstr(err.message, "rename"));
        cr_assert_eq(count_entries(dir), 1, "temp not removed");
        char *data;
        cr_assert_eq(socfw_file_read(inner, 100, &data, NULL, &err), 0);
        cr_assert_str_eq(data, "keep");
        free(data);
        rm_rf(dir);
}

/* A child starts an atomic write of a big file and is SIGKILLed midway;
 * the old file must be complete and loadable. */
Test(io, crash_midway_leaves_old_file_intact, .timeout = 20)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "ckpt.json");
        const char *old = "{\"step\": 100, \"loss\": 1.25}\n";
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(path, old, strlen(old), &err), 0);

        int pfd[2];
        cr_assert_eq(pipe(pfd), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                close(pfd[0]);
                socfw_atomic_file *f;
                if (socfw_atomic_file_open(&f, path, NULL) < 0)
                        _exit(2);
                static char junk[1 << 16];
                memset(junk, 'J', sizeof junk);
                for (int i = 0; i < 64; i++)
                        socfw_atomic_file_write(f, junk, sizeof junk, NULL);
                /* tell the parent we are midway, then wait to be killed */
                if (write(pfd[1], "m", 1) != 1)
                        _exit(3);
                for (;;) {
                        socfw_atomic_file_write(f, junk, sizeof junk, NULL);
                        usleep(1000);
                }
        }
        close(pfd[1]);
        char c;
        cr_assert_eq(read(pfd[0], &c, 1), 1);
        close(pfd[0]);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        char *data;
        size_t len;
        cr_assert_eq(socfw_file_read(path, 1 << 20, &data, &len, &err), 0);
        cr_assert_eq(len, strlen(old));
        cr_assert_str_eq(data, old);
        free(data);
        /* the killed writer leaves only its hidden temporary behind */
        DIR *d = opendir(dir);
        struct dirent *e;
        int temps = 0;
        while ((e = readdir(d)))
                if (strncmp(e->d_name, ".ckpt.json.tmp-", 15) == 0)
                        temps++;
        closedir(d);
        cr_assert_eq(temps, 1);
        /* and a new atomic write still works */
        cr_assert_eq(socfw_file_write_atomic(path, "{}", 2, &err), 0);
        rm_rf(dir);
}

Test(io, read_cap_and_missing, .timeout = 10)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "f");
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(path, "0123456789", 10, &err), 0);
        char *data = NULL;
        cr_assert_eq(socfw_file_read(path, 9, &data, NULL, &err), SOCFW_ENOMEM);
        cr_assert_null(data);
        cr_assert_not_null(strstr(err.message, "limit"));
        socfw_error_clear(&err);
        cr_assert_eq(socfw_file_read(path, 10, &data, NULL, &err), 0);
        free(data);
        socfw_path_join(path, sizeof path, dir, "missing");
        cr_assert_eq(socfw_file_read(path, 10, &data, NULL, &err),
                     SOCFW_ENOTFOUND);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_file_read(dir, 10, &data, NULL, &err), SOCFW_EIO);
        rm_rf(dir);
}

Test(io, mkdir_p, .timeout = 10)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "a/b//c/");
        socfw_error err = {0};
        cr_assert_eq(socfw_dir_make(path, 0755, &err), 0);
        cr_assert_eq(socfw_dir_make(path, 0755, &err), 0);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert(S_ISDIR(st.st_mode));
        socfw_path_join(path, sizeof path, dir, "a/b/file");
        cr_assert_eq(socfw_file_write_atomic(path, "x", 1, &err), 0);
        socfw_path_join(path, sizeof path, dir, "a/b/file/sub");
        cr_assert_eq(socfw_dir_make(path, 0755, &err), SOCFW_EIO);
        rm_rf(dir);
}

struct join_case { const char *a, *b, *want; };

Test(io, path_helpers)
{
        static const struct join_case cases[] = {
                {"a", "b", "a/b"}, {"a/", "b", "a/b"}, {"", "b", "b"},
                {"a", "/abs", "/abs"}, {"a", "", "a"}, {"/", "x", "/x"},
        };
        char buf[64];
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                cr_assert_eq(socfw_path_join(buf, sizeof buf, cases[i].a,
                                             cases[i].b), 0);
                cr_assert_str_eq(buf, cases[i].want, "join(%s,%s)",
                                 cases[i].a, cases[i].b);
        }
        cr_assert_eq(socfw_path_join(buf, 4, "abc", "def"), SOCFW_EINVAL);
        cr_assert_str_eq(buf, "");
        char *j = socfw_path_join_alloc("runs/x", "metrics.json");
        cr_assert_str_eq(j, "runs/x/metrics.json");
        free(j);
        static const struct join_case dn[] = {
                {"a/b/c", NULL, "a/b"}, {"c", NULL, "."}, {"/c", NULL, "/"},
                {"a//b/", NULL, "a"}, {"/", NULL, "/"},
        };
        for (size_t i = 0; i < sizeof dn / sizeof dn[0]; i++) {
                cr_assert_eq(socfw_path_dirname(buf, sizeof buf, dn[i].a), 0);
                cr_assert_str_eq(buf, dn[i].want, "dirname(%s)", dn[i].a);
        }
        cr_assert_str_eq(socfw_path_basename("a/b/c.txt"), "c.txt");
        cr_assert_str_eq(socfw_path_basename("c.txt"), "c.txt");
        cr_assert_str_eq(socfw_path_basename("a/"), "");
}

/* ---- file hashes and checks ---- */

Test(io, sha256_of_files_matches_the_published_digests, .timeout = 20)
{
        /* FIPS 180-2 examples: "abc", the empty string, a million 'a'
         * (several 64 KiB read blocks) */
        static const struct {
                const char *text;
                size_t repeat;
                const char *want;
        } cases[] = {
                {"abc", 1, "ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad"},
                {"", 0, "e3b0c44298fc1c149afbf4c8996fb924"
                        "27ae41e4649b934ca495991b7852b855"},
                {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
                               "f1809a48a497200e046d39ccc7112cd0"},
        };
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "f");
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                size_t n = strlen(cases[i].text) * cases[i].repeat;
                char *buf = malloc(n + 1);
                cr_assert_not_null(buf);
                for (size_t r = 0, at = 0; r < cases[i].repeat; r++) {
                        memcpy(buf + at, cases[i].text, strlen(cases[i].text));
                        at += strlen(cases[i].text);
                }
                socfw_error err = {0};
                cr_assert_eq(socfw_file_write_atomic(path, buf, n, &err), 0);
                free(buf);
                char hex[65];
                uint64_t size = 12345;
                cr_assert_eq(socfw_file_sha256(path, hex, &size, &err), 0,
                             "%s", err.message);
                cr_assert_str_eq(hex, cases[i].want, "case %zu", i);
                cr_assert_eq(size, (uint64_t)n);
                /* size is optional */
                cr_assert_eq(socfw_file_sha256(path, hex, NULL, &err), 0);
                cr_assert_str_eq(hex, cases[i].want);
        }
        rm_rf(dir);
}

Test(io, sha256_errors_name_the_file_and_leave_the_output, .timeout = 10)
{
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        char hex[65] = "untouched";
        uint64_t size = 7;
        socfw_error err = {0};
        /* missing */
        socfw_path_join(path, sizeof path, dir, "missing");
        cr_assert_eq(socfw_file_sha256(path, hex, &size, &err),
                     SOCFW_ENOTFOUND);
        cr_assert_not_null(strstr(err.file, "missing"), "%s", err.file);
        cr_assert_str_eq(hex, "untouched");
        cr_assert_eq(size, 7);
        socfw_error_clear(&err);
        /* a directory */
        cr_assert_eq(socfw_file_sha256(dir, hex, &size, &err), SOCFW_EIO);
        cr_assert_not_null(strstr(err.message, "directory"), "%s",
                           err.message);
        cr_assert_str_eq(hex, "untouched");
        socfw_error_clear(&err);
        /* opened but unreadable: /proc/self/mem at offset 0 is not mapped,
         * so read() fails even for root */
        if (socfw_path_is_file("/proc/self/mem")) {
                cr_assert_eq(socfw_file_sha256("/proc/self/mem", hex, &size,
                                               &err),
                             SOCFW_EIO);
                cr_assert_not_null(strstr(err.message, "cannot read"), "%s",
                                   err.message);
                cr_assert_str_eq(hex, "untouched");
                cr_assert_eq(size, 7);
                socfw_error_clear(&err);
        }
        rm_rf(dir);
}

Test(io, sha256_of_a_file_without_read_permission_fails, .timeout = 10)
{
        if (geteuid() == 0)
                cr_skip_test("skipped: running as root, which reads a "
                             "mode-000 file anyway");
        char dir[4096], path[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(path, sizeof path, dir, "secret");
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(path, "x", 1, &err), 0);
        cr_assert_eq(chmod(path, 0), 0);
        char hex[65] = "untouched";
        cr_assert_eq(socfw_file_sha256(path, hex, NULL, &err), SOCFW_EIO);
        cr_assert_not_null(strstr(err.message, "cannot open"), "%s",
                           err.message);
        cr_assert_str_eq(hex, "untouched");
        /* a file is still a file when it cannot be read */
        cr_assert_eq(socfw_path_is_file(path), 1);
        rm_rf(dir);
}

Test(io, copy_streams_any_size_and_fails_without_touching_the_target,
     .timeout = 20)
{
        char dir[4096], a[4096], b[4096], missing[4096], nodir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(a, sizeof a, dir, "a.bin");
        socfw_path_join(b, sizeof b, dir, "b.bin");
        socfw_path_join(missing, sizeof missing, dir, "missing");
        socfw_path_join(nodir, sizeof nodir, dir, "no/such/dir/c.bin");
        /* 200,001 bytes, NULs included: several read blocks */
        size_t n = 200001;
        char *data = malloc(n);
        cr_assert_not_null(data);
        for (size_t i = 0; i < n; i++)
                data[i] = (char)(i * 7919 % 251);
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(a, data, n, &err), 0);
        cr_assert_eq(socfw_file_copy(a, b, &err), 0, "%s", err.message);
        char *got = NULL;
        size_t len = 0;
        cr_assert_eq(socfw_file_read(b, n, &got, &len, &err), 0);
        cr_assert_eq(len, n);
        cr_assert(memcmp(got, data, n) == 0, "copy differs");
        free(got);
        /* over an existing file; then failures leave it as it is */
        cr_assert_eq(socfw_file_write_atomic(a, "new", 3, &err), 0);
        cr_assert_eq(socfw_file_copy(a, b, &err), 0);
        cr_assert_eq(socfw_file_copy(missing, b, &err), SOCFW_ENOTFOUND);
        cr_assert_not_null(strstr(err.file, "missing"), "%s", err.file);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_file_copy(dir, b, &err), SOCFW_EIO);
        cr_assert_not_null(strstr(err.message, "directory"), "%s",
                           err.message);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_file_copy("/proc/self/mem", b, &err), SOCFW_EIO);
        socfw_error_clear(&err);
        cr_assert_lt(socfw_file_copy(a, nodir, &err), 0);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_file_read(b, 16, &got, &len, &err), 0);
        cr_assert_str_eq(got, "new");
        free(got);
        cr_assert_eq(count_entries(dir), 2, "temporary file left behind");
        free(data);
        rm_rf(dir);
}

Test(io, is_file_is_dir_and_ends_with, .timeout = 10)
{
        char dir[4096], file[4096], link[4096], missing[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_path_join(file, sizeof file, dir, "model.gguf");
        socfw_path_join(link, sizeof link, dir, "link");
        socfw_path_join(missing, sizeof missing, dir, "missing");
        socfw_error err = {0};
        cr_assert_eq(socfw_file_write_atomic(file, "x", 1, &err), 0);
        cr_assert_eq(symlink("model.gguf", link), 0);
        cr_assert_eq(socfw_path_is_file(file), 1);
        cr_assert_eq(socfw_path_is_file(link), 1, "links are followed");
        cr_assert_eq(socfw_path_is_file(dir), 0);
        cr_assert_eq(socfw_path_is_file(missing), 0);
        cr_assert_eq(socfw_path_is_file("/dev/null"), 0);
        cr_assert_eq(socfw_path_is_file(NULL), 0);
        cr_assert_eq(socfw_path_is_dir(dir), 1);
        cr_assert_eq(socfw_path_is_dir(file), 0);
        cr_assert_eq(socfw_path_is_dir(missing), 0);
        cr_assert_eq(socfw_path_is_dir(NULL), 0);
        static const struct {
                const char *s, *suffix;
                int want;
        } cases[] = {
                {"model.gguf", ".gguf", 1}, {"model.gguf.part", ".gguf", 0},
                {".gguf", ".gguf", 1},      {"gguf", ".gguf", 0},
                {"", "", 1},                {"abc", "", 1},
                {"", "x", 0},               {"blk.3.attn_v.weight",
                                             ".attn_v.weight", 1},
                {"a.la", ".so", 0},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                cr_assert_eq(socfw_str_ends_with(cases[i].s, cases[i].suffix),
                             cases[i].want, "ends_with(%s, %s)", cases[i].s,
                             cases[i].suffix);
        cr_assert_eq(socfw_str_ends_with(NULL, ""), 0);
        cr_assert_eq(socfw_str_ends_with("x", NULL), 0);
        rm_rf(dir);
}

/* ---- line reader ---- */

/* All lines of `path` joined by '|', and the count of skipped ones. */
static char *
read_lines(const char *path, size_t max_line, long *skipped, int *rc)
{
        socfw_line_reader *r = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_line_reader_open(&r, path, max_line, &err), 0,
                     "%s", err.message);
        size_t cap = 1 << 20, n = 0;
        char *out = calloc(cap, 1);
        const char *line;
        size_t len;
        while ((*rc = socfw_line_reader_next(r, &line, &len, &err)) == 1) {
                cr_assert_eq(strlen(line), len, "embedded NUL or bad length");
                cr_assert_lt(n + len + 2, cap);
                memcpy(out + n, line, len);
                n += len;
                out[n++] = '|';
        }
        *skipped = socfw_line_reader_skipped(r);
        socfw_line_reader_close(r);
        return out;
}

static void
write_bytes(const char *path, const char *data, size_t len)
{
        cr_assert_eq(socfw_test_write_file(path, data, len), 0);
}

Test(lines, plain_and_gzip_read_the_same_lines, .timeout = 10)
{
        char dir[4096], plain[4200], gz[4200], cmd[9000];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(plain, sizeof plain, "%s/a.txt", dir);
        snprintf(gz, sizeof gz, "%s/a.txt.gz", dir);
        /* CRLF, an empty line, UTF-8, and no newline at the end */
        const char text[] = "one\r\ntwo\n\nnaïve 中文\nlast";
        write_bytes(plain, text, sizeof text - 1);
        snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", plain, gz);
        cr_assert_eq(system(cmd), 0);
        long sk = -1;
        int rc = 0;
        char *a = read_lines(plain, 0, &sk, &rc);
        cr_expect_eq(rc, 0);
        cr_expect_str_eq(a, "one|two||naïve 中文|last|");
        char *b = read_lines(gz, 0, &sk, &rc);
        cr_expect_eq(rc, 0);
        cr_expect_str_eq(b, a);
        cr_expect_eq(sk, 0);
        free(a);
        free(b);
}

Test(lines, many_lines_across_buffer_boundaries, .timeout = 10)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/big.txt", dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        for (int i = 0; i < 30000; i++)
                fprintf(f, "line %d %.*s\n", i, i % 37, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        fclose(f);
        socfw_line_reader *r = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_line_reader_open(&r, path, 0, &err), 0);
        const char *line;
        size_t len;
        int i = 0, rc;
        while ((rc = socfw_line_reader_next(r, &line, &len, &err)) == 1) {
                char want[128];
                snprintf(want, sizeof want, "line %d %.*s", i, i % 37,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                cr_assert_str_eq(line, want);
                i++;
        }
        cr_expect_eq(rc, 0);
        cr_expect_eq(i, 30000);
        cr_expect_eq(socfw_line_reader_line(r), 30000);
        socfw_line_reader_close(r);
}

Test(lines, overlong_lines_are_skipped_and_counted, .timeout = 10)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/long.txt", dir);
        size_t big = 300000;
        char *data = malloc(big + 64);
        size_t n = 0;
        n += (size_t)sprintf(data + n, "short\n");
        memset(data + n, 'z', big);
        n += big;
        n += (size_t)sprintf(data + n, "\nafter\n");
        write_bytes(path, data, n);
        free(data);
        long sk = 0;
        int rc = 0;
        char *a = read_lines(path, 1000, &sk, &rc);
        cr_expect_eq(rc, 0);
        cr_expect_str_eq(a, "short|after|");
        cr_expect_eq(sk, 1);
        free(a);
}

Test(lines, a_truncated_gzip_file_is_an_error_naming_it, .timeout = 10)
{
        char dir[4096], plain[4200], gz[4200], cmd[9000];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(plain, sizeof plain, "%s/t.txt", dir);
        snprintf(gz, sizeof gz, "%s/t.txt.gz", dir);
        FILE *f = fopen(plain, "w");
        for (int i = 0; i < 20000; i++)
                fprintf(f, "%d some words to compress %d\n", i, i * 7);
        fclose(f);
        snprintf(cmd, sizeof cmd, "gzip -c '%s' | head -c 20000 > '%s'",
                 plain, gz);
        cr_assert_eq(system(cmd), 0);
        socfw_line_reader *r = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_line_reader_open(&r, gz, 0, &err), 0);
        const char *line;
        size_t len;
        int rc;
        while ((rc = socfw_line_reader_next(r, &line, &len, &err)) == 1)
                ;
        cr_expect_eq(rc, SOCFW_EIO);
        cr_expect(strstr(err.file, "t.txt.gz") != NULL, "%s", err.file);
        cr_expect_gt(err.line, 1);
        socfw_line_reader_close(r);
        /* and a file that does not exist */
        memset(&err, 0, sizeof err);
        cr_expect_eq(socfw_line_reader_open(&r, "/nonexistent/x.gz", 0, &err),
                     SOCFW_EIO);
        cr_expect(strstr(err.message, "No such file") != NULL, "%s",
                  err.message);
}
