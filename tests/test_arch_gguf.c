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
#include "socfw/peft.h"
#include "socfw/rng.h"
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

/* GGML type ids and test-side quantisers (llama.cpp's reference
 * rounding) for the element types a GGUF may be written in here. */
enum { GG_F32 = 0, GG_F16 = 1, GG_Q4_0 = 2, GG_Q8_0 = 8, GG_BF16 = 30 };

static void
gf16(gbuf *b, float v)
{
        uint16_t h = socfw_f32_to_f16(v);
        gput(b, &h, 2);
}

/* Append n floats (n a multiple of the block size) as GGML type gt. */
static void
gput_typed(gbuf *b, const float *x, int64_t n, int gt)
{
        if (gt == GG_F32) {
                gput(b, x, sizeof(float) * (size_t)n);
                return;
        }
        if (gt == GG_F16 || gt == GG_BF16) {
                for (int64_t i = 0; i < n; i++) {
                        uint16_t h = gt == GG_F16 ? socfw_f32_to_f16(x[i])
                                                  : socfw_f32_to_bf16(x[i]);
                        gput(b, &h, 2);
                }
                return;
        }
        for (int64_t k = 0; k < n; k += 32, x += 32) {
                float amax = 0, max = 0;
                for (int i = 0; i < 32; i++)
                        if (fabsf(x[i]) > amax) {
                                amax = fabsf(x[i]);
                                max = x[i];
                        }
                if (gt == GG_Q8_0) {
                        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
                        gf16(b, d);
                        for (int i = 0; i < 32; i++) {
                                int8_t q = (int8_t)lrintf(x[i] * id);
                                gput(b, &q, 1);
                        }
                } else {        /* Q4_0 */
                        float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
                        gf16(b, d);
                        for (int i = 0; i < 16; i++) {
                                int lo = (int)(x[i] * id + 8.5f);
                                int hi = (int)(x[i + 16] * id + 8.5f);
                                lo = lo > 15 ? 15 : lo;
                                hi = hi > 15 ? 15 : hi;
                                unsigned char q = (unsigned char)(lo |
                                                                  (hi << 4));
                                gput(b, &q, 1);
                        }
                }
        }
}

/* The model `hf` as a GGUF in memory (caller frees the buffer), written the
 * way llama.cpp's converter does (Q/K rows permuted for arch "llama");
 * 2-D matrices whose rows are whole 32-blocks in element type gt, the rest
 * F32. */
static gbuf
gguf_of_model(socfw_model *hf, const char *arch, int gt)
{
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
                int t = nd == 2 && sh[1] % 32 == 0 ? gt : GG_F32;
                gu32(&hdr, (uint32_t)t);
                gu64(&hdr, data.n);
                const float *w = socfw_params_data(ps, i);
                float *g = malloc(sizeof(float) * numel);
                memcpy(g, w, sizeof(float) * numel);
                int heads = strstr(hn, "q_proj") ? c->n_heads
                            : strstr(hn, "k_proj") ? c->n_kv_heads : 0;
                if (permute && heads)
                        permute_rows(g, w, sh[0], nd > 1 ? sh[1] : 1, heads);
                gput_typed(&data, g, numel, t);
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
        free(data.p);
        return hdr;
}

/* Write the fixture model as GGUF the way llama.cpp's converter does
 * (Q/K rows permuted for arch "llama"), load it, compare with PyTorch. */
static void
check_gguf_from_fixture(const char *fx, const char *arch)
{
        socfw_model *hf = arch_load_fixture(fx);
        const socfw_model_config *c = socfw_model_config_of(hf);
        socfw_params *ps = socfw_model_params(hf);
        int nt = socfw_params_count(ps);
        gbuf hdr = gguf_of_model(hf, arch, GG_F32);

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

/* ---- weights kept in the file's format ---------------------------------- */

/* Greedy decoding of n tokens after BOS; seq[0..n-1] the tokens, margin[i]
 * the gap between the best and second-best logit when seq[i] was chosen. */
static void
greedy(socfw_model *m, int n, int32_t *seq, float *margin)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        socfw_model_kv *kv = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_kv_new(&kv, m, n + 2, &err), 0);
        float *lg = malloc(sizeof(float) * c->vocab_size);
        int32_t tok = c->bos_id;
        for (int i = 0; i < n; i++) {
                cr_assert_eq(socfw_model_decode_step(m, kv, &tok, 1, lg, &err),
                             0, "%s", err.message);
                int best = argmax(lg, c->vocab_size);
                float second = -INFINITY;
                for (int v = 0; v < c->vocab_size; v++)
                        if (v != best && lg[v] > second)
                                second = lg[v];
                seq[i] = best;
                margin[i] = lg[best] - second;
                tok = best;
        }
        free(lg);
        socfw_model_kv_free(kv);
}

