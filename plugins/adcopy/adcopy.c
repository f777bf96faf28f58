/* adcopy.c - advertising copy generation task plugin.
 *
 * Training data (JSON Lines): {category, advertiser, product, copy} and
 * optionally audience, tone and keywords (a list or "a, b").  Each record
 * gives one language-modelling example: the prompt (brief.h) is read, the
 * copy learnt with the "lm" head.  Records without keywords get
 * `keywords_from_copy` keywords taken from their own copy, so that the model
 * learns to use the keywords it is given.
 *
 * Held-out validation: with `holdout` > 0, the records of data.train whose
 * seeded hash of the line number (split_seed) falls under `holdout` are not
 * trained on; when data.valid names the same file, exactly those records
 * are the validation split (socfw_task_split tells the two passes apart).
 *
 * Generation (predict, and evaluate on the held-out records), with the
 * constraints enforced while decoding by the host's generation loop:
 *   - the channel's length limit (max_chars): tokens that do not fit are
 *     never sampled; a copy cut by the limit ends at its last sentence end
 *     or word boundary;
 *   - banned_words and banned_claims: a token that would complete one
 *     (case-insensitive, across tokens) is masked;
 *   - keywords: when room runs short, or the model would end the copy, a
 *     missing keyword is forced in.
 * `candidates` copies are sampled (seeded by `seed`, the candidate number
 * and the prompt) and ranked by the model's mean log-probability, minus
 * 100 per violated constraint (verified after generation; none are
 * expected), plus `positive_weight` times the positive probability from
 * the pipeline's sentiment task when `prefer_positive` is on.
 *
 * As a chain stage, the post carries the brief: fields named as in the
 * data (category, advertiser, product, audience, tone, keywords) plus
 * optionally "channel" and "max_chars"; product defaults to the post's
 * text.  Written: <task>.copy (the chosen copy), <task>.candidates (each
 * candidate's copy, logprob, violations, positive, score), <task>.chosen,
 * <task>.violations, <task>.keywords (candidates also carry
 * forced_tokens: tokens placed to satisfy the keywords).
 *
 * Metrics (evaluate, on up to `eval_samples` held-out records):
 * rouge_l (F1 against the reference copy), keyword_coverage,
 * violation_rate (copies violating any constraint; must be 0), distinct_2,
 * avg_chars, forced_rate (copies where a keyword had to be forced in: how
 * often the model did not write its keywords itself); a few samples go
 * into the report.
 */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "brief.h"
#include "socfw/chain.h"
#include "socfw/plugin.h"
#include "socfw/rng.h"

#define MAX_CANDIDATES 16

static const char *const channel_choices[] = {"generic", "twitter", "weibo",
                                              "search_ad", "banner", NULL};

