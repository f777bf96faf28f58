/* decode.c - incremental decoding with a KV cache (GPT-2, Llama family).
 *
 * The cache holds, per layer, keys and values of every position so far as
 * (Lmax, Hkv*D) rows (RoPE already applied to the keys).  A step appends n
 * tokens through the same block code as training (block.c, with an
 * attached adapter's hooks): their projections run as one sgemm over n
 * rows, their k/v rows go into the cache, and attention runs causally over
 * the cache.  All scratch memory lives in the cache object and only
 * grows. */
#include "arch_internal.h"

#include "peft/peft_internal.h"

#include <stdlib.h>
#include <string.h>

#define W(i) arch_w(m, (i))

struct socfw_model_kv {
        const socfw_model *m;
        socfw_adapter *adapter; /* own: this sequence's adapter (borrowed)*/
        int own;                /* 0: the model's attached adapter        */
        peft_scratch_set scr;   /* adapter scratch of this sequence       */
        int want;               /* positions asked for, prefix rows aside */
        int len, cap;
        float *k, *v;           /* (n_layers, cap, kd) each             */
        int rows;               /* scratch capacity in token rows       */
        float *x, *xn, *q, *atty, *tmp, *fc, *up, *act, *mid;
        float *att;             /* (H, rows, cap)                       */
        float *kb, *vb;         /* (rows, kd): a batch step's new k, v  */
        arch_seq *seq;          /* (rows): a batch step's sequences     */
        int32_t *pos, *ids;     /* (rows)                               */
        peft_run *runs;         /* (rows): a batch step's adapters      */
};

static void
kv_scratch_free(socfw_model_kv *kv)
{
        free(kv->x);
        free(kv->xn);
        free(kv->q);
        free(kv->atty);
        free(kv->tmp);
        free(kv->fc);
        free(kv->up);
        free(kv->act);
        free(kv->att);
        free(kv->mid);
        free(kv->kb);
        free(kv->vb);
        free(kv->seq);
        free(kv->pos);
        free(kv->ids);
        free(kv->runs);
        kv->mid = kv->kb = kv->vb = NULL;
        kv->seq = NULL;
        kv->runs = NULL;
        kv->pos = kv->ids = NULL;
        kv->x = kv->xn = kv->q = kv->atty = kv->tmp = NULL;
        kv->fc = kv->up = kv->act = kv->att = NULL;
        kv->rows = 0;
}

static int
kv_scratch(socfw_model_kv *kv, int n)
{
        if (n <= kv->rows)
                return 0;
        const socfw_model_config *c = &kv->m->cfg;
        size_t C = (size_t)c->hidden, F = (size_t)c->ffn;
        size_t qd = (size_t)arch_qd(c);
        size_t qsz = c->arch == SOCFW_ARCH_GPT2 ? 3 * C : qd;
        size_t r = (size_t)n;
        kv_scratch_free(kv);
        kv->x = malloc(r * C * sizeof(float));
        kv->xn = malloc(r * C * sizeof(float));
        kv->q = malloc(r * qsz * sizeof(float));
        kv->atty = malloc(r * qd * sizeof(float));
        kv->tmp = malloc(r * C * sizeof(float));
        kv->fc = malloc(r * F * sizeof(float));
        kv->up = malloc(r * F * sizeof(float));
        kv->act = malloc(r * F * sizeof(float));
        kv->mid = malloc(r * C * sizeof(float));
        kv->att = malloc((size_t)c->n_heads * r * (size_t)kv->cap *
                         sizeof(float));
        size_t kd = (size_t)arch_kd(c);
        kv->kb = malloc(r * kd * sizeof(float));
        kv->vb = malloc(r * kd * sizeof(float));
        kv->seq = malloc(r * sizeof *kv->seq);
        kv->pos = malloc(r * sizeof *kv->pos);
        kv->ids = malloc(r * sizeof *kv->ids);
        kv->runs = malloc(r * sizeof *kv->runs);
        if (!kv->x || !kv->xn || !kv->q || !kv->atty || !kv->tmp ||
            !kv->fc || !kv->up || !kv->act || !kv->att || !kv->mid ||
            !kv->kb || !kv->vb || !kv->seq || !kv->pos || !kv->ids ||
            !kv->runs) {
                kv_scratch_free(kv);
                return SOCFW_ENOMEM;
        }
        kv->rows = n;
        return 0;
}

