/* socfw/io.h - crash-safe file writing, bounded file reading, file hashes
 * and checks, paths.
 *
 * Everything socfw writes that must survive a crash (checkpoints, reports,
 * charts, metadata) goes through the atomic writer: the bytes go to a
 * temporary file in the same directory, which is flushed (fsync), renamed
 * over the target and the directory flushed too.  A reader therefore sees
 * either the complete old file or the complete new one, never a mix.  On
 * failure the old file is left untouched and the temporary file removed.
 * (A process killed outright may leave a ".<name>.tmp-XXXXXX" file behind;
 * the target itself is still intact.)
 *
 *     socfw_atomic_file *f;
 *     if (socfw_atomic_file_open(&f, "runs/x/metrics.json", &err) < 0)
 *             return err.code;
 *     socfw_atomic_file_printf(f, &err, "{\"loss\": %g}\n", loss);
 *     if (socfw_atomic_file_commit(f, &err) < 0)   // always consumes f
 *             return err.code;
 *
 *     socfw_file_write_atomic("out.txt", buf, len, &err);      // one shot
 *     socfw_file_read("in.txt", 1 << 20, &data, &len, &err);   // capped
 *     socfw_file_copy("a.bin", "b.bin", &err);                 // streamed
 *
 * Facts about files and names, for checks before opening and manifests:
 *
 *     if (socfw_path_is_file(p) && socfw_str_ends_with(p, ".gguf")) ...
 *     char hex[65]; uint64_t size;
 *     if (socfw_file_sha256(p, hex, &size, &err) < 0) ...  // err names p
 *
 * Text corpora, plain or gzip-compressed, are read a line at a time:
 *
 *     socfw_line_reader *r;
 *     const char *line; size_t len;
 *     if (socfw_line_reader_open(&r, "books/train.txt.gz", 0, &err) < 0) ...
 *     while ((rc = socfw_line_reader_next(r, &line, &len, &err)) == 1)
 *             use(line, len);                  // no newline; borrowed
 *     socfw_line_reader_close(r);              // rc < 0: err says where
 */
#ifndef SOCFW_IO_H
#define SOCFW_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- atomic writer ---- */

typedef struct socfw_atomic_file socfw_atomic_file;

/* Start an atomic write of `path` (its directory must exist).  The new file
 * gets the mode of the file it replaces, or 0644 when there is none.
 * Returns 0 and *out (caller ends it with _commit or _abort), or SOCFW_EIO
 * / SOCFW_ENOMEM / SOCFW_EINVAL with *out = NULL. */
int socfw_atomic_file_open(socfw_atomic_file **out, const char *path,
                           socfw_error *err);

/* Append `len` bytes (buffered).  Returns 0 or SOCFW_EIO.  After a failed
 * write the handle stays valid but commit will fail; call _abort. */
int socfw_atomic_file_write(socfw_atomic_file *f, const void *data,
                            size_t len, socfw_error *err);

