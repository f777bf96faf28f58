/* plugins/privacy/buf.h - a growable byte buffer for building text.
 *
 *     socfw_pii_buf b = {0};
 *     socfw_pii_buf_add(&b, text, n);
 *     socfw_pii_buf_str(&b, "<PERSON>");
 *     if (b.failed) ... out of memory: free(b.p) ...
 *     else ... b.p is NUL-terminated, b.n bytes (NULL if nothing added) ...
 *
 * A failed allocation is sticky: later adds do nothing, and the caller
 * checks `failed` once at the end.
 */
#ifndef SOCFW_PII_BUF_H
#define SOCFW_PII_BUF_H

#include <stddef.h>

typedef struct socfw_pii_buf {
        char *p;
        size_t n, cap;
        int failed;
} socfw_pii_buf;

void socfw_pii_buf_add(socfw_pii_buf *b, const void *data, size_t n);
void socfw_pii_buf_str(socfw_pii_buf *b, const char *s);

#endif
