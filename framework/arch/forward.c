/* forward.c - training forward and backward of the socfw backbones, the LM
 * logits projection and the encoder pooler.
 *
 * Activations are batch-contiguous (B,T,C) rows, N = B*T; every projection
 * is one sgemm over all N rows (socfw_nn_matmul_*).  The workspace keeps,
 * per block, what backward needs (see arch_layer_ws) and is allocated once
 * for the largest B*T seen.  socfw_context_forward_runs is the same
 * forward with the adapters of runs of sequences at the sites (block.c),
 * for inference. */
#include "arch_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peft/peft_internal.h"
#include "socfw/log.h"

#define W(i) arch_w(m, (i))   /* parameter data         */
#define G(i) arch_g(m, (i))   /* its gradient or NULL   */

#define WS_MAX_BYTES ((size_t)1 << 38)  /* refuse workspaces over 256 GiB */

/* ---- workspace ---------------------------------------------------------- */

void
arch_ws_free(arch_ws *ws)
{
        free(ws->fbuf);
        free(ws->dbuf);
        free(ws->ibuf);
        free(ws->abuf);
        free(ws->layers);
        free(ws->pool_in);
        memset(ws, 0, sizeof *ws);
}

static size_t
rup(size_t n)
{
        return (n + 15) & ~(size_t)15;
}

/* Lay out every float buffer for N rows starting at `base`, or, with base
 * NULL, only count (pointers then go to a throw-away copy).  Returns the
 * number of floats needed. */
static size_t
ws_layout(const socfw_model *m, arch_ws *real, float *base, size_t N)
{
        const socfw_model_config *c = &m->cfg;
        size_t C = (size_t)c->hidden, F = (size_t)c->ffn;
        size_t qd = (size_t)arch_qd(c), kd = (size_t)arch_kd(c);
        int gpt2 = c->arch == SOCFW_ARCH_GPT2;
        int llama = c->arch == SOCFW_ARCH_LLAMA;
        int bert = !gpt2 && !llama;
        size_t qsz = gpt2 ? 3 * C : qd, ksz = gpt2 ? 0 : kd;
        arch_ws dummy;
        arch_ws *ws = base ? real : &dummy;
        size_t total = 0;
#define T(n) (total += rup(n), base ? base + total - rup(n) : NULL)
        for (int l = 0; l < c->n_layers; l++) {
                arch_layer_ws lw;
                memset(&lw, 0, sizeof lw);
                lw.a_in = bert ? NULL : T(N * C);
                lw.mean1 = T(N);
                lw.rstd1 = T(N);
                lw.q = T(N * qsz);
                lw.k = ksz ? T(N * ksz) : NULL;
                lw.v = ksz ? T(N * ksz) : NULL;
                lw.atty = T(N * qd);
                lw.s1 = bert ? T(N * C) : NULL;
                lw.mid = T(N * C);
                lw.m_in = bert ? NULL : T(N * C);
                lw.mean2 = T(N);
                lw.rstd2 = T(N);
                lw.fc = T(N * F);
                lw.up = llama ? T(N * F) : NULL;
                lw.act = T(N * F);
                lw.s2 = bert ? T(N * C) : NULL;
                lw.out = T(N * C);
                if (gpt2 && base) {     /* k, v live inside the fused qkv */
                        lw.k = lw.q + C;
                        lw.v = lw.q + 2 * C;
                }
                if (base)
                        ws->layers[l] = lw;     /* att is set by ws_ensure */
        }
        ws->emb_sum = bert ? T(N * C) : NULL;
        ws->emb_mean = T(N);
        ws->emb_rstd = T(N);
        ws->res0 = T(N * C);
        ws->fin_mean = T(N);
        ws->fin_rstd = T(N);
        ws->d0 = T(N * C);
        ws->d1 = T(N * C);
        ws->d2 = T(N * C);
        ws->dtmp = T(N * C);
        ws->tmp = T(N * C);
        ws->dq = T(N * qsz);
        ws->dk = ksz ? T(N * ksz) : NULL;
        ws->dv = ksz ? T(N * ksz) : NULL;
        if (gpt2 && base) {
                ws->dk = ws->dq + C;
                ws->dv = ws->dq + 2 * C;
        }
        ws->datty = T(N * qd);
        ws->dfc = T(N * F);
        ws->dup = llama ? T(N * F) : NULL;
        ws->dact = T(N * F);
#undef T
        return total;
}

