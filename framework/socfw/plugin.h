/* socfw/plugin.h - the stable C ABI between socfw and its plugins (2.0).
 *
 * A plugin is a libtool module (`-module -avoid-version`) that exports ONE
 * function, named after the module file:
 *
 *     const socfw_plugin *socfw_plugin_<name>_get(void);
 *
 * It returns a pointer to a constant descriptor: who the plugin is, which
 * parameters it accepts (the pipeline schema), and its hooks.  The host reads
 * the descriptor without calling any hook, so `socfw inspect` and
 * `socfw validate` never run plugin code beyond `_get`.
 *
 * There are two kinds of plugin:
 *   - a TASK (sentiment, dialog, privacy, ...) turns data records into
 *     training examples, runs as a stage of a chain (`predict`), and computes
 *     its metrics.  A task names the head it trains (e.g. "classifier").
 *   - a HEAD (classifier, tagger, lm, ranker) is an output layer on top of
 *     the backbone's hidden states: it owns its parameters and implements
 *     forward, loss and backward, and declares the kind of target it learns
 *     from (`target`).
 *
 * A minimal task plugin:
 *
 *     #include <socfw/plugin.h>
 *
 *     static const socfw_param_spec params[] = {
 *             {.key = "greeting", .type = SOCFW_PARAM_STRING,
 *              .default_value = "hello", .help = "What to say."},
 *             {0}
 *     };
 *     static int hello_predict(void *state, socfw_post *post, socfw_error *err)
 *     {
 *             return socfw_post_set_string(post, "hello.greeting",
 *                                          (const char *)state, err);
 *     }
 *     ...create() stores socfw_config_get_string(cfg, "greeting") in *state...
 *
 *     SOCFW_TASK_PLUGIN(hello,
 *             .version = "1.0", .description = "Greets every post.",
 *             .license = "MIT", .params = params,
 *             .task = SOCFW_TASK_HOOKS(.create = hello_create,
 *                                      .destroy = hello_destroy,
 *                                      .predict = hello_predict));
 *
 * (The macros are C: they take the address of compound literals, which
 * C++ does not have.  From C++, write a static socfw_task_hooks /
 * socfw_head_hooks and the socfw_plugin descriptor by hand, sizes set,
 * and export them with SOCFW_PLUGIN_DEFINE.)
 *
 * SOCFW_TASK_PLUGIN (SOCFW_HEAD_PLUGIN for a head) fills the ABI version,
 * the sizes, the kind and the name, and writes socfw_plugin_hello_get();
 * the plugin writes only what is its own.
 *
 * Compatibility rules:
 *   - The host refuses a plugin whose abi_major differs from its own (a 1.x
 *     plugin in a 2.x socfw, or the reverse), or whose abi_minor is newer
 *     than its own; the message shows both versions.
 *   - The descriptor (after its version) and each hook table start with
 *     their size as the plugin was built (`size`, filled by the macros).  Structures only ever
 *     grow at the end within a major version; the host reads a field only
 *     when the plugin's size covers it, so a hook added in 2.1 reads as NULL
 *     (a field as 0) for a plugin built against 2.0.  Hook tables sit behind
 *     pointers, so one can grow without moving the other.
 *   - A hook left NULL means "not supported": the host reports a clear error
 *     when a pipeline needs it.
 *   - Every hook returns 0 on success or a negative SOCFW_E* code and fills
 *     `err`.  Hooks never print to stdout and never exit.
 *   - Removing or moving a field, or changing a hook's signature, is a new
 *     major version (tests/test_abi_layout.c pins every offset).
 */
#ifndef SOCFW_PLUGIN_H
#define SOCFW_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socfw/config.h"
#include "socfw/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SOCFW_ABI_MAJOR 2
#define SOCFW_ABI_MINOR 0   /* 2.0: hook tables behind pointers, each and
                                 the descriptor with its size; a head's
                                 target and a task's input are plain
                                 fields; evaluate sees each example's
                                 record and the prediction in the head's
                                 kind (socfw_eval_record, _kind, _tags);
                                 SOCFW_TASK_PLUGIN / SOCFW_HEAD_PLUGIN */