static const socfw_param_spec params[] = {
        {.key = "data.category_field", .type = SOCFW_PARAM_STRING,
         .default_value = "category", .help = "Field with the category."},
        {.key = "data.advertiser_field", .type = SOCFW_PARAM_STRING,
         .default_value = "advertiser", .help = "Field with the advertiser."},
        {.key = "data.product_field", .type = SOCFW_PARAM_STRING,
         .default_value = "product", .help = "Field with the product."},
        {.key = "data.copy_field", .type = SOCFW_PARAM_STRING,
         .default_value = "copy", .help = "Field with the reference copy."},
        {.key = "data.audience_field", .type = SOCFW_PARAM_STRING,
         .default_value = "audience",
         .help = "Optional field with the audience."},
        {.key = "data.tone_field", .type = SOCFW_PARAM_STRING,
         .default_value = "tone", .help = "Optional field with the tone."},
        {.key = "data.keywords_field", .type = SOCFW_PARAM_STRING,
         .default_value = "keywords",
         .help = "Optional field with required keywords (a list, or a "
                 "comma-separated string)."},
        {.key = "channel", .type = SOCFW_PARAM_ENUM,
         .default_value = "generic", .choices = channel_choices,
         .help = "Where the copy runs; sets the default length limit "
                 "(twitter 280, weibo 140, search_ad 90, banner 60, generic "
                 "500 characters)."},
        {.key = "max_chars", .type = SOCFW_PARAM_INT, .default_value = "0",
         .min = 0, .max = 100000,
         .help = "Length limit in characters; 0 = the channel's."},
        {.key = "audience", .type = SOCFW_PARAM_STRING,
         .help = "Who the copy speaks to, when a brief does not say."},
        {.key = "tone", .type = SOCFW_PARAM_STRING,
         .help = "Tone of the copy, when a brief does not say."},
        {.key = "keywords", .type = SOCFW_PARAM_LIST,
         .help = "Words every generated copy must contain (added to a "
                 "brief's own)."},
        {.key = "banned_words", .type = SOCFW_PARAM_LIST,
         .help = "Words no copy may contain (not even inside a longer "
                 "word; case-insensitive)."},
        {.key = "banned_claims", .type = SOCFW_PARAM_LIST,
         .help = "Phrases no copy may contain (e.g. \"guaranteed "
                 "results\"; case-insensitive)."},
        {.key = "candidates", .type = SOCFW_PARAM_INT, .default_value = "1",
         .min = 1, .max = MAX_CANDIDATES,
         .help = "Copies sampled per brief; the best ranked is chosen."},
        {.key = "temperature", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.8", .min = 0, .max = 10,
         .help = "Sampling temperature (0: greedy)."},
        {.key = "top_k", .type = SOCFW_PARAM_INT, .default_value = "40",
         .min = 0, .max = 1000000, .help = "Top-k sampling; 0 = off."},
        {.key = "top_p", .type = SOCFW_PARAM_FLOAT, .default_value = "0.95",
         .min = 0, .max = 1, .help = "Nucleus sampling; 1 = off."},
        {.key = "repetition_penalty", .type = SOCFW_PARAM_FLOAT,
         .default_value = "1.1", .min = 1, .max = 10,
         .help = "CTRL-style repetition penalty; 1 = off."},
        {.key = "seed", .type = SOCFW_PARAM_INT, .default_value = "42",
         .min = 0, .max = 9e15, .help = "Seed of the sampled candidates."},
        {.key = "max_tokens", .type = SOCFW_PARAM_INT, .default_value = "160",
         .min = 1, .max = 4096,
         .help = "Most tokens per copy (the prompt and these must fit in "
                 "the backbone's positions)."},
        {.key = "prefer_positive", .type = SOCFW_PARAM_BOOL,
         .default_value = "false",
         .help = "Rank candidates also by the positive probability of the "
                 "pipeline's sentiment task (sentiment_task)."},
        {.key = "sentiment_task", .type = SOCFW_PARAM_STRING,
         .default_value = "sentiment",
         .help = "Task whose stage scores candidates for prefer_positive."},
        {.key = "positive_label", .type = SOCFW_PARAM_STRING,
         .default_value = "positive",
         .help = "Label of that task counted as positive."},
        {.key = "positive_weight", .type = SOCFW_PARAM_FLOAT,
         .default_value = "1.0", .min = 0, .max = 100,
         .help = "Weight of the positive probability in the ranking."},
        {.key = "holdout", .type = SOCFW_PARAM_FLOAT, .default_value = "0",
         .min = 0, .max = 0.9,
         .help = "Fraction of data.train held out (not trained on); it is "
                 "the validation split when data.valid is the same file."},
        {.key = "split_seed", .type = SOCFW_PARAM_INT, .default_value = "42",
         .min = 0, .max = 9e15,
         .help = "Seed of the held-out split and of derived keywords."},
        {.key = "keywords_from_copy", .type = SOCFW_PARAM_INT,
         .default_value = "2", .min = 0, .max = 8,
         .help = "Keywords taken from each reference copy that has none "
                 "(training prompts; required keywords in evaluation)."},
        {.key = "max_target_tokens", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 100000,
         .help = "Training copies longer than this many tokens are cut at "
                 "a sentence end (else a word boundary) so that the whole "
                 "copy and its end fit the model's window; 0 = off.  Keep "
                 "it under half of backbone.max_seq_len."},
        {.key = "eval_samples", .type = SOCFW_PARAM_INT,
         .default_value = "50", .min = 0, .max = 100000,
         .help = "Held-out records generated for the metrics at each "
                 "evaluation; 0 = only the loss."},
        {0},
};

/* A held-out brief and its reference, for evaluate. */
typedef struct held {
        socfw_adcopy_brief b;
        char *reference;
} held;

