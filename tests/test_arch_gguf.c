/* tests/test_arch_gguf.c - a real GGUF Llama (../shared/models/
 * stories260K.gguf): greedy decoding with the KV cache tells the known
 * story, and the full forward agrees with incremental decoding. */
#include <criterion/criterion.h>
#include <math.h>
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

/* ---- GGUF written from the HF fixtures ---------------------------------- */

typedef struct gbuf {
        unsigned char *p;
        size_t n, cap;
} gbuf;

static void
gput(gbuf *b, const void *data, size_t n)
{
        if (b->n + n > b->cap) {
                b->cap = (b->n + n) * 2 + 1024;
                b->p = realloc(b->p, b->cap);
                cr_assert_not_null(b->p);
        }
        memcpy(b->p + b->n, data, n);
        b->n += n;
}

static void gu32(gbuf *b, uint32_t v) { gput(b, &v, 4); }
static void gu64(gbuf *b, uint64_t v) { gput(b, &v, 8); }

static void
gstr(gbuf *b, const char *s)
{
        gu64(b, strlen(s));
        gput(b, s, strlen(s));
}

static void
gkv_u32(gbuf *b, const char *arch, const char *key, uint32_t v)
{
        char k[128];
        snprintf(k, sizeof k, "%s%s", arch, key);
        gstr(b, k);
        gu32(b, 4);     /* UINT32 */
        gu32(b, v);
}

static void
gkv_f32(gbuf *b, const char *arch, const char *key, float v)
{
        char k[128];
        snprintf(k, sizeof k, "%s%s", arch, key);
        gstr(b, k);
        gu32(b, 6);     /* FLOAT32 */
        gput(b, &v, 4);
}

/* HF Llama name (without "model.") -> GGUF name; "" when unknown. */
static void
gguf_name(const char *hf, char *out, size_t size)
{
        static const char *const map[][2] = {
                {"input_layernorm.weight", "attn_norm.weight"},
                {"self_attn.q_proj.weight", "attn_q.weight"},
                {"self_attn.k_proj.weight", "attn_k.weight"},
                {"self_attn.v_proj.weight", "attn_v.weight"},
                {"self_attn.q_proj.bias", "attn_q.bias"},
                {"self_attn.k_proj.bias", "attn_k.bias"},
                {"self_attn.v_proj.bias", "attn_v.bias"},
                {"self_attn.o_proj.weight", "attn_output.weight"},
                {"post_attention_layernorm.weight", "ffn_norm.weight"},
                {"mlp.gate_proj.weight", "ffn_gate.weight"},
                {"mlp.up_proj.weight", "ffn_up.weight"},
                {"mlp.down_proj.weight", "ffn_down.weight"},
        };
        int layer, off = 0;
        out[0] = '\0';
        if (!strcmp(hf, "model.embed_tokens.weight"))
                snprintf(out, size, "token_embd.weight");
        else if (!strcmp(hf, "model.norm.weight"))
                snprintf(out, size, "output_norm.weight");
        else if (!strcmp(hf, "lm_head.weight"))
                snprintf(out, size, "output.weight");
        else if (sscanf(hf, "model.layers.%d.%n", &layer, &off) == 1 && off)
                for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                        if (!strcmp(hf + off, map[i][0]))
                                snprintf(out, size, "blk.%d.%s", layer,
                                         map[i][1]);
}

/* llama.cpp's convert permute(): GGUF row (h, i, j) = HF row (h, j, i),
 * i < D/2, j < 2, so that interleaved RoPE on GGUF rows equals
 * rotate-half RoPE on HF rows. */
static void
permute_rows(float *dst, const float *src, int64_t rows, int64_t cols,
             int heads)
{
        int64_t D = rows / heads, half = D / 2;
        for (int h = 0; h < heads; h++)
                for (int64_t i = 0; i < half; i++)
                        for (int j = 0; j < 2; j++)
                                memcpy(dst + (h * D + i * 2 + j) * cols,
                                       src + (h * D + j * half + i) * cols,
                                       sizeof(float) * (size_t)cols);
}

/* Write the fixture model as GGUF the way llama.cpp's converter does
 * (Q/K rows permuted for arch "llama"), load it, compare with PyTorch. */
