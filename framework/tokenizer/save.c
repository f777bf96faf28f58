/* save.c - writing a tokenizer in the Hugging Face layout:
 * BPE -> vocab.json + merges.txt + tokenizer.json,
 * WordPiece -> vocab.txt + tokenizer.json.  Every file is written
 * atomically (socfw/io.h). */
#include "tokenizer/tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "socfw/io.h"

typedef struct sbuf {
        char *p;
        size_t n, cap;
        int oom;
} sbuf;

static void
sb_put(sbuf *b, const char *s, size_t len)
{
        if (b->oom)
                return;
        if (b->n + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap < b->n + len + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->oom = 1;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, len);
        b->n += len;
        b->p[b->n] = '\0';
}

static int
is_added(const socfw_tokenizer *t, size_t i)
{
        return t->type[i] == SOCFW_TOKEN_CONTROL ||
               t->type[i] == SOCFW_TOKEN_USER_DEFINED;
}

static int
write_json(const char *dir, const char *name, json_t *j, socfw_error *err)
{
        char path[4096];
        if (socfw_path_join(path, sizeof path, dir, name) < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_save: "
                                       "path too long: %s/%s", dir, name);
        char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (!s)
                return socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                          "cannot serialise JSON");
        int rc = socfw_file_write_atomic(path, s, strlen(s), err);
        free(s);
        return rc;
}

static int
write_text(const char *dir, const char *name, const sbuf *b, socfw_error *err)
{
        char path[4096];
        if (socfw_path_join(path, sizeof path, dir, name) < 0)
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_save: "
                                       "path too long: %s/%s", dir, name);
        if (b->oom)
                return socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                          "out of memory");
        return socfw_file_write_atomic(path, b->p ? b->p : "", b->n, err);
}

/* json string of a token; NULL (with err) when it is not valid UTF-8 */
static json_t *
token_string(const socfw_tokenizer *t, size_t i, socfw_error *err)
{
        json_t *s = json_stringn(t->text[i], t->text_len[i]);
        if (!s)
                socfw_error_set(err, SOCFW_EUNSUPPORTED, "tokenizer_save: "
                                "token %zu is not valid UTF-8 and cannot be "
                                "written to JSON", i);
        return s;
}

static const char *
special_text(const socfw_tokenizer *t, socfw_tokenizer_special r)
{
        int32_t id = t->special[r];
        return id >= 0 ? t->text[id] : NULL;
}