static int
ws_ensure(socfw_context *cx, const socfw_adapter *a, int B, int T,
          int need_drop, socfw_error *err)
{
        socfw_model *m = cx->m;
        arch_ws *ws = &cx->ws;
        const socfw_model_config *c = &m->cfg;
        size_t N = (size_t)B * (size_t)T;
        /* a prefix adapter's rows are keys too: (B,H,T,P+T) probabilities */
        size_t Tk = (size_t)T + (size_t)socfw_adapter_prefix_length(a);
        size_t bht = (size_t)B * (size_t)c->n_heads * (size_t)T * Tk;
        size_t NC = N * (size_t)c->hidden;
        if (N > (size_t)1 << 24 || bht > (size_t)INT32_MAX)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "batch B=%d T=%d is too large "
                                       "(B*T <= 2^24, B*heads*T*T < 2^31)",
                                       B, T);
        if (N > (size_t)ws->cap_n || bht > (size_t)ws->cap_bht) {
                size_t nf = ws_layout(m, ws, NULL, N);
                size_t na = bht * (size_t)c->n_layers;
                if ((nf + na) > WS_MAX_BYTES / sizeof(float))
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model forward: workspace "
                                               "for B=%d T=%d would exceed "
                                               "256 GiB", B, T);
                free(ws->fbuf);
                free(ws->abuf);
                free(ws->ibuf);
                ws->fbuf = NULL;
                ws->abuf = NULL;
                ws->ibuf = NULL;
                ws->cap_n = ws->cap_bht = 0;
                ws->valid = 0;
                if (!ws->layers)
                        ws->layers = calloc((size_t)c->n_layers,
                                            sizeof *ws->layers);
                void *fp = NULL, *ap = NULL;
                if (!ws->layers ||
                    posix_memalign(&fp, 64, nf * sizeof(float)) ||
                    posix_memalign(&ap, 64, na * sizeof(float))) {
                        free(fp);
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model forward: cannot "
                                               "allocate the workspace for "
                                               "B=%d T=%d", B, T);
                }
                ws->fbuf = fp;
                ws->abuf = ap;
                ws->ibuf = malloc(4 * N * sizeof(int32_t));
                if (!ws->ibuf)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model forward: out of "
                                               "memory");
                ws_layout(m, ws, ws->fbuf, N);
                for (int l = 0; l < c->n_layers; l++)
                        ws->layers[l].att = ws->abuf + (size_t)l * bht;
                ws->ids = ws->ibuf;
                ws->mask = ws->ibuf + N;
                ws->types = ws->ibuf + 2 * N;
                ws->pos = ws->ibuf + 3 * N;
                ws->cap_n = (int)N;
                ws->cap_bht = (int)bht;
        }
        if (need_drop && N > (size_t)ws->cap_drop) {
                free(ws->dbuf);
                ws->cap_drop = 0;
                ws->dbuf = malloc(NC * (size_t)(1 + 2 * c->n_layers));
                if (!ws->dbuf)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model forward: out of "
                                               "memory for dropout masks");
                ws->cap_drop = (int)N;
        }
        /* Mask pointers are set for this N on every training call: the
         * layout above clears them (an eval forward may re-lay out the
         * buffers without dropout), and a stride from an earlier, smaller
         * N would make the masks of one call overlap. */
        if (need_drop) {
                ws->drop0 = ws->dbuf;
                for (int l = 0; l < c->n_layers; l++) {
                        ws->layers[l].drop1 = ws->dbuf + NC * (1 + 2 * l);
                        ws->layers[l].drop2 = ws->dbuf + NC * (2 + 2 * l);
                }
        }
        return 0;
}

/* ---- contexts ----------------------------------------------------------- */

int
socfw_context_new(socfw_context **out, socfw_model *m, socfw_error *err)
{
        *out = calloc(1, sizeof **out);
        if (!*out)
                return socfw_error_set(err, SOCFW_ENOMEM, "model context: "
                                       "out of memory");
        (*out)->m = m;
        return 0;
}

void
socfw_context_free(socfw_context *c)
{
        if (!c)
                return;
        arch_ws_free(&c->ws);
        peft_saved_clear(&c->saved);
        peft_scratch_set_clear(&c->scr);
        free(c->runs);
        free(c);
}

socfw_context *
arch_ctx0(socfw_model *m)
{
        if (!m->ctx0 && socfw_context_new(&m->ctx0, m, NULL) < 0)
                return NULL;
        return m->ctx0;
}

/* ---- forward ------------------------------------------------------------ */

