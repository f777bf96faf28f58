/* socfw/generate.h - the text generation loop, independent of the model.
 *
 * The model is seen through two callbacks: `step` feeds new token ids
 * (first the whole prompt, then one token at a time) and returns the
 * logits for the next token (the model keeps its KV cache behind it), and
 * `piece` turns a token id into its bytes.  The loop samples (socfw/
 * sampler.h), stops on max_tokens, stop ids (EOS, end of turn), stop
 * strings (matched on the decoded bytes, across token boundaries, and left
 * out of the text), the context limit, a cancel flag, or the stream
 * callback asking to stop; it streams text as it becomes final (never a
 * partial UTF-8 character, never a possible start of a stop string), and
 * keeps a blocklist of words from ever being produced.
 *
 * Constraints enforced while decoding (not checked afterwards):
 *   - blocklist: a token that would complete a blocked word or phrase
 *     (bytes, optionally ASCII case-insensitive, across token boundaries)
 *     has its logit set to -inf before sampling;
 *   - max_chars: a token whose text would take the output past the limit
 *     (in code points) is masked; when nothing fits, generation stops
 *     (SOCFW_GENERATE_STOP_MAX_TOKENS with result.max_chars_reached set):
 *     the text never exceeds the limit;
 *   - required: words that must appear.  While one is missing, a sampled
 *     token that would leave too little room (characters or tokens) for the
 *     missing words, or that would end the text (a stop id, a stop string),
 *     is replaced by the tokens of the first missing word (`encode` of the
 *     model turns it into ids), preceded by a space when needed.  Forced
 *     words are checked against the blocklist too.
 * The result carries the model's log-probability of every generated token
 * (forced ones included), for ranking several samples.
 *
 *     socfw_generate_model gm = {
 *             .n_vocab = V, .n_ctx = 2048,
 *             .step = my_step, .piece = my_piece, .user = my_model,
 *     };
 *     const char *stops[] = {"\nUser:"};
 *     int32_t eos[] = {2};
 *     socfw_generate_config cfg;
 *     socfw_generate_config_default(&cfg);
 *     cfg.max_tokens = 200;
 *     cfg.stop_tokens = eos;  cfg.n_stop_tokens = 1;
 *     cfg.stop_strings = stops;  cfg.n_stop_strings = 1;
 *     cfg.stream = print_chunk;  cfg.stream_user = stdout;
 *     socfw_generate_result res;
 *     if (socfw_generate(&gm, sampler, &cfg, prompt, n_prompt, &res,
 *                        &err) == 0) {
 *             use(res.text, res.text_len);
 *             socfw_generate_result_free(&res);
 *     }
 *
 * The text is only the generated part (the prompt is not decoded).
 */
#ifndef SOCFW_GENERATE_H
#define SOCFW_GENERATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"
#include "socfw/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Feed `n` tokens (n >= 1) at the next positions and return the logits
 * (n_vocab floats) predicting the token after the last one, borrowed until
 * the next call.  Return NULL with `err` filled on failure. */
typedef const float *(*socfw_generate_step_fn)(void *user,
                                                const int32_t *tokens,
                                                size_t n, socfw_error *err);

/* The bytes of token `id`: copy at most `size` bytes to buf (no NUL) and
 * return the full length (snprintf-like, so the loop retries with a bigger
 * buffer when the result is > size), or a negative value for a bad id.
 * socfw_tokenizer_token_to_piece() has this shape. */
typedef int (*socfw_generate_piece_fn)(void *user, int32_t id, char *buf,
                                       size_t size);

/* Receives final text, in order: never a partial UTF-8 character.  The
 * chunks concatenated are exactly the result's text.  Return 0 to go on,
 * nonzero to stop (stop reason SOCFW_GENERATE_STOP_CALLBACK). */
typedef int (*socfw_generate_stream_fn)(void *user, const char *text,
                                        size_t len);

/* Tokenize `len` bytes of `text` (no special tokens added): *ids gets a
 * malloc'ed array (caller frees) of *n ids.  Return 0 or a negative code. */
typedef int (*socfw_generate_encode_fn)(void *user, const char *text,
                                        size_t len, int32_t **ids,
                                        size_t *n);

typedef struct socfw_generate_model {
        int32_t n_vocab;        /* length of the logits vector            */
        size_t n_ctx;           /* context length; 0 = no limit           */
        socfw_generate_step_fn step;
        socfw_generate_piece_fn piece;
        void *user;             /* passed to all callbacks                */
        /* Needed only for socfw_generate_config.required; may be NULL. */
        socfw_generate_encode_fn encode;
} socfw_generate_model;

