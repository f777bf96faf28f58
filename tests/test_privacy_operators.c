/* tests/test_privacy_operators.c - redact, replace, mask, keyed hash and
 * reversible pseudonyms, and the encrypted session vault. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "operators.h"
#include "recognizers.h"

static socfw_pii_recognizer *rec;
static socfw_pii_anonymizer *an;

static void
setup(void)
{
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_new(&rec, NULL, &err), 0);
        cr_assert_eq(socfw_pii_anonymizer_new(&an, &err), 0);
}

static void
teardown(void)
{
        socfw_pii_recognizer_free(rec);
        socfw_pii_anonymizer_free(an);
}

TestSuite(privacy_operators, .init = setup, .fini = teardown);

static int
contains(const unsigned char *hay, size_t n, const char *needle)
{
        size_t k = strlen(needle);
        for (size_t i = 0; i + k <= n; i++)
                if (memcmp(hay + i, needle, k) == 0)
                        return 1;
        return 0;
}

/* Scan `text` and anonymise it with the current operators; caller frees. */
static char *
run(const char *text, socfw_pii_vault *vault)
{
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_recognizer_scan(rec, text, strlen(text), &sp,
                                               &err), 0, "%s", err.message);
        char *out = NULL;
        size_t n = 0;
        cr_assert_eq(socfw_pii_anonymize(an, vault, text, strlen(text), &sp,
                                         &out, &n, &err), 0, "%s",
                     err.message);
        cr_assert_eq(strlen(out), n);
        socfw_pii_spans_free(&sp);
        return out;
}

static void
set_all(socfw_pii_op_kind kind, size_t keep, uint32_t ch)
{
        socfw_pii_op op = {.kind = kind, .mask_keep = keep, .mask_char = ch};
        socfw_pii_anonymizer_set_all(an, &op);
}

Test(privacy_operators, replace_with_type_tag)
{
        char *out = run("Call +1-415-555-2671 or mail a@b.io", NULL);
        cr_assert_str_eq(out, "Call <PHONE> or mail <EMAIL>");
        free(out);
}

Test(privacy_operators, redact_removes)
{
        set_all(SOCFW_PII_OP_REDACT, 0, 0);
        char *out = run("mail: a@b.io!", NULL);
        cr_assert_str_eq(out, "mail: !");
        free(out);
}

Test(privacy_operators, keep_and_per_type_operators)
{
        set_all(SOCFW_PII_OP_KEEP, 0, 0);
        socfw_pii_op mask = {.kind = SOCFW_PII_OP_MASK, .mask_keep = 4};
        cr_assert_eq(socfw_pii_anonymizer_set(an, SOCFW_PII_CREDIT_CARD,
                                              &mask, NULL), 0);
        char *out = run("card 4111 1111 1111 1111, mail a@b.io", NULL);
        cr_assert_str_eq(out, "card ***************1111, mail a@b.io");
        free(out);
}

Test(privacy_operators, mask_counts_code_points)
{
        /* an external span over Chinese text: masked per character, the
         * mask character itself multi-byte */
        const char *t = "联系人张三丰先生";
        socfw_pii_span s = {.start = 9, .end = 18, .type = SOCFW_PII_PERSON};
        socfw_pii_spans sp = {0};
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_spans_merge(&sp, &s, 1, t, strlen(t), &err), 0);
        cr_assert_eq(sp.v[0].cp_start, 3);
        cr_assert_eq(sp.v[0].cp_end, 6);
        socfw_pii_op op = {.kind = SOCFW_PII_OP_MASK, .mask_keep = 1,
                           .mask_char = 0x25CF /* ● */};
        cr_assert_eq(socfw_pii_anonymizer_set(an, SOCFW_PII_PERSON, &op, &err),
                     0);
        char *out;
        size_t n;
        cr_assert_eq(socfw_pii_anonymize(an, NULL, t, strlen(t), &sp, &out, &n,
                                         &err), 0);
        cr_assert_str_eq(out, "联系人●●丰先生");
        free(out);
        /* a span that would split a character is refused */
        sp.v[0].start = 10;
        cr_assert_eq(socfw_pii_anonymize(an, NULL, t, strlen(t), &sp, &out, &n,
                                         &err), SOCFW_EINVAL);
        cr_assert_null(out);
        socfw_pii_spans_free(&sp);

        /* bad mask character */
        socfw_pii_op bad = {.kind = SOCFW_PII_OP_MASK, .mask_char = 0xD800};
        cr_assert_eq(socfw_pii_anonymizer_set(an, SOCFW_PII_PERSON, &bad,
                                              NULL), SOCFW_EINVAL);
}

Test(privacy_operators, mask_keep_more_than_length_keeps_all)
{
        set_all(SOCFW_PII_OP_MASK, 100, '#');
        char *out = run("mail a@b.io", NULL);
        cr_assert_str_eq(out, "mail a@b.io");
        free(out);
        set_all(SOCFW_PII_OP_MASK, 0, '#');
        out = run("mail a@b.io", NULL);
        cr_assert_str_eq(out, "mail ######");
        free(out);
}