/* ---- parameter specs: the pipeline schema ---- */

typedef enum socfw_param_type {
        SOCFW_PARAM_BOOL = 1,   /* true/false                                */
        SOCFW_PARAM_INT,        /* 64-bit integer, range [min, max]          */
        SOCFW_PARAM_FLOAT,      /* double, range [min, max]                  */
        SOCFW_PARAM_STRING,     /* any string                                */
        SOCFW_PARAM_ENUM,       /* one of `choices`                          */
        SOCFW_PARAM_PATH,       /* file or directory, relative to the YAML   */
        SOCFW_PARAM_LIST,       /* sequence of strings (items from `choices`
                                   when choices is set)                      */
        SOCFW_PARAM_MAP,        /* mapping string -> string                  */
} socfw_param_type;

/* Flags of a parameter spec. */
#define SOCFW_PARAM_REQUIRED   (1u << 0)  /* must be given                  */
#define SOCFW_PARAM_MUST_EXIST (1u << 1)  /* PATH: must exist at validation */

typedef struct socfw_param_spec {
        const char *key;            /* dotted path in the section, e.g.
                                       "data.train"; NULL ends the table     */
        socfw_param_type type;
        unsigned flags;             /* SOCFW_PARAM_*                        */
        const char *default_value;  /* as it would be written in YAML; NULL
                                       when there is none                    */
        double min, max;            /* INT/FLOAT bounds, inclusive; ignored
                                       when min > max or both are 0          */
        const char *const *choices; /* ENUM/LIST: NULL-terminated            */
        const char *help;           /* one or two sentences                  */
} socfw_param_spec;

/* ---- objects the host lends to hooks (opaque; see the accessors) ---- */

typedef struct socfw_task_ctx socfw_task_ctx; /* the task inside a pipeline */
typedef struct socfw_record socfw_record;     /* one row of a data file     */
typedef struct socfw_example socfw_example;   /* a training example         */
typedef struct socfw_post socfw_post;         /* a post flowing in a chain  */
typedef struct socfw_eval socfw_eval;         /* predictions vs gold labels */
typedef struct socfw_params socfw_params;     /* parameter store (params.h) */
typedef struct socfw_rng socfw_rng;           /* random numbers (rng.h)     */

/* ---- task plugins ---- */

typedef struct socfw_task_hooks {
        /* sizeof(socfw_task_hooks) where the plugin was built (the
         * SOCFW_TASK_HOOKS macro fills it): the host reads only the hooks
         * it covers. */
        size_t size;
        /* Build the task's state from its validated section.  `ctx` stays
         * valid until destroy; it gives access to the host (labels, running
         * the backbone and head, generation).  Required. */
        int (*create)(const socfw_config *cfg, socfw_task_ctx *ctx,
                      void **state, socfw_error *err);
        void (*destroy)(void *state);

        /* Turn one data record into a training/evaluation example
         * (socfw_example_set_*).  Return SOCFW_EINVAL with a message naming
         * the field for a bad record; the host adds file:line and applies the
         * pipeline's bad-row policy.  NULL: the task cannot be trained. */
        int (*parse_example)(void *state, const socfw_record *rec,
                             socfw_example *ex, socfw_error *err);

        /* Run as a stage of a chain over one post: read its text and the
         * annotations of earlier stages, add annotations or rewrite the text.
         * NULL: the task cannot be used in a chain. */
        int (*predict)(void *state, socfw_post *post, socfw_error *err);

        /* Compute the task's metrics (socfw_eval_*): one item per
         * evaluated example, with the data record it came from
         * (socfw_eval_record) and the gold target and the model's
         * prediction in the head's own kind (socfw_eval_kind: class ids
         * and probabilities, per-word tags, ...).  The host adds the loss
         * and its own figures for the kind (entity-level F1 for tags,
         * perplexity for tokens).  NULL: the host's default metrics for
         * the head's target kind: for single-label classes what
         * socfw_eval_add_classification gives over the task's labels
         * (accuracy, macro/weighted F1, macro recall and precision, the
         * per-class report); the host's figures alone otherwise. */
        int (*evaluate)(void *state, socfw_eval *ev, socfw_error *err);
} socfw_task_hooks;

