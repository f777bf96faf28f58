/* sessions.c - conversations kept in SQLite (see sessions.h). */
#include "sessions.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

struct socfw_dialog_store {
        sqlite3 *db;
        char *path;
        int busy_ms;
        size_t max_message;
};

/* ---- errors ---- */

/* Turn an SQLite failure into a socfw error naming the file. */
static int
db_fail(socfw_dialog_store *st, int src, const char *doing, socfw_error *err)
{
        const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src);
        switch (src & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return socfw_error_set_at(
                        err, SOCFW_EIO, st->path, 0, 0,
                        "session database is locked by another process or "
                        "connection (waited %d ms while %s); hint: close the "
                        "other program using this file (another `socfw "
                        "chat` or `socfw serve`?), point `sessions:` at a "
                        "different file, or try again",
                        st->busy_ms, doing);
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, st->path, 0, 0,
                        "session database is corrupt or not an SQLite "
                        "database (%s, while %s); the file was left "
                        "untouched; hint: move it aside (mv %s %s.bad) to "
                        "start afresh, or restore it from a backup",
                        msg, doing, st->path, st->path);
        case SQLITE_FULL:
                return socfw_error_set_at(err, SOCFW_EIO, st->path, 0, 0,
                                          "disk full while %s; nothing was "
                                          "stored; hint: free some space",
                                          doing);
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return socfw_error_set_at(
                        err, SOCFW_EIO, st->path, 0, 0,
                        "cannot write the session database (%s, while %s); "
                        "hint: check that the file and its directory are "
                        "writable (SQLite also creates %s-wal and %s-shm "
                        "beside it)",
                        msg, doing, st->path, st->path);
        case SQLITE_NOMEM:
                return socfw_error_set(err, SOCFW_ENOMEM,
                                       "out of memory while %s", doing);
        default:
                return socfw_error_set_at(err, SOCFW_EIO, st->path, 0, 0,
                                          "session database error while %s: "
                                          "%s",
                                          doing, msg);
        }
}

static int
id_check(const char *id, socfw_error *err)
{
        size_t len = id ? strlen(id) : 0;
        if (len == 0 || len > SOCFW_DIALOG_SESSION_ID_MAX)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "session id must be 1 to %d bytes, "
                                       "not %zu",
                                       SOCFW_DIALOG_SESSION_ID_MAX, len);
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "session id has a control "
                                               "character at byte %zu",
                                               i);
        /* UTF-8 validity: reuse the text check (ids are never blank here) */
        socfw_error tmp = {0};
        if (socfw_dialog_text_check(id, len, SOCFW_DIALOG_SESSION_ID_MAX,
                                    "session id", &tmp) < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "%s", tmp.message);
        return 0;
}

static int
persona_check(const socfw_dialog_store *st, const char *persona,
              socfw_error *err)
{
        if (!persona || !persona[0])
                return 0;
        socfw_dialog_context *c = NULL;
        int rc = socfw_dialog_context_new(&c, NULL, err);
        if (rc == 0) {
                socfw_dialog_context_set_max_message(c, st->max_message);
                rc = socfw_dialog_context_set_system(c, persona, err);
        }
        socfw_dialog_context_free(c);
        return rc;
}

/* ---- small statement helpers ---- */

static int
prepare(socfw_dialog_store *st, const char *sql, sqlite3_stmt **stmt,
        const char *doing, socfw_error *err)
{
        int src = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);
        if (src != SQLITE_OK) {
                *stmt = NULL;
                return db_fail(st, src, doing, err);
        }
        return 0;
}

/* Run SQL with no parameters and no rows. */
static int
exec(socfw_dialog_store *st, const char *sql, const char *doing,
     socfw_error *err)
{
        int src = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        return src == SQLITE_OK ? 0 : db_fail(st, src, doing, err);
}

