/* tests/test_data_reader.c - JSONL / CSV / TSV readers: fields, nesting,
 * quoting, BOM, CRLF, bad rows with file:line, skip policy, caps. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/data.h"
#include "testutil.h"

static const char *
fixture(const char *name)
{
        static char buf[4096];
        char rel[256];
        snprintf(rel, sizeof rel, "tests/fixtures/data/%s", name);
        return socfw_test_path(buf, sizeof buf, socfw_test_srcdir(), rel);
}

/* read every record; returns count, or the negative error (then the
 * records read so far are freed) */
static long
read_all(socfw_reader *r, socfw_record **recs, size_t max, socfw_error *err)
{
        size_t n = 0;
        for (;;) {
                socfw_record *rec;
                int rc = socfw_reader_next(r, &rec, err);
                if (rc < 0) {
                        for (size_t i = 0; i < n && i < max; i++)
                                socfw_record_free(recs[i]);
                        return rc;
                }
                if (rc == 0)
                        return (long)n;
                if (n < max)
                        recs[n] = rec;
                else
                        socfw_record_free(rec);
                n++;
        }
}

static void
free_all(socfw_record **recs, long n)
{
        for (long i = 0; i < n; i++)
                socfw_record_free(recs[i]);
}

Test(data_reader, jsonl_fields_nested_and_lines, .timeout = 10)
{
        socfw_reader *r;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open(&r, fixture("basic.jsonl"), NULL,
                                       &err), 0, "%s", err.message);
        socfw_record *recs[16];
        long n = read_all(r, recs, 16, &err);
        cr_assert_eq(n, 6, "%s", err.message);
        socfw_reader_close(r);
        /* the blank line 4 is skipped, so record 4 is on line 5 */
        static const long lines[] = {1, 2, 3, 5, 6, 7};
        for (int i = 0; i < 6; i++)
                cr_assert_eq(socfw_record_line(recs[i]), lines[i]);
        cr_assert_str_eq(socfw_record_file(recs[0]), fixture("basic.jsonl"));
        cr_assert_str_eq(socfw_record_get_string(recs[3], "text"),
                         "très bien 😀");
        cr_assert_str_eq(socfw_record_get_string(recs[3], "user.name"), "dé");
        double d;
        cr_assert_eq(socfw_record_get_number(recs[0], "user.followers", &d), 0);
        cr_assert_float_eq(d, 12.0, 1e-12);
        cr_assert_eq(socfw_record_get_number(recs[0], "id", &d), 0);
        cr_assert_float_eq(d, 1.0, 1e-12);
        cr_assert_eq(socfw_record_get_number(recs[0], "text", &d),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_record_get_number(recs[0], "nope", &d),
                     SOCFW_ENOTFOUND);
        json_t *toks = socfw_record_get(recs[0], "tokens");
        cr_assert(json_is_array(toks));
        cr_assert_eq(json_array_size(toks), 3);
        cr_assert_str_eq(socfw_record_get_string(recs[0], "tokens.1"), "love");
        cr_assert_null(socfw_record_get(recs[0], "tokens.7"));
        cr_assert_null(socfw_record_get(recs[0], "user.name.x"));
        cr_assert(json_is_object(socfw_record_json(recs[0])));
        char list[128];
        cr_assert_str_eq(socfw_record_field_list(recs[1], list, sizeof list),
                         "id, text, label, user, tokens");
        free_all(recs, n);
}

Test(data_reader, csv_quotes_newlines_bom_crlf, .timeout = 10)
{
        socfw_reader *r;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open(&r, fixture("quoted.csv"), NULL,
                                       &err), 0, "%s", err.message);
        socfw_record *recs[16];
        long n = read_all(r, recs, 16, &err);
        socfw_reader_close(r);
        cr_assert_eq(n, 6, "%s", err.message);
        static const struct { const char *text, *label; long line; } want[] = {
                {"plain text", "positive", 2},
                {"with, comma", "negative", 3},
                {"she said \"hi\"", "neutral", 4},
                {"two\r\nlines", "positive", 5},
                {"", "neutral", 7},
                {"last", "negative", 8},
        };
        for (int i = 0; i < 6; i++) {
                cr_assert_str_eq(socfw_record_get_string(recs[i], "text"),
                                 want[i].text, "row %d", i);
                cr_assert_str_eq(socfw_record_get_string(recs[i], "label"),
                                 want[i].label, "row %d", i);
                cr_assert_eq(socfw_record_line(recs[i]), want[i].line,
                             "row %d", i);
        }
        /* the BOM is not part of the first column name */
        cr_assert_not_null(socfw_record_get(recs[0], "text"));
        double d;
        cr_assert_eq(socfw_record_get_number(recs[5], "score", &d), 0);
        cr_assert_float_eq(d, -2.5, 1e-12);
        cr_assert_eq(socfw_record_get_number(recs[4], "score", &d),
                     SOCFW_EINVAL);
        free_all(recs, n);
}

