/* test_dialog_sessions.c - conversations kept in SQLite. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sessions.h"
#include "testutil.h"

static char *
db_path(char *buf, size_t size)
{
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(buf, size, "%s/sessions.db", dir);
        return buf;
}

static socfw_dialog_store *
open_store(const char *path, int busy_ms)
{
        socfw_dialog_store *st = NULL;
        socfw_error err = {0};
        socfw_dialog_store_opts o = {.busy_timeout_ms = busy_ms};
        cr_assert_eq(socfw_dialog_store_open(&st, path, &o, &err), 0, "%s",
                     err.message);
        return st;
}

static void
append1(socfw_dialog_store *st, const char *id, socfw_dialog_role role,
        const char *text, const char *label)
{
        socfw_dialog_turn t = {.role = role, .text = text, .label = label};
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_store_append(st, id, &t, 1, &err), 0, "%s",
                     err.message);
}

/* The conversation every restart test writes and reads back. */
static void
write_alice(socfw_dialog_store *st)
{
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_store_create(st, "alice", "Be kind.", &err),
                     0, "%s", err.message);
        socfw_dialog_turn t[] = {
                {.role = SOCFW_DIALOG_USER, .text = "my order is late 😠",
                 .label = "negative"},
                {.role = SOCFW_DIALOG_ASSISTANT, .text = "Sorry! Let me check."},
        };
        cr_assert_eq(socfw_dialog_store_append(st, "alice", t, 2, &err), 0,
                     "%s", err.message);
}

/* 0 when the store holds write_alice's conversation, else which check
 * failed (usable in a child process, where Criterion asserts are not). */
static int
check_alice(socfw_dialog_store *st)
{
        socfw_dialog_context *c = NULL;
        if (socfw_dialog_store_load(st, "alice", 0, &c, NULL) < 0)
                return 1;
        const socfw_dialog_turn *t = socfw_dialog_context_turns(c);
        int bad = strcmp(socfw_dialog_context_system(c), "Be kind.") ? 2
                  : socfw_dialog_context_count(c) != 2               ? 3
                  : t[0].role != SOCFW_DIALOG_USER                   ? 4
                  : strcmp(t[0].text, "my order is late 😠")         ? 5
                  : !t[0].label || strcmp(t[0].label, "negative")    ? 6
                  : t[1].role != SOCFW_DIALOG_ASSISTANT              ? 7
                  : strcmp(t[1].text, "Sorry! Let me check.")        ? 8
                  : t[1].label != NULL                               ? 9
                  : t[0].created < 1600000000                        ? 10
                                                                     : 0;
        socfw_dialog_context_free(c);
        return bad;
}

static char *
slurp(const char *path, size_t *len)
{
        char *s = socfw_test_read_file(path, len);
        cr_assert_not_null(s, "cannot read %s", path);
        return s;
}

Test(dialog_sessions, survive_reopen, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        write_alice(st);
        socfw_dialog_store_close(st);

        st = open_store(path, 0);
        cr_expect_eq(check_alice(st), 0);
        /* continue the conversation; load only the last turns */
        append1(st, "alice", SOCFW_DIALOG_USER, "thanks", NULL);
        socfw_dialog_store_close(st);
        st = open_store(path, 0);
        socfw_dialog_context *c = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_store_load(st, "alice", 2, &c, &err), 0);
        cr_assert_eq(socfw_dialog_context_count(c), 2);
        cr_expect_str_eq(socfw_dialog_context_turns(c)[0].text,
                         "Sorry! Let me check.");
        cr_expect_str_eq(socfw_dialog_context_turns(c)[1].text, "thanks");
        socfw_dialog_context_free(c);
        socfw_dialog_store_close(st);
        /* it really is an SQLite database in WAL mode */
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
        sqlite3_stmt *s = NULL;
        cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s,
                                        NULL),
                     SQLITE_OK);
        cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
        cr_expect_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
        sqlite3_finalize(s);
        cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM turn", -1,
                                        &s, NULL),
                     SQLITE_OK);
        cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
        cr_expect_eq(sqlite3_column_int(s, 0), 3);
        sqlite3_finalize(s);
        sqlite3_close(db);
}