int
socfw_tokenizer_save(const socfw_tokenizer *t, const char *dir,
                     socfw_error *err)
{
        int rc = 0;
        json_t *root = NULL, *vocab = NULL, *cfg = NULL;
        sbuf b = {0};
        if (!t || !dir)
                return socfw_error_set(err, SOCFW_EINVAL, "tokenizer_save: "
                                       "NULL argument");
        if (t->kind == SOCFW_TOKENIZER_SPM)
                return socfw_error_set(err, SOCFW_EUNSUPPORTED,
                                       "tokenizer_save: SentencePiece "
                                       "tokenizers cannot be saved in the "
                                       "Hugging Face layout; hint: keep the "
                                       "GGUF");
        if ((rc = socfw_dir_make(dir, 0755, err)) < 0)
                return rc;
        int bpe = t->kind == SOCFW_TOKENIZER_BPE;
        root = json_object();
        vocab = json_object();
        json_t *added = json_array();
        json_object_set_new(root, "version", json_string("1.0"));
        json_object_set_new(root, "truncation", json_null());
        json_object_set_new(root, "padding", json_null());
        json_object_set_new(root, "added_tokens", added);
        for (size_t i = 0; i < t->n; i++) {
                json_t *s = token_string(t, i, err);
                if (!s) {
                        rc = err ? err->code : SOCFW_EUNSUPPORTED;
                        goto out;
                }
                if (is_added(t, i)) {
                        json_t *a = json_object();
                        json_object_set_new(a, "id", json_integer((json_int_t)i));
                        json_object_set(a, "content", s);
                        json_object_set_new(a, "single_word", json_false());
                        json_object_set_new(a, "lstrip", json_false());
                        json_object_set_new(a, "rstrip", json_false());
                        json_object_set_new(a, "normalized", json_false());
                        json_object_set_new(a, "special", json_boolean(
                                t->type[i] == SOCFW_TOKEN_CONTROL));
                        json_array_append_new(added, a);
                }
                /* vocab.txt and vocab.json keys must be unique */
                if (!json_object_getn(vocab, t->text[i], t->text_len[i]))
                        json_object_setn_new(vocab, t->text[i], t->text_len[i],
                                             json_integer((json_int_t)i));
                json_decref(s);
                if (!bpe) {
                        sb_put(&b, t->text[i], t->text_len[i]);
                        sb_put(&b, "\n", 1);
                }
        }
        json_t *model = json_object();
        if (bpe) {
                json_t *merges = json_array();
                sbuf mt = {0};
                sb_put(&mt, "#version: 0.2\n", 14);
                for (size_t r = 0; r < t->n_merges; r++) {
                        const tok_merge *mg = &t->merges[r];
                        size_t la = t->text_len[mg->left];
                        size_t lb = t->text_len[mg->right];
                        char *line = malloc(la + lb + 2);
                        if (!line) {
                                free(mt.p);
                                json_decref(merges);
                                json_decref(model);
                                goto nomem;
                        }
                        memcpy(line, t->text[mg->left], la);
                        line[la] = ' ';
                        memcpy(line + la + 1, t->text[mg->right], lb);
                        line[la + lb + 1] = '\n';
                        sb_put(&mt, line, la + lb + 2);
                        json_array_append_new(merges,
                                              json_stringn(line, la + lb + 1));
                        free(line);
                }
                json_object_set_new(model, "type", json_string("BPE"));
                json_object_set_new(model, "dropout", json_null());
                json_object_set_new(model, "unk_token", json_null());
                json_object_set_new(model, "continuing_subword_prefix",
                                    json_string(""));
                json_object_set_new(model, "end_of_word_suffix",
                                    json_string(""));
                json_object_set_new(model, "fuse_unk", json_false());
                json_object_set_new(model, "byte_fallback", json_false());
                json_object_set_new(model, "ignore_merges",
                                    json_boolean(t->ignore_merges));
                json_object_set(model, "vocab", vocab);
                json_object_set_new(model, "merges", merges);
                json_object_set_new(root, "normalizer", json_null());
                json_t *pre = json_object();
                json_t *bl = json_object();
                json_object_set_new(bl, "type", json_string("ByteLevel"));
                json_object_set_new(bl, "add_prefix_space",
                                    json_boolean(t->add_prefix_space));
                json_object_set_new(bl, "trim_offsets", json_true());
                int gpt2 = !strcmp(t->pattern, SOCFW_TOKENIZER_PATTERN_GPT2);
                json_object_set_new(bl, "use_regex", json_boolean(gpt2));
                if (gpt2) {
                        json_decref(pre);
                        pre = bl;
                } else {
                        json_t *split = json_object(), *pat = json_object();
                        json_object_set_new(split, "type", json_string("Split"));
                        json_object_set_new(pat, "Regex",
                                            json_string(t->pattern));
                        json_object_set_new(split, "pattern", pat);
                        json_object_set_new(split, "behavior",
                                            json_string("Isolated"));
                        json_object_set_new(split, "invert", json_false());
                        json_t *seq = json_array();
                        json_array_append_new(seq, split);
                        json_array_append_new(seq, bl);
                        json_object_set_new(pre, "type",
                                            json_string("Sequence"));
                        json_object_set_new(pre, "pretokenizers", seq);
                }
                json_object_set_new(root, "pre_tokenizer", pre);
                json_object_set_new(root, "post_processor", json_null());
                json_t *dec = json_object();
                json_object_set_new(dec, "type", json_string("ByteLevel"));
                json_object_set_new(root, "decoder", dec);
                json_object_set_new(root, "model", model);
                rc = write_text(dir, "merges.txt", &mt, err);
                free(mt.p);
                if (rc < 0)
                        goto out;
                if ((rc = write_json(dir, "vocab.json", vocab, err)) < 0)
                        goto out;
        } else {
                json_t *norm = json_object();
                json_object_set_new(norm, "type", json_string("BertNormalizer"));
                json_object_set_new(norm, "clean_text", json_true());
                json_object_set_new(norm, "handle_chinese_chars",
                                    json_boolean(t->tokenize_cjk));
                json_object_set_new(norm, "strip_accents",
                                    json_boolean(t->strip_accents));
                json_object_set_new(norm, "lowercase",
                                    json_boolean(t->lowercase));
                json_object_set_new(root, "normalizer", norm);
                json_t *pre = json_object();
                json_object_set_new(pre, "type", json_string("BertPreTokenizer"));
                json_object_set_new(root, "pre_tokenizer", pre);
                const char *cls = special_text(t, SOCFW_TOKENIZER_CLS);
                const char *sep = special_text(t, SOCFW_TOKENIZER_SEP);
                if (cls && sep) {
                        json_t *pp = json_pack(
                                "{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, "
                                "{s:{s:s, s:i}}]}",
                                "type", "TemplateProcessing", "single",
                                "SpecialToken", "id", cls, "type_id", 0,
                                "Sequence", "id", "A", "type_id", 0,
                                "SpecialToken", "id", sep, "type_id", 0);
                        json_object_set_new(root, "post_processor",
                                            pp ? pp : json_null());
                } else {
                        json_object_set_new(root, "post_processor",
                                            json_null());
                }
                json_t *dec = json_object();
                json_object_set_new(dec, "type", json_string("WordPiece"));
                json_object_set_new(dec, "prefix", json_string("##"));
                json_object_set_new(dec, "cleanup", json_true());
                json_object_set_new(root, "decoder", dec);
                json_object_set_new(model, "type", json_string("WordPiece"));
                const char *unk = special_text(t, SOCFW_TOKENIZER_UNK);
                json_object_set_new(model, "unk_token",
                                    json_string(unk ? unk : "[UNK]"));
                json_object_set_new(model, "continuing_subword_prefix",
                                    json_string("##"));
                json_object_set_new(model, "max_input_chars_per_word",
                                    json_integer((json_int_t)t->max_chars));
                json_object_set(model, "vocab", vocab);
                json_object_set_new(root, "model", model);
                if ((rc = write_text(dir, "vocab.txt", &b, err)) < 0)
                        goto out;
                cfg = json_pack("{s:b, s:b}", "do_lower_case", t->lowercase,
                                "tokenize_chinese_chars", t->tokenize_cjk);
        }
        if (!cfg)
                cfg = json_object();
        static const struct {
                socfw_tokenizer_special role;
                const char *key;
        } roles[] = {
                { SOCFW_TOKENIZER_BOS, "bos_token" },
                { SOCFW_TOKENIZER_EOS, "eos_token" },
                { SOCFW_TOKENIZER_PAD, "pad_token" },
                { SOCFW_TOKENIZER_UNK, "unk_token" },
                { SOCFW_TOKENIZER_CLS, "cls_token" },
                { SOCFW_TOKENIZER_SEP, "sep_token" },
                { SOCFW_TOKENIZER_MASK, "mask_token" },
        };
        for (size_t r = 0; r < sizeof roles / sizeof *roles; r++) {
                const char *s = special_text(t, roles[r].role);
                if (s)
                        json_object_set_new(cfg, roles[r].key, json_string(s));
        }
        if (bpe)
                json_object_set_new(cfg, "add_bos_token",
                                    json_boolean(t->add_bos));
        if ((rc = write_json(dir, "tokenizer_config.json", cfg, err)) < 0)
                goto out;
        rc = write_json(dir, "tokenizer.json", root, err);
        goto out;
nomem:
        rc = socfw_error_set(err, SOCFW_ENOMEM, "tokenizer_save: out of "
                             "memory");
out:
        free(b.p);
        json_decref(vocab);
        json_decref(root);
        json_decref(cfg);
        return rc;
}
