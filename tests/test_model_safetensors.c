/* test_model_safetensors.c - safetensors files and Hugging Face model
 * directories: the shared tiny models, sharded directories, config.json
 * flattening and corrupt headers. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/modelfile.h"
#include "testutil.h"

/* Build a safetensors image from a header text and `datalen` data bytes
 * (byte i = i & 0xff).  Caller frees. */
static uint8_t *
make_st(const char *header, size_t datalen, size_t *len)
{
        size_t hl = strlen(header);
        *len = 8 + hl + datalen;
        uint8_t *p = malloc(*len ? *len : 1);
        cr_assert_not_null(p);
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)((uint64_t)hl >> (8 * i));
        memcpy(p + 8, header, hl);
        for (size_t i = 0; i < datalen; i++)
                p[8 + hl + i] = (uint8_t)i;
        return p;
}

static int
open_st(const char *header, size_t datalen, socfw_error *err)
{
        size_t len;
        uint8_t *p = make_st(header, datalen, &len);
        socfw_modelfile *mf = NULL;
        int rc = socfw_modelfile_open_memory(&mf, p, len, "m.safetensors",
                                             err);
        socfw_modelfile_close(mf);
        free(p);
        return rc;
}

Test(model_safetensors, minimal_file)
{
        const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                        "\"data_offsets\":[8,16]},"
                        "\"a\":{\"dtype\":\"I16\",\"shape\":[2,2],"
                        "\"data_offsets\":[0,8]},"
                        "\"s\":{\"dtype\":\"U8\",\"shape\":[],"
                        "\"data_offsets\":[16,17]}}";
        size_t len;
        uint8_t *p = make_st(h, 17, &len);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, p, len, NULL, &err), 0,
                     "%s", err.message);
        cr_assert_eq(socfw_modelfile_format_of(mf),
                     SOCFW_MODELFILE_SAFETENSORS);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 3);
        /* name order */
        cr_assert_str_eq(socfw_modelfile_tensor(mf, 0)->name, "a");
        cr_assert_str_eq(socfw_modelfile_tensor(mf, 1)->name, "b");
        const socfw_tensor_info *a = socfw_modelfile_find(mf, "a");
        cr_assert_eq(a->dtype, SOCFW_DTYPE_I16);
        cr_assert_eq(a->ndim, 2);
        cr_assert_eq(a->nelem, 4);
        cr_assert_eq(a->offset, 8 + strlen(h));
        float f[4];
        cr_assert_eq(socfw_modelfile_read_f32(mf, a, f, 4, NULL), 0);
        cr_assert_eq(f[0], (float)(0 | (1 << 8)));
        const socfw_tensor_info *s = socfw_modelfile_find(mf, "s");
        cr_assert_eq(s->ndim, 0);
        cr_assert_eq(s->nelem, 1);
        cr_assert_eq(socfw_modelfile_read_f32(mf, s, f, 1, NULL), 0);
        cr_assert_eq(f[0], 16.0f);
        const char *fmt;
        cr_assert_eq(socfw_modelfile_get_string(mf, "__metadata__.format",
                                                &fmt, NULL, NULL), 0);
        cr_assert_str_eq(fmt, "pt");
        socfw_modelfile_close(mf);
        free(p);
}

struct bad_case {
        const char *what;
        const char *header;
        size_t datalen;
        int code;
        const char *expect;
};

#define T1(dt, shape, b, e)                                                    \
        "\"t\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":["  \
        #b "," #e "]}"

