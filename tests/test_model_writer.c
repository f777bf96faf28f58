/* test_model_writer.c - the safetensors writer: round trip, determinism,
 * atomicity, input validation; and the dtype helpers. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "socfw/modelfile.h"
#include "socfw/safetensors.h"
#include "testutil.h"

static int
count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;
        cr_assert_not_null(d);
        while ((de = readdir(d)) != NULL)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

Test(model_writer, round_trip, .timeout = 10)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/model.safetensors", dir);

        float w[6] = {1, -2, 3.5f, 0, 1e-7f, -1e7f};
        int64_t ids[3] = {-1, 0, INT64_MAX};
        uint16_t h[2] = {0x3c00, 0xc000};
        uint8_t flag = 1;
        socfw_tensor_info t[4] = {
                {.name = "z.weight", .dtype = SOCFW_DTYPE_F32, .ndim = 2,
                 .shape = {2, 3}, .data = w},
                {.name = "a.ids", .dtype = SOCFW_DTYPE_I64, .ndim = 1,
                 .shape = {3}, .data = ids, .nbytes = 24},
                {.name = "m.half", .dtype = SOCFW_DTYPE_F16, .ndim = 1,
                 .shape = {2}, .data = h},
                {.name = "flag", .dtype = SOCFW_DTYPE_BOOL, .ndim = 0,
                 .data = &flag},
        };
        socfw_safetensors_kv kv[2] = {{"format", "pt"},
                                      {"socfw.step", "1200"}};
        socfw_error err = {0};
        cr_assert_eq(socfw_safetensors_write(path, t, 4, kv, 2, &err), 0,
                     "%s", err.message);
        cr_assert_eq(count_entries(dir), 1, "temporary file left behind");

        socfw_modelfile *mf = NULL;
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 4);
        const socfw_tensor_info *z = socfw_modelfile_find(mf, "z.weight");
        cr_assert_eq(z->ndim, 2);
        cr_assert_eq(z->shape[0], 2);
        cr_assert_eq(z->shape[1], 3);
        const float *zv = socfw_modelfile_f32_data(z);
        cr_assert_not_null(zv, "F32 data should be aligned");
        cr_assert_eq(memcmp(zv, w, sizeof w), 0);
        const socfw_tensor_info *a = socfw_modelfile_find(mf, "a.ids");
        cr_assert_eq(a->dtype, SOCFW_DTYPE_I64);
        cr_assert_eq(memcmp(a->data, ids, sizeof ids), 0);
        float hv[2];
        cr_assert_eq(socfw_modelfile_read_f32(
                             mf, socfw_modelfile_find(mf, "m.half"), hv, 2,
                             NULL), 0);
        cr_assert_eq(hv[0], 1.0f);
        cr_assert_eq(hv[1], -2.0f);
        const socfw_tensor_info *f = socfw_modelfile_find(mf, "flag");
        cr_assert_eq(f->ndim, 0);
        cr_assert_eq(*(const uint8_t *)f->data, 1);
        const char *s;
        cr_assert_eq(socfw_modelfile_get_string(mf, "__metadata__.socfw.step",
                                                &s, NULL, NULL), 0);
        cr_assert_str_eq(s, "1200");
        /* header padded to 8 bytes, wide types first: every tensor is
         * aligned to its element size */
        for (size_t i = 0; i < socfw_modelfile_n_tensors(mf); i++) {
                const socfw_tensor_info *ti = socfw_modelfile_tensor(mf, i);
                cr_assert_eq(ti->offset % socfw_dtype_block_bytes(ti->dtype),
                             0, "%s", ti->name);
        }
        socfw_modelfile_close(mf);

        /* deterministic: same input in another order gives the same bytes */
        char path2[4200];
        snprintf(path2, sizeof path2, "%s/again.safetensors", dir);
        socfw_tensor_info r[4] = {t[3], t[2], t[1], t[0]};
        socfw_safetensors_kv rkv[2] = {kv[1], kv[0]};
        cr_assert_eq(socfw_safetensors_write(path2, r, 4, rkv, 2, NULL), 0);
        size_t l1, l2;
        char *b1 = socfw_test_read_file(path, &l1);
        char *b2 = socfw_test_read_file(path2, &l2);
        cr_assert_eq(l1, l2);
        cr_assert_eq(memcmp(b1, b2, l1), 0);
        /* and the header is what other readers expect */
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--)
                hl = (hl << 8) | (uint8_t)b1[i];
        cr_assert_eq(hl % 8, 0);
        cr_assert_eq(b1[8], '{');
        cr_assert(strstr(b1 + 8, "\"__metadata__\":{\"format\":\"pt\","
                                 "\"socfw.step\":\"1200\"}"), "%.*s",
                  (int)hl, b1 + 8);
        cr_assert(strstr(b1 + 8, "\"a.ids\":{\"dtype\":\"I64\",\"shape\":"
                                 "[3],\"data_offsets\":[0,24]}"), "%.*s",
                  (int)hl, b1 + 8);
        free(b1);
        free(b2);
}