/* Prompt adapter a's P rows in place of the word embeddings of the first
 * P rows of each of the B sequences of T rows in x (B,T,C). */
static void
prompt_rows(socfw_context *cx, const socfw_adapter *a, float *x, int B,
            int T)
{
        int P = cx->ws.prompt, C = cx->m->cfg.hidden;
        const float *e = peft_prompt(a);
        if (!P || !e)
                return;
        for (int b = 0; b < B; b++)
                memcpy(x + (size_t)b * T * C, e, (size_t)P * C * sizeof *e);
}

/* An embedding LoRA on the word embeddings w (B*T rows): the adapter a of
 * every row, or each run's on its rows. */
static int
embed_lora(socfw_context *cx, const socfw_adapter *a, const peft_run *runs,
           int n_runs, float *w, int N)
{
        return runs ? peft_runs_embed_forward(runs, n_runs, cx->ws.ids, w,
                                              cx->m->cfg.hidden, &cx->scr)
                    : peft_embed_forward(a, cx->ws.ids, w, N, &cx->scr);
}

/* The embeddings of the B sequences of T rows in cx's workspace, with
 * the adapter of every row a, or each run's on its rows (prompt rows,
 * positions after a prefix, an embedding LoRA). */
static int
embed_forward(socfw_context *cx, const socfw_adapter *a, const peft_run *runs,
              int n_runs, int B, int T, float p, socfw_rng *rng,
              socfw_error *err)
{
        socfw_model *m = cx->m;
        const socfw_model_config *c = &m->cfg;
        arch_ws *ws = &cx->ws;
        int N = B * T, C = c->hidden;
        float *x = ws->res0;
        int rc = 0;
        switch (c->arch) {
        case SOCFW_ARCH_GPT2:
                socfw_nn_embedding_forward(x, ws->ids, arch_w(m, m->tok_emb),
                                           N, c->vocab_size, C);
                rc = embed_lora(cx, a, runs, n_runs, x, N);
                prompt_rows(cx, a, x, B, T);
                if (rc < 0)
                        break;
                rc = socfw_nn_positional_forward(
                        x, arch_w(m, m->pos_emb), B, T, C,
                        socfw_adapter_prefix_length(a), c->max_positions);
                break;
        case SOCFW_ARCH_LLAMA:
                arch_embed(m, x, ws->ids, N);
                rc = embed_lora(cx, a, runs, n_runs, x, N);
                prompt_rows(cx, a, x, B, T);
                break;
        case SOCFW_ARCH_BERT:
        case SOCFW_ARCH_ROBERTA:
                arch_embed(m, ws->emb_sum, ws->ids, N);
                rc = embed_lora(cx, a, runs, n_runs, ws->emb_sum, N);
                prompt_rows(cx, a, ws->emb_sum, B, T);
                if (rc < 0)
                        break;
                rc = socfw_nn_embedding_add_forward(ws->emb_sum, ws->pos,
                                                    arch_w(m, m->pos_emb), N,
                                                    c->max_positions, C);
                if (rc == 0)
                        rc = socfw_nn_embedding_add_forward(
                                ws->emb_sum, ws->types,
                                arch_w(m, m->type_emb), N,
                                c->type_vocab_size, C);
                socfw_nn_layernorm_forward(x, ws->emb_mean, ws->emb_rstd,
                                           ws->emb_sum,
                                           arch_w(m, m->emb_ln_w),
                                           arch_w(m, m->emb_ln_b), N, C,
                                           c->norm_eps);
                break;
        }
        if (rc == SOCFW_ENOMEM)
                return socfw_error_set(err, rc, "model forward: out of "
                                       "memory for the embedding adapter");
        if (rc < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "position or token type out of "
                                       "range");
        if (p > 0.0f && socfw_nn_dropout_forward(x, ws->drop0, x,
                                                 (size_t)N * C, p, rng) < 0)
                return socfw_error_set(err, SOCFW_ESTATE, "model forward: "
                                       "no dropout mask buffer");
        return 0;
}

static int context_forward(socfw_context *cx, socfw_adapter *a,
                           const peft_run *runs, int n_runs, int keep,
                           const int32_t *ids, const int32_t *mask,
                           const int32_t *token_types, int B, int T,
                           bool training, float dropout, socfw_rng *rng,
                           float *hidden, socfw_error *err);

