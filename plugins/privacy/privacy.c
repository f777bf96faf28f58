/* privacy.c - the privacy task plugin: find PII in each post and anonymise
 * it; in a chain listed twice (`chain: [privacy, ..., privacy]`) the second
 * pass scrubs PII from the reply and, with the pseudonymize operator, puts
 * the user's own values back where the reply uses their pseudonyms.
 *
 *     privacy: {entities: [EMAIL, PHONE, CN_ID, CREDIT_CARD],
 *               operator: pseudonymize}
 *
 * Annotations: "privacy.entities" (JSON list of {type, start, end,
 * cp_start, cp_end, score} of the input pass: offsets into the original
 * text, never the values), "privacy.count".
 *
 * PERSON / LOCATION / ORGANIZATION spans come from a model: as a task with
 * a tagger head the plugin trains on NER data (model.h: word tags such as
 * WNUT-17 / Weibo, or character spans such as pii-en), and at predict time
 * the tagger's spans are merged with the pattern recognizers' ones
 * (socfw_pii_spans_merge) before the operators run:
 *
 *     tasks:
 *       - name: pii
 *         plugin: privacy
 *         head: {type: tagger}
 *         labels: [O, B-PERSON, I-PERSON, B-LOCATION, I-LOCATION,
 *                  B-ORGANIZATION, I-ORGANIZATION]
 *         data: {train: ner/train.jsonl, valid: ner/valid.jsonl}
 *     chain: [pii]
 *
 * Without a trained tagger (the `privacy:` section, a task without a
 * head) only the pattern recognizers run, plus, when name lists are
 * configured, the name recognizer (names.h: lists, shape, context; with a
 * tagger its PERSON spans are evidence too):
 *
 *     privacy: {names: {given: ../shared/data/names/first-names-en.tsv,
 *                       surnames_zh: ../shared/data/names/surnames-zh.tsv}}
 *
 * and the user's own recognizers, deny and allow lists (custom.h), with
 * per-type thresholds:
 *
 *     privacy: {recognizers: my-recognizers.yaml,
 *               deny_list: {"Project Falcon": ORGANIZATION},
 *               allow_list: [help@example.com],
 *               thresholds: {PHONE_NUMBER: 0.4}}
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "custom.h"
#include "leaks.h"
#include "model.h"
#include "names.h"
#include "operators.h"
#include "recognizers.h"
#include "socfw/plugin.h"

#define MAX_SESSIONS 4096

static const char *const entity_choices[] = {
        "EMAIL_ADDRESS", "EMAIL", "PHONE_NUMBER", "PHONE", "CREDIT_CARD",
        "CN_ID", "IBAN_CODE", "IBAN", "US_SSN", "SSN", "IP_ADDRESS", "IP",
        "URL", "HANDLE", "STREET_ADDRESS", "ADDRESS", "PERSON", "LOCATION",
        "ORGANIZATION", NULL};
static const char *const holdout_choices[] = {"line", "template", NULL};

static const char *const match_choices[] = {"exact", "case_insensitive",
                                             NULL};

static const char *const operator_choices[] = {
        "keep", "redact", "replace", "mask", "hash", "pseudonymize", NULL};

static const socfw_param_spec params[] = {
        {.key = "entities", .type = SOCFW_PARAM_LIST,
         .default_value = "[EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, CN_ID, "
                          "IBAN_CODE, US_SSN, IP_ADDRESS, URL, HANDLE, "
                          "STREET_ADDRESS]",
         .choices = entity_choices,
         .help = "Entity types to find (aliases EMAIL, PHONE, IBAN, SSN, IP, "
                 "ADDRESS allowed)."},
        {.key = "operator", .type = SOCFW_PARAM_ENUM,
         .default_value = "replace", .choices = operator_choices,
         .help = "What to do with each entity: keep, redact, replace with a "
                 "tag (<PHONE>), mask, hash (keyed pseudonym) or pseudonymize "
                 "(reversible within a session)."},
        {.key = "operators", .type = SOCFW_PARAM_MAP,
         .help = "Per-type operator overriding `operator`, e.g. "
                 "{CREDIT_CARD: mask}."},
        {.key = "threshold", .type = SOCFW_PARAM_FLOAT, .default_value = "0.5",
         .min = 0.0, .max = 1.0,
         .help = "Minimum confidence of a detected entity."},
        {.key = "mask_keep", .type = SOCFW_PARAM_INT, .default_value = "4",
         .min = 0, .max = 64,
         .help = "mask: characters kept at the end."},
        {.key = "mask_char", .type = SOCFW_PARAM_STRING, .default_value = "*",
         .help = "mask: the masking character (one character, any script)."},
        {.key = "key_file", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "hash: file holding the HMAC key (16-64 bytes); a random "
                 "per-process key when absent, so pseudonyms then change "
                 "between runs."},
        {.key = "restore", .type = SOCFW_PARAM_BOOL, .default_value = "true",
         .help = "pseudonymize: on the second pass of a chain, put the user's "
                 "own values back into the reply."},
        {.key = "holdout_every", .type = SOCFW_PARAM_INT,
         .default_value = "0", .min = 0, .max = 1000000,
         .help = "Training a tagger on a file that is also its validation "
                 "data: rows whose line number is a multiple of N are held "
                 "out (left out of train, the only rows of valid/test/"
                 "eval); 0: off."},
        {.key = "holdout_by", .type = SOCFW_PARAM_ENUM,
         .default_value = "line", .choices = holdout_choices,
         .help = "What holdout_every counts: line (the row's line number), "
                 "or template (a hash of the row's text with its entities "
                 "replaced by their types, so that every row of a held-out "
                 "sentence pattern is held out: the honest split for "
                 "synthetic data filled from templates, such as pii-en)."},
        {.key = "thresholds", .type = SOCFW_PARAM_MAP,
         .help = "Per-type minimum confidence overriding `threshold`, e.g. "
                 "{PERSON: 0.6, PHONE_NUMBER: 0.4}."},
        {.key = "allow_list", .type = SOCFW_PARAM_LIST,
         .help = "Values never reported, whatever found them (e.g. a "
                 "support address)."},
        {.key = "deny_list", .type = SOCFW_PARAM_MAP,
         .help = "Values always reported, as whole words, with their type: "
                 "{\"Project Falcon\": ORGANIZATION}."},
        {.key = "list_match", .type = SOCFW_PARAM_ENUM,
         .default_value = "exact", .choices = match_choices,
         .help = "How allow_list and deny_list values match: exact or "
                 "case_insensitive (ASCII letters)."},
        {.key = "recognizers", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "A YAML file of ad-hoc recognizers (name, type, pattern or "
                 "words, context, score, validator: none|luhn|cn_id|iban, "
                 "case_insensitive); see doc/guide.md."},
        {.key = "names.given", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Given names (TSV: name, count, ...), e.g. ../shared/data/"
                 "names/first-names-en.tsv: turns on the English name "
                 "recognizer for PERSON."},
        {.key = "names.surnames", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Surnames (TSV: name, count)."},
        {.key = "names.surnames_zh", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "Chinese family names (TSV: name, frequency): turns on "
                 "the Chinese name recognizer."},
        {.key = "names.word_freq", .type = SOCFW_PARAM_PATH,
         .flags = SOCFW_PARAM_MUST_EXIST,
         .help = "How often words are ordinary words (TSV: word, lower, "
                 "capitalised; configs/privacy-name-wordfreq.tsv): names "
                 "that are common words (Will, Mark, May) need context."},
        {.key = "names.threshold", .type = SOCFW_PARAM_FLOAT,
         .default_value = "0.4", .min = 0.0, .max = 1.0,
         .help = "Minimum merged score of a name (chosen on pii-en's "
                 "training templates); `threshold` does not apply to the "
                 "names found, thresholds.PERSON does."},
        {.key = "names.context_en", .type = SOCFW_PARAM_LIST,
         .help = "Phrases that introduce a name (\"my name is\", "
                 "\"dear\"); replaces the built-in list."},
        {.key = "names.weak_context_en", .type = SOCFW_PARAM_LIST,
         .help = "Words often near a name (\"call\", \"ask\"); replaces "
                 "the built-in list."},
        {.key = "names.titles_en", .type = SOCFW_PARAM_LIST,
         .help = "Titles before a name (mr, ms, dr, prof); replaces the "
                 "built-in list."},
        {.key = "names.context_zh", .type = SOCFW_PARAM_LIST,
         .help = "Chinese context before or after a name (叫, 我是, 先生, "
                 "老师); replaces the built-in list."},
        {.key = "names.translit_context_zh", .type = SOCFW_PARAM_LIST,
         .help = "Roles and verbs around a transliterated foreign name "
                 "(球星, 总统, 说): without one (or a middle dot) a run of "
                 "transliteration characters is not a name; replaces the "
                 "built-in list."},
        {.key = "names.not_names_zh", .type = SOCFW_PARAM_LIST,
         .help = "Chinese words that are never a person (places, brands, "
                 "words: 纽约, 曼联, 红包; 2 to 8 Han characters), added "
                 "to the built-in list."},
        {0}};

typedef struct {
        char *id;
        socfw_pii_vault *vault;
        unsigned long used;
} session;

typedef struct {
        socfw_task_ctx *ctx;
        uint32_t model_types;           /* PERSON/LOCATION/ORGANIZATION */
        float threshold;
        long holdout_every;
        int holdout_by_template;
        socfw_pii_recognizer *rec;
        socfw_pii_names *names;         /* NULL: no name lists configured */
        socfw_pii_custom *custom;
        float type_threshold[SOCFW_PII_TYPE_COUNT];
        int person_threshold_set;       /* thresholds: {PERSON: x} given */
        socfw_pii_anonymizer *an;
        socfw_pii_anonymizer *scrub;    /* second pass: replace tags */
        int restore;
        int pseudonymize;
        pthread_mutex_t lock;
        session *sessions;
        size_t n_sessions;
        unsigned long clock;
} privacy_state;