typedef struct adcopy {
        socfw_task_ctx *ctx;
        const socfw_config *cfg;
        const char **banned;    /* banned_words + banned_claims, NULL-ended */
        size_t limit;
        double holdout;
        uint64_t split_seed;
        held *valid;            /* held-out briefs (up to eval_samples)     */
        size_t n_valid;
} adcopy;

/* One generated candidate. */
typedef struct candidate {
        char *copy;
        int forced;             /* tokens forced in for keywords */
        double logprob, positive, score;
        socfw_adcopy_violations v;
} candidate;

static void
adcopy_destroy(void *state)
{
        adcopy *a = state;
        if (!a)
                return;
        for (size_t i = 0; i < a->n_valid; i++) {
                socfw_adcopy_brief_clear(&a->valid[i].b);
                free(a->valid[i].reference);
        }
        free(a->valid);
        free(a->banned);
        free(a);
}

/* Re-raise err at the location of a config key. */
static int
config_error(const adcopy *a, const char *key, socfw_error *err)
{
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s", err ? err->message : "");
        if (err)
                memset(err, 0, sizeof *err);    /* the first error wins */
        return socfw_error_set_at(err, SOCFW_EINVAL,
                                  socfw_config_file(a->cfg),
                                  socfw_config_line(a->cfg, key),
                                  socfw_config_column(a->cfg, key),
                                  "adcopy: %s: %s", key, msg);
}

/* The pipeline's own keywords, audience and tone go into every brief. */
static int
apply_defaults(const adcopy *a, socfw_adcopy_brief *b, socfw_error *err)
{
        int rc = 0;
        if (!b->audience)
                rc = socfw_adcopy_brief_set(
                        &b->audience,
                        socfw_config_get_string(a->cfg, "audience"), err);
        if (rc == 0 && !b->tone)
                rc = socfw_adcopy_brief_set(
                        &b->tone, socfw_config_get_string(a->cfg, "tone"),
                        err);
        size_t nk = socfw_config_list_len(a->cfg, "keywords");
        for (size_t i = 0; rc == 0 && i < nk; i++)
                rc = socfw_adcopy_brief_add_keyword(
                        b, socfw_config_list_get(a->cfg, "keywords", i), err);
        return rc;
}

static int
adcopy_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
              socfw_error *err)
{
        adcopy *a = calloc(1, sizeof *a);
        socfw_adcopy_brief b = {0};
        int rc = 0;
        if (!a)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        a->ctx = ctx;
        a->cfg = cfg;
        long long mc = socfw_config_get_int(cfg, "max_chars");
        a->limit = mc > 0 ? (size_t)mc
                          : socfw_adcopy_channel_limit(
                                    socfw_config_get_string(cfg, "channel"));
        a->holdout = socfw_config_get_float(cfg, "holdout");
        a->split_seed = (uint64_t)socfw_config_get_int(cfg, "split_seed");
        size_t nw = socfw_config_list_len(cfg, "banned_words");
        size_t nc = socfw_config_list_len(cfg, "banned_claims");
        a->banned = calloc(nw + nc + 1, sizeof *a->banned);
        if (!a->banned) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < nw; i++)
                a->banned[i] = socfw_config_list_get(cfg, "banned_words", i);
        for (size_t i = 0; i < nc; i++)
                a->banned[nw + i] =
                        socfw_config_list_get(cfg, "banned_claims", i);
        for (size_t i = 0; i < nw + nc; i++)
                if (!a->banned[i] || !a->banned[i][0]) {
                        socfw_error_set(err, SOCFW_EINVAL,
                                        "an empty banned entry");
                        rc = config_error(a, i < nw ? "banned_words"
                                                    : "banned_claims",
                                          err);
                        goto out;
                }
        /* the pipeline's constraints must be satisfiable on their own */
        b.max_chars = a->limit;
        rc = socfw_adcopy_brief_set(&b.product, "x", err);
        if (rc == 0 && (rc = socfw_adcopy_brief_set(
                                &b.audience,
                                socfw_config_get_string(cfg, "audience"),
                                err)) < 0)
                rc = config_error(a, "audience", err);
        if (rc == 0 &&
            (rc = socfw_adcopy_brief_set(
                     &b.tone, socfw_config_get_string(cfg, "tone"), err)) < 0)
                rc = config_error(a, "tone", err);
        if (rc == 0 && ((rc = apply_defaults(a, &b, err)) < 0 ||
                        (rc = socfw_adcopy_brief_check(&b, a->banned, err)) <
                                0))
                rc = config_error(a, "keywords", err);
