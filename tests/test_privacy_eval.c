/* tests/test_privacy_eval.c - the pattern recognizers on real data:
 * ../shared/data/pii-en/train.jsonl (Presidio synthetic PII, spans in code
 * points).  Prints per-type precision / recall / F1 / F2 and asserts the
 * targets of the privacy issue where the data has enough examples.
 *
 * Matching: a predicted span counts as a hit when a gold span of the same
 * type overlaps it by at least half of their union (character IoU >= 0.5);
 * each gold span is matched at most once.  Gold DOMAIN_NAME spans in this
 * data set are full URLs ("https://www.X.se/") and are scored as URL.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recognizers.h"
#include "testutil.h"

typedef struct {
        size_t tp, fp, fn;
} counts;

static socfw_pii_type
gold_type(const char *name)
{
        if (strcmp(name, "DOMAIN_NAME") == 0)
                return SOCFW_PII_URL;
        socfw_pii_type t = socfw_pii_type_parse(name);
        if (t == SOCFW_PII_PERSON || t == SOCFW_PII_LOCATION ||
            t == SOCFW_PII_ORGANIZATION || t == SOCFW_PII_HANDLE ||
            t == SOCFW_PII_CN_ID)
                return SOCFW_PII_NONE; /* not pattern types in this data */
        return t;
}

static int
iou_ok(size_t a0, size_t a1, size_t b0, size_t b1)
{
        size_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
        size_t inter = hi > lo ? hi - lo : 0;
        size_t uni = (a1 > b1 ? a1 : b1) - (a0 < b0 ? a0 : b0);
        return uni && 2 * inter >= uni;
}

static double
ratio(size_t a, size_t b)
{
        return b ? (double)a / (double)b : 1.0;
}

Test(privacy_eval, pii_en_per_type_scores, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "data/pii-en/train.jsonl");
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "cannot open %s", path);

        socfw_pii_recognizer *rec = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_new(&rec, NULL, &err), 0, "%s",
                     err.message);
        counts c[SOCFW_PII_TYPE_COUNT];
        memset(c, 0, sizeof c);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        size_t rows = 0;
        int verbose = getenv("SOCFW_PRIVACY_EVAL_VERBOSE") != NULL;
        while ((n = getline(&line, &cap, f)) > 0) {
                json_error_t je;
                json_t *row = json_loadb(line, (size_t)n, 0, &je);
                cr_assert_not_null(row, "bad JSON at row %zu: %s", rows + 1,
                                   je.text);
                const char *text = json_string_value(json_object_get(row,
                                                                     "text"));
                cr_assert_not_null(text);
                size_t len = strlen(text);
                socfw_pii_spans pred = {0};
                cr_assert_eq(socfw_pii_recognizer_scan(rec, text, len, &pred,
                                                       &err), 0, "%s",
                             err.message);
                json_t *spans = json_object_get(row, "spans");
                size_t ng = json_array_size(spans);
                int *used = calloc(ng + 1, sizeof *used);
                int *hit = calloc(pred.n + 1, sizeof *hit);
                for (size_t p = 0; p < pred.n; p++) {
                        for (size_t g = 0; g < ng; g++) {
                                json_t *gs = json_array_get(spans, g);
                                socfw_pii_type gt = gold_type(json_string_value(
                                        json_object_get(gs, "type")));
                                size_t g0 = (size_t)json_integer_value(
                                        json_object_get(gs, "start"));
                                size_t g1 = (size_t)json_integer_value(
                                        json_object_get(gs, "end"));
                                if (used[g] || gt != pred.v[p].type)
                                        continue;
                                if (iou_ok(pred.v[p].cp_start, pred.v[p].cp_end,
                                           g0, g1)) {
                                        used[g] = 1;
                                        hit[p] = 1;
                                        break;
                                }
                        }
                        if (hit[p]) {
                                c[pred.v[p].type].tp++;
                        } else {
                                c[pred.v[p].type].fp++;
                                if (verbose)
                                        fprintf(stderr, "FP %s '%.*s'\n",
                                                socfw_pii_type_name(
                                                        pred.v[p].type),
                                                (int)(pred.v[p].end -
                                                      pred.v[p].start),
                                                text + pred.v[p].start);
                        }
                }
                for (size_t g = 0; g < ng; g++) {
                        json_t *gs = json_array_get(spans, g);
                        socfw_pii_type gt = gold_type(
                                json_string_value(json_object_get(gs, "type")));
                        if (gt == SOCFW_PII_NONE || used[g])
                                continue;
                        c[gt].fn++;
                        if (verbose) {
                                size_t g0 = (size_t)json_integer_value(
                                        json_object_get(gs, "start"));
                                fprintf(stderr, "FN %s at cp %zu in '%s'\n",
                                        socfw_pii_type_name(gt), g0, text);
                        }
                }
                free(used);
                free(hit);
                socfw_pii_spans_free(&pred);
                json_decref(row);
                rows++;
        }
        free(line);
        fclose(f);
        socfw_pii_recognizer_free(rec);
        cr_assert_gt(rows, 1000, "expected the 1,193 rows of pii-en");

        printf("\npii-en (%zu rows): pattern recognizers, span IoU >= 0.5\n",
               rows);
        printf("%-16s %5s %5s %5s %9s %9s %9s %9s\n", "type", "tp", "fp",
               "fn", "precision", "recall", "F1", "F2");
        for (int t = 1; t < SOCFW_PII_TYPE_COUNT; t++) {
                if (!(SOCFW_PII_BIT(t) & SOCFW_PII_PATTERN_TYPES))
                        continue;
                counts k = c[t];
                if (k.tp + k.fp + k.fn == 0)
                        continue;
                double p = ratio(k.tp, k.tp + k.fp);
                double r = ratio(k.tp, k.tp + k.fn);
                double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
                double f2 = p + r > 0 ? 5 * p * r / (4 * p + r) : 0;
                printf("%-16s %5zu %5zu %5zu %9.3f %9.3f %9.3f %9.3f\n",
                       socfw_pii_type_name((socfw_pii_type)t), k.tp, k.fp,
                       k.fn, p, r, f1, f2);
        }
        fflush(stdout);

        /* the targets */
        counts cc = c[SOCFW_PII_CREDIT_CARD];
        cr_expect_geq(ratio(cc.tp, cc.tp + cc.fp), 0.99, "card precision");
        cr_expect_geq(ratio(cc.tp, cc.tp + cc.fn), 0.99, "card recall");
        const socfw_pii_type rec98[] = {SOCFW_PII_EMAIL_ADDRESS,
                                        SOCFW_PII_IP_ADDRESS, SOCFW_PII_URL};
        for (size_t i = 0; i < 3; i++) {
                counts k = c[rec98[i]];
                cr_expect_gt(k.tp + k.fn, 0);
                cr_expect_geq(ratio(k.tp, k.tp + k.fn), 0.98, "%s recall",
                              socfw_pii_type_name(rec98[i]));
        }
        counts ph = c[SOCFW_PII_PHONE_NUMBER];
        cr_expect_geq(ratio(ph.tp, ph.tp + ph.fn), 0.95, "phone recall");
        /* validated types must also be precise on this data */
        const socfw_pii_type prec[] = {SOCFW_PII_EMAIL_ADDRESS,
                                       SOCFW_PII_IBAN_CODE,
                                       SOCFW_PII_US_SSN, SOCFW_PII_IP_ADDRESS};
        for (size_t i = 0; i < 4; i++) {
                counts k = c[prec[i]];
                cr_expect_geq(ratio(k.tp, k.tp + k.fp), 0.95, "%s precision",
                              socfw_pii_type_name(prec[i]));
        }
}
