/* socfw/data.h - reading data sets: JSONL / CSV / TSV records, field
 * mapping, labels, shuffling, batching, truncation and chunking.
 *
 * Three layers:
 *   - a reader turns a file (or bytes in memory) into records; each record
 *     knows its file and line and is queried by field name or dotted path;
 *   - a dataset loads all records of one split, maps text/label fields and
 *     labels to indices, counts classes and shuffles deterministically;
 *   - batching helpers work on token id arrays (int32), independent of the
 *     tokenizer: length-bucketed batch plans, padding to (B,T) with an
 *     attention mask, truncation and overlapping chunk windows.
 *
 * Formats: JSONL has one JSON object per line.  CSV follows RFC 4180:
 * fields with commas, quotes or line breaks are quoted, a quote inside is
 * doubled, line breaks inside quotes are kept; a lone quote inside an
 * unquoted field is taken as data.  TSV has no quoting (fields cannot
 * hold tabs or newlines).  For CSV/TSV the first row names the fields.
 * A UTF-8 byte order mark at the start is ignored, CRLF line ends are
 * accepted and blank lines are skipped (in all formats).
 *
 * Every string is checked to be valid UTF-8.  A bad row (invalid JSON or
 * UTF-8, a missing field, an unknown label, a wrong field count) is an error
 * naming file:line and what is wrong, or, with SOCFW_BAD_ROWS_SKIP, skipped
 * and counted.
 *
 *     socfw_dataset_options o = SOCFW_DATASET_OPTIONS_INIT;
 *     o.text_field = "text";
 *     o.label_field = "label";
 *     socfw_dataset *ds;
 *     socfw_error err = {0};
 *     if (socfw_dataset_load(&ds, "data/train.jsonl", &o, &err) < 0)
 *             ... // err: "data/train.jsonl:17: missing field 'label' ..."
 *     for (size_t i = 0; i < socfw_dataset_size(ds); i++)
 *             use(socfw_dataset_text(ds, i), socfw_dataset_label(ds, i));
 *     socfw_dataset_free(ds);
 */
#ifndef SOCFW_DATA_H
#define SOCFW_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- records ---- */

/* One row.  Field values are JSON values: for JSONL the parsed object, for
 * CSV/TSV an object whose values are all strings. */
typedef struct socfw_record socfw_record;

/* Free a record from socfw_reader_next().  NULL is a no-op. */
void socfw_record_free(socfw_record *rec);

/* File name given to the reader (borrowed) and 1-based line where the
 * record starts. */
const char *socfw_record_file(const socfw_record *rec);
long socfw_record_line(const socfw_record *rec);

/* The record as a JSON object (borrowed; json_incref to keep it). */
json_t *socfw_record_json(const socfw_record *rec);

/* Value at `path`: a field name, or a dotted path into nested objects
 * and arrays ("user.name", "tokens.0").  A field whose name itself
 * contains dots is found first.  Returns a borrowed value or NULL. */
json_t *socfw_record_get(const socfw_record *rec, const char *path);

/* String value at `path` (borrowed), or NULL if missing / not a string. */
const char *socfw_record_get_string(const socfw_record *rec,
                                    const char *path);

/* Number at `path`: a JSON number, or a string holding a number (CSV).
 * Returns 0, SOCFW_ENOTFOUND (missing) or SOCFW_EINVAL (not a number). */
int socfw_record_get_number(const socfw_record *rec, const char *path,
                            double *out);

/* Field names, comma-separated, into buf (for messages); returns buf. */
const char *socfw_record_field_list(const socfw_record *rec, char *buf,
                                    size_t size);

/* ---- reader ---- */

typedef enum {
        SOCFW_DATA_FORMAT_AUTO = 0,     /* from the extension; JSONL else */
        SOCFW_DATA_FORMAT_JSONL,
        SOCFW_DATA_FORMAT_CSV,
        SOCFW_DATA_FORMAT_TSV,
} socfw_data_format;

typedef enum {
        SOCFW_BAD_ROWS_ERROR = 0,       /* stop at the first bad row      */
        SOCFW_BAD_ROWS_SKIP,            /* skip it, count it, log it once */
} socfw_bad_rows;

#define SOCFW_DATA_MAX_LINE_DEFAULT ((size_t)16 << 20)

typedef struct socfw_reader_options {
        socfw_data_format format;
        socfw_bad_rows bad_rows;
        size_t max_line;        /* bytes per record; 0 -> 16 MiB          */
        size_t max_records;     /* 0 -> no limit; more is an error        */
} socfw_reader_options;

