/* embedding.c - a LoRA on the token embedding table (PEFT's
 * lora_embedding_A / lora_embedding_B): the word embedding of token id
 * becomes E[id] + s * A[:, id]^T B^T with A (r, vocab), B (hidden, r).
 *
 * The low-rank rows z[n] = A[:, ids[n]] are a gather of A's columns, so
 * nothing needs keeping for backward: the ids are the caller's, and z is
 * gathered again.  The contract is in peft_internal.h. */
#include "peft/adapter_impl.h"

#include <cblas.h>

bool
socfw_adapter_embeds(const socfw_adapter *a)
{
        return a && a->emb_t[0] >= 0;
}

/* z (N, r) in scratch 0: column ids[n] of A (r, vocab) as row n; NULL
 * when out of memory. */
static float *
lowrank_rows(const socfw_adapter *a, const int32_t *ids, int N,
             const peft_pass *p)
{
        int r = a->cfg.rank, V = a->shape.vocab_size;
        float *z = peft_pass_scratch(p, 0, (size_t)N * r);
        const float *A = socfw_params_data(a->ps, a->emb_t[0]);
        for (int n = 0; z && n < N; n++)
                for (int k = 0; k < r; k++)
                        z[(size_t)n * r + k] = A[(size_t)k * V + ids[n]];
        return z;
}

int
peft_embed_forward(const socfw_adapter *a, const int32_t *ids, float *x,
                   int N, peft_scratch_set *scr)
{
        if (!socfw_adapter_embeds(a) || N < 1)
                return 0;
        int r = a->cfg.rank, C = a->shape.hidden;
        peft_pass p = {.N = N, .scr = scr};
        float *z = lowrank_rows(a, ids, N, &p);
        if (!z)
                return SOCFW_ENOMEM;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, r,
                    a->scale, z, r, socfw_params_data(a->ps, a->emb_t[1]), r,
                    1.0f, x, C);
        return 0;
}

int
peft_runs_embed_forward(const peft_run *r, int n, const int32_t *ids,
                        float *x, int C, peft_scratch_set *scr)
{
        for (int i = 0; i < n; i++) {
                int rc = peft_embed_forward(r[i].a, ids + r[i].row0,
                                            x + (size_t)r[i].row0 * C,
                                            r[i].rows, scr);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int
peft_embed_backward(socfw_adapter *a, const int32_t *ids, const float *dx,
                    int N, peft_scratch_set *scr)
{
        if (!socfw_adapter_embeds(a) || N < 1)
                return 0;
        int r = a->cfg.rank, V = a->shape.vocab_size, C = a->shape.hidden;
        peft_pass p = {.N = N, .scr = scr};
        float *z = lowrank_rows(a, ids, N, &p);
        float *dz = peft_pass_scratch(&p, 1, (size_t)N * r);
        if (!z || !dz)
                return SOCFW_ENOMEM;
        const float *B = socfw_params_data(a->ps, a->emb_t[1]);
        float *gA = socfw_params_grad(a->ps, a->emb_t[0]);
        float *gB = socfw_params_grad(a->ps, a->emb_t[1]);
        /* dB (C, r) += s dx^T z;  dz (N, r) = s dx B */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, r, N,
                    a->scale, dx, C, z, r, 1.0f, gB, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, C,
                    a->scale, dx, C, B, r, 0.0f, dz, r);
        for (int n = 0; n < N; n++)     /* scatter into A's columns */
                for (int k = 0; k < r; k++)
                        gA[(size_t)k * V + ids[n]] += dz[(size_t)n * r + k];
        return 0;
}
