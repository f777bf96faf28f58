/* socfw/params.h - the parameter store: one buffer, tensors carved out of it.
 *
 * All parameters of a model (backbone, adapters, heads) live in ONE 64-byte
 * aligned float buffer; their gradients live in a second buffer with the very
 * same layout, so an optimizer is one flat loop over (data[i], grad[i]).
 * Each tensor starts at an offset that is a multiple of 16 floats; the
 * padding between tensors is zero in both buffers and stays zero.
 *
 * Two phases: declare tensors with socfw_params_add(), then
 * socfw_params_finalize() allocates the buffers (data and grads zeroed).
 * Data and gradient pointers are valid from finalize until _free.
 *
 *     socfw_params *ps = socfw_params_new();
 *     int64_t shape[2] = {768, 3072};
 *     int w = socfw_params_add(ps, "h.0.mlp.c_fc.weight", 2, shape, &err);
 *     if (w < 0 || socfw_params_finalize(ps, &err) < 0)
 *             goto out;
 *     socfw_rng rng; socfw_rng_seed(&rng, 42);
 *     socfw_params_init_normal(ps, w, 0.0f, 0.02f, &rng);
 *     float *W = socfw_params_data(ps, w), *dW = socfw_params_grad(ps, w);
 *     ...
 *     socfw_params_set_trainable_prefix(ps, "h.0.", false);   // freeze a layer
 *     socfw_params_zero_grad(ps);
 *     socfw_params_free(ps);
 *
 * An optimizer that honours the `trainable` flags loops over tensors and,
 * inside each trainable one, over its numel floats at
 * socfw_params_offset(); one that does not care may loop over the whole
 * flat buffer (socfw_params_size() floats).
 *
 * Not thread-safe for concurrent add/finalize; reading data/grad pointers
 * from many threads is fine.
 */
#ifndef SOCFW_PARAMS_H
#define SOCFW_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_PARAMS_MAX_DIMS 8          /* most dims per tensor            */
#define SOCFW_PARAMS_ALIGN_FLOATS 16     /* tensor offsets: multiples of it */
#define SOCFW_PARAMS_ALIGN_BYTES 64      /* buffer alignment                */
#define SOCFW_PARAMS_MAX_FLOATS (INT64_C(1) << 34) /* 16 Gi floats cap      */
#define SOCFW_PARAMS_NAME_MAX 256        /* longest name incl. NUL          */

typedef struct socfw_params socfw_params;

/* New empty store; NULL when out of memory.  Caller frees with _free. */
socfw_params *socfw_params_new(void);

/* Free the store and both buffers.  NULL is a no-op. */
void socfw_params_free(socfw_params *ps);

/* Declare a tensor.  `name` is copied (1..255 bytes); `shape` has `ndim`
 * (1..SOCFW_PARAMS_MAX_DIMS) entries, each >= 1.  Returns the tensor's
 * index (>= 0, in declaration order) or SOCFW_EINVAL (duplicate name, bad
 * shape, too big), SOCFW_ESTATE (already finalized), SOCFW_ENOMEM. */
int socfw_params_add(socfw_params *ps, const char *name, int ndim,
                     const int64_t *shape, socfw_error *err);

/* Allocate the data and gradient buffers (both zeroed).  Returns 0,
 * SOCFW_ESTATE (called twice), SOCFW_ENOMEM (allocation failed or the
 * total exceeds SOCFW_PARAMS_MAX_FLOATS).  A store with no tensors
 * finalizes fine (buffers are then NULL). */
int socfw_params_finalize(socfw_params *ps, socfw_error *err);

/* True once finalize succeeded. */
bool socfw_params_is_finalized(const socfw_params *ps);

/* Number of tensors. */
int socfw_params_count(const socfw_params *ps);

/* Index of the tensor called `name`, or SOCFW_ENOTFOUND (< 0). */
int socfw_params_find(const socfw_params *ps, const char *name);

/* Accessors; `idx` must be in [0, count).  Out of range gives NULL / 0.
 * Returned pointers are borrowed from the store. */
const char *socfw_params_name(const socfw_params *ps, int idx);
int socfw_params_ndim(const socfw_params *ps, int idx);
const int64_t *socfw_params_shape(const socfw_params *ps, int idx);
int64_t socfw_params_numel(const socfw_params *ps, int idx);
/* Offset (in floats) of the tensor inside the flat buffers; -1 before finalize. */
int64_t socfw_params_offset(const socfw_params *ps, int idx);

/* Data / gradient of tensor idx (borrowed); NULL before finalize or for a
 * bad index.  64-byte aligned. */
float *socfw_params_data(const socfw_params *ps, int idx);
float *socfw_params_grad(const socfw_params *ps, int idx);

/* The flat buffers (borrowed; NULL before finalize or when empty) and their
 * length in floats, padding included. */
float *socfw_params_data_buffer(const socfw_params *ps);

/* Tell a finalized store that only a few of its tensors will be touched (a
 * model whose big matrices live elsewhere: socfw_model_options
 * keep_quantized).  Large buffers then use small pages, so writing a norm
 * weight does not make a 2 MiB huge page around it resident.  No-op for
 * small stores. */
void socfw_params_hint_sparse(socfw_params *ps);
float *socfw_params_grad_buffer(const socfw_params *ps);
int64_t socfw_params_size(const socfw_params *ps);

/* Sum of numel over all tensors / over trainable tensors (no padding). */
int64_t socfw_params_total_numel(const socfw_params *ps);
int64_t socfw_params_trainable_numel(const socfw_params *ps);

/* Trainable flag, default true.  set_trainable returns 0 or SOCFW_EINVAL
 * (bad index).  set_trainable_prefix sets every tensor whose name starts
 * with `prefix` ("" matches all) and returns how many matched (>= 0). */
bool socfw_params_trainable(const socfw_params *ps, int idx);
int socfw_params_set_trainable(socfw_params *ps, int idx, bool trainable);
int socfw_params_set_trainable_prefix(socfw_params *ps, const char *prefix,
                                      bool trainable);

/* Zero the gradients of trainable tensors (frozen ones keep theirs, which
 * are never written).  No-op before finalize. */
void socfw_params_zero_grad(socfw_params *ps);

/* Global L2 norm of the gradients of trainable tensors, accumulated in
 * double in a fixed order (deterministic). */
double socfw_params_grad_norm(const socfw_params *ps);

/* Multiply all trainable gradients by `s` (gradient clipping, averaging). */
void socfw_params_scale_grad(socfw_params *ps, float s);

/* Initialisers for tensor idx (after finalize).  Return 0, SOCFW_EINVAL
 * (bad index or std < 0 / hi < lo), SOCFW_ESTATE (not finalized).
 * Values are drawn in element order from `rng`, so the result depends
 * only on the seed. */
int socfw_params_init_normal(socfw_params *ps, int idx, float mean,
                             float std, socfw_rng *rng);
int socfw_params_init_uniform(socfw_params *ps, int idx, float lo, float hi,
                              socfw_rng *rng);
int socfw_params_init_const(socfw_params *ps, int idx, float value);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PARAMS_H */
