/* buf.c - the growable byte buffer of buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void
socfw_pii_buf_add(socfw_pii_buf *b, const void *data, size_t n)
{
        if (b->failed)
                return;
        if (b->n + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->n + n + 1) {
                        if (cap > SIZE_MAX / 2) {
                                b->failed = 1;
                                return;
                        }
                        cap *= 2;
                }
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->failed = 1;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, data, n);
        b->n += n;
        b->p[b->n] = '\0';
}

void
socfw_pii_buf_str(socfw_pii_buf *b, const char *s)
{
        socfw_pii_buf_add(b, s, strlen(s));
}
