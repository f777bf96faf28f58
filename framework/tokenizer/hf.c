/* hf.c - Hugging Face tokenizer files (tokenizer.json, vocab.json +
 * merges.txt, vocab.txt) read with jansson, and socfw_tokenizer_load. */
#include "tokenizer/tok_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "socfw/log.h"
#include "socfw/io.h"

/* ---- helpers ---- */

static int
join_path(char *buf, size_t size, const char *dir, const char *name)
{
        int n = snprintf(buf, size, "%s/%s", dir, name);
        return n >= 0 && (size_t)n < size ? 0 : -1;
}

static void
dir_of(const char *path, char *buf, size_t size)
{
        const char *slash = strrchr(path, '/');
        if (!slash)
                snprintf(buf, size, ".");
        else if (slash == path)
                snprintf(buf, size, "/");
        else
                snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

static int
load_json(const char *path, json_t **out, socfw_error *err)
{
        json_error_t je;
        *out = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        if (!*out) {
                if (!socfw_path_is_file(path))
                        return socfw_error_set_at(err, SOCFW_ENOTFOUND, path,
                                                  0, 0, "cannot open: %s",
                                                  je.text);
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, je.line,
                                          je.column, "invalid JSON: %s",
                                          je.text);
        }
        return 0;
}

/* Optional config file in dir; NULL when absent or unreadable. */
static json_t *
load_optional(const char *dir, const char *name)
{
        char path[4096];
        if (!dir || join_path(path, sizeof path, dir, name) < 0 ||
            !socfw_path_is_file(path))
                return NULL;
        json_t *j = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
        if (!j)
                SOCFW_LOG_WARN("%s: not valid JSON; ignored", path);
        return j;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static const char *
token_name(json_t *cfg, const char *key)
{
        json_t *v = cfg ? json_object_get(cfg, key) : NULL;
        if (json_is_object(v))
                v = json_object_get(v, "content");
        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Files are parsed with JSON_DECODE_INT_AS_REAL (tokenizer_config.json
 * holds model_max_length = 1e30, too big for an integer): a count or id is
 * a number with an integral value in [0, 2^31); -1 otherwise. */
static long long
json_count(json_t *v)
{
        if (!json_is_number(v))
                return -1;
        double d = json_number_value(v);
        if (!(d >= 0 && d < 2147483648.0) || d != (double)(long long)d)
                return -1;
        return (long long)d;
}

/* Growable token table keyed by id. */
typedef struct vocab_tab {
        const char **tok;
        size_t *len;
        int32_t *type;
        size_t n, cap;
} vocab_tab;

static int
tab_set(vocab_tab *v, size_t id, const char *s, size_t len, int32_t type)
{
        if (id >= TOK_MAX_VOCAB)
                return SOCFW_EFORMAT;
        if (id >= v->cap) {
                /* geometric growth: ids mostly arrive in increasing order */
                size_t cap = v->cap ? v->cap : 1024;
                while (cap <= id)
                        cap *= 2;
                const char **tok = realloc(v->tok, cap * sizeof *tok);
                if (tok)
                        v->tok = tok;
                size_t *len_ = realloc(v->len, cap * sizeof *len_);
                if (len_)
                        v->len = len_;
                int32_t *type_ = realloc(v->type, cap * sizeof *type_);
                if (type_)
                        v->type = type_;
                if (!tok || !len_ || !type_)
                        return SOCFW_ENOMEM;
                v->cap = cap;
        }
        for (size_t i = v->n; i <= id; i++) {
                v->tok[i] = "";
                v->len[i] = 0;
                v->type[i] = SOCFW_TOKEN_UNUSED;
        }
        if (id >= v->n)
                v->n = id + 1;
        v->tok[id] = s;
        v->len[id] = len;
        v->type[id] = type;
        return 0;
}

static void
tab_free(vocab_tab *v)
{
        free(v->tok);
        free(v->len);
        free(v->type);
}

/* {"token": id, ...} into the table. */
static int
tab_from_object(vocab_tab *v, json_t *obj, const char *path,
                socfw_error *err)
{
        const char *k;
        json_t *val;
        if (!json_is_object(obj))
                return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                          "vocab is not a JSON object of "
                                          "token -> id");
        json_object_foreach(obj, k, val) {
                long long id = json_count(val);
                size_t limit = json_object_size(obj) + TOK_MAX_ID_GAP;
                if (limit > TOK_MAX_VOCAB)
                        limit = TOK_MAX_VOCAB;
                if (id < 0 || (size_t)id >= limit)
                        return socfw_error_set_at(err, SOCFW_EFORMAT, path, 0,
                                                  0, "vocab entry \"%s\" has "
                                                  "id outside 0..%zu", k,
                                                  limit - 1);
                size_t kl = strlen(k);
                int rc = tab_set(v, (size_t)id, k, kl, SOCFW_TOKEN_NORMAL);
                if (rc < 0)
                        return socfw_error_set_at(err, rc, path, 0, 0,
                                                  "out of memory");
        }
        return 0;
}

static void
set_special_by_name(socfw_tokenizer_spec *spec, const vocab_tab *v,
                    socfw_tokenizer_special role, const char *name)
{
        if (!name || spec->special[role] >= 0)
                return;
        size_t nl = strlen(name);
        for (size_t i = 0; i < v->n; i++)
                if (v->len[i] == nl && memcmp(v->tok[i], name, nl) == 0) {
                        spec->special[role] = (int32_t)i;
                        return;
                }
}

/* added_tokens_decoder / added_tokens, and special names from configs */
static void
apply_configs(socfw_tokenizer_spec *spec, vocab_tab *v, json_t *cfg,
              json_t *map)
{
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
        json_t *added = cfg ? json_object_get(cfg, "added_tokens_decoder")
                            : NULL;
        const char *k;
        json_t *val;
        if (json_is_object(added)) {
                json_object_foreach(added, k, val) {
                        char *end;
                        errno = 0;
                        long id = strtol(k, &end, 10);
                        const char *content = token_name(val, "content");
                        if (errno || *end || id < 0 || !content ||
                            (size_t)id >= v->n + TOK_MAX_ID_GAP)
                                continue;
                        json_t *sp = json_object_get(val, "special");
                        tab_set(v, (size_t)id, content, strlen(content),
                                json_is_true(sp) ? SOCFW_TOKEN_CONTROL
                                                 : SOCFW_TOKEN_USER_DEFINED);
                }
        }
        for (size_t r = 0; r < sizeof roles / sizeof *roles; r++) {
                set_special_by_name(spec, v, roles[r].role,
                                    token_name(cfg, roles[r].key));
                set_special_by_name(spec, v, roles[r].role,
                                    token_name(map, roles[r].key));
        }
        json_t *ab = cfg ? json_object_get(cfg, "add_bos_token") : NULL;
        if (json_is_boolean(ab))
                spec->add_bos = json_is_true(ab);
        json_t *ae = cfg ? json_object_get(cfg, "add_eos_token") : NULL;
        if (json_is_boolean(ae))
                spec->add_eos = json_is_true(ae);
        json_t *lc = cfg ? json_object_get(cfg, "do_lower_case") : NULL;
        if (json_is_boolean(lc))
                spec->lowercase = json_is_true(lc);
}

static int
finish(socfw_tokenizer **out, socfw_tokenizer_spec *spec, vocab_tab *v,
       const char *path, socfw_error *err)
{
        spec->n_tokens = v->n;
        spec->tokens = v->tok;
        spec->token_lens = v->len;
        spec->token_types = v->type;
        /* tokens no config marked, but spelled like specials, are CONTROL */
        for (size_t i = 0; i < v->n; i++) {
                size_t l = v->len[i];
                const char *s = v->tok[i];
                if (v->type[i] == SOCFW_TOKEN_NORMAL && l >= 4 &&
                    ((s[0] == '<' && s[1] == '|' && s[l - 2] == '|' &&
                      s[l - 1] == '>') ||
                     (spec->kind == SOCFW_TOKENIZER_WORDPIECE &&
                      (!strcmp(s, "[PAD]") || !strcmp(s, "[UNK]") ||
                       !strcmp(s, "[CLS]") || !strcmp(s, "[SEP]") ||
                       !strcmp(s, "[MASK]")))))
                        v->type[i] = SOCFW_TOKEN_CONTROL;
        }
        for (int r = 0; r < SOCFW_TOKENIZER_SPECIAL_COUNT; r++)
                if (spec->special[r] >= 0 &&
                    v->type[spec->special[r]] == SOCFW_TOKEN_NORMAL)
                        v->type[spec->special[r]] = SOCFW_TOKEN_CONTROL;
        int rc = socfw_tokenizer_new(out, spec, err);
        if (rc < 0)
                socfw_error_prefix(err, rc, "%s", path);
        return rc;
}

/* ---- tokenizer.json ---- */

static void
wp_defaults(socfw_tokenizer_spec *spec, const vocab_tab *v)
{
        set_special_by_name(spec, v, SOCFW_TOKENIZER_UNK, "[UNK]");
        set_special_by_name(spec, v, SOCFW_TOKENIZER_CLS, "[CLS]");
        set_special_by_name(spec, v, SOCFW_TOKENIZER_SEP, "[SEP]");
        set_special_by_name(spec, v, SOCFW_TOKENIZER_PAD, "[PAD]");
        set_special_by_name(spec, v, SOCFW_TOKENIZER_MASK, "[MASK]");
}

/* pre_tokenizer: find a Split regex and ByteLevel options. */
static void
scan_pretokenizer(json_t *pt, const char **pattern, int *prefix_space,
                  int *byte_level)
{
        if (!json_is_object(pt))
                return;
        const char *type = json_string_value(json_object_get(pt, "type"));
        if (!type)
                return;
        if (!strcmp(type, "Sequence")) {
                json_t *a = json_object_get(pt, "pretokenizers");
                size_t i;
                json_t *p;
                json_array_foreach(a, i, p)
                        scan_pretokenizer(p, pattern, prefix_space,
                                          byte_level);
        } else if (!strcmp(type, "ByteLevel")) {
                *byte_level = 1;
                *prefix_space = json_is_true(json_object_get(pt,
                                                     "add_prefix_space"));
                json_t *ur = json_object_get(pt, "use_regex");
                if ((!ur || json_is_true(ur)) && !*pattern)
                        *pattern = SOCFW_TOKENIZER_PATTERN_GPT2;
        } else if (!strcmp(type, "Split")) {
                json_t *pat = json_object_get(pt, "pattern");
                const char *re = json_string_value(json_object_get(pat,
                                                                   "Regex"));
                if (re)
                        *pattern = re;
        }
}

/* post_processor: what ADD_SPECIAL adds. */
static void
scan_postprocessor(json_t *pp, socfw_tokenizer_spec *spec,
                   const vocab_tab *v)
{
        if (!json_is_object(pp))
                return;
        const char *type = json_string_value(json_object_get(pp, "type"));
        if (!type)
                return;
        if (!strcmp(type, "Sequence")) {
                size_t i;
                json_t *p;
                json_array_foreach(json_object_get(pp, "processors"), i, p)
                        scan_postprocessor(p, spec, v);
                return;
        }
        int wp = spec->kind == SOCFW_TOKENIZER_WORDPIECE;
        if (!strcmp(type, "TemplateProcessing")) {
                json_t *single = json_object_get(pp, "single");
                size_t n = json_array_size(single);
                if (n == 0)
                        return;
                json_t *first = json_object_get(json_array_get(single, 0),
                                                "SpecialToken");
                json_t *last = json_object_get(json_array_get(single, n - 1),
                                               "SpecialToken");
                const char *f = json_string_value(json_object_get(first, "id"));
                const char *l = json_string_value(json_object_get(last, "id"));
                if (f) {
                        set_special_by_name(spec, v, wp ? SOCFW_TOKENIZER_CLS
                                                        : SOCFW_TOKENIZER_BOS,
                                            f);
                        spec->add_bos = !wp;
                }
                if (l && n > 1) {
                        set_special_by_name(spec, v, wp ? SOCFW_TOKENIZER_SEP
                                                        : SOCFW_TOKENIZER_EOS,
                                            l);
                        spec->add_eos = !wp;
                }
        } else if (!strcmp(type, "RobertaProcessing") ||
                   !strcmp(type, "BertProcessing")) {
                const char *c = json_string_value(json_array_get(
                        json_object_get(pp, "cls"), 0));
                const char *s = json_string_value(json_array_get(
                        json_object_get(pp, "sep"), 0));
                set_special_by_name(spec, v, wp ? SOCFW_TOKENIZER_CLS
                                                : SOCFW_TOKENIZER_BOS, c);
                set_special_by_name(spec, v, wp ? SOCFW_TOKENIZER_SEP
                                                : SOCFW_TOKENIZER_EOS, s);
                if (!wp)
                        spec->add_bos = spec->add_eos = 1;
        }
}

/* SentencePiece models exported as tokenizer.json (Llama, Mistral, ...):
 * "BPE" with byte_fallback, spaces as U+2581.  Run them with the SPM
 * algorithm: the token a merge of rank r produces gets score -r, so "best
 * score first" is "lowest rank first"; tokens no merge produces rank last. */
static int
find_prepend(json_t *n)
{
        if (!json_is_object(n))
                return 0;
        const char *type = json_string_value(json_object_get(n, "type"));
        if (type && !strcmp(type, "Prepend"))
                return 1;
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(n, "normalizers"), i, x)
                if (find_prepend(x))
                        return 1;
        return 0;
}

