/* tests/test_heads.h - shared helpers of the head tests (tests/test_heads*.c).
 *
 * A head is loaded through the registry from the build tree, given a
 * socfw_config built from a YAML flow mapping (the internal config/yamltree
 * API, as the pipeline does), and run on a fixture written by
 * tests/fixtures/heads/gen_heads_fixtures.py:
 *
 *     hcase c;
 *     cr_assert_eq(hcase_open(&c, "classifier_mean_ce"), 0);
 *     float loss = hcase_step(&c, false, 0);   // forward + loss + backward
 *     ... c.io.out, c.io.dout, c.io.dhidden, c.h.ps gradients ...
 *     hcase_close(&c);
 */
#ifndef SOCFW_TEST_HEADS_H
#define SOCFW_TEST_HEADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/yamltree.h"
#include "socfw/params.h"
#include "socfw/plugin.h"
#include "socfw/registry.h"

#define HFX_MAX_TENSORS 40

typedef struct {
        char name[64];
        size_t n;
        float *v;
} hfx_tensor;

typedef struct {
        char type[32], head[512], loss[512], target[16];
        int B, T, C, K;
        float loss_value;
        hfx_tensor t[HFX_MAX_TENSORS];
        int nt;
} hfx;

/* Load tests/fixtures/heads/<name>.txt.  0 on success. */
int hfx_load(hfx *f, const char *name);
const hfx_tensor *hfx_get(const hfx *f, const char *name);
void hfx_free(hfx *f);

/* The registry over the build tree (scanned once per process). */
socfw_registry *heads_registry(void);

/* A config over a YAML flow mapping ("{pooling: cls}") checked against
 * `specs`; *node receives the tree to free after the config. */
socfw_config *heads_config(const char *name, const char *yaml,
                           const socfw_param_spec *specs, ynode **node);

/* One head instance with its own parameter store. */
typedef struct {
        const socfw_plugin *d;
        ynode *hn, *ln;
        socfw_config *hc, *lc;
        socfw_params *ps;
        void *state;
        socfw_head_dims dims;
        float *emb, *emb_grad;          /* tied embedding (owned) or NULL */
} hinst;

/* Create `type` with the given sections; emb (K,C) is copied when not
 * NULL.  Finalizes the store and initialises with seed 7.  Returns 0 or
 * the failing code; err gets the message. */
int hinst_new(hinst *h, const char *type, const char *head_yaml,
              const char *loss_yaml, int C, int K, const float *emb,
              socfw_error *err);
void hinst_free(hinst *h);
/* Tensor "<prefix>.<suffix>" of the instance's store, or -1. */
int hinst_param(const hinst *h, const char *suffix);

/* A fixture with a head built for it and io buffers. */
typedef struct {
        hfx fx;
        hinst h;
        socfw_head_io io;
        socfw_head_targets tg;
        bool has_targets;
        float *hidden;
        int32_t *mask, *itarget;
        float *ftarget, *cw;
        socfw_rng rng;
} hcase;

/* Load the fixture, create the head, copy the fixture's parameters into
 * the store.  Returns 0 (asserts inside on failure). */
int hcase_open(hcase *c, const char *fixture);
void hcase_close(hcase *c);
/* Zero the gradients (store, embedding, dhidden), then forward + loss +
 * backward.  Dropout draws from a generator seeded with `seed`. */
float hcase_step(hcase *c, bool training, uint64_t seed);
/* forward + loss only. */
float hcase_loss(hcase *c, bool training, uint64_t seed);

/* Largest |a-b| and whether every |a-b| <= atol + rtol |b|. */
bool heads_close(const float *a, const float *b, size_t n, double atol,
                 double rtol, double *maxdiff);

/* The fixture names, NULL-terminated. */
extern const char *const heads_fixtures[];

#endif
