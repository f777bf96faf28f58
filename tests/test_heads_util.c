/* tests/test_heads_util.c - helpers of the head tests (see test_heads.h). */
#include "test_heads.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_impl.h"
#include "socfw/config.h"
#include "testutil.h"

const char *const heads_fixtures[] = {
        "classifier_mean_ce",     "classifier_cls_tanh_ce",
        "classifier_last_gelu_bce", "classifier_max_relu_ce",
        "classifier_mean_bce",    "tagger_ce",
        "tagger_ce_plain",        "lm_tied",
        "lm_untied",              "ranker_softmax",
        "ranker_softmax_raw",     "ranker_bpr",
        "ranker_bce",             "ranker_bce_score",
        "tagger_lookahead",
        NULL};

/* ---- fixtures ---- */

static char *
next_line(char **p)
{
        char *s = *p;
        if (!s || !*s)
                return NULL;
        char *nl = strchr(s, '\n');
        if (nl) {
                *nl = '\0';
                *p = nl + 1;
        } else {
                *p = s + strlen(s);
        }
        return s;
}

int
hfx_load(hfx *f, const char *name)
{
        char rel[256], path[4096];
        memset(f, 0, sizeof *f);
        snprintf(rel, sizeof rel, "tests/fixtures/heads/%s.txt", name);
        socfw_test_path(path, sizeof path, socfw_test_srcdir(), rel);
        char *text = socfw_test_read_file(path, NULL);
        if (!text)
                return -1;
        char *p = text, *line;
        int rc = 0;
        while ((line = next_line(&p)) != NULL) {
                if (line[0] == '#' || line[0] == '\0')
                        continue;
                if (strncmp(line, "type ", 5) == 0) {
                        snprintf(f->type, sizeof f->type, "%s", line + 5);
                } else if (strncmp(line, "head ", 5) == 0) {
                        snprintf(f->head, sizeof f->head, "%s", line + 5);
                } else if (strncmp(line, "loss ", 5) == 0) {
                        snprintf(f->loss, sizeof f->loss, "%s", line + 5);
                } else if (strncmp(line, "target ", 7) == 0) {
                        snprintf(f->target, sizeof f->target, "%s", line + 7);
                } else if (strncmp(line, "dims ", 5) == 0) {
                        if (sscanf(line + 5, "%d %d %d %d", &f->B, &f->T,
                                   &f->C, &f->K) != 4)
                                rc = -1;
                } else if (strncmp(line, "scalar loss ", 12) == 0) {
                        f->loss_value = strtof(line + 12, NULL);
                } else if (strncmp(line, "tensor ", 7) == 0) {
                        hfx_tensor *t = &f->t[f->nt];
                        unsigned long n = 0;
                        if (f->nt >= HFX_MAX_TENSORS ||
                            sscanf(line + 7, "%63s %lu", t->name, &n) != 2 ||
                            n == 0 || n > 100000) {
                                rc = -1;
                                break;
                        }
                        char *vals = next_line(&p), *end;
                        t->v = calloc(n, sizeof *t->v);
                        t->n = n;
                        f->nt++;
                        if (!vals || !t->v) {
                                rc = -1;
                                break;
                        }
                        for (size_t i = 0; i < n; i++) {
                                t->v[i] = strtof(vals, &end);
                                if (end == vals) {
                                        rc = -1;
                                        break;
                                }
                                vals = end;
                        }
                }
        }
        free(text);
        if (rc < 0)
                hfx_free(f);
        return rc;
}

const hfx_tensor *
hfx_get(const hfx *f, const char *name)
{
        for (int i = 0; i < f->nt; i++)
                if (strcmp(f->t[i].name, name) == 0)
                        return &f->t[i];
        return NULL;
}

void
hfx_free(hfx *f)
{
        for (int i = 0; i < f->nt; i++)
                free(f->t[i].v);
        f->nt = 0;
}

/* ---- registry and configs ---- */

socfw_registry *
heads_registry(void)
{
        static socfw_registry *reg;
        if (!reg) {
                reg = socfw_registry_new();
                cr_assert_not_null(reg);
                socfw_registry_add_default_paths(reg, NULL);
                socfw_registry_scan(reg);
        }
        return reg;
}

socfw_config *
heads_config(const char *name, const char *yaml,
             const socfw_param_spec *specs, ynode **node)
{
        socfw_error err = {0};
        *node = NULL;
        if (yaml && ynode_parse_buffer(yaml, strlen(yaml), "test.yaml", node,
                                       &err) < 0)
                cr_assert_fail("bad test YAML '%s': %s", yaml, err.message);
        const socfw_param_spec *tables[1] = {specs};
        socfw_config *cfg = socfw_config_new(name, "test.yaml", ".", *node,
                                             tables, specs ? 1 : 0);
        cr_assert_not_null(cfg);
        return cfg;
}

