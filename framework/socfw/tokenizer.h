/* socfw/tokenizer.h - text <-> token ids for the three tokenizer families
 * the backbones use:
 *
 *   SOCFW_TOKENIZER_BPE        byte-level BPE (GPT-2, RoBERTa, Llama-3):
 *                              bytes -> printable unicode, regex
 *                              pre-tokenizer (PCRE2), merges by rank.
 *   SOCFW_TOKENIZER_WORDPIECE  BERT: clean, lowercase/strip accents,
 *                              split on whitespace/punctuation/CJK, greedy
 *                              longest-match-first with "##" pieces.
 *   SOCFW_TOKENIZER_SPM        SentencePiece BPE with byte fallback (Llama,
 *                              GGUF tokenizer.ggml.model "llama"): spaces
 *                              become U+2581, merge by score, unknown
 *                              characters become <0xXX> byte tokens.
 *
 * One opaque socfw_tokenizer serves all three.  Load it from a Hugging Face
 * directory (tokenizer.json, or vocab.json + merges.txt, or vocab.txt), from
 * a .gguf file, or build it from in-memory arrays with socfw_tokenizer_new.
 *
 *     socfw_tokenizer *tok = NULL;
 *     socfw_error err = {0};
 *     if (socfw_tokenizer_load(&tok, "models/gpt2", &err) < 0)
 *             goto fail;
 *     int32_t *ids = NULL;
 *     size_t n = 0;
 *     socfw_tokenizer_encode(tok, "Hello world", 11,
 *                            SOCFW_TOKENIZER_ADD_SPECIAL, &ids, &n, &err);
 *     char *text = NULL;
 *     size_t len = 0;
 *     socfw_tokenizer_decode(tok, ids, n, 0, &text, &len, &err);
 *     free(ids);
 *     free(text);
 *     socfw_tokenizer_free(tok);
 *
 * Any byte sequence is accepted by encode: byte-level BPE encodes every byte
 * losslessly; WordPiece treats invalid UTF-8 as U+FFFD (which BERT's text
 * cleaning drops); SPM treats each invalid byte as one character that falls
 * back to its <0xXX> token.  Work is O(n log n) in the input length.
 *
 * A socfw_tokenizer is immutable after creation: encode/decode may be called
 * from several threads at once.
 */
#ifndef SOCFW_TOKENIZER_H
#define SOCFW_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct socfw_tokenizer socfw_tokenizer;

typedef enum socfw_tokenizer_kind {
        SOCFW_TOKENIZER_BPE = 1,
        SOCFW_TOKENIZER_WORDPIECE = 2,
        SOCFW_TOKENIZER_SPM = 3,
} socfw_tokenizer_kind;

/* Token types; the values are GGUF's tokenizer.ggml.token_type values. */
enum {
        SOCFW_TOKEN_NORMAL = 1,
        SOCFW_TOKEN_UNKNOWN = 2,
        SOCFW_TOKEN_CONTROL = 3,        /* special: <s>, [CLS], <|endoftext|> */
        SOCFW_TOKEN_USER_DEFINED = 4,   /* added token, matched whole       */
        SOCFW_TOKEN_UNUSED = 5,
        SOCFW_TOKEN_BYTE = 6,           /* SPM <0xXX>                       */
};

/* Flags for socfw_tokenizer_encode. */
enum {
        /* Add what the model wants around a sequence: BOS (and EOS if the
         * model asks for it) for BPE/SPM, [CLS] ... [SEP] for WordPiece. */
        SOCFW_TOKENIZER_ADD_SPECIAL = 1u << 0,
        /* Match special/added tokens (types CONTROL and USER_DEFINED, e.g.
         * "<|endoftext|>", "[SEP]") as whole strings in the text before
         * pre-tokenization.  Without it they are tokenized as plain text. */
        SOCFW_TOKENIZER_PARSE_SPECIAL = 1u << 1,
};

/* Flags for socfw_tokenizer_decode. */
enum {
        /* Leave out CONTROL tokens (BOS, EOS, [CLS], [PAD], ...). */
        SOCFW_TOKENIZER_SKIP_SPECIAL = 1u << 0,
};