Test(dialog_sessions, survive_process_restart, .timeout = 30)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        write_alice(st);
        socfw_dialog_store_close(st);

        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
                /* a new process: reads the conversation, adds a turn */
                socfw_dialog_store *cs = NULL;
                if (socfw_dialog_store_open(&cs, path, NULL, NULL) < 0)
                        _exit(100);
                int bad = check_alice(cs);
                socfw_dialog_turn t = {.role = SOCFW_DIALOG_USER,
                                       .text = "from the child"};
                if (!bad && socfw_dialog_store_append(cs, "alice", &t, 1,
                                                      NULL) < 0)
                        bad = 101;
                socfw_dialog_store_close(cs);
                _exit(bad);
        }
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status));
        cr_expect_eq(WEXITSTATUS(status), 0, "child check %d failed",
                     WEXITSTATUS(status));
        st = open_store(path, 0);
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_store_load(st, "alice", 0, &c, NULL), 0);
        cr_assert_eq(socfw_dialog_context_count(c), 3);
        cr_expect_str_eq(socfw_dialog_context_turns(c)[2].text,
                         "from the child");
        socfw_dialog_context_free(c);
        socfw_dialog_store_close(st);
}

Test(dialog_sessions, killed_writer_leaves_no_half_exchange, .timeout = 30)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        cr_assert_eq(socfw_dialog_store_create(st, "s", NULL, NULL), 0);
        socfw_dialog_store_close(st);
        int ready[2];
        cr_assert_eq(pipe(ready), 0);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
                /* append question+answer pairs until killed */
                socfw_dialog_store *cs = NULL;
                if (socfw_dialog_store_open(&cs, path, NULL, NULL) < 0)
                        _exit(1);
                for (int i = 0; i < 200000; i++) {
                        char q[64], a[64];
                        snprintf(q, sizeof q, "question %d", i);
                        snprintf(a, sizeof a, "answer %d", i);
                        socfw_dialog_turn t[2] = {
                                {.role = SOCFW_DIALOG_USER, .text = q},
                                {.role = SOCFW_DIALOG_ASSISTANT, .text = a},
                        };
                        if (socfw_dialog_store_append(cs, "s", t, 2, NULL) < 0)
                                _exit(2);
                        if (i == 20 && write(ready[1], "r", 1) != 1)
                                _exit(3);
                }
                _exit(0);
        }
        char r;
        cr_assert_eq(read(ready[0], &r, 1), 1);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        close(ready[0]);
        close(ready[1]);

        st = open_store(path, 0);
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_store_load(st, "s", 0, &c, NULL), 0);
        size_t n = socfw_dialog_context_count(c);
        cr_expect_geq(n, 42);
        cr_expect_eq(n % 2, 0, "a half exchange was stored (%zu turns)", n);
        const socfw_dialog_turn *t = socfw_dialog_context_turns(c);
        for (size_t i = 0; i < n; i++) {
                char want[64];
                snprintf(want, sizeof want, "%s %zu",
                         i % 2 ? "answer" : "question", i / 2);
                cr_expect_str_eq(t[i].text, want);
        }
        socfw_dialog_context_free(c);
        socfw_dialog_store_close(st);
}

static void
expect_locked(const socfw_error *err, const char *path)
{
        char buf[2048];
        socfw_error_string(err, buf, sizeof buf);
        cr_expect(strstr(buf, path) != NULL, "no file name in: %s", buf);
        cr_expect(strstr(buf, "locked") != NULL, "%s", buf);
        cr_expect(strstr(buf, "hint:") != NULL, "%s", buf);
}

