/* param.c - values against parameter specs. */
#include "core/param.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
has_range(const socfw_param_spec *spec)
{
        return !(spec->min > spec->max) && !(spec->min == 0 && spec->max == 0);
}

int
socfw_param_parse_bool(const char *text, int *out)
{
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
                if (strcasecmp(text, yes[i]) == 0) {
                        *out = 1;
                        return 0;
                }
                if (strcasecmp(text, no[i]) == 0) {
                        *out = 0;
                        return 0;
                }
        }
        return -1;
}

int
socfw_param_parse_int(const char *text, long long *out)
{
        if (!text || !*text)
                return -1;
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 0);
        if (errno || *end)
                return -1;
        *out = v;
        return 0;
}

int
socfw_param_parse_float(const char *text, double *out)
{
        if (!text || !*text)
                return -1;
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (errno || *end || !isfinite(v))
                return -1;
        *out = v;
        return 0;
}

const char *
socfw_param_describe(const socfw_param_spec *spec, char *buf, size_t size)
{
        size_t n = 0;
        switch (spec->type) {
        case SOCFW_PARAM_BOOL:
                snprintf(buf, size, "true or false");
                return buf;
        case SOCFW_PARAM_INT:
                if (has_range(spec))
                        snprintf(buf, size, "an integer in [%.0f, %.0f]",
                                 spec->min, spec->max);
                else
                        snprintf(buf, size, "an integer");
                return buf;
        case SOCFW_PARAM_FLOAT:
                if (has_range(spec))
                        snprintf(buf, size, "a number in [%g, %g]", spec->min,
                                 spec->max);
                else
                        snprintf(buf, size, "a number");
                return buf;
        case SOCFW_PARAM_STRING:
                snprintf(buf, size, "a string");
                return buf;
        case SOCFW_PARAM_PATH:
                snprintf(buf, size, "a path");
                return buf;
        case SOCFW_PARAM_MAP:
                snprintf(buf, size, "a mapping of names to strings");
                return buf;
        case SOCFW_PARAM_ENUM:
        case SOCFW_PARAM_LIST:
                n = (size_t)snprintf(buf, size, "%s",
                                     spec->type == SOCFW_PARAM_ENUM
                                             ? "one of: "
                                             : "a list of: ");
                if (!spec->choices) {
                        snprintf(buf, size, "a list of strings");
                        return buf;
                }
                for (size_t i = 0; spec->choices[i] && n < size; i++)
                        n += (size_t)snprintf(buf + n, size - n, "%s%s",
                                              i ? ", " : "", spec->choices[i]);
                return buf;
        }
        snprintf(buf, size, "a value");
        return buf;
}

static int
in_choices(const socfw_param_spec *spec, const char *text)
{
        for (size_t i = 0; spec->choices && spec->choices[i]; i++)
                if (strcmp(spec->choices[i], text) == 0)
                        return 1;
        return 0;
}

int
socfw_param_check_scalar(const socfw_param_spec *spec, const char *text,
                         char *why, size_t why_size)
{
        char desc[512];
        long long iv;
        double fv;
        int bv;

        socfw_param_describe(spec, desc, sizeof desc);
        switch (spec->type) {
        case SOCFW_PARAM_BOOL:
                if (socfw_param_parse_bool(text, &bv) == 0)
                        return 0;
                break;
        case SOCFW_PARAM_INT:
                if (socfw_param_parse_int(text, &iv) == 0 &&
                    (!has_range(spec) ||
                     ((double)iv >= spec->min && (double)iv <= spec->max)))
                        return 0;
                break;
        case SOCFW_PARAM_FLOAT:
                if (socfw_param_parse_float(text, &fv) == 0 &&
                    (!has_range(spec) ||
                     (fv >= spec->min && fv <= spec->max)))
                        return 0;
                break;
        case SOCFW_PARAM_STRING:
        case SOCFW_PARAM_PATH:
        case SOCFW_PARAM_MAP:
                return 0;
        case SOCFW_PARAM_ENUM:
                if (in_choices(spec, text))
                        return 0;
                break;
        case SOCFW_PARAM_LIST:
                if (!spec->choices || in_choices(spec, text))
                        return 0;
                /* a list item: describe the choices, not the list */
                {
                        socfw_param_spec item = *spec;
                        item.type = SOCFW_PARAM_ENUM;
                        socfw_param_describe(&item, desc, sizeof desc);
                }
                break;
        }
        snprintf(why, why_size, "expected %s, got '%s'", desc, text);
        return -1;
}

int
socfw_edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return 1000;
        int prev[65], cur[65];
        for (size_t j = 0; j <= lb; j++)
                prev[j] = (int)j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = (int)i;
                for (size_t j = 1; j <= lb; j++) {
                        int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        int best = prev[j] + 1;
                        if (cur[j - 1] + 1 < best)
                                best = cur[j - 1] + 1;
                        if (prev[j - 1] + cost < best)
                                best = prev[j - 1] + cost;
                        cur[j] = best;
                }
                memcpy(prev, cur, sizeof(int) * (lb + 1));
        }
        return prev[lb];
}
