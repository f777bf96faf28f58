/* plugins/privacy/operators.h - anonymise the spans found in a text.
 *
 * One operator per entity type:
 *   KEEP         leave the text as it is
 *   REDACT       remove the span
 *   REPLACE      a type tag: "<PHONE>"
 *   MASK         mask all but the last N code points with a mask character
 *                ("***********5678"); counts code points, never bytes
 *   HASH         keyed pseudonym, HMAC-SHA256(key, type || value) in hex:
 *                "<PERSON_3fa1c2>"; same key and value, same pseudonym
 *   PSEUDONYMIZE reversible within a session: "<PHONE_1>", the mapping kept
 *                in a socfw_pii_vault; socfw_pii_vault_restore() puts the
 *                user's own values back into a reply
 *
 *     socfw_pii_anonymizer *an = NULL;
 *     socfw_pii_anonymizer_new(&an, &err);
 *     socfw_pii_op op = {.kind = SOCFW_PII_OP_PSEUDONYMIZE};
 *     socfw_pii_anonymizer_set_all(an, &op);
 *     socfw_pii_vault *vault = NULL;
 *     socfw_pii_vault_new(&vault, &err);
 *     char *masked; size_t mlen;
 *     socfw_pii_anonymize(an, vault, text, len, &spans, &masked, &mlen, &err);
 *     ... the model answers `reply` using "<PHONE_1>" ...
 *     char *restored; size_t rlen;
 *     socfw_pii_vault_restore(vault, reply, rlen_in, &restored, &rlen, &err);
 *     free(masked); free(restored);
 *     socfw_pii_vault_free(vault); socfw_pii_anonymizer_free(an);
 *
 * Secrets (the HMAC key, the vault's values) live in memory only, are wiped
 * on free and are never logged.  A vault is persisted only encrypted
 * (libsodium secretbox, XSalsa20-Poly1305) with socfw_pii_vault_save/_load.
 */
#ifndef SOCFW_PII_OPERATORS_H
#define SOCFW_PII_OPERATORS_H

#include <stddef.h>
#include <stdint.h>

#include "pii.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum socfw_pii_op_kind {
        SOCFW_PII_OP_KEEP = 0,
        SOCFW_PII_OP_REDACT,
        SOCFW_PII_OP_REPLACE,
        SOCFW_PII_OP_MASK,
        SOCFW_PII_OP_HASH,
        SOCFW_PII_OP_PSEUDONYMIZE,
} socfw_pii_op_kind;

typedef struct socfw_pii_op {
        socfw_pii_op_kind kind;
        size_t mask_keep;       /* MASK: code points kept at the end       */
        uint32_t mask_char;     /* MASK: code point, 0 means '*'           */
} socfw_pii_op;

/* Parse "keep", "redact", "replace", "mask", "hash", "pseudonymize" (also
 * "pseudonymise").  Returns 0 or SOCFW_EINVAL. */
int socfw_pii_op_parse(const char *name, socfw_pii_op_kind *out);

typedef struct socfw_pii_anonymizer socfw_pii_anonymizer;
typedef struct socfw_pii_vault socfw_pii_vault;

/* New anonymizer: REPLACE for every type, a random HMAC key.  Caller frees
 * with _free.  Returns 0 or a negative code. */
int socfw_pii_anonymizer_new(socfw_pii_anonymizer **out, socfw_error *err);
void socfw_pii_anonymizer_free(socfw_pii_anonymizer *an);

/* Operator for one type / for all types.  `op` is copied. */
int socfw_pii_anonymizer_set(socfw_pii_anonymizer *an, socfw_pii_type type,
                             const socfw_pii_op *op, socfw_error *err);
void socfw_pii_anonymizer_set_all(socfw_pii_anonymizer *an,
                                  const socfw_pii_op *op);

/* HMAC key for HASH (copied; 16..64 bytes).  Returns 0 or SOCFW_EINVAL. */
int socfw_pii_anonymizer_set_key(socfw_pii_anonymizer *an, const void *key,
                                 size_t key_len, socfw_error *err);

/* Apply the operators.  `spans` must be sorted and non-overlapping (as the
 * recognizer returns them; socfw_pii_spans_resolve makes any list so) with
 * byte offsets on character boundaries.  `vault` is needed only when a type
 * uses PSEUDONYMIZE (may be NULL otherwise).  *out is a new NUL-terminated
 * string (caller frees), *out_len its length.  Returns 0 or a negative
 * code (SOCFW_EINVAL for bad spans, SOCFW_ESTATE when a vault is needed and
 * missing). */
int socfw_pii_anonymize(const socfw_pii_anonymizer *an, socfw_pii_vault *vault,
                        const char *text, size_t len,
                        const socfw_pii_spans *spans, char **out,
                        size_t *out_len, socfw_error *err);

/* ---- session vault for reversible pseudonyms ---- */

#define SOCFW_PII_VAULT_KEY_BYTES 32

int socfw_pii_vault_new(socfw_pii_vault **out, socfw_error *err);
/* Wipes the values; NULL is a no-op. */
void socfw_pii_vault_free(socfw_pii_vault *vault);

/* Number of distinct values held. */
size_t socfw_pii_vault_size(const socfw_pii_vault *vault);

/* The pseudonym for (type, value), made ("<PHONE_3>") if new.  Writes a
 * NUL-terminated token into buf (>= 48 bytes).  Returns 0 or a negative
 * code. */
int socfw_pii_vault_pseudonym(socfw_pii_vault *vault, socfw_pii_type type,
                              const char *value, size_t value_len, char *buf,
                              size_t size, socfw_error *err);

/* Replace every pseudonym of this vault found in `text` by the original
 * value; anything else is copied.  *out is new (caller frees). */
int socfw_pii_vault_restore(const socfw_pii_vault *vault, const char *text,
                            size_t len, char **out, size_t *out_len,
                            socfw_error *err);

/* Serialize encrypted with `key` (SOCFW_PII_VAULT_KEY_BYTES bytes, e.g.
 * from a key file or crypto_secretbox_keygen): *blob = nonce || secretbox
 * of the mapping; caller frees.  Returns 0 or a negative code. */
int socfw_pii_vault_save(const socfw_pii_vault *vault, const unsigned char *key,
                         unsigned char **blob, size_t *blob_len,
                         socfw_error *err);

/* Decrypt and load a blob from _save.  A wrong key or a modified blob is
 * SOCFW_EFORMAT.  *out is a new vault (caller frees). */
int socfw_pii_vault_load(socfw_pii_vault **out, const unsigned char *key,
                         const unsigned char *blob, size_t blob_len,
                         socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PII_OPERATORS_H */
