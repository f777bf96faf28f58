/* peft_internal.h - how the transformer block calls an attached adapter at
 * its named linear sites (framework/arch/block.c).  Not installed.
 *
 * A site computes y = x W + b.  Around it the block calls:
 *
 *   forward:  x' = peft_in_forward(x)        (IA3 on a feed-forward input)
 *             y  = x' W + b                   (the frozen projection)
 *             peft_out_forward(x, y)          (LoRA, IA3 output, bottleneck)
 *   backward: peft_out_backward(x, dy, dx)   dy becomes dL/d(x'W+b) in
 *                                             place; dx += the adapter's own
 *                                             path (LoRA); adapter grads +=
 *             dx' += dy W^T                   (the frozen projection)
 *             peft_in_backward(dx')           dx' becomes dL/dx in place
 *
 * `x` is the site input as the base projection saw it before the in-hook
 * (contiguous (N,in)); y / dy may be column slices of a wider buffer
 * (GPT-2's fused q|k|v), hence their row strides.  A pass with `keep`
 * leaves what backward needs in the caller's peft_saved (a context's),
 * and the backward of that caller reads it there: the adapter itself
 * holds only its tensors and their gradients, so callers over one adapter
 * keep their forwards apart. */
#ifndef SOCFW_PEFT_INTERNAL_H
#define SOCFW_PEFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/peft.h"
#include "socfw/rng.h"

#define PEFT_HIDDEN __attribute__((visibility("hidden")))

/* Scratch of one caller (a socfw_context, a KV cache) for the adapter
 * hooks of its passes, forward and backward (saved.c): many callers may
 * run one adapter at once. */
typedef struct peft_scratch_set {
        float *p[4];
        size_t cap[4];
        int32_t *mask;
        size_t mask_cap;
} peft_scratch_set;

/* Release the buffers (the struct itself is the caller's). */
PEFT_HIDDEN void peft_scratch_set_clear(peft_scratch_set *s);

/* What one (block, site) kept in a forward for its backward (what each
 * type keeps: sites.c). */
typedef struct peft_saved_site {
        float *p;               /* activations                             */
        size_t cap;
        uint8_t *mask;          /* LoRA dropout mask (N,in)                */
        size_t mask_cap;
        int n;                  /* rows kept; 0: nothing to go back on     */
        float drop;             /* LoRA dropout rate of that forward       */
} peft_saved_site;

/* What one caller's forward kept for its adapter's backward (saved.c):
 * an entry per (block, site) of the adapter of that forward, grown on
 * demand, and a prefix adapter's key mask of the batch.  Owned by the
 * caller (a socfw_context), so several callers over one adapter run
 * forward and backward in any order, each over its own activations. */
typedef struct peft_saved {
        const socfw_adapter *a; /* whose forward (compared, never read)   */
        peft_saved_site *at;    /* n_layers x SOCFW_SITE_COUNT            */
        int n_layers;
        int32_t *pmask;
        size_t pmask_cap;
} peft_saved;

/* A forward of `a` about to keep into s: an entry for each of a's
 * (block, site), none holding rows yet.  0 or SOCFW_ENOMEM. */
PEFT_HIDDEN int peft_saved_begin(peft_saved *s, const socfw_adapter *a);

/* Release the buffers (the struct itself is the caller's). */
PEFT_HIDDEN void peft_saved_clear(peft_saved *s);

/* One pass of N rows through the hooks: a forward, or the backward of a
 * forward that kept. */
typedef struct peft_pass {
        int N;                  /* rows                                    */
        peft_saved *keep;       /* forward: keep activations here for
                                   backward (NULL: keep nothing);
                                   backward: what the forward kept        */
        int training;           /* adapter dropout on                      */
        socfw_rng *rng;         /* for dropout (training only)             */
        peft_scratch_set *scr;  /* the caller's scratch                    */
} peft_pass;

/* Scratch buffer `which` (0..3) of at least n floats in the caller's
 * set (contents lost).  NULL when out of memory. */
PEFT_HIDDEN float *peft_pass_scratch(const peft_pass *p, int which,
                                     size_t n);
PEFT_HIDDEN int32_t *peft_pass_mask(const peft_pass *p, size_t n);

/* The input the base projection should read: x itself, or a scaled copy
 * (kept in p->keep, or in scratch when the pass keeps nothing).  NULL when
 * out of memory. */
PEFT_HIDDEN const float *peft_in_forward(socfw_adapter *a, int l,
                                         socfw_site s, const float *x,
                                         int in, const peft_pass *p);

/* Returns 0 or a negative SOCFW_E* code (out of memory, bad dropout). */
PEFT_HIDDEN int peft_out_forward(socfw_adapter *a, int l, socfw_site s,
                                 const float *x, float *y, int ldy, int in,
                                 int out, const peft_pass *p);

/* ---- LoRA on the token embedding (embedding.c) ----
 *
 * After the word-embedding lookup of N tokens into x (N, hidden) and
 * before anything is added to it (positions, token types):
 *   forward:  x[n] += s * A[:, ids[n]]^T B^T
 *   backward: dx (N, hidden) is dL/d(word embedding); the adapter's
 *             gradients get A[:, ids[n]] += s * B^T dx[n] and
 *             B += s * dx^T z with z[n] = A[:, ids[n]] (recomputed from
 *             the ids: a forward keeps nothing).
 * No-ops (0) for adapters without cfg.embed and for NULL.  0 or
 * SOCFW_ENOMEM. */
