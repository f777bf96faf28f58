/* dataset.c - a loaded split: field mapping, labels, class counts,
 * deterministic shuffling. */
#include "socfw/data.h"

#include <stdlib.h>
#include <string.h>

#include "socfw/rng.h"

/* ---- deterministic shuffling (socfw/rng.h: xoshiro256**) ---- */

void
socfw_shuffle_indices(size_t *idx, size_t n, uint64_t seed)
{
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)socfw_rng_below(&rng, i);
                size_t t = idx[i - 1];
                idx[i - 1] = idx[j];
                idx[j] = t;
        }
}

/* ---- dataset ---- */

typedef struct example {
        socfw_record *rec;
        const char *text;       /* borrowed from rec */
        int label;
} example;

struct socfw_dataset {
        example *ex;
        size_t n, cap;
        size_t skipped;
        char **labels;
        size_t n_labels;
};

typedef struct label_key {
        const char *name;
        int index;
} label_key;

static int
cmp_key(const void *a, const void *b)
{
        return strcmp(((const label_key *)a)->name,
                      ((const label_key *)b)->name);
}

static int
is_int_text(const char *s, long long *v)
{
        char *end;
        if (!*s)
                return 0;
        long long x = strtoll(s, &end, 10);
        if (*end)
                return 0;
        *v = x;
        return 1;
}

static int
cmp_numeric(const void *a, const void *b)
{
        long long x = 0, y = 0;
        is_int_text(*(char *const *)a, &x);
        is_int_text(*(char *const *)b, &y);
        return (x > y) - (x < y);
}

static int
cmp_bytes(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void
socfw_dataset_free(socfw_dataset *ds)
{
        if (!ds)
                return;
        for (size_t i = 0; i < ds->n; i++)
                socfw_record_free(ds->ex[i].rec);
        free(ds->ex);
        for (size_t i = 0; i < ds->n_labels; i++)
                free(ds->labels[i]);
        free(ds->labels);
        free(ds);
}

/* Text form of a label value into buf; 0, or -1 for an unusable type. */
static int
label_text(json_t *v, char *buf, size_t size)
{
        if (json_is_string(v))
                snprintf(buf, size, "%s", json_string_value(v));
        else if (json_is_integer(v))
                snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
                snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
        else
                return -1;
        return 0;
}

static const char *
kind_of(const json_t *v)
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

static void
label_list_text(char *buf, size_t size, char *const *names, size_t n)
{
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < n && used < size; i++) {
                int w = snprintf(buf + used, size - used, "%s%s",
                                 i ? ", " : "", names[i]);
                if (w < 0 || (size_t)w >= size - used || i == 11) {
                        if (i + 1 < n && size > 8)
                                snprintf(buf + (used < size - 8 ? used :
                                                size - 8), 8, ", ...");
                        break;
                }
                used += (size_t)w;
        }
}

static int
rej(int rc)
{
        return rc < 0 ? rc : 0;
}

/* Check one record; returns 1 keep, 0 skipped, <0 error. */
static int
check_record(socfw_dataset *ds, socfw_reader *r, socfw_record *rec,
             const socfw_dataset_options *o, label_key *keys,
             char **raw_label, socfw_error *err)
{
        char fields[400];
        const char *fields_of = NULL;
        example *e = &ds->ex[ds->n];
        e->rec = rec;
        e->text = NULL;
        e->label = -1;
        *raw_label = NULL;

#define FIELDS() (fields_of ? fields_of : (fields_of = \
                socfw_record_field_list(rec, fields, sizeof fields)))
        for (size_t i = 0; i < o->n_required; i++)
                if (!socfw_record_get(rec, o->required[i]))
                        return rej(socfw_reader_reject(
                                r, rec, SOCFW_EFORMAT, err, "missing field "
                                "'%s' (fields present: %s)", o->required[i],
                                FIELDS()));
        if (o->text_field) {
                json_t *t = socfw_record_get(rec, o->text_field);
                if (!t)
                        return rej(socfw_reader_reject(
                                r, rec, SOCFW_EFORMAT, err, "missing field "
                                "'%s' (fields present: %s); hint: set "
                                "text_field", o->text_field, FIELDS()));
                if (!json_is_string(t))
                        return rej(socfw_reader_reject(
                                r, rec, SOCFW_EFORMAT, err, "field '%s' is "
                                "%s, expected a string; hint: set text_field",
                                o->text_field, kind_of(t)));
                e->text = json_string_value(t);
        }
        if (!o->label_field)
                return 1;
        json_t *l = socfw_record_get(rec, o->label_field);
        if (!l)
                return rej(socfw_reader_reject(
                        r, rec, SOCFW_EFORMAT, err, "missing field '%s' "
                        "(fields present: %s); hint: set label_field",
                        o->label_field, FIELDS()));
