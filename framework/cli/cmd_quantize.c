/* cmd_quantize.c - `socfw quantize IN OUT --type T`: write a GGUF file with
 * llama.cpp's tensor names, metadata and block layouts, from a Hugging Face
 * directory of a GPT-2, Llama or Qwen2 model (also `socfw adapter merge`
 * output) or from a GGUF file.
 *
 *   socfw quantize models/my-llama out.q4_k.gguf --type q4_k
 *   socfw quantize stories260K.gguf stories.q8_0.gguf --type q8_0
 *
 * Which tensors get which type follows llama.cpp's mixes (documented in the
 * usage text below); the blocks come from socfw_quantize_rows and the file
 * from the GGUF writer (socfw/gguf_write.h), which writes atomically.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "socfw/gguf_write.h"
#include "socfw/model.h"
#include "socfw/modelfile.h"
#include "socfw/params.h"
#include "socfw/quantize.h"
#include "socfw/tokenizer.h"
#include "socfw/io.h"

static const char quantize_usage[] =
        "Usage: socfw quantize IN OUT --type TYPE [--force]\n"
        "\n"
        "Write the decoder model IN as the GGUF file OUT with its weights in\n"
        "TYPE, with llama.cpp's tensor names, metadata and block layouts, so\n"
        "llama.cpp reads it (and socfw: Llama and Qwen2 files; GPT-2 GGUF\n"
        "files are not loaded by socfw yet).  IN is a Hugging Face directory\n"
        "(config.json + safetensors + tokenizer files; `socfw adapter merge`\n"
        "writes one) of a GPT-2, Llama or Qwen2 model, or a GGUF file (its\n"
        "metadata and tokenizer are kept, its tensors re-quantised).\n"
        "\n"
        "  --type TYPE   f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k,\n"
        "                q5_k or q6_k\n"
        "  --force       replace OUT if it exists (never a half-written\n"
        "                file: OUT is written to a temporary and renamed)\n"
        "\n"
        "As llama.cpp's mixes: 1-D tensors (norms, biases) and GPT-2's\n"
        "position embedding stay F32; the\n"
        "output projection (the token embedding when it is tied) becomes Q6_K\n"
        "for every block type below Q8_0; q4_k and q5_k are llama.cpp's Q4_K_M\n"
        "and Q5_K_M: attn_v and ffn_down take Q6_K in the first and last\n"
        "eighth of the layers and every third layer between.  A tensor whose\n"
        "row length is not a multiple of its type's block falls back as\n"
        "llama.cpp does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16),\n"
        "with a notice on standard error.\n";

/* ---- tensor types ---- */

typedef struct plan {
        socfw_dtype base;
        int n_layers;
        int has_output;         /* a separate output.weight exists */
        int n_fallback;
} plan;

