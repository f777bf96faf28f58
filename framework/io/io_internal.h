/* framework/io/io_internal.h - io helpers that other parts of the library
 * use but the public API does not carry (they name libsodium's types).
 */
#ifndef SOCFW_IO_INTERNAL_H
#define SOCFW_IO_INTERNAL_H

#include <stdint.h>

#include <sodium.h>

#include "socfw/error.h"

/* Feed the bytes of the file at `path` to a running SHA-256 `st` (a
 * download being resumed goes on hashing what arrives after them); *size
 * gets how many bytes were fed.  socfw_file_sha256 is this on a fresh
 * state.  Returns 0, SOCFW_ENOTFOUND when `path` does not exist, SOCFW_EIO
 * when it cannot be opened or read or is a directory (err names the file;
 * `st` has then taken part of the file and must be started again). */
int socfw_file_sha256_feed(const char *path, crypto_hash_sha256_state *st,
                           uint64_t *size, socfw_error *err);

#endif /* SOCFW_IO_INTERNAL_H */