Test(dialog_sessions, locked_by_other_connection, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 150);
        write_alice(st);
        sqlite3 *other = NULL;
        cr_assert_eq(sqlite3_open(path, &other), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(other,
                                  "BEGIN EXCLUSIVE; UPDATE session SET "
                                  "updated = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
        socfw_dialog_turn t = {.role = SOCFW_DIALOG_USER, .text = "hello?"};
        socfw_error err = {0};
        cr_expect_eq(socfw_dialog_store_append(st, "alice", &t, 1, &err),
                     SOCFW_EIO);
        expect_locked(&err, path);
        /* reading still works in WAL mode, and nothing half-written */
        cr_expect_eq(check_alice(st), 0);
        cr_assert_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
        sqlite3_close(other);
        /* lock gone: the append goes through */
        socfw_error e2 = {0};
        cr_expect_eq(socfw_dialog_store_append(st, "alice", &t, 1, &e2), 0,
                     "%s", e2.message);
        socfw_dialog_store_close(st);
}

Test(dialog_sessions, locked_by_other_process, .timeout = 30)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 200);
        write_alice(st);
        socfw_dialog_store_close(st);
        int ready[2], done[2];
        cr_assert_eq(pipe(ready), 0);
        cr_assert_eq(pipe(done), 0);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
                sqlite3 *db = NULL;
                alarm(20); /* never outlive the test */
                if (sqlite3_open(path, &db) != SQLITE_OK ||
                    sqlite3_exec(db,
                                 "BEGIN EXCLUSIVE; INSERT INTO session(id, "
                                 "created, updated) VALUES ('x', 1, 1)",
                                 NULL, NULL, NULL) != SQLITE_OK)
                        _exit(1);
                char c = 'r';
                if (write(ready[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
                        _exit(2);
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                sqlite3_close(db);
                _exit(0);
        }
        char c;
        cr_assert_eq(read(ready[0], &c, 1), 1);
        socfw_error err = {0};
        st = open_store(path, 200);
        cr_expect_eq(socfw_dialog_store_create(st, "bob", NULL, &err),
                     SOCFW_EIO);
        expect_locked(&err, path);
        cr_expect(strstr(err.message, "200 ms"), "%s", err.message);
        cr_assert_eq(write(done[1], "d", 1), 1);
        int status = 0;
        waitpid(pid, &status, 0);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        cr_expect_eq(socfw_dialog_store_create(st, "bob", NULL, NULL), 0);
        int ex = 0;
        cr_expect_eq(socfw_dialog_store_exists(st, "x", &ex, NULL), 0);
        cr_expect_eq(ex, 0, "the killed transaction left a row");
        socfw_dialog_store_close(st);
        close(ready[0]);
        close(ready[1]);
        close(done[0]);
        close(done[1]);
}

/* Open must fail with `code` and a message containing `want`, and leave the
 * file's bytes exactly as they were. */
static void
expect_untouched(const char *path, int code, const char *want)
{
        size_t before_len = 0, after_len = 0;
        char *before = slurp(path, &before_len);
        socfw_dialog_store *st = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_dialog_store_open(&st, path, NULL, &err), code,
                     "%s", err.message);
        cr_expect_null(st);
        char buf[2048];
        socfw_error_string(&err, buf, sizeof buf);
        cr_expect(strstr(buf, path) && strstr(buf, want) &&
                  strstr(buf, "hint:"),
                  "%s", buf);
        char *after = slurp(path, &after_len);
        cr_expect_eq(after_len, before_len);
        cr_expect(memcmp(before, after, before_len) == 0,
                  "the file was changed");
        char side[4300];
        struct stat sb;
        snprintf(side, sizeof side, "%s-wal", path);
        cr_expect(stat(side, &sb) < 0 || sb.st_size == 0);
        free(before);
        free(after);
        socfw_dialog_store_close(st);
}

Test(dialog_sessions, corrupt_file_never_overwritten, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        char garbage[3000];
        for (size_t i = 0; i < sizeof garbage; i++)
                garbage[i] = (char)(i * 7 + 3);
        cr_assert_eq(socfw_test_write_file(path, garbage, sizeof garbage), 0);
        expect_untouched(path, SOCFW_EFORMAT, "not an SQLite database");
        /* a text file */
        cr_assert_eq(socfw_test_write_file(path, "hello\n", 6), 0);
        expect_untouched(path, SOCFW_EFORMAT, "not an SQLite database");
}

