/* tests/test_gguf_write.c - the GGUF v3 writer, read back through the
 * project's own GGUF reader (socfw/modelfile.h): metadata of every type,
 * tensors in F32 / F16 / Q8_0 / Q4_K with their shapes and bytes, the
 * alignment, copying metadata from one file to another, atomicity, and the
 * refusals. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "socfw/gguf_write.h"
#include "socfw/modelfile.h"
#include "socfw/quantize.h"
#include "testutil.h"

#define OK(call)                                                              \
        do {                                                                  \
                int rc_ = (call);                                             \
                cr_assert_eq(rc_, 0, "%s: %s", #call, err.message);           \
        } while (0)

static char *
tmpfile_path(char *buf, size_t size, const char *name)
{
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        snprintf(buf, size, "%s/%s", dir, name);
        return buf;
}

/* Write a small model: metadata of each kind and four tensors. */
static void
write_sample(const char *path, uint32_t alignment, float *w32, uint8_t *q8,
             uint8_t *q4k)
{
        socfw_error err = {0};
        socfw_gguf_writer *w = NULL;
        OK(socfw_gguf_writer_new(&w, &err));
        OK(socfw_gguf_writer_set_string(w, "general.architecture", "llama", 5,
                                        &err));
        if (alignment)
                OK(socfw_gguf_writer_set_u32(w, "general.alignment",
                                             alignment, &err));
        OK(socfw_gguf_writer_set_u32(w, "llama.block_count", 7, &err));
        OK(socfw_gguf_writer_set_i32(w, "x.i32", -5, &err));
        OK(socfw_gguf_writer_set_u64(w, "x.u64", 1ull << 40, &err));
        OK(socfw_gguf_writer_set_f32(w, "x.f32", 0.25f, &err));
        OK(socfw_gguf_writer_set_bool(w, "x.bool", true, &err));
        socfw_strview toks[3] = {{"<s>", 3}, {"a\0b", 3}, {"\xe2\x96\x81hi", 5}};
        OK(socfw_gguf_writer_set_array(w, "tokenizer.ggml.tokens",
                                       SOCFW_META_STRING, toks, 3, &err));
        float scores[3] = {0, -1.5f, -2};
        OK(socfw_gguf_writer_set_array(w, "tokenizer.ggml.scores",
                                       SOCFW_META_F32, scores, 3, &err));
        int32_t types[3] = {3, 1, 1};
        OK(socfw_gguf_writer_set_array(w, "tokenizer.ggml.token_type",
                                       SOCFW_META_I32, types, 3, &err));
        /* replacing keeps one entry */
        OK(socfw_gguf_writer_set_u32(w, "llama.block_count", 2, &err));

        int64_t s1[1] = {5}, s2[2] = {3, 64}, s3[2] = {2, 256};
        OK(socfw_gguf_writer_add_tensor(w, "norm.weight", SOCFW_DTYPE_F32, 1,
                                        s1, &err));
        OK(socfw_gguf_writer_add_tensor(w, "q8.weight", SOCFW_DTYPE_Q8_0, 2,
                                        s2, &err));
        OK(socfw_gguf_writer_add_tensor(w, "f16.weight", SOCFW_DTYPE_F16, 2,
                                        s2, &err));
        OK(socfw_gguf_writer_add_tensor(w, "q4k.weight", SOCFW_DTYPE_Q4_K, 2,
                                        s3, &err));
        OK(socfw_gguf_writer_begin(w, path, &err));
        for (int i = 0; i < 3 * 64 + 512; i++)
                w32[i] = (float)((i * 37) % 101 - 50) / 64.0f;
        OK(socfw_gguf_writer_write_tensor(w, w32, 5 * 4, &err));
        OK(socfw_quantize_rows(SOCFW_DTYPE_Q8_0, w32, 3, 64, q8, 3 * 2 * 34,
                               "q8", &err));
        OK(socfw_gguf_writer_write_tensor(w, q8, 3 * 2 * 34, &err));
        uint8_t f16[3 * 64 * 2];
        OK(socfw_quantize_rows(SOCFW_DTYPE_F16, w32, 3, 64, f16, sizeof f16,
                               "f16", &err));
        OK(socfw_gguf_writer_write_tensor(w, f16, sizeof f16, &err));
        OK(socfw_quantize_rows(SOCFW_DTYPE_Q4_K, w32 + 192, 2, 256, q4k,
                               2 * 144, "q4k", &err));
        OK(socfw_gguf_writer_write_tensor(w, q4k, 2 * 144, &err));
        OK(socfw_gguf_writer_commit(w, &err));
        socfw_gguf_writer_free(w);
}

