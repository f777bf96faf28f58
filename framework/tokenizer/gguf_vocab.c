/* gguf_vocab.c - tokenizers from GGUF metadata (tokenizer.ggml.*), read through
 * socfw/modelfile.h. */
#include "tokenizer/tok_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "socfw/log.h"
#include "socfw/modelfile.h"

static void
get_id(const socfw_modelfile *mf, const char *key, socfw_tokenizer_spec *spec,
       socfw_tokenizer_special role, size_t n)
{
        int64_t v;
        if (socfw_modelfile_get_int(mf, key, &v, NULL) == 0 && v >= 0 &&
            (uint64_t)v < n)
                spec->special[role] = (int32_t)v;
}

static void
get_flag(const socfw_modelfile *mf, const char *key, int *dst)
{
        bool b;
        if (socfw_modelfile_get_bool(mf, key, &b, NULL) == 0)
                *dst = b;
}

int
socfw_tokenizer_load_gguf(socfw_tokenizer **out, const char *path,
                          socfw_error *err)
{
        int rc;
        socfw_modelfile *mf = NULL;
        const char **tokens = NULL;
        size_t *lens = NULL;
        int32_t *types = NULL;
        float *scores = NULL;
        const char **merges = NULL;
        socfw_tokenizer_spec spec;
        if (out)
                *out = NULL;
        if (!out || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tokenizer: NULL argument");
        if ((rc = socfw_modelfile_open(&mf, path, err)) < 0)
                goto out;
        const char *model = NULL;
        if ((rc = socfw_modelfile_get_string(mf, "tokenizer.ggml.model",
                                             &model, NULL, err)) < 0) {
                socfw_error_prefix(err, rc, "%s: no tokenizer", path);
                goto out;
        }
        if (!strcmp(model, "gpt2")) {
                socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
        } else if (!strcmp(model, "bert")) {
                socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_WORDPIECE);
                spec.wordpiece_phantom_space = 1;
        } else if (!strcmp(model, "llama")) {
                socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_SPM);
        } else {
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                        "tokenizer.ggml.model \"%s\" is not "
                                        "supported; expected gpt2, bert or "
                                        "llama", model);
                goto out;
        }
        const socfw_strview *tv = NULL;
        size_t n = 0;
        if ((rc = socfw_modelfile_get_string_array(mf, "tokenizer.ggml.tokens",
                                                   &tv, &n, err)) < 0)
                goto out;
        if (n == 0 || n > TOK_MAX_VOCAB) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "tokenizer.ggml.tokens has %zu "
                                        "entries; expected 1..%zu", n,
                                        TOK_MAX_VOCAB);
                goto out;
        }
        tokens = malloc(n * sizeof *tokens);
        lens = malloc(n * sizeof *lens);
        if (!tokens || !lens)
                goto nomem;
        for (size_t i = 0; i < n; i++) {
                tokens[i] = tv[i].ptr;
                lens[i] = tv[i].len;
        }
        spec.n_tokens = n;
        spec.tokens = tokens;
        spec.token_lens = lens;
        size_t cnt = 0;
        if (socfw_modelfile_get_array(mf, "tokenizer.ggml.token_type", NULL,
                                      &cnt, NULL) == 0) {
                if (cnt != n) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                                "tokenizer.ggml.token_type has "
                                                "%zu entries, tokens %zu", cnt,
                                                n);
                        goto out;
                }
                types = malloc(n * sizeof *types);
                if (!types)
                        goto nomem;
                if ((rc = socfw_modelfile_get_i32_array(
                             mf, "tokenizer.ggml.token_type", types, n,
                             err)) < 0)
                        goto out;
                spec.token_types = types;
        }
        if (spec.kind == SOCFW_TOKENIZER_SPM) {
                if ((rc = socfw_modelfile_get_array(mf, "tokenizer.ggml.scores",
                                                    NULL, &cnt, err)) < 0)
                        goto out;
                if (cnt != n) {
                        rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                                "tokenizer.ggml.scores has %zu "
                                                "entries, tokens %zu", cnt, n);
                        goto out;
                }
                scores = malloc(n * sizeof *scores);
                if (!scores)
                        goto nomem;
                if ((rc = socfw_modelfile_get_f32_array(
                             mf, "tokenizer.ggml.scores", scores, n, err)) < 0)
                        goto out;
                spec.scores = scores;
        }
        if (spec.kind == SOCFW_TOKENIZER_BPE) {
                const socfw_strview *mv = NULL;
                size_t nm = 0;
                if ((rc = socfw_modelfile_get_string_array(
                             mf, "tokenizer.ggml.merges", &mv, &nm, err)) < 0)
                        goto out;
                merges = malloc((nm ? nm : 1) * sizeof *merges);
                if (!merges)
                        goto nomem;
                for (size_t i = 0; i < nm; i++)
                        merges[i] = mv[i].ptr;
                spec.n_merges = nm;
                spec.merges = merges;
                const char *pre = NULL;
                if (socfw_modelfile_get_string(mf, "tokenizer.ggml.pre", &pre,
                                               NULL, NULL) == 0 && pre) {
                        if (!strcmp(pre, "llama-bpe") ||
                            !strcmp(pre, "llama3") ||
                            !strcmp(pre, "smaug-bpe")) {
                                spec.pattern = SOCFW_TOKENIZER_PATTERN_LLAMA3;
                                spec.ignore_merges = 1;
                        }
                        else if (strcmp(pre, "gpt-2") != 0 &&
                                 strcmp(pre, "default") != 0)
                                SOCFW_LOG_WARN("%s: pre-tokenizer \"%s\" is "
                                               "not known here; using GPT-2's",
                                               path, pre);
                }
        }
        get_id(mf, "tokenizer.ggml.bos_token_id", &spec, SOCFW_TOKENIZER_BOS, n);
        get_id(mf, "tokenizer.ggml.eos_token_id", &spec, SOCFW_TOKENIZER_EOS, n);
        get_id(mf, "tokenizer.ggml.unknown_token_id", &spec,
               SOCFW_TOKENIZER_UNK, n);
        get_id(mf, "tokenizer.ggml.padding_token_id", &spec,
               SOCFW_TOKENIZER_PAD, n);
        get_id(mf, "tokenizer.ggml.seperator_token_id", &spec,
               SOCFW_TOKENIZER_SEP, n);
        get_id(mf, "tokenizer.ggml.separator_token_id", &spec,
               SOCFW_TOKENIZER_SEP, n);
        get_id(mf, "tokenizer.ggml.cls_token_id", &spec, SOCFW_TOKENIZER_CLS, n);
        get_id(mf, "tokenizer.ggml.mask_token_id", &spec,
               SOCFW_TOKENIZER_MASK, n);
        get_flag(mf, "tokenizer.ggml.add_bos_token", &spec.add_bos);
        get_flag(mf, "tokenizer.ggml.add_eos_token", &spec.add_eos);
        get_flag(mf, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix);
        if (spec.kind == SOCFW_TOKENIZER_SPM &&
            spec.special[SOCFW_TOKENIZER_UNK] < 0)
                spec.special[SOCFW_TOKENIZER_UNK] = 0;
        rc = socfw_tokenizer_new(out, &spec, err);
        if (rc < 0)
                socfw_error_prefix(err, rc, "%s", path);
        goto out;
nomem:
        rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                "out of memory reading the tokenizer");
out:
        free(tokens);
        free(lens);
        free(types);
        free(scores);
        free(merges);
        socfw_modelfile_close(mf);
        return rc;
}
