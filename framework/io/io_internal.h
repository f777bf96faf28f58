/* framework/io/io_internal.h - io helpers that other parts of the library
 * use but the public API does not carry (they name libsodium's types).
 */
#ifndef SOCFW_IO_INTERNAL_H
#define SOCFW_IO_INTERNAL_H

#include <stdint.h>

#include <sodium.h>

#include "socfw/error.h"

/* Read the file at `path` from start to end in blocks, calling
 * block(user, data, n, err) for each (n > 0); a negative return from it
 * stops the read and is returned.  One reader for every whole-file pass
 * (hashing, copying).  Returns 0, SOCFW_ENOTFOUND when `path` does not
 * exist, SOCFW_EIO when it cannot be opened or read or is a directory
 * (err names the file). */
typedef int (*socfw_file_block_fn)(void *user, const unsigned char *data,
                                   size_t n, socfw_error *err);
int socfw_file_read_blocks(const char *path, socfw_file_block_fn block,
                           void *user, socfw_error *err);

/* Feed the bytes of the file at `path` to a running SHA-256 `st` (a
 * download being resumed goes on hashing what arrives after them); *size
 * gets how many bytes were fed.  socfw_file_sha256 is this on a fresh
 * state.  Returns 0, SOCFW_ENOTFOUND when `path` does not exist, SOCFW_EIO
 * when it cannot be opened or read or is a directory (err names the file;
 * `st` has then taken part of the file and must be started again). */
int socfw_file_sha256_feed(const char *path, crypto_hash_sha256_state *st,
                           uint64_t *size, socfw_error *err);

#endif /* SOCFW_IO_INTERNAL_H */