static int
use_more_bits(int i, int n)
{
        return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static socfw_dtype
fallback_of(socfw_dtype t)
{
        switch (t) {
        case SOCFW_DTYPE_Q4_K: return SOCFW_DTYPE_Q5_0;
        case SOCFW_DTYPE_Q5_K: return SOCFW_DTYPE_Q5_1;
        case SOCFW_DTYPE_Q6_K: return SOCFW_DTYPE_Q8_0;
        default: return SOCFW_DTYPE_F16;
        }
}

/* The type tensor `name` (ndim dims, rows of row_len) gets in the file. */
static socfw_dtype
choose_type(plan *p, const char *name, int ndim, int64_t row_len)
{
        socfw_dtype b = p->base, t = b;
        if (ndim < 2 || !strcmp(name, "position_embd.weight") ||
            !strcmp(name, "token_types.weight"))
                return SOCFW_DTYPE_F32;         /* as llama.cpp */
        int quantised = socfw_dtype_block_size(b) > 1;
        int is_out = strcmp(name, "output.weight") == 0 ||
                     (!p->has_output && strcmp(name, "token_embd.weight") ==
                                                0);
        int layer = -1;
        if (sscanf(name, "blk.%d.", &layer) != 1)
                layer = -1;
        if (quantised && b != SOCFW_DTYPE_Q8_0 && is_out)
                t = SOCFW_DTYPE_Q6_K;
        else if ((b == SOCFW_DTYPE_Q4_K || b == SOCFW_DTYPE_Q5_K) &&
                 layer >= 0 && (socfw_str_ends_with(name, ".attn_v.weight") ||
                                socfw_str_ends_with(name, ".ffn_down.weight")) &&
                 use_more_bits(layer, p->n_layers))
                t = SOCFW_DTYPE_Q6_K;
        if (row_len % (int64_t)socfw_dtype_block_size(t) != 0) {
                socfw_dtype f = fallback_of(t);
                if (row_len % (int64_t)socfw_dtype_block_size(f) != 0)
                        f = SOCFW_DTYPE_F16;
                fprintf(stderr,
                        "socfw: notice: %s: row length %lld is not a "
                        "multiple of the %s block size %zu; using %s\n",
                        name, (long long)row_len, socfw_dtype_name(t),
                        socfw_dtype_block_size(t), socfw_dtype_name(f));
                p->n_fallback++;
                t = f;
        }
        return t;
}

/* llama.cpp's general.file_type for a base type. */
static uint32_t
file_type_of(socfw_dtype t)
{
        switch (t) {
        case SOCFW_DTYPE_F32: return 0;
        case SOCFW_DTYPE_F16: return 1;
        case SOCFW_DTYPE_Q4_0: return 2;
        case SOCFW_DTYPE_Q4_1: return 3;
        case SOCFW_DTYPE_Q8_0: return 7;
        case SOCFW_DTYPE_Q5_0: return 8;
        case SOCFW_DTYPE_Q5_1: return 9;
        case SOCFW_DTYPE_Q4_K: return 15;       /* Q4_K_M */
        case SOCFW_DTYPE_Q5_K: return 17;       /* Q5_K_M */
        case SOCFW_DTYPE_Q6_K: return 18;
        case SOCFW_DTYPE_BF16: return 32;
        default: return 0;
        }
}

/* ---- the tensors to write ---- */

typedef struct out_tensor {
        char name[64];
        int ndim;
        int64_t shape[2];       /* outermost first */
        socfw_dtype type;
        const float *f32;       /* from a loaded model, or ... */
        const socfw_tensor_info *src;   /* ... from the input GGUF */
        int permute_heads;      /* llama Q/K: HF -> GGUF row order */
        int transpose;          /* GPT-2 Conv1D: f32 holds (shape[1],
                                   shape[0]), written transposed */
        float *owned;           /* f32 data this command allocated */
} out_tensor;

typedef struct out_list {
        out_tensor *v;
        size_t n, cap;
} out_list;

static out_tensor *
out_add(out_list *l, const char *name)
{
        if (l->n == l->cap) {
                size_t nc = l->cap ? 2 * l->cap : 64;
                out_tensor *nv = realloc(l->v, nc * sizeof *nv);
                if (!nv)
                        return NULL;
                l->v = nv;
                l->cap = nc;
        }
        out_tensor *t = &l->v[l->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", name);
        return t;
}

/* HF row (h, j, i) -> GGUF row (h, i, j) for i < D/2, j < 2: llama.cpp's
 * interleaved RoPE order (the inverse of what the loader undoes). */
static void
permute_rows(const float *src, float *dst, int64_t rows, int64_t cols,
             int heads)
{
        int64_t D = rows / heads, half = D / 2;
        for (int h = 0; h < heads; h++)
                for (int64_t i = 0; i < half; i++)
                        for (int64_t j = 0; j < 2; j++)
                                memcpy(dst + (h * D + i * 2 + j) * cols,
                                       src + (h * D + j * half + i) * cols,
                                       (size_t)cols * sizeof *dst);
}

/* ---- metadata ---- */

typedef struct meta_ctx {
        socfw_gguf_writer *w;
        socfw_error *err;
        int rc;
} meta_ctx;

static void
m_u32(meta_ctx *c, const char *key, uint32_t v)
{
        if (c->rc == 0)
                c->rc = socfw_gguf_writer_set_u32(c->w, key, v, c->err);
}

static void
m_f32(meta_ctx *c, const char *key, float v)
{
        if (c->rc == 0)
                c->rc = socfw_gguf_writer_set_f32(c->w, key, v, c->err);
}

static void
m_str(meta_ctx *c, const char *key, const char *s)
{
        if (c->rc == 0)
                c->rc = socfw_gguf_writer_set_string(c->w, key, s, strlen(s),
                                                     c->err);
}

static void
m_bool(meta_ctx *c, const char *key, bool v)
{
        if (c->rc == 0)
                c->rc = socfw_gguf_writer_set_bool(c->w, key, v, c->err);
}

/* tokenizer.ggml.* from a socfw tokenizer; a vocabulary shorter than the
 * model's `n_vocab` embedding rows is padded with unused "[PADi]" tokens,
 * as llama.cpp's converter does (llama.cpp wants one token a row). */
static void
tokenizer_meta(meta_ctx *c, const socfw_tokenizer *tok, size_t n_vocab)
{
        size_t n_tok = socfw_tokenizer_vocab_size(tok);
        size_t n = n_vocab > n_tok ? n_vocab : n_tok;
        char (*pad)[24] = NULL;
        socfw_tokenizer_kind k = socfw_tokenizer_get_kind(tok);
        socfw_strview *sv = calloc(n + 1, sizeof *sv);
        int32_t *types = calloc(n + 1, sizeof *types);
        float *scores = calloc(n + 1, sizeof *scores);
        size_t nm = socfw_tokenizer_n_merges(tok);
        socfw_strview *mv = calloc(nm + 1, sizeof *mv);
        char **mtext = calloc(nm + 1, sizeof *mtext);
        if (n > n_tok)
                pad = calloc(n - n_tok, sizeof *pad);
        if (!sv || !types || !scores || !mv || !mtext ||
            (n > n_tok && !pad)) {
                c->rc = socfw_error_set(c->err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        m_str(c, "tokenizer.ggml.model",
              k == SOCFW_TOKENIZER_BPE ? "gpt2"
              : k == SOCFW_TOKENIZER_SPM ? "llama" : "bert");
        if (k == SOCFW_TOKENIZER_BPE) {
                const char *pat = socfw_tokenizer_pattern(tok);
                m_str(c, "tokenizer.ggml.pre",
                      pat && !strcmp(pat, SOCFW_TOKENIZER_PATTERN_LLAMA3)
                              ? "llama-bpe"
                      : pat && !strcmp(pat, SOCFW_TOKENIZER_PATTERN_GPT2)
                              ? "gpt-2" : "default");
        }
        for (size_t i = 0; i < n_tok; i++) {
                sv[i].ptr = socfw_tokenizer_token_text(tok, (int32_t)i,
                                                       &sv[i].len);
                types[i] = socfw_tokenizer_token_type(tok, (int32_t)i);
                scores[i] = socfw_tokenizer_token_score(tok, (int32_t)i);
        }
        for (size_t i = n_tok; i < n; i++) {
                int len = snprintf(pad[i - n_tok], sizeof pad[0], "[PAD%zu]",
                                   i);
                sv[i].ptr = pad[i - n_tok];
                sv[i].len = (size_t)len;
                types[i] = SOCFW_TOKEN_UNUSED;
                scores[i] = -1000.0f;
        }
        if (c->rc == 0)
                c->rc = socfw_gguf_writer_set_array(c->w,
                                                    "tokenizer.ggml.tokens",
                                                    SOCFW_META_STRING, sv, n,
                                                    c->err);
        if (c->rc == 0)
                c->rc = socfw_gguf_writer_set_array(
                        c->w, "tokenizer.ggml.token_type", SOCFW_META_I32,
                        types, n, c->err);
        if (c->rc == 0 && k == SOCFW_TOKENIZER_SPM)
                c->rc = socfw_gguf_writer_set_array(c->w,
                                                    "tokenizer.ggml.scores",
                                                    SOCFW_META_F32, scores, n,
                                                    c->err);
        for (size_t r = 0; c->rc == 0 && r < nm; r++) {
                int32_t a, b;
                size_t la, lb;
                socfw_tokenizer_merge(tok, r, &a, &b);
                const char *ta = socfw_tokenizer_token_text(tok, a, &la);
                const char *tb = socfw_tokenizer_token_text(tok, b, &lb);
                mtext[r] = malloc(la + lb + 2);
                if (!mtext[r] || !ta || !tb) {
                        c->rc = socfw_error_set(c->err, SOCFW_ENOMEM,
                                                "out of memory");
                        break;
                }
                memcpy(mtext[r], ta, la);
                mtext[r][la] = ' ';
                memcpy(mtext[r] + la + 1, tb, lb);
                mtext[r][la + lb + 1] = '\0';
                mv[r].ptr = mtext[r];
                mv[r].len = la + lb + 1;
        }
        if (c->rc == 0 && nm > 0)
                c->rc = socfw_gguf_writer_set_array(c->w,
                                                    "tokenizer.ggml.merges",
                                                    SOCFW_META_STRING, mv, nm,
                                                    c->err);
        static const struct {
                socfw_tokenizer_special role;
                const char *key;
        } ids[] = {
                {SOCFW_TOKENIZER_BOS, "tokenizer.ggml.bos_token_id"},
                {SOCFW_TOKENIZER_EOS, "tokenizer.ggml.eos_token_id"},
                {SOCFW_TOKENIZER_UNK, "tokenizer.ggml.unknown_token_id"},
                {SOCFW_TOKENIZER_PAD, "tokenizer.ggml.padding_token_id"},
                {SOCFW_TOKENIZER_SEP, "tokenizer.ggml.seperator_token_id"},
                {SOCFW_TOKENIZER_CLS, "tokenizer.ggml.cls_token_id"},
                {SOCFW_TOKENIZER_MASK, "tokenizer.ggml.mask_token_id"},
        };
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
                int32_t id = socfw_tokenizer_special_id(tok, ids[i].role);
                if (id >= 0)
                        m_u32(c, ids[i].key, (uint32_t)id);
        }
        int bos = 0, eos = 0, sp = 0;
        socfw_tokenizer_adds(tok, &bos, &eos, &sp);
        m_bool(c, "tokenizer.ggml.add_bos_token", bos);
        m_bool(c, "tokenizer.ggml.add_eos_token", eos);
        if (k == SOCFW_TOKENIZER_SPM)
                m_bool(c, "tokenizer.ggml.add_space_prefix", sp);
out:
        free(pad);
        for (size_t r = 0; mtext && r < nm; r++)
                free(mtext[r]);
        free(mtext);
        free(mv);
        free(scores);
        free(types);
        free(sv);
}

/* ---- from a Hugging Face directory ---- */

/* `pattern` with its "%d" (if any) replaced by the layer number. */
static void
with_layer(char *buf, size_t size, const char *pattern, int layer)
{
        const char *at = strstr(pattern, "%d");
        if (!at) {
                snprintf(buf, size, "%s", pattern);
                return;
        }
        snprintf(buf, size, "%.*s%d%s", (int)(at - pattern), pattern, layer,
                 at + 2);
}

static const float *
param(socfw_model *m, const char *pattern, int layer)
{
        char name[256], full[300];
        with_layer(name, sizeof name, pattern, layer);
        snprintf(full, sizeof full, "%s%s",
                 strncmp(name, "lm_head", 7) ? socfw_model_name_prefix(m)
                                             : "",
                 name);
        socfw_params *ps = socfw_model_params(m);
        int idx = socfw_params_find(ps, full);
        return idx >= 0 ? socfw_params_data(ps, idx) : NULL;
}

static int
add_param(out_list *l, socfw_model *m, const char *gguf, int layer,
          const char *hf, int64_t d0, int64_t d1, int permute,
          socfw_error *err)
{
        int transpose = 0;
        if (permute < 0) {      /* GPT-2 Conv1D weight, stored (in, out) */
                transpose = 1;
                permute = 0;
        }
        char g[64];
        with_layer(g, sizeof g, gguf, layer);
        const float *x = param(m, hf, layer);
        if (!x)
                return socfw_error_set(err, SOCFW_ENOTFOUND,
                                       "quantize: the model has no '%s' "
                                       "(for %s)", hf, g);
        out_tensor *t = out_add(l, g);
        if (!t)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        t->f32 = x;
        t->ndim = d1 > 0 ? 2 : 1;
        t->shape[0] = d0;
        t->shape[1] = d1 > 0 ? d1 : 1;
        t->permute_heads = permute;
        t->transpose = transpose;
        return 0;
}

/* GPT-2 as llama.cpp's converter writes it: Conv1D weights transposed to
 * (out, in), the LM head tied to token_embd (no output.weight). */
static int
plan_gpt2(socfw_model *m, const char *in, socfw_gguf_writer *w, out_list *l,
          plan *p, socfw_error *err)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        int64_t C = c->hidden, F = c->ffn;
        int rc, i = 0;
        p->n_layers = c->n_layers;
        p->has_output = 0;
#define P(g, hf, d0, d1, t)                                                   \
        if ((rc = add_param(l, m, g, i, hf, d0, d1, t, err)) < 0)             \
                return rc
        P("token_embd.weight", "wte.weight", c->vocab_size, C, 0);
        P("position_embd.weight", "wpe.weight", c->max_positions, C, 0);
        for (i = 0; i < c->n_layers; i++) {
                P("blk.%d.attn_norm.weight", "h.%d.ln_1.weight", C, 0, 0);
                P("blk.%d.attn_norm.bias", "h.%d.ln_1.bias", C, 0, 0);
                P("blk.%d.attn_qkv.weight", "h.%d.attn.c_attn.weight", 3 * C,
                  C, -1);
                P("blk.%d.attn_qkv.bias", "h.%d.attn.c_attn.bias", 3 * C, 0,
                  0);
                P("blk.%d.attn_output.weight", "h.%d.attn.c_proj.weight", C,
                  C, -1);
                P("blk.%d.attn_output.bias", "h.%d.attn.c_proj.bias", C, 0,
                  0);
                P("blk.%d.ffn_norm.weight", "h.%d.ln_2.weight", C, 0, 0);
                P("blk.%d.ffn_norm.bias", "h.%d.ln_2.bias", C, 0, 0);
                P("blk.%d.ffn_up.weight", "h.%d.mlp.c_fc.weight", F, C, -1);
                P("blk.%d.ffn_up.bias", "h.%d.mlp.c_fc.bias", F, 0, 0);
                P("blk.%d.ffn_down.weight", "h.%d.mlp.c_proj.weight", C, F,
                  -1);
                P("blk.%d.ffn_down.bias", "h.%d.mlp.c_proj.bias", C, 0, 0);
        }
        i = 0;
        P("output_norm.weight", "ln_f.weight", C, 0, 0);
        P("output_norm.bias", "ln_f.bias", C, 0, 0);
#undef P
        meta_ctx mc = {w, err, 0};
        m_str(&mc, "general.architecture", "gpt2");
        const char *base = strrchr(in, '/');
        m_str(&mc, "general.name", base && base[1] ? base + 1 : in);
        m_u32(&mc, "gpt2.context_length", (uint32_t)c->max_positions);
        m_u32(&mc, "gpt2.embedding_length", (uint32_t)C);
        m_u32(&mc, "gpt2.feed_forward_length", (uint32_t)F);
        m_u32(&mc, "gpt2.block_count", (uint32_t)c->n_layers);
        m_u32(&mc, "gpt2.attention.head_count", (uint32_t)c->n_heads);
        m_f32(&mc, "gpt2.attention.layer_norm_epsilon", c->norm_eps);
        return mc.rc;
}

static int
plan_hf(socfw_model *m, const char *in, socfw_gguf_writer *w, out_list *l,
        plan *p, socfw_error *err)
{
        const socfw_model_config *c = socfw_model_config_of(m);
        if (c->arch != SOCFW_ARCH_LLAMA && c->arch != SOCFW_ARCH_GPT2)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "quantize: %s is a %s model; socfw "
                                       "writes GPT-2, Llama and Qwen2 GGUF "
                                       "files (hint: encoders are not "
                                       "supported)", in,
                                       socfw_arch_name(c->arch));
        int rc;
        meta_ctx mc = {w, err, 0};
        if (c->arch == SOCFW_ARCH_GPT2) {
                rc = plan_gpt2(m, in, w, l, p, err);
                if (rc < 0)
                        return rc;
                goto tokenizer;
        }
        const char *arch = c->attn_bias ? "qwen2" : "llama";
        int permute = !c->attn_bias;    /* llama.cpp permutes llama Q/K */
        int64_t C = c->hidden, F = c->ffn;
        int64_t qd = (int64_t)c->n_heads * c->head_dim;
        int64_t kd = (int64_t)c->n_kv_heads * c->head_dim;
        p->n_layers = c->n_layers;
        p->has_output = !c->tie_embeddings;
#define P(g, hf, d0, d1, perm)                                                \
        if ((rc = add_param(l, m, g, i, hf, d0, d1, perm, err)) < 0)          \
                return rc
        int i = 0;
        P("token_embd.weight", "embed_tokens.weight", c->vocab_size, C, 0);
        for (i = 0; i < c->n_layers; i++) {
                P("blk.%d.attn_norm.weight", "layers.%d.input_layernorm.weight",
                  C, 0, 0);
                P("blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight",
                  qd, C, permute ? c->n_heads : 0);
                P("blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight",
                  kd, C, permute ? c->n_kv_heads : 0);
                P("blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight",
                  kd, C, 0);
                if (c->attn_bias) {
                        P("blk.%d.attn_q.bias",
                          "layers.%d.self_attn.q_proj.bias", qd, 0, 0);
                        P("blk.%d.attn_k.bias",
                          "layers.%d.self_attn.k_proj.bias", kd, 0, 0);
                        P("blk.%d.attn_v.bias",
                          "layers.%d.self_attn.v_proj.bias", kd, 0, 0);
                }
                P("blk.%d.attn_output.weight",
                  "layers.%d.self_attn.o_proj.weight", C, qd, 0);
                P("blk.%d.ffn_norm.weight",
                  "layers.%d.post_attention_layernorm.weight", C, 0, 0);
                P("blk.%d.ffn_gate.weight", "layers.%d.mlp.gate_proj.weight",
                  F, C, 0);
                P("blk.%d.ffn_up.weight", "layers.%d.mlp.up_proj.weight", F,
                  C, 0);
                P("blk.%d.ffn_down.weight", "layers.%d.mlp.down_proj.weight",
                  C, F, 0);
        }
        i = 0;
        P("output_norm.weight", "norm.weight", C, 0, 0);
        if (!c->tie_embeddings)
                P("output.weight", "lm_head.weight", c->vocab_size, C, 0);
#undef P
        /* scaled RoPE frequencies travel as llama.cpp's divisors */
        int nf = 0;
        const float *inv = socfw_model_rope_inv_freq(m, &nf);
        if (inv && nf > 0 && c->rope_scaling != SOCFW_ROPE_SCALING_LINEAR) {
                out_tensor *t = out_add(l, "rope_freqs.weight");
                float *f = malloc((size_t)nf * sizeof *f);
                if (!t || !f) {
                        free(f);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                }
                for (int k = 0; k < nf; k++)
                        f[k] = (float)(1.0 / pow((double)c->rope_theta,
                                                 2.0 * k / c->head_dim) /
                                       inv[k]);
                t->f32 = t->owned = f;
                t->ndim = 1;
                t->shape[0] = nf;
                t->shape[1] = 1;
        }

        char key[128];
#define K(s) (snprintf(key, sizeof key, "%s.%s", arch, s), key)
        m_str(&mc, "general.architecture", arch);
        const char *base = strrchr(in, '/');
        m_str(&mc, "general.name", base && base[1] ? base + 1 : in);
        m_u32(&mc, K("context_length"), (uint32_t)c->max_positions);
        m_u32(&mc, K("embedding_length"), (uint32_t)C);
        m_u32(&mc, K("block_count"), (uint32_t)c->n_layers);
        m_u32(&mc, K("feed_forward_length"), (uint32_t)F);
        m_u32(&mc, K("attention.head_count"), (uint32_t)c->n_heads);
        m_u32(&mc, K("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
        m_f32(&mc, K("attention.layer_norm_rms_epsilon"), c->norm_eps);
        m_f32(&mc, K("rope.freq_base"), c->rope_theta);
        m_u32(&mc, K("rope.dimension_count"), (uint32_t)c->head_dim);
        if ((int64_t)c->head_dim * c->n_heads != C) {
                m_u32(&mc, K("attention.key_length"), (uint32_t)c->head_dim);
                m_u32(&mc, K("attention.value_length"),
                      (uint32_t)c->head_dim);
        }
        m_u32(&mc, K("vocab_size"), (uint32_t)c->vocab_size);
        if (c->rope_scaling == SOCFW_ROPE_SCALING_LINEAR) {
                m_str(&mc, K("rope.scaling.type"), "linear");
                m_f32(&mc, K("rope.scaling.factor"), c->rope_factor);
        }
#undef K
        if (mc.rc < 0)
                return mc.rc;
tokenizer:;
        socfw_tokenizer *tok = NULL;
        socfw_error terr = {0};
        if (socfw_tokenizer_load(&tok, in, &terr) == 0 &&
            socfw_tokenizer_get_kind(tok) == SOCFW_TOKENIZER_WORDPIECE) {
                fprintf(stderr, "socfw: notice: %s: a WordPiece tokenizer "
                        "is not written to Llama GGUF files\n", in);
        } else if (tok) {
                size_t nt = socfw_tokenizer_vocab_size(tok);
                if (nt < (size_t)c->vocab_size)
                        fprintf(stderr,
                                "socfw: notice: the tokenizer has %zu tokens "
                                "and the model %d embedding rows: padded "
                                "with unused [PAD] tokens\n", nt,
                                c->vocab_size);
                else if (nt > (size_t)c->vocab_size)
                        fprintf(stderr,
                                "socfw: notice: the tokenizer has %zu tokens, "
                                "more than the model's %d embedding rows "
                                "(llama.cpp will refuse the file)\n", nt,
                                c->vocab_size);
                tokenizer_meta(&mc, tok, (size_t)c->vocab_size);
        } else {
                fprintf(stderr,
                        "socfw: notice: %s has no tokenizer socfw reads (%s); "
                        "the GGUF gets none, so llama.cpp will not load it "
                        "(socfw still runs it on token ids)\n",
                        in, terr.message);
                if (c->bos_id >= 0)
                        m_u32(&mc, "tokenizer.ggml.bos_token_id",
                              (uint32_t)c->bos_id);
                if (c->eos_id >= 0)
                        m_u32(&mc, "tokenizer.ggml.eos_token_id",
                              (uint32_t)c->eos_id);
        }
        socfw_tokenizer_free(tok);
        return mc.rc;
}

/* ---- from a GGUF file ---- */

static int
plan_gguf(const socfw_modelfile *mf, socfw_gguf_writer *w, out_list *l,
          plan *p, socfw_error *err)
{
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < socfw_modelfile_meta_count(mf);
             i++) {
                const char *k = socfw_modelfile_meta_key(mf, i);
                if (!strcmp(k, "general.file_type") ||
                    !strcmp(k, "general.quantization_version") ||
                    !strcmp(k, "general.alignment"))
                        continue;
                rc = socfw_gguf_writer_copy_meta(w, mf, k, err);
        }
        p->has_output = socfw_modelfile_find(mf, "output.weight") != NULL;
        const char *arch = NULL;
        if (socfw_modelfile_get_string(mf, "general.architecture", &arch,
                                       NULL, NULL) == 0) {
                char key[128];
                int64_t v;
                snprintf(key, sizeof key, "%s.block_count", arch);
                if (socfw_modelfile_get_int(mf, key, &v, NULL) == 0 &&
                    v > 0 && v < (1 << 20))
                        p->n_layers = (int)v;
        }
        for (size_t i = 0; rc == 0 && i < socfw_modelfile_n_tensors(mf);
             i++) {
                const socfw_tensor_info *s = socfw_modelfile_tensor(mf, i);
                if (s->ndim > 2 || strlen(s->name) >= 64) {
                        rc = socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                             "quantize: tensor '%s' has %d "
                                             "dimensions (at most 2 are "
                                             "supported)", s->name, s->ndim);
                        break;
                }
                out_tensor *t = out_add(l, s->name);
                if (!t)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "out of memory");
                t->src = s;
                t->ndim = s->ndim < 1 ? 1 : s->ndim;
                t->shape[0] = s->ndim >= 1 ? s->shape[0] : 1;
                t->shape[1] = s->ndim == 2 ? s->shape[1] : 1;
        }
        return rc;
}