int
socfw_model_forward(socfw_model *m, const int32_t *ids, const int32_t *mask,
                    const int32_t *token_types, int B, int T, bool training,
                    float dropout, socfw_rng *rng, float *hidden,
                    socfw_error *err)
{
        socfw_context *cx = arch_ctx0(m);
        if (!cx)
                return socfw_error_set(err, SOCFW_ENOMEM, "model forward: "
                                       "out of memory");
        /* one caller at a time here: a projected prefix's rows from its
         * tensors as they are now */
        peft_proj_refresh(cx->adapter, 1);
        return context_forward(cx, cx->adapter, NULL, 0, 1, ids, mask,
                               token_types, B, T, training, dropout, rng,
                               hidden, err);
}

/* The forward of B sequences of T tokens on cx: with `a` the adapter of
 * every sequence, or (runs) the adapters of runs of them at the sites,
 * a pass that keeps nothing for backward.  keep: the adapter's
 * activations for backward are kept in cx->saved (cx's own: contexts over
 * one adapter keep apart); otherwise the adapter works in cx's scratch,
 * sparing that memory (an inference pass: IA3 would keep every block's
 * rows at three sites), and a backward of this pass is refused. */
static int
context_forward(socfw_context *cx, socfw_adapter *a, const peft_run *runs,
                int n_runs, int keep, const int32_t *ids, const int32_t *mask,
                const int32_t *token_types, int B, int T, bool training,
                float dropout, socfw_rng *rng, float *hidden,
                socfw_error *err)
{
        socfw_model *m = cx->m;
        const socfw_model_config *c = &m->cfg;
        arch_ws *ws = &cx->ws;
        float p = training ? dropout : 0.0f;
        int rc;
        if (!ids || !hidden || B < 1 || T < 1)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "bad arguments (B=%d, T=%d)", B, T);
        if (training && a && !rng &&
            socfw_adapter_config_of(a)->dropout > 0.0f)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "the attached adapter's LoRA dropout "
                                       "%g needs an rng",
                                       (double)socfw_adapter_config_of(a)
                                               ->dropout);
        if (!(p >= 0.0f && p < 1.0f) || (p > 0.0f && !rng))
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "dropout %g needs 0 <= p < 1 and an "
                                       "rng", (double)dropout);
        /* after a prefix adapter's rows, real tokens start at position P */
        int pre = socfw_adapter_prefix_length(a);
        peft_proj_refresh(a, 0);
        if (c->arch != SOCFW_ARCH_LLAMA && T + pre > c->max_positions)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "sequence length %d (after %d "
                                       "prefix rows) exceeds the model's "
                                       "%d positions; hint: truncate the "
                                       "input", T, pre, c->max_positions);
        /* a prompt adapter's P rows run in front of every sequence: the
         * blocks see B sequences of Tr = P + T rows, the caller the last
         * T rows of each */
        int P = socfw_adapter_prompt_length(a);
        if (c->arch != SOCFW_ARCH_LLAMA && T + P > c->max_positions)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "sequence length %d (after %d "
                                       "virtual tokens) exceeds the "
                                       "model's %d positions; hint: "
                                       "truncate the input", T, P,
                                       c->max_positions);
        int N = B * T;
        for (int i = 0; i < N; i++)
                if (ids[i] < 0 || ids[i] >= c->vocab_size)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "model forward: token id %d "
                                               "at (%d,%d) is outside the "
                                               "vocabulary [0,%d)", ids[i],
                                               i / T, i % T, c->vocab_size);
        if (token_types && c->type_vocab_size > 0)
                for (int i = 0; i < N; i++)
                        if (token_types[i] < 0 ||
                            token_types[i] >= c->type_vocab_size)
                                return socfw_error_set(
                                        err, SOCFW_EINVAL,
                                        "model forward: token type %d at "
                                        "(%d,%d) is outside [0,%d)",
                                        token_types[i], i / T, i % T,
                                        c->type_vocab_size);
        int Tr = T + P;
        rc = ws_ensure(cx, a, B, Tr, p > 0.0f, err);
        if (rc < 0)
                return rc;
        ws->valid = 0;
        ws->prompt = P;
        ws->have_mask = mask != NULL;
        /* row (b, t) of the blocks is the caller's (b, t - P); virtual
         * rows: word embedding 0 (replaced), never masked, token type 0 */
        for (int b = 0; b < B; b++)
                for (int t = 0; t < Tr; t++) {
                        int i = b * Tr + t, src = b * T + t - P;
                        ws->ids[i] = t < P ? 0 : ids[src];
                        ws->mask[i] = t < P || !mask || mask[src] != 0;
                        ws->types[i] = t < P || !token_types
                                               ? 0
                                               : token_types[src];
                }
        if (c->arch == SOCFW_ARCH_ROBERTA) {
                /* HF create_position_ids_from_input_ids; virtual tokens
                 * count as tokens */
                for (int b = 0; b < B; b++) {
                        int n = 0;
                        for (int t = 0; t < Tr; t++) {
                                int i = b * Tr + t;
                                int tok = t < P || ws->ids[i] != c->pad_id;
                                if (tok)
                                        n++;
                                ws->pos[i] = tok
                                                     ? n + c->pad_id + pre
                                                     : c->pad_id;
                                if (ws->pos[i] >= c->max_positions)
                                        return socfw_error_set(
                                                err, SOCFW_EINVAL,
                                                "model forward: sequence %d "
                                                "needs position %d, the "
                                                "model has %d", b,
                                                ws->pos[i],
                                                c->max_positions);
                        }
                }
        } else {
                for (int i = 0; i < B * Tr; i++)
                        ws->pos[i] = i % Tr + pre;
        }
        rc = embed_forward(cx, a, runs, n_runs, B, Tr, p, rng, err);
        if (rc < 0)
                return rc;
        peft_saved *kept = keep && a && !runs ? &cx->saved : NULL;
        if (kept && peft_saved_begin(kept, a) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model forward: "
                                       "out of memory for the adapter's "
                                       "activations");
        const float *x = ws->res0;
        arch_pass ap = {.B = B, .T = Tr, .drop = p, .training = training,
                        .rng = rng, .mask = ws->have_mask ? ws->mask : NULL,
                        .keep = kept, .pos0 = pre, .adapter = a,
                        .runs = runs, .n_runs = n_runs, .scr = &cx->scr};
        for (int l = 0; l < c->n_layers; l++) {
                rc = arch_block_forward(m, l, x, &ws->layers[l], ws->tmp,
                                        &ap);
                if (rc < 0)
                        return socfw_error_set(err, rc, "model forward: "
                                               "layer %d failed (bad "
                                               "dimensions)", l);
                x = ws->layers[l].out;
        }
        size_t NC = (size_t)N * c->hidden;
        int Nr = B * Tr;
        /* with a prompt: all rows into the scratch, the real ones out */
        float *out = P ? ws->tmp : hidden;
        if (c->arch == SOCFW_ARCH_GPT2)
                socfw_nn_layernorm_forward(out, ws->fin_mean, ws->fin_rstd,
                                           x, arch_w(m, m->fin_w),
                                           arch_w(m, m->fin_b), Nr,
                                           c->hidden, c->norm_eps);
        else if (c->arch == SOCFW_ARCH_LLAMA)
                socfw_nn_rmsnorm_forward(out, ws->fin_rstd, x,
                                         arch_w(m, m->fin_w), Nr, c->hidden,
                                         c->norm_eps);
        else if (P)
                out = (float *)x;
        else
                memcpy(hidden, x, NC * sizeof *hidden);
        if (P)
                for (int b = 0; b < B; b++)
                        memcpy(hidden + (size_t)b * T * c->hidden,
                               out + ((size_t)b * Tr + P) * c->hidden,
                               (size_t)T * c->hidden * sizeof *hidden);
        ws->B = B;
        ws->T = Tr;
        ws->drop_p = p;
        ws->valid = !runs && (kept || !a);  /* or the adapters kept nothing */
        return 0;
}

