/* saved.c - the buffers a caller (a socfw_context, a KV cache) lends the
 * adapter hooks of its passes: scratch, and what a forward keeps for its
 * backward (peft_saved; what each adapter type keeps is in sites.c and
 * block.c's prefix attention).  The adapter itself holds only its
 * tensors and their gradients, so two contexts over one adapter may run
 * forward A, forward B, backward A, backward B: each backward reads its
 * own context's activations. */
#include "peft/adapter_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- growing buffers ---------------------------------------------------- */

void *
peft_grow_bytes(void **p, size_t *cap, size_t n, size_t size)
{
        if (n <= *cap && *p)
                return *p;
        free(*p);
        *cap = 0;
        *p = malloc((n ? n : 1) * size);
        if (*p)
                *cap = n;
        return *p;
}

float *
peft_grow(float **p, size_t *cap, size_t n)
{
        return peft_grow_bytes((void **)p, cap, n, sizeof **p);
}

static int32_t *
grow_i32(int32_t **p, size_t *cap, size_t n)
{
        return peft_grow_bytes((void **)p, cap, n, sizeof **p);
}

/* ---- scratch ------------------------------------------------------------ */

void
peft_scratch_set_clear(peft_scratch_set *s)
{
        for (int i = 0; i < 4; i++)
                free(s->p[i]);
        free(s->mask);
        memset(s, 0, sizeof *s);
}

float *
peft_pass_scratch(const peft_pass *p, int which, size_t n)
{
        return peft_grow(&p->scr->p[which], &p->scr->cap[which], n);
}

int32_t *
peft_pass_mask(const peft_pass *p, size_t n)
{
        return grow_i32(&p->scr->mask, &p->scr->mask_cap, n);
}

/* ---- what a forward keeps ----------------------------------------------- */

int
peft_saved_begin(peft_saved *s, const socfw_adapter *a)
{
        size_t n = (size_t)a->n_layers * SOCFW_SITE_COUNT;
        if (a->n_layers != s->n_layers) {       /* another model's adapter */
                peft_saved_clear(s);
                s->at = calloc(n ? n : 1, sizeof *s->at);
                if (!s->at)
                        return SOCFW_ENOMEM;
                s->n_layers = a->n_layers;
        }
        for (size_t i = 0; i < n; i++)
                s->at[i].n = 0;
        s->a = a;
        return 0;
}

void
peft_saved_clear(peft_saved *s)
{
        for (size_t i = 0; s->at && i < (size_t)s->n_layers *
                                                 SOCFW_SITE_COUNT; i++) {
                free(s->at[i].p);
                free(s->at[i].mask);
        }
        free(s->at);
        free(s->pmask);
        memset(s, 0, sizeof *s);
}

peft_saved_site *
peft_saved_at(const peft_pass *p, int l, socfw_site s)
{
        if (!p->keep || !p->keep->at || l < 0 || l >= p->keep->n_layers)
                return NULL;
        return &p->keep->at[(size_t)l * SOCFW_SITE_COUNT + (size_t)s];
}

/* ---- prefix tuning ------------------------------------------------------ */

float *
peft_prefix_saved(const peft_pass *p, int l, int value, size_t n)
{
        peft_saved_site *e = peft_saved_at(
                p, l, value ? SOCFW_SITE_ATTN_V : SOCFW_SITE_ATTN_K);
        if (!e)         /* a pass that keeps nothing */
                return peft_pass_scratch(p, 1 + value, n);
        return peft_grow(&e->p, &e->cap, n);
}

int32_t *
peft_prefix_mask(const peft_pass *p, size_t n)
{
        if (!p->keep)
                return peft_pass_mask(p, n);
        return grow_i32(&p->keep->pmask, &p->keep->pmask_cap, n);
}
