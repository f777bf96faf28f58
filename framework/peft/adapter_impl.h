/* adapter_impl.h - the inside of a socfw_adapter, shared by adapter.c,
 * sites.c and the adapter file code.  Not installed. */
#ifndef SOCFW_PEFT_ADAPTER_IMPL_H
#define SOCFW_PEFT_ADAPTER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "peft/peft_internal.h"

/* One (block, site): its tensors.  What a forward keeps for backward is
 * the caller's (peft_saved). */
typedef struct peft_slot {
        int active;
        int t[4];               /* LoRA: A, B; AdaLoRA: A, B, E; IA3: l;
                                   bottleneck: down.w, down.b, up.w, up.b
                                   (indices, -1 unused)                  */
        int mid;                /* bottleneck width                        */
        float *imp;             /* AdaLoRA: importance EMA and uncertainty
                                   of A, B, E: 2 x (r in + out r + r)     */
        uint8_t *keep;          /* AdaLoRA: the final rank pattern, fixed
                                   when the final phase starts (r), or
                                   NULL before                            */
} peft_slot;

/* Prefix tuning with prefix_projection (prefix_projection.c). */
typedef struct peft_proj peft_proj;

struct socfw_adapter {
        socfw_adapter_config cfg;
        socfw_model_config shape;       /* the model it was made for      */
        int n_layers;
        int in[SOCFW_SITE_COUNT], out[SOCFW_SITE_COUNT];
        float scale;                    /* LoRA s                         */
        socfw_params *ps;
        peft_slot *slots;               /* n_layers x SOCFW_SITE_COUNT    */
        peft_proj *proj;                /* prefix_projection, or NULL     */
        int prompt_t;                   /* prompt: its tensor, or -1      */
        int emb_t[2];                   /* embedding LoRA: A (r,vocab),
                                           B (hidden,r); -1 without       */
};

static inline peft_slot *
peft_slot_of(const socfw_adapter *a, int l, socfw_site s)
{
        return &a->slots[(size_t)l * SOCFW_SITE_COUNT + (size_t)s];
}

/* Tensors per site of each type. */
static inline int
peft_n_tensors(socfw_adapter_type t)
{
        return t == SOCFW_ADAPTER_LORA ? 2 : t == SOCFW_ADAPTER_IA3 ? 1
               : t == SOCFW_ADAPTER_BOTTLENECK ? 4
               : t == SOCFW_ADAPTER_ADALORA ? 3
               : t == SOCFW_ADAPTER_PREFIX ? 1 : 0;
}

/* A buffer of at least n elements of `size` bytes in *p, *cap the
 * elements it holds (grown, contents lost); NULL when out of memory.
 * peft_grow: of floats. */
PEFT_HIDDEN void *peft_grow_bytes(void **p, size_t *cap, size_t n,
                                  size_t size);
PEFT_HIDDEN float *peft_grow(float **p, size_t *cap, size_t n);

/* What pass p keeps for (l, s) (saved.c): its entry in p->keep, or
 * NULL when the pass keeps nothing. */
PEFT_HIDDEN peft_saved_site *peft_saved_at(const peft_pass *p, int l,
                                           socfw_site s);

/* prefix_projection: declare E and the MLP in a->ps (before it is
 * finalized), initialise them (after), free.  peft_proj_rows / _grad are
 * what peft_prefix / peft_prefix_grad return for such an adapter. */
PEFT_HIDDEN int peft_proj_declare(socfw_adapter *a, socfw_error *err);
PEFT_HIDDEN void peft_proj_init(socfw_adapter *a, socfw_rng *rng);
PEFT_HIDDEN void peft_proj_free(peft_proj *pj);
PEFT_HIDDEN const float *peft_proj_rows(const socfw_adapter *a, int l,
                                        int value);
PEFT_HIDDEN float *peft_proj_grad(socfw_adapter *a, int l, int value);

/* LoRA-like (LoRA, AdaLoRA): A (r,in) and B (out,r) at t[0], t[1]. */
static inline int
peft_is_lora(socfw_adapter_type t)
{
        return t == SOCFW_ADAPTER_LORA || t == SOCFW_ADAPTER_ADALORA;
}

/* Prompt tuning (prompt.c): add the prompt_embeddings tensor to a->ps
 * (before it is finalized); fill it as cfg.prompt_init says. */
PEFT_HIDDEN int peft_prompt_add(socfw_adapter *a, socfw_error *err);
PEFT_HIDDEN void peft_prompt_init(socfw_adapter *a, const socfw_model *m,
                                  socfw_rng *rng);

/* PEFT's PROMPT_TUNING files (prompt.c, called by peft_file.c): the
 * config keys of `a` into the adapter_config.json object j; an adapter
 * from the config `cfg` and the tensors of `mf` (path: for messages). */
struct json_t;
struct socfw_modelfile;
PEFT_HIDDEN void peft_prompt_config(const socfw_adapter *a,
                                    struct json_t *j);
PEFT_HIDDEN int peft_prompt_load(socfw_adapter **out, const socfw_model *m,
                                 struct json_t *cfg,
                                 const struct socfw_modelfile *mf,
                                 const char *path, socfw_error *err);

#endif