Test(dialog_sessions, truncated_file_never_overwritten, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        write_alice(st);
        char *big = malloc(60000);
        memset(big, 'z', 59999);
        big[59999] = '\0';
        append1(st, "alice", SOCFW_DIALOG_USER, big, NULL);
        free(big);
        socfw_dialog_store_close(st);
        size_t len = 0;
        char *bytes = slurp(path, &len);
        cr_assert_gt(len, 8192);
        /* cut at a page boundary, and mid-page */
        cr_assert_eq(socfw_test_write_file(path, bytes, 8192), 0);
        expect_untouched(path, SOCFW_EFORMAT, "truncated");
        cr_assert_eq(socfw_test_write_file(path, bytes, len / 2 + 100), 0);
        expect_untouched(path, SOCFW_EFORMAT, "truncated");
        cr_assert_eq(socfw_test_write_file(path, bytes, 50), 0);
        expect_untouched(path, SOCFW_EFORMAT, "truncated");
        free(bytes);
}

Test(dialog_sessions, damaged_page_found_on_load_file_untouched,
     .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        write_alice(st);
        char *big = malloc(30000);
        memset(big, 'q', 29999);
        big[29999] = '\0';
        append1(st, "alice", SOCFW_DIALOG_USER, big, NULL);
        free(big);
        socfw_dialog_store_close(st);
        size_t len = 0;
        char *bytes = slurp(path, &len);
        /* scribble over everything after the first two pages */
        size_t page = (size_t)((unsigned char)bytes[16] << 8 |
                               (unsigned char)bytes[17]);
        cr_assert_gt(len, 3 * page);
        for (size_t i = 2 * page; i < len; i++)
                bytes[i] = (char)0xA5;
        cr_assert_eq(socfw_test_write_file(path, bytes, len), 0);
        socfw_error err = {0};
        int rc = socfw_dialog_store_open(&st, path, NULL, &err);
        if (rc == 0) {
                socfw_dialog_context *c = NULL;
                rc = socfw_dialog_store_load(st, "alice", 0, &c, &err);
                socfw_dialog_context_free(c);
                socfw_dialog_store_close(st);
        }
        cr_expect_eq(rc, SOCFW_EFORMAT, "%s", err.message);
        cr_expect(strstr(err.message, "corrupt") &&
                  strstr(err.message, "untouched"),
                  "%s", err.message);
        size_t after_len = 0;
        char *after = slurp(path, &after_len);
        cr_expect_eq(after_len, len);
        cr_expect(memcmp(after, bytes, len) == 0, "the file was changed");
        free(after);
        free(bytes);
}

Test(dialog_sessions, foreign_sqlite_database_untouched, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db,
                                  "CREATE TABLE notes(x TEXT);"
                                  "INSERT INTO notes VALUES ('precious')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
        sqlite3_close(db);
        expect_untouched(path, SOCFW_EFORMAT, "not a socfw session store");
}

Test(dialog_sessions, bad_turns_rejected_nothing_stored, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        cr_assert_eq(socfw_dialog_store_create(st, "s", NULL, NULL), 0);
        static const char *const bad[] = {"", " \n", "bad \xff byte",
                                          "\xc3\x28"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                /* a good turn followed by a bad one: neither is stored */
                socfw_dialog_turn t[2] = {
                        {.role = SOCFW_DIALOG_USER, .text = "good"},
                        {.role = SOCFW_DIALOG_ASSISTANT, .text = bad[i]},
                };
                socfw_error err = {0};
                cr_expect_eq(socfw_dialog_store_append(st, "s", t, 2, &err),
                             SOCFW_EINVAL, "case %zu", i);
                cr_expect(strstr(err.message, i < 2 ? "empty" : "UTF-8"),
                          "case %zu: %s", i, err.message);
        }
        socfw_dialog_turn t = {.role = SOCFW_DIALOG_USER, .text = NULL};
        cr_expect_eq(socfw_dialog_store_append(st, "s", &t, 1, NULL),
                     SOCFW_EINVAL);
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_store_load(st, "s", 0, &c, NULL), 0);
        cr_expect_eq(socfw_dialog_context_count(c), 0);
        socfw_dialog_context_free(c);
        socfw_dialog_store_close(st);
}