/* Positions an adapter's rows take before the sequence's own: a prefix's
 * key/value rows or a prompt's virtual tokens. */
static int
kv_rows_before(const socfw_adapter *a)
{
        return socfw_adapter_prefix_length(a) +
               socfw_adapter_prompt_length(a);
}

/* (Re)allocate kv's key and value rows for kv->want positions plus the
 * rows of adapter a's prefix or prompt (they take the first positions), capped at
 * the model's max_positions for learned positions.  The cache is empty. */
static int
kv_positions(socfw_model_kv *kv, const socfw_adapter *a)
{
        const socfw_model_config *c = &kv->m->cfg;
        int cap = kv->want, pre = kv_rows_before(a);
        if (cap <= (1 << 20) - pre)
                cap += pre;
        if (c->arch == SOCFW_ARCH_GPT2 && cap > c->max_positions)
                cap = c->max_positions;
        free(kv->k);
        free(kv->v);
        size_t per = (size_t)c->n_layers * (size_t)cap * (size_t)arch_kd(c);
        kv->k = malloc(per * sizeof(float));
        kv->v = malloc(per * sizeof(float));
        kv->cap = kv->k && kv->v ? cap : 0;
        return kv->cap ? 0 : SOCFW_ENOMEM;
}

int
socfw_model_kv_new(socfw_model_kv **out, const socfw_model *m, int max_len,
                   socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        *out = NULL;
        if (c->arch != SOCFW_ARCH_GPT2 && c->arch != SOCFW_ARCH_LLAMA)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "model kv cache: %s is not a decoder",
                                       socfw_arch_name(c->arch));
        if (max_len < 1 || max_len > (1 << 20))
                return socfw_error_set(err, SOCFW_EINVAL, "model kv cache: "
                                       "max_len %d out of range [1, %d]",
                                       max_len, 1 << 20);
        socfw_model_kv *kv = calloc(1, sizeof *kv);
        if (!kv)
                return socfw_error_set(err, SOCFW_ENOMEM, "model kv cache: "
                                       "out of memory");
        kv->m = m;
        kv->want = max_len;
        int rc = kv_positions(kv, socfw_model_attached(m));
        if (rc == 0)
                rc = kv_scratch(kv, 1);
        if (rc < 0) {
                socfw_model_kv_free(kv);
                return socfw_error_set(err, SOCFW_ENOMEM, "model kv cache: "
                                       "cannot allocate %d positions",
                                       max_len);
        }
        *out = kv;
        return 0;
}

/* The decoding adapter of kv: its own, or the model's attached one. */
static socfw_adapter *
kv_adapter(const socfw_model_kv *kv)
{
        return kv->own ? kv->adapter : socfw_model_attached(kv->m);
}

int
socfw_model_kv_attach(socfw_model_kv *kv, socfw_adapter *a,
                      socfw_error *err)
{
        if (!kv)
                return socfw_error_set(err, SOCFW_EINVAL, "model kv cache: "
                                       "no cache to attach to");
        if (kv->len > 0)
                return socfw_error_set(err, SOCFW_EINVAL, "model kv cache: "
                                       "the cache holds %d positions "
                                       "already (hint: attach before the "
                                       "first step, or reset it)", kv->len);
        if (a) {
                int rc = peft_shape_check(a, kv->m, err);
                if (rc < 0)
                        return rc;
        }
        if (kv_rows_before(a) != kv_rows_before(kv_adapter(kv))) {
                kv_scratch_free(kv);    /* attention rows span the cap */
                if (kv_positions(kv, a) < 0 || kv_scratch(kv, 1) < 0)
                        return socfw_error_set(err, SOCFW_ENOMEM, "model kv "
                                               "cache: cannot allocate %d "
                                               "positions", kv->want);
        }
        peft_scratch_set_clear(&kv->scr);
        kv->adapter = a;
        kv->own = 1;
        return 0;
}

