/* socfw/gguf_write.h - write GGUF v3 files (llama.cpp's model format):
 * key/value metadata, tensor infos, and tensor data in any GGML type
 * socfw knows (F32, F16, BF16, the Q*_0/Q*_1 and K-quant blocks, ...).
 *
 * Tensors are declared first (name, type, shape) so that the header, which
 * holds every tensor's offset, can be written before any data; the data
 * then streams tensor by tensor in the order declared, so a model never has
 * to be in memory whole.  The file goes to a temporary next to `path` and
 * is renamed over it by _commit (socfw/io.h's atomic writer): a reader sees
 * the old file or the complete new one, never a half-written one.
 *
 *     socfw_gguf_writer *w = NULL;
 *     socfw_gguf_writer_new(&w, &err);
 *     socfw_gguf_writer_set_string(w, "general.architecture", "llama", 5,
 *                                  &err);
 *     socfw_gguf_writer_set_u32(w, "llama.block_count", 2, &err);
 *     int64_t shape[2] = {512, 64};             // outermost first
 *     socfw_gguf_writer_add_tensor(w, "token_embd.weight",
 *                                  SOCFW_DTYPE_Q8_0, 2, shape, &err);
 *     socfw_gguf_writer_begin(w, "out.gguf", &err);  // header written
 *     socfw_gguf_writer_write_tensor(w, q8_bytes, n, &err);
 *     socfw_gguf_writer_commit(w, &err);       // rename into place
 *     socfw_gguf_writer_free(w);               // discards if not committed
 *
 * Layout: "GGUF", u32 3, u64 tensor count, u64 key count, the key/value
 * pairs in the order set, the tensor infos (name, u32 n_dims, u64 ne[]
 * innermost first, u32 GGML type id, u64 offset from the data section),
 * zero padding to general.alignment (32 unless set), and each tensor's data
 * starting at a multiple of the alignment.  Shapes are given here
 * outermost first, as socfw/modelfile.h reports them, and reversed into
 * ne[] on the way out.  Little-endian hosts only, as the reader.
 */
#ifndef SOCFW_GGUF_WRITE_H
#define SOCFW_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/modelfile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_gguf_writer socfw_gguf_writer;

/* A new, empty writer.  Returns 0 and sets *out (caller frees with
 * socfw_gguf_writer_free), or SOCFW_ENOMEM. */
int socfw_gguf_writer_new(socfw_gguf_writer **out, socfw_error *err);

/* Free the writer; a file begun and not committed is removed (any earlier
 * file at the path is left as it was).  NULL is a no-op. */
void socfw_gguf_writer_free(socfw_gguf_writer *w);

/* ---- metadata (before _begin) ----
 * Setting a key that is already set replaces its value in place (it keeps
 * its position).  Keys must be non-empty.  Return 0, SOCFW_EINVAL (bad
 * key, a general.alignment that is not a power-of-two u32, or called after
 * _begin) or SOCFW_ENOMEM.  Strings are copied. */
int socfw_gguf_writer_set_u32(socfw_gguf_writer *w, const char *key,
                              uint32_t v, socfw_error *err);
int socfw_gguf_writer_set_i32(socfw_gguf_writer *w, const char *key,
                              int32_t v, socfw_error *err);
int socfw_gguf_writer_set_u64(socfw_gguf_writer *w, const char *key,
                              uint64_t v, socfw_error *err);
int socfw_gguf_writer_set_f32(socfw_gguf_writer *w, const char *key,
                              float v, socfw_error *err);
int socfw_gguf_writer_set_bool(socfw_gguf_writer *w, const char *key,
                               bool v, socfw_error *err);
int socfw_gguf_writer_set_string(socfw_gguf_writer *w, const char *key,
                                 const char *s, size_t len, socfw_error *err);

/* An array of `n` elements of scalar type `elem` (U8..F64 except STRING
 * and ARRAY), `items` packed as that C type (uint8_t, int32_t, float, ...),
 * or of strings (elem SOCFW_META_STRING, items a socfw_strview[n]). */
int socfw_gguf_writer_set_array(socfw_gguf_writer *w, const char *key,
                                socfw_meta_type elem, const void *items,
                                size_t n, socfw_error *err);

/* Copy key `key` with its type from an open modelfile (scalars, strings,
 * and arrays of scalars or strings).  Returns as above, or
 * SOCFW_ENOTFOUND / SOCFW_EUNSUPPORTED (nested arrays, JSON-only types). */
int socfw_gguf_writer_copy_meta(socfw_gguf_writer *w,
                                const socfw_modelfile *mf, const char *key,
                                socfw_error *err);

/* True when `key` has been set. */
bool socfw_gguf_writer_has(const socfw_gguf_writer *w, const char *key);

/* ---- tensors ---- */

/* Declare the next tensor: `ndim` 1..4 dimensions, outermost first; the
 * innermost must be a multiple of dtype's block size.  Names are unique
 * and shorter than 64 bytes (llama.cpp's limit).  Returns 0 or
 * SOCFW_EINVAL naming the tensor; SOCFW_EUNSUPPORTED for a type GGUF has
 * no id for. */
int socfw_gguf_writer_add_tensor(socfw_gguf_writer *w, const char *name,
                                 socfw_dtype dtype, int ndim,
                                 const int64_t *shape, socfw_error *err);

/* Open the temporary file for `path` (its directory must exist) and write
 * the header, metadata and tensor infos.  Returns 0, SOCFW_EIO,
 * SOCFW_ENOMEM, or SOCFW_ESTATE when called twice. */
int socfw_gguf_writer_begin(socfw_gguf_writer *w, const char *path,
                            socfw_error *err);

/* Write the data of the next declared tensor: exactly its byte size
 * (socfw_dtype_nbytes of its type and element count).  Returns 0,
 * SOCFW_EINVAL (wrong size, naming the tensor), SOCFW_ESTATE (not begun,
 * or all tensors written) or SOCFW_EIO. */
int socfw_gguf_writer_write_tensor(socfw_gguf_writer *w, const void *data,
                                   size_t nbytes, socfw_error *err);

/* Finish: every declared tensor must have been written (else
 * SOCFW_ESTATE).  Flushes, renames into place.  Returns 0 or SOCFW_EIO;
 * on error nothing replaces the path. */
int socfw_gguf_writer_commit(socfw_gguf_writer *w, socfw_error *err);

/* GGML's numeric id of a socfw dtype (F32 0, F16 1, Q4_0 2, ..., BF16 30),
 * or -1 when GGML has none. */
int socfw_gguf_type_id(socfw_dtype t);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_GGUF_WRITE_H */