Test(privacy_operators, hash_pseudonym_stable_and_key_dependent)
{
        const unsigned char k1[32] = "0123456789abcdef0123456789abcdef";
        const unsigned char k2[32] = "fedcba9876543210fedcba9876543210";
        set_all(SOCFW_PII_OP_HASH, 0, 0);
        cr_assert_eq(socfw_pii_anonymizer_set_key(an, k1, 32, NULL), 0);
        char *a = run("mail a@b.io and a@b.io, not c@d.io", NULL);
        char *b = run("again a@b.io", NULL);
        /* "<EMAIL_xxxxxx>" = 14 chars */
        cr_assert_eq(strncmp(a + 5, "<EMAIL_", 7), 0, "%s", a);
        cr_assert_eq(a[5 + 13], '>');
        cr_assert_eq(strncmp(a + 5, a + 5 + 14 + 5, 14), 0, "%s", a);
        cr_assert_neq(strncmp(a + 5, a + 5 + 14 + 5 + 14 + 6, 14), 0, "%s", a);
        cr_assert_eq(strncmp(a + 5, b + 6, 14), 0);
        /* the expected value: HMAC-SHA256(k1, "EMAIL_ADDRESS\0a@b.io") */
        crypto_auth_hmacsha256_state st;
        unsigned char mac[32];
        crypto_auth_hmacsha256_init(&st, k1, 32);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)
                                      "EMAIL_ADDRESS", 14);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)"a@b.io", 6);
        crypto_auth_hmacsha256_final(&st, mac);
        char hex[7];
        sodium_bin2hex(hex, sizeof hex, mac, 3);
        cr_assert_eq(strncmp(a + 5 + 7, hex, 6), 0, "%s vs %s", a, hex);

        cr_assert_eq(socfw_pii_anonymizer_set_key(an, k2, 32, NULL), 0);
        char *c = run("again a@b.io", NULL);
        cr_assert_neq(strcmp(b, c), 0);
        cr_assert_eq(socfw_pii_anonymizer_set_key(an, k2, 8, NULL),
                     SOCFW_EINVAL);
        free(a);
        free(b);
        free(c);
}

Test(privacy_operators, reversible_round_trip)
{
        socfw_pii_vault *v = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_vault_new(&v, &err), 0);
        set_all(SOCFW_PII_OP_PSEUDONYMIZE, 0, 0);
        const char *in = "我的手机13812345678，邮箱zhang@qq.com，"
                         "再说一次13812345678";
        char *masked = run(in, v);
        cr_assert_str_eq(masked, "我的手机<PHONE_1>，邮箱<EMAIL_1>，"
                                 "再说一次<PHONE_1>");
        cr_assert_eq(socfw_pii_vault_size(v), 2);
        char *m2 = run("call +1-415-555-2671 or 13812345678", v);
        cr_assert_str_eq(m2, "call <PHONE_2> or <PHONE_1>");
        /* the model's reply uses the tokens; restore puts values back and
         * leaves unknown tokens alone */
        const char *reply = "好的，我会打<PHONE_1>或<PHONE_2>，并发邮件到"
                            "<EMAIL_1>。<PHONE_9> <EMAIL_> <PHONE_01>";
        char *restored;
        size_t rn;
        cr_assert_eq(socfw_pii_vault_restore(v, reply, strlen(reply),
                                             &restored, &rn, &err), 0);
        cr_assert_str_eq(restored, "好的，我会打13812345678或+1-415-555-2671，"
                                   "并发邮件到zhang@qq.com。<PHONE_9> "
                                   "<EMAIL_> <PHONE_01>");
        char *back;
        cr_assert_eq(socfw_pii_vault_restore(v, masked, strlen(masked), &back,
                                             NULL, &err), 0);
        cr_assert_str_eq(back, in);
        free(back);
        free(restored);
        free(masked);
        free(m2);

        /* no vault: a clear error */
        socfw_pii_spans sp = {0};
        socfw_pii_recognizer_scan(rec, in, strlen(in), &sp, NULL);
        char *out;
        cr_assert_eq(socfw_pii_anonymize(an, NULL, in, strlen(in), &sp, &out,
                                         NULL, NULL), SOCFW_ESTATE);
        socfw_pii_spans_free(&sp);
        socfw_pii_vault_free(v);
}

