/* reader.c - JSONL / CSV / TSV record readers with a bad-row policy. */
#include "socfw/data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "socfw/log.h"

#define MAX_SKIP_LOGS 3

/* ---- shared file name (records outlive their reader) ---- */

typedef struct name_ref {
        int refs;
        char s[];
} name_ref;

static name_ref *
name_new(const char *s)
{
        size_t n = strlen(s);
        name_ref *nr = malloc(sizeof *nr + n + 1);
        if (!nr)
                return NULL;
        nr->refs = 1;
        memcpy(nr->s, s, n + 1);
        return nr;
}

static name_ref *
name_ref_get(name_ref *nr)
{
        __atomic_add_fetch(&nr->refs, 1, __ATOMIC_RELAXED);
        return nr;
}

static void
name_unref(name_ref *nr)
{
        if (nr && __atomic_sub_fetch(&nr->refs, 1, __ATOMIC_ACQ_REL) == 0)
                free(nr);
}

/* ---- records ---- */

struct socfw_record {
        json_t *obj;
        name_ref *file;
        long line;
};

void
socfw_record_free(socfw_record *rec)
{
        if (!rec)
                return;
        json_decref(rec->obj);
        name_unref(rec->file);
        free(rec);
}

const char *
socfw_record_file(const socfw_record *rec)
{
        return rec ? rec->file->s : NULL;
}

long
socfw_record_line(const socfw_record *rec)
{
        return rec ? rec->line : 0;
}

json_t *
socfw_record_json(const socfw_record *rec)
{
        return rec ? rec->obj : NULL;
}

static int
parse_index(const char *s, size_t n, size_t *out)
{
        if (n == 0 || n > 18)
                return -1;
        size_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (size_t)(s[i] - '0');
        }
        *out = v;
        return 0;
}

json_t *
socfw_record_get(const socfw_record *rec, const char *path)
{
        if (!rec || !path)
                return NULL;
        json_t *v = json_object_get(rec->obj, path);
        if (v || !strchr(path, '.'))
                return v;
        v = rec->obj;
        const char *p = path;
        while (v) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                size_t idx;
                if (json_is_object(v))
                        v = json_object_getn(v, p, n);
                else if (json_is_array(v) && parse_index(p, n, &idx) == 0)
                        v = json_array_get(v, idx);
                else
                        v = NULL;
                if (!dot)
                        break;
                p = dot + 1;
        }
        return v;
}

const char *
socfw_record_get_string(const socfw_record *rec, const char *path)
{
        json_t *v = socfw_record_get(rec, path);
        return json_is_string(v) ? json_string_value(v) : NULL;
}

int
socfw_record_get_number(const socfw_record *rec, const char *path,
                        double *out)
{
        json_t *v = socfw_record_get(rec, path);
        if (!v)
                return SOCFW_ENOTFOUND;
        if (json_is_number(v)) {
                *out = json_number_value(v);
                return 0;
        }
        if (!json_is_string(v))
                return SOCFW_EINVAL;
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        while (*end == ' ' || *end == '\t')
                end++;
        if (end == s || *end || errno == ERANGE || !isfinite(d))
                return SOCFW_EINVAL;
        *out = d;
        return 0;
}

const char *
socfw_record_field_list(const socfw_record *rec, char *buf, size_t size)
{
        if (!buf || size == 0)
                return buf;
        buf[0] = '\0';
        if (!rec)
                return buf;
        size_t used = 0;
        const char *key;
        json_t *val;
        json_object_foreach(rec->obj, key, val) {
                int n = snprintf(buf + used, size - used, "%s%s",
                                 used ? ", " : "", key);
                if (n < 0 || (size_t)n >= size - used) {
                        /* mark the cut */
                        if (size > 4)
                                snprintf(buf + size - 4, 4, "...");
                        break;
                }
                used += (size_t)n;
        }
        (void)val;
        return buf;
}

/* ---- UTF-8 ---- */