out:
        socfw_adcopy_brief_clear(&b);
        if (rc < 0) {
                adcopy_destroy(a);
                return rc;
        }
        *state = a;
        return 0;
}

/* ---- briefs from records and posts ---- */

/* Keywords from a JSON list or a comma-separated string. */
static int
add_keywords_text(socfw_adcopy_brief *b, const char *text, socfw_error *err)
{
        json_error_t je;
        json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
        int rc = 0;
        if (json_is_array(v)) {
                size_t i;
                json_t *x;
                json_array_foreach(v, i, x)
                {
                        if (!json_is_string(x)) {
                                rc = socfw_error_set(err, SOCFW_EINVAL,
                                                     "keywords: item %zu is "
                                                     "not a string",
                                                     i);
                                break;
                        }
                        rc = socfw_adcopy_brief_add_keyword(
                                b, json_string_value(x), err);
                        if (rc < 0)
                                break;
                }
                json_decref(v);
                return rc;
        }
        const char *s = json_is_string(v) ? json_string_value(v) : text;
        char *copy = strdup(s);
        json_decref(v);
        if (!copy)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        char *save = NULL;
        for (char *k = strtok_r(copy, ",", &save); rc == 0 && k;
             k = strtok_r(NULL, ",", &save)) {
                const char *p = k;
                while (*p == ' ')
                        p++;
                if (*p)
                        rc = socfw_adcopy_brief_add_keyword(b, p, err);
        }
        free(copy);
        return rc;
}

/* Is line `line` of data.train held out? */
static int
held_out(const adcopy *a, long line)
{
        if (a->holdout <= 0)
                return 0;
        uint64_t h = socfw_rng_mix64(a->split_seed ^
                                     socfw_rng_mix64((uint64_t)line));
        return (double)(h >> 11) * 0x1.0p-53 < a->holdout;
}

static int
remember(adcopy *a, socfw_adcopy_brief *b, const char *reference)
{
        size_t cap = (size_t)socfw_config_get_int(a->cfg, "eval_samples");
        if (a->n_valid >= cap)
                return 0;
        held *v = realloc(a->valid, (a->n_valid + 1) * sizeof *v);
        if (!v)
                return SOCFW_ENOMEM;
        a->valid = v;
        v[a->n_valid].reference = strdup(reference);
        if (!v[a->n_valid].reference)
                return SOCFW_ENOMEM;
        v[a->n_valid].b = *b;           /* moved */
        memset(b, 0, sizeof *b);
        a->n_valid++;
        return 0;
}

/* A copy of `copy` cut at a sentence end (else a word boundary) to at most
 * `cap` tokens of the pipeline's tokenizer (caller frees).  The copy itself
 * when it fits or the pipeline has no tokenizer. */
static int
fit_tokens(adcopy *a, const char *copy, size_t cap, char **out,
           socfw_error *err)
{
        char *s = strdup(copy);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (int round = 0; cap && round < 16; round++) {
                size_t n = 0, len = strlen(s);
                socfw_error local = {0};
                if (socfw_task_count_tokens(a->ctx, s, &n, &local) < 0 ||
                    n <= cap)
                        break;
                size_t want = (size_t)((double)len * (double)cap /
                                       (double)n);
                size_t cut = 0, space = 0;
                for (size_t i = 1; i < want && i < len; i++) {
                        if (s[i] == ' ' || s[i] == '\n') {
                                space = i;
                                if (strchr(".!?", s[i - 1]))
                                        cut = i;
                        }
                }
                if (cut < want / 2)
                        cut = space;
                if (cut == 0)
                        cut = want ? want : 1;
                while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
                        cut--;          /* a character boundary */
                if (cut == 0)
                        break;
                s[cut] = '\0';
        }
        *out = s;
        return 0;
}