static void
rollback(socfw_dialog_store *st)
{
        if (!sqlite3_get_autocommit(st->db))
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
bind_text(sqlite3_stmt *s, int i, const char *text)
{
        return text ? sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC)
                    : sqlite3_bind_null(s, i);
}

/* One integer from a one-parameter (id) query; *out = -1 when no row. */
static int
query_int(socfw_dialog_store *st, const char *sql, const char *id,
          int64_t *out, const char *doing, socfw_error *err)
{
        sqlite3_stmt *s = NULL;
        int rc = prepare(st, sql, &s, doing, err);
        if (rc < 0)
                return rc;
        if (id)
                bind_text(s, 1, id);
        int src = sqlite3_step(s);
        if (src == SQLITE_ROW)
                *out = sqlite3_column_int64(s, 0);
        else if (src == SQLITE_DONE)
                *out = -1;
        else
                rc = db_fail(st, src, doing, err);
        sqlite3_finalize(s);
        return rc;
}

/* ---- opening ---- */

static uint32_t
be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
}

/* Look at an existing file before SQLite does: is it an SQLite database,
 * and is it whole?  Never writes. */
static int
precheck_file(const char *path, socfw_error *err)
{
        struct stat sb;
        if (stat(path, &sb) < 0) {
                if (errno == ENOENT)
                        return 0; /* a new store */
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot stat the session "
                                          "database: %s",
                                          strerror(errno));
        }
        if (!S_ISREG(sb.st_mode))
                return socfw_error_set_at(err, SOCFW_EINVAL, path, 0, 0,
                                          "the session database is not a "
                                          "regular file; hint: point "
                                          "`sessions:` at a file");
        if (sb.st_size == 0)
                return 0; /* empty: SQLite treats it as a new database */
        unsigned char h[100];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot read the session "
                                          "database: %s; hint: check its "
                                          "permissions",
                                          strerror(errno));
        ssize_t got = 0;
        while (got < (ssize_t)sizeof h) {
                ssize_t r = read(fd, h + got, sizeof h - (size_t)got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                got += r;
        }
        close(fd);
        const char *hint = "the file was left untouched; hint: move it "
                           "aside to start afresh, or restore it from a "
                           "backup";
        if (got < 16 || memcmp(h, "SQLite format 3", 16) != 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "the session database is not an "
                                          "SQLite database (no SQLite header "
                                          "in its %lld bytes); %s",
                                          (long long)sb.st_size, hint);
        if (got < (ssize_t)sizeof h)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "the session database is truncated "
                                          "(%lld bytes, shorter than the "
                                          "100-byte SQLite header); %s",
                                          (long long)sb.st_size, hint);
        uint32_t page = (uint32_t)h[16] << 8 | h[17];
        if (page == 1)
                page = 65536;
        if (page < 512 || (page & (page - 1)) != 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "the session database is corrupt "
                                          "(page size %u in its header); %s",
                                          page, hint);
        /* With a WAL file beside it, the database file alone may lag
         * behind: let SQLite recover from the WAL. */
        char wal[4096];
        struct stat ws;
        int n = snprintf(wal, sizeof wal, "%s-wal", path);
        if (n > 0 && (size_t)n < sizeof wal && stat(wal, &ws) == 0 &&
            ws.st_size > 0)
                return 0;
        uint32_t pages = be32(h + 28);
        int size_valid = pages != 0 && be32(h + 24) == be32(h + 92);
        if ((uint64_t)sb.st_size % page != 0 ||
            (size_valid && (uint64_t)sb.st_size < (uint64_t)pages * page))
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, path, 0, 0,
                        "the session database is truncated: %lld bytes, "
                        "expected %s%llu (%u pages of %u bytes); %s",
                        (long long)sb.st_size, size_valid ? "" : "a multiple of ",
                        size_valid ? (unsigned long long)pages * page
                                   : (unsigned long long)page,
                        size_valid ? pages : 1, page, hint);
        return 0;
}

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS session("
        " id TEXT PRIMARY KEY NOT NULL,"
        " created INTEGER NOT NULL,"
        " updated INTEGER NOT NULL,"
        " persona TEXT);"
        "CREATE TABLE IF NOT EXISTS turn("
        " session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,"
        " seq INTEGER NOT NULL,"
        " role TEXT NOT NULL CHECK (role IN ('system','user','assistant')),"
        " text TEXT NOT NULL,"
        " label TEXT,"
        " created INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX IF NOT EXISTS turn_by_session"
        " ON turn(session_id, seq);"
        "PRAGMA application_id = 1936679782;" /* 0x736F6366 */
        "PRAGMA user_version = 1;";

/* Check what the file holds and create the schema in a new store. */
static int
init_schema(socfw_dialog_store *st, socfw_error *err)
{
        int64_t app = 0, ver = 0, tables = 0;
        int rc = query_int(st, "SELECT count(*) FROM sqlite_master", NULL,
                           &tables, "reading the schema", err);
        if (rc == 0)
                rc = query_int(st, "PRAGMA application_id", NULL, &app,
                               "reading the schema", err);
        if (rc == 0)
                rc = query_int(st, "PRAGMA user_version", NULL, &ver,
                               "reading the schema", err);
        if (rc < 0)
                return rc;
        if (app == SOCFW_DIALOG_STORE_APP_ID) {
                if (ver > SOCFW_DIALOG_STORE_SCHEMA)
                        return socfw_error_set_at(
                                err, SOCFW_EUNSUPPORTED, st->path, 0, 0,
                                "the session database has schema version "
                                "%lld, this socfw knows version %d; hint: "
                                "use a newer socfw or another `sessions:` "
                                "file",
                                (long long)ver, SOCFW_DIALOG_STORE_SCHEMA);
        } else if (tables > 0) {
                return socfw_error_set_at(
                        err, SOCFW_EFORMAT, st->path, 0, 0,
                        "the file is an SQLite database but not a socfw "
                        "session store (application_id 0x%llx, %lld schema "
                        "entries); it was left untouched; hint: point "
                        "`sessions:` at another file",
                        (unsigned long long)app, (long long)tables);
        }
        /* WAL must be set outside a transaction; a no-op when it is. */
        sqlite3_stmt *s = NULL;
        rc = prepare(st, "PRAGMA journal_mode=WAL", &s,
                     "switching to WAL mode", err);
        if (rc < 0)
                return rc;
        int src = sqlite3_step(s);
        if (src != SQLITE_ROW)
                rc = db_fail(st, src, "switching to WAL mode", err);
        sqlite3_finalize(s);
        if (rc < 0)
                return rc;
        if (app == SOCFW_DIALOG_STORE_APP_ID &&
            ver == SOCFW_DIALOG_STORE_SCHEMA)
                return 0;
        rc = exec(st, "BEGIN IMMEDIATE", "creating the schema", err);
        if (rc == 0)
                rc = exec(st, schema_sql, "creating the schema", err);
        if (rc == 0)
                rc = exec(st, "COMMIT", "creating the schema", err);
        if (rc < 0)
                rollback(st);
        return rc;
}

int
socfw_dialog_store_open(socfw_dialog_store **out, const char *path,
                        const socfw_dialog_store_opts *opts, socfw_error *err)
{
        socfw_dialog_store *st = NULL;
        int rc = 0, src;

        *out = NULL;
        if (!path || !path[0])
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "no session database path given");
        rc = precheck_file(path, err);
        if (rc < 0)
                return rc;
        st = calloc(1, sizeof *st);
        if (!st || !(st->path = strdup(path))) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        st->busy_ms = opts && opts->busy_timeout_ms > 0
                              ? opts->busy_timeout_ms
                              : SOCFW_DIALOG_BUSY_TIMEOUT_DEFAULT;
        st->max_message = opts && opts->max_message
                                  ? opts->max_message
                                  : SOCFW_DIALOG_MAX_MESSAGE_DEFAULT;
        src = sqlite3_open_v2(path, &st->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              NULL);
        if (src != SQLITE_OK) {
                rc = db_fail(st, src, "opening", err);
                goto out;
        }
        sqlite3_extended_result_codes(st->db, 1);
        sqlite3_busy_timeout(st->db, st->busy_ms);
        rc = init_schema(st, err);
        if (rc == 0)
                rc = exec(st, "PRAGMA foreign_keys = ON", "opening", err);
out:
        if (rc < 0) {
                socfw_dialog_store_close(st);
                return rc;
        }
        *out = st;
        return 0;
}