/* Special token roles for socfw_tokenizer_special_id. */
typedef enum socfw_tokenizer_special {
        SOCFW_TOKENIZER_BOS = 0,
        SOCFW_TOKENIZER_EOS,
        SOCFW_TOKENIZER_PAD,
        SOCFW_TOKENIZER_UNK,
        SOCFW_TOKENIZER_CLS,
        SOCFW_TOKENIZER_SEP,
        SOCFW_TOKENIZER_MASK,
        SOCFW_TOKENIZER_SPECIAL_COUNT
} socfw_tokenizer_special;

/* ---- building from arrays ---- */

/* Everything a tokenizer is made of.  Arrays are borrowed for the duration
 * of socfw_tokenizer_new only (it copies what it needs).  Initialise with
 * socfw_tokenizer_spec_init, then fill in. */
typedef struct socfw_tokenizer_spec {
        socfw_tokenizer_kind kind;
        size_t n_tokens;
        /* Token strings as the model files spell them: BPE in GPT-2's
         * byte-to-unicode form ("Ġthe"), except added tokens, which are
         * literal; WordPiece with "##" continuations (or "▁" word starts,
         * see wordpiece_phantom_space); SPM with "▁" for spaces.  A token
         * may contain NUL bytes when token_lens is given. */
        const char *const *tokens;
        const size_t *token_lens;       /* NULL: use strlen               */
        const float *scores;            /* SPM: required; else NULL       */
        const int32_t *token_types;     /* SOCFW_TOKEN_*; NULL: all NORMAL
                                           (BPE/WordPiece then treat
                                           "<|...|>", "<...>" and "[...]"
                                           tokens as CONTROL)             */
        /* BPE merges, highest priority first, each "left right". */
        size_t n_merges;
        const char *const *merges;
        /* BPE pre-tokenizer regex (PCRE2 syntax, compiled with UTF + UCP);
         * NULL: the GPT-2 pattern.  SOCFW_TOKENIZER_PATTERN_* below. */
        const char *pattern;
        int add_prefix_space;           /* BPE: prepend " " (RoBERTa opt.) */
        int ignore_merges;              /* BPE: whole pre-token in vocab
                                           is used directly (Llama-3)      */
        /* Special ids, -1 when absent (spec_init sets all to -1). */
        int32_t special[SOCFW_TOKENIZER_SPECIAL_COUNT];
        int add_bos;                    /* ADD_SPECIAL adds BOS (BPE/SPM) */
        int add_eos;                    /* ADD_SPECIAL adds EOS (BPE/SPM) */
        int add_space_prefix;           /* SPM: dummy prefix (default 1)  */
        /* WordPiece */
        int lowercase;                  /* default 1 (uncased)            */
        int strip_accents;              /* -1: follow lowercase (default) */
        int tokenize_cjk;               /* spaces around CJK (default 1)  */
        size_t max_input_chars_per_word;/* default 100                    */
        int wordpiece_phantom_space;    /* tokens use llama.cpp's GGUF
                                           form: "▁word" starts a word,
                                           bare "x" continues it          */
} socfw_tokenizer_spec;

/* GPT-2 / RoBERTa pre-tokenizer. */
#define SOCFW_TOKENIZER_PATTERN_GPT2                                           \
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"   \
        "\\s+(?!\\S)|\\s+"
/* Llama-3 pre-tokenizer. */
#define SOCFW_TOKENIZER_PATTERN_LLAMA3                                         \
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"          \
        "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"            \
        "\\s+(?!\\S)|\\s+"

/* Fill `spec` with defaults for `kind`: all special ids -1, SPM
 * add_bos = add_space_prefix = 1, WordPiece lowercase = 1,
 * strip_accents = -1, tokenize_cjk = 1, max_input_chars_per_word = 100. */
void socfw_tokenizer_spec_init(socfw_tokenizer_spec *spec,
                               socfw_tokenizer_kind kind);

/* Build a tokenizer.  Returns 0 and sets *out (caller frees with
 * socfw_tokenizer_free), or SOCFW_EINVAL for an inconsistent spec (the
 * message says which token/merge), SOCFW_ENOMEM.  Duplicate token strings:
 * the first id wins.  Merges naming unknown tokens are skipped with a
 * debug log. */
int socfw_tokenizer_new(socfw_tokenizer **out,
                        const socfw_tokenizer_spec *spec, socfw_error *err);

/* ---- loading from files ---- */