static void
check_gguf_from_fixture(const char *fx, const char *arch)
{
        socfw_model *hf = arch_load_fixture(fx);
        const socfw_model_config *c = socfw_model_config_of(hf);
        socfw_params *ps = socfw_model_params(hf);
        int permute = !strcmp(arch, "llama");
        gbuf hdr = {0}, data = {0};
        int nt = socfw_params_count(ps);
        /* scaled RoPE travels as llama.cpp writes it for Llama 3: a
         * rope_freqs tensor of per-frequency divisors */
        int n_freq = 0;
        const float *inv = socfw_model_rope_inv_freq(hf, &n_freq);
        char a[32];
        snprintf(a, sizeof a, "%s.", arch);
        gput(&hdr, "GGUF", 4);
        gu32(&hdr, 3);
        gu64(&hdr, (uint64_t)nt + (inv != NULL));
        gu64(&hdr, 10);
        gstr(&hdr, "general.architecture");
        gu32(&hdr, 8);  /* STRING */
        gstr(&hdr, arch);
        gkv_u32(&hdr, a, "embedding_length", (uint32_t)c->hidden);
        gkv_u32(&hdr, a, "block_count", (uint32_t)c->n_layers);
        gkv_u32(&hdr, a, "attention.head_count", (uint32_t)c->n_heads);
        gkv_u32(&hdr, a, "attention.head_count_kv",
                (uint32_t)c->n_kv_heads);
        gkv_u32(&hdr, a, "feed_forward_length", (uint32_t)c->ffn);
        gkv_u32(&hdr, a, "context_length", (uint32_t)c->max_positions);
        gkv_f32(&hdr, a, "attention.layer_norm_rms_epsilon", c->norm_eps);
        gkv_f32(&hdr, a, "rope.freq_base", c->rope_theta);
        gkv_u32(&hdr, "", "tokenizer.ggml.bos_token_id",
                (uint32_t)c->bos_id);
        for (int i = 0; i < nt; i++) {
                char name[128];
                const char *hn = socfw_params_name(ps, i);
                gguf_name(hn, name, sizeof name);
                cr_assert(name[0], "no GGUF name for %s", hn);
                int nd = socfw_params_ndim(ps, i);
                const int64_t *sh = socfw_params_shape(ps, i);
                int64_t numel = socfw_params_numel(ps, i);
                gstr(&hdr, name);
                gu32(&hdr, (uint32_t)nd);
                for (int d = nd - 1; d >= 0; d--)
                        gu64(&hdr, (uint64_t)sh[d]);
                gu32(&hdr, 0);  /* F32 */
                gu64(&hdr, data.n);
                const float *w = socfw_params_data(ps, i);
                float *g = malloc(sizeof(float) * numel);
                memcpy(g, w, sizeof(float) * numel);
                int heads = strstr(hn, "q_proj") ? c->n_heads
                            : strstr(hn, "k_proj") ? c->n_kv_heads : 0;
                if (permute && heads)
                        permute_rows(g, w, sh[0], nd > 1 ? sh[1] : 1, heads);
                gput(&data, g, sizeof(float) * numel);
                free(g);
                static const char zeros[32];
                gput(&data, zeros, (32 - data.n % 32) % 32);
        }
        if (inv) {
                gstr(&hdr, "rope_freqs.weight");
                gu32(&hdr, 1);
                gu64(&hdr, (uint64_t)n_freq);
                gu32(&hdr, 0);
                gu64(&hdr, data.n);
                for (int i = 0; i < n_freq; i++) {
                        double base = pow((double)c->rope_theta,
                                          -2.0 * i / c->head_dim);
                        float f = (float)(base / inv[i]);
                        gput(&data, &f, sizeof f);
                }
        }
        static const char zeros[32];
        gput(&hdr, zeros, (32 - hdr.n % 32) % 32);
        gput(&hdr, data.p, data.n);

        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, hdr.p, hdr.n, fx, &err),
                     0, "%s", err.message);
        socfw_model *m = NULL;
        cr_assert_eq(socfw_model_load_modelfile(&m, mf, NULL, &err), 0, "%s",
                     err.message);
        const socfw_model_config *c2 = socfw_model_config_of(m);
        cr_expect_eq(c2->n_kv_heads, c->n_kv_heads);
        cr_expect_eq(c2->tie_embeddings, c->tie_embeddings);
        cr_expect_eq(c2->attn_bias, c->attn_bias);
        /* same tensors, same HF names, same values (un-permuted) */
        socfw_params *ps2 = socfw_model_params(m);
        cr_assert_eq(socfw_params_count(ps2), nt);
        for (int i = 0; i < nt; i++) {
                int j = socfw_params_find(ps2, socfw_params_name(ps, i));
                cr_assert_geq(j, 0, "%s", socfw_params_name(ps, i));
                cr_expect_eq(memcmp(socfw_params_data(ps, i),
                                    socfw_params_data(ps2, j),
                                    sizeof(float) * socfw_params_numel(ps, i)),
                             0, "%s differs", socfw_params_name(ps, i));
        }
        /* and the logits of PyTorch */
        socfw_modelfile *ref = arch_ref_open(fx);
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        float *ref_logits = arch_ref_f32(ref, "logits", NULL);
        float *h = malloc(sizeof(float) * N * c->hidden);
        float *lg = malloc(sizeof(float) * N * c->vocab_size);
        cr_assert_eq(socfw_model_forward(m, ids, NULL, NULL, B, T, false, 0,
                                         NULL, h, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_lm_logits(m, h, N, lg, &err), 0);
        double d = arch_max_diff(lg, ref_logits, (size_t)N * c->vocab_size);
        cr_log_info("%s as GGUF '%s': max |logits - torch| %.3g", fx, arch,
                    d);
        cr_expect_lt(d, 1e-4);
        free(h);
        free(lg);
        free(ids);
        free(ref_logits);
        socfw_modelfile_close(ref);
        socfw_model_free(m);
        socfw_modelfile_close(mf);
        socfw_model_free(hf);
        free(hdr.p);
        free(data.p);
}

Test(arch_gguf, llama_fixture_permuted, .timeout = 30)
{
        check_gguf_from_fixture("llama", "llama");
}

Test(arch_gguf, llama3_rope_freqs_tensor, .timeout = 30)
{
        check_gguf_from_fixture("llama3", "llama");
}

Test(arch_gguf, qwen2_fixture, .timeout = 30)
{
        check_gguf_from_fixture("qwen2", "qwen2");
}