static int
find_metaspace(json_t *p)
{
        /* 1: Metaspace that prepends, 0: one that does not, -1: none */
        if (!json_is_object(p))
                return -1;
        const char *type = json_string_value(json_object_get(p, "type"));
        if (type && !strcmp(type, "Metaspace")) {
                const char *scheme = json_string_value(
                        json_object_get(p, "prepend_scheme"));
                json_t *aps = json_object_get(p, "add_prefix_space");
                if (scheme)
                        return strcmp(scheme, "never") != 0;
                return aps ? json_is_true(aps) : 1;
        }
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(p, "pretokenizers"), i, x) {
                int r = find_metaspace(x);
                if (r >= 0)
                        return r;
        }
        return -1;
}

static int
to_spm(socfw_tokenizer_spec *spec, vocab_tab *v, json_t *root, json_t *cfg,
       const char **merges, size_t nm, float **scores_out, const char *path,
       socfw_error *err)
{
        int rc = 0;
        uint32_t *klen = NULL;
        tok_strmap map = {0};
        char *buf = NULL;
        size_t n = v->n;
        float *scores = malloc(n * sizeof *scores);
        klen = malloc(n * sizeof *klen);
        if (!scores || !klen)
                goto nomem;
        for (size_t i = 0; i < n; i++) {
                scores[i] = -1e9f;
                klen[i] = (uint32_t)v->len[i];
        }
        if (tok_strmap_build(&map, v->tok, klen, n) < 0)
                goto nomem;
        size_t bufcap = 0;
        for (size_t r = 0; r < nm; r++) {
                const char *m = merges[r];
                size_t len = m ? strlen(m) : 0;
                const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
                if (!sp)
                        continue;
                if (bufcap < len) {
                        free(buf);
                        bufcap = len + 64;
                        if (!(buf = malloc(bufcap)))
                                goto nomem;
                }
                size_t la = (size_t)(sp - m);
                memcpy(buf, m, la);
                memcpy(buf + la, sp + 1, len - la - 1);
                int32_t id = tok_strmap_find(&map, buf, len - 1);
                if (id >= 0 && scores[id] < -(float)r)
                        scores[id] = -(float)r;
        }
        const char *unk_name = json_string_value(json_object_get(
                json_object_get(root, "model"), "unk_token"));
        for (size_t i = 0; i < n; i++) {
                const char *s = v->tok[i];
                if (v->type[i] == SOCFW_TOKEN_CONTROL ||
                    v->type[i] == SOCFW_TOKEN_USER_DEFINED ||
                    v->type[i] == SOCFW_TOKEN_UNUSED)
                        continue;
                if (v->len[i] == 6 && !memcmp(s, "<0x", 3) && s[5] == '>')
                        v->type[i] = SOCFW_TOKEN_BYTE;
                else if (unk_name && !strcmp(s, unk_name))
                        v->type[i] = SOCFW_TOKEN_UNKNOWN;
        }
        spec->kind = SOCFW_TOKENIZER_SPM;
        spec->scores = scores;
        spec->n_merges = 0;
        spec->merges = NULL;
        set_special_by_name(spec, v, SOCFW_TOKENIZER_UNK, unk_name);
        int ms = find_metaspace(json_object_get(root, "pre_tokenizer"));
        spec->add_space_prefix = find_prepend(json_object_get(root,
                                                              "normalizer")) ||
                                 ms == 1;
        json_t *ab = cfg ? json_object_get(cfg, "add_bos_token") : NULL;
        spec->add_bos = json_is_boolean(ab) ? json_is_true(ab) : 1;
        *scores_out = scores;
        scores = NULL;
        goto out;
nomem:
        rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                "out of memory");
