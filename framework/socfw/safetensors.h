/* socfw/safetensors.h - write safetensors files (checkpoints, LoRA adapters)
 * atomically and deterministically.
 *
 * The file is written to "<path>.tmp.XXXXXX" in the same directory, flushed
 * with fsync, renamed over `path`, and the directory is fsync'ed: a reader
 * sees either the old file or the complete new one, never a partial file.
 * Output is a pure function of the input (not of its order): the header
 * lists tensors sorted by name and the metadata sorted by key; the data is
 * laid out without gaps, wider element types first and then by name (as
 * the reference implementation does), and the JSON header is padded with
 * spaces to a multiple of 8 bytes, so every tensor's data is aligned to its
 * element size in the file (and in a page-aligned mapping of it).
 *
 *     int64_t shape[2] = {2, 3};
 *     float w[6] = {...};
 *     socfw_tensor_info t = {.name = "head.weight", .dtype = SOCFW_DTYPE_F32,
 *                            .ndim = 2, .shape = {2, 3}, .data = w};
 *     socfw_safetensors_kv meta[] = {{"format", "pt"}};
 *     if (socfw_safetensors_write("out/model.safetensors", &t, 1, meta, 1,
 *                                 &err) < 0) ...
 *
 * Read the result back with socfw_modelfile_open (socfw/modelfile.h); the
 * metadata appears there under "__metadata__.<key>".
 */
#ifndef SOCFW_SAFETENSORS_H
#define SOCFW_SAFETENSORS_H

#include <stddef.h>

#include "socfw/error.h"
#include "socfw/modelfile.h"
#include "socfw/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One string entry of the "__metadata__" object.  Both borrowed. */
typedef struct socfw_safetensors_kv {
        const char *key;
        const char *value;
} socfw_safetensors_kv;

/* Write `n` tensors and `n_kv` metadata entries to `path`, atomically.
 *
 * Of each socfw_tensor_info only name, dtype, ndim, shape[0..ndim) and data
 * are used; nbytes is checked when non-zero (must equal dtype size times the
 * element count).  dtype must be a plain type (F32, F16, BF16, F64, I8..I64,
 * U8..U64, BOOL): block-quantised types cannot be stored in safetensors.
 * Names must be unique and non-empty; metadata keys unique.  All inputs are
 * borrowed and only read.  `tensors` may be NULL when n == 0.
 *
 * Returns 0, SOCFW_EINVAL (bad input; nothing written), SOCFW_EUNSUPPORTED
 * (dtype), SOCFW_ENOMEM, or SOCFW_EIO (with errno text; the temporary file
 * is removed and any previous file at `path` is left untouched). */
int socfw_safetensors_write(const char *path,
                            const socfw_tensor_info *tensors, size_t n,
                            const socfw_safetensors_kv *meta, size_t n_kv,
                            socfw_error *err);

/* Describe tensor k of a parameter store for socfw_safetensors_write: F32,
 * its shape and data (borrowed), under `name` (NULL: the store's name;
 * borrowed, must outlive the write). */
void socfw_safetensors_tensor_of(socfw_tensor_info *x, const socfw_params *ps,
                                 int k, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_SAFETENSORS_H */
