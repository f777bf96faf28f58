/* framework/core/param.h - checking values against parameter specs
 * (internal to libsocfw). */
#ifndef SOCFW_CORE_PARAM_H
#define SOCFW_CORE_PARAM_H

#include <stddef.h>

#include "socfw/plugin.h"

/* Check a scalar written as `text` against a BOOL/INT/FLOAT/STRING/ENUM/PATH
 * spec (a LIST item is checked against the spec's choices).  Returns 0 when
 * valid, else -1 with a reason in `why` ("expected an integer in [1, 64]"). */
int socfw_param_check_scalar(const socfw_param_spec *spec, const char *text,
                             char *why, size_t why_size);

/* Parse helpers; return 0 on success. */
int socfw_param_parse_bool(const char *text, int *out);
int socfw_param_parse_int(const char *text, long long *out);
int socfw_param_parse_float(const char *text, double *out);

/* Edit distance, for did-you-mean suggestions (bounded; strings longer than
 * 64 bytes give a large distance). */
int socfw_edit_distance(const char *a, const char *b);

/* Describe what a spec accepts ("an integer in [1, 512]", "one of: cls,
 * mean, last") into buf; returns buf. */
const char *socfw_param_describe(const socfw_param_spec *spec, char *buf,
                                 size_t size);

#endif