typedef struct socfw_generate_config {
        size_t max_tokens;              /* 256; 0 = until another stop    */
        const int32_t *stop_tokens;     /* EOS, end of turn...            */
        size_t n_stop_tokens;
        const char *const *stop_strings;/* NUL-terminated, non-empty      */
        size_t n_stop_strings;
        const char *const *blocklist;   /* words never to produce         */
        size_t n_blocklist;
        int blocklist_ignore_case;      /* ASCII case-insensitive match   */
        int strip_leading_space;        /* drop one leading ' ' of the
                                         * text (SentencePiece "▁Once")   */
        socfw_generate_stream_fn stream;/* may be NULL                    */
        void *stream_user;
        const atomic_int *cancel;       /* may be NULL; nonzero stops at
                                         * the next token                 */
        /* Fields below were added later; zero keeps the old behaviour. */
        size_t max_chars;               /* code points of text; 0 = none  */
        const char *const *required;    /* words that must appear (the
                                         * model needs `encode`)          */
        size_t n_required;
        int required_ignore_case;       /* ASCII case-insensitive match   */
        int valid_utf8;                 /* never sample a token that makes
                                         * the text invalid UTF-8 (byte
                                         * tokens out of sequence)        */
} socfw_generate_config;

typedef enum {
        SOCFW_GENERATE_STOP_MAX_TOKENS = 1,
        SOCFW_GENERATE_STOP_TOKEN = 2,     /* a stop id was sampled        */
        SOCFW_GENERATE_STOP_STRING = 3,    /* a stop string appeared       */
        SOCFW_GENERATE_STOP_CONTEXT = 4,   /* n_ctx reached                */
        SOCFW_GENERATE_STOP_CANCELLED = 5, /* *cancel became nonzero       */
        SOCFW_GENERATE_STOP_CALLBACK = 6,  /* the stream callback said so  */
} socfw_generate_stop;

typedef struct socfw_generate_result {
        char *text;             /* caller frees (result_free); NUL-ended;
                                 * "" when nothing was generated (NULL
                                 * only if even that allocation failed)  */
        size_t text_len;        /* bytes, the stop string excluded        */
        int32_t *tokens;        /* generated ids, stop id excluded (those
                                 * that made a stop string included)      */
        size_t n_tokens;
        socfw_generate_stop stop;
        int32_t stop_token;     /* the stop id when stop == STOP_TOKEN    */
        int stop_string;        /* index when stop == STOP_STRING, else -1*/
        size_t n_prompt;
        double prompt_seconds;  /* the first step (prompt processing)     */
        double gen_seconds;     /* the rest                               */
        double tokens_per_second; /* generated tokens / gen_seconds       */
        /* Added later. */
        double logprob;         /* sum of log p(token) under the model's
                                 * own distribution (before bans, penalty
                                 * and temperature) over `tokens`; divide
                                 * by n_tokens for the mean              */
        size_t n_forced;        /* tokens placed to satisfy `required`    */
        size_t n_chars;         /* code points of text                    */
        int max_chars_reached;  /* stopped because no token fitted        */
} socfw_generate_result;

/* Defaults: max_tokens 256, nothing else set. */
void socfw_generate_config_default(socfw_generate_config *cfg);

/* Generate after `prompt` (n_prompt >= 1 ids, e.g. just BOS).  `sampler`
 * (borrowed; NULL = greedy) sees the prompt plus the generated ids as its
 * history.  Fills *res (caller frees with socfw_generate_result_free, also
 * after an error: it then holds what was produced before the failure) and
 * returns 0, or a negative code: SOCFW_EINVAL for bad arguments (empty
 * prompt, empty stop string, prompt longer than n_ctx, an empty required
 * word, required words without an `encode` callback, required words
 * longer together than max_chars, a required word that contains a blocked
 * one), the step callback's error, or SOCFW_EINVAL when the blocklist bans
 * every token. */
int socfw_generate(const socfw_generate_model *model, socfw_sampler *sampler,
                   const socfw_generate_config *cfg, const int32_t *prompt,
                   size_t n_prompt, socfw_generate_result *res,
                   socfw_error *err);

/* Free the result's buffers and zero it; NULL is a no-op. */
void socfw_generate_result_free(socfw_generate_result *res);

/* Length of the longest prefix of s[0..len) that does not end inside an
 * incomplete UTF-8 sequence (what is safe to emit now). */
size_t socfw_generate_utf8_complete(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_GENERATE_H */