static int
adcopy_parse_example(void *state, const socfw_record *rec, socfw_example *ex,
                     socfw_error *err)
{
        adcopy *a = state;
        const char *split = socfw_task_split(a->ctx);
        const char *train = socfw_config_get_string(a->cfg, "data.train");
        const char *file = socfw_record_file(rec);
        int same = train && file && !strcmp(train, file);
        int is_valid = split && !strcmp(split, "valid");
        if (same && a->holdout > 0) {
                int h = held_out(a, socfw_record_line(rec));
                if (split && !strcmp(split, "train") && h)
                        return 0;       /* held out: no example */
                if (is_valid && !h)
                        return 0;       /* trained on: not validation */
        }
        static const char *const keys[] = {
                "data.category_field", "data.advertiser_field",
                "data.product_field", "data.copy_field"};
        const char *v[4];
        for (int i = 0; i < 4; i++) {
                const char *field = socfw_config_get_string(a->cfg, keys[i]);
                v[i] = socfw_record_get_string(rec, field);
                if (!v[i] || !v[i][0])
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "missing or empty field '%s' "
                                               "(a string)",
                                               field);
        }
        socfw_adcopy_brief b = {0};
        b.max_chars = a->limit;
        const char *fa = socfw_config_get_string(a->cfg, "data.audience_field");
        const char *ft = socfw_config_get_string(a->cfg, "data.tone_field");
        const char *fk = socfw_config_get_string(a->cfg, "data.keywords_field");
        char *kw = socfw_record_get_json(rec, fk), *target = NULL;
        int rc = socfw_adcopy_brief_set(&b.category, v[0], err);
        if (rc == 0)
                rc = socfw_adcopy_brief_set(&b.advertiser, v[1], err);
        if (rc == 0)
                rc = socfw_adcopy_brief_set(&b.product, v[2], err);
        if (rc == 0)
                rc = socfw_adcopy_brief_set(
                        &b.audience, socfw_record_get_string(rec, fa), err);
        if (rc == 0)
                rc = socfw_adcopy_brief_set(
                        &b.tone, socfw_record_get_string(rec, ft), err);
        if (rc == 0 && kw)
                rc = add_keywords_text(&b, kw, err);
        free(kw);
        size_t k = (size_t)socfw_config_get_int(a->cfg, "keywords_from_copy");
        if (rc == 0 && b.n_keywords == 0 && k)
                rc = socfw_adcopy_derive_keywords(
                        &b, v[3], k,
                        a->split_seed ^
                                socfw_rng_mix64((uint64_t)socfw_record_line(rec)),
                        err);
        if (rc < 0)
                goto out;
        rc = fit_tokens(a, v[3],
                        (size_t)socfw_config_get_int(a->cfg,
                                                     "max_target_tokens"),
                        &target, err);
        if (rc < 0)
                goto out;
        /* training shows the copy's length; evaluation the limit's */
        b.length_hint = socfw_adcopy_chars(target);
        char *prompt = socfw_adcopy_prompt(&b);
        if (!prompt) {
                rc = socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
                goto out;
        }
        rc = socfw_example_set_lm(ex, prompt, target);
        free(prompt);
        if (rc == 0 && is_valid) {
                b.length_hint = 0;
                rc = apply_defaults(a, &b, err);
                if (rc == 0 && remember(a, &b, v[3]) < 0)
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
        }
out:
        free(target);
        socfw_adcopy_brief_clear(&b);
        return rc;
}