Test(dialog_sessions, big_messages_and_size_limit, .timeout = 30)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        cr_assert_eq(socfw_dialog_store_create(st, "s", NULL, NULL), 0);
        /* 100 kB of mixed text round-trips byte for byte */
        size_t n = 100 * 1024;
        char *big = malloc(n + 8);
        const char *piece = "héllo 世界 😀 ";
        size_t pl = strlen(piece), len = 0;
        while (len + pl <= n) {
                memcpy(big + len, piece, pl);
                len += pl;
        }
        big[len] = '\0';
        cr_assert_gt(len, 100000);
        append1(st, "s", SOCFW_DIALOG_USER, big, NULL);
        socfw_dialog_store_close(st);
        st = open_store(path, 0);
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_store_load(st, "s", 0, &c, NULL), 0);
        cr_assert_eq(socfw_dialog_context_count(c), 1);
        cr_expect_eq(socfw_dialog_context_turns(c)[0].len, len);
        cr_expect(memcmp(socfw_dialog_context_turns(c)[0].text, big, len) ==
                  0);
        socfw_dialog_context_free(c);
        free(big);

        /* the default limit is 1 MiB: exactly that is fine, one more byte
         * is not */
        size_t mib = (size_t)1 << 20;
        char *huge = malloc(mib + 2);
        memset(huge, 'a', mib + 1);
        huge[mib + 1] = '\0';
        socfw_dialog_turn t = {.role = SOCFW_DIALOG_USER, .text = huge};
        socfw_error err = {0};
        cr_expect_eq(socfw_dialog_store_append(st, "s", &t, 1, &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "too long") &&
                  strstr(err.message, "1048576"),
                  "%s", err.message);
        huge[mib] = '\0';
        socfw_error e2 = {0};
        cr_expect_eq(socfw_dialog_store_append(st, "s", &t, 1, &e2), 0, "%s",
                     e2.message);
        free(huge);
        socfw_dialog_store_close(st);

        /* a configured limit */
        socfw_dialog_store_opts o = {.max_message = 100};
        cr_assert_eq(socfw_dialog_store_open(&st, path, &o, NULL), 0);
        char msg[102];
        memset(msg, 'b', 101);
        msg[101] = '\0';
        t.text = msg;
        socfw_error e3 = {0};
        cr_expect_eq(socfw_dialog_store_append(st, "s", &t, 1, &e3),
                     SOCFW_EINVAL);
        cr_expect(strstr(e3.message, "100"), "%s", e3.message);
        msg[100] = '\0';
        cr_expect_eq(socfw_dialog_store_append(st, "s", &t, 1, NULL), 0);
        socfw_dialog_store_close(st);
}

Test(dialog_sessions, unknown_and_duplicate_ids, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        socfw_dialog_context *c = NULL;
        socfw_error err = {0};
        cr_expect_eq(socfw_dialog_store_load(st, "nobody", 0, &c, &err),
                     SOCFW_ENOTFOUND);
        cr_expect_null(c);
        cr_expect(strstr(err.message, "'nobody'") &&
                  strstr(err.message, "hint:"),
                  "%s", err.message);
        cr_expect_str_eq(err.file, path);
        socfw_dialog_turn t = {.role = SOCFW_DIALOG_USER, .text = "hi"};
        cr_expect_eq(socfw_dialog_store_append(st, "nobody", &t, 1, NULL),
                     SOCFW_ENOTFOUND);
        cr_expect_eq(socfw_dialog_store_reset(st, "nobody", NULL),
                     SOCFW_ENOTFOUND);
        cr_expect_eq(socfw_dialog_store_delete(st, "nobody", NULL),
                     SOCFW_ENOTFOUND);
        /* bad ids */
        cr_expect_eq(socfw_dialog_store_create(st, "", NULL, NULL),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_dialog_store_create(st, "a\nb", NULL, NULL),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_dialog_store_create(st, "\xff", NULL, NULL),
                     SOCFW_EINVAL);
        /* create, then create again */
        cr_expect_eq(socfw_dialog_store_create(st, "bob", "P", NULL), 0);
        socfw_error e2 = {0};
        cr_expect_eq(socfw_dialog_store_create(st, "bob", "Q", &e2),
                     SOCFW_ESTATE);
        cr_expect(strstr(e2.message, "already exists"), "%s", e2.message);
        /* load_or_create: makes a new one, then finds it */
        int created = 0;
        cr_assert_eq(socfw_dialog_store_load_or_create(st, "carol", "Hi!", 0,
                                                       &c, &created, NULL),
                     0);
        cr_expect_eq(created, 1);
        cr_expect_str_eq(socfw_dialog_context_system(c), "Hi!");
        socfw_dialog_context_free(c);
        cr_assert_eq(socfw_dialog_store_load_or_create(st, "carol", "Other",
                                                       0, &c, &created, NULL),
                     0);
        cr_expect_eq(created, 0);
        cr_expect_str_eq(socfw_dialog_context_system(c), "Hi!");
        socfw_dialog_context_free(c);
        /* ids are data, never SQL */
        const char *evil = "x'); DROP TABLE turn; --";
        cr_expect_eq(socfw_dialog_store_create(st, evil, NULL, NULL), 0);
        append1(st, evil, SOCFW_DIALOG_USER, "still here", NULL);
        cr_assert_eq(socfw_dialog_store_load(st, evil, 0, &c, NULL), 0);
        cr_expect_eq(socfw_dialog_context_count(c), 1);
        socfw_dialog_context_free(c);
        socfw_dialog_store_close(st);
}