void
socfw_dialog_store_close(socfw_dialog_store *st)
{
        if (!st)
                return;
        if (st->db)
                sqlite3_close_v2(st->db);
        free(st->path);
        free(st);
}

const char *
socfw_dialog_store_path(const socfw_dialog_store *st)
{
        return st->path;
}

/* ---- sessions ---- */

static int
not_found(socfw_dialog_store *st, const char *id, socfw_error *err)
{
        return socfw_error_set_at(err, SOCFW_ENOTFOUND, st->path, 0, 0,
                                  "no session '%s' in the session database; "
                                  "hint: check the id (list the sessions to "
                                  "see them), or start a new conversation "
                                  "with that id",
                                  id);
}

int
socfw_dialog_store_exists(socfw_dialog_store *st, const char *id,
                          int *exists, socfw_error *err)
{
        int64_t one = -1;
        int rc = id_check(id, err);
        if (rc == 0)
                rc = query_int(st, "SELECT 1 FROM session WHERE id = ?1", id,
                               &one, "looking up a session", err);
        if (rc == 0)
                *exists = one == 1;
        return rc;
}

/* Insert session `id` inside the caller's transaction. */
static int
insert_session(socfw_dialog_store *st, const char *id, const char *persona,
               socfw_error *err)
{
        sqlite3_stmt *s = NULL;
        int rc = prepare(st,
                         "INSERT INTO session(id, created, updated, persona)"
                         " VALUES (?1, ?2, ?2, ?3)",
                         &s, "creating a session", err);
        if (rc < 0)
                return rc;
        bind_text(s, 1, id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
        bind_text(s, 3, persona && persona[0] ? persona : NULL);
        int src = sqlite3_step(s);
        if (src != SQLITE_DONE)
                rc = db_fail(st, src, "creating a session", err);
        sqlite3_finalize(s);
        return rc;
}

int
socfw_dialog_store_create(socfw_dialog_store *st, const char *id,
                          const char *persona, socfw_error *err)
{
        int64_t one = -1;
        int rc = id_check(id, err);
        if (rc == 0)
                rc = persona_check(st, persona, err);
        if (rc == 0)
                rc = exec(st, "BEGIN IMMEDIATE", "creating a session", err);
        if (rc < 0)
                return rc;
        rc = query_int(st, "SELECT 1 FROM session WHERE id = ?1", id, &one,
                       "creating a session", err);
        if (rc == 0 && one == 1)
                rc = socfw_error_set_at(err, SOCFW_ESTATE, st->path, 0, 0,
                                        "session '%s' already exists; hint: "
                                        "load it to continue, or reset or "
                                        "delete it first",
                                        id);
        if (rc == 0)
                rc = insert_session(st, id, persona, err);
        if (rc == 0)
                rc = exec(st, "COMMIT", "creating a session", err);
        if (rc < 0)
                rollback(st);
        return rc;
}

int
socfw_dialog_store_load(socfw_dialog_store *st, const char *id,
                        size_t last_n, socfw_dialog_context **out,
                        socfw_error *err)
{
        socfw_dialog_context *c = NULL;
        sqlite3_stmt *s = NULL;
        int rc, src;
        const char *doing = "loading a session";

        *out = NULL;
        rc = id_check(id, err);
        if (rc == 0)
                rc = exec(st, "BEGIN", doing, err); /* one snapshot */
        if (rc < 0)
                return rc;
        rc = prepare(st, "SELECT persona FROM session WHERE id = ?1", &s,
                     doing, err);
        if (rc < 0)
                goto out;
        bind_text(s, 1, id);
        src = sqlite3_step(s);
        if (src == SQLITE_DONE) {
                rc = not_found(st, id, err);
                goto out;
        }
        if (src != SQLITE_ROW) {
                rc = db_fail(st, src, doing, err);
                goto out;
        }
        rc = socfw_dialog_context_new(&c, NULL, err);
        if (rc < 0)
                goto out;
        /* what is stored was checked on the way in; accept any size back */
        socfw_dialog_context_set_max_message(c, SIZE_MAX / 2);
        rc = socfw_dialog_context_set_system(
                c, (const char *)sqlite3_column_text(s, 0), err);
        if (rc < 0)
                goto out;
        sqlite3_finalize(s);
        s = NULL;
        rc = prepare(st,
                     "SELECT seq, role, text, label, created FROM ("
                     " SELECT seq, role, text, label, created FROM turn"
                     " WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2)"
                     " ORDER BY seq ASC",
                     &s, doing, err);
        if (rc < 0)
                goto out;
        bind_text(s, 1, id);
        sqlite3_bind_int64(s, 2, last_n ? (sqlite3_int64)last_n : -1);
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
                socfw_dialog_role role;
                const char *rn = (const char *)sqlite3_column_text(s, 1);
                const char *text = (const char *)sqlite3_column_text(s, 2);
                const char *label = (const char *)sqlite3_column_text(s, 3);
                socfw_error e2 = {0};
                rc = socfw_dialog_role_parse(rn, &role, &e2);
                if (rc == 0)
                        rc = socfw_dialog_context_add(
                                c, role, text, label,
                                (int64_t)sqlite3_column_int64(s, 4), &e2);
                if (rc == SOCFW_ENOMEM) {
                        rc = socfw_error_set(err, rc, "%s", e2.message);
                        goto out;
                }
                if (rc < 0) {
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, st->path, 0, 0,
                                "session '%s', turn %lld is damaged: %s; "
                                "hint: the database was edited by hand? "
                                "fix or delete that row",
                                id, (long long)sqlite3_column_int64(s, 0),
                                e2.message);
                        goto out;
                }
        }
        if (src != SQLITE_DONE) {
                rc = db_fail(st, src, doing, err);
                goto out;
        }
        socfw_dialog_context_set_max_message(c, st->max_message);
