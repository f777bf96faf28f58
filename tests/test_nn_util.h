/* tests/test_nn_util.h - helpers for the nn test binary (tests/test_nn). */
#ifndef SOCFW_TEST_NN_UTIL_H
#define SOCFW_TEST_NN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "socfw/rng.h"

/* Offset pre-loaded into gradient buffers before backward, and removed
 * afterwards, so every check also proves that backward ADDS. */
#define NN_GRAD_PRELOAD 0.25f

/* Fill with N(0, scale) from rng. */
void nn_fill_normal(float *x, size_t n, float scale, socfw_rng *rng);
void nn_fill_const(float *x, size_t n, float v);

/* Max |a-b| over n. */
double nn_max_abs_diff(const float *a, const float *b, size_t n);

/* Assert a[i] ~ b[i] within atol + rtol*|b[i]|, naming the first bad index. */
void nn_assert_close(const char *what, const float *a, const float *b,
                     size_t n, double atol, double rtol);

/* The forward function of a finite-difference check: recompute ctx's
 * output from its (perturbed) inputs. */
typedef void (*nn_fwd_fn)(void *ctx);

/* Central-difference check of d(sum(out*dout))/dx against `analytic` (the
 * gradient backward produced, with NN_GRAD_PRELOAD already removed).
 * Perturbs each x[i] by +-eps, calls fwd, restores x. */
void nn_fd_check(const char *what, void *ctx, nn_fwd_fn fwd, const float *out,
                 const float *dout, size_t nout, float *x, size_t nx,
                 const float *analytic, float eps, double atol, double rtol);

/* Subtract NN_GRAD_PRELOAD from n floats. */
void nn_unpreload(float *g, size_t n);

/* The PyTorch fixture file (tests/fixtures/nn/nn_fixtures.json), loaded
 * once; returns the object for `name` (borrowed) or fails the test. */
json_t *nn_fixture(const char *name);
/* Array `key` of case `c` as floats (caller frees); *n receives the count;
 * fails the test if missing. */
float *nn_fixture_floats(json_t *c, const char *key, size_t *n);
int32_t *nn_fixture_ints(json_t *c, const char *key, size_t *n);
int nn_fixture_dim(json_t *c, const char *key);
double nn_fixture_num(json_t *c, const char *key);

#endif