static void
check_sample(const char *path, uint32_t alignment, const float *w32,
             const uint8_t *q8, const uint8_t *q4k)
{
        socfw_error err = {0};
        socfw_modelfile *mf = NULL;
        OK(socfw_modelfile_open(&mf, path, &err));
        cr_assert_eq(socfw_modelfile_gguf_version(mf), 3);
        int64_t v;
        OK(socfw_modelfile_get_int(mf, "llama.block_count", &v, &err));
        cr_assert_eq(v, 2);
        OK(socfw_modelfile_get_int(mf, "x.i32", &v, &err));
        cr_assert_eq(v, -5);
        OK(socfw_modelfile_get_int(mf, "x.u64", &v, &err));
        cr_assert_eq(v, 1ll << 40);
        double f;
        OK(socfw_modelfile_get_float(mf, "x.f32", &f, &err));
        cr_assert_eq(f, 0.25);
        bool b = false;
        OK(socfw_modelfile_get_bool(mf, "x.bool", &b, &err));
        cr_assert(b);
        const char *s;
        OK(socfw_modelfile_get_string(mf, "general.architecture", &s, NULL,
                                      &err));
        cr_assert_str_eq(s, "llama");
        const socfw_strview *tv;
        size_t n;
        OK(socfw_modelfile_get_string_array(mf, "tokenizer.ggml.tokens", &tv,
                                            &n, &err));
        cr_assert_eq(n, 3);
        cr_assert_eq(tv[1].len, 3);
        cr_assert(memcmp(tv[1].ptr, "a\0b", 3) == 0);
        cr_assert_str_eq(tv[2].ptr, "\xe2\x96\x81hi");
        float sc[3];
        OK(socfw_modelfile_get_f32_array(mf, "tokenizer.ggml.scores", sc, 3,
                                         &err));
        cr_assert_eq(sc[1], -1.5f);
        socfw_meta_type et;
        OK(socfw_modelfile_get_array(mf, "tokenizer.ggml.token_type", &et, &n,
                                     &err));
        cr_assert_eq(et, SOCFW_META_I32);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 4);

        const socfw_tensor_info *t = socfw_modelfile_find(mf, "norm.weight");
        cr_assert(t && t->dtype == SOCFW_DTYPE_F32 && t->ndim == 1 &&
                  t->shape[0] == 5);
        cr_assert(memcmp(t->data, w32, 20) == 0);
        t = socfw_modelfile_find(mf, "q8.weight");
        cr_assert(t && t->dtype == SOCFW_DTYPE_Q8_0 && t->ndim == 2 &&
                  t->shape[0] == 3 && t->shape[1] == 64);
        cr_assert(memcmp(t->data, q8, 3 * 2 * 34) == 0);
        cr_assert_eq(t->offset % alignment, 0, "offset %llu",
                     (unsigned long long)t->offset);
        float y[3 * 64];
        OK(socfw_modelfile_read_f32(mf, t, y, 3 * 64, &err));
        for (int i = 0; i < 3 * 64; i++)
                cr_assert_float_eq(y[i], w32[i], 0.01f);
        t = socfw_modelfile_find(mf, "f16.weight");
        cr_assert(t && t->dtype == SOCFW_DTYPE_F16);
        cr_assert_eq(t->offset % alignment, 0);
        t = socfw_modelfile_find(mf, "q4k.weight");
        cr_assert(t && t->dtype == SOCFW_DTYPE_Q4_K && t->shape[1] == 256);
        cr_assert(memcmp(t->data, q4k, 2 * 144) == 0);
        cr_assert_eq(t->offset % alignment, 0);
        socfw_modelfile_close(mf);
}

Test(gguf_write, round_trip_default_alignment, .timeout = 30)
{
        char path[4200];
        float w32[3 * 64 + 512];
        uint8_t q8[3 * 2 * 34], q4k[2 * 144];
        tmpfile_path(path, sizeof path, "m.gguf");
        write_sample(path, 0, w32, q8, q4k);
        check_sample(path, 32, w32, q8, q4k);
}