#undef FIELDS
        char text[256];
        if (label_text(l, text, sizeof text) < 0)
                return rej(socfw_reader_reject(
                        r, rec, SOCFW_EFORMAT, err, "label field '%s' is %s, "
                        "expected a string or an integer", o->label_field,
                        kind_of(l)));
        if (!keys) {
                *raw_label = strdup(text);
                return *raw_label ? 1 : socfw_error_set(err, SOCFW_ENOMEM,
                                                        "out of memory");
        }
        label_key k = {text, -1};
        label_key *hit = bsearch(&k, keys, ds->n_labels, sizeof *keys,
                                 cmp_key);
        if (hit) {
                e->label = hit->index;
                return 1;
        }
        if (json_is_integer(l) && json_integer_value(l) >= 0 &&
            (size_t)json_integer_value(l) < ds->n_labels) {
                e->label = (int)json_integer_value(l);
                return 1;
        }
        char list[300];
        label_list_text(list, sizeof list, ds->labels, ds->n_labels);
        return rej(socfw_reader_reject(
                r, rec, SOCFW_EFORMAT, err, "unknown label '%s' in field "
                "'%s' (expected one of: %s); hint: add it to labels or fix "
                "the row", text, o->label_field, list));
}

/* Infer the label list from raw names and map every example. */
static int
infer_labels(socfw_dataset *ds, char **raw, socfw_error *err)
{
        int rc = 0;
        char **names = malloc((ds->n ? ds->n : 1) * sizeof *names);
        label_key *keys = NULL;
        if (!names)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        size_t m = 0;
        int numeric = 1;
        for (size_t i = 0; i < ds->n; i++) {
                long long v;
                names[m++] = raw[i];
                if (!is_int_text(raw[i], &v))
                        numeric = 0;
        }
        qsort(names, m, sizeof *names, numeric ? cmp_numeric : cmp_bytes);
        size_t u = 0;
        for (size_t i = 0; i < m; i++)
                if (u == 0 || strcmp(names[u - 1], names[i]))
                        names[u++] = names[i];
        ds->labels = calloc(u ? u : 1, sizeof *ds->labels);
        keys = malloc((u ? u : 1) * sizeof *keys);
        if (!ds->labels || !keys) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < u; i++) {
                ds->labels[i] = strdup(names[i]);
                if (!ds->labels[i]) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                ds->n_labels = i + 1;
                keys[i].name = ds->labels[i];
                keys[i].index = (int)i;
        }
        qsort(keys, u, sizeof *keys, cmp_key);
        for (size_t i = 0; i < ds->n; i++) {
                label_key k = {raw[i], -1};
                label_key *hit = bsearch(&k, keys, u, sizeof *keys, cmp_key);
                ds->ex[i].label = hit ? hit->index : -1;
        }
out:
        free(names);
        free(keys);
        return rc;
}

static int
dataset_load(socfw_dataset **out, socfw_reader *r, const char *name,
             const socfw_dataset_options *o, socfw_error *err)
{
        int rc = 0;
        size_t n_raw = 0;
        socfw_dataset *ds = calloc(1, sizeof *ds);
        label_key *keys = NULL;
        char **raw = NULL;
        size_t raw_cap = 0;
        socfw_record *rec = NULL;

        if (!ds) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        if (o->label_field && o->labels && o->n_labels) {
                ds->labels = calloc(o->n_labels, sizeof *ds->labels);
                keys = malloc(o->n_labels * sizeof *keys);
                if (!ds->labels || !keys) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                for (size_t i = 0; i < o->n_labels; i++) {
                        ds->labels[i] = strdup(o->labels[i] ? o->labels[i]
                                                            : "");
                        if (!ds->labels[i]) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        ds->n_labels = i + 1;
                        keys[i].name = ds->labels[i];
                        keys[i].index = (int)i;
                }
                qsort(keys, o->n_labels, sizeof *keys, cmp_key);
                for (size_t i = 1; i < o->n_labels; i++)
                        if (!strcmp(keys[i - 1].name, keys[i].name)) {
                                rc = socfw_error_set(
                                        err, SOCFW_ESCHEMA, "label '%s' is "
                                        "listed twice in labels",
                                        keys[i].name);
                                goto out;
                        }
        }
        for (;;) {
                rc = socfw_reader_next(r, &rec, err);
                if (rc < 0)
                        goto out;
                if (rc == 0)
                        break;
                if (ds->n == ds->cap) {
                        size_t ncap = ds->cap ? ds->cap * 2 : 256;
                        example *ne = realloc(ds->ex, ncap * sizeof *ne);
                        if (!ne) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        ds->ex = ne;
                        ds->cap = ncap;
                }
                if (!keys && o->label_field && ds->n == raw_cap) {
                        size_t ncap = raw_cap ? raw_cap * 2 : 256;
                        char **nr = realloc(raw, ncap * sizeof *nr);
                        if (!nr) {
                                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                                     "out of memory");
                                goto out;
                        }
                        raw = nr;
                        raw_cap = ncap;
                }
                char *raw_label = NULL;
                rc = check_record(ds, r, rec, o, keys, &raw_label, err);
                if (rc < 0)
                        goto out;
                if (rc == 0) {
                        socfw_record_free(rec);
                        rec = NULL;
                        continue;
                }
                if (raw)
                        raw[n_raw++] = raw_label;
                ds->n++;
                rec = NULL;
        }
        rc = 0;
        ds->skipped = socfw_reader_skipped(r);
        if (ds->n == 0) {
                if (ds->skipped)
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, name, 0, 0, "no records: "
                                "all %zu rows were bad and skipped",
                                ds->skipped);
                else
                        rc = socfw_error_set_at(
                                err, SOCFW_EFORMAT, name, 0, 0, "no records: "
                                "the file is empty; hint: check the path of "
                                "the split");
                goto out;
        }
        if (!keys && o->label_field) {
                rc = infer_labels(ds, raw, err);
                if (rc < 0)
                        goto out;
        }
        *out = ds;
        ds = NULL;
