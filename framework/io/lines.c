/* lines.c - reading text a line at a time, plain or gzip (socfw/io.h).
 * zlib's gz* functions read both: a file without the gzip magic is passed
 * through as it is. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "socfw/io.h"

#define CHUNK ((size_t)1 << 16)
#define DEFAULT_MAX_LINE ((size_t)1 << 20)

struct socfw_line_reader {
        gzFile gz;
        char *path;
        char *buf;              /* [start, end) unread bytes               */
        size_t start, end, cap;
        size_t max_line;
        int eof;
        long line, skipped;
        size_t bytes;
};

int
socfw_line_reader_open(socfw_line_reader **out, const char *path,
                       size_t max_line, socfw_error *err)
{
        *out = NULL;
        socfw_line_reader *r = calloc(1, sizeof *r);
        if (!r)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        r->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
        r->cap = CHUNK + r->max_line + 1;
        r->buf = malloc(r->cap);
        r->path = strdup(path);
        if (!r->buf || !r->path) {
                socfw_line_reader_close(r);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        r->gz = gzopen(path, "rb");
        if (!r->gz) {
                int e = errno;
                socfw_line_reader_close(r);
                return socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                          "cannot open: %s", strerror(e));
        }
        gzbuffer(r->gz, 1 << 17);
        *out = r;
        return 0;
}

/* Read more bytes after the unread ones.  0, or SOCFW_EIO. */
static int
fill(socfw_line_reader *r, socfw_error *err)
{
        if (r->start > 0) {
                memmove(r->buf, r->buf + r->start, r->end - r->start);
                r->end -= r->start;
                r->start = 0;
        }
        size_t room = r->cap - 1 - r->end;
        if (room > CHUNK)
                room = CHUNK;
        int n = gzread(r->gz, r->buf + r->end, (unsigned)room);
        if (n < 0) {
                int code = 0;
                const char *msg = gzerror(r->gz, &code);
                return socfw_error_set_at(err, SOCFW_EIO, r->path,
                                          (int)r->line + 1, 0,
                                          "read error: %s (hint: a corrupt "
                                          "or truncated gzip file?)",
                                          code == Z_ERRNO ? strerror(errno)
                                                          : msg);
        }
        if (n == 0) {
                /* a gzip stream that ends early reads as end of file with
                 * Z_BUF_ERROR pending */
                int code = 0;
                const char *msg = gzerror(r->gz, &code);
                if (code != Z_OK && code != Z_STREAM_END)
                        return socfw_error_set_at(
                                err, SOCFW_EIO, r->path, (int)r->line + 1, 0,
                                "%s (hint: a truncated gzip file?)", msg);
                r->eof = 1;
        }
        r->end += (size_t)n;
        r->bytes += (size_t)n;
        return 0;
}

int
socfw_line_reader_next(socfw_line_reader *r, const char **line, size_t *len,
                       socfw_error *err)
{
        size_t scan = r->start;
        int skipping = 0;
        for (;;) {
                char *nl = memchr(r->buf + scan, '\n', r->end - scan);
                if (nl || (r->eof && r->end > r->start)) {
                        size_t at = nl ? (size_t)(nl - r->buf) : r->end;
                        size_t s = r->start, n = at - s;
                        r->start = nl ? at + 1 : at;
                        r->line++;
                        if (skipping) {
                                r->skipped++;
                                skipping = 0;
                                scan = r->start;
                                continue;
                        }
                        if (n > 0 && r->buf[s + n - 1] == '\r')
                                n--;
                        r->buf[s + n] = '\0';
                        *line = r->buf + s;
                        *len = n;
                        return 1;
                }
                if (r->eof)
                        return 0;
                if (r->end - r->start > r->max_line) {
                        /* overlong: drop what we have, skip to its end */
                        skipping = 1;
                        r->start = r->end;
                }
                scan = r->end - r->start; /* offset after the move */
                int rc = fill(r, err);
                if (rc < 0)
                        return rc;
                scan += r->start; /* start is 0 after fill */
        }
}

long
socfw_line_reader_line(const socfw_line_reader *r)
{
        return r->line;
}

long
socfw_line_reader_skipped(const socfw_line_reader *r)
{
        return r->skipped;
}

size_t
socfw_line_reader_bytes(const socfw_line_reader *r)
{
        return r->bytes;
}

void
socfw_line_reader_close(socfw_line_reader *r)
{
        if (!r)
                return;
        if (r->gz)
                gzclose(r->gz);
        free(r->buf);
        free(r->path);
        free(r);
}
