/* tests/test_arch_util.h - helpers shared by the tests/test_arch*.c files:
 * reference tensors from tests/fixtures/arch/<name>/ref.safetensors. */
#ifndef TEST_ARCH_UTIL_H
#define TEST_ARCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/model.h"
#include "socfw/modelfile.h"

/* buf <- srcdir/tests/fixtures/arch/<name>; returns buf. */
char *arch_fixture_dir(char *buf, size_t size, const char *name);

/* Open <fixture dir>/ref.safetensors (asserts on failure). */
socfw_modelfile *arch_ref_open(const char *name);

/* A reference tensor as malloc'ed floats (asserts it exists); *n (may be
 * NULL) receives its element count. */
float *arch_ref_f32(const socfw_modelfile *ref, const char *name, size_t *n);

/* The same converted to int32 (ids, masks, targets). */
int32_t *arch_ref_i32(const socfw_modelfile *ref, const char *name,
                      size_t *n);

/* Shape of a reference tensor (asserts it exists). */
const socfw_tensor_info *arch_ref_info(const socfw_modelfile *ref,
                                       const char *name);

/* max |a - b| over n values. */
double arch_max_diff(const float *a, const float *b, size_t n);

/* max |a| over n values. */
double arch_max_abs(const float *a, size_t n);

/* Load the model of fixture `name` (asserts on failure). */
socfw_model *arch_load_fixture(const char *name);

#endif