out:
        sqlite3_finalize(s);
        rollback(st); /* read-only transaction: ends it */
        if (rc < 0) {
                socfw_dialog_context_free(c);
                return rc;
        }
        *out = c;
        return 0;
}

int
socfw_dialog_store_load_or_create(socfw_dialog_store *st, const char *id,
                                  const char *persona, size_t last_n,
                                  socfw_dialog_context **out, int *created,
                                  socfw_error *err)
{
        socfw_error tmp = {0};
        int rc = socfw_dialog_store_load(st, id, last_n, out, &tmp);
        if (created)
                *created = 0;
        if (rc != SOCFW_ENOTFOUND) {
                if (rc < 0)
                        socfw_error_set_at(err, rc, tmp.file, 0, 0, "%s",
                                           tmp.message);
                return rc;
        }
        rc = socfw_dialog_store_create(st, id, persona, &tmp);
        if (rc == SOCFW_ESTATE) /* another process made it meanwhile */
                rc = 0;
        if (rc < 0)
                return socfw_error_set_at(err, rc, tmp.file, 0, 0, "%s",
                                          tmp.message);
        rc = socfw_dialog_store_load(st, id, last_n, out, err);
        if (rc == 0 && created)
                *created = 1;
        return rc;
}

int
socfw_dialog_store_append(socfw_dialog_store *st, const char *id,
                          const socfw_dialog_turn *turns, size_t n,
                          socfw_error *err)
{
        sqlite3_stmt *s = NULL;
        int64_t seq = 0, one = -1;
        int rc, src;
        const char *doing = "appending turns";

        rc = id_check(id, err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
                const socfw_dialog_turn *t = &turns[i];
                char what[64];
                snprintf(what, sizeof what, "%s turn",
                         socfw_dialog_role_name(t->role));
                if (!strcmp(what, "? turn"))
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "turn %zu has a bad role %d",
                                             i + 1, (int)t->role);
                else
                        rc = socfw_dialog_text_check(
                                t->text, t->text ? strlen(t->text) : 0,
                                st->max_message, what, err);
                if (rc == 0)
                        rc = socfw_dialog_label_check(t->label, err);
        }
        if (rc == 0 && n == 0)
                return 0;
        if (rc == 0)
                rc = exec(st, "BEGIN IMMEDIATE", doing, err);
        if (rc < 0)
                return rc;
        rc = query_int(st, "SELECT 1 FROM session WHERE id = ?1", id, &one,
                       doing, err);
        if (rc == 0 && one != 1)
                rc = not_found(st, id, err);
        if (rc == 0)
                rc = query_int(st,
                               "SELECT coalesce(max(seq), 0) FROM turn "
                               "WHERE session_id = ?1",
                               id, &seq, doing, err);
        if (rc == 0)
                rc = prepare(st,
                             "INSERT INTO turn(session_id, seq, role, text,"
                             " label, created) VALUES (?1, ?2, ?3, ?4, ?5,"
                             " ?6)",
                             &s, doing, err);
        int64_t now = (int64_t)time(NULL);
        for (size_t i = 0; rc == 0 && i < n; i++) {
                const socfw_dialog_turn *t = &turns[i];
                sqlite3_reset(s);
                bind_text(s, 1, id);
                sqlite3_bind_int64(s, 2, (sqlite3_int64)(seq + 1 + (int64_t)i));
                bind_text(s, 3, socfw_dialog_role_name(t->role));
                sqlite3_bind_text64(s, 4, t->text, strlen(t->text),
                                    SQLITE_STATIC, SQLITE_UTF8);
                bind_text(s, 5, t->label);
                sqlite3_bind_int64(s, 6, t->created ? t->created : now);
                src = sqlite3_step(s);
                if (src != SQLITE_DONE)
                        rc = db_fail(st, src, doing, err);
        }
        sqlite3_finalize(s);
        s = NULL;
        if (rc == 0) {
                rc = prepare(st, "UPDATE session SET updated = ?2 WHERE id = ?1",
                             &s, doing, err);
                if (rc == 0) {
                        bind_text(s, 1, id);
                        sqlite3_bind_int64(s, 2, now);
                        src = sqlite3_step(s);
                        if (src != SQLITE_DONE)
                                rc = db_fail(st, src, doing, err);
                }
                sqlite3_finalize(s);
        }
        if (rc == 0)
                rc = exec(st, "COMMIT", doing, err);
        if (rc < 0)
                rollback(st);
        return rc;
}