out:
        free(scores);
        free(klen);
        free(buf);
        tok_strmap_free(&map);
        return rc;
}

int
socfw_tokenizer_load_hf_json(socfw_tokenizer **out, const char *path,
                             socfw_error *err)
{
        int rc;
        json_t *root = NULL, *cfg = NULL, *map = NULL;
        vocab_tab v = {0};
        const char **merges = NULL;
        char **owned = NULL;
        size_t n_owned = 0;
        float *scores = NULL;
        socfw_tokenizer_spec spec;
        char dir[4096];
        if (out)
                *out = NULL;
        if (!out || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tokenizer: NULL argument");
        if ((rc = load_json(path, &root, err)) < 0)
                goto out;
        dir_of(path, dir, sizeof dir);
        cfg = load_optional(dir, "tokenizer_config.json");
        map = load_optional(dir, "special_tokens_map.json");
        json_t *model = json_object_get(root, "model");
        const char *type = json_string_value(json_object_get(model, "type"));
        if (!type && json_object_get(model, "merges"))
                type = "BPE";
        if (!type) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "no \"model\": {\"type\": ...}; "
                                        "expected a Hugging Face "
                                        "tokenizer.json");
                goto out;
        }
        if (!strcmp(type, "BPE")) {
                socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
        } else if (!strcmp(type, "WordPiece")) {
                socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_WORDPIECE);
        } else {
                rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                        "model type \"%s\" is not supported; "
                                        "expected BPE or WordPiece (hint: "
                                        "use the model's GGUF for "
                                        "SentencePiece)", type);
                goto out;
        }
        if ((rc = tab_from_object(&v, json_object_get(model, "vocab"), path,
                                  err)) < 0)
                goto out;
        size_t i;
        json_t *at;
        json_array_foreach(json_object_get(root, "added_tokens"), i, at) {
                json_t *jid = json_object_get(at, "id");
                const char *c = json_string_value(json_object_get(at,
                                                                  "content"));
                long long aid = json_count(jid);
                if (aid < 0 || !c || (size_t)aid >= v.n + TOK_MAX_ID_GAP)
                        continue;
                size_t cl = json_string_length(json_object_get(at, "content"));
                rc = tab_set(&v, (size_t)aid, c, cl,
                             json_is_true(json_object_get(at, "special"))
                                     ? SOCFW_TOKEN_CONTROL
                                     : SOCFW_TOKEN_USER_DEFINED);
                if (rc < 0) {
                        rc = socfw_error_set_at(err, rc, path, 0, 0,
                                                "added token %zu: bad id", i);
                        goto out;
                }
        }
        if (v.n == 0) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "empty vocabulary");
                goto out;
        }
        apply_configs(&spec, &v, cfg, map);
        if (spec.kind == SOCFW_TOKENIZER_BPE) {
                int spm_style = json_is_true(json_object_get(model,
                                                             "byte_fallback"));
                json_t *jm = json_object_get(model, "merges");
                size_t nm = json_array_size(jm);
                merges = calloc(nm ? nm : 1, sizeof *merges);
                owned = calloc(nm ? nm : 1, sizeof *owned);
                if (!merges || !owned)
                        goto nomem;
                json_t *m;
                json_array_foreach(jm, i, m) {
                        if (json_is_string(m)) {
                                merges[i] = json_string_value(m);
                        } else if (json_array_size(m) == 2) {
                                const char *a = json_string_value(
                                        json_array_get(m, 0));
                                const char *b = json_string_value(
                                        json_array_get(m, 1));
                                if (!a || !b)
                                        continue;
                                size_t la = strlen(a), lb = strlen(b);
                                char *s = malloc(la + lb + 2);
                                if (!s)
                                        goto nomem;
                                memcpy(s, a, la);
                                s[la] = ' ';
                                memcpy(s + la + 1, b, lb + 1);
                                owned[n_owned++] = s;
                                merges[i] = s;
                        }
                }
                if (spm_style) {
                        rc = to_spm(&spec, &v, root, cfg, merges, nm, &scores,
                                    path, err);
                        if (rc < 0)
                                goto out;
                        nm = 0;
                        goto built;
                }
                spec.n_merges = nm;
                spec.merges = merges;
                int prefix = 0, byte_level = 0;
                const char *pattern = NULL;
                scan_pretokenizer(json_object_get(root, "pre_tokenizer"),
                                  &pattern, &prefix, &byte_level);
                if (!byte_level)
                        SOCFW_LOG_WARN("%s: BPE without a ByteLevel "
                                       "pre-tokenizer; treating it as "
                                       "byte-level", path);
                spec.pattern = pattern;
                spec.add_prefix_space = prefix;
                spec.ignore_merges = json_is_true(json_object_get(
                        model, "ignore_merges"));
                json_t *unk = json_object_get(model, "unk_token");
                if (json_is_string(unk))
                        set_special_by_name(&spec, &v, SOCFW_TOKENIZER_UNK,
                                            json_string_value(unk));
        } else {
                const char *pfx = json_string_value(json_object_get(
                        model, "continuing_subword_prefix"));
                if (pfx && strcmp(pfx, "##") != 0) {
                        rc = socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path,
                                                0, 0, "continuing_subword_"
                                                "prefix \"%s\"; only \"##\" "
                                                "is supported", pfx);
                        goto out;
                }
                json_t *mx = json_object_get(model, "max_input_chars_per_word");
                if (json_count(mx) > 0)
                        spec.max_input_chars_per_word = (size_t)json_count(mx);
                json_t *unk = json_object_get(model, "unk_token");
                if (json_is_string(unk))
                        set_special_by_name(&spec, &v, SOCFW_TOKENIZER_UNK,
                                            json_string_value(unk));
                json_t *norm = json_object_get(root, "normalizer");
                if (json_is_object(norm)) {
                        json_t *lc = json_object_get(norm, "lowercase");
                        if (json_is_boolean(lc))
                                spec.lowercase = json_is_true(lc);
                        json_t *sa = json_object_get(norm, "strip_accents");
                        spec.strip_accents = json_is_boolean(sa)
                                                     ? json_is_true(sa) : -1;
                        json_t *cj = json_object_get(norm,
                                                     "handle_chinese_chars");
                        if (json_is_boolean(cj))
                                spec.tokenize_cjk = json_is_true(cj);
                }
                wp_defaults(&spec, &v);
        }