/* ---- heads ---- */

/* Shapes a head is built for. */
typedef struct socfw_head_dims {
        int hidden;       /* C: backbone hidden size                        */
        int n_outputs;    /* classes / tags / vocabulary size / embedding   */
        int max_seq;      /* T: longest sequence the head will see          */
        int max_batch;    /* B: largest batch                               */
        /* The backbone's token embedding (n_outputs,C) and its gradient,
         * for heads that tie their output layer to it (language models);
         * NULL when the backbone has none or it is frozen (grad NULL). */
        const float *embedding;
        float *embedding_grad;
} socfw_head_dims;

/* What the head reads and writes in one step.  All arrays are row-major and
 * owned by the host; the head must not keep pointers past the call. */
typedef struct socfw_head_io {
        int B, T, C;                /* batch, sequence, hidden              */
        const float *hidden;        /* (B,T,C) backbone output              */
        float *dhidden;             /* (B,T,C) gradient: backward ADDS here */
        const int32_t *mask;        /* (B,T) 1 = real token, 0 = padding    */
        const int32_t *ids;         /* (B,T) input token ids                */
        float *out;                 /* head output, shape set by the head:
                                       (B,n_outputs) or (B,T,n_outputs)     */
        float *dout;                /* same shape: d loss / d out           */
        size_t out_len;             /* floats in out/dout                   */
        bool training;              /* dropout on                           */
        socfw_rng *rng;             /* for dropout                          */
} socfw_head_io;

/* Gold targets of a batch, by kind. */
typedef enum socfw_target_kind {
        SOCFW_TARGET_CLASS = 1,     /* one class per example: class[B]      */
        SOCFW_TARGET_MULTI_LABEL,   /* 0/1 per class: multi[B*n_outputs]    */
        SOCFW_TARGET_TAGS,          /* one tag per token: tags[B*T], -100
                                       ignored                              */
        SOCFW_TARGET_TOKENS,        /* next-token ids: tags[B*T], -100
                                       ignored (LM loss on the reply only)  */
        SOCFW_TARGET_SCORE,         /* a score per example: score[B]        */
} socfw_target_kind;

typedef struct socfw_head_targets {
        socfw_target_kind kind;
        const int32_t *class_ids;   /* CLASS                                */
        const float *multi;         /* MULTI_LABEL                          */
        const int32_t *tags;        /* TAGS, TOKENS                         */
        const float *score;         /* SCORE                                */
        const float *class_weight;  /* optional per-class weights, or NULL  */
} socfw_head_targets;

typedef struct socfw_head_hooks {
        /* sizeof(socfw_head_hooks) where the plugin was built (filled by
         * SOCFW_HEAD_HOOKS): the host reads only the hooks it covers. */
        size_t size;
        /* Build the head: read its section (`head:`) and loss section
         * (`loss:`), and register its parameters with socfw_params_add().
         * The host finalizes the store after every head has registered. */
        int (*create)(const socfw_config *head_cfg,
                      const socfw_config *loss_cfg,
                      const socfw_head_dims *dims, socfw_params *params,
                      void **state, socfw_error *err);
        void (*destroy)(void *state);
        /* Initialise the registered parameters (after finalize). */
        int (*init_params)(void *state, socfw_params *params, socfw_rng *rng,
                           socfw_error *err);
        /* io->hidden -> io->out.  Sets io->out_len on return. */
        int (*forward)(void *state, socfw_head_io *io, socfw_error *err);
        /* Loss of io->out against the targets; writes io->dout (already
         * divided by the number of counted items).  Returns the mean loss in
         * *loss. */
        int (*loss)(void *state, socfw_head_io *io,
                    const socfw_head_targets *targets, float *loss,
                    socfw_error *err);
        /* io->dout -> gradients of the head's parameters (+=) and
         * io->dhidden (+=). */
        int (*backward)(void *state, socfw_head_io *io, socfw_error *err);
        /* Output size for a batch, in floats (so the host can allocate
         * out/dout before forward). */
        size_t (*output_size)(void *state, int B, int T);
} socfw_head_hooks;

/* ---- the descriptor ---- */

