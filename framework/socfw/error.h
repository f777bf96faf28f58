/* socfw/error.h - status codes and the error object every fallible call fills.
 *
 * Library functions return 0 on success or a negative SOCFW_E* code, and
 * take an optional `socfw_error *` (may be NULL) that receives a message and,
 * when the problem is in a file, where: file, line and column (1-based; 0
 * means "not known").  Only the CLI turns errors into exit codes.
 *
 *     socfw_error err = {0};
 *     if (socfw_pipeline_load(&p, "pipeline.yaml", &err) < 0)
 *             fprintf(stderr, "%s\n", socfw_error_string(&err, buf, sizeof buf));
 *
 * Messages follow one shape: what failed, what was expected, and a hint
 * (after "hint: ") where one helps.
 */
#ifndef SOCFW_ERROR_H
#define SOCFW_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: 0 is success, every error is negative. */
enum {
        SOCFW_OK = 0,
        SOCFW_EINVAL = -1,      /* bad argument or bad input data        */
        SOCFW_ENOMEM = -2,      /* allocation failed or limit exceeded   */
        SOCFW_EIO = -3,         /* read/write/open failed (errno-based)  */
        SOCFW_EFORMAT = -4,     /* a file is malformed or truncated      */
        SOCFW_ESCHEMA = -5,     /* configuration fails validation        */
        SOCFW_ENOTFOUND = -6,   /* plugin, file, key, tensor not found   */
        SOCFW_EABI = -7,        /* plugin ABI incompatible               */
        SOCFW_EUNSUPPORTED = -8,/* feature not (yet) implemented         */
        SOCFW_ESTATE = -9,      /* call made in the wrong state          */
        SOCFW_EINTERNAL = -10,  /* a bug: an invariant did not hold      */
};

#define SOCFW_ERROR_MSG_MAX 1024
#define SOCFW_ERROR_FILE_MAX 512

typedef struct socfw_error {
        int code;                           /* SOCFW_E*, 0 when unset      */
        char message[SOCFW_ERROR_MSG_MAX];  /* human-readable, no newline  */
        char file[SOCFW_ERROR_FILE_MAX];    /* "" when not about a file    */
        long line;                          /* 1-based, 0 when unknown     */
        long column;                        /* 1-based, 0 when unknown     */
} socfw_error;

/* Fill `err` (if not NULL) and return `code`, so callers can write
 * `return socfw_error_set(err, SOCFW_EINVAL, "...", x);`.
 * The first error set wins: a later call does not overwrite a message that
 * is already there (the innermost cause is the most precise one). */
int socfw_error_set(socfw_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Same, with a location.  `file` may be NULL; line/column may be 0. */
int socfw_error_set_at(socfw_error *err, int code, const char *file,
                       long line, long column, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

/* Add context in front of an existing message ("loading model: ...").
 * Returns err->code (or `code` if nothing was set yet). */
int socfw_error_prefix(socfw_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Reset to "no error". */
void socfw_error_clear(socfw_error *err);

/* Format as "file:line:col: message" (the parts that are known) into buf.
 * Returns buf. */
const char *socfw_error_string(const socfw_error *err, char *buf, size_t size);

/* Short name of a status code ("invalid input", "out of memory", ...). */
const char *socfw_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_ERROR_H */
