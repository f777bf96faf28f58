/* digest.c - SHA-256 of a file's bytes (run manifests, hub downloads). */
#include "socfw/io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

int
socfw_file_sha256_feed(const char *path, crypto_hash_sha256_state *st,
                       uint64_t *size, socfw_error *err)
{
        unsigned char buf[1 << 16];
        uint64_t total = 0;
        int rc = 0;
        if (!path || !st || !size)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "sha256: NULL argument");
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                return socfw_error_set_at(err, e == ENOENT ? SOCFW_ENOTFOUND
                                                           : SOCFW_EIO,
                                          path, 0, 0, "cannot open: %s",
                                          strerror(e));
        }
        struct stat sb;
        if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                        "is a directory, expected a file");
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = socfw_error_set_at(err, SOCFW_EIO, path, 0, 0,
                                                "cannot read: %s",
                                                strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                crypto_hash_sha256_update(st, buf, (unsigned long long)n);
                total += (uint64_t)n;
        }
        *size = total;
out:
        close(fd);
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