typedef enum socfw_plugin_kind {
        SOCFW_PLUGIN_TASK = 1,
        SOCFW_PLUGIN_HEAD = 2,
} socfw_plugin_kind;

typedef struct socfw_plugin {
        /* abi_major, abi_minor and name stay where they are (offsets 0,
         * 4 and 16) in every major version, so any socfw can tell which
         * ABI a plugin speaks and name it when refusing it. */
        uint32_t abi_major;          /* SOCFW_ABI_MAJOR at build time       */
        uint32_t abi_minor;          /* SOCFW_ABI_MINOR at build time       */
        uint32_t size;               /* sizeof(socfw_plugin) at build time  */
        socfw_plugin_kind kind;
        const char *name;            /* equals the module file's base name  */
        const char *version;         /* the plugin's own version            */
        const char *description;     /* one line                            */
        const char *license;         /* SPDX identifier                     */
        const char *author;          /* may be NULL                         */
        const socfw_param_spec *params;      /* section keys; {0}-ended     */

        /* ---- TASK only ---- */
        /* The head type a task uses when the pipeline does not say
         * (`head: {type: ...}`), NULL for tasks without a head (e.g. a
         * rule-based stage). */
        const char *default_head;
        /* What the task's predict reads from a record when that is not a
         * post's text - NULL for a post (the record's text field is then
         * required), otherwise a short description of the record, e.g. "a
         * brief {category, advertiser, product, ...}".  `socfw predict`
         * accepts records without a text field when every stage it runs
         * reads records; `socfw inspect` shows it. */
        const char *input;
        const socfw_task_hooks *task;        /* required for a task         */

        /* ---- HEAD only ---- */
        /* Keys of the `loss:` section; its "type" key lists the losses the
         * head implements. */
        const socfw_param_spec *loss_params;
        /* The kind of gold target the head learns from -
         * SOCFW_TARGET_CLASS (one class per example; the host passes
         * MULTI_LABEL instead when the loss is "bce"), TAGS (one per
         * token), TOKENS (next-token ids), SCORE (query/item pairs).  The
         * host prepares examples, batches and evaluation by this kind
         * alone, so a new head of an existing kind needs no host change.
         * Required for a head. */
        socfw_target_kind target;
        const socfw_head_hooks *head;        /* required for a head         */
        /* Fields added in later minor versions go here, at the end. */
} socfw_plugin;

/* The type of the one exported function. */
typedef const socfw_plugin *(*socfw_plugin_get_fn)(void);

/* A hook table with its size filled in, as a constant the descriptor
 * points to:
 *
 *     .task = SOCFW_TASK_HOOKS(.create = hello_create,
 *                              .predict = hello_predict)
 */
#define SOCFW_TASK_HOOKS(...)                                             \
        (&(const socfw_task_hooks){.size = sizeof(socfw_task_hooks),      \
                                   __VA_ARGS__})
#define SOCFW_HEAD_HOOKS(...)                                             \
        (&(const socfw_head_hooks){.size = sizeof(socfw_head_hooks),      \
                                   __VA_ARGS__})

/* The descriptor of the module NAME (the module file's base name) and its
 * exported socfw_plugin_<NAME>_get(): the ABI version, size, kind and name
 * are filled in; the arguments are the remaining designated fields.  End
 * it with a semicolon.
 *
 *     SOCFW_HEAD_PLUGIN(scorer,
 *             .version = "0.1", .description = "One score per post.",
 *             .license = "MIT", .target = SOCFW_TARGET_SCORE,
 *             .loss_params = loss_params,
 *             .head = SOCFW_HEAD_HOOKS(.create = scorer_create, ...));
 */
#define SOCFW_TASK_PLUGIN(NAME, ...)                                      \
        SOCFW_PLUGIN_DESCRIPTOR_(NAME, SOCFW_PLUGIN_TASK, __VA_ARGS__)
#define SOCFW_HEAD_PLUGIN(NAME, ...)                                      \
        SOCFW_PLUGIN_DESCRIPTOR_(NAME, SOCFW_PLUGIN_HEAD, __VA_ARGS__)