int
hinst_new(hinst *h, const char *type, const char *head_yaml,
          const char *loss_yaml, int C, int K, const float *emb,
          socfw_error *err)
{
        memset(h, 0, sizeof *h);
        h->d = socfw_registry_find(heads_registry(), type, SOCFW_PLUGIN_HEAD);
        cr_assert_not_null(h->d, "head '%s' not found in the build tree",
                           type);
        h->hc = heads_config(type, head_yaml, h->d->params, &h->hn);
        h->lc = heads_config("loss", loss_yaml, h->d->loss_params, &h->ln);
        h->ps = socfw_params_new();
        cr_assert_not_null(h->ps);
        h->dims.hidden = C;
        h->dims.n_outputs = K;
        h->dims.max_seq = 16;
        h->dims.max_batch = 8;
        if (emb) {
                h->emb = malloc((size_t)K * C * sizeof *h->emb);
                h->emb_grad = calloc((size_t)K * C, sizeof *h->emb_grad);
                cr_assert(h->emb && h->emb_grad);
                memcpy(h->emb, emb, (size_t)K * C * sizeof *h->emb);
                h->dims.embedding = h->emb;
                h->dims.embedding_grad = h->emb_grad;
        }
        int rc = h->d->head->create(h->hc, h->lc, &h->dims, h->ps, &h->state,
                                   err);
        if (rc < 0)
                return rc;
        rc = socfw_params_finalize(h->ps, err);
        if (rc < 0)
                return rc;
        socfw_rng rng;
        socfw_rng_seed(&rng, 7);
        return h->d->head->init_params(h->state, h->ps, &rng, err);
}

void
hinst_free(hinst *h)
{
        if (h->d && h->state)
                h->d->head->destroy(h->state);
        socfw_params_free(h->ps);
        socfw_config_free(h->hc);
        socfw_config_free(h->lc);
        ynode_free(h->hn);
        ynode_free(h->ln);
        free(h->emb);
        free(h->emb_grad);
        memset(h, 0, sizeof *h);
}

int
hinst_param(const hinst *h, const char *suffix)
{
        char name[256];
        snprintf(name, sizeof name, "head.%s.%s", h->d->name, suffix);
        int i = socfw_params_find(h->ps, name);
        return i < 0 ? -1 : i;
}

/* ---- cases ---- */