Test(gguf_write, round_trip_alignment_64_and_copy_meta, .timeout = 30)
{
        char path[4200], copy[4300];
        float w32[3 * 64 + 512];
        uint8_t q8[3 * 2 * 34], q4k[2 * 144];
        tmpfile_path(path, sizeof path, "m.gguf");
        write_sample(path, 64, w32, q8, q4k);
        check_sample(path, 64, w32, q8, q4k);

        /* every key copied into a second file reads back the same */
        socfw_error err = {0};
        socfw_modelfile *mf = NULL;
        OK(socfw_modelfile_open(&mf, path, &err));
        socfw_gguf_writer *w = NULL;
        OK(socfw_gguf_writer_new(&w, &err));
        for (size_t i = 0; i < socfw_modelfile_meta_count(mf); i++)
                OK(socfw_gguf_writer_copy_meta(w, mf,
                                               socfw_modelfile_meta_key(mf, i),
                                               &err));
        snprintf(copy, sizeof copy, "%s.copy", path);
        OK(socfw_gguf_writer_begin(w, copy, &err));
        OK(socfw_gguf_writer_commit(w, &err));
        socfw_gguf_writer_free(w);
        socfw_modelfile *mc = NULL;
        OK(socfw_modelfile_open(&mc, copy, &err));
        cr_assert_eq(socfw_modelfile_meta_count(mc),
                     socfw_modelfile_meta_count(mf));
        int64_t a;
        OK(socfw_modelfile_get_int(mc, "general.alignment", &a, &err));
        cr_assert_eq(a, 64);
        OK(socfw_modelfile_get_int(mc, "x.u64", &a, &err));
        cr_assert_eq(a, 1ll << 40);
        float sc[3];
        OK(socfw_modelfile_get_f32_array(mc, "tokenizer.ggml.scores", sc, 3,
                                         &err));
        cr_assert_eq(sc[2], -2.0f);
        const socfw_strview *tv;
        size_t n;
        OK(socfw_modelfile_get_string_array(mc, "tokenizer.ggml.tokens", &tv,
                                            &n, &err));
        cr_assert_eq(tv[1].len, 3);
        socfw_modelfile_close(mc);
        socfw_modelfile_close(mf);
}

Test(gguf_write, unfinished_write_leaves_the_old_file, .timeout = 30)
{
        char path[4200];
        tmpfile_path(path, sizeof path, "keep.gguf");
        cr_assert_eq(socfw_test_write_file(path, "old", 3), 0);
        socfw_error err = {0};
        socfw_gguf_writer *w = NULL;
        OK(socfw_gguf_writer_new(&w, &err));
        int64_t s[1] = {4};
        OK(socfw_gguf_writer_add_tensor(w, "a", SOCFW_DTYPE_F32, 1, s, &err));
        OK(socfw_gguf_writer_begin(w, path, &err));
        cr_assert_eq(socfw_gguf_writer_commit(w, &err), SOCFW_ESTATE);
        socfw_gguf_writer_free(w);      /* discards the temporary */
        size_t len;
        char *txt = socfw_test_read_file(path, &len);
        cr_assert(txt && len == 3 && memcmp(txt, "old", 3) == 0);
        free(txt);
}

Test(gguf_write, refusals)
{
        socfw_error err = {0};
        socfw_gguf_writer *w = NULL;
        OK(socfw_gguf_writer_new(&w, &err));
        int64_t s[2] = {2, 48};
        cr_assert_eq(socfw_gguf_writer_add_tensor(w, "blk.0.ffn_down.weight",
                                                  SOCFW_DTYPE_Q8_0, 2, s,
                                                  &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "blk.0.ffn_down.weight"), "%s",
                  err.message);
        OK(socfw_gguf_writer_add_tensor(w, "x", SOCFW_DTYPE_F16, 2, s, &err));
        memset(&err, 0, sizeof err);
        cr_assert_eq(socfw_gguf_writer_add_tensor(w, "x", SOCFW_DTYPE_F16, 2,
                                                  s, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "duplicate"), "%s", err.message);
        char longname[80];
        memset(longname, 'n', sizeof longname - 1);
        longname[79] = '\0';
        cr_assert_eq(socfw_gguf_writer_add_tensor(w, longname,
                                                  SOCFW_DTYPE_F32, 2, s,
                                                  NULL),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_gguf_writer_add_tensor(w, "b", SOCFW_DTYPE_BOOL,
                                                  2, s, NULL),
                     SOCFW_EUNSUPPORTED);
        cr_assert_eq(socfw_gguf_writer_set_u32(w, "general.alignment", 48,
                                               NULL),
                     SOCFW_EINVAL);
        cr_assert_eq(socfw_gguf_writer_write_tensor(w, "", 0, NULL),
                     SOCFW_ESTATE);
        char path[4200];
        tmpfile_path(path, sizeof path, "r.gguf");
        OK(socfw_gguf_writer_begin(w, path, &err));
        uint8_t data[2 * 48 * 2] = {0};
        memset(&err, 0, sizeof err);
        cr_assert_eq(socfw_gguf_writer_write_tensor(w, data, 10, &err),
                     SOCFW_EINVAL);
        cr_assert(strstr(err.message, "'x'"), "%s", err.message);
        cr_assert_eq(socfw_gguf_writer_set_u32(w, "late", 1, NULL),
                     SOCFW_EINVAL);
        OK(socfw_gguf_writer_write_tensor(w, data, sizeof data, &err));
        OK(socfw_gguf_writer_commit(w, &err));
        socfw_gguf_writer_free(w);
        cr_assert_eq(access(path, F_OK), 0);
}