out:
        socfw_record_free(rec);
        for (size_t i = 0; i < n_raw; i++)
                free(raw[i]);
        free(raw);
        free(keys);
        socfw_dataset_free(ds);
        return rc;
}

int
socfw_dataset_load(socfw_dataset **out, const char *path,
                   const socfw_dataset_options *opt, socfw_error *err)
{
        socfw_dataset_options d = SOCFW_DATASET_OPTIONS_INIT;
        socfw_reader *r;
        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "dataset: NULL argument");
        *out = NULL;
        int rc = socfw_reader_open(&r, path, opt ? &opt->reader : NULL, err);
        if (rc < 0)
                return rc;
        rc = dataset_load(out, r, path, opt ? opt : &d, err);
        socfw_reader_close(r);
        return rc;
}

int
socfw_dataset_load_memory(socfw_dataset **out, const void *data, size_t len,
                          const char *name, const socfw_dataset_options *opt,
                          socfw_error *err)
{
        socfw_dataset_options d = SOCFW_DATASET_OPTIONS_INIT;
        socfw_reader *r;
        if (!out)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "dataset: NULL argument");
        *out = NULL;
        int rc = socfw_reader_open_memory(&r, data, len, name,
                                          opt ? &opt->reader : NULL, err);
        if (rc < 0)
                return rc;
        rc = dataset_load(out, r, name ? name : "<memory>", opt ? opt : &d,
                          err);
        socfw_reader_close(r);
        return rc;
}

size_t
socfw_dataset_size(const socfw_dataset *ds)
{
        return ds ? ds->n : 0;
}

size_t
socfw_dataset_skipped(const socfw_dataset *ds)
{
        return ds ? ds->skipped : 0;
}

const socfw_record *
socfw_dataset_record(const socfw_dataset *ds, size_t i)
{
        return ds && i < ds->n ? ds->ex[i].rec : NULL;
}

const char *
socfw_dataset_text(const socfw_dataset *ds, size_t i)
{
        return ds && i < ds->n ? ds->ex[i].text : NULL;
}

int
socfw_dataset_label(const socfw_dataset *ds, size_t i)
{
        return ds && i < ds->n ? ds->ex[i].label : -1;
}

size_t
socfw_dataset_num_labels(const socfw_dataset *ds)
{
        return ds ? ds->n_labels : 0;
}

const char *
socfw_dataset_label_name(const socfw_dataset *ds, size_t k)
{
        return ds && k < ds->n_labels ? ds->labels[k] : NULL;
}

int
socfw_dataset_label_index(const socfw_dataset *ds, const char *name)
{
        if (!ds || !name)
                return -1;
        for (size_t k = 0; k < ds->n_labels; k++)
                if (!strcmp(ds->labels[k], name))
                        return (int)k;
        return -1;
}

size_t
socfw_dataset_class_counts(const socfw_dataset *ds, size_t *counts, size_t n)
{
        size_t total = 0;
        if (!ds || !counts)
                return 0;
        memset(counts, 0, n * sizeof *counts);
        for (size_t i = 0; i < ds->n; i++) {
                int l = ds->ex[i].label;
                if (l >= 0 && (size_t)l < n) {
                        counts[l]++;
                        total++;
                }
        }
        return total;
}

void
socfw_dataset_shuffle(socfw_dataset *ds, uint64_t seed)
{
        if (!ds)
                return;
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        for (size_t i = ds->n; i > 1; i--) {
                size_t j = (size_t)socfw_rng_below(&rng, i);
                example t = ds->ex[i - 1];
                ds->ex[i - 1] = ds->ex[j];
                ds->ex[j] = t;
        }
}