socfw_adapter *
socfw_model_kv_attached(const socfw_model_kv *kv)
{
        return kv ? kv_adapter(kv) : NULL;
}

void
socfw_model_kv_free(socfw_model_kv *kv)
{
        if (kv)
                peft_scratch_set_clear(&kv->scr);
        if (!kv)
                return;
        kv_scratch_free(kv);
        free(kv->k);
        free(kv->v);
        free(kv);
}

void
socfw_model_kv_reset(socfw_model_kv *kv)
{
        kv->len = 0;
}

int
socfw_model_kv_len(const socfw_model_kv *kv)
{
        return kv->len;
}

int
socfw_model_kv_capacity(const socfw_model_kv *kv)
{
        return kv->cap;
}

/* A block's workspace over kv's scratch rows (the decoding step's and a
 * batch's alike): x is the residual stream, updated in place by a
 * pre-norm block, xn the normed input of both branches. */
static void
kv_layer_ws(socfw_model_kv *kv, arch_layer_ws *w)
{
        memset(w, 0, sizeof *w);
        w->a_in = w->m_in = kv->xn;
        w->q = kv->q;
        w->atty = kv->atty;
        w->att = kv->att;
        w->mid = kv->mid;
        w->fc = kv->fc;
        w->up = kv->up;
        w->act = kv->act;
        w->out = kv->x;
}

/* logits (N,V) of the rows x (N,C): the final norm (into xn), then the
 * language-model head as one (N,C) x (V,C)^T product (a few rows: each
 * weight read once for all, socfw_nn_matmul_forward_few). */
static int
lm_head(socfw_model *m, float *xn, const float *x, int N, float *logits)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden;
        if (c->arch == SOCFW_ARCH_GPT2)
                socfw_nn_layernorm_forward(xn, NULL, NULL, x, W(m->fin_w),
                                           W(m->fin_b), N, C, c->norm_eps);
        else
                socfw_nn_rmsnorm_forward(xn, NULL, x, W(m->fin_w), N, C,
                                         c->norm_eps);
        int head = m->lm_head >= 0 ? m->lm_head : m->tok_emb;
        const socfw_qtensor *q = arch_qw(m, head);
        if (q)
                return socfw_nn_qlinear_forward(logits, xn, q, NULL, N);
        socfw_nn_matmul_forward_few(logits, xn, W(head), NULL, N, C,
                                    c->vocab_size, SOCFW_NN_W_OUT_IN);
        return 0;
}

static int decode_rows(socfw_model *m, socfw_model_kv *kv, int n,
                       socfw_error *err);