#define SOCFW_READER_OPTIONS_INIT {SOCFW_DATA_FORMAT_AUTO, \
                SOCFW_BAD_ROWS_ERROR, 0, 0}

typedef struct socfw_reader socfw_reader;

/* Open a file.  `opt` may be NULL (defaults).  Returns 0 and *out (close
 * with socfw_reader_close), or SOCFW_ENOTFOUND / SOCFW_EIO / SOCFW_ENOMEM.
 * For CSV/TSV the header row is read here: a missing header, an empty or
 * duplicate column name is SOCFW_EFORMAT. */
int socfw_reader_open(socfw_reader **out, const char *path,
                      const socfw_reader_options *opt, socfw_error *err);

/* Read from bytes in memory (not copied: `data` must outlive the reader).
 * `name` is used in messages and by socfw_record_file.  `opt->format`
 * AUTO means JSONL here. */
int socfw_reader_open_memory(socfw_reader **out, const void *data,
                             size_t len, const char *name,
                             const socfw_reader_options *opt,
                             socfw_error *err);

/* Read from an open stream (borrowed: not closed by the reader). */
int socfw_reader_open_stream(socfw_reader **out, FILE *stream,
                             const char *name,
                             const socfw_reader_options *opt,
                             socfw_error *err);

/* Next record: returns 1 and *rec (caller frees), 0 at the end, or a
 * negative code with err naming file:line.  With SOCFW_BAD_ROWS_SKIP bad
 * rows are skipped (see socfw_reader_skipped); I/O errors and limits
 * (max_records) still fail. */
int socfw_reader_next(socfw_reader *r, socfw_record **rec, socfw_error *err);

/* Rows skipped so far under SOCFW_BAD_ROWS_SKIP. */
size_t socfw_reader_skipped(const socfw_reader *r);

/* Report a row found bad by a caller (e.g. a missing field): under the
 * error policy sets err at the record's file:line and returns `code`;
 * under the skip policy counts it and returns 0. */
int socfw_reader_reject(socfw_reader *r, const socfw_record *rec, int code,
                        socfw_error *err, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* NULL is a no-op. */
void socfw_reader_close(socfw_reader *r);

/* Name of a format ("jsonl", ...), and parse one (-1 when unknown). */
const char *socfw_data_format_name(socfw_data_format f);
int socfw_data_format_parse(const char *name);

/* 1 if [s, s+len) is valid UTF-8 (no overlongs, surrogates or values
 * above U+10FFFF); else 0 and *bad_offset (may be NULL) = first bad byte. */
int socfw_utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* ---- dataset ---- */

typedef struct socfw_dataset_options {
        socfw_reader_options reader;
        const char *text_field;         /* NULL: no text required        */
        const char *label_field;        /* NULL: unlabelled              */
        const char *const *labels;      /* given label list, or NULL to  */
        size_t n_labels;                /*  infer it (sorted)            */
        const char *const *required;    /* other fields that must exist  */
        size_t n_required;
} socfw_dataset_options;

#define SOCFW_DATASET_OPTIONS_INIT {SOCFW_READER_OPTIONS_INIT, "text", \
                NULL, NULL, 0, NULL, 0}

typedef struct socfw_dataset socfw_dataset;

/* Load every record of one split.  The text field must be a string; the
 * label may be a string, an integer or a boolean (its text form is the
 * label name; with a given list an integer that is not a name is taken as
 * an index into the list).  Inferred labels are sorted: numerically when
 * all are integers, else by bytes.  With a given list, a label not in it
 * is a bad row ("unknown label 'x' (expected one of: a, b)").  A split
 * with no records is SOCFW_EFORMAT ("no records").
 * Returns 0 and *out (caller frees with socfw_dataset_free). */
int socfw_dataset_load(socfw_dataset **out, const char *path,
                       const socfw_dataset_options *opt, socfw_error *err);

/* Same, over bytes in memory (`name` for messages). */
int socfw_dataset_load_memory(socfw_dataset **out, const void *data,
                              size_t len, const char *name,
                              const socfw_dataset_options *opt,
                              socfw_error *err);

void socfw_dataset_free(socfw_dataset *ds);

size_t socfw_dataset_size(const socfw_dataset *ds);
size_t socfw_dataset_skipped(const socfw_dataset *ds);

/* Record i in the current order (borrowed). */
const socfw_record *socfw_dataset_record(const socfw_dataset *ds, size_t i);

/* Text of record i (borrowed), NULL when no text_field was set. */
const char *socfw_dataset_text(const socfw_dataset *ds, size_t i);