/* Load from `path`, choosing by what is there:
 *   - a .gguf file (tokenizer.ggml.model "gpt2", "llama" or "bert"),
 *   - a directory with tokenizer.json (BPE or WordPiece model),
 *   - a directory with vocab.json + merges.txt (byte-level BPE),
 *   - a directory with vocab.txt (WordPiece),
 *   - or one of those files named directly.
 * Returns 0 and sets *out (caller frees), or SOCFW_ENOTFOUND /
 * SOCFW_EFORMAT / SOCFW_EUNSUPPORTED / SOCFW_EIO with the file named. */
int socfw_tokenizer_load(socfw_tokenizer **out, const char *path,
                         socfw_error *err);

/* Hugging Face tokenizer.json with "model": {"type": "BPE" | "WordPiece"}.
 * A BPE model with "byte_fallback": true (SentencePiece exported by
 * transformers: Llama, Mistral) becomes an SPM tokenizer whose scores are
 * the negated merge ranks.  tokenizer_config.json and
 * special_tokens_map.json next to it, if any, name the special tokens.
 * Unigram models are SOCFW_EUNSUPPORTED. */
int socfw_tokenizer_load_hf_json(socfw_tokenizer **out, const char *path,
                                 socfw_error *err);

/* GPT-2 style vocab.json + merges.txt.  `config_dir` (may be NULL) is where
 * tokenizer_config.json / special_tokens_map.json are looked for. */
int socfw_tokenizer_load_bpe_files(socfw_tokenizer **out,
                                   const char *vocab_json,
                                   const char *merges_txt,
                                   const char *config_dir, socfw_error *err);

/* BERT vocab.txt (one token per line, id = line number - 1).  `lowercase`:
 * 1 uncased, 0 cased, -1 read do_lower_case from tokenizer_config.json next
 * to the file (default 1). */
int socfw_tokenizer_load_vocab_txt(socfw_tokenizer **out, const char *path,
                                   int lowercase, socfw_error *err);

/* GGUF tokenizer.ggml.* metadata. */
int socfw_tokenizer_load_gguf(socfw_tokenizer **out, const char *path,
                              socfw_error *err);

/* Free.  NULL is a no-op. */
void socfw_tokenizer_free(socfw_tokenizer *tok);

/* ---- use ---- */

/* Encode `len` bytes of `text` (need not be NUL-terminated; NULL allowed
 * when len is 0).  `flags`: SOCFW_TOKENIZER_ADD_SPECIAL,
 * SOCFW_TOKENIZER_PARSE_SPECIAL.  On success returns 0 and sets *ids to a
 * malloc'ed array of *n ids (caller frees; NULL when *n is 0).  On error
 * *ids = NULL, *n = 0: SOCFW_EINVAL for NULL arguments or a text longer
 * than 256 MiB (tokenize big corpora line by line), SOCFW_ENOMEM. */
int socfw_tokenizer_encode(const socfw_tokenizer *tok, const char *text,
                           size_t len, unsigned flags, int32_t **ids,
                           size_t *n, socfw_error *err);

/* Decode ids back to text.  BPE: the exact bytes; SPM: "▁" -> " ",
 * <0xXX> -> byte, the dummy prefix space removed; WordPiece: words joined
 * by spaces, "##" pieces glued, and BERT's clean-up of spaces before
 * punctuation.  `flags`: SOCFW_TOKENIZER_SKIP_SPECIAL.  Returns 0 and sets
 * *text to a malloc'ed NUL-terminated buffer (caller frees) of *len bytes
 * (len may be NULL; the text may contain NUL bytes), or SOCFW_EINVAL for an
 * id outside the vocabulary. */
int socfw_tokenizer_decode(const socfw_tokenizer *tok, const int32_t *ids,
                           size_t n, unsigned flags, char **text,
                           size_t *len, socfw_error *err);

/* The bytes token `id` stands for (BPE: raw bytes; SPM: "▁" -> " ",
 * <0xXX> -> the byte; WordPiece: the vocab entry as is, "##" included).
 * Copies at most size bytes (no NUL added) and returns the full length
 * (like snprintf, so a return > size means truncation), or -1 for a bad
 * id.  buf may be NULL when size is 0. */
int socfw_tokenizer_token_to_piece(const socfw_tokenizer *tok, int32_t id,
                                   char *buf, size_t size);