/* ---- writing ---- */

static int
write_all(socfw_gguf_writer *w, const socfw_modelfile *mf, out_list *l,
          const char *out, socfw_error *err)
{
        int rc = socfw_gguf_writer_begin(w, out, err);
        float *rows = NULL, *perm = NULL;
        uint8_t *q = NULL;
        size_t cap_f = 0, cap_q = 0;
        for (size_t i = 0; rc == 0 && i < l->n; i++) {
                out_tensor *t = &l->v[i];
                int64_t rl = t->ndim == 2 ? t->shape[1] : t->shape[0];
                int64_t nr = t->ndim == 2 ? t->shape[0] : 1;
                size_t n = (size_t)(rl * nr), nbytes;
                rc = socfw_dtype_nbytes(t->type, n, &nbytes);
                if (rc < 0) {
                        rc = socfw_error_set(err, SOCFW_EINVAL,
                                             "quantize: tensor '%s': bad "
                                             "size", t->name);
                        break;
                }
                /* an input tensor already in its target type: as is */
                if (t->src && t->src->dtype == t->type) {
                        rc = socfw_gguf_writer_write_tensor(w, t->src->data,
                                                            nbytes, err);
                        continue;
                }
                if (n > cap_f) {
                        free(rows);
                        free(perm);
                        rows = malloc(n * sizeof *rows);
                        perm = malloc(n * sizeof *perm);
                        cap_f = n;
                }
                if (nbytes > cap_q) {
                        free(q);
                        q = malloc(nbytes);
                        cap_q = nbytes;
                }
                if (!rows || !perm || (!q && nbytes)) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        break;
                }
                const float *x = t->f32;
                if (t->src) {
                        rc = socfw_modelfile_read_f32(mf, t->src, rows, n,
                                                      err);
                        x = rows;
                }
                if (rc == 0 && t->permute_heads > 0) {
                        permute_rows(x, perm, nr, rl, t->permute_heads);
                        x = perm;
                }
                if (rc == 0 && t->transpose) {
                        for (int64_t r = 0; r < nr; r++)
                                for (int64_t k = 0; k < rl; k++)
                                        perm[r * rl + k] = x[k * nr + r];
                        x = perm;
                }
                if (rc == 0)
                        rc = socfw_quantize_rows(t->type, x, nr, rl, q, nbytes,
                                                 t->name, err);
                if (rc == 0)
                        rc = socfw_gguf_writer_write_tensor(w, q, nbytes,
                                                            err);
        }
        if (rc == 0)
                rc = socfw_gguf_writer_commit(w, err);
        free(rows);
        free(perm);
        free(q);
        return rc;
}