Test(data_reader, tsv_has_no_quoting, .timeout = 10)
{
        socfw_reader *r;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open(&r, fixture("basic.tsv"), NULL, &err),
                     0, "%s", err.message);
        socfw_record *recs[8];
        long n = read_all(r, recs, 8, &err);
        socfw_reader_close(r);
        cr_assert_eq(n, 3);
        cr_assert_str_eq(socfw_record_get_string(recs[1], "text"),
                         "\"not quoted\"");
        cr_assert_str_eq(socfw_record_get_string(recs[2], "text"), "a,b,c");
        cr_assert_str_eq(socfw_record_get_string(recs[2], "id"), "3");
        free_all(recs, n);
}

struct bad_case {
        const char *file;
        const char *format;     /* NULL: auto */
        long line;
        const char *needle;
};

Test(data_reader, bad_rows_name_file_and_line, .timeout = 10)
{
        static const struct bad_case cases[] = {
                {"bad_json.jsonl", NULL, 3, "invalid JSON at column"},
                {"bad_utf8.jsonl", NULL, 2, "invalid UTF-8 at byte 14"},
                {"bad_utf8.csv", NULL, 3, "invalid UTF-8 in field 'text'"},
                {"mixed.jsonl", NULL, 2, "invalid JSON"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_reader *r;
                socfw_error err = {0};
                cr_assert_eq(socfw_reader_open(&r, fixture(cases[i].file),
                                               NULL, &err), 0);
                socfw_record *recs[32];
                long n = read_all(r, recs, 32, &err);
                socfw_reader_close(r);
                cr_assert_eq(n, SOCFW_EFORMAT, "%s", cases[i].file);
                cr_assert_eq(err.line, cases[i].line, "%s: line %ld",
                             cases[i].file, err.line);
                cr_assert_str_eq(err.file, fixture(cases[i].file));
                cr_assert_not_null(strstr(err.message, cases[i].needle),
                                   "%s: %s", cases[i].file, err.message);
        }
}

struct mem_case {
        const char *name;       /* extension selects the format */
        const char *data;
        long line;
        const char *needle;
};

Test(data_reader, malformed_rows_in_memory, .timeout = 10)
{
        static const struct mem_case cases[] = {
                {"a.csv", "a,b\n1,2\n1,2,3\n", 3, "expected 2 fields"},
                {"a.csv", "a,b\n1,2\n\"open,2\nmore\n", 3,
                 "unterminated quoted field (opened on line 3)"},
                {"a.csv", "a,b\n\"x\"y,2\n", 2, "after a closing quote"},
                {"a.csv", "a,a\n1,2\n", 1, "duplicate column name 'a'"},
                {"a.csv", "a,,c\n1,2,3\n", 1, "column 2 has no name"},
                {"a.tsv", "a\tb\n1\n", 2, "expected 2 fields"},
                {"a.jsonl", "{\"a\": 1}\n\"str\"\n", 2,
                 "expected a JSON object per line, got a string"},
                {"a.jsonl", "{\"a\": 1, \"a\": 2}\n", 1, "duplicate"},
                {"a.jsonl", "{\"a\": \"\\u0000\"}\n", 1, "invalid JSON"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_reader *r = NULL;
                socfw_error err = {0};
                int rc = socfw_reader_open_memory(&r, cases[i].data,
                                                  strlen(cases[i].data),
                                                  cases[i].name, NULL, &err);
                if (rc == 0) {
                        socfw_record *recs[8];
                        long n = read_all(r, recs, 8, &err);
                        socfw_reader_close(r);
                        if (n > 0)
                                free_all(recs, n < 8 ? n : 8);
                        cr_assert_lt(n, 0, "case %zu", i);
                }
                cr_assert_eq(err.line, cases[i].line, "case %zu: line %ld (%s)",
                             i, err.line, err.message);
                cr_assert_not_null(strstr(err.message, cases[i].needle),
                                   "case %zu: %s", i, err.message);
        }
}

Test(data_reader, skip_policy_counts, .timeout = 10)
{
        socfw_reader_options o = SOCFW_READER_OPTIONS_INIT;
        o.bad_rows = SOCFW_BAD_ROWS_SKIP;
        socfw_reader *r;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open(&r, fixture("mixed.jsonl"), &o, &err),
                     0);
        socfw_record *recs[16];
        long n = read_all(r, recs, 16, &err);
        /* reader-level bad rows: bad JSON, array, surrogate */
        cr_assert_eq(n, 7, "%s", err.message);
        cr_assert_eq(socfw_reader_skipped(r), 3);
        /* a caller rejects one more */
        cr_assert_eq(socfw_reader_reject(r, recs[0], SOCFW_EFORMAT, &err,
                                         "test"), 0);
        cr_assert_eq(socfw_reader_skipped(r), 4);
        cr_assert_eq(err.code, 0);
        socfw_reader_close(r);
        free_all(recs, n);
}

Test(data_reader, line_length_and_record_caps, .timeout = 10)
{
        socfw_reader_options o = SOCFW_READER_OPTIONS_INIT;
        o.max_line = 16;
        const char *data = "{\"a\": 1}\n{\"a\": \"0123456789abcdef\"}\n"
                           "{\"a\": 3}\n";
        socfw_reader *r;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open_memory(&r, data, strlen(data), "m.jsonl",
                                              &o, &err), 0);
        socfw_record *recs[4];
        long n = read_all(r, recs, 4, &err);
        socfw_reader_close(r);
        cr_assert_eq(n, SOCFW_EFORMAT);
        cr_assert_eq(err.line, 2);
        cr_assert_not_null(strstr(err.message, "max_line (16 bytes)"));

        /* skip: the long line is dropped, the rest still read in sync */
        o.bad_rows = SOCFW_BAD_ROWS_SKIP;
        socfw_error_clear(&err);
        cr_assert_eq(socfw_reader_open_memory(&r, data, strlen(data), "m.jsonl",
                                              &o, &err), 0);
        n = read_all(r, recs, 4, &err);
        cr_assert_eq(n, 2);
        cr_assert_eq(socfw_record_line(recs[1]), 3);
        cr_assert_eq(socfw_reader_skipped(r), 1);
        socfw_reader_close(r);
        free_all(recs, n);

        socfw_reader_options o2 = SOCFW_READER_OPTIONS_INIT;
        o2.max_records = 2;
        socfw_error_clear(&err);
        const char *three = "{}\n{}\n{}\n";
        cr_assert_eq(socfw_reader_open_memory(&r, three, strlen(three), NULL,
                                              &o2, &err), 0);
        n = read_all(r, recs, 4, &err);
        socfw_reader_close(r);
        cr_assert_eq(n, SOCFW_ENOMEM);
        cr_assert_not_null(strstr(err.message, "max_records (2)"));
}

