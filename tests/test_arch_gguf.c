/* tests/test_arch_gguf.c - a real GGUF Llama (../shared/models/
 * stories260K.gguf): greedy decoding with the KV cache tells the known
 * story, and the full forward agrees with incremental decoding. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "test_arch_util.h"
#include "testutil.h"

static const char *const story =
        "Once upon a time, there was a little girl named Lily. She loved to "
        "play outside in the park. One day, she saw a big, red ball";

static int
argmax(const float *v, int n)
{
        int best = 0;
        for (int i = 1; i < n; i++)
                if (v[i] > v[best])
                        best = i;
        return best;
}

/* Append the SentencePiece piece of `id` to text: U+2581 is a space,
 * <0xHH> a raw byte. */
static void
append_piece(char *text, size_t size, const socfw_strview *tok)
{
        size_t len = strlen(text);
        const char *p = tok->ptr;
        size_t n = tok->len;
        unsigned int byte;
        if (n == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' &&
            sscanf(p + 3, "%2x", &byte) == 1) {
                if (len + 1 < size) {
                        text[len] = (char)byte;
                        text[len + 1] = '\0';
                }
                return;
        }
        for (size_t i = 0; i < n && len + 1 < size; i++) {
                if (i + 2 < n && (unsigned char)p[i] == 0xE2 &&
                    (unsigned char)p[i + 1] == 0x96 &&
                    (unsigned char)p[i + 2] == 0x81) {
                        text[len++] = ' ';
                        i += 2;
                } else {
                        text[len++] = p[i];
                }
        }
        text[len] = '\0';
}

Test(arch_gguf, stories260k_greedy, .timeout = 60)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     err.message);
        socfw_model *m = NULL;
        cr_assert_eq(socfw_model_load_modelfile(&m, mf, NULL, &err), 0, "%s",
                     err.message);
        const socfw_model_config *c = socfw_model_config_of(m);
        cr_expect_eq(c->arch, SOCFW_ARCH_LLAMA);
        cr_expect_eq(c->n_layers, 5);
        cr_expect_eq(c->n_heads, 8);
        cr_expect_eq(c->n_kv_heads, 4);
        cr_expect_eq(c->bos_id, 1);
        cr_expect(!c->tie_embeddings);
        cr_expect_geq(socfw_params_find(socfw_model_params(m),
                                        "model.layers.4.mlp.down_proj.weight"),
                      0);
        const socfw_strview *toks = NULL;
        size_t ntok = 0;
        cr_assert_eq(socfw_modelfile_get_string_array(mf,
                                                      "tokenizer.ggml.tokens",
                                                      &toks, &ntok, &err), 0);
        cr_assert_eq((int)ntok, c->vocab_size);

        enum { MAXGEN = 64 };
        socfw_model_kv *kv = NULL;
        cr_assert_eq(socfw_model_kv_new(&kv, m, MAXGEN + 1, &err), 0);
        float *logits = malloc(sizeof(float) * c->vocab_size);
        int32_t seq[MAXGEN + 1];
        char text[1024] = "";
        seq[0] = 1;
        int n = 1;
        cr_assert_eq(socfw_model_decode_step(m, kv, seq, 1, logits, &err), 0,
                     "%s", err.message);
        while (n <= MAXGEN && strlen(text) < strlen(story) + 1) {
                int next = argmax(logits, c->vocab_size);
                seq[n++] = next;
                append_piece(text, sizeof text, &toks[next]);
                if (n > MAXGEN)
                        break;
                cr_assert_eq(socfw_model_decode_step(m, kv, &seq[n - 1], 1,
                                                     logits, &err), 0, "%s",
                             err.message);
        }
        const char *t = text[0] == ' ' ? text + 1 : text;
        cr_log_info("stories260K greedy (%d tokens): %s", n - 1, t);
        cr_expect_eq(strncmp(t, story, strlen(story)), 0,
                     "generated \"%s\"", t);

        /* the full forward over the generated sequence gives the same
         * next-token logits as the cache did at every position */
        int T = n - 1;
        float *h = malloc(sizeof(float) * T * c->hidden);
        float *lg = malloc(sizeof(float) * T * c->vocab_size);
        cr_assert_eq(socfw_model_forward(m, seq, NULL, NULL, 1, T, false, 0,
                                         NULL, h, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_lm_logits(m, h, T, lg, &err), 0);
        for (int i = 0; i < T; i++)
                cr_expect_eq(argmax(lg + (size_t)i * c->vocab_size,
                                    c->vocab_size), seq[i + 1],
                             "position %d", i);
        free(h);
        free(lg);
        free(logits);
        socfw_model_kv_free(kv);
        socfw_model_free(m);
        socfw_modelfile_close(mf);
}