int
socfw_context_forward(socfw_context *cx, const int32_t *ids,
                      const int32_t *mask, const int32_t *token_types, int B,
                      int T, bool training, float dropout, socfw_rng *rng,
                      float *hidden, socfw_error *err)
{
        return context_forward(cx, cx->adapter, NULL, 0, training, ids,
                               mask, token_types, B, T, training, dropout,
                               rng, hidden, err);
}

int
socfw_context_forward_runs(socfw_context *cx, const socfw_adapter_run *runs,
                           int n_runs, const int32_t *ids,
                           const int32_t *mask, const int32_t *token_types,
                           int B, int T, float *hidden, socfw_error *err)
{
        if (!runs || n_runs < 1 || B < 1 || T < 1)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "bad arguments (%d adapter runs, "
                                       "B=%d, T=%d)", n_runs, B, T);
        if (n_runs > cx->runs_cap) {
                peft_run *r = realloc(cx->runs, (size_t)n_runs * sizeof *r);
                if (!r)
                        return socfw_error_set(err, SOCFW_ENOMEM, "model "
                                               "forward: out of memory");
                cx->runs = r;
                cx->runs_cap = n_runs;
        }
        int b0 = 0;
        for (int i = 0; i < n_runs; i++) {
                socfw_adapter *a = runs[i].adapter;
                if (runs[i].n_seqs < 1 || runs[i].n_seqs > B - b0)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "forward: adapter run %d "
                                               "has %d sequences, %d of "
                                               "the batch's %d are left; "
                                               "hint: runs cover the batch, "
                                               "each at least one sequence",
                                               i, runs[i].n_seqs, B - b0, B);
                if (!socfw_adapter_mixes(a))
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "forward: adapter run %d is "
                                               "a %s adapter, which changes "
                                               "the sequence; hint: run its "
                                               "sequences in a forward of "
                                               "their own "
                                               "(socfw_context_attach)",
                                               i, socfw_adapter_type_name(
                                                  socfw_adapter_config_of(a)
                                                          ->type));
                if (a) {
                        int rc = peft_shape_check(a, cx->m, err);
                        if (rc < 0)
                                return rc;
                }
                /* the runs by rows: no prompt, so T rows a sequence */
                cx->runs[i] = (peft_run){a, b0 * T, runs[i].n_seqs * T};
                b0 += runs[i].n_seqs;
        }
        if (b0 != B)
                return socfw_error_set(err, SOCFW_EINVAL, "model forward: "
                                       "the adapter runs cover %d "
                                       "sequences of the batch's %d; hint: "
                                       "one run for every sequence", b0, B);
        return context_forward(cx, NULL, cx->runs, n_runs, 0, ids, mask,
                               token_types, B, T, false, 0.0f, NULL, hidden,
                               err);
}