built:
        scan_postprocessor(json_object_get(root, "post_processor"), &spec, &v);
        rc = finish(out, &spec, &v, path, err);
        goto out;
nomem:
        rc = socfw_error_set_at(err, SOCFW_ENOMEM, path, 0, 0,
                                "out of memory");
out:
        for (size_t k = 0; k < n_owned; k++)
                free(owned[k]);
        free(owned);
        free(merges);
        free(scores);
        tab_free(&v);
        json_decref(root);
        json_decref(cfg);
        json_decref(map);
        return rc;
}

/* ---- vocab.json + merges.txt ---- */

int
socfw_tokenizer_load_bpe_files(socfw_tokenizer **out, const char *vocab_json,
                               const char *merges_txt, const char *config_dir,
                               socfw_error *err)
{
        int rc;
        json_t *root = NULL, *cfg = NULL, *map = NULL;
        char *text = NULL;
        const char **merges = NULL;
        vocab_tab v = {0};
        size_t len = 0;
        socfw_tokenizer_spec spec;
        if (out)
                *out = NULL;
        if (!out || !vocab_json || !merges_txt)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tokenizer: NULL argument");
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_BPE);
        if ((rc = load_json(vocab_json, &root, err)) < 0)
                goto out;
        if ((rc = tab_from_object(&v, root, vocab_json, err)) < 0)
                goto out;
        if (v.n == 0) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, vocab_json, 0, 0,
                                        "empty vocabulary");
                goto out;
        }
        if ((rc = tok_read_file(merges_txt, &text, &len, err)) < 0)
                goto out;
        size_t nl = 1;
        for (size_t i = 0; i < len; i++)
                nl += text[i] == '\n';
        merges = calloc(nl, sizeof *merges);
        if (!merges) {
                rc = socfw_error_set_at(err, SOCFW_ENOMEM, merges_txt, 0, 0,
                                        "out of memory");
                goto out;
        }
        size_t nm = 0;
        long line = 0;
        for (char *p = text; p < text + len;) {
                char *e = memchr(p, '\n', (size_t)(text + len - p));
                if (!e)
                        e = text + len;
                *e = '\0';
                line++;
                if (e > p && e[-1] == '\r')
                        e[-1] = '\0';
                if (*p && !(line == 1 && !strncmp(p, "#version", 8))) {
                        if (!strchr(p + 1, ' ')) {
                                rc = socfw_error_set_at(err, SOCFW_EFORMAT,
                                                        merges_txt, line, 0,
                                                        "expected \"left "
                                                        "right\", got \"%.40s\"",
                                                        p);
                                goto out;
                        }
                        merges[nm++] = p;
                }
                p = e + 1;
        }
        spec.n_merges = nm;
        spec.merges = merges;
        char dir[4096];
        if (!config_dir) {
                dir_of(vocab_json, dir, sizeof dir);
                config_dir = dir;
        }
        cfg = load_optional(config_dir, "tokenizer_config.json");
        map = load_optional(config_dir, "special_tokens_map.json");
        apply_configs(&spec, &v, cfg, map);
        set_special_by_name(&spec, &v, SOCFW_TOKENIZER_BOS, "<|endoftext|>");
        set_special_by_name(&spec, &v, SOCFW_TOKENIZER_EOS, "<|endoftext|>");
        json_t *ps = cfg ? json_object_get(cfg, "add_prefix_space") : NULL;
        spec.add_prefix_space = json_is_true(ps);
        rc = finish(out, &spec, &v, vocab_json, err);