static const struct bad_case bad[] = {
        {"invalid JSON", "{\"t\":{\"dtype\":", 0, SOCFW_EFORMAT,
         "invalid JSON"},
        {"not an object", "[1,2,3]", 0, SOCFW_EFORMAT, "not a JSON object"},
        {"json string", "\"x\"", 0, SOCFW_EFORMAT, "not a JSON object"},
        {"duplicate names",
         "{" T1("F32", "[1]", 0, 4) "," T1("F32", "[1]", 4, 8) "}", 8,
         SOCFW_EFORMAT, "invalid JSON"},
        {"offsets out of bounds", "{" T1("F32", "[4]", 0, 16) "}", 8,
         SOCFW_EFORMAT, "outside the data buffer"},
        {"begin > end", "{" T1("F32", "[0]", 8, 4) "}", 8, SOCFW_EFORMAT,
         "outside the data buffer"},
        {"inconsistent with shape", "{" T1("F32", "[3]", 0, 8) "}", 8,
         SOCFW_EFORMAT, "need 12"},
        {"overlapping",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, SOCFW_EFORMAT, "overlaps"},
        {"hole", "{" T1("F32", "[1]", 4, 8) "}", 8, SOCFW_EFORMAT,
         "unused bytes"},
        {"trailing bytes", "{" T1("F32", "[1]", 0, 4) "}", 8, SOCFW_EFORMAT,
         "trailing"},
        {"unknown dtype", "{" T1("F7", "[1]", 0, 1) "}", 1,
         SOCFW_EUNSUPPORTED, "dtype 'F7'"},
        {"quantised dtype", "{" T1("Q8_0", "[32]", 0, 34) "}", 34,
         SOCFW_EUNSUPPORTED, "dtype 'Q8_0'"},
        {"negative dim", "{" T1("F32", "[-1]", 0, 4) "}", 4, SOCFW_EFORMAT,
         "shape[0]"},
        {"ndim > 8", "{" T1("U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) "}", 1,
         SOCFW_EFORMAT, "9 dimensions"},
        {"shape overflow",
         "{" T1("F32", "[4294967296,4294967296,4294967296]", 0, 4) "}", 4,
         SOCFW_EFORMAT, "overflow"},
        {"size overflow", "{" T1("F64", "[4611686018427387904]", 0, 8) "}",
         8, SOCFW_EFORMAT, "overflow"},
        {"missing fields", "{\"t\":{\"dtype\":\"F32\"}}", 0, SOCFW_EFORMAT,
         "data_offsets"},
        {"tensor not an object", "{\"t\":5}", 0, SOCFW_EFORMAT,
         "expected an object"},
        {"metadata not strings", "{\"__metadata__\":{\"a\":1}}", 0,
         SOCFW_EFORMAT, "not a string"},
        {"empty name", "{" "\"\":{\"dtype\":\"U8\",\"shape\":[1],"
         "\"data_offsets\":[0,1]}}", 1, SOCFW_EFORMAT, "empty tensor name"},
};

Test(model_safetensors, corrupt_headers_are_rejected)
{
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                socfw_error err = {0};
                char buf[2048];
                int rc = open_st(bad[i].header, bad[i].datalen, &err);
                socfw_error_string(&err, buf, sizeof buf);
                cr_assert_eq(rc, bad[i].code, "%s: rc %d: %s", bad[i].what,
                             rc, buf);
                cr_assert(strstr(buf, bad[i].expect),
                          "%s: '%s' lacks '%s'", bad[i].what, buf,
                          bad[i].expect);
                cr_assert(strncmp(buf, "m.safetensors: ", 15) == 0, "%s", buf);
        }
}

Test(model_safetensors, header_length_checks)
{
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        uint8_t p[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                         '{', '}'};
        cr_assert_eq(socfw_modelfile_open_memory(&mf, p, 10, "m", &err),
                     SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "exceeds the file size"), "%s",
                  err.message);
        socfw_error_clear(&err);
        p[0] = 3;
        memset(p + 1, 0, 7);
        cr_assert_eq(socfw_modelfile_open_memory(&mf, p, 10, "m", &err),
                     SOCFW_EFORMAT);
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open_memory(&mf, p, 5, "m", &err),
                     SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "too short"), "%s", err.message);
        /* "{}" is a valid empty file */
        p[0] = 2;
        cr_assert_eq(socfw_modelfile_open_memory(&mf, p, 10, "m", NULL), 0);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 0);
        socfw_modelfile_close(mf);
}

Test(model_safetensors, every_truncation_is_rejected)
{
        const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                        "\"data_offsets\":[0,8]}}";
        size_t len;
        uint8_t *p = make_st(h, 8, &len);
        for (size_t cut = 0; cut < len; cut++) {
                uint8_t *q = malloc(cut ? cut : 1);
                memcpy(q, p, cut);
                socfw_modelfile *mf = NULL;
                socfw_error err = {0};
                cr_assert_lt(socfw_modelfile_open_memory(&mf, q, cut, "m",
                                                         &err), 0,
                             "cut %zu", cut);
                cr_assert_neq(err.message[0], '\0');
                free(q);
        }
        free(p);
}