Test(dialog_sessions, reset_list_delete_persona, .timeout = 20)
{
        char path[4200];
        db_path(path, sizeof path);
        socfw_dialog_store *st = open_store(path, 0);
        write_alice(st);
        cr_assert_eq(socfw_dialog_store_create(st, "bob", NULL, NULL), 0);
        socfw_dialog_session_info *v = NULL;
        size_t n = 0;
        cr_assert_eq(socfw_dialog_store_list(st, &v, &n, NULL), 0);
        cr_assert_eq(n, 2);
        size_t ia = strcmp(v[0].id, "alice") == 0 ? 0 : 1;
        cr_expect_str_eq(v[ia].id, "alice");
        cr_expect_eq(v[ia].turns, 2);
        cr_expect_str_eq(v[ia].persona, "Be kind.");
        cr_expect_null(v[1 - ia].persona);
        cr_expect_eq(v[1 - ia].turns, 0);
        cr_expect_geq(v[ia].updated, v[ia].created);
        socfw_dialog_session_info_free(v, n);

        cr_assert_eq(socfw_dialog_store_reset(st, "alice", NULL), 0);
        socfw_dialog_context *c = NULL;
        cr_assert_eq(socfw_dialog_store_load(st, "alice", 0, &c, NULL), 0);
        cr_expect_eq(socfw_dialog_context_count(c), 0);
        cr_expect_str_eq(socfw_dialog_context_system(c), "Be kind.");
        socfw_dialog_context_free(c);
        /* numbering goes on after a reset */
        append1(st, "alice", SOCFW_DIALOG_USER, "again", NULL);
        cr_assert_eq(socfw_dialog_store_set_persona(st, "alice", "Be brief.",
                                                    NULL),
                     0);
        cr_assert_eq(socfw_dialog_store_load(st, "alice", 0, &c, NULL), 0);
        cr_expect_eq(socfw_dialog_context_count(c), 1);
        cr_expect_str_eq(socfw_dialog_context_system(c), "Be brief.");
        socfw_dialog_context_free(c);

        cr_assert_eq(socfw_dialog_store_delete(st, "alice", NULL), 0);
        int ex = 1;
        cr_assert_eq(socfw_dialog_store_exists(st, "alice", &ex, NULL), 0);
        cr_expect_eq(ex, 0);
        cr_assert_eq(socfw_dialog_store_list(st, &v, &n, NULL), 0);
        cr_expect_eq(n, 1);
        socfw_dialog_session_info_free(v, n);
        /* its turns went with it */
        socfw_dialog_store_close(st);
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_stmt *s = NULL;
        cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM turn", -1,
                                        &s, NULL),
                     SQLITE_OK);
        cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
        cr_expect_eq(sqlite3_column_int(s, 0), 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
}