/* Token string as the model file spells it ("Ġthe", "▁the", "##ing";
 * WordPiece always in the "##" form, also when loaded from a GGUF that
 * stores llama.cpp's "▁word" form); borrowed, NUL-terminated; *len (may be
 * NULL) its length.  NULL for a bad id. */
const char *socfw_tokenizer_token_text(const socfw_tokenizer *tok,
                                       int32_t id, size_t *len);

/* Id of a token given as the model file spells it, or -1. */
int32_t socfw_tokenizer_token_id(const socfw_tokenizer *tok, const char *text,
                                 size_t len);

/* SOCFW_TOKEN_* type of id, or -1 for a bad id. */
int socfw_tokenizer_token_type(const socfw_tokenizer *tok, int32_t id);

/* SPM score of id (0 for other kinds or a bad id). */
float socfw_tokenizer_token_score(const socfw_tokenizer *tok, int32_t id);

/* BPE merges, highest priority first: their count (0 for other kinds) and
 * merge `rank` as the ids of its two halves (spell them with
 * socfw_tokenizer_token_text).  Returns 0 or SOCFW_EINVAL. */
size_t socfw_tokenizer_n_merges(const socfw_tokenizer *tok);
int socfw_tokenizer_merge(const socfw_tokenizer *tok, size_t rank,
                          int32_t *left, int32_t *right);

/* BPE pre-tokenizer regex (borrowed; NULL for other kinds). */
const char *socfw_tokenizer_pattern(const socfw_tokenizer *tok);

/* What ADD_SPECIAL adds (BOS, EOS) and SPM's dummy prefix space; any out
 * pointer may be NULL.  Returns 0 or SOCFW_EINVAL. */
int socfw_tokenizer_adds(const socfw_tokenizer *tok, int *bos, int *eos,
                         int *space_prefix);

socfw_tokenizer_kind socfw_tokenizer_get_kind(const socfw_tokenizer *tok);
size_t socfw_tokenizer_vocab_size(const socfw_tokenizer *tok);

/* Id of a special token role, or -1 when the model has none. */
int32_t socfw_tokenizer_special_id(const socfw_tokenizer *tok,
                                   socfw_tokenizer_special which);

/* ---- training and saving ---- */

typedef struct socfw_tokenizer_train_options {
        size_t vocab_size;              /* target size, specials included */
        size_t min_frequency;           /* pair/word count floor (>= 1)   */
        const char *const *special_tokens; /* added first, ids 0..; may be
                                              NULL                         */
        size_t n_special_tokens;
        int keep_case;                  /* WordPiece: 1 = cased model; 0
                                           (default) lowercases and strips
                                           accents like bert-base-uncased */
} socfw_tokenizer_train_options;

/* Train a byte-level BPE (GPT-2 pre-tokenizer, 256 byte tokens, then merges
 * until vocab_size) on `n_lines` lines (lens may be NULL: strlen).
 * Special tokens (e.g. "<|endoftext|>") get the first ids; the first one
 * becomes BOS/EOS.  Returns 0 and sets *out (caller frees), SOCFW_EINVAL
 * for a vocab_size below 256 + specials, SOCFW_ENOMEM. */
int socfw_tokenizer_train_bpe(socfw_tokenizer **out,
                              const char *const *lines, const size_t *lens,
                              size_t n_lines,
                              const socfw_tokenizer_train_options *opt,
                              socfw_error *err);

/* Train a WordPiece vocabulary (BERT normalisation and splitting, then BPE
 * merges over characters with "##" continuations, as HF's trainer does).
 * Specials default to [PAD] [UNK] [CLS] [SEP] [MASK] when none are given.
 * Returns as socfw_tokenizer_train_bpe. */
int socfw_tokenizer_train_wordpiece(socfw_tokenizer **out,
                                    const char *const *lines,
                                    const size_t *lens, size_t n_lines,
                                    const socfw_tokenizer_train_options *opt,
                                    socfw_error *err);

/* Save into directory `dir` (created if missing) in the Hugging Face layout
 * that socfw_tokenizer_load reads back: BPE -> vocab.json + merges.txt,
 * WordPiece -> vocab.txt, and for both a tokenizer.json.  SPM ->
 * SOCFW_EUNSUPPORTED.  Files are written atomically (temp + rename).
 * Returns 0 or a negative SOCFW_E* code. */
int socfw_tokenizer_save(const socfw_tokenizer *tok, const char *dir,
                         socfw_error *err);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_TOKENIZER_H */
