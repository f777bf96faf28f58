/* digest.c - SHA-256 of a file's bytes (run manifests, hub downloads). */
#include "socfw/io.h"

#include "io/io_internal.h"

typedef struct sha_feed {
        crypto_hash_sha256_state *st;
        uint64_t total;
} sha_feed;

static int
feed_block(void *user, const unsigned char *data, size_t n, socfw_error *err)
{
        (void)err;
        sha_feed *f = user;
        crypto_hash_sha256_update(f->st, data, (unsigned long long)n);
        f->total += (uint64_t)n;
        return 0;
}

int
socfw_file_sha256_feed(const char *path, crypto_hash_sha256_state *st,
                       uint64_t *size, socfw_error *err)
{
        if (!path || !st || !size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "sha256: NULL argument");
        sha_feed f = {.st = st};
        int rc = socfw_file_read_blocks(path, feed_block, &f, err);
        if (rc == 0)
                *size = f.total;
        return rc;
}

int
socfw_file_sha256(const char *path, char hex[65], uint64_t *size,
                  socfw_error *err)
{
        crypto_hash_sha256_state st;
        unsigned char out[crypto_hash_sha256_BYTES];
        uint64_t n = 0;
        if (!hex)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "sha256: NULL argument");
        crypto_hash_sha256_init(&st);
        int rc = socfw_file_sha256_feed(path, &st, &n, err);
        if (rc < 0)
                return rc;
        crypto_hash_sha256_final(&st, out);
        sodium_bin2hex(hex, 65, out, sizeof out);
        if (size)
                *size = n;
        return 0;
}