/* Run one statement binding (id, text-or-NULL, now) in a write transaction;
 * ENOTFOUND when the session does not exist. */
static int
write_session(socfw_dialog_store *st, const char *id, const char *sql1,
              const char *sql2, const char *text, const char *doing,
              socfw_error *err)
{
        int64_t one = -1;
        int rc = id_check(id, err);
        if (rc == 0)
                rc = exec(st, "BEGIN IMMEDIATE", doing, err);
        if (rc < 0)
                return rc;
        rc = query_int(st, "SELECT 1 FROM session WHERE id = ?1", id, &one,
                       doing, err);
        if (rc == 0 && one != 1)
                rc = not_found(st, id, err);
        const char *sqls[2] = {sql1, sql2};
        for (int k = 0; k < 2 && rc == 0; k++) {
                sqlite3_stmt *s = NULL;
                if (!sqls[k])
                        continue;
                rc = prepare(st, sqls[k], &s, doing, err);
                if (rc < 0)
                        break;
                for (int p = 1; p <= sqlite3_bind_parameter_count(s); p++) {
                        const char *name = sqlite3_bind_parameter_name(s, p);
                        if (name && !strcmp(name, "?1"))
                                bind_text(s, p, id);
                        else if (name && !strcmp(name, "?2"))
                                bind_text(s, p, text);
                        else if (name && !strcmp(name, "?3"))
                                sqlite3_bind_int64(s, p, time(NULL));
                }
                int src = sqlite3_step(s);
                if (src != SQLITE_DONE)
                        rc = db_fail(st, src, doing, err);
                sqlite3_finalize(s);
        }
        if (rc == 0)
                rc = exec(st, "COMMIT", doing, err);
        if (rc < 0)
                rollback(st);
        return rc;
}