static void
privacy_destroy(void *state)
{
        privacy_state *s = state;
        if (!s)
                return;
        socfw_pii_recognizer_free(s->rec);
        socfw_pii_names_free(s->names);
        socfw_pii_custom_free(s->custom);
        socfw_pii_anonymizer_free(s->an);
        socfw_pii_anonymizer_free(s->scrub);
        for (size_t i = 0; i < s->n_sessions; i++) {
                free(s->sessions[i].id);
                socfw_pii_vault_free(s->sessions[i].vault);
        }
        free(s->sessions);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

static int
config_error(const socfw_config *cfg, const char *key, socfw_error *err,
             const char *what)
{
        return socfw_error_set_at(err, SOCFW_ESCHEMA, socfw_config_file(cfg),
                                  socfw_config_line(cfg, key),
                                  socfw_config_column(cfg, key),
                                  "privacy.%s: %s", key, what);
}

static int
read_key(privacy_state *s, const char *path, socfw_error *err)
{
        unsigned char key[65];
        FILE *f = fopen(path, "rb");
        if (!f)
                return socfw_error_set(err, SOCFW_EIO,
                                       "privacy: cannot open key_file %s",
                                       path);
        size_t n = fread(key, 1, sizeof key, f);
        fclose(f);
        while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
                n--;
        int rc = socfw_pii_anonymizer_set_key(s->an, key, n, err);
        sodium_memzero(key, sizeof key);
        if (rc < 0)
                socfw_error_prefix(err, rc, "privacy: key_file %s", path);
        return rc;
}

/* thresholds: {TYPE: 0.6}; the recognizers run at the lowest threshold
 * and each type's spans are filtered by its own. */
static int
read_thresholds(privacy_state *s, const socfw_config *cfg,
                socfw_pii_options *opt, socfw_error *err)
{
        for (int t = 0; t < SOCFW_PII_TYPE_COUNT; t++)
                s->type_threshold[t] = opt->threshold;
        size_t n = socfw_config_map_len(cfg, "thresholds");
        float lowest = opt->threshold;
        for (size_t i = 0; i < n; i++) {
                const char *k = socfw_config_map_key(cfg, "thresholds", i);
                const char *v = socfw_config_map_value(cfg, "thresholds", i);
                socfw_pii_type t = socfw_pii_type_parse(k);
                char *end = NULL;
                double d = v ? strtod(v, &end) : -1;
                if (t == SOCFW_PII_NONE || !v || end == v || *end ||
                    !(d >= 0 && d <= 1))
                        return config_error(cfg, "thresholds", err,
                                            "expected ENTITY: number in "
                                            "[0, 1] pairs, e.g. {PERSON: "
                                            "0.6}");
                s->type_threshold[t] = (float)d;
                if (t == SOCFW_PII_PERSON)
                        s->person_threshold_set = 1;
                if ((float)d < lowest)
                        lowest = (float)d;
        }
        opt->threshold = lowest;
        return 0;
}

static int
read_custom(privacy_state *s, const socfw_config *cfg, socfw_error *err)
{
        const char *path = socfw_config_get_string(cfg, "recognizers");
        size_t na = socfw_config_list_len(cfg, "allow_list");
        size_t nd = socfw_config_map_len(cfg, "deny_list");
        if (!path && !na && !nd)
                return 0;
        int rc = socfw_pii_custom_new(&s->custom, err);
        if (rc < 0)
                return rc;
        const char *m = socfw_config_get_string(cfg, "list_match");
        socfw_pii_custom_set_case_insensitive(
                s->custom, m && !strcmp(m, "case_insensitive"));
        if (path && (rc = socfw_pii_custom_load(s->custom, path, err)) < 0)
                return rc;
        for (size_t i = 0; i < na; i++)
                if (socfw_pii_custom_add_allow(
                            s->custom,
                            socfw_config_list_get(cfg, "allow_list", i),
                            NULL) < 0)
                        return config_error(cfg, "allow_list", err,
                                            "empty value");
        for (size_t i = 0; i < nd; i++) {
                socfw_pii_type t = socfw_pii_type_parse(
                        socfw_config_map_value(cfg, "deny_list", i));
                if (t == SOCFW_PII_NONE ||
                    socfw_pii_custom_add_deny(
                            s->custom,
                            socfw_config_map_key(cfg, "deny_list", i), t,
                            NULL) < 0)
                        return config_error(cfg, "deny_list", err,
                                            "expected \"value\": ENTITY "
                                            "pairs, e.g. {\"Project "
                                            "Falcon\": ORGANIZATION}");
        }
        return 0;
}

/* The name recognizer, when lists are configured and PERSON is wanted. */
static int
read_names(privacy_state *s, const socfw_config *cfg, uint32_t types,
           int entities_given, socfw_error *err)
{
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = socfw_config_get_string(cfg, "names.given");
        o.surnames = socfw_config_get_string(cfg, "names.surnames");
        o.surnames_zh = socfw_config_get_string(cfg, "names.surnames_zh");
        o.word_freq = socfw_config_get_string(cfg, "names.word_freq");
        o.threshold = (float)socfw_config_get_float(cfg, "names.threshold");
        if (!o.given && !o.surnames_zh) {
                if (o.surnames || o.word_freq)
                        return config_error(cfg, "names", err,
                                            "names.surnames and "
                                            "names.word_freq need "
                                            "names.given (the English "
                                            "recognizer starts from given "
                                            "names)");
                return 0;
        }
        if (entities_given && !(types & SOCFW_PII_BIT(SOCFW_PII_PERSON)))
                return 0;       /* PERSON not wanted */
        static const char *const keys[] = {"names.context_en",
                                           "names.weak_context_en",
                                           "names.titles_en",
                                           "names.context_zh",
                                           "names.translit_context_zh",
                                           "names.not_names_zh"};
        enum { N_LISTS = sizeof keys / sizeof keys[0] };
        const char **lists[N_LISTS] = {0};
        int rc = 0;
        for (int k = 0; k < N_LISTS; k++) {
                size_t n = socfw_config_list_len(cfg, keys[k]);
                if (!socfw_config_has(cfg, keys[k]))
                        continue;
                lists[k] = calloc(n + 1, sizeof *lists[k]);
                if (!lists[k]) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        const char *w = socfw_config_list_get(cfg, keys[k], i);
                        lists[k][i] = w;
                        /* the Chinese lists: whole words of Han characters
                         * (not_names_zh) or short phrases (roles) */
                        int bad = k == 4 ? !socfw_pii_names_zh_entry_ok(w, 1, 16, 0)
                                : k == 5 ? !socfw_pii_names_zh_entry_ok(w, 2, 8, 1)
                                         : 0;
                        if (bad) {
                                char what[256];
                                snprintf(what, sizeof what,
                                         "item %zu (\"%.64s\") is not %s",
                                         i + 1, w ? w : "",
                                         k == 4 ? "a phrase of 1 to 16 "
                                                  "characters of valid UTF-8 "
                                                  "(hint: a role such as 球星)"
                                                : "a word of 2 to 8 Chinese "
                                                  "characters (hint: a place, "
                                                  "brand or word such as "
                                                  "纽约)");
                                rc = config_error(cfg, keys[k], err, what);
                                goto out;
                        }
                }
        }
        o.context_en = lists[0];
        o.weak_context_en = lists[1];
        o.titles_en = lists[2];
        o.context_zh = lists[3];
        o.translit_context_zh = lists[4];
        o.not_names_zh = lists[5];
        rc = socfw_pii_names_new(&s->names, &o, err);
        if (rc < 0)
                socfw_error_prefix(err, rc, "%s:%ld: privacy.names",
                                   socfw_config_file(cfg),
                                   socfw_config_line(cfg, o.given ?
                                                     "names.given" :
                                                     "names.surnames_zh"));
out:
        for (int k = 0; k < N_LISTS; k++)
                free(lists[k]);
        return rc;
}