/* ---- backward ----------------------------------------------------------- */

static int
embed_backward(socfw_context *cx, const float *dx)
{
        socfw_model *m = cx->m;
        const socfw_model_config *c = &m->cfg;
        arch_ws *ws = &cx->ws;
        int B = ws->B, T = ws->T, N = B * T, C = c->hidden;
        size_t NC = (size_t)N * C;
        const float *dd = arch_drop_bw(ws, dx, ws->drop0, NC);
        float *g;
        if (c->arch == SOCFW_ARCH_BERT || c->arch == SOCFW_ARCH_ROBERTA) {
                arch_zero(ws->d1, NC);
                socfw_nn_layernorm_backward(ws->d1, G(m->emb_ln_w),
                                            G(m->emb_ln_b), dd, ws->emb_sum,
                                            W(m->emb_ln_w), ws->emb_mean,
                                            ws->emb_rstd, N, C);
                dd = ws->d1;
                if ((g = G(m->pos_emb)))
                        socfw_nn_embedding_backward(g, dd, ws->pos, N,
                                                    c->max_positions, C);
                if ((g = G(m->type_emb)))
                        socfw_nn_embedding_backward(g, dd, ws->types, N,
                                                    c->type_vocab_size, C);
        } else if (c->arch == SOCFW_ARCH_GPT2) {
                if ((g = G(m->pos_emb)))
                        socfw_nn_positional_backward(
                                g, dd, B, T, C,
                                socfw_adapter_prefix_length(cx->adapter));
        }
        /* a prompt adapter's rows: their gradient is the prompt's; the
         * word embedding has the real rows only */
        int P = ws->prompt;
        float *gp = P ? peft_prompt_grad(cx->adapter) : NULL;
        for (int b = 0; gp && b < B; b++) {
                const float *r = dd + (size_t)b * T * C;
                for (size_t i = 0; i < (size_t)P * C; i++)
                        gp[i] += r[i];
        }
        if ((g = G(m->tok_emb)))
                for (int b = 0; b < B; b++)
                        socfw_nn_embedding_backward(
                                g, dd + ((size_t)b * T + P) * C,
                                ws->ids + (size_t)b * T + P, T - P,
                                c->vocab_size, C);
        /* an embedding LoRA (never with a prompt: one adapter, one type) */
        return peft_embed_backward(cx->adapter, ws->ids, dd, N, &cx->scr);
}

int
socfw_model_backward(socfw_model *m, const float *dhidden, socfw_error *err)
{
        socfw_context *cx = arch_ctx0(m);
        if (!cx)
                return socfw_error_set(err, SOCFW_ENOMEM, "model backward: "
                                       "out of memory");
        return socfw_context_backward(cx, dhidden, err);
}