int
cli_cmd_quantize(int argc, char **argv)
{
        static const struct option opts[] = {
                {"type", required_argument, NULL, 't'},
                {"force", no_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        const char *type = NULL;
        int force = 0, c;
        while ((c = getopt_long(argc, argv, "t:fh", opts, NULL)) != -1) {
                switch (c) {
                case 't': type = optarg; break;
                case 'f': force = 1; break;
                case 'h': fputs(quantize_usage, stdout); return CLI_OK;
                default: return cli_usage("quantize", "unknown option");
                }
        }
        if (argc - optind != 2)
                return cli_usage("quantize", "expected IN and OUT");
        const char *in = argv[optind], *out = argv[optind + 1];
        plan p = {0};
        if (!type)
                return cli_usage("quantize", "--type is required");
        if (socfw_quantize_type_from_name(type, &p.base) < 0 ||
            p.base == SOCFW_DTYPE_Q2_K || p.base == SOCFW_DTYPE_Q3_K)
                return cli_usage("quantize",
                                 "--type: unknown type '%s' (f32 f16 bf16 "
                                 "q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k)",
                                 type);
        struct stat st;
        if (!force && stat(out, &st) == 0) {
                cli_errorf("%s exists (hint: --force replaces it)", out);
                return CLI_FAIL;
        }

        socfw_error err = {0};
        socfw_modelfile *mf = NULL;
        socfw_model *m = NULL;
        socfw_gguf_writer *w = NULL;
        out_list l = {0};
        int rc = socfw_modelfile_open(&mf, in, &err);
        if (rc == 0)
                rc = socfw_gguf_writer_new(&w, &err);
        if (rc < 0)
                goto out;
        if (socfw_modelfile_format_of(mf) == SOCFW_MODELFILE_GGUF) {
                rc = plan_gguf(mf, w, &l, &p, &err);
        } else {
                rc = socfw_model_load_modelfile(&m, mf, NULL, &err);
                if (rc == 0)
                        rc = plan_hf(m, in, w, &l, &p, &err);
        }
        if (rc == 0)
                rc = socfw_gguf_writer_set_u32(w, "general.quantization_version",
                                               2, &err);
        if (rc == 0)
                rc = socfw_gguf_writer_set_u32(w, "general.file_type",
                                               file_type_of(p.base), &err);
        int64_t in_params = 0, counts[SOCFW_DTYPE_COUNT] = {0};
        for (size_t i = 0; rc == 0 && i < l.n; i++) {
                out_tensor *t = &l.v[i];
                t->type = choose_type(&p, t->name, t->ndim, t->ndim == 2
                                                           ? t->shape[1]
                                                           : t->shape[0]);
                rc = socfw_gguf_writer_add_tensor(w, t->name, t->type,
                                                  t->ndim, t->shape, &err);
                counts[t->type]++;
                in_params += t->shape[0] * t->shape[1];
        }
        if (rc == 0)
                rc = write_all(w, mf, &l, out, &err);
        if (rc == 0) {
                fprintf(stderr, "socfw: wrote %s: %zu tensors, %lld "
                        "parameters (", out, l.n, (long long)in_params);
                const char *sep = "";
                for (int t = 0; t < SOCFW_DTYPE_COUNT; t++)
                        if (counts[t]) {
                                fprintf(stderr, "%s%lld %s", sep,
                                        (long long)counts[t],
                                        socfw_dtype_name((socfw_dtype)t));
                                sep = ", ";
                        }
                fprintf(stderr, ")%s\n", p.n_fallback ? "; see the notices "
                                                        "above" : "");
        }
out:
        if (rc < 0)
                cli_error(&err);
        for (size_t i = 0; i < l.n; i++)
                free(l.v[i].owned);
        free(l.v);
        socfw_gguf_writer_free(w);
        socfw_model_free(m);
        socfw_modelfile_close(mf);
        return rc < 0 ? CLI_FAIL : CLI_OK;
}