Test(data_reader, open_errors_and_stream, .timeout = 10)
{
        socfw_reader *r = (void *)1;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open(&r, "/nonexistent/x.jsonl", NULL, &err),
                     SOCFW_ENOTFOUND);
        cr_assert_null(r);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_reader_open_memory(&r, "", 0, "e.csv", NULL, &err),
                     SOCFW_EFORMAT);
        cr_assert_not_null(strstr(err.message, "no records"));

        FILE *f = fopen(fixture("basic.tsv"), "rb");
        cr_assert_not_null(f);
        socfw_reader_options o = SOCFW_READER_OPTIONS_INIT;
        o.format = SOCFW_DATA_FORMAT_TSV;
        cr_assert_eq(socfw_reader_open_stream(&r, f, "stdin", &o, &err), 0);
        socfw_record *recs[4];
        long n = read_all(r, recs, 4, &err);
        cr_assert_eq(n, 3);
        cr_assert_str_eq(socfw_record_file(recs[0]), "stdin");
        socfw_reader_close(r);
        fclose(f);
        /* records outlive their reader */
        cr_assert_str_eq(socfw_record_file(recs[2]), "stdin");
        free_all(recs, n);
        socfw_reader_close(NULL);
        socfw_record_free(NULL);
        cr_assert_eq(socfw_data_format_parse("csv"), SOCFW_DATA_FORMAT_CSV);
        cr_assert_eq(socfw_data_format_parse("xml"), -1);
}

struct utf8_case { const char *s; int ok; size_t off; };

Test(data_reader, utf8_validation)
{
        static const struct utf8_case cases[] = {
                {"plain", 1, 0}, {"é😀中", 1, 0},
                {"a\xc3", 0, 1},                /* truncated */
                {"ab\xc0\xaf", 0, 2},           /* overlong '/' */
                {"\xed\xa0\x80", 0, 0},         /* surrogate */
                {"x\xf4\x90\x80\x80", 0, 1},    /* > U+10FFFF */
                {"\x80", 0, 0},                 /* lone continuation */
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                size_t off = 99;
                int ok = socfw_utf8_valid(cases[i].s, strlen(cases[i].s), &off);
                cr_assert_eq(ok, cases[i].ok, "case %zu", i);
                if (!ok)
                        cr_assert_eq(off, cases[i].off, "case %zu", i);
        }
}

Test(data_reader, jsonl_bom_and_crlf, .timeout = 10)
{
        const char *data = "\xEF\xBB\xBF{\"a\": 1}\r\n\r\n{\"a\": \"x\\r\"}\r\n";
        socfw_reader *r;
        socfw_error err = {0};
        cr_assert_eq(socfw_reader_open_memory(&r, data, strlen(data), "m.jsonl",
                                              NULL, &err), 0);
        socfw_record *recs[4];
        long n = read_all(r, recs, 4, &err);
        socfw_reader_close(r);
        cr_assert_eq(n, 2, "%s", err.message);
        double d;
        cr_assert_eq(socfw_record_get_number(recs[0], "a", &d), 0);
        cr_assert_float_eq(d, 1.0, 0);
        cr_assert_str_eq(socfw_record_get_string(recs[1], "a"), "x\r");
        cr_assert_eq(socfw_record_line(recs[1]), 3);
        free_all(recs, n);
}