/* Only the exported function, for a descriptor written by hand (which
 * then sets abi_major, abi_minor and size itself):
 *
 *     static const socfw_plugin hello = {...};
 *     SOCFW_PLUGIN_DEFINE(hello, hello);
 */
#define SOCFW_PLUGIN_DEFINE(name, desc)                                   \
        const socfw_plugin *socfw_plugin_##name##_get(void);              \
        const socfw_plugin *socfw_plugin_##name##_get(void)               \
        {                                                                 \
                return &(desc);                                           \
        }                                                                 \
        const socfw_plugin *socfw_plugin_##name##_get(void)

#define SOCFW_PLUGIN_DESCRIPTOR_(NAME, KIND, ...)                         \
        static const socfw_plugin socfw_plugin_##NAME##_desc_ = {         \
                .abi_major = SOCFW_ABI_MAJOR,                             \
                .abi_minor = SOCFW_ABI_MINOR,                             \
                .size = sizeof(socfw_plugin),                             \
                .kind = KIND,                                             \
                .name = #NAME,                                            \
                __VA_ARGS__};                                             \
        SOCFW_PLUGIN_DEFINE(NAME, socfw_plugin_##NAME##_desc_)

/* ---- accessors the host exports for hooks ---- */

/* Records (parse_example): fields of one data row.  Strings are borrowed
 * (valid during the call); NULL when the field is missing or not a string.
 * For JSON Lines, nested values are reachable with dotted paths and
 * non-string values are returned as compact JSON text by _get_json (caller
 * frees). */
const char *socfw_record_get_string(const socfw_record *rec, const char *field);
int socfw_record_get_number(const socfw_record *rec, const char *field,
                            double *out);
char *socfw_record_get_json(const socfw_record *rec, const char *field);
const char *socfw_record_file(const socfw_record *rec);
long socfw_record_line(const socfw_record *rec);

/* Examples (parse_example): what the model reads and what it should
 * produce.  Strings are copied. */
int socfw_example_set_text(socfw_example *ex, const char *text);
int socfw_example_set_text_pair(socfw_example *ex, const char *text);
int socfw_example_set_class(socfw_example *ex, int class_id);
int socfw_example_set_multi_label(socfw_example *ex, const int *class_ids,
                                  size_t n);
/* Per-word tags: the host aligns them to tokens (first sub-token). */
int socfw_example_set_word_tags(socfw_example *ex, const char *const *words,
                                const int *tags, size_t n);
/* Language modelling: `context` is read but not learnt, `target` is
 * learnt (the loss covers target tokens only). */
int socfw_example_set_lm(socfw_example *ex, const char *context,
                         const char *target);
int socfw_example_set_score(socfw_example *ex, double score);
/* Finish the current example and start another from the same record (a
 * dialog gives one example per turn). */
int socfw_example_next(socfw_example *ex);

/* Posts (predict): the text a chain is working on, and annotations.
 * Annotation keys are dotted, by convention "<task>.<field>"
 * ("sentiment.label").  Getters return borrowed values, NULL when absent. */
const char *socfw_post_text(const socfw_post *post);
int socfw_post_set_text(socfw_post *post, const char *text, socfw_error *err);
const char *socfw_post_session(const socfw_post *post);
const char *socfw_post_get_string(const socfw_post *post, const char *key);
int socfw_post_get_number(const socfw_post *post, const char *key,
                          double *out);
int socfw_post_set_string(socfw_post *post, const char *key,
                          const char *value, socfw_error *err);
int socfw_post_set_number(socfw_post *post, const char *key, double value,
                          socfw_error *err);
/* `json` is a JSON text (object, array, ...), validated and copied. */
int socfw_post_set_json(socfw_post *post, const char *key, const char *json,
                        socfw_error *err);

/* Task context (create/predict): the task's labels and the host's model. */
const char *socfw_task_name(const socfw_task_ctx *ctx);
size_t socfw_task_label_count(const socfw_task_ctx *ctx);
const char *socfw_task_label(const socfw_task_ctx *ctx, size_t i);
/* Run tokenizer + backbone + head on `text` (inference, no dropout) and copy
 * up to `n` head outputs (e.g. class probabilities) into `out`; *n_out gets
 * how many there are.  SOCFW_EUNSUPPORTED when the pipeline has no model. */
int socfw_task_infer(socfw_task_ctx *ctx, const char *text, float *out,
                     size_t n, size_t *n_out, socfw_error *err);

/* Generation (predict of generating tasks): continue `prompt` with the
 * pipeline's language model.  `opts` may be NULL (defaults); its first
 * field is sizeof(socfw_generate_opts) so it can grow.  *reply is the
 * generated text without the prompt (caller frees). */
typedef struct socfw_generate_opts {
        size_t size;                    /* sizeof(socfw_generate_opts)   */
        int max_tokens;                 /* 0: the pipeline's default     */
        float temperature;              /* 0: greedy                     */
        int top_k;                      /* 0: off                        */
        float top_p;                    /* 0 or 1: off                   */
        float repetition_penalty;       /* 1: off                        */
        uint64_t seed;
        const char *const *stop;        /* NULL-terminated, may be NULL  */
        const char *const *banned;      /* words never produced; NULL ok */
        /* Streaming: called with each piece of final reply text, in order
         * (never a partial UTF-8 character; the pieces concatenated are
         * exactly *reply).  Return 0 to go on, nonzero to stop generating
         * (*reply then holds what was produced so far).  NULL: no
         * streaming.  `on_piece_user` is passed back. */
        int (*on_piece)(void *user, const char *piece, size_t len);
        void *on_piece_user;
        /* Constraints and score (read only when `size` covers them).
         * `banned` entries may be phrases ("guaranteed results"); they and
         * `required` match ASCII case-insensitively, across tokens. */
        const char *const *required;    /* words the reply must contain:
                                           forced in when room runs out or
                                           the model would stop; NULL ok */
        int max_chars;                  /* code points of the reply: tokens
                                           that do not fit are never
                                           produced; 0: no limit         */
        double *score;                  /* out, may be NULL: mean log-prob
                                           per reply token, forced ones
                                           included (the model's own
                                           distribution)                 */
        int *at_limit;                  /* out, may be NULL: 1 when the
                                           reply ended at max_tokens,
                                           max_chars or the context (it
                                           may end inside a word), 0 when
                                           the model ended it            */
        int *n_forced;                  /* out, may be NULL: tokens placed
                                           to satisfy `required` (0: the
                                           model wrote every word)       */
} socfw_generate_opts;

int socfw_task_generate(socfw_task_ctx *ctx, const char *prompt,
                        const socfw_generate_opts *opts, char **reply,
                        socfw_error *err);

/* The data split parse_example is being called for: "train", "valid",
 * "test", or "eval" (`socfw evaluate --input`); NULL outside
 * parse_example.  Lets a task hold out a deterministic part of a file that
 * is both its training and its validation data.  Static string. */
const char *socfw_task_split(const socfw_task_ctx *ctx);

/* Token classification (predict of tagging tasks, head: {type: tagger}):
 * run tokenizer + backbone + tagger over `words` split as the task's
 * training examples were (socfw_example_set_word_tags), and write the
 * n_words x n_tags tag probabilities into `probs`, row w for word w (read
 * at its first sub-token, or the last with the head's label_token: last;
 * tag ids are label indices, socfw_task_label).  A text longer than the
 * model's window is run in windows of whole words, so every word gets a
 * row; an empty word gets a row of zeros.  `n_probs` is the room in
 * `probs` (floats); *n_tags gets the number of tags (also on
 * SOCFW_EINVAL when the room is too small, so a caller can size it).
 * Returns 0, SOCFW_EUNSUPPORTED when the task has no tagger model,
 * SOCFW_EINVAL, SOCFW_ENOMEM. */
int socfw_task_tag_words(socfw_task_ctx *ctx, const char *const *words,
                         size_t n_words, float *probs, size_t n_probs,
                         size_t *n_tags, socfw_error *err);

/* Run another task of the same pipeline, named `task`, as a chain stage
 * on `post` (its predict hook with its trained model): e.g. an ad-copy
 * task scoring candidates with the pipeline's sentiment task.  Its
 * annotations land on `post` under its name.  SOCFW_ENOTFOUND for an
 * unknown task, SOCFW_EINVAL when `task` is the caller itself,
 * SOCFW_EUNSUPPORTED outside a runtime. */
int socfw_task_run_stage(socfw_task_ctx *ctx, const char *task,
                         socfw_post *post, socfw_error *err);

/* Tokens `text` takes with the pipeline's tokenizer (for context budgets).
 * SOCFW_EUNSUPPORTED when the pipeline has no model. */
int socfw_task_count_tokens(socfw_task_ctx *ctx, const char *text,
                            size_t *n, socfw_error *err);

/* Evaluation (evaluate): one item per evaluated example - a record for a
 * class task (its windows averaged), a parsed example otherwise (a dialog
 * gives one per turn, so several items may share a record) - and where
 * the task reports its metrics.
 *
 *     for (size_t i = 0; i < socfw_eval_count(ev); i++) {
 *             const socfw_record *rec = socfw_eval_record(ev, i);
 *             const int *gold, *pred;
 *             size_t n = socfw_eval_tags(ev, i, &gold, &pred);
 *             ... compare, reading the words again from rec ...
 *     }
 *
 * socfw_eval_kind: what the items hold - SOCFW_TARGET_CLASS (gold/pred
 * class ids, _scores), TAGS (_tags), TOKENS and SCORE (the record and the
 * host's loss only: a task that generates or ranks does so itself, with
 * socfw_task_generate or its own catalogue), MULTI_LABEL (the record). */
size_t socfw_eval_count(const socfw_eval *ev);
socfw_target_kind socfw_eval_kind(const socfw_eval *ev);
/* The data record item i was parsed from (as parse_example saw it:
 * socfw_record_get_*, _file, _line), borrowed until the hook returns;
 * NULL when the host cannot tell (no data file, or it could not be read
 * again - logged).  The host reads the evaluated file again on the first
 * call, so a task that never asks pays nothing. */
const socfw_record *socfw_eval_record(socfw_eval *ev, size_t i);
/* CLASS: gold and predicted class of item i (MULTI_LABEL: the best class
 * and gold -1); -1 for other kinds. */
int socfw_eval_gold(const socfw_eval *ev, size_t i);
int socfw_eval_pred(const socfw_eval *ev, size_t i);
/* CLASS: the class probabilities of item i (socfw_task_label_count of
 * them, the average over a record's windows), or NULL. */
const float *socfw_eval_scores(const socfw_eval *ev, size_t i);
/* TAGS: the gold and predicted tag of every word of item i, in the order
 * the task gave them to socfw_example_set_word_tags; *gold and *pred
 * (either may be NULL) point to that many ints, -1 for a word without a
 * tag (an ignored tag, or cut off by the model's window).  Returns the
 * number of words; 0 (and NULL arrays) for other kinds. */
size_t socfw_eval_tags(const socfw_eval *ev, size_t i, const int **gold,
                       const int **pred);
int socfw_eval_add_metric(socfw_eval *ev, const char *name, double value,
                          bool higher_is_better);
int socfw_eval_add_report(socfw_eval *ev, const char *text);
/* The usual figures of a classification task in one call: builds the
 * confusion matrix of gold vs predicted classes (for TAGS: of every
 * tagged word), adds accuracy, macro_f1, weighted_f1, macro_recall and
 * macro_precision (all higher-is-better) and the per-class text report
 * whose rows are named by `label_names` (n_labels of them; NULL: "0",
 * "1", ...). */
int socfw_eval_add_classification(socfw_eval *ev,
                                  const char *const *label_names,
                                  size_t n_labels, socfw_error *err);
/* The data file whose examples are evaluated (borrowed; NULL when the host
 * does not know): for naming it in reports and errors.  Read the records
 * themselves with socfw_eval_record, which uses the host's reader and the
 * task's data options (dialog and recommend do). */
const char *socfw_eval_source(const socfw_eval *ev);
/* Which split is evaluated: "train", "valid", "test", or "eval" (`socfw
 * evaluate --input`); NULL when the host does not say.  Static string. */
const char *socfw_eval_split(const socfw_eval *ev);

#ifdef __cplusplus
}
#endif
#endif /* SOCFW_PLUGIN_H */