out:
        free(merges);
        free(text);
        tab_free(&v);
        json_decref(root);
        json_decref(cfg);
        json_decref(map);
        return rc;
}

/* ---- vocab.txt ---- */

int
socfw_tokenizer_load_vocab_txt(socfw_tokenizer **out, const char *path,
                               int lowercase, socfw_error *err)
{
        int rc;
        char *text = NULL;
        vocab_tab v = {0};
        json_t *cfg = NULL, *map = NULL;
        size_t len = 0;
        socfw_tokenizer_spec spec;
        if (out)
                *out = NULL;
        if (!out || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tokenizer: NULL argument");
        socfw_tokenizer_spec_init(&spec, SOCFW_TOKENIZER_WORDPIECE);
        if ((rc = tok_read_file(path, &text, &len, err)) < 0)
                goto out;
        size_t id = 0;
        for (char *p = text; p < text + len;) {
                char *e = memchr(p, '\n', (size_t)(text + len - p));
                if (!e)
                        e = text + len;
                *e = '\0';
                size_t l = (size_t)(e - p);
                if (l && p[l - 1] == '\r')
                        p[--l] = '\0';
                if ((rc = tab_set(&v, id++, p, l, SOCFW_TOKEN_NORMAL)) < 0) {
                        rc = socfw_error_set_at(err, rc, path, (long)id, 0,
                                                "too many tokens");
                        goto out;
                }
                p = e + 1;
        }
        if (v.n == 0) {
                rc = socfw_error_set_at(err, SOCFW_EFORMAT, path, 0, 0,
                                        "empty vocabulary");
                goto out;
        }
        char dir[4096];
        dir_of(path, dir, sizeof dir);
        cfg = load_optional(dir, "tokenizer_config.json");
        map = load_optional(dir, "special_tokens_map.json");
        apply_configs(&spec, &v, cfg, map);
        if (lowercase >= 0)
                spec.lowercase = lowercase;
        wp_defaults(&spec, &v);
        rc = finish(out, &spec, &v, path, err);
out:
        free(text);
        tab_free(&v);
        json_decref(cfg);
        json_decref(map);
        return rc;
}

/* ---- dispatch ---- */


static int
is_gguf(const char *path)
{
        char magic[4];
        FILE *f = fopen(path, "rb");
        if (!f)
                return 0;
        int ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
        fclose(f);
        return ok;
}

int
socfw_tokenizer_load(socfw_tokenizer **out, const char *path,
                     socfw_error *err)
{
        struct stat st;
        char a[4096], b[4096];
        if (out)
                *out = NULL;
        if (!out || !path)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "tokenizer: NULL argument");
        if (stat(path, &st) < 0)
                return socfw_error_set_at(err, SOCFW_ENOTFOUND, path, 0, 0,
                                          "no such file or directory");
        if (S_ISDIR(st.st_mode)) {
                if (join_path(a, sizeof a, path, "tokenizer.json") == 0 &&
                    socfw_path_is_file(a))
                        return socfw_tokenizer_load_hf_json(out, a, err);
                if (join_path(a, sizeof a, path, "vocab.json") == 0 &&
                    join_path(b, sizeof b, path, "merges.txt") == 0 &&
                    socfw_path_is_file(a) && socfw_path_is_file(b))
                        return socfw_tokenizer_load_bpe_files(out, a, b, path,
                                                              err);
                if (join_path(a, sizeof a, path, "vocab.txt") == 0 &&
                    socfw_path_is_file(a))
                        return socfw_tokenizer_load_vocab_txt(out, a, -1, err);
                return socfw_error_set_at(err, SOCFW_ENOTFOUND, path, 0, 0,
                                          "no tokenizer here; expected "
                                          "tokenizer.json, vocab.json + "
                                          "merges.txt, or vocab.txt (hint: "
                                          "for GGUF give the .gguf file)");
        }
        if (is_gguf(path))
                return socfw_tokenizer_load_gguf(out, path, err);
        if (socfw_str_ends_with(path, "vocab.json")) {
                char dir[4096];
                dir_of(path, dir, sizeof dir);
                if (join_path(b, sizeof b, dir, "merges.txt") < 0)
                        return socfw_error_set_at(err, SOCFW_EINVAL, path, 0,
                                                  0, "path too long");
                return socfw_tokenizer_load_bpe_files(out, path, b, dir, err);
        }
        if (socfw_str_ends_with(path, ".json"))
                return socfw_tokenizer_load_hf_json(out, path, err);
        if (socfw_str_ends_with(path, ".txt"))
                return socfw_tokenizer_load_vocab_txt(out, path, -1, err);
        return socfw_error_set_at(err, SOCFW_EUNSUPPORTED, path, 0, 0,
                                  "unknown tokenizer file; expected a .gguf, "
                                  "tokenizer.json, vocab.json or vocab.txt");
}