static int
privacy_create(const socfw_config *cfg, socfw_task_ctx *ctx, void **state,
               socfw_error *err)
{
        int rc = 0;
        *state = NULL;
        privacy_state *s = calloc(1, sizeof *s);
        if (!s)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        pthread_mutex_init(&s->lock, NULL);

        socfw_pii_options opt = socfw_pii_options_default();
        opt.threshold = (float)socfw_config_get_float(cfg, "threshold");
        uint32_t types = 0;
        size_t ne = socfw_config_list_len(cfg, "entities");
        for (size_t i = 0; i < ne; i++) {
                const char *name = socfw_config_list_get(cfg, "entities", i);
                socfw_pii_type t = socfw_pii_type_parse(name);
                if (t == SOCFW_PII_NONE) {
                        rc = config_error(cfg, "entities", err,
                                          "unknown entity type");
                        goto out;
                }
                types |= SOCFW_PII_BIT(t);
        }
        if (ne)
                opt.types = types & SOCFW_PII_PATTERN_TYPES;
        /* the model's types: those listed, or all when none is */
        s->model_types = types & ~SOCFW_PII_PATTERN_TYPES;
        if (!s->model_types)
                s->model_types = SOCFW_PII_ALL_TYPES &
                                 ~SOCFW_PII_PATTERN_TYPES;
        s->ctx = ctx;
        s->threshold = opt.threshold;
        s->holdout_every = (long)socfw_config_get_int(cfg, "holdout_every");
        const char *hb = socfw_config_get_string(cfg, "holdout_by");
        s->holdout_by_template = hb && !strcmp(hb, "template");
        if ((rc = read_thresholds(s, cfg, &opt, err)) < 0 ||
            (rc = socfw_pii_recognizer_new(&s->rec, &opt, err)) < 0 ||
            (rc = read_custom(s, cfg, err)) < 0 ||
            (rc = read_names(s, cfg, types,
                             socfw_config_has(cfg, "entities"), err)) < 0 ||
            (rc = socfw_pii_anonymizer_new(&s->an, err)) < 0 ||
            (rc = socfw_pii_anonymizer_new(&s->scrub, err)) < 0)
                goto out;

        socfw_pii_op op = {.kind = SOCFW_PII_OP_REPLACE};
        const char *opname = socfw_config_get_string(cfg, "operator");
        if (opname && socfw_pii_op_parse(opname, &op.kind) < 0) {
                rc = config_error(cfg, "operator", err, "unknown operator");
                goto out;
        }
        op.mask_keep = (size_t)socfw_config_get_int(cfg, "mask_keep");
        const char *mc = socfw_config_get_string(cfg, "mask_char");
        if (mc && *mc) {
                size_t n = socfw_pii_utf8_seq((const unsigned char *)mc,
                                              strlen(mc));
                if (!n || mc[n] != '\0') {
                        rc = config_error(cfg, "mask_char", err,
                                          "expected exactly one character");
                        goto out;
                }
                const unsigned char *u = (const unsigned char *)mc;
                op.mask_char = n == 1 ? u[0] :
                               n == 2 ? (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F) :
                               n == 3 ? (uint32_t)(u[0] & 0x0F) << 12 |
                                                (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F) :
                                        (uint32_t)(u[0] & 0x07) << 18 |
                                                (uint32_t)(u[1] & 0x3F) << 12 |
                                                (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
        }
        socfw_pii_anonymizer_set_all(s->an, &op);
        s->pseudonymize = op.kind == SOCFW_PII_OP_PSEUDONYMIZE;
        size_t nm = socfw_config_map_len(cfg, "operators");
        for (size_t i = 0; i < nm; i++) {
                socfw_pii_type t = socfw_pii_type_parse(
                        socfw_config_map_key(cfg, "operators", i));
                socfw_pii_op o = op;
                if (t == SOCFW_PII_NONE ||
                    socfw_pii_op_parse(socfw_config_map_value(cfg, "operators",
                                                              i),
                                       &o.kind) < 0) {
                        rc = config_error(cfg, "operators", err,
                                          "expected ENTITY: operator pairs");
                        goto out;
                }
                socfw_pii_anonymizer_set(s->an, t, &o, NULL);
                if (o.kind == SOCFW_PII_OP_PSEUDONYMIZE)
                        s->pseudonymize = 1;
        }
        const char *key_file = socfw_config_get_string(cfg, "key_file");
        if (key_file && (rc = read_key(s, key_file, err)) < 0)
                goto out;
        s->restore = socfw_config_get_bool(cfg, "restore");
        *state = s;
        s = NULL;
out:
        privacy_destroy(s);
        return rc;
}

/* The vault of a session (made on first use); call with the lock held. */
static socfw_pii_vault *
session_vault(privacy_state *s, const char *id, int create)
{
        if (!id)
                id = "";
        s->clock++;
        for (size_t i = 0; i < s->n_sessions; i++)
                if (strcmp(s->sessions[i].id, id) == 0) {
                        s->sessions[i].used = s->clock;
                        return s->sessions[i].vault;
                }
        if (!create)
                return NULL;
        size_t slot = s->n_sessions;
        if (slot == MAX_SESSIONS) {
                /* evict the least recently used session */
                slot = 0;
                for (size_t i = 1; i < s->n_sessions; i++)
                        if (s->sessions[i].used < s->sessions[slot].used)
                                slot = i;
                free(s->sessions[slot].id);
                socfw_pii_vault_free(s->sessions[slot].vault);
        } else {
                session *n = realloc(s->sessions,
                                     (slot + 1) * sizeof *s->sessions);
                if (!n)
                        return NULL;
                s->sessions = n;
                s->n_sessions++;
        }
        session *ss = &s->sessions[slot];
        ss->id = strdup(id);
        ss->vault = NULL;
        ss->used = s->clock;
        if (!ss->id || socfw_pii_vault_new(&ss->vault, NULL) < 0) {
                free(ss->id);
                s->sessions[slot] = s->sessions[--s->n_sessions];
                return NULL;
        }
        return ss->vault;
}

static char *
spans_json(const socfw_pii_spans *sp)
{
        size_t cap = 16 + sp->n * 224, n = 0;
        char *j = malloc(cap);
        if (!j)
                return NULL;
        n += (size_t)snprintf(j + n, cap - n, "[");
        for (size_t i = 0; i < sp->n; i++) {
                const socfw_pii_span *s = &sp->v[i];
                n += (size_t)snprintf(j + n, cap - n,
                                      "%s{\"type\":\"%s\",\"start\":%zu,"
                                      "\"end\":%zu,\"cp_start\":%zu,"
                                      "\"cp_end\":%zu,\"score\":%.3f}",
                                      i ? "," : "",
                                      socfw_pii_type_name(s->type), s->start,
                                      s->end, s->cp_start, s->cp_end,
                                      (double)s->score);
        }
        snprintf(j + n, cap - n, "]");
        return j;
}

/* The tagger's PERSON / LOCATION / ORGANIZATION spans merged into *sp;
 * nothing when the task has no trained tagger. */
static int
model_spans(privacy_state *s, const char *text, size_t len,
            socfw_pii_spans *sp, socfw_error *err)
{
        size_t K = s->ctx ? socfw_task_label_count(s->ctx) : 0;
        if (!K)
                return 0;
        socfw_pii_words w = {0};
        socfw_pii_spans found = {0};
        float *probs = NULL;
        const char **labels = NULL;
        size_t n_tags = 0;
        int rc = socfw_pii_words_split(text, len, &w);
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "privacy: out of memory");
                goto out;
        }
        if (w.n == 0)
                goto out;
        probs = w.n <= SIZE_MAX / sizeof(float) / K
                        ? malloc(w.n * K * sizeof *probs)
                        : NULL;
        labels = calloc(K, sizeof *labels);
        if (!probs || !labels) {
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "privacy: out of memory");
                goto out;
        }
        const char **words = malloc(w.n * sizeof *words);
        char *copy = malloc(len + w.n + 1);
        if (!words || !copy) {
                free(words);
                free(copy);
                rc = socfw_error_set(err, SOCFW_ENOMEM,
                                     "privacy: out of memory");
                goto out;
        }
        size_t at = 0;
        for (size_t i = 0; i < w.n; i++) {
                size_t n = w.v[i].end - w.v[i].start;
                memcpy(copy + at, text + w.v[i].start, n);
                copy[at + n] = '\0';
                words[i] = copy + at;
                at += n + 1;
        }
        socfw_error local = {0};
        rc = socfw_task_tag_words(s->ctx, words, w.n, probs, w.n * K,
                                  &n_tags, &local);
        free(words);
        free(copy);
        if (rc == SOCFW_EUNSUPPORTED) {
                rc = 0; /* no tagger in this pipeline: patterns only */
                goto out;
        }
        if (rc < 0) {
                rc = socfw_error_set(err, rc, "%s", local.message);
                goto out;
        }
        for (size_t k = 0; k < K; k++)
                labels[k] = socfw_task_label(s->ctx, k);
        rc = socfw_pii_spans_from_tags(&w, probs, n_tags, labels,
                                       s->threshold, s->model_types, &found,
                                       err);
        if (rc == 0 && found.n)
                rc = socfw_pii_spans_merge(sp, found.v, found.n, text, len,
                                           err);
