/* fuzz_files.h - for fuzz targets whose input is several files: split the
 * input at NUL bytes into parts and write each part as a file of a
 * private directory. */
#ifndef SOCFW_FUZZ_FILES_H
#define SOCFW_FUZZ_FILES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write p[0..n) as dir/name (aborts on an I/O error: not the input's
 * fault). */
static void
fuzz_put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
        char path[160];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (!f)
                abort();
        if (n && fwrite(p, 1, n, f) != n)
                abort();
        fclose(f);
}

/* The next part of [*p, end): up to the next NUL (excluded) or the end;
 * *p moves past it.  Returns its start, its length in *n. */
static const uint8_t *
fuzz_part(const uint8_t **p, const uint8_t *end, size_t *n)
{
        const uint8_t *s = *p;
        const uint8_t *z = memchr(s, 0, (size_t)(end - s));
        *n = z ? (size_t)(z - s) : (size_t)(end - s);
        *p = z ? z + 1 : end;
        return s;
}

#endif