/* ---- shared Hugging Face models ---- */

struct shape_case {
        const char *name;
        int ndim;
        int64_t s0, s1;
};

static void
check_dir(const char *rel, const struct shape_case *sc, size_t n,
          size_t n_tensors, socfw_modelfile **out)
{
        char path[4096];
        SOCFW_TEST_NEED_SHARED(path, rel);
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        char buf[2048];
        cr_assert_eq(socfw_modelfile_open(&mf, path, &err), 0, "%s",
                     socfw_error_string(&err, buf, sizeof buf));
        cr_assert_str_eq(socfw_modelfile_dir(mf), path);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), n_tensors);
        for (size_t i = 0; i < n; i++) {
                const socfw_tensor_info *t = socfw_modelfile_find(mf,
                                                                  sc[i].name);
                cr_assert_not_null(t, "%s", sc[i].name);
                cr_assert_eq(t->dtype, SOCFW_DTYPE_F32);
                cr_assert_eq(t->ndim, sc[i].ndim, "%s", sc[i].name);
                cr_assert_eq(t->shape[0], sc[i].s0, "%s", sc[i].name);
                if (sc[i].ndim > 1)
                        cr_assert_eq(t->shape[1], sc[i].s1, "%s", sc[i].name);
        }
        *out = mf;
}

Test(model_safetensors, fake_gpt2, .timeout = 30)
{
        static const struct shape_case sc[] = {
                {"transformer.wte.weight", 2, 50257, 2},
                {"transformer.wpe.weight", 2, 1024, 2},
                {"transformer.h.0.attn.c_attn.weight", 2, 2, 6},
                {"transformer.h.0.attn.c_attn.bias", 1, 6, 0},
                {"transformer.h.0.mlp.c_proj.weight", 2, 8, 2},
                {"transformer.ln_f.bias", 1, 2, 0},
        };
        socfw_modelfile *mf;
        check_dir("models/hf/fake_gpt2", sc, sizeof sc / sizeof sc[0], 16,
                  &mf);
        int64_t v;
        cr_assert_eq(socfw_modelfile_get_int(mf, "n_embd", &v, NULL), 0);
        cr_assert_eq(v, 2);
        cr_assert_eq(socfw_modelfile_get_int(mf, "vocab_size", &v, NULL), 0);
        cr_assert_eq(v, 50257);
        cr_assert_eq(socfw_modelfile_get_int(mf, "bos_token_id", &v, NULL), 0);
        cr_assert_eq(v, 50256);
        /* nested objects are flattened with dots */
        cr_assert_eq(socfw_modelfile_get_int(
                             mf, "task_specific_params.text-generation."
                                 "max_length", &v, NULL), 0);
        cr_assert_eq(v, 50);
        bool b;
        cr_assert_eq(socfw_modelfile_get_bool(
                             mf, "task_specific_params.text-generation."
                                 "do_sample", &b, NULL), 0);
        cr_assert(b);
        double eps;
        cr_assert_eq(socfw_modelfile_get_float(mf, "layer_norm_epsilon", &eps,
                                               NULL), 0);
        cr_assert_float_eq(eps, 1e-5, 1e-12);
        socfw_meta_type t;
        cr_assert(socfw_modelfile_has(mf, "n_inner", &t));
        cr_assert_eq(t, SOCFW_META_NULL);
        const socfw_strview *arch;
        size_t n;
        cr_assert_eq(socfw_modelfile_get_string_array(mf, "architectures",
                                                      &arch, &n, NULL), 0);
        cr_assert_eq(n, 1);
        cr_assert_str_eq(arch[0].ptr, "GPT2LMHeadModel");
        const char *mt;
        cr_assert_eq(socfw_modelfile_get_string(mf, "model_type", &mt, NULL,
                                                NULL), 0);
        cr_assert_str_eq(mt, "gpt2");
        /* float getter on an int, int getter on a float */
        double d;
        cr_assert_eq(socfw_modelfile_get_float(mf, "n_embd", &d, NULL), 0);
        cr_assert_eq(socfw_modelfile_get_int(mf, "attn_pdrop", &v, NULL),
                     SOCFW_EINVAL);
        socfw_modelfile_close(mf);
}