/* The quantised path's greedy tokens equal the float path's up to the
 * first step where the float path's two best logits are within `tie` of
 * each other (there the 8-bit activations may pick the other one). */
static void
expect_same_greedy(socfw_model *mq, socfw_model *mf, int n, float tie,
                   const char *what)
{
        int32_t *sq = malloc(sizeof(int32_t) * n), *sf = malloc(sizeof(int32_t) * n);
        float *gq = malloc(sizeof(float) * n), *gf = malloc(sizeof(float) * n);
        greedy(mq, n, sq, gq);
        greedy(mf, n, sf, gf);
        int same = 0;
        while (same < n && sq[same] == sf[same])
                same++;
        cr_log_info("%s: greedy tokens equal for %d of %d steps", what, same,
                    n);
        if (same < n)
                cr_expect_lt(gf[same], tie,
                             "%s: step %d differs (%d vs %d) with a float "
                             "margin of %g, not a near tie (< %g)",
                             what, same, sq[same], sf[same], gf[same], tie);
        free(sq);
        free(sf);
        free(gq);
        free(gf);
}

static int
n_quant(const socfw_model *m)
{
        int n = 0;
        socfw_model_quantized_bytes(m, &n);
        return n;
}

/* A fixture written in element type gt, loaded twice from the same bytes:
 * weights kept in the file's format (copied) and dequantised to float32.
 * Logits agree within tol of the largest logit; greedy tokens agree. */