int
hcase_open(hcase *c, const char *fixture)
{
        memset(c, 0, sizeof *c);
        cr_assert_eq(hfx_load(&c->fx, fixture), 0, "cannot load fixture %s",
                     fixture);
        hfx *f = &c->fx;
        const hfx_tensor *emb = hfx_get(f, "embedding");
        socfw_error err = {0};
        int rc = hinst_new(&c->h, f->type, f->head, f->loss, f->C, f->K,
                           emb ? emb->v : NULL, &err);
        cr_assert_eq(rc, 0, "%s: create failed: %s", fixture, err.message);
        /* parameters from the fixture */
        for (int i = 0; i < f->nt; i++) {
                if (strncmp(f->t[i].name, "param:", 6) != 0)
                        continue;
                int idx = hinst_param(&c->h, f->t[i].name + 6);
                cr_assert_geq(idx, 0, "%s: no tensor for %s", fixture,
                              f->t[i].name);
                cr_assert_eq((size_t)socfw_params_numel(c->h.ps, idx),
                             f->t[i].n, "%s: size of %s", fixture,
                             f->t[i].name);
                memcpy(socfw_params_data(c->h.ps, idx), f->t[i].v,
                       f->t[i].n * sizeof(float));
        }
        size_t N = (size_t)f->B * f->T;
        const hfx_tensor *hid = hfx_get(f, "hidden"), *m = hfx_get(f, "mask");
        cr_assert(hid && m && hid->n == N * f->C && m->n == N);
        c->hidden = malloc(hid->n * sizeof *c->hidden);
        c->mask = malloc(N * sizeof *c->mask);
        cr_assert(c->hidden && c->mask);
        memcpy(c->hidden, hid->v, hid->n * sizeof *c->hidden);
        for (size_t i = 0; i < N; i++)
                c->mask[i] = (int32_t)m->v[i];
        size_t out_n = c->h.d->head->output_size(c->h.state, f->B, f->T);
        cr_assert_gt(out_n, 0);
        c->io.B = f->B;
        c->io.T = f->T;
        c->io.C = f->C;
        c->io.hidden = c->hidden;
        c->io.mask = c->mask;
        c->io.out = calloc(out_n, sizeof(float));
        c->io.dout = calloc(out_n, sizeof(float));
        c->io.dhidden = calloc(N * f->C, sizeof(float));
        cr_assert(c->io.out && c->io.dout && c->io.dhidden);
        /* targets */
        const hfx_tensor *t = hfx_get(f, "target"),
                         *cw = hfx_get(f, "class_weight");
        c->has_targets = strcmp(f->target, "none") != 0;
        if (t) {
                c->itarget = malloc(t->n * sizeof *c->itarget);
                c->ftarget = malloc(t->n * sizeof *c->ftarget);
                cr_assert(c->itarget && c->ftarget);
                for (size_t i = 0; i < t->n; i++) {
                        c->itarget[i] = (int32_t)lrintf(t->v[i]);
                        c->ftarget[i] = t->v[i];
                }
        }
        if (cw) {
                c->cw = malloc(cw->n * sizeof *c->cw);
                cr_assert_not_null(c->cw);
                memcpy(c->cw, cw->v, cw->n * sizeof *c->cw);
                c->tg.class_weight = c->cw;
        }
        if (strcmp(f->target, "class") == 0) {
                c->tg.kind = SOCFW_TARGET_CLASS;
                c->tg.class_ids = c->itarget;
        } else if (strcmp(f->target, "multi") == 0) {
                c->tg.kind = SOCFW_TARGET_MULTI_LABEL;
                c->tg.multi = c->ftarget;
        } else if (strcmp(f->target, "tags") == 0) {
                c->tg.kind = SOCFW_TARGET_TAGS;
                c->tg.tags = c->itarget;
        } else if (strcmp(f->target, "tokens") == 0) {
                c->tg.kind = SOCFW_TARGET_TOKENS;
                c->tg.tags = c->itarget;
        } else if (strcmp(f->target, "score") == 0) {
                c->tg.kind = SOCFW_TARGET_SCORE;
                c->tg.score = c->ftarget;
        }
        return 0;
}

void
hcase_close(hcase *c)
{
        hinst_free(&c->h);
        hfx_free(&c->fx);
        free(c->hidden);
        free(c->mask);
        free(c->itarget);
        free(c->ftarget);
        free(c->cw);
        free(c->io.out);
        free(c->io.dout);
        free(c->io.dhidden);
}

float
hcase_loss(hcase *c, bool training, uint64_t seed)
{
        socfw_error err = {0};
        socfw_rng_seed(&c->rng, seed);
        c->io.training = training;
        c->io.rng = &c->rng;
        int rc = c->h.d->head->forward(c->h.state, &c->io, &err);
        cr_assert_eq(rc, 0, "%s forward: %s", c->fx.type, err.message);
        cr_assert_eq(c->io.out_len,
                     c->h.d->head->output_size(c->h.state, c->io.B, c->io.T));
        float loss = NAN;
        rc = c->h.d->head->loss(c->h.state, &c->io,
                               c->has_targets ? &c->tg : NULL, &loss, &err);
        cr_assert_eq(rc, 0, "%s loss: %s", c->fx.type, err.message);
        return loss;
}

float
hcase_step(hcase *c, bool training, uint64_t seed)
{
        socfw_error err = {0};
        socfw_params_zero_grad(c->h.ps);
        if (c->h.emb_grad)
                memset(c->h.emb_grad, 0,
                       (size_t)c->fx.K * c->fx.C * sizeof(float));
        memset(c->io.dhidden, 0,
               (size_t)c->fx.B * c->fx.T * c->fx.C * sizeof(float));
        float loss = hcase_loss(c, training, seed);
        int rc = c->h.d->head->backward(c->h.state, &c->io, &err);
        cr_assert_eq(rc, 0, "%s backward: %s", c->fx.type, err.message);
        return loss;
}

bool
heads_close(const float *a, const float *b, size_t n, double atol,
            double rtol, double *maxdiff)
{
        bool ok = true;
        double md = 0.0;
        for (size_t i = 0; i < n; i++) {
                double d = fabs((double)a[i] - b[i]);
                if (!(d <= atol + rtol * fabs(b[i])))
                        ok = false;
                if (!(d <= md))
                        md = d;
        }
        if (maxdiff)
                *maxdiff = md;
        return ok;
}