int
socfw_utf8_valid(const char *s, size_t len, size_t *bad_offset)
{
        size_t i = 0;
        while (i < len) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x80) {
                        i++;
                        continue;
                }
                utf8proc_int32_t cp;
                utf8proc_ssize_t n = utf8proc_iterate(
                        (const utf8proc_uint8_t *)s + i,
                        (utf8proc_ssize_t)(len - i), &cp);
                if (n <= 0 || cp < 0) {
                        if (bad_offset)
                                *bad_offset = i;
                        return 0;
                }
                i += (size_t)n;
        }
        return 1;
}

/* ---- byte source: FILE or memory, with a small push-back stack ---- */

typedef struct src {
        FILE *f;
        int own;
        const unsigned char *mem;
        size_t len, pos;
        int push[4];
        int npush;
} src;

static int
src_getc(src *s)
{
        if (s->npush)
                return s->push[--s->npush];
        if (s->f) {
                int c = getc_unlocked(s->f);
                return c == EOF ? -1 : c;
        }
        return s->pos < s->len ? s->mem[s->pos++] : -1;
}

static void
src_unget(src *s, int c)
{
        if (c >= 0 && s->npush < 4)
                s->push[s->npush++] = c;
}

static int
src_error(const src *s)
{
        return s->f && ferror(s->f);
}

/* ---- reader ---- */

/* internal: a row is bad, r->why says why */
#define BAD_ROW 2

struct socfw_reader {
        src in;
        name_ref *name;
        socfw_data_format format;
        socfw_bad_rows bad_rows;
        size_t max_line, max_records;
        size_t n_records, skipped;
        long line;              /* line of the next byte            */
        long rec_line;          /* line where the current row began */
        int eof;
        int blank;              /* CSV/TSV row had no bytes at all  */
        /* current row bytes; for CSV/TSV fields are NUL-separated */
        char *buf;
        size_t len, cap;
        size_t *fstart, *flen;
        size_t nfields, fcap;
        /* CSV/TSV header */
        char **cols;
        size_t ncols;
        char why[512];
};

const char *
socfw_data_format_name(socfw_data_format f)
{
        switch (f) {
        case SOCFW_DATA_FORMAT_JSONL: return "jsonl";
        case SOCFW_DATA_FORMAT_CSV: return "csv";
        case SOCFW_DATA_FORMAT_TSV: return "tsv";
        default: return "auto";
        }
}

int
socfw_data_format_parse(const char *name)
{
        if (!name)
                return -1;
        if (!strcmp(name, "jsonl") || !strcmp(name, "json") ||
            !strcmp(name, "ndjson"))
                return SOCFW_DATA_FORMAT_JSONL;
        if (!strcmp(name, "csv"))
                return SOCFW_DATA_FORMAT_CSV;
        if (!strcmp(name, "tsv"))
                return SOCFW_DATA_FORMAT_TSV;
        if (!strcmp(name, "auto"))
                return SOCFW_DATA_FORMAT_AUTO;
        return -1;
}

static socfw_data_format
format_from_name(const char *path)
{
        const char *dot = strrchr(path, '.');
        if (dot && (!strcmp(dot, ".csv") || !strcmp(dot, ".CSV")))
                return SOCFW_DATA_FORMAT_CSV;
        if (dot && (!strcmp(dot, ".tsv") || !strcmp(dot, ".TSV") ||
                    !strcmp(dot, ".tab")))
                return SOCFW_DATA_FORMAT_TSV;
        return SOCFW_DATA_FORMAT_JSONL;
}

static int
why(socfw_reader *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int
why(socfw_reader *r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof r->why, fmt, ap);
        va_end(ap);
        return BAD_ROW;
}

static int
buf_push(socfw_reader *r, int c)
{
        if (r->len + 2 > r->cap) {
                size_t ncap = r->cap ? r->cap * 2 : 4096;
                if (ncap > r->max_line + 2)
                        ncap = r->max_line + 2;
                char *nb = realloc(r->buf, ncap);
                if (!nb)
                        return SOCFW_ENOMEM;
                r->buf = nb;
                r->cap = ncap;
        }
        r->buf[r->len++] = (char)c;
        return 0;
}