out:
        free(probs);
        free(labels);
        socfw_pii_words_free(&w);
        socfw_pii_spans_free(&found);
        return rc;
}

/* Names (with the tagger's PERSON spans as evidence), the user's own
 * recognizers and deny list; then per-type thresholds, the allow list,
 * and overlaps resolved once more. */
static int
more_spans(privacy_state *s, const char *text, size_t len,
           socfw_pii_spans *sp, socfw_error *err)
{
        int rc = 0;
        socfw_pii_spans tagger = {0};
        if (s->names) {
                for (size_t i = 0; i < sp->n && rc == 0; i++)
                        if (sp->v[i].type == SOCFW_PII_PERSON &&
                            sp->v[i].source == SOCFW_PII_SOURCE_EXTERNAL)
                                rc = socfw_pii_spans_push(&tagger, &sp->v[i]);
                if (rc < 0) {
                        rc = socfw_error_set(err, rc, "out of memory");
                        goto out;
                }
                if ((rc = socfw_pii_names_scan(s->names, text, len,
                                               tagger.n ? &tagger : NULL, sp,
                                               err)) < 0)
                        goto out;
        }
        if (s->custom &&
            (rc = socfw_pii_custom_scan(s->custom, text, len, sp, err)) < 0)
                goto out;
        size_t k = 0;
        for (size_t i = 0; i < sp->n; i++)
                if ((unsigned)sp->v[i].type >= SOCFW_PII_TYPE_COUNT ||
                    /* names: names.threshold applied already */
                    (sp->v[i].type == SOCFW_PII_PERSON &&
                     !s->person_threshold_set) ||
                    sp->v[i].score >= s->type_threshold[sp->v[i].type])
                        sp->v[k++] = sp->v[i];
        sp->n = k;
        socfw_pii_custom_filter(s->custom, text, len, sp);
        socfw_pii_spans_resolve(sp);
out:
        socfw_pii_spans_free(&tagger);
        return rc;
}

