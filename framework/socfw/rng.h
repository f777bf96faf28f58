/* socfw/rng.h - a small deterministic random number generator.
 *
 * xoshiro256** seeded through splitmix64 from one uint64.  The integer
 * stream is identical on every platform; floats are derived from it with
 * exact arithmetic (uniform) or Box-Muller in double precision (normal), so
 * runs with the same seed give the same numbers.  Not for cryptography.
 *
 *     socfw_rng rng;
 *     socfw_rng_seed(&rng, 42);
 *     float u = socfw_rng_uniform(&rng);        // [0, 1)
 *     float z = socfw_rng_normal(&rng);         // N(0, 1)
 *     uint64_t i = socfw_rng_below(&rng, 10);   // 0..9
 *
 * The struct is plain data: copy it to snapshot the stream (e.g. into a
 * checkpoint: the four state words plus the cached normal).
 */
#ifndef SOCFW_RNG_H
#define SOCFW_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_rng {
        uint64_t s[4];          /* xoshiro256** state, never all zero      */
        double spare;           /* second Box-Muller value                 */
        int has_spare;          /* 1 when `spare` is valid                 */
        /* Keyed draws for dropout masks (socfw_rng_key_rows); rows 0:
         * off.  Not part of the stream's state. */
        uint64_t key, row0, rows, calls;
} socfw_rng;

/* A stateless 64-bit mix (the splitmix64 output function of x + golden
 * ratio): well-spread hashes of ids, lines or seeds, e.g. for a seeded
 * deterministic hold-out.  Bijective. */
uint64_t socfw_rng_mix64(uint64_t x);

/* Seed the generator (any value, 0 included).  `rng` must not be NULL. */
void socfw_rng_seed(socfw_rng *rng, uint64_t seed);

/* Next 64 random bits. */
uint64_t socfw_rng_next(socfw_rng *rng);

/* Uniform float in [0, 1) with 24 random bits. */
float socfw_rng_uniform(socfw_rng *rng);

/* Uniform double in [0, 1) with 53 random bits. */
double socfw_rng_uniform_double(socfw_rng *rng);

/* Standard normal (mean 0, std 1), Box-Muller in double precision. */
float socfw_rng_normal(socfw_rng *rng);

/* Uniform integer in [0, n) without modulo bias; returns 0 when n == 0. */
uint64_t socfw_rng_below(socfw_rng *rng, uint64_t n);

/* Derive an independent stream: `out` is seeded from `rng`'s next output
 * mixed with `stream` (e.g. a worker or rank number).  `rng` advances by one. */
void socfw_rng_fork(socfw_rng *rng, uint64_t stream, socfw_rng *out);

/* Counter-based masks, keyed by example.  After this call the dropout
 * masks drawn with `rng` (socfw_nn_dropout_forward) no longer come from
 * the stream but from a hash of (`key`, the number of the dropout call
 * since this call, the example's global index, the element's place in
 * its example): a buffer of n elements is read as `rows` examples of n /
 * rows elements each, the first being example `row0`.  So an example gets
 * the same masks whichever process of a data-parallel job trains it and
 * whatever else is in its batch: one process with a batch of 16 and two
 * with 8 each draw the same masks.  The host keys before each batch's
 * forward pass (key: seed, step, task; row0: the batch's first example
 * in the step).  A buffer whose size is not a multiple of `rows` is read
 * as one example, `row0`.  rows == 0 returns to the stream.  The stream
 * itself (socfw_rng_next and the rest) is unaffected. */
void socfw_rng_key_rows(socfw_rng *rng, uint64_t key, uint64_t row0,
                        uint64_t rows);

/* The keyed bits of a buffer, for dropout: socfw_rng_keyed_begin once
 * per buffer of n elements (it numbers the call; 0 when `rng` is not
 * keyed), then socfw_rng_keyed_row once per example row (the row's
 * global index is rng->row0 + the row in the buffer) and
 * socfw_rng_keyed_bits for each element of that row. */
int socfw_rng_keyed_begin(socfw_rng *rng, uint64_t n, uint64_t *call_key,
                          uint64_t *row_len);
uint64_t socfw_rng_keyed_row(uint64_t call_key, uint64_t global_row);
uint64_t socfw_rng_keyed_bits(uint64_t row_key, uint64_t col);

/* Fisher-Yates shuffle of n int32 values in place. */
void socfw_rng_shuffle_i32(socfw_rng *rng, int32_t *v, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_RNG_H */