static int
field_end(socfw_reader *r, size_t start)
{
        if (r->nfields == r->fcap) {
                size_t ncap = r->fcap ? r->fcap * 2 : 16;
                size_t *a = realloc(r->fstart, ncap * sizeof *a);
                if (!a)
                        return SOCFW_ENOMEM;
                r->fstart = a;
                size_t *b = realloc(r->flen, ncap * sizeof *b);
                if (!b)
                        return SOCFW_ENOMEM;
                r->flen = b;
                r->fcap = ncap;
        }
        r->fstart[r->nfields] = start;
        r->flen[r->nfields] = r->len - start;
        r->nfields++;
        return buf_push(r, '\0');
}

/* Consume the rest of the physical line (after a bad row). */
static void
skip_line(socfw_reader *r)
{
        int c;
        while ((c = src_getc(&r->in)) >= 0 && c != '\n')
                ;
        if (c == '\n')
                r->line++;
        else
                r->eof = 1;
}

static int
too_long(socfw_reader *r)
{
        skip_line(r);
        return why(r, "row longer than max_line (%zu bytes); hint: raise "
                   "max_line or check that the file is %s", r->max_line,
                   socfw_data_format_name(r->format));
}

/* One physical line into buf (without the line end).
 * Returns 1, 0 at the end, BAD_ROW, or a negative code. */
static int
read_line(socfw_reader *r)
{
        int c, any = 0;
        r->len = 0;
        r->rec_line = r->line;
        while ((c = src_getc(&r->in)) >= 0) {
                any = 1;
                if (c == '\n') {
                        r->line++;
                        break;
                }
                if (r->len >= r->max_line) {
                        src_unget(&r->in, c);
                        return too_long(r);
                }
                int rc = buf_push(r, c);
                if (rc < 0)
                        return rc;
        }
        if (c < 0) {
                if (src_error(&r->in))
                        return SOCFW_EIO;
                r->eof = 1;
        }
        if (r->len && r->buf[r->len - 1] == '\r')
                r->len--;
        if (r->cap)
                r->buf[r->len] = '\0';
        return any;
}

/* One CSV/TSV row into NUL-separated fields.
 * Returns 1, 0 at the end, BAD_ROW, or a negative code. */
static int
read_delimited(socfw_reader *r, int sep, int quoting)
{
        int c, rc, any = 0;
        int in_q = 0, quoted = 0, after_q = 0;
        size_t start = 0;
        long q_line = 0;

        r->len = 0;
        r->nfields = 0;
        r->rec_line = r->line;
        r->blank = 1;
        for (;;) {
                c = src_getc(&r->in);
                if (c >= 0 && c != '\n' && c != '\r')
                        r->blank = 0;
                if (c < 0) {
                        if (src_error(&r->in))
                                return SOCFW_EIO;
                        r->eof = 1;
                        if (in_q)
                                return why(r, "unterminated quoted field "
                                           "(opened on line %ld); hint: "
                                           "double a quote inside a quoted "
                                           "field (\"\")", q_line);
                        if (!any)
                                return 0;
                        if (r->len && !quoted && r->buf[r->len - 1] == '\r')
                                r->len--;
                        rc = field_end(r, start);
                        return rc < 0 ? rc : 1;
                }
                any = 1;
                if (r->len >= r->max_line) {
                        src_unget(&r->in, c);
                        return too_long(r);
                }
                if (in_q) {
                        if (c == '"') {
                                int d = src_getc(&r->in);
                                if (d == '"') {
                                        rc = buf_push(r, '"');
                                } else {
                                        src_unget(&r->in, d);
                                        in_q = 0;
                                        after_q = 1;
                                        rc = 0;
                                }
                        } else {
                                if (c == '\n')
                                        r->line++;
                                rc = buf_push(r, c);
                        }
                        if (rc < 0)
                                return rc;
                        continue;
                }
                if (c == '\r') {
                        int d = src_getc(&r->in);
                        src_unget(&r->in, d);
                        if (d == '\n')
                                continue;
                }
                if (c == '\n') {
                        r->line++;
                        rc = field_end(r, start);
                        return rc < 0 ? rc : 1;
                }
                if (c == sep) {
                        rc = field_end(r, start);
                        if (rc < 0)
                                return rc;
                        start = r->len;
                        quoted = after_q = 0;
                        continue;
                }
                if (after_q) {
                        long l = r->line;
                        skip_line(r);
                        return why(r, "unexpected character '%c' after a "
                                   "closing quote in field %zu (line %ld); "
                                   "hint: quote the whole field and double "
                                   "quotes inside it", c >= 32 && c < 127 ?
                                   c : '?', r->nfields + 1, l);
                }
                if (quoting && c == '"' && r->len == start && !quoted) {
                        in_q = quoted = 1;
                        q_line = r->line;
                        continue;
                }
                rc = buf_push(r, c);
                if (rc < 0)
                        return rc;
        }
}

