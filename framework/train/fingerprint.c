/* fingerprint.c - short identities of a backbone and a tokenizer, written
 * into every checkpoint's meta.json and checked when the checkpoint is
 * loaded again, so that a run whose backbone or vocabulary changed on disk
 * is refused instead of silently producing garbage.
 *
 * Both are BLAKE2b-256 digests (libsodium's crypto_generichash) in hex:
 *
 *   backbone   the architecture and every size of the configuration, each
 *              tensor's name and shape, and a sample of its values: the
 *              first and last 64 floats and up to 1024 evenly spaced ones
 *              (hashing all of a 500 MB model would cost about a second on
 *              every `socfw predict`; a sample of every tensor still
 *              changes with any re-training or a different file).
 *   tokenizer  the kind, the vocabulary size, and every token's text and
 *              type in id order.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "runtime_impl.h"
#include "socfw/log.h"

#define SAMPLE_EDGE 64
#define SAMPLE_STRIDED 1024

static void
to_hex(const unsigned char *d, size_t n, char *hex)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                hex[2 * i] = digits[d[i] >> 4];
                hex[2 * i + 1] = digits[d[i] & 15];
        }
        hex[2 * n] = '\0';
}

static void
put(crypto_generichash_state *st, const void *p, size_t n)
{
        crypto_generichash_update(st, p, n);
}

static void
put_int(crypto_generichash_state *st, int64_t v)
{
        put(st, &v, sizeof v);
}

static void
put_str(crypto_generichash_state *st, const char *s)
{
        size_t n = s ? strlen(s) : 0;
        put_int(st, (int64_t)n);
        if (n)
                put(st, s, n);
}

void
rt_fingerprint_model(socfw_model *m, char hex[RT_FINGERPRINT_HEX])
{
        socfw_model_fingerprint(m, hex);
}

void
socfw_model_fingerprint(const socfw_model *m, char hex[65])
{
        crypto_generichash_state st;
        unsigned char d[32];
        if (sodium_init() < 0)  /* idempotent; picks the fast BLAKE2b */
                SOCFW_LOG_DEBUG("sodium_init failed; hashing anyway");
        crypto_generichash_init(&st, NULL, 0, sizeof d);
        const socfw_model_config *c = socfw_model_config_of(m);
        put_str(&st, socfw_arch_name(c->arch));
        int64_t sizes[] = {c->vocab_size, c->hidden,     c->n_layers,
                           c->n_heads,    c->n_kv_heads, c->head_dim,
                           c->ffn,        c->max_positions,
                           c->type_vocab_size, c->tie_embeddings,
                           c->attn_bias,  c->pooler,     c->act};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
                put_int(&st, sizes[i]);
        const socfw_params *ps = socfw_model_params((socfw_model *)m);
        for (int k = 0; k < socfw_params_count(ps); k++) {
                put_str(&st, socfw_params_name(ps, k));
                const int64_t *shape = socfw_params_shape(ps, k);
                for (int j = 0; j < socfw_params_ndim(ps, k); j++)
                        put_int(&st, shape[j]);
                const float *x = socfw_params_data(ps, k);
                int64_t n = socfw_params_numel(ps, k);
                int64_t edge = n < SAMPLE_EDGE ? n : SAMPLE_EDGE;
                put(&st, x, (size_t)edge * sizeof *x);
                put(&st, x + (n - edge), (size_t)edge * sizeof *x);
                int64_t step = n / SAMPLE_STRIDED + 1;
                for (int64_t i = 0; i < n; i += step)
                        put(&st, &x[i], sizeof *x);
        }
        crypto_generichash_final(&st, d, sizeof d);
        to_hex(d, sizeof d, hex);
}

void
rt_fingerprint_tokenizer(const socfw_tokenizer *tok,
                         char hex[RT_FINGERPRINT_HEX])
{
        crypto_generichash_state st;
        unsigned char d[32];
        if (sodium_init() < 0)  /* idempotent; picks the fast BLAKE2b */
                SOCFW_LOG_DEBUG("sodium_init failed; hashing anyway");
        crypto_generichash_init(&st, NULL, 0, sizeof d);
        put_int(&st, socfw_tokenizer_get_kind(tok));
        size_t n = socfw_tokenizer_vocab_size(tok);
        put_int(&st, (int64_t)n);
        for (size_t i = 0; i < n; i++) {
                size_t len = 0;
                const char *text =
                        socfw_tokenizer_token_text(tok, (int32_t)i, &len);
                put_int(&st, text ? (int64_t)len : -1);
                if (text && len)
                        put(&st, text, len);
                put_int(&st, socfw_tokenizer_token_type(tok, (int32_t)i));
        }
        crypto_generichash_final(&st, d, sizeof d);
        to_hex(d, sizeof d, hex);
}