Test(model_writer, overwrite_and_empty, .timeout = 10)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/x.safetensors", dir);
        cr_assert_eq(socfw_safetensors_write(path, NULL, 0, NULL, 0, NULL), 0);
        socfw_modelfile *mf = NULL;
        cr_assert_eq(socfw_modelfile_open(&mf, path, NULL), 0);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 0);
        socfw_modelfile_close(mf);
        float v = 3;
        socfw_tensor_info t = {.name = "v", .dtype = SOCFW_DTYPE_F32,
                               .ndim = 1, .shape = {1}, .data = &v};
        cr_assert_eq(socfw_safetensors_write(path, &t, 1, NULL, 0, NULL), 0);
        cr_assert_eq(socfw_modelfile_open(&mf, path, NULL), 0);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 1);
        socfw_modelfile_close(mf);
        cr_assert_eq(count_entries(dir), 1);
}

/* The old file survives a write that fails half-way (file size limit). */
Test(model_writer, failed_write_leaves_old_file, .timeout = 10)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
        float small = 1;
        socfw_tensor_info t = {.name = "w", .dtype = SOCFW_DTYPE_F32,
                               .ndim = 1, .shape = {1}, .data = &small};
        cr_assert_eq(socfw_safetensors_write(path, &t, 1, NULL, 0, NULL), 0);
        size_t old_len;
        char *old = socfw_test_read_file(path, &old_len);

        /* Criterion runs each test in its own process: the limit and the
         * ignored signal stay here. */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
        cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
        size_t n = 1 << 16;
        float *big = calloc(n, sizeof *big);
        socfw_tensor_info tb = {.name = "w", .dtype = SOCFW_DTYPE_F32,
                                .ndim = 1, .shape = {(int64_t)n},
                                .data = big};
        socfw_error err = {0};
        cr_assert_eq(socfw_safetensors_write(path, &tb, 1, NULL, 0, &err),
                     SOCFW_EIO);
        cr_assert(strstr(err.message, "unchanged"), "%s", err.message);
        size_t now_len;
        char *now = socfw_test_read_file(path, &now_len);
        cr_assert_eq(now_len, old_len);
        cr_assert_eq(memcmp(now, old, old_len), 0);
        cr_assert_eq(count_entries(dir), 1, "temporary file left behind");
        free(big);
        free(old);
        free(now);
}