Test(model_safetensors, tiny_gpt2, .timeout = 30)
{
        static const struct shape_case sc[] = {
                {"wte.weight", 2, 21, 2},
                {"wpe.weight", 2, 1024, 2},
                {"h.0.mlp.c_fc.weight", 2, 2, 8},
                {"h.0.ln_1.weight", 1, 2, 0},
        };
        socfw_modelfile *mf;
        check_dir("models/hf/tiny_gpt2", sc, sizeof sc / sizeof sc[0], 16,
                  &mf);
        int64_t v;
        cr_assert_eq(socfw_modelfile_get_int(mf, "vocab_size", &v, NULL), 0);
        cr_assert_eq(v, 21);
        cr_assert_eq(socfw_modelfile_get_int(mf, "n_layer", &v, NULL), 0);
        cr_assert_eq(v, 1);
        /* the tokenizer engineer looks for files next to the model */
        char p[4200];
        snprintf(p, sizeof p, "%s/vocab.json", socfw_modelfile_dir(mf));
        FILE *f = fopen(p, "r");
        cr_assert_not_null(f, "%s", p);
        fclose(f);
        socfw_modelfile_close(mf);
}

Test(model_safetensors, bert_tiniest, .timeout = 30)
{
        static const struct shape_case sc[] = {
                {"bert.embeddings.word_embeddings.weight", 2, 30522, 4},
                {"bert.embeddings.position_embeddings.weight", 2, 512, 4},
                {"bert.embeddings.token_type_embeddings.weight", 2, 2, 4},
                {"bert.encoder.layer.0.intermediate.dense.weight", 2, 8, 4},
                {"bert.encoder.layer.0.output.dense.weight", 2, 4, 8},
                {"cls.predictions.bias", 1, 30522, 0},
        };
        socfw_modelfile *mf;
        check_dir("models/hf/bert_tiniest", sc, sizeof sc / sizeof sc[0], 26,
                  &mf);
        int64_t v;
        cr_assert_eq(socfw_modelfile_get_int(mf, "hidden_size", &v, NULL), 0);
        cr_assert_eq(v, 4);
        cr_assert_eq(socfw_modelfile_get_int(mf, "type_vocab_size", &v, NULL),
                     0);
        cr_assert_eq(v, 2);
        const char *s;
        cr_assert_eq(socfw_modelfile_get_string(mf, "hidden_act", &s, NULL,
                                                NULL), 0);
        cr_assert_str_eq(s, "gelu");
        /* the data of a tensor is exactly what the file holds */
        const socfw_tensor_info *t = socfw_modelfile_find(
                mf, "bert.embeddings.LayerNorm.weight");
        float w[4];
        cr_assert_eq(socfw_modelfile_read_f32(mf, t, w, 4, NULL), 0);
        cr_assert_eq(memcmp(w, t->data, 16), 0);
        socfw_modelfile_close(mf);
}

/* ---- directories built here ---- */

static void
write_text(const char *dir, const char *name, const char *text)
{
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        cr_assert_eq(socfw_test_write_file(p, text, strlen(text)), 0);
}

static void
write_st(const char *dir, const char *name, const char *header,
         size_t datalen)
{
        char p[4200];
        size_t len;
        uint8_t *b = make_st(header, datalen, &len);
        snprintf(p, sizeof p, "%s/%s", dir, name);
        cr_assert_eq(socfw_test_write_file(p, b, len), 0);
        free(b);
}