int
socfw_context_backward(socfw_context *cx, const float *dhidden,
                       socfw_error *err)
{
        socfw_model *m = cx->m;
        const socfw_model_config *c = &m->cfg;
        arch_ws *ws = &cx->ws;
        int rq = arch_refuse_trainable_quantized(m, err);
        if (rq < 0)
                return rq;
        if (!ws->valid)
                return socfw_error_set(err, SOCFW_ESTATE, "model backward: "
                                       "no forward pass to go back through");
        if (!dhidden)
                return socfw_error_set(err, SOCFW_EINVAL, "model backward: "
                                       "dhidden is NULL");
        int N = ws->B * ws->T, C = c->hidden, L = c->n_layers;
        size_t NC = (size_t)N * C;
        float *dx = ws->d0, *spare = ws->d2;
        const float *xL = L > 0 ? ws->layers[L - 1].out : ws->res0;
        int P = ws->prompt;
        if (P) {        /* the caller's real rows; 0 at the virtual ones */
                int T = ws->T - P;
                float *full = ws->d1;
                for (int b = 0; b < ws->B; b++) {
                        float *r = full + (size_t)b * ws->T * C;
                        arch_zero(r, (size_t)P * C);
                        memcpy(r + (size_t)P * C,
                               dhidden + (size_t)b * T * C,
                               (size_t)T * C * sizeof *r);
                }
                dhidden = full;
        }
        if (c->arch == SOCFW_ARCH_GPT2) {
                arch_zero(dx, NC);
                socfw_nn_layernorm_backward(dx, G(m->fin_w), G(m->fin_b),
                                            dhidden, xL, W(m->fin_w),
                                            ws->fin_mean, ws->fin_rstd, N, C);
        } else if (c->arch == SOCFW_ARCH_LLAMA) {
                arch_zero(dx, NC);
                socfw_nn_rmsnorm_backward(dx, G(m->fin_w), dhidden, xL,
                                          W(m->fin_w), ws->fin_rstd, N, C);
        } else {
                memcpy(dx, dhidden, NC * sizeof *dx);
        }
        /* down to the embeddings when they or an adapter there train */
        int emb = m->bw_embeddings || P || socfw_adapter_embeds(cx->adapter);
        int floor = emb ? 0 : m->bw_floor;
        if (cx->adapter && peft_lowest_layer(cx->adapter) < floor)
                floor = peft_lowest_layer(cx->adapter);
        for (int l = L - 1; l >= floor; l--) {
                const float *x = l > 0 ? ws->layers[l - 1].out : ws->res0;
                int need_dx = l > floor || emb;
                int rc = arch_block_backward(cx, l, x, &dx, &spare, need_dx);
                if (rc < 0)
                        return socfw_error_set(err, rc, "model backward: "
                                               "layer %d failed", l);
        }
        if (emb && embed_backward(cx, dx) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model backward: "
                                       "out of memory for the embedding "
                                       "adapter");
        peft_proj_backward(cx->adapter);  /* a projected prefix's MLP */
        return 0;
}

/* ---- LM head ------------------------------------------------------------ */

static int
lm_weight(const socfw_model *m, socfw_error *err)
{
        if (m->cfg.arch != SOCFW_ARCH_GPT2 && m->cfg.arch != SOCFW_ARCH_LLAMA)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "model: %s has no LM head; hint: use "
                                       "an lm head plugin for encoders",
                                       socfw_arch_name(m->cfg.arch));
        return m->lm_head >= 0 ? m->lm_head : m->tok_emb;
}

int
socfw_model_lm_logits(socfw_model *m, const float *hidden, int N,
                      float *logits, socfw_error *err)
{
        int idx = lm_weight(m, err);
        if (idx < 0)
                return idx;
        if (N < 1 || !hidden || !logits)
                return socfw_error_set(err, SOCFW_EINVAL, "model lm_logits: "
                                       "bad arguments");
        const socfw_qtensor *q = arch_qw(m, idx);
        if (q) {
                if (socfw_nn_qlinear_forward(logits, hidden, q, NULL, N) < 0)
                        return socfw_error_set(err, SOCFW_ENOMEM,
                                               "model lm_logits: out of "
                                               "memory");
                return 0;
        }
        socfw_nn_linear_forward(logits, hidden, W(idx), NULL, N,
                                m->cfg.hidden, m->cfg.vocab_size);
        return 0;
}