Test(model_writer, bad_input_writes_nothing, .timeout = 10)
{
        char dir[4096], path[4200];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/bad.safetensors", dir);
        float v[32] = {0};
        const struct {
                socfw_tensor_info t[2];
                size_t n;
                int code;
                const char *expect;
        } cases[] = {
                {{{.name = "a", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {1}, .data = v},
                  {.name = "a", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {1}, .data = v}}, 2, SOCFW_EINVAL, "duplicate"},
                {{{.name = "", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {1}, .data = v}}, 1, SOCFW_EINVAL, "name"},
                {{{.name = "q", .dtype = SOCFW_DTYPE_Q8_0, .ndim = 1,
                   .shape = {32}, .data = v}}, 1, SOCFW_EUNSUPPORTED,
                 "Q8_0"},
                {{{.name = "n", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {-1}, .data = v}}, 1, SOCFW_EINVAL, "shape"},
                {{{.name = "d", .dtype = SOCFW_DTYPE_F32, .ndim = 9,
                   .data = v}}, 1, SOCFW_EINVAL, "ndim"},
                {{{.name = "s", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {2}, .data = v, .nbytes = 4}}, 1, SOCFW_EINVAL,
                 "nbytes"},
                {{{.name = "x", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {2}}}, 1, SOCFW_EINVAL, "no data"},
                {{{.name = "\xff\xfe", .dtype = SOCFW_DTYPE_F32, .ndim = 1,
                   .shape = {1}, .data = v}}, 1, SOCFW_EINVAL, "UTF-8"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_error err = {0};
                cr_assert_eq(socfw_safetensors_write(path, cases[i].t,
                                                     cases[i].n, NULL, 0,
                                                     &err),
                             cases[i].code, "case %zu: %s", i, err.message);
                cr_assert(strstr(err.message, cases[i].expect),
                          "case %zu: %s", i, err.message);
        }
        socfw_safetensors_kv kv[2] = {{"k", "1"}, {"k", "2"}};
        cr_assert_eq(socfw_safetensors_write(path, NULL, 0, kv, 2, NULL),
                     SOCFW_EINVAL);
        cr_assert_eq(count_entries(dir), 0);
        /* a directory that does not exist */
        socfw_error err = {0};
        cr_assert_eq(socfw_safetensors_write("/nonexistent/dir/x", NULL, 0,
                                             NULL, 0, &err), SOCFW_EIO);
        cr_assert(strstr(err.message, "temporary"), "%s", err.message);
}

/* ---- dtype helpers ---- */

Test(model_dtype, table)
{
        static const struct {
                socfw_dtype t;
                const char *name;
                size_t block, bytes;
        } tab[] = {
                {SOCFW_DTYPE_F32, "F32", 1, 4},
                {SOCFW_DTYPE_F16, "F16", 1, 2},
                {SOCFW_DTYPE_BF16, "BF16", 1, 2},
                {SOCFW_DTYPE_Q8_0, "Q8_0", 32, 34},
                {SOCFW_DTYPE_Q4_0, "Q4_0", 32, 18},
                {SOCFW_DTYPE_Q6_K, "Q6_K", 256, 210},
                {SOCFW_DTYPE_BOOL, "BOOL", 1, 1},
        };
        for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
                cr_assert_str_eq(socfw_dtype_name(tab[i].t), tab[i].name);
                cr_assert_eq(socfw_dtype_block_size(tab[i].t), tab[i].block);
                cr_assert_eq(socfw_dtype_block_bytes(tab[i].t), tab[i].bytes);
                socfw_dtype back;
                cr_assert_eq(socfw_dtype_from_name(tab[i].name, &back), 0);
                cr_assert_eq(back, tab[i].t);
        }
        cr_assert_str_eq(socfw_dtype_name((socfw_dtype)999), "?");
        cr_assert_eq(socfw_dtype_from_name("F8_E4M3", NULL), SOCFW_ENOTFOUND);
        size_t nb;
        cr_assert_eq(socfw_dtype_nbytes(SOCFW_DTYPE_Q8_0, 64, &nb), 0);
        cr_assert_eq(nb, 68);
        cr_assert_eq(socfw_dtype_nbytes(SOCFW_DTYPE_Q8_0, 33, &nb),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_dtype_nbytes(SOCFW_DTYPE_F64, UINT64_MAX / 4, &nb),
                     SOCFW_EINVAL);
}

Test(model_dtype, half_precision)
{
        static const struct {
                uint16_t h;
                float f;
        } f16[] = {
                {0x0000, 0.0f}, {0x3c00, 1.0f}, {0xc000, -2.0f},
                {0x7bff, 65504.0f}, {0x0400, 6.103515625e-05f},
                {0x0001, 5.9604644775390625e-08f}, {0x3555, 0.333251953125f},
                {0x7c00, INFINITY}, {0xfc00, -INFINITY},
        };
        for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++) {
                cr_assert_eq(socfw_f16_to_f32(f16[i].h), f16[i].f, "%04x",
                             f16[i].h);
                cr_assert_eq(socfw_f32_to_f16(f16[i].f), f16[i].h, "%g",
                             f16[i].f);
        }
        cr_assert(isnan(socfw_f16_to_f32(0x7e00)));
        cr_assert(isnan(socfw_f16_to_f32(socfw_f32_to_f16(NAN))));
        /* rounding: 1 + 2^-11 is a tie -> even (1.0); overflow -> inf */
        cr_assert_eq(socfw_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
        cr_assert_eq(socfw_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
        cr_assert_eq(socfw_f32_to_f16(65520.0f), 0x7c00);
        cr_assert_eq(socfw_f32_to_f16(1e-9f), 0x0000);
        /* every f16 survives a round trip */
        for (uint32_t h = 0; h < 0x10000; h++) {
                if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
                        continue;       /* nan payloads */
                cr_assert_eq(socfw_f32_to_f16(socfw_f16_to_f32((uint16_t)h)),
                             h, "%04x", h);
        }
        cr_assert_eq(socfw_bf16_to_f32(0x3f80), 1.0f);
        cr_assert_eq(socfw_f32_to_bf16(1.0f), 0x3f80);
        cr_assert_eq(socfw_f32_to_bf16(3.140625f), 0x4049);
        /* 1 + 2^-8 is a tie between 0x3f80 and 0x3f81 -> even */
        cr_assert_eq(socfw_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
        cr_assert(isnan(socfw_bf16_to_f32(socfw_f32_to_bf16(NAN))));
}