/* The brief a post carries (see the top of this file). */
static int
brief_from_post(const adcopy *a, socfw_post *post, socfw_adcopy_brief *b,
                socfw_error *err)
{
        static const struct {
                const char *key;
                size_t off;
        } fields[] = {
                {"data.category_field", offsetof(socfw_adcopy_brief, category)},
                {"data.advertiser_field",
                 offsetof(socfw_adcopy_brief, advertiser)},
                {"data.product_field", offsetof(socfw_adcopy_brief, product)},
                {"data.audience_field", offsetof(socfw_adcopy_brief, audience)},
                {"data.tone_field", offsetof(socfw_adcopy_brief, tone)},
        };
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0];
             i++) {
                const char *name = socfw_config_get_string(a->cfg,
                                                           fields[i].key);
                char **slot = (char **)((char *)b + fields[i].off);
                rc = socfw_adcopy_brief_set(
                        slot, socfw_post_get_string(post, name), err);
                if (rc < 0)
                        return socfw_error_prefix(err, rc, "field '%s'",
                                                  name);
        }
        const char *pf = socfw_config_get_string(a->cfg,
                                                 "data.product_field");
        if (!b->product && socfw_post_get_string(post, pf))
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "product: field '%s' is empty", pf);
        if (!b->product) {
                rc = socfw_adcopy_brief_set(&b->product,
                                            socfw_post_text(post), err);
                if (rc < 0)
                        return socfw_error_prefix(err, rc, "product");
        }
        const char *ch = socfw_post_get_string(post, "channel");
        b->max_chars = a->limit;
        if (ch) {
                b->max_chars = socfw_adcopy_channel_limit(ch);
                if (!b->max_chars)
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "channel: unknown '%s' "
                                               "(expected generic, twitter, "
                                               "weibo, search_ad or banner)",
                                               ch);
                rc = socfw_adcopy_brief_set(&b->channel, ch, err);
        }
        double mc;
        if (rc == 0 && socfw_post_get_number(post, "max_chars", &mc) == 0) {
                if (!(mc >= 1 && mc <= 100000))
                        return socfw_error_set(err, SOCFW_EINVAL,
                                               "max_chars: %g is not in "
                                               "[1, 100000]",
                                               mc);
                b->max_chars = (size_t)mc;
        }
        /* keywords: a list or a string, in the post's JSON */
        const char *fk = socfw_config_get_string(a->cfg,
                                                 "data.keywords_field");
        char *js = rc == 0 ? socfw_post_to_json(post) : NULL;
        json_t *obj = js ? json_loads(js, 0, NULL) : NULL;
        json_t *kv = obj ? json_object_get(obj, fk) : NULL;
        if (kv && !json_is_null(kv)) {
                char *text = json_dumps(kv, JSON_ENCODE_ANY);
                rc = text ? add_keywords_text(b, text, err)
                          : socfw_error_set(err, SOCFW_ENOMEM,
                                            "out of memory");
                free(text);
        }
        json_decref(obj);
        free(js);
        if (rc == 0)
                rc = apply_defaults(a, b, err);
        if (rc == 0)
                rc = socfw_adcopy_brief_check(b, a->banned, err);
        return rc;
}

/* ---- generating and ranking ---- */

/* The positive probability the pipeline's sentiment task gives a copy
 * (prefer_positive). */
static int
positive_of(adcopy *a, const char *copy, double *p, socfw_error *err)
{
        const char *name = socfw_config_get_string(a->cfg, "sentiment_task");
        socfw_post *post = socfw_post_new(copy, NULL);
        if (!post)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        int rc = socfw_task_run_stage(a->ctx, name, post, err);
        if (rc < 0)
                socfw_error_prefix(err, rc, "prefer_positive: sentiment_task "
                                            "'%s'", name);
        char key[600];
        snprintf(key, sizeof key, "%s.scores.%s", name,
                 socfw_config_get_string(a->cfg, "positive_label"));
        if (rc == 0 && socfw_post_get_number(post, key, p) < 0)
                rc = socfw_error_set(err, SOCFW_EINVAL,
                                     "prefer_positive: stage '%s' gave no "
                                     "'%s' (hint: check positive_label)",
                                     name, key);
        socfw_post_free(post);
        return rc;
}

static uint64_t
text_seed(const char *s)
{
        uint64_t h = 0;
        for (; *s; s++)
                h = socfw_rng_mix64(h ^ (unsigned char)*s);
        return h;
}

static void
candidates_free(candidate *c, size_t n)
{
        for (size_t i = 0; c && i < n; i++)
                free(c[i].copy);
        free(c);
}

/* Sample n candidates for a brief and rank them; *best gets the chosen
 * one's index. */
