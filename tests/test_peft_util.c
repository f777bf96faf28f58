/* tests/test_peft_util.c - see test_peft_util.h */
#include "test_peft_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

socfw_modelfile *
peft_fixture_open(const char *name, const char *file)
{
        char path[4200];
        snprintf(path, sizeof path, "%s/tests/fixtures/peft/%s/%s",
                 socfw_test_srcdir(), name, file);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        int rc = socfw_modelfile_open(&mf, path, &err);
        cr_assert_eq(rc, 0, "open %s: %s", path, err.message);
        return mf;
}

void
peft_load_tensors(socfw_adapter *a, const socfw_modelfile *mf)
{
        socfw_params *ps = socfw_adapter_params(a);
        int n = socfw_params_count(ps);
        cr_assert_gt(n, 0);
        cr_assert_eq((size_t)n, socfw_modelfile_n_tensors(mf),
                     "adapter has %d tensors, fixture %zu", n,
                     socfw_modelfile_n_tensors(mf));
        for (int i = 0; i < n; i++) {
                const char *name = socfw_params_name(ps, i);
                const socfw_tensor_info *t = socfw_modelfile_find(mf, name);
                cr_assert_not_null(t, "fixture lacks adapter tensor %s",
                                   name);
                int nd = socfw_params_ndim(ps, i);
                const int64_t *sh = socfw_params_shape(ps, i);
                cr_assert_eq(t->ndim, nd, "%s: ndim %d vs fixture %d", name,
                             nd, t->ndim);
                for (int d = 0; d < nd; d++)
                        cr_assert_eq(t->shape[d], sh[d], "%s: dim %d is %lld,"
                                     " fixture %lld", name, d,
                                     (long long)sh[d],
                                     (long long)t->shape[d]);
                socfw_error err = {0};
                cr_assert_eq(socfw_modelfile_read_f32(
                                     mf, t, socfw_params_data(ps, i),
                                     (size_t)t->nelem, &err), 0, "%s: %s",
                             name, err.message);
        }
}

socfw_model *
peft_tiny_model(socfw_arch arch, uint64_t seed)
{
        socfw_model_config c;
        socfw_model_config_default(&c, arch, 20, 16, 2, 2, 24, 8);
        if (arch == SOCFW_ARCH_LLAMA)
                c.n_kv_heads = 1;
        socfw_model *m = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_model_new_random(&m, &c, seed, &err), 0, "%s",
                     err.message);
        socfw_params *ps = socfw_model_params(m);
        socfw_rng rng;
        socfw_rng_seed(&rng, seed ^ 0x5eed);
        for (int i = 0; i < socfw_params_count(ps); i++)
                if (socfw_params_ndim(ps, i) == 2)
                        cr_assert_eq(socfw_params_init_normal(ps, i, 0.0f,
                                                              0.2f, &rng),
                                     0);
        return m;
}

static int
ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

void
peft_randomize(socfw_adapter *a, uint64_t seed)
{
        socfw_params *ps = socfw_adapter_params(a);
        socfw_rng rng;
        socfw_rng_seed(&rng, seed);
        for (int i = 0; i < socfw_params_count(ps); i++) {
                const char *n = socfw_params_name(ps, i);
                int rc;
                if (ends_with(n, ".ia3_l"))
                        rc = socfw_params_init_uniform(ps, i, 0.7f, 1.3f,
                                                       &rng);
                else if (ends_with(n, ".bias"))
                        rc = socfw_params_init_normal(ps, i, 0.0f, 0.1f,
                                                      &rng);
                else
                        rc = socfw_params_init_normal(ps, i, 0.0f, 0.3f,
                                                      &rng);
                cr_assert_eq(rc, 0, "%s", n);
        }
}

static float *
copy_of(const float *p, size_t n)
{
        float *s = malloc((n ? n : 1) * sizeof *s);
        cr_assert_not_null(s);
        memcpy(s, p, n * sizeof *s);
        return s;
}

float *
peft_snapshot(const socfw_params *ps)
{
        return copy_of(socfw_params_data_buffer(ps),
                       (size_t)socfw_params_size(ps));
}

float *
peft_grads_copy(const socfw_params *ps)
{
        return copy_of(socfw_params_grad_buffer(ps),
                       (size_t)socfw_params_size(ps));
}

int
peft_same(const socfw_params *ps, const float *snap)
{
        size_t n = (size_t)socfw_params_size(ps);
        return memcmp(socfw_params_data_buffer(ps), snap,
                      n * sizeof *snap) == 0;
}

int
peft_grads_zero(const socfw_params *ps)
{
        const float *g = socfw_params_grad_buffer(ps);
        int64_t n = socfw_params_size(ps);
        for (int64_t i = 0; i < n; i++)
                if (g[i] != 0.0f)
                        return 0;
        return 1;
}

/* ---- adapter configurations -------------------------------------------- */

#define BIT(s) SOCFW_SITE_BIT(SOCFW_SITE_##s)

/* An adapter of `type` with its defaults on every site arch has. */
static socfw_adapter_config
all_sites(socfw_adapter_type type, socfw_arch arch)
{
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, type);
        ac.targets = SOCFW_SITE_ALL;
        if (arch != SOCFW_ARCH_LLAMA)
                ac.targets &= ~BIT(MLP_GATE);
        return ac;
}

socfw_adapter_config
peft_lora_all(socfw_arch arch, float dropout)
{
        socfw_adapter_config ac = all_sites(SOCFW_ADAPTER_LORA, arch);
        ac.rank = 2;
        ac.alpha = 3.0f;
        ac.dropout = dropout;
        return ac;
}

socfw_adapter_config
peft_adalora_all(socfw_arch arch)
{
        socfw_adapter_config ac = all_sites(SOCFW_ADAPTER_ADALORA, arch);
        ac.rank = 3;
        ac.target_r = 1;
        ac.alpha = 3.0f;
        return ac;
}

/* every output site as well as the default three */
socfw_adapter_config
peft_ia3_all(socfw_arch arch)
{
        return all_sites(SOCFW_ADAPTER_IA3, arch);
}

socfw_adapter_config
peft_houlsby(socfw_adapter_act act)
{
        socfw_adapter_config ac;
        socfw_adapter_config_default(&ac, SOCFW_ADAPTER_BOTTLENECK);
        ac.targets = BIT(ATTN_O) | BIT(MLP_DOWN);
        ac.reduction_factor = 4;
        ac.act = act;
        return ac;
}