int
socfw_model_decode_step(socfw_model *m, socfw_model_kv *kv,
                        const int32_t *ids, int n, float *logits,
                        socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden, kd = arch_kd(c);
        int rc;
        if (!kv || kv->m != m)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: the "
                                       "KV cache belongs to another model");
        if (!ids || n < 1)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: no "
                                       "tokens");
        if (n > kv->cap - kv->len)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: KV "
                                       "cache full (%d + %d tokens > %d); "
                                       "hint: a larger max_len or a shorter "
                                       "prompt", kv->len, n, kv->cap);
        for (int i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= c->vocab_size)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "model decode: token id %d "
                                               "outside the vocabulary "
                                               "[0,%d)", ids[i],
                                               c->vocab_size);
        if (kv_scratch(kv, n) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model decode: out "
                                       "of memory for %d tokens", n);
        /* a prefix adapter: its rows are the cache's first positions */
        socfw_adapter *ad = kv_adapter(kv);
        int pre = socfw_adapter_prefix_length(ad);
        if (pre && kv->len == 0) {
                peft_proj_refresh(ad, 0);       /* once, not per token */
                if (n > kv->cap - pre)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode: KV cache full (%d "
                                               "prefix + %d tokens > %d)",
                                               pre, n, kv->cap);
                for (int l = 0; l < c->n_layers; l++) {
                        memcpy(kv->k + (size_t)l * kv->cap * kd,
                               peft_prefix(ad, l, 0),
                               (size_t)pre * kd * sizeof(float));
                        memcpy(kv->v + (size_t)l * kv->cap * kd,
                               peft_prefix(ad, l, 1),
                               (size_t)pre * kd * sizeof(float));
                }
                kv->len = pre;
        }
        /* a prompt adapter: its rows run through the blocks once, as the
         * cache's first positions */
        int P = socfw_adapter_prompt_length(ad);
        if (P && kv->len == 0) {
                if (n > kv->cap - P)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode: KV cache full (%d "
                                               "virtual + %d tokens > %d)",
                                               P, n, kv->cap);
                if (kv_scratch(kv, P) < 0)
                        return socfw_error_set(err, SOCFW_ENOMEM, "model "
                                               "decode: out of memory for "
                                               "%d virtual tokens", P);
                memcpy(kv->x, peft_prompt(ad), (size_t)P * C * sizeof(float));
                if ((rc = decode_rows(m, kv, P, err)) < 0)
                        return rc;
        }
        arch_embed(m, kv->x, ids, n);
        if (peft_embed_forward(ad, ids, kv->x, n, &kv->scr) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model decode: out "
                                       "of memory for the embedding "
                                       "adapter");
        if ((rc = decode_rows(m, kv, n, err)) < 0)
                return rc;
        if (logits && (rc = lm_head(m, kv->xn, kv->x + (size_t)(n - 1) * C,
                                    1, logits)) < 0)
                return socfw_error_set(err, rc, "model decode: kernel "
                                       "refused the dimensions (bug?)");
        return 0;
}

/* The n embedded rows in kv->x through every block at the cache's next
 * positions (their keys and values appended); kv->x ends as the last
 * block's output. */
static int
decode_rows(socfw_model *m, socfw_model_kv *kv, int n, socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden, kd = arch_kd(c);
        int gpt2 = c->arch == SOCFW_ARCH_GPT2;
        socfw_adapter *ad = kv_adapter(kv);
        int rc;
        int pos0 = kv->len, Tk = pos0 + n;
        float *x = kv->x;
        if (gpt2 && socfw_nn_positional_forward(x, W(m->pos_emb), 1, n, C,
                                                pos0, c->max_positions) < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode: "
                                       "position %d past the model's %d",
                                       Tk, c->max_positions);
        /* one set of scratch rows for every block: nothing is kept */
        arch_layer_ws w;
        kv_layer_ws(kv, &w);
        arch_pass ap = {.B = 1, .T = n, .pos0 = pos0, .kv_cap = kv->cap,
                        .adapter = ad, .scr = &kv->scr};
        for (int l = 0; l < c->n_layers; l++) {
                ap.kc = kv->k + (size_t)l * kv->cap * kd;
                ap.vc = kv->v + (size_t)l * kv->cap * kd;
                if ((rc = arch_block_forward(m, l, x, &w, kv->tmp, &ap)) < 0)
                        goto bad;
        }
        kv->len = Tk;
        return 0;
bad:
        return socfw_error_set(err, rc, "model decode: kernel refused the "
                               "dimensions (bug?)");
}

