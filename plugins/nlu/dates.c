/* dates.c - calendar arithmetic for the nlu date extractor (dates.h).
 * Day numbers use the well-known days-from-civil construction over
 * 400-year eras, exact for the proleptic Gregorian calendar. */
#include "dates.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int m)
{
        static const int d[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
        return d[m - 1] + (m == 2 && leap(y));
}

int
socfw_nlu_date_valid(int y, int m, int d)
{
        return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
               d <= month_days(y, m);
}

int64_t
socfw_nlu_date_to_days(socfw_nlu_date x)
{
        int64_t y = x.year - (x.month <= 2);
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t mp = (x.month + 9) % 12; /* March = 0 */
        int64_t doy = (153 * mp + 2) / 5 + x.day - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

socfw_nlu_date
socfw_nlu_date_from_days(int64_t z)
{
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int64_t d = doy - (153 * mp + 2) / 5 + 1;
        int64_t m = mp < 10 ? mp + 3 : mp - 9;
        return (socfw_nlu_date){(int)(y + (m <= 2)), (int)m, (int)d};
}

socfw_nlu_date
socfw_nlu_date_add_days(socfw_nlu_date d, int64_t n)
{
        return socfw_nlu_date_from_days(socfw_nlu_date_to_days(d) + n);
}

socfw_nlu_date
socfw_nlu_date_add_months(socfw_nlu_date d, int n)
{
        int64_t m = (int64_t)d.year * 12 + (d.month - 1) + n;
        socfw_nlu_date r = {(int)(m / 12), (int)(m % 12) + 1, d.day};
        if (r.year < 1)
                return (socfw_nlu_date){1, 1, 1};
        if (r.year > 9999)
                return (socfw_nlu_date){9999, 12, 31};
        if (r.day > month_days(r.year, r.month))
                r.day = month_days(r.year, r.month);
        return r;
}

int
socfw_nlu_date_weekday(socfw_nlu_date d)
{
        int64_t z = socfw_nlu_date_to_days(d); /* 1970-01-01: Thursday */
        int64_t w = (z % 7 + 7 + 3) % 7;       /* 0 = Monday */
        return (int)w + 1;
}

void
socfw_nlu_date_iso_week(socfw_nlu_date d, int *week_year, int *week)
{
        /* the week's Thursday decides its year */
        socfw_nlu_date thu =
                socfw_nlu_date_add_days(d, 4 - socfw_nlu_date_weekday(d));
        socfw_nlu_date jan1 = {thu.year, 1, 1};
        int64_t doy = socfw_nlu_date_to_days(thu) -
                      socfw_nlu_date_to_days(jan1);
        *week_year = thu.year;
        *week = (int)(doy / 7) + 1;
}

void
socfw_nlu_date_format(socfw_nlu_date d, char *buf, size_t size)
{
        snprintf(buf, size, "%04d-%02d-%02d", d.year, d.month, d.day);
}

socfw_nlu_date
socfw_nlu_date_from_epoch(double t)
{
        return socfw_nlu_date_from_days((int64_t)floor(t / 86400.0));
}

static int
digits(const char *s, int n, int *out)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *out = v;
        return 0;
}

int
socfw_nlu_date_parse_reference(const char *s, socfw_nlu_date *out)
{
        if (!s)
                return -1;
        while (*s == ' ')
                s++;
        size_t n = strlen(s);
        int y, m, d;
        if (n >= 10 && s[4] == '-' && s[7] == '-' && digits(s, 4, &y) == 0 &&
            digits(s + 5, 2, &m) == 0 && digits(s + 8, 2, &d) == 0 &&
            (n == 10 || s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
            socfw_nlu_date_valid(y, m, d)) {
                *out = (socfw_nlu_date){y, m, d};
                return 0;
        }
        /* epoch seconds (digits, optional fraction) */
        char *end = NULL;
        if (n && n < 32 && ((s[0] >= '0' && s[0] <= '9') || s[0] == '-')) {
                double t = strtod(s, &end);
                while (end && *end == ' ')
                        end++;
                if (end && !*end && isfinite(t) && fabs(t) < 2.5e11) {
                        *out = socfw_nlu_date_from_epoch(t);
                        return socfw_nlu_date_valid(out->year, out->month,
                                                    out->day)
                                       ? 0
                                       : -1;
                }
        }
        return -1;
}