static int
blank_row(const socfw_reader *r)
{
        if (r->format == SOCFW_DATA_FORMAT_JSONL) {
                for (size_t i = 0; i < r->len; i++)
                        if (r->buf[i] != ' ' && r->buf[i] != '\t' &&
                            r->buf[i] != '\r')
                                return 0;
                return 1;
        }
        return r->blank;
}

static int
next_row(socfw_reader *r)
{
        for (;;) {
                if (r->eof)
                        return 0;
                int rc;
                if (r->format == SOCFW_DATA_FORMAT_JSONL)
                        rc = read_line(r);
                else
                        rc = read_delimited(r, r->format ==
                                            SOCFW_DATA_FORMAT_CSV ? ',' :
                                            '\t', r->format ==
                                            SOCFW_DATA_FORMAT_CSV);
                if (rc != 1)
                        return rc;
                if (blank_row(r))       /* a quoted "" is not blank */
                        continue;
                return 1;
        }
}

static int
check_utf8_field(socfw_reader *r, size_t i, const char *what)
{
        size_t off;
        const char *s = r->buf + r->fstart[i];
        if (memchr(s, '\0', r->flen[i]))
                return why(r, "NUL byte in %s", what);
        if (!socfw_utf8_valid(s, r->flen[i], &off))
                return why(r, "invalid UTF-8 in %s at byte %zu (0x%02x); "
                           "hint: convert the file to UTF-8 (e.g. iconv)",
                           what, off + 1, (unsigned char)s[off]);
        return 0;
}

static int
read_header(socfw_reader *r, socfw_error *err)
{
        int rc = next_row(r);
        if (rc < 0)
                return socfw_error_set_at(err, rc, r->name->s, r->rec_line,
                                          0, "cannot read the header row");
        if (rc == 0)
                return socfw_error_set_at(err, SOCFW_EFORMAT, r->name->s, 0,
                                          0, "no records: the file is empty "
                                          "(expected a header row)");
        if (rc == BAD_ROW)
                return socfw_error_set_at(err, SOCFW_EFORMAT, r->name->s,
                                          r->rec_line, 0, "bad header row: "
                                          "%s", r->why);
        r->cols = calloc(r->nfields, sizeof *r->cols);
        if (!r->cols)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        r->ncols = r->nfields;
        for (size_t i = 0; i < r->nfields; i++) {
                char what[64];
                snprintf(what, sizeof what, "header column %zu", i + 1);
                if (check_utf8_field(r, i, what))
                        return socfw_error_set_at(err, SOCFW_EFORMAT,
                                                  r->name->s, r->rec_line,
                                                  0, "%s", r->why);
                const char *name = r->buf + r->fstart[i];
                if (!*name)
                        return socfw_error_set_at(
                                err, SOCFW_EFORMAT, r->name->s, r->rec_line,
                                0, "header column %zu has no name; hint: "
                                "the first row must name every column", i + 1);
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(r->cols[j], name))
                                return socfw_error_set_at(
                                        err, SOCFW_EFORMAT, r->name->s,
                                        r->rec_line, 0, "duplicate column "
                                        "name '%s' (columns %zu and %zu)",
                                        name, j + 1, i + 1);
                r->cols[i] = strdup(name);
                if (!r->cols[i])
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
        }
        return 0;
}