int
socfw_model_decode_batch(socfw_model *m, socfw_model_kv *const *kvs,
                         const int32_t *ids, int k, float *logits,
                         socfw_error *err)
{
        const socfw_model_config *c = &m->cfg;
        int C = c->hidden;
        int gpt2 = c->arch == SOCFW_ARCH_GPT2;
        int rc;
        if (!kvs || !ids || !logits || k < 1)
                return socfw_error_set(err, SOCFW_EINVAL, "model decode "
                                       "batch: no sequences");
        for (int b = 0; b < k; b++) {
                const socfw_model_kv *kv = kvs[b];
                if (!kv || kv->m != m)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode batch: sequence %d's "
                                               "KV cache belongs to another "
                                               "model", b);
                if (kv->len < 1)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode batch: sequence %d "
                                               "has no prompt yet (hint: "
                                               "socfw_model_decode_step "
                                               "first)", b);
                if (kv->len >= kv->cap)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode batch: sequence %d's "
                                               "KV cache is full (%d)", b,
                                               kv->cap);
                if (ids[b] < 0 || ids[b] >= c->vocab_size)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "model decode batch: token id "
                                               "%d outside the vocabulary "
                                               "[0,%d)", ids[b],
                                               c->vocab_size);
                if (gpt2 && kv->len >= c->max_positions)
                        return socfw_error_set(err, SOCFW_EINVAL, "model "
                                               "decode batch: position %d "
                                               "past the model's %d",
                                               kv->len, c->max_positions);
                for (int a = 0; a < b; a++)
                        if (kvs[a] == kv)
                                return socfw_error_set(err, SOCFW_EINVAL,
                                                       "model decode batch: "
                                                       "sequences %d and %d "
                                                       "share a KV cache",
                                                       a, b);
        }
        /* the first sequence's scratch serves the batch */
        socfw_model_kv *s0 = kvs[0];
        if (kv_scratch(s0, k) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model decode "
                                       "batch: out of memory for %d rows", k);
        /* each sequence's adapter on its own row at the sites: runs of
         * consecutive rows of one adapter (a prefix's or a prompt's rows
         * are in its cache already: one new token touches no site of
         * theirs, so every adapter shares the step) */
        int n_runs = 0;
        for (int b = 0; b < k; b++) {
                s0->seq[b] = (arch_seq){.k = kvs[b]->k, .v = kvs[b]->v,
                                        .cap = kvs[b]->cap,
                                        .pos = kvs[b]->len};
                s0->pos[b] = kvs[b]->len;
                socfw_adapter *a = kv_adapter(kvs[b]);
                if (n_runs == 0 || s0->runs[n_runs - 1].a != a)
                        s0->runs[n_runs++] = (peft_run){a, b, 0};
                s0->runs[n_runs - 1].rows++;
        }
        float *x = s0->x, *xn = s0->xn;
        arch_embed(m, x, ids, k);
        if (peft_runs_embed_forward(s0->runs, n_runs, ids, x, C,
                                    &s0->scr) < 0)
                return socfw_error_set(err, SOCFW_ENOMEM, "model decode "
                                       "batch: out of memory for the "
                                       "embedding adapter");
        for (int b = 0; gpt2 && b < k; b++)
                socfw_nn_positional_forward(x + (size_t)b * C, W(m->pos_emb),
                                            1, 1, C, s0->pos[b],
                                            c->max_positions);
        arch_layer_ws w;
        kv_layer_ws(s0, &w);
        w.k = s0->kb;           /* the batch's new rows, then each cache */
        w.v = s0->vb;
        arch_pass ap = {.B = k, .T = 1,
                        .adapter = n_runs == 1 ? s0->runs[0].a : NULL,
                        .runs = s0->runs, .n_runs = n_runs,
                        .scr = &s0->scr, .seq = s0->seq,
                        .seq_pos = s0->pos};
        for (int l = 0; l < c->n_layers; l++)
                if ((rc = arch_block_forward(m, l, x, &w, s0->tmp, &ap)) < 0)
                        goto bad;
        for (int b = 0; b < k; b++)
                kvs[b]->len++;
        if ((rc = lm_head(m, xn, x, k, logits)) < 0)
                goto bad;
        return 0;
bad:
        return socfw_error_set(err, rc, "model decode batch: kernel refused "
                               "the dimensions (bug?)");
}
