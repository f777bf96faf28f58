/* socfw/sampler.h - choose the next token from a vector of logits.
 *
 * Greedy (temperature 0), temperature, top-k, top-p (nucleus), min-p,
 * CTRL-style repetition penalty over a window of recent tokens, and a set
 * of banned token ids, with a seeded deterministic random generator
 * (socfw/rng.h): the same seed, logits and history give the same tokens
 * on every platform.
 *
 *     socfw_sampler_config cfg;
 *     socfw_sampler_config_default(&cfg);       // temperature 0.8, ...
 *     cfg.top_k = 50;
 *     cfg.seed = 42;
 *     socfw_sampler *s = socfw_sampler_new(vocab_size, &cfg, &err);
 *     socfw_sampler_ban(s, unk_id, 1);
 *     int32_t next;
 *     if (socfw_sampler_sample(s, logits, history, n_history, &next,
 *                              &err) < 0)
 *             ...;
 *     socfw_sampler_free(s);
 *
 * The steps, in this order (that of Hugging Face generate):
 *   1. banned ids and NaN logits become -inf;
 *   2. repetition penalty: each distinct id among the last repeat_last_n
 *      tokens of the history has its logit divided by the penalty when
 *      positive and multiplied by it when negative;
 *   3. temperature <= 0: the arg-max is returned (ties: lowest id);
 *   4. logits / temperature;
 *   5. top-k: keep the k largest (k <= 0: all);
 *   6. top-p: of those, keep the smallest prefix, by decreasing
 *      probability, whose probability mass (renormalized over what is
 *      kept so far) is >= top_p (top_p >= 1: all);
 *   7. min-p: drop tokens whose probability is below min_p times the
 *      largest one;
 *   8. draw from the renormalized probabilities of what is left.
 * Nothing sorts the whole vocabulary: top-k keeps a k-element heap while
 * scanning (O(V log k), one comparison for most ids); top-p without top-k
 * heapifies the live ids and pops only the nucleus (O(V + n log V));
 * temperature/min-p alone need no ordering at all.
 */
#ifndef SOCFW_SAMPLER_H
#define SOCFW_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_sampler_config {
        float temperature;      /* 0.8; <= 0 means greedy                 */
        int top_k;              /* 40; <= 0 disables                      */
        float top_p;            /* 0.95; >= 1 disables                    */
        float min_p;            /* 0.05; <= 0 disables                    */
        float repeat_penalty;   /* 1.0 (off); > 1 discourages repeats     */
        int repeat_last_n;      /* 64; window over the history, -1 = all  */
        uint64_t seed;          /* 42                                     */
} socfw_sampler_config;

typedef struct socfw_sampler socfw_sampler;

/* Defaults as above (llama.cpp's, with the repetition penalty off). */
void socfw_sampler_config_default(socfw_sampler_config *cfg);

/* Defaults with temperature 0: deterministic arg-max decoding. */
void socfw_sampler_config_greedy(socfw_sampler_config *cfg);

/* New sampler over a vocabulary of n_vocab ids; `cfg` may be NULL
 * (defaults) and is copied.  Returns NULL with `err` filled for
 * n_vocab <= 0, a NaN/negative parameter, top_p or min_p outside [0,1],
 * repeat_penalty <= 0, or out of memory.  Caller frees. */
socfw_sampler *socfw_sampler_new(int32_t n_vocab,
                                 const socfw_sampler_config *cfg,
                                 socfw_error *err);

/* Free; NULL is a no-op. */
void socfw_sampler_free(socfw_sampler *s);

/* The configuration in use (borrowed, read-only). */
const socfw_sampler_config *socfw_sampler_get_config(const socfw_sampler *s);

/* Restart the random stream from `seed` (the sequence of draws then
 * repeats exactly). */
void socfw_sampler_reseed(socfw_sampler *s, uint64_t seed);

/* Ban (banned != 0) or allow token `id`; returns 0, or SOCFW_EINVAL for an
 * id outside [0, n_vocab). */
int socfw_sampler_ban(socfw_sampler *s, int32_t id, int banned);

/* Allow every token again. */
void socfw_sampler_clear_bans(socfw_sampler *s);

/* 1 when `id` is banned, 0 otherwise (also for a bad id). */
int socfw_sampler_is_banned(const socfw_sampler *s, int32_t id);

/* Pick the next token.  `logits`: n_vocab floats (borrowed, not changed);
 * `history`: the tokens so far, prompt included (may be NULL when
 * n_history is 0; ids outside the vocabulary are ignored).  Sets *out and
 * returns 0; returns SOCFW_EINVAL (and leaves *out alone) when every token
 * is banned or -inf.  Not thread-safe (scratch buffers and the random
 * state live in the sampler). */
int socfw_sampler_sample(socfw_sampler *s, const float *logits,
                         const int32_t *history, size_t n_history,
                         int32_t *out, socfw_error *err);

/* The probabilities of the last draw's candidates (after all filters,
 * renormalized): by decreasing probability when top-k or top-p was
 * active, else in id order.  *ids and *probs (either may be NULL) are
 * borrowed until the next call.  Returns their count (0 after a greedy
 * pick).  For tests and for showing alternatives. */
size_t socfw_sampler_last_candidates(const socfw_sampler *s,
                                     const int32_t **ids,
                                     const float **probs);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_SAMPLER_H */