static int
reader_init(socfw_reader **out, socfw_reader *r, const char *name,
            const socfw_reader_options *opt, socfw_error *err)
{
        socfw_reader_options d = SOCFW_READER_OPTIONS_INIT;
        if (!opt)
                opt = &d;
        r->name = name_new(name ? name : "<memory>");
        if (!r->name) {
                socfw_reader_close(r);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        r->format = opt->format ? opt->format : format_from_name(r->name->s);
        r->bad_rows = opt->bad_rows;
        r->max_line = opt->max_line ? opt->max_line
                                    : SOCFW_DATA_MAX_LINE_DEFAULT;
        r->max_records = opt->max_records;
        r->line = 1;
        /* a UTF-8 byte order mark at the start is not data */
        int c1 = src_getc(&r->in);
        if (c1 == 0xEF) {
                int c2 = src_getc(&r->in);
                int c3 = c2 == 0xBB ? src_getc(&r->in) : -1;
                if (!(c2 == 0xBB && c3 == 0xBF)) {
                        src_unget(&r->in, c3);
                        src_unget(&r->in, c2);
                        src_unget(&r->in, c1);
                }
        } else {
                src_unget(&r->in, c1);
        }
        if (r->format != SOCFW_DATA_FORMAT_JSONL) {
                int rc = read_header(r, err);
                if (rc < 0) {
                        socfw_reader_close(r);
                        return rc;
                }
        }
        *out = r;
        return 0;
}

int
socfw_reader_open(socfw_reader **out, const char *path,
                  const socfw_reader_options *opt, socfw_error *err)
{
        if (!out || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "reader: NULL argument");
        *out = NULL;
        FILE *f = fopen(path, "rb");
        if (!f) {
                int e = errno;
                return socfw_error_set_at(err, e == ENOENT ? SOCFW_ENOTFOUND
                                                           : SOCFW_EIO,
                                          path, 0, 0, "cannot open data "
                                          "file: %s", strerror(e));
        }
        socfw_reader *r = calloc(1, sizeof *r);
        if (!r) {
                fclose(f);
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        }
        r->in.f = f;
        r->in.own = 1;
        return reader_init(out, r, path, opt, err);
}

int
socfw_reader_open_memory(socfw_reader **out, const void *data, size_t len,
                         const char *name, const socfw_reader_options *opt,
                         socfw_error *err)
{
        if (!out || (!data && len))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "reader: NULL argument");
        *out = NULL;
        socfw_reader *r = calloc(1, sizeof *r);
        if (!r)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        r->in.mem = data;
        r->in.len = len;
        socfw_reader_options o = SOCFW_READER_OPTIONS_INIT;
        if (opt)
                o = *opt;
        if (o.format == SOCFW_DATA_FORMAT_AUTO)
                o.format = name ? format_from_name(name)
                                : SOCFW_DATA_FORMAT_JSONL;
        return reader_init(out, r, name, &o, err);
}

int
socfw_reader_open_stream(socfw_reader **out, FILE *stream, const char *name,
                         const socfw_reader_options *opt, socfw_error *err)
{
        if (!out || !stream)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "reader: NULL argument");
        *out = NULL;
        socfw_reader *r = calloc(1, sizeof *r);
        if (!r)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        r->in.f = stream;
        return reader_init(out, r, name ? name : "<stream>", opt, err);
}

void
socfw_reader_close(socfw_reader *r)
{
        if (!r)
                return;
        if (r->in.f && r->in.own)
                fclose(r->in.f);
        name_unref(r->name);
        free(r->buf);
        free(r->fstart);
        free(r->flen);
        for (size_t i = 0; i < r->ncols; i++)
                free(r->cols[i]);
        free(r->cols);
        free(r);
}

size_t
socfw_reader_skipped(const socfw_reader *r)
{
        return r ? r->skipped : 0;
}

static int
reject_msg(socfw_reader *r, long line, int code, const char *msg,
           socfw_error *err)
{
        if (r->bad_rows == SOCFW_BAD_ROWS_SKIP) {
                r->skipped++;
                if (r->skipped <= MAX_SKIP_LOGS)
                        SOCFW_LOG_WARN("%s:%ld: skipping bad row: %s%s",
                                       r->name->s, line, msg,
                                       r->skipped == MAX_SKIP_LOGS ?
                                       " (further skips not logged)" : "");
                return 0;
        }
        return socfw_error_set_at(err, code, r->name->s, line, 0, "%s", msg);
}