static int
generate_ranked(adcopy *a, const socfw_adcopy_brief *b, size_t n,
                candidate **out, size_t *best, socfw_error *err)
{
        candidate *c = calloc(n, sizeof *c);
        const char **req = calloc(b->n_keywords + 1, sizeof *req);
        char *prompt = socfw_adcopy_prompt(b);
        int rc = c && req && prompt ? 0
                                    : socfw_error_set(err, SOCFW_ENOMEM,
                                                      "out of memory");
        for (size_t i = 0; rc == 0 && i < b->n_keywords; i++)
                req[i] = b->keywords[i];
        uint64_t seed = (uint64_t)socfw_config_get_int(a->cfg, "seed");
        int positive = socfw_config_get_bool(a->cfg, "prefer_positive");
        double pw = socfw_config_get_float(a->cfg, "positive_weight");
        *best = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
                int at_limit = 0;
                socfw_generate_opts o = {
                        .size = sizeof o,
                        .max_tokens = (int)socfw_config_get_int(a->cfg,
                                                                "max_tokens"),
                        .temperature = (float)socfw_config_get_float(
                                a->cfg, "temperature"),
                        .top_k = (int)socfw_config_get_int(a->cfg, "top_k"),
                        .top_p = (float)socfw_config_get_float(a->cfg,
                                                               "top_p"),
                        .repetition_penalty = (float)socfw_config_get_float(
                                a->cfg, "repetition_penalty"),
                        .seed = socfw_rng_mix64(seed + i) ^ text_seed(prompt),
                        .banned = a->banned,
                        .required = req,
                        .max_chars = (int)b->max_chars,
                        .score = &c[i].logprob,
                        .at_limit = &at_limit,
                        .n_forced = &c[i].forced,
                };
                rc = socfw_task_generate(a->ctx, prompt, &o, &c[i].copy, err);
                if (rc < 0)
                        break;
                socfw_adcopy_trim(c[i].copy, b, at_limit);
                socfw_adcopy_verify(c[i].copy, b, a->banned, &c[i].v);
                if (positive)
                        rc = positive_of(a, c[i].copy, &c[i].positive, err);
                c[i].score = c[i].logprob - 100.0 * (double)c[i].v.total +
                             (positive ? pw * c[i].positive : 0.0);
                if (c[i].score > c[*best].score)
                        *best = i;
        }
        free(req);
        free(prompt);
        if (rc < 0) {
                candidates_free(c, n);
                return rc;
        }
        *out = c;
        return 0;
}

static int
adcopy_predict(void *state, socfw_post *post, socfw_error *err)
{
        adcopy *a = state;
        socfw_adcopy_brief b = {0};
        candidate *c = NULL;
        size_t n = (size_t)socfw_config_get_int(a->cfg, "candidates"), best;
        const char *task = socfw_task_name(a->ctx);
        char key[300];
        int rc = brief_from_post(a, post, &b, err);
        if (rc == 0)
                rc = generate_ranked(a, &b, n, &c, &best, err);
        if (rc < 0)
                goto out;
        json_t *arr = json_array(), *kws = json_array();
        int positive = socfw_config_get_bool(a->cfg, "prefer_positive");
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:f, s:i, s:i, s:f}", "copy",
                                      c[i].copy, "logprob",
                                      round(c[i].logprob * 1e4) / 1e4,
                                      "violations", (int)c[i].v.total,
                                      "forced_tokens", c[i].forced, "score",
                                      round(c[i].score * 1e4) / 1e4);
                if (o && positive)
                        json_object_set_new(
                                o, "positive",
                                json_real(round(c[i].positive * 1e4) / 1e4));
                json_array_append_new(arr, o);
        }
        for (size_t i = 0; i < b.n_keywords; i++)
                json_array_append_new(kws, json_string(b.keywords[i]));
        char *js = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char *jk = json_dumps(kws, JSON_COMPACT);
        json_decref(arr);
        json_decref(kws);
        snprintf(key, sizeof key, "%s.copy", task);
        rc = socfw_post_set_string(post, key, c[best].copy, err);
        snprintf(key, sizeof key, "%s.candidates", task);
        if (rc == 0)
                rc = js ? socfw_post_set_json(post, key, js, err)
                        : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        snprintf(key, sizeof key, "%s.chosen", task);
        if (rc == 0)
                rc = socfw_post_set_number(post, key, (double)best, err);
        snprintf(key, sizeof key, "%s.violations", task);
        if (rc == 0)
                rc = socfw_post_set_number(post, key,
                                           (double)c[best].v.total, err);
        snprintf(key, sizeof key, "%s.keywords", task);
        if (rc == 0)
                rc = jk ? socfw_post_set_json(post, key, jk, err)
                        : socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        free(js);
        free(jk);
out:
        candidates_free(c, n);
        socfw_adcopy_brief_clear(&b);
        return rc;
}

/* ---- evaluation ---- */