/* Whether a row is held out: its line number, or its template's hash, is
 * a multiple of holdout_every (a row of neither NER shape: its line). */
static int
held_out(const privacy_state *s, const socfw_record *rec)
{
        uint64_t h;
        if (s->holdout_by_template &&
            socfw_pii_ner_template_hash(rec, &h) == 0)
                return h % (uint64_t)s->holdout_every == 0;
        return socfw_record_line(rec) % s->holdout_every == 0;
}

/* A training record of a tagger task (model.h); with holdout_every, the
 * held-out rows feed valid/test/eval only. */
static int
privacy_parse_example(void *state, const socfw_record *rec,
                      socfw_example *ex, socfw_error *err)
{
        privacy_state *s = state;
        if (s->holdout_every > 0) {
                const char *split = socfw_task_split(s->ctx);
                int held = held_out(s, rec);
                int training = split && !strcmp(split, "train");
                if (held == training)
                        return 0; /* not this split's row */
        }
        size_t K = socfw_task_label_count(s->ctx);
        const char **labels = calloc(K ? K : 1, sizeof *labels);
        if (!labels)
                return socfw_error_set(err, SOCFW_ENOMEM, "out of memory");
        for (size_t k = 0; k < K; k++)
                labels[k] = socfw_task_label(s->ctx, k);
        int rc = socfw_pii_ner_example(rec, ex, labels, K, err);
        free(labels);
        return rc;
}