/* printf-style append.  Returns 0, SOCFW_EIO or SOCFW_ENOMEM. */
int socfw_atomic_file_printf(socfw_atomic_file *f, socfw_error *err,
                             const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Flush, fsync, rename over the target, fsync the directory, free `f`.
 * `f` is consumed whatever the result; on failure the target is unchanged
 * and the temporary file removed.  Returns 0 or SOCFW_EIO. */
int socfw_atomic_file_commit(socfw_atomic_file *f, socfw_error *err);

/* Discard everything written, remove the temporary file, free `f`.
 * NULL is a no-op. */
void socfw_atomic_file_abort(socfw_atomic_file *f);

/* Path of the temporary file (borrowed, valid until commit/abort). */
const char *socfw_atomic_file_temp_path(const socfw_atomic_file *f);

/* ---- whole files ---- */

/* Write `len` bytes of `data` to `path` atomically (see above).
 * Returns 0 or a negative SOCFW_E* code. */
int socfw_file_write_atomic(const char *path, const void *data, size_t len,
                            socfw_error *err);

/* Read the whole file into a NUL-terminated buffer (caller frees *out).
 * Files larger than `max_size` bytes are refused with SOCFW_ENOMEM and a
 * message naming the size and the cap.  `len` may be NULL.  Returns 0,
 * SOCFW_EIO (cannot open/read; SOCFW_ENOTFOUND when it does not exist). */
int socfw_file_read(const char *path, size_t max_size, char **out,
                    size_t *len, socfw_error *err);

/* Copy the file `from` to `to` atomically (see above; `to`'s directory
 * must exist), streaming: any size, little memory.  Returns 0,
 * SOCFW_ENOTFOUND when `from` does not exist, SOCFW_EIO when it cannot be
 * read or is a directory, or `to` cannot be written (err names the file;
 * `to` is then unchanged). */
int socfw_file_copy(const char *from, const char *to, socfw_error *err);

/* SHA-256 of the file's bytes, read in 64 KiB blocks (any size): hex gets
 * 64 lower-case hex digits and a NUL, *size (may be NULL) the byte count.
 * Returns 0, SOCFW_ENOTFOUND when `path` does not exist, SOCFW_EIO when it
 * cannot be opened or read or is a directory (err names the file; hex and
 * *size are then left as they were). */
int socfw_file_sha256(const char *path, char hex[65], uint64_t *size,
                      socfw_error *err);

/* ---- directories and paths ---- */

/* Create `path` and its missing parents (like mkdir -p).  Existing
 * directories are fine; an existing non-directory is SOCFW_EIO. */
int socfw_dir_make(const char *path, mode_t mode, socfw_error *err);

/* buf <- a "/" b (one separator; b absolute -> b alone; a empty -> b).
 * Returns 0, or SOCFW_EINVAL if it does not fit in `size` (buf then holds
 * an empty string). */
int socfw_path_join(char *buf, size_t size, const char *a, const char *b);

/* Same, allocated (caller frees).  Returns NULL when out of memory. */
char *socfw_path_join_alloc(const char *a, const char *b);

/* buf <- directory part of path ("." when none, "/" for "/x").
 * Returns 0 or SOCFW_EINVAL when it does not fit. */
int socfw_path_dirname(char *buf, size_t size, const char *path);

/* Last component of `path` (borrowed pointer into `path`; "" when `path`
 * ends in '/'). */
const char *socfw_path_basename(const char *path);

/* 1 when `path` names a regular file (a symbolic link is followed), 0 when
 * it does not exist, cannot be looked at, or is anything else (a
 * directory, a device).  Whether the file can be read is not checked.
 * NULL: 0. */
int socfw_path_is_file(const char *path);

/* 1 when `path` names a directory (links followed), else 0.  NULL: 0. */
int socfw_path_is_dir(const char *path);

/* 1 when the string `s` ends with `suffix` (a file name's ".gguf", a
 * tensor's ".attn_v.weight", a metric's "_loss"), else 0.  Every string
 * ends with "".  NULL for either: 0. */
int socfw_str_ends_with(const char *s, const char *suffix);

/* ---- line reader: plain or gzip text ---- */

typedef struct socfw_line_reader socfw_line_reader;

/* Open `path` to read line by line.  A gzip file (any name) is
 * decompressed as it is read; any other file is read as it is.  Lines
 * longer than `max_line` bytes (0: 1 MiB) are skipped and counted, so
 * memory stays bounded on any input.  Returns 0 and *out (caller closes),
 * or SOCFW_EIO naming the file. */
int socfw_line_reader_open(socfw_line_reader **out, const char *path,
                           size_t max_line, socfw_error *err);

/* The next line without its "\n" or "\r\n": 1 with *line (borrowed until
 * the next call; NUL-terminated) and *len; 0 at the end; SOCFW_EIO for a
 * read error or a corrupt or truncated gzip stream (file:line). */
int socfw_line_reader_next(socfw_line_reader *r, const char **line,
                           size_t *len, socfw_error *err);

/* The 1-based number of the line last returned, and how many overlong
 * lines were skipped so far. */
long socfw_line_reader_line(const socfw_line_reader *r);
long socfw_line_reader_skipped(const socfw_line_reader *r);

/* Bytes of (decompressed) text read so far. */
size_t socfw_line_reader_bytes(const socfw_line_reader *r);

void socfw_line_reader_close(socfw_line_reader *r);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_IO_H */