static int
adcopy_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        adcopy *a = state;
        /* generation metrics for the held-out (validation) split only */
        const char *split = socfw_eval_split(ev);
        if (a->n_valid == 0 || !split || strcmp(split, "valid") != 0)
                return 0;
        size_t n = a->n_valid;
        size_t nc = (size_t)socfw_config_get_int(a->cfg, "candidates");
        const char **chosen = calloc(n, sizeof *chosen);
        candidate **all = calloc(n, sizeof *all);
        double rouge = 0, cover = 0, chars = 0;
        size_t violating = 0, violations = 0, forced = 0;
        char *report = NULL;
        size_t rlen = 0;
        FILE *rf = open_memstream(&report, &rlen);
        int rc = chosen && all && rf ? 0
                                     : socfw_error_set(err, SOCFW_ENOMEM,
                                                       "out of memory");
        for (size_t i = 0; rc == 0 && i < n; i++) {
                const held *h = &a->valid[i];
                size_t best;
                rc = generate_ranked(a, &h->b, nc, &all[i], &best, err);
                if (rc < 0)
                        break;
                const candidate *c = &all[i][best];
                chosen[i] = c->copy;
                rouge += socfw_adcopy_rouge_l(c->copy, h->reference);
                cover += socfw_adcopy_keyword_coverage(c->copy, &h->b);
                chars += (double)socfw_adcopy_chars(c->copy);
                violating += c->v.total > 0;
                forced += c->forced > 0;
                violations += c->v.total;
                if (i < 5) {
                        fprintf(rf, "product: %s\nkeywords:",
                                h->b.product);
                        for (size_t k = 0; k < h->b.n_keywords; k++)
                                fprintf(rf, "%s %s", k ? "," : "",
                                        h->b.keywords[k]);
                        fprintf(rf, "\ngenerated (%zu chars, logprob %.3f, "
                                    "%zu violations, %d forced tokens): "
                                    "%s\nreference: %s\n\n",
                                socfw_adcopy_chars(c->copy), c->logprob,
                                c->v.total, c->forced, c->copy,
                                h->reference);
                }
        }
        if (rc == 0) {
                double d2 = socfw_adcopy_distinct_2(chosen, n);
                if (d2 < 0)
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                double dn = (double)n;
                fprintf(rf, "%zu held-out briefs, %zu candidates each: "
                            "rouge_l %.4f keyword_coverage %.4f "
                            "violation_rate %.4f (%zu violations) "
                            "distinct_2 %.4f avg_chars %.1f forced_rate "
                            "%.4f\n",
                        n, nc, rouge / dn, cover / dn,
                        (double)violating / dn, violations, d2, chars / dn,
                        (double)forced / dn);
                if (rc == 0)
                        rc = socfw_eval_add_metric(ev, "rouge_l", rouge / dn,
                                                   true);
                if (rc == 0)
                        rc = socfw_eval_add_metric(ev, "keyword_coverage",
                                                   cover / dn, true);
                if (rc == 0)
                        rc = socfw_eval_add_metric(ev, "violation_rate",
                                                   (double)violating / dn,
                                                   false);
                if (rc == 0)
                        rc = socfw_eval_add_metric(ev, "distinct_2", d2,
                                                   true);
                if (rc == 0)
                        rc = socfw_eval_add_metric(ev, "avg_chars",
                                                   chars / dn, true);
                if (rc == 0)
                        rc = socfw_eval_add_metric(ev, "forced_rate",
                                                   (double)forced / dn,
                                                   false);
        }
        if (rf && fclose(rf) == 0 && rc == 0 && report)
                rc = socfw_eval_add_report(ev, report);
        free(report);
        for (size_t i = 0; all && i < n; i++)
                candidates_free(all[i], nc);
        free(all);
        free(chosen);
        return rc;
}

SOCFW_TASK_PLUGIN(adcopy,
        .version = "0.2.0",
        .description = "Advertising copy for a product and audience, with "
                       "length, keyword, banned-word and banned-claim "
                       "constraints enforced while generating.",
        .license = "MIT",
        .author = "socfw developers",
        .params = params,
        .default_head = "lm",
        .task = SOCFW_TASK_HOOKS(.create = adcopy_create,
                                 .destroy = adcopy_destroy,
                                 .parse_example = adcopy_parse_example,
                                 .predict = adcopy_predict,
                                 .evaluate = adcopy_evaluate),
        .input = "a brief {category, advertiser, product, audience, tone} "
                 "(field names: data.*_field)");