Test(model_safetensors, sharded_directory, .timeout = 10)
{
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        write_st(dir, "model-00001-of-00002.safetensors",
                 "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
                 "\"data_offsets\":[0,8]}}", 8);
        write_st(dir, "model-00002-of-00002.safetensors",
                 "{\"y\":{\"dtype\":\"BF16\",\"shape\":[1,3],"
                 "\"data_offsets\":[0,6]}}", 6);
        write_text(dir, "model.safetensors.index.json",
                   "{\"metadata\":{\"total_size\":14},\"weight_map\":{"
                   "\"x\":\"model-00001-of-00002.safetensors\","
                   "\"y\":\"model-00002-of-00002.safetensors\"}}");
        write_text(dir, "config.json",
                   "{\"model_type\":\"toy\",\"id2label\":{\"0\":\"NEG\","
                   "\"1\":\"POS\"},\"a\":{\"b\":{\"c\":[1,2.5]}},"
                   "\"mixed\":[1,\"x\"],\"big\":18446744073709551615}");
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        /* an integer beyond int64 is invalid JSON for jansson */
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_EFORMAT);
        cr_assert(strstr(err.file, "config.json"), "%s", err.file);
        write_text(dir, "config.json",
                   "{\"model_type\":\"toy\",\"id2label\":{\"0\":\"NEG\","
                   "\"1\":\"POS\"},\"a\":{\"b\":{\"c\":[1,2.5]}},"
                   "\"mixed\":[1,\"x\"]}");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), 0, "%s",
                     err.message);
        cr_assert_eq(socfw_modelfile_n_tensors(mf), 2);
        const socfw_tensor_info *y = socfw_modelfile_find(mf, "y");
        cr_assert_not_null(y);
        cr_assert(strstr(y->file, "00002"), "%s", y->file);
        cr_assert_eq(y->shape[1], 3);
        const char *s;
        cr_assert_eq(socfw_modelfile_get_string(mf, "id2label.1", &s, NULL,
                                                NULL), 0);
        cr_assert_str_eq(s, "POS");
        double c[2];
        cr_assert_eq(socfw_modelfile_get_f64_array(mf, "a.b.c", c, 2, NULL),
                     0);
        cr_assert_float_eq(c[1], 2.5, 1e-12);
        int64_t ci[2];
        cr_assert_eq(socfw_modelfile_get_int_array(mf, "a.b.c", ci, 2, NULL),
                     SOCFW_EINVAL);
        socfw_meta_type et;
        cr_assert_eq(socfw_modelfile_get_array(mf, "mixed", &et, NULL, NULL),
                     0);
        cr_assert_eq(et, SOCFW_META_MIXED);
        socfw_modelfile_close(mf);

        /* a tensor missing from its shard */
        write_text(dir, "model.safetensors.index.json",
                   "{\"weight_map\":{\"x\":\"model-00002-of-00002."
                   "safetensors\"}}");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "'x' is not in shard"), "%s",
                  err.message);
        /* path traversal in the index */
        write_text(dir, "model.safetensors.index.json",
                   "{\"weight_map\":{\"x\":\"../evil.safetensors\"}}");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "file name in the same directory"),
                  "%s", err.message);
        /* a missing shard */
        write_text(dir, "model.safetensors.index.json",
                   "{\"weight_map\":{\"x\":\"nope.safetensors\"}}");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_ENOTFOUND);
        cr_assert(strstr(err.message, "shard"), "%s", err.message);
}

Test(model_safetensors, directory_errors, .timeout = 10)
{
        char dir[4096];
        cr_assert_not_null(socfw_test_tmpdir(dir, sizeof dir));
        socfw_modelfile *mf = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_ENOTFOUND);
        cr_assert(strstr(err.message, "no model.safetensors"), "%s",
                  err.message);
        write_st(dir, "model.safetensors",
                 "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
                 "\"data_offsets\":[0,8]}}", 8);
        write_text(dir, "config.json", "{\"a\": 1, \"a\": 2}");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "duplicate"), "%s", err.message);
        /* flattened keys that collide */
        write_text(dir, "config.json", "{\"a.b\": 1, \"a\": {\"b\": 2}}");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_EFORMAT);
        cr_assert(strstr(err.message, "duplicate metadata key 'a.b'"), "%s",
                  err.message);
        write_text(dir, "config.json", "[]");
        socfw_error_clear(&err);
        cr_assert_eq(socfw_modelfile_open(&mf, dir, &err), SOCFW_EFORMAT);
        write_text(dir, "config.json", "{\"n\": 3}");
        cr_assert_eq(socfw_modelfile_open(&mf, dir, NULL), 0);
        int64_t v;
        cr_assert_eq(socfw_modelfile_get_int(mf, "n", &v, NULL), 0);
        cr_assert_eq(v, 3);
        socfw_modelfile_close(mf);
}
