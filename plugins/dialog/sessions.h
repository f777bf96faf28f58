/* plugins/dialog/sessions.h - conversations that survive a restart, kept
 * in an SQLite database file (the dialog plugin's `sessions:` parameter,
 * default "sessions.db"), so that `socfw chat --session ID` continues where
 * it stopped.
 *
 *     socfw_dialog_store *st = NULL;
 *     socfw_dialog_context *c = NULL;
 *     int created = 0;
 *     if (socfw_dialog_store_open(&st, "sessions.db", NULL, &err) < 0 ||
 *         socfw_dialog_store_load_or_create(st, "alice", "You are kind.", 0,
 *                                           &c, &created, &err) < 0)
 *             goto fail;
 *     socfw_dialog_turn t[2] = {
 *             {.role = SOCFW_DIALOG_USER, .text = "hi"},
 *             {.role = SOCFW_DIALOG_ASSISTANT, .text = "hello!"},
 *     };
 *     socfw_dialog_store_append(st, "alice", t, 2, &err); // both or none
 *     socfw_dialog_context_free(c);
 *     socfw_dialog_store_close(st);
 *
 * Schema (version 1; PRAGMA user_version = 1, PRAGMA application_id =
 * 0x736F6366 "socf" marks the file as a socfw session store):
 *
 *     CREATE TABLE session(
 *         id      TEXT PRIMARY KEY NOT NULL,  -- the session id
 *         created INTEGER NOT NULL,           -- Unix time, seconds
 *         updated INTEGER NOT NULL,           -- last append/reset
 *         persona TEXT);                      -- system text, or NULL
 *     CREATE TABLE turn(
 *         session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
 *         seq     INTEGER NOT NULL,           -- 1, 2, 3, ... per session
 *         role    TEXT NOT NULL CHECK (role IN ('system','user','assistant')),
 *         text    TEXT NOT NULL,              -- UTF-8, exactly as given
 *         label   TEXT,                       -- emotion/sentiment, or NULL
 *         created INTEGER NOT NULL);          -- Unix time, seconds
 *     CREATE UNIQUE INDEX turn_by_session ON turn(session_id, seq);
 *
 * Behaviour:
 * - The database is opened in WAL mode (readers never block the writer)
 *   with a busy timeout (default 5000 ms).  When another process holds the
 *   write lock longer than that, calls fail with SOCFW_EIO and a message
 *   that names the file, says it is locked and suggests a fix.
 * - Every write is one transaction: an append of several turns stores all
 *   or none, so a crash never leaves a half turn (or half an exchange).
 * - A file that is not an SQLite database, is truncated, is corrupt, or is
 *   another program's SQLite database fails with SOCFW_EFORMAT and is never
 *   written, overwritten or deleted.  A missing or empty file becomes a new
 *   store.
 * - Text is checked like context.h says (not empty, valid UTF-8, at most
 *   `max_message` bytes) before anything is written; invalid input is
 *   SOCFW_EINVAL and changes nothing.
 * - Session ids are 1..256 bytes of UTF-8 without control characters.
 *   Loading an unknown id is SOCFW_ENOTFOUND; creating one that exists is
 *   SOCFW_ESTATE.
 * - Only prepared statements with bound parameters touch user text.
 * A store handle is used by one thread at a time; several processes may
 * share the file.
 */
#ifndef SOCFW_DIALOG_SESSIONS_H
#define SOCFW_DIALOG_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_DIALOG_STORE_SCHEMA 1
#define SOCFW_DIALOG_STORE_APP_ID 0x736F6366
#define SOCFW_DIALOG_BUSY_TIMEOUT_DEFAULT 5000  /* ms */
#define SOCFW_DIALOG_SESSION_ID_MAX 256         /* bytes */

typedef struct socfw_dialog_store socfw_dialog_store;