int
socfw_model_lm_logits_backward(socfw_model *m, const float *hidden,
                               const float *dlogits, int N, float *dhidden,
                               socfw_error *err)
{
        int idx = lm_weight(m, err);
        if (idx < 0)
                return idx;
        if (N < 1 || !hidden || !dlogits)
                return socfw_error_set(err, SOCFW_EINVAL, "model lm_logits "
                                       "backward: bad arguments");
        int rq = arch_refuse_quantized(m, "lm_logits backward", err);
        if (rq < 0)
                return rq;
        socfw_nn_linear_backward(dhidden, G(idx), NULL, dlogits, hidden,
                                 W(idx), N, m->cfg.hidden, m->cfg.vocab_size);
        return 0;
}

/* ---- pooler ------------------------------------------------------------- */

int
socfw_model_pool(socfw_model *m, const float *hidden, int B, int T,
                 float *pooled, socfw_error *err)
{
        socfw_context *cx = arch_ctx0(m);
        if (!cx)
                return socfw_error_set(err, SOCFW_ENOMEM, "model pool: out "
                                       "of memory");
        return socfw_context_pool(cx, hidden, B, T, pooled, err);
}

int
socfw_context_pool(socfw_context *cx, const float *hidden, int B, int T,
                   float *pooled, socfw_error *err)
{
        socfw_model *m = cx->m;
        arch_ws *ws = &cx->ws;
        int C = m->cfg.hidden;
        if (m->pool_w < 0)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED, "model: %s "
                                       "has no pooler",
                                       socfw_arch_name(m->cfg.arch));
        if (B < 1 || T < 1 || !hidden || !pooled)
                return socfw_error_set(err, SOCFW_EINVAL, "model pool: bad "
                                       "arguments");
        if (B > ws->pool_cap) {
                free(ws->pool_in);
                ws->pool_cap = 0;
                ws->pool_in = malloc((size_t)4 * B * C * sizeof(float));
                if (!ws->pool_in)
                        return socfw_error_set(err, SOCFW_ENOMEM, "model "
                                               "pool: out of memory");
                ws->pool_cap = B;
        }
        ws->pool_out = ws->pool_in + (size_t)ws->pool_cap * C;
        for (int b = 0; b < B; b++)
                memcpy(ws->pool_in + (size_t)b * C,
                       hidden + (size_t)b * T * C, (size_t)C * sizeof(float));
        socfw_nn_linear_forward(ws->pool_out, ws->pool_in, W(m->pool_w),
                                W(m->pool_b), B, C, C);
        for (size_t i = 0; i < (size_t)B * C; i++)
                ws->pool_out[i] = tanhf(ws->pool_out[i]);
        memcpy(pooled, ws->pool_out, (size_t)B * C * sizeof(float));
        ws->pool_B = B;
        ws->pool_T = T;
        return 0;
}

int
socfw_model_pool_backward(socfw_model *m, const float *dpooled,
                          float *dhidden, socfw_error *err)
{
        socfw_context *cx = arch_ctx0(m);
        if (!cx)
                return socfw_error_set(err, SOCFW_ENOMEM, "model pool "
                                       "backward: out of memory");
        return socfw_context_pool_backward(cx, dpooled, dhidden, err);
}

int
socfw_context_pool_backward(socfw_context *cx, const float *dpooled,
                            float *dhidden, socfw_error *err)
{
        socfw_model *m = cx->m;
        arch_ws *ws = &cx->ws;
        int C = m->cfg.hidden, B = ws->pool_B, T = ws->pool_T;
        if (m->pool_w < 0 || B < 1)
                return socfw_error_set(err, SOCFW_ESTATE, "model pool "
                                       "backward: no pool() before");
        float *dz = ws->pool_in + (size_t)2 * ws->pool_cap * C;
        float *din = ws->pool_in + (size_t)3 * ws->pool_cap * C;
        for (size_t i = 0; i < (size_t)B * C; i++)
                dz[i] = dpooled[i] * (1.0f - ws->pool_out[i] *
                                             ws->pool_out[i]);
        arch_zero(din, (size_t)B * C);
        socfw_nn_linear_backward(dhidden ? din : NULL, G(m->pool_w),
                                 G(m->pool_b), dz, ws->pool_in, W(m->pool_w),
                                 B, C, C);
        if (dhidden)
                for (int b = 0; b < B; b++)
                        for (int i = 0; i < C; i++)
                                dhidden[(size_t)b * T * C + i] +=
                                        din[(size_t)b * C + i];
        return 0;
}