static int
privacy_predict(void *state, socfw_post *post, socfw_error *err)
{
        privacy_state *s = state;
        const char *text = socfw_post_text(post);
        if (!text)
                return socfw_error_set(err, SOCFW_EINVAL,
                                       "privacy: the post has no text");
        size_t len = strlen(text);
        /* the input pass leaves privacy.count: a post that has it is on its
         * way out */
        double seen;
        int second = socfw_post_get_number(post, "privacy.count", &seen) == 0;
        socfw_pii_spans sp = {0};
        char *out = NULL, *restored = NULL, *json = NULL;
        int rc = socfw_pii_recognizer_scan(s->rec, text, len, &sp, err);
        if (rc == 0)
                rc = model_spans(s, text, len, &sp, err);
        if (rc == 0)
                rc = more_spans(s, text, len, &sp, err);
        if (rc < 0)
                goto out;
        pthread_mutex_lock(&s->lock);
        socfw_pii_vault *v = NULL;
        if (s->pseudonymize)
                v = session_vault(s, socfw_post_session(post), !second);
        if (!second) {
                if (s->pseudonymize && !v)
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "privacy: out of memory for the "
                                             "session vault");
                else
                        rc = socfw_pii_anonymize(s->an, v, text, len, &sp,
                                                 &out, NULL, err);
        } else {
                /* PII the reply made up is scrubbed with tags; then the
                 * user's own values come back */
                rc = socfw_pii_anonymize(s->scrub, NULL, text, len, &sp, &out,
                                         NULL, err);
                if (rc == 0 && v && s->restore)
                        rc = socfw_pii_vault_restore(v, out, strlen(out),
                                                     &restored, NULL, err);
        }
        pthread_mutex_unlock(&s->lock);
        if (rc < 0)
                goto out;
        if ((rc = socfw_post_set_text(post, restored ? restored : out,
                                      err)) < 0)
                goto out;
        if (!second) {
                if (!(json = spans_json(&sp))) {
                        rc = socfw_error_set(err, SOCFW_ENOMEM,
                                             "out of memory");
                        goto out;
                }
                if ((rc = socfw_post_set_json(post, "privacy.entities", json,
                                              err)) < 0 ||
                    (rc = socfw_post_set_number(post, "privacy.count",
                                                (double)sp.n, err)) < 0)
                        goto out;
        }
out:
        free(json);
        free(out);
        free(restored);
        socfw_pii_spans_free(&sp);
        return rc;
}

/* Entity-level F1 comes from the host; this adds what masking with the
 * predictions would leave in the clear (leaks.h). */
static int
privacy_evaluate(void *state, socfw_eval *ev, socfw_error *err)
{
        privacy_state *s = state;
        return socfw_pii_eval_leaks(ev, s->ctx, 10, err);
}

SOCFW_TASK_PLUGIN(privacy,
        .version = "0.1.0",
        .description = "Finds PII (e-mail, phones, cards, CN IDs, IBAN, SSN, "
                       "IP, URL, handles, addresses; persons, locations, "
                       "organisations with a tagger head) and masks it.",
        .license = "MIT",
        .params = params,
        .default_head = NULL,
        .task = SOCFW_TASK_HOOKS(.create = privacy_create,
                                 .destroy = privacy_destroy,
                                 .parse_example = privacy_parse_example,
                                 .predict = privacy_predict,
                                 .evaluate = privacy_evaluate));
