/* plugins/nlu/dates.h - calendar arithmetic for the date extractor:
 * proleptic Gregorian dates as day numbers, weekdays, ISO weeks, and the
 * reference date a post's relative dates ("yesterday", "next Friday")
 * are counted from.
 *
 *     socfw_nlu_date ref;
 *     socfw_nlu_date_parse_reference("2024-03-15T09:30:00Z", &ref);
 *     socfw_nlu_date d = socfw_nlu_date_add_days(ref, -1);   // 2024-03-14
 *     char iso[16];
 *     socfw_nlu_date_format(d, iso, sizeof iso);             // "2024-03-14"
 */
#ifndef SOCFW_NLU_DATES_H
#define SOCFW_NLU_DATES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_nlu_date {
        int year, month, day;   /* month 1-12, day 1-31 */
} socfw_nlu_date;

/* 1 when y-m-d is a real date (years 1-9999). */
int socfw_nlu_date_valid(int y, int m, int d);
/* Days since 1970-01-01 (negative before), and back. */
int64_t socfw_nlu_date_to_days(socfw_nlu_date d);
socfw_nlu_date socfw_nlu_date_from_days(int64_t days);
socfw_nlu_date socfw_nlu_date_add_days(socfw_nlu_date d, int64_t n);
/* The same day `n` months later (earlier when negative), clamped to the
 * month's last day (Jan 31 + 1 month = Feb 28/29). */
socfw_nlu_date socfw_nlu_date_add_months(socfw_nlu_date d, int n);
/* ISO weekday: 1 = Monday ... 7 = Sunday. */
int socfw_nlu_date_weekday(socfw_nlu_date d);
/* ISO 8601 week of d: *week_year and *week (1-53). */
void socfw_nlu_date_iso_week(socfw_nlu_date d, int *week_year, int *week);

/* "YYYY-MM-DD" into buf (at least 11 bytes). */
void socfw_nlu_date_format(socfw_nlu_date d, char *buf, size_t size);

/* A post's timestamp as a reference date: ISO 8601 ("2024-03-15",
 * "2024-03-15T09:30:00Z", "2024-03-15 09:30:00+02:00": the date as
 * written, in the writer's time zone) or epoch seconds ("1710495000", the
 * UTC date).  Returns 0, or -1 when `s` is neither. */
int socfw_nlu_date_parse_reference(const char *s, socfw_nlu_date *out);
/* The UTC date of epoch seconds `t`. */
socfw_nlu_date socfw_nlu_date_from_epoch(double t);

#ifdef __cplusplus
}
#endif
#endif