PEFT_HIDDEN int peft_embed_forward(const socfw_adapter *a,
                                   const int32_t *ids, float *x, int N,
                                   peft_scratch_set *scr);
PEFT_HIDDEN int peft_embed_backward(socfw_adapter *a, const int32_t *ids,
                                    const float *dx, int N,
                                    peft_scratch_set *scr);

/* ---- rows of several adapters (inference) ----
 *
 * A pass's rows may be served by different adapters: runs of consecutive
 * rows, each run's adapter applied to its own rows only (the frozen
 * projection is computed once for all of them).  Run i covers rows
 * [row0, row0 + rows); the runs of a pass cover its p->N rows in order.
 * One run over every row is the single adapter of the hooks above (the
 * same calls, the same arithmetic).  Several runs: a pass that keeps
 * nothing (p->save 0) with the caller's scratch (p->scr); adapters of
 * every type but prefix and prompt, which change the sequence
 * (socfw_adapter_mixes). */
typedef struct peft_run {
        socfw_adapter *a;       /* NULL: the plain backbone               */
        int row0, rows;
} peft_run;

/* peft_in_forward by runs: x itself when no run hooks the input, else
 * one (N,in) buffer whose rows are each run's input as its adapter
 * scales it.  NULL when out of memory. */
PEFT_HIDDEN const float *peft_runs_in_forward(const peft_run *r, int n,
                                              int l, socfw_site s,
                                              const float *x, int in,
                                              const peft_pass *p);

/* peft_embed_forward by runs: each run's adapter on its rows of x
 * (hidden C wide) and ids. */
PEFT_HIDDEN int peft_runs_embed_forward(const peft_run *r, int n,
                                        const int32_t *ids, float *x, int C,
                                        peft_scratch_set *scr);

/* peft_out_forward by runs: each run's adapter on its rows of x and y. */
PEFT_HIDDEN int peft_runs_out_forward(const peft_run *r, int n, int l,
                                      socfw_site s, const float *x, float *y,
                                      int ldy, int in, int out,
                                      const peft_pass *p);

/* dx (N,in) may be NULL when the block does not need it.  p: the rows,
 * what the forward kept (p->keep) and scratch.  Returns 0, SOCFW_ESTATE
 * (p->keep holds no forward of `a` over p->N rows) or SOCFW_ENOMEM. */
PEFT_HIDDEN int peft_out_backward(socfw_adapter *a, int l, socfw_site s,
                                  const float *x, float *dy, int ldy,
                                  float *dx, int in, int out,
                                  const peft_pass *p);

PEFT_HIDDEN void peft_in_backward(socfw_adapter *a, int l, socfw_site s,
                                  const float *x, float *dx, int in, int N);

/* The input the base projection read in the forward p->keep holds (the
 * scaled copy of an IA3 input site, x otherwise); NULL when p->keep holds
 * no forward of `a` over p->N rows. */
PEFT_HIDDEN const float *peft_in_saved(const socfw_adapter *a, int l,
                                       socfw_site s, const float *x,
                                       const peft_pass *p);

/* Whether the adapter hooks the input / output of (l, s). */
PEFT_HIDDEN int peft_hooks_in(const socfw_adapter *a, int l, socfw_site s);
PEFT_HIDDEN int peft_hooks_out(const socfw_adapter *a, int l, socfw_site s);

/* 0, or SOCFW_EINVAL naming the first shape difference with `m`. */
PEFT_HIDDEN int peft_shape_check(const socfw_adapter *a,
                                 const socfw_model *m, socfw_error *err);

/* ---- prefix tuning (block.c, decode.c) ---- */

/* Block l's learned keys (value 0) or values (1): (P, kd); their
 * gradient. */
PEFT_HIDDEN const float *peft_prefix(const socfw_adapter *a, int l, int value);
PEFT_HIDDEN float *peft_prefix_grad(socfw_adapter *a, int l, int value);

/* For pass p: block l's keys or values of the whole batch with the prefix
 * in front (n floats), and the batch's key mask with the prefix in front
 * (n entries), kept in p->keep for backward (or in scratch when the pass
 * keeps nothing).  NULL when out of memory. */
PEFT_HIDDEN float *peft_prefix_saved(const peft_pass *p, int l, int value,
                                     size_t n);
PEFT_HIDDEN int32_t *peft_prefix_mask(const peft_pass *p, size_t n);

/* A prefix adapter with prefix_projection: compute its rows from the
 * MLP when `force` or when its tensors may have changed since
 * (thread-safe; no-op for other adapters and NULL); and after a backward,
 * chain the rows' gradient into the MLP's tensors.  See
 * prefix_projection.c. */
PEFT_HIDDEN void peft_proj_refresh(const socfw_adapter *a, int force);
PEFT_HIDDEN void peft_proj_backward(socfw_adapter *a);

/* ---- prompt tuning (forward.c, decode.c; prompt.c) ---- */

/* The P learned input rows (P, hidden) and their gradient (NULL for other
 * types). */
PEFT_HIDDEN const float *peft_prompt(const socfw_adapter *a);
PEFT_HIDDEN float *peft_prompt_grad(socfw_adapter *a);

/* Lowest block the adapter touches (n_layers when none; 0 for a prompt,
 * whose gradient comes from below every block). */
PEFT_HIDDEN int peft_lowest_layer(const socfw_adapter *a);

#endif