typedef struct socfw_dialog_store_opts {
        int busy_timeout_ms;    /* wait for a lock; <= 0: the default      */
        size_t max_message;     /* bytes of one turn; 0: 1 MiB             */
} socfw_dialog_store_opts;

/* Open (creating if missing) the store at `path`.  `opts` may be NULL.
 * *out: close with socfw_dialog_store_close.  Returns 0; SOCFW_EFORMAT for
 * a corrupt or foreign file (left untouched); SOCFW_EIO when it cannot be
 * opened or is locked; SOCFW_EUNSUPPORTED for a newer schema;
 * SOCFW_EINVAL/SOCFW_ENOMEM. */
int socfw_dialog_store_open(socfw_dialog_store **out, const char *path,
                            const socfw_dialog_store_opts *opts,
                            socfw_error *err);
/* Close; NULL is a no-op. */
void socfw_dialog_store_close(socfw_dialog_store *st);

/* The path given to open (borrowed). */
const char *socfw_dialog_store_path(const socfw_dialog_store *st);

/* Make a new session with `persona` (NULL = none).  Returns 0,
 * SOCFW_ESTATE when `id` exists, SOCFW_EINVAL for a bad id or persona, or
 * the store's errors (locked: SOCFW_EIO). */
int socfw_dialog_store_create(socfw_dialog_store *st, const char *id,
                              const char *persona, socfw_error *err);

/* *exists <- 1 when session `id` is in the store, else 0.  Returns 0 or an
 * error. */
int socfw_dialog_store_exists(socfw_dialog_store *st, const char *id,
                              int *exists, socfw_error *err);

/* Load session `id` into a new context (*out, caller frees with
 * socfw_dialog_context_free): its persona as system text and its turns in
 * order, the last `last_n` only when last_n > 0.  Returns 0,
 * SOCFW_ENOTFOUND for an unknown id, or the store's errors. */
int socfw_dialog_store_load(socfw_dialog_store *st, const char *id,
                            size_t last_n, socfw_dialog_context **out,
                            socfw_error *err);

/* Load `id`, or create it with `persona` when it does not exist (*created
 * tells which; may be NULL).  An existing session keeps its own persona. */
int socfw_dialog_store_load_or_create(socfw_dialog_store *st, const char *id,
                                      const char *persona, size_t last_n,
                                      socfw_dialog_context **out,
                                      int *created, socfw_error *err);

/* Append turns[0..n) (borrowed; `created` 0 = now) to session `id` in ONE
 * transaction: all are checked first, then all stored, or none.  Returns
 * 0, SOCFW_ENOTFOUND, SOCFW_EINVAL (a bad turn: nothing stored), or the
 * store's errors. */
int socfw_dialog_store_append(socfw_dialog_store *st, const char *id,
                              const socfw_dialog_turn *turns, size_t n,
                              socfw_error *err);

/* Replace the persona of `id` (NULL = none). */
int socfw_dialog_store_set_persona(socfw_dialog_store *st, const char *id,
                                   const char *persona, socfw_error *err);

/* Remove every turn of `id`, keeping the session and its persona. */
int socfw_dialog_store_reset(socfw_dialog_store *st, const char *id,
                             socfw_error *err);

/* Remove session `id` and its turns.  SOCFW_ENOTFOUND when unknown. */
int socfw_dialog_store_delete(socfw_dialog_store *st, const char *id,
                              socfw_error *err);

typedef struct socfw_dialog_session_info {
        char *id;
        char *persona;          /* NULL when none */
        int64_t created, updated;
        size_t turns;
} socfw_dialog_session_info;

/* All sessions, most recently updated first.  *out (caller frees with
 * socfw_dialog_session_info_free(*out, *n)); NULL when there are none. */
int socfw_dialog_store_list(socfw_dialog_store *st,
                            socfw_dialog_session_info **out, size_t *n,
                            socfw_error *err);
void socfw_dialog_session_info_free(socfw_dialog_session_info *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DIALOG_SESSIONS_H */