Test(privacy_operators, vault_persists_encrypted)
{
        socfw_pii_vault *v = NULL, *w = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_pii_vault_new(&v, &err), 0);
        char tok[48];
        cr_assert_eq(socfw_pii_vault_pseudonym(v, SOCFW_PII_PHONE_NUMBER,
                                               "13812345678", 11, tok,
                                               sizeof tok, &err), 0);
        cr_assert_str_eq(tok, "<PHONE_1>");
        cr_assert_eq(socfw_pii_vault_pseudonym(v, SOCFW_PII_PERSON, "张三", 6,
                                               tok, sizeof tok, &err), 0);
        cr_assert_str_eq(tok, "<PERSON_1>");
        unsigned char key[SOCFW_PII_VAULT_KEY_BYTES], other[32];
        crypto_secretbox_keygen(key);
        crypto_secretbox_keygen(other);
        unsigned char *blob;
        size_t bn;
        cr_assert_eq(socfw_pii_vault_save(v, key, &blob, &bn, &err), 0);
        /* the values are not in the blob in clear */
        cr_assert_not(contains(blob, bn, "13812345678"));
        cr_assert_not(contains(blob, bn, "张三"));

        cr_assert_eq(socfw_pii_vault_load(&w, other, blob, bn, &err),
                     SOCFW_EFORMAT);
        cr_assert_null(w);
        blob[bn - 1] ^= 1;
        cr_assert_eq(socfw_pii_vault_load(&w, key, blob, bn, NULL),
                     SOCFW_EFORMAT);
        blob[bn - 1] ^= 1;
        cr_assert_eq(socfw_pii_vault_load(&w, key, blob, 10, NULL),
                     SOCFW_EFORMAT);
        cr_assert_eq(socfw_pii_vault_load(&w, key, blob, bn, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_pii_vault_size(w), 2);
        /* same tokens after loading, new values continue the numbering */
        cr_assert_eq(socfw_pii_vault_pseudonym(w, SOCFW_PII_PHONE_NUMBER,
                                               "13812345678", 11, tok,
                                               sizeof tok, &err), 0);
        cr_assert_str_eq(tok, "<PHONE_1>");
        cr_assert_eq(socfw_pii_vault_pseudonym(w, SOCFW_PII_PHONE_NUMBER,
                                               "010-12345678", 12, tok,
                                               sizeof tok, &err), 0);
        cr_assert_str_eq(tok, "<PHONE_2>");
        char *r;
        const char *reply = "<PERSON_1>: <PHONE_1>";
        cr_assert_eq(socfw_pii_vault_restore(w, reply, strlen(reply), &r, NULL,
                                             &err), 0);
        cr_assert_str_eq(r, "张三: 13812345678");
        free(r);
        free(blob);
        socfw_pii_vault_free(v);
        socfw_pii_vault_free(w);
}

Test(privacy_operators, vault_many_values)
{
        socfw_pii_vault *v = NULL;
        cr_assert_eq(socfw_pii_vault_new(&v, NULL), 0);
        char val[32], tok[48], first[48];
        for (int i = 0; i < 5000; i++) {
                int n = snprintf(val, sizeof val, "user%d@example.com", i);
                cr_assert_eq(socfw_pii_vault_pseudonym(
                                     v, SOCFW_PII_EMAIL_ADDRESS, val,
                                     (size_t)n, tok, sizeof tok, NULL), 0);
                if (i == 0)
                        memcpy(first, tok, sizeof tok);
        }
        cr_assert_str_eq(tok, "<EMAIL_5000>");
        cr_assert_eq(socfw_pii_vault_pseudonym(v, SOCFW_PII_EMAIL_ADDRESS,
                                               "user0@example.com", 17, tok,
                                               sizeof tok, NULL), 0);
        cr_assert_str_eq(tok, first);
        cr_assert_eq(socfw_pii_vault_size(v), 5000);
        socfw_pii_vault_free(v);
        socfw_pii_vault_free(NULL);
}

Test(privacy_operators, invalid_utf8_passes_through)
{
        const char t[] = "\xff mail a@b.io \xc3";
        socfw_pii_spans sp = {0};
        cr_assert_eq(socfw_pii_recognizer_scan(rec, t, sizeof t - 1, &sp,
                                               NULL), 0);
        char *out;
        size_t n;
        cr_assert_eq(socfw_pii_anonymize(an, NULL, t, sizeof t - 1, &sp, &out,
                                         &n, NULL), 0);
        cr_assert_str_eq(out, "\xff mail <EMAIL> \xc3");
        free(out);
        socfw_pii_spans_free(&sp);
}

Test(privacy_operators, operator_names_and_type_names)
{
        socfw_pii_op_kind k;
        cr_assert_eq(socfw_pii_op_parse("Pseudonymise", &k), 0);
        cr_assert_eq(k, SOCFW_PII_OP_PSEUDONYMIZE);
        cr_assert_eq(socfw_pii_op_parse("shred", &k), SOCFW_EINVAL);
        cr_assert_eq(socfw_pii_type_parse("EMAIL"), SOCFW_PII_EMAIL_ADDRESS);
        cr_assert_eq(socfw_pii_type_parse("phone"), SOCFW_PII_PHONE_NUMBER);
        cr_assert_eq(socfw_pii_type_parse("CN_ID"), SOCFW_PII_CN_ID);
        cr_assert_eq(socfw_pii_type_parse("ORGANIZATION"),
                     SOCFW_PII_ORGANIZATION);
        cr_assert_eq(socfw_pii_type_parse("nope"), SOCFW_PII_NONE);
        cr_assert_str_eq(socfw_pii_type_name(SOCFW_PII_IBAN_CODE), "IBAN_CODE");
        cr_assert_str_eq(socfw_pii_type_name((socfw_pii_type)99), "NONE");
}