int
socfw_reader_reject(socfw_reader *r, const socfw_record *rec, int code,
                    socfw_error *err, const char *fmt, ...)
{
        char msg[SOCFW_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (!r)
                return socfw_error_set(err, code, "%s", msg);
        return reject_msg(r, rec ? rec->line : 0, code ? code : SOCFW_EFORMAT,
                          msg, err);
}

static const char *
json_kind(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: case JSON_REAL: return "a number";
        case JSON_TRUE: case JSON_FALSE: return "a boolean";
        default: return "null";
        }
}

/* Build a record from the current row, or BAD_ROW. */
static int
make_object(socfw_reader *r, json_t **out)
{
        *out = NULL;
        if (r->format == SOCFW_DATA_FORMAT_JSONL) {
                size_t off;
                if (!socfw_utf8_valid(r->buf, r->len, &off))
                        return why(r, "invalid UTF-8 at byte %zu (0x%02x); "
                                   "hint: convert the file to UTF-8 (e.g. "
                                   "iconv)", off + 1,
                                   (unsigned char)r->buf[off]);
                json_error_t je;
                size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
                json_t *v = json_loadb(r->buf, r->len, flags, &je);
                if (!v)
                        return why(r, "invalid JSON at column %d: %s",
                                   je.column, je.text);
                if (!json_is_object(v)) {
                        why(r, "expected a JSON object per line, got %s",
                            json_kind(v));
                        json_decref(v);
                        return BAD_ROW;
                }
                *out = v;
                return 0;
        }
        if (r->nfields != r->ncols)
                return why(r, "expected %zu fields (as in the header), got "
                           "%zu%s", r->ncols, r->nfields,
                           r->format == SOCFW_DATA_FORMAT_CSV ?
                           "; hint: quote fields that contain commas" :
                           "; hint: TSV fields cannot contain tabs");
        json_t *obj = json_object();
        if (!obj)
                return SOCFW_ENOMEM;
        for (size_t i = 0; i < r->nfields; i++) {
                char what[300];
                snprintf(what, sizeof what, "field '%.200s'", r->cols[i]);
                if (check_utf8_field(r, i, what)) {
                        json_decref(obj);
                        return BAD_ROW;
                }
                json_t *s = json_stringn(r->buf + r->fstart[i], r->flen[i]);
                if (!s || json_object_set_new(obj, r->cols[i], s) < 0) {
                        json_decref(obj);
                        return SOCFW_ENOMEM;
                }
        }
        *out = obj;
        return 0;
}

int
socfw_reader_next(socfw_reader *r, socfw_record **out, socfw_error *err)
{
        if (!r || !out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "reader: NULL argument");
        *out = NULL;
        for (;;) {
                int rc = next_row(r);
                if (rc == 0)
                        return 0;
                if (rc < 0)
                        return socfw_error_set_at(err, rc, r->name->s,
                                                  r->rec_line, 0,
                                                  rc == SOCFW_EIO ?
                                                  "read error: %s" :
                                                  "cannot read row%s",
                                                  rc == SOCFW_EIO ?
                                                  strerror(errno) : "");
                json_t *obj = NULL;
                if (rc == 1) {
                        rc = make_object(r, &obj);
                        if (rc < 0)
                                return socfw_error_set(err, rc,
                                                       "out of memory");
                }
                if (rc == BAD_ROW) {
                        rc = reject_msg(r, r->rec_line, SOCFW_EFORMAT,
                                        r->why, err);
                        if (rc < 0)
                                return rc;
                        continue;
                }
                if (r->max_records && r->n_records >= r->max_records) {
                        json_decref(obj);
                        return socfw_error_set_at(
                                err, SOCFW_ENOMEM, r->name->s, r->rec_line,
                                0, "more than max_records (%zu) records; "
                                "hint: raise max_records", r->max_records);
                }
                socfw_record *rec = malloc(sizeof *rec);
                if (!rec) {
                        json_decref(obj);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                rec->obj = obj;
                rec->file = name_ref_get(r->name);
                rec->line = r->rec_line;
                r->n_records++;
                *out = rec;
                return 1;
        }
}