/* Label index of record i, -1 when unlabelled. */
int socfw_dataset_label(const socfw_dataset *ds, size_t i);

size_t socfw_dataset_num_labels(const socfw_dataset *ds);
const char *socfw_dataset_label_name(const socfw_dataset *ds, size_t k);
/* Index of a label name, or -1. */
int socfw_dataset_label_index(const socfw_dataset *ds, const char *name);

/* counts[k] <- number of records with label k, for k < n (n should be
 * socfw_dataset_num_labels).  Returns the number of labelled records. */
size_t socfw_dataset_class_counts(const socfw_dataset *ds, size_t *counts,
                                  size_t n);

/* Put the records in a random order determined by `seed` alone (same seed,
 * same data -> same order, on every platform). */
void socfw_dataset_shuffle(socfw_dataset *ds, uint64_t seed);

/* ---- deterministic shuffling ---- */

/* Fisher-Yates driven by socfw/rng.h seeded with `seed`: idx is permuted
 * the same way on every platform. */
void socfw_shuffle_indices(size_t *idx, size_t n, uint64_t seed);

/* ---- batching ---- */

/* A batch plan: batch b holds indices[offsets[b] .. offsets[b+1]). */
typedef struct socfw_batch_plan {
        size_t n_batches;
        size_t n_items;
        size_t *offsets;        /* n_batches + 1 */
        size_t *indices;        /* n_items       */
} socfw_batch_plan;

/* Plan batches over n items with lengths[i].  seed shuffles the items;
 * with window > 0 items are sorted by length within windows of
 * window * batch_size items (length bucketing), cut into batches and the
 * batches shuffled; window == 0 gives plain shuffled batches; with
 * shuffle == 0 items stay in order (window is then ignored).  The last
 * batch may be short.  Every item appears exactly once.  lengths may be
 * NULL when window == 0.  Returns 0 and *out (free with
 * socfw_batch_plan_free) or SOCFW_EINVAL / SOCFW_ENOMEM. */
int socfw_batch_plan_new(socfw_batch_plan **out, const size_t *lengths,
                         size_t n, size_t batch_size, size_t window,
                         int shuffle, uint64_t seed, socfw_error *err);
void socfw_batch_plan_free(socfw_batch_plan *plan);

/* A padded batch of token ids, row-major (B,T). */
typedef struct socfw_padded_batch {
        size_t B, T;
        int32_t *ids;           /* (B,T), pad_id where mask is 0         */
        float *mask;            /* (B,T), 1 for real tokens, 0 for pads  */
        size_t *lengths;        /* (B) real tokens per row               */
} socfw_padded_batch;

/* Pad B sequences to T = longest (capped at max_T when max_T > 0; longer
 * rows keep their first max_T tokens: truncate beforehand for other
 * policies).  left_pad puts the padding first (for causal generation).
 * Returns 0 and *out (free with socfw_padded_batch_free). */
int socfw_batch_pad(socfw_padded_batch **out, const int32_t *const *seqs,
                    const size_t *lens, size_t B, size_t max_T,
                    int32_t pad_id, int left_pad, socfw_error *err);
void socfw_padded_batch_free(socfw_padded_batch *b);

typedef enum {
        SOCFW_TRUNCATE_HEAD = 0,        /* keep the first max_len tokens  */
        SOCFW_TRUNCATE_TAIL,            /* keep the last max_len tokens   */
        SOCFW_TRUNCATE_HEAD_TAIL,       /* keep first head, last max_len-head */
} socfw_truncate_policy;

/* Copy at most max_len tokens of in[0..n) into out (room for max_len)
 * following the policy; `head` is used by HEAD_TAIL (clamped to max_len).
 * Returns the number of tokens written (min(n, max_len)). */
size_t socfw_truncate(const int32_t *in, size_t n, int32_t *out,
                      size_t max_len, socfw_truncate_policy policy,
                      size_t head);

/* Parse "head", "tail", "head+tail" (also "head_tail"); -1 if unknown. */
int socfw_truncate_policy_parse(const char *name);

/* Windows of `window` tokens over a sequence of n tokens, consecutive
 * starts `stride` apart (stride <= window makes them overlap), the last
 * window ending exactly at n.  Writes up to max_starts start offsets to
 * starts (may be NULL) and returns the total number of windows (1 when
 * n <= window; 0 when window or stride is 0). */
size_t socfw_chunk_windows(size_t n, size_t window, size_t stride,
                           size_t *starts, size_t max_starts);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_DATA_H */