int
socfw_dialog_store_set_persona(socfw_dialog_store *st, const char *id,
                               const char *persona, socfw_error *err)
{
        int rc = persona_check(st, persona, err);
        if (rc < 0)
                return rc;
        return write_session(st, id,
                             "UPDATE session SET persona = ?2, updated = ?3 "
                             "WHERE id = ?1",
                             NULL, persona && persona[0] ? persona : NULL,
                             "setting a persona", err);
}

int
socfw_dialog_store_reset(socfw_dialog_store *st, const char *id,
                         socfw_error *err)
{
        return write_session(st, id, "DELETE FROM turn WHERE session_id = ?1",
                             "UPDATE session SET updated = ?3 WHERE id = ?1",
                             NULL, "resetting a session", err);
}

int
socfw_dialog_store_delete(socfw_dialog_store *st, const char *id,
                          socfw_error *err)
{
        return write_session(st, id, "DELETE FROM turn WHERE session_id = ?1",
                             "DELETE FROM session WHERE id = ?1", NULL,
                             "deleting a session", err);
}

void
socfw_dialog_session_info_free(socfw_dialog_session_info *v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++) {
                free(v[i].id);
                free(v[i].persona);
        }
        free(v);
}

int
socfw_dialog_store_list(socfw_dialog_store *st,
                        socfw_dialog_session_info **out, size_t *n,
                        socfw_error *err)
{
        socfw_dialog_session_info *v = NULL;
        size_t len = 0, cap = 0;
        sqlite3_stmt *s = NULL;
        int rc, src;

        *out = NULL;
        *n = 0;
        rc = prepare(st,
                     "SELECT s.id, s.persona, s.created, s.updated,"
                     " (SELECT count(*) FROM turn t WHERE t.session_id = s.id)"
                     " FROM session s ORDER BY s.updated DESC, s.id",
                     &s, "listing sessions", err);
        if (rc < 0)
                return rc;
        while ((src = sqlite3_step(s)) == SQLITE_ROW) {
                if (len == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        socfw_dialog_session_info *g =
                                realloc(v, nc * sizeof *g);
                        if (!g) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        v = g;
                        cap = nc;
                }
                const char *id = (const char *)sqlite3_column_text(s, 0);
                const char *p = (const char *)sqlite3_column_text(s, 1);
                socfw_dialog_session_info *e = &v[len++];
                *e = (socfw_dialog_session_info){
                        .id = strdup(id ? id : ""),
                        .persona = p ? strdup(p) : NULL,
                        .created = sqlite3_column_int64(s, 2),
                        .updated = sqlite3_column_int64(s, 3),
                        .turns = (size_t)sqlite3_column_int64(s, 4),
                };
                if (!e->id || (p && !e->persona)) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
        }
        if (src != SQLITE_DONE)
                rc = db_fail(st, src, "listing sessions", err);
out:
        sqlite3_finalize(s);
        if (rc < 0) {
                socfw_dialog_session_info_free(v, len);
                return rc;
        }
        *out = v;
        *n = len;
        return 0;
}