static void
check_kept(const char *fx, const char *arch, int gt, double tol)
{
        socfw_model *hf = arch_load_fixture(fx);
        gbuf buf = gguf_of_model(hf, arch, gt);
        socfw_model_free(hf);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, buf.p, buf.n, fx, &err),
                     0, "%s", err.message);
        socfw_model *m32 = NULL, *mq = NULL;
        socfw_model_options keep = {.keep_quantized = true};
        cr_assert_eq(socfw_model_load_modelfile(&m32, mf, NULL, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_load_modelfile(&mq, mf, &keep, &err), 0, "%s",
                     err.message);
        socfw_modelfile_close(mf);      /* mq holds copies */
        free(buf.p);
        const socfw_model_config *c = socfw_model_config_of(m32);
        cr_expect_eq(n_quant(m32), 0);
        cr_assert_gt(n_quant(mq), 0, "no matrix kept in the file's format");

        socfw_modelfile *ref = arch_ref_open(fx);
        const socfw_tensor_info *ti = arch_ref_info(ref, "input_ids");
        int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T;
        int32_t *ids = arch_ref_i32(ref, "input_ids", NULL);
        size_t NV = (size_t)N * c->vocab_size;
        float *h = malloc(sizeof(float) * N * c->hidden);
        float *l32 = malloc(sizeof(float) * NV), *lq = malloc(sizeof(float) * NV);
        cr_assert_eq(socfw_model_forward(m32, ids, NULL, NULL, B, T, false, 0,
                                         NULL, h, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_lm_logits(m32, h, N, l32, &err), 0);
        cr_assert_eq(socfw_model_forward(mq, ids, NULL, NULL, B, T, false, 0,
                                         NULL, h, &err), 0, "%s", err.message);
        cr_assert_eq(socfw_model_lm_logits(mq, h, N, lq, &err), 0);
        double d = arch_max_diff(lq, l32, NV), mx = arch_max_abs(l32, NV);
        cr_log_info("%s as %d kept: max |logits - dequantised| %.3g (max "
                    "|logit| %.3g)", fx, gt, d, mx);
        cr_expect_leq(d, tol * mx, "%s type %d: logits differ by %g > %g",
                      fx, gt, d, tol * mx);
        /* one token at a time (the 8-bit dot-product path) */
        socfw_model_kv *k32 = NULL, *kq = NULL;
        cr_assert_eq(socfw_model_kv_new(&k32, m32, T, &err), 0);
        cr_assert_eq(socfw_model_kv_new(&kq, mq, T, &err), 0);
        double dd = 0;
        for (int t = 0; t < T; t++) {
                cr_assert_eq(socfw_model_decode_step(m32, k32, ids + t, 1, l32,
                                                     &err), 0, "%s",
                             err.message);
                cr_assert_eq(socfw_model_decode_step(mq, kq, ids + t, 1, lq,
                                                     &err), 0, "%s",
                             err.message);
                double e = arch_max_diff(lq, l32, (size_t)c->vocab_size);
                dd = e > dd ? e : dd;
        }
        cr_log_info("%s as %d kept, decoding: max |logits - dequantised| "
                    "%.3g", fx, gt, dd);
        cr_expect_leq(dd, tol * mx, "%s type %d: decode logits differ by %g "
                      "> %g", fx, gt, dd, tol * mx);
        socfw_model_kv_free(k32);
        socfw_model_kv_free(kq);
        /* training needs the float weights: refused, with a hint */
        cr_expect_eq(socfw_model_backward(mq, h, &err), SOCFW_ESTATE);
        cr_expect(strstr(err.message, "keep_quantized"), "%s", err.message);
        expect_same_greedy(mq, m32, 20, (float)(4 * tol * mx), fx);
        free(h);
        free(l32);
        free(lq);
        free(ids);
        socfw_modelfile_close(ref);
        socfw_model_free(m32);
        socfw_model_free(mq);
}

/* Tolerances, of the largest logit: F16/BF16 rows are exact floats
 * against float activations (only the summation order differs); Q8_0/Q4_0
 * decoding takes 8-bit activations: with rows 32 wide, one scale covers a
 * whole row, and the error measured through two layers is ~2.5% of the
 * largest logit (limit 5%); a batch forward dequantises panels (float
 * only), so its logits agree to float rounding. */
Test(arch_gguf, kept_f16, .timeout = 30) { check_kept("llama", "llama", GG_F16, 1e-4); }
Test(arch_gguf, kept_bf16, .timeout = 30) { check_kept("qwen2", "qwen2", GG_BF16, 1e-4); }
Test(arch_gguf, kept_q8_0, .timeout = 30) { check_kept("llama", "llama", GG_Q8_0, 5e-2); }
Test(arch_gguf, kept_q4_0, .timeout = 30) { check_kept("qwen2", "qwen2", GG_Q4_0, 5e-2); }

/* stories260K rewritten as Q8_0 / Q4_0 into a file, loaded with the
 * weights borrowed from the mapping: greedy text equals the dequantised
 * path's up to near ties. */
static void
check_stories_kept(int gt, float tie)
{
        char path[4096], dir[4096], file[4200];
        SOCFW_TEST_NEED_SHARED(path, "models/stories260K.gguf");
        socfw_error err = {0};
        socfw_model *src = NULL;
        cr_assert_eq(socfw_model_load(&src, path, NULL, &err), 0, "%s",
                     err.message);
        gbuf buf = gguf_of_model(src, "llama", gt);
        socfw_model_free(src);
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(file, sizeof file, "%s/stories.gguf", dir);
        cr_assert_eq(socfw_test_write_file(file, buf.p, buf.n), 0);
        free(buf.p);
        socfw_model *mq = NULL, *m32 = NULL;
        socfw_model_options keep = {.keep_quantized = true};
        cr_assert_eq(socfw_model_load(&mq, file, &keep, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_load(&m32, file, NULL, &err), 0, "%s",
                     err.message);
        cr_assert_gt(n_quant(mq), 0);
        expect_same_greedy(mq, m32, 48, tie, gt == GG_Q8_0 ? "stories Q8_0"
                                                           : "stories Q4_0");
        socfw_model_free(mq);
        socfw_model_free(m32);
        remove(file);
        remove(dir);
}

Test(arch_gguf, stories260k_kept_q8_0, .timeout = 60) { check_stories_kept(GG_Q8_0, 0.1f); }
Test(arch_gguf, stories260k_kept_q4_0, .timeout = 60) { check_stories_kept(GG_Q4_0, 0.1f); }

/* QLoRA: LoRA on every linear site of a Llama whose matrices stay Q8_0
 * (frozen) trains as over the same weights dequantised to float32: the
 * forward of a batch dequantises panels, the backward takes the input's
 * gradient through them (socfw_nn_qlinear_backward_input), so the
 * adapter's gradients agree to float rounding.  Backward refuses a
 * quantised matrix left trainable, naming it. */
Test(arch_gguf, qlora_gradients_equal_the_dequantised_model, .timeout = 60)
{
        socfw_model *hf = arch_load_fixture("llama");
        gbuf buf = gguf_of_model(hf, "llama", GG_Q8_0);
        socfw_model_free(hf);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, buf.p, buf.n, "llama",
                                                 &err), 0, "%s", err.message);
        socfw_model *m[2] = {NULL, NULL};
        socfw_model_options keep = {.keep_quantized = true};
        cr_assert_eq(socfw_model_load_modelfile(&m[0], mf, NULL, &err), 0);
        cr_assert_eq(socfw_model_load_modelfile(&m[1], mf, &keep, &err), 0);
        socfw_modelfile_close(mf);
        free(buf.p);
        cr_assert_eq(n_quant(m[0]), 0);
        cr_assert_gt(n_quant(m[1]), 0);
        const socfw_model_config *c = socfw_model_config_of(m[0]);
        enum { B = 2, T = 8 };  /* 16 rows: the panel path, not 8-bit dots */
        int32_t ids[B * T];
        for (int i = 0; i < B * T; i++)
                ids[i] = (int32_t)((i * 7 + 3) % c->vocab_size);
        size_t NC = (size_t)B * T * c->hidden;
        float *h = malloc(sizeof(float) * NC), *dh = malloc(sizeof(float) * NC);
        cr_assert(h && dh);
        for (size_t i = 0; i < NC; i++)
                dh[i] = (float)((int)(i * 37 % 101) - 50) / 50.0f;
        /* trainable quantised matrices are refused by name */
        socfw_rng rng0;
        socfw_rng_seed(&rng0, 1);
        cr_assert_eq(socfw_model_forward(m[1], ids, NULL, NULL, B, T, true,
                                         0, &rng0, h, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_model_backward(m[1], dh, &err), SOCFW_ESTATE);
        cr_assert(strstr(err.message, "cannot be trained") &&
                  strstr(err.message, "Q8_0"), "%s", err.message);
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_LORA);
        ac.rank = 2;
        ac.targets = SOCFW_SITE_BIT(SOCFW_SITE_ATTN_Q) |
                     SOCFW_SITE_BIT(SOCFW_SITE_ATTN_V) |
                     SOCFW_SITE_BIT(SOCFW_SITE_MLP_DOWN);
        socfw_adapter *a[2];
        float *g[2];
        int64_t n = 0;
        for (int k = 0; k < 2; k++) {
                err = (socfw_error){0};
                cr_assert_eq(socfw_model_freeze(m[k], 0, false), 0);
                cr_assert_eq(socfw_adapter_new(&a[k], m[k], &ac, 5, &err), 0,
                             "%s", err.message);
                socfw_params *ps = socfw_adapter_params(a[k]);
                n = socfw_params_size(ps);
                float *w = socfw_params_data_buffer(ps);
                for (int64_t i = 0; i < n; i++) /* B != 0: A learns too */
                        w[i] = (float)((int)(i * 13 % 29) - 14) / 100.0f;
                cr_assert_eq(socfw_model_attach(m[k], a[k], &err), 0);
                socfw_params_zero_grad(ps);
                socfw_rng rng;
                socfw_rng_seed(&rng, 1);
                cr_assert_eq(socfw_model_forward(m[k], ids, NULL, NULL, B, T,
                                                 true, 0, &rng, h, &err), 0,
                             "%s", err.message);
                cr_assert_eq(socfw_model_backward(m[k], dh, &err), 0, "%s",
                             err.message);
                g[k] = socfw_params_grad_buffer(ps);
        }
        double d = arch_max_diff(g[1], g[0], (size_t)n),
               mx = arch_max_abs(g[0], (size_t)n);
        cr_log_info("QLoRA over Q8_0: max |adapter grad - float32's| %.3g "
                    "(max %.3g, %lld values)", d, mx, (long long)n);
        cr_assert_gt(mx, 0.0);
        cr_assert_leq(d, 1e-4 * mx, "adapter gradients differ by %g", d);
        for (int k = 0; k < 2; k++) {
                socfw_model_attach(m[k], NULL, NULL);
                socfw_adapter_free(a[k]);
                socfw_model_free(m[k]);
        }
        free(h);
        free(dh);
}
