/* tests/fuzz/fuzz_data.c - libFuzzer target for the data readers.
 *
 * The first input byte picks the format
 * (JSONL / CSV / TSV), the bad-row policy, a small max_line and the
 * memory or FILE (fmemopen) interface; the rest is the file.  Every record
 * is queried by field name and dotted path, and the same bytes are loaded
 * as a dataset with text/label mapping, shuffled and bucketed.
 *
 * Built by make check (tests/fuzz/local.mk) when clang with libFuzzer is
 * present, run a few seconds there; tests/fuzz/run-fuzz.sh 60 data runs it
 * longer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/data.h"
#include "socfw/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
touch_record(const socfw_record *rec)
{
        static const char *const paths[] = {
                "text", "label", "a", "user.name", "tokens.0", "0", "a.b.c",
        };
        double d;
        char buf[128];
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
                const char *s = socfw_record_get_string(rec, paths[i]);
                if (s)
                        (void)strlen(s);
                (void)socfw_record_get_number(rec, paths[i], &d);
        }
        socfw_record_field_list(rec, buf, sizeof buf);
        (void)socfw_record_line(rec);
        (void)socfw_record_file(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        socfw_log_set_level(SOCFW_LOG_LEVEL_ERROR);
        uint8_t ctl = data[0];
        data++;
        size--;

        socfw_reader_options o = SOCFW_READER_OPTIONS_INIT;
        static const socfw_data_format fmts[] = {
                SOCFW_DATA_FORMAT_JSONL, SOCFW_DATA_FORMAT_CSV,
                SOCFW_DATA_FORMAT_TSV, SOCFW_DATA_FORMAT_JSONL,
        };
        o.format = fmts[ctl & 3];
        o.bad_rows = (ctl & 4) ? SOCFW_BAD_ROWS_SKIP : SOCFW_BAD_ROWS_ERROR;
        o.max_line = (ctl & 8) ? 64 : 0;
        o.max_records = (ctl & 16) ? 50 : 0;

        socfw_reader *r = NULL;
        socfw_error err = {0};
        FILE *f = NULL;
        int rc;
        if (ctl & 32) {
                f = size ? fmemopen((void *)data, size, "rb") : NULL;
                if (!f)
                        return 0;
                rc = socfw_reader_open_stream(&r, f, "fuzz", &o, &err);
        } else {
                rc = socfw_reader_open_memory(&r, data, size, "fuzz", &o,
                                              &err);
        }
        if (rc == 0) {
                socfw_record *rec;
                while (socfw_reader_next(r, &rec, &err) == 1) {
                        touch_record(rec);
                        socfw_record_free(rec);
                }
                socfw_reader_close(r);
        }
        if (f)
                fclose(f);

        socfw_dataset_options d = SOCFW_DATASET_OPTIONS_INIT;
        d.reader = o;
        d.label_field = "label";
        static const char *const labels[] = {"a", "b", "0"};
        if (ctl & 64) {
                d.labels = labels;
                d.n_labels = 3;
        }
        socfw_dataset *ds = NULL;
        socfw_error_clear(&err);
        if (socfw_dataset_load_memory(&ds, data, size, "fuzz", &d, &err) == 0) {
                size_t n = socfw_dataset_size(ds);
                size_t *lens = calloc(n, sizeof *lens);
                size_t counts[3];
                socfw_dataset_class_counts(ds, counts, 3);
                socfw_dataset_shuffle(ds, ctl);
                for (size_t i = 0; lens && i < n; i++)
                        lens[i] = strlen(socfw_dataset_text(ds, i));
                socfw_batch_plan *p = NULL;
                if (lens && socfw_batch_plan_new(&p, lens, n, 4, 2, 1, ctl,
                                                 NULL) == 0)
                        socfw_batch_plan_free(p);
                free(lens);
                socfw_dataset_free(ds);
        }
        return 0;
}
