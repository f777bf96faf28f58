/* bench/eval_names.c - measure the privacy plugin's name recognizer
 * (plugins/privacy/names.h) on the shared data sets.
 *
 *     eval_names pii-en  SHARED [heldout|train] [lists|context|all] [THRESHOLD]
 *     eval_names weibo   SHARED [all|heldout|tune] [MODE] [THRESHOLD]
 *
 * MODE, the evidence used: lists (lists, shape, titles), context (+
 * context words), nick (+ Chinese nicknames), translit (+ Chinese
 * transliterated names), rules (all but the tagger), all (default).
 *     eval_names fp      SHARED N [STEP] < lines (e.g. zcat books valid)
 *     eval_names lines   SHARED [MODE]   < lines (any: hard negatives)
 *     eval_names speed   SHARED FILE [MB]
 *
 * SHARED is the ../shared directory (lists in data/names, the word table
 * in configs/privacy-name-wordfreq.tsv of the source tree, found through
 * $SOCFW_SRCDIR or the current directory).
 *
 * pii-en: rows split by sentence template exactly as configs/
 * privacy-ner.yaml does (holdout_every: 5, holdout_by: template):
 * "heldout" is the evaluation fifth, "train" the rest (where the
 * threshold is chosen).  Gold PERSON spans and found ones become IO word
 * tags over the plugin's word splitter, and are scored as the tagger is:
 * exact entities (conlleval) and word by word (Presidio's evaluator).
 * With THRESHOLD "sweep" it prints F2 for thresholds 0.30..0.80.  With
 * EVAL_TAGGER=FILE, the PERSON entities of `socfw predict RUN --task pii`
 * over every row of pii-en train.jsonl (one output line per row) are the
 * tagger's spans (modes all and tagger).
 *
 * weibo: exact PER.NAM spans of ner-weibo dev (characters), P/R/F1;
 * with EVAL_TAGGER=FILE, the PERSON entities of `socfw predict RUN
 * --task ner_zh` over the same lines (one output line per dev line) are
 * the tagger's spans (modes all and tagger);
 * "heldout" is every 4th line (the lines privacy-ner holds out), "tune"
 * the other three quarters.
 *
 * fp: of the first N input lines that have no capitalised word after the
 * first word (every STEP-th such line, to spread them over the books),
 * how many get a PERSON span, and how many only at the first word (often
 * a real name: "Walter sat down").
 *
 * lines: the same count over every input line (no filter).
 *
 * speed: MB/s of socfw_pii_names_scan on one core, post by post, over the
 * lines of FILE repeated up to MB megabytes (default 20).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "model.h"
#include "names.h"
#include "recognizers.h"
#include "socfw/data.h"
#include "socfw/metrics.h"

static socfw_pii_recognizer *patterns;

static int
load(socfw_pii_names **nm, const char *shared, const char *mode,
     float threshold)
{
        static char g[4096], s[4096], z[4096], w[4096];
        snprintf(g, sizeof g, "%s/data/names/first-names-en.tsv", shared);
        snprintf(s, sizeof s, "%s/data/names/surnames-en.tsv", shared);
        snprintf(z, sizeof z, "%s/data/names/surnames-zh.tsv", shared);
        const char *src = getenv("SOCFW_SRCDIR");
        snprintf(w, sizeof w, "%s/configs/privacy-name-wordfreq.tsv",
                 src ? src : ".");
        socfw_pii_names_options o = socfw_pii_names_options_default();
        o.given = g;
        o.surnames = s;
        o.surnames_zh = z;
        o.word_freq = w;
        o.threshold = threshold;
        if (mode && !strcmp(mode, "lists"))
                o.evidence = SOCFW_PII_NAMES_LISTS;
        else if (mode && !strcmp(mode, "context"))
                o.evidence = SOCFW_PII_NAMES_LISTS | SOCFW_PII_NAMES_CONTEXT;
        else if (mode && !strcmp(mode, "nick"))   /* + nicknames (zh) */
                o.evidence = SOCFW_PII_NAMES_LISTS | SOCFW_PII_NAMES_CONTEXT |
                             SOCFW_PII_NAMES_NICK;
        else if (mode && !strcmp(mode, "translit"))  /* + transliterations */
                o.evidence = SOCFW_PII_NAMES_LISTS | SOCFW_PII_NAMES_CONTEXT |
                             SOCFW_PII_NAMES_TRANSLIT;
        else if (mode && !strcmp(mode, "rules"))  /* all but the tagger */
                o.evidence = SOCFW_PII_NAMES_ALL & ~SOCFW_PII_NAMES_TAGGER;
        else if (mode && !strcmp(mode, "tagger"))  /* the tagger's spans only */
                o.evidence = SOCFW_PII_NAMES_TAGGER;
        socfw_error err = {0};
        if (!patterns && socfw_pii_recognizer_new(&patterns, NULL, &err) < 0) {
                fprintf(stderr, "eval_names: %s\n", err.message);
                return -1;
        }
        if (socfw_pii_names_new(nm, &o, &err) < 0) {
                fprintf(stderr, "eval_names: %s\n", err.message);
                return -1;
        }
        return 0;
}

/* Resolve overlaps among PERSON spans: longest first. */
static void
resolve(socfw_pii_spans *sp)
{
        socfw_pii_spans_resolve(sp);
}

typedef struct {
        socfw_span_scorer *exact, *words;
} scorers;

static void
report(const char *what, socfw_span_scorer *s)
{
        const socfw_span_type_metrics *t = NULL;
        socfw_span_type_metrics all;
        size_t n = socfw_span_scorer_types(s, &t, &all);
        for (size_t i = 0; i < n; i++)
                if (!strcmp(t[i].type, "PERSON"))
                        printf("%-6s PERSON P %.3f R %.3f F1 %.3f F2 %.3f "
                               "(tp %zu fp %zu fn %zu)\n",
                               what, t[i].precision, t[i].recall, t[i].f1,
                               t[i].fbeta, t[i].tp, t[i].fp, t[i].fn);
}

static double
person_f2(socfw_span_scorer *s)
{
        const socfw_span_type_metrics *t = NULL;
        socfw_span_type_metrics all;
        size_t n = socfw_span_scorer_types(s, &t, &all);
        for (size_t i = 0; i < n; i++)
                if (!strcmp(t[i].type, "PERSON"))
                        return t[i].fbeta;
        return 0;
}

/* The PERSON entities of the next line of `socfw predict` output
 * (privacy.entities, byte offsets) as external spans. */
static void
tagger_line(FILE *tf, char **line, size_t *cap, socfw_pii_spans *out)
{
        if (getline(line, cap, tf) <= 0)
                return;
        json_t *tr = json_loads(*line, 0, NULL);
        json_t *ents = json_object_get(json_object_get(tr, "privacy"),
                                       "entities");
        for (size_t k = 0; k < json_array_size(ents); k++) {
                json_t *en = json_array_get(ents, k);
                const char *ty = json_string_value(json_object_get(en, "type"));
                if (!ty || strcmp(ty, "PERSON"))
                        continue;
                socfw_pii_span sp = {
                        .start = (size_t)json_integer_value(
                                json_object_get(en, "start")),
                        .end = (size_t)json_integer_value(
                                json_object_get(en, "end")),
                        .type = SOCFW_PII_PERSON,
                        .score = (float)json_number_value(
                                json_object_get(en, "score")),
                        .source = SOCFW_PII_SOURCE_EXTERNAL};
                socfw_pii_spans_push(out, &sp);
        }
        json_decref(tr);
        socfw_pii_spans_sort(out);
}

/* One pii-en row into both scorers. */
static int
score_row(const socfw_pii_names *nm, const char *text, json_t *spans,
          const socfw_pii_spans *tagger, scorers *sc, int verbose)
{
        size_t len = strlen(text);
        socfw_pii_words w = {0};
        socfw_pii_spans found = {0};
        socfw_error err = {0};
        /* as the plugin does: patterns and names, overlaps resolved (a
         * street address beats a name inside it) */
        if (socfw_pii_words_split(text, len, &w) < 0 ||
            socfw_pii_recognizer_scan(patterns, text, len, &found, &err) < 0 ||
            socfw_pii_names_scan(nm, text, len, tagger, &found, &err) < 0)
                return -1;
        resolve(&found);
        const char **gold = calloc(w.n + 1, sizeof *gold);
        const char **pred = calloc(w.n + 1, sizeof *pred);
        for (size_t i = 0; i < w.n; i++) {
                gold[i] = pred[i] = "O";
                if (w.v[i].line_break)
                        continue;
                for (size_t k = 0; k < json_array_size(spans); k++) {
                        json_t *s = json_array_get(spans, k);
                        const char *ty = json_string_value(
                                json_object_get(s, "type"));
                        size_t a = (size_t)json_integer_value(
                                json_object_get(s, "start"));
                        size_t b = (size_t)json_integer_value(
                                json_object_get(s, "end"));
                        if (ty && socfw_pii_ner_type(ty) == SOCFW_PII_PERSON &&
                            w.v[i].cp_end > a && w.v[i].cp_start < b)
                                gold[i] = "PERSON";
                }
                for (size_t k = 0; k < found.n; k++)
                        if (found.v[k].type == SOCFW_PII_PERSON &&
                            w.v[i].end > found.v[k].start &&
                            w.v[i].start < found.v[k].end)
                                pred[i] = "PERSON";
        }
        if (verbose) {
                int diff = 0;
                for (size_t i = 0; i < w.n; i++)
                        diff |= strcmp(gold[i], pred[i]) != 0;
                if (diff) {
                        printf("---- %s\n", text);
                        for (size_t i = 0; i < w.n; i++)
                                if (strcmp(gold[i], pred[i]))
                                        printf("   %-8s %.*s\n",
                                               pred[i][0] == 'P' ? "FP" : "FN",
                                               (int)(w.v[i].end - w.v[i].start),
                                               text + w.v[i].start);
                }
        }
        int rc = 0;
        if (w.n)
                rc = socfw_span_scorer_add_tags(sc->exact, gold, pred, w.n,
                                                &err) < 0 ||
                     socfw_span_scorer_add_words(sc->words, gold, pred, w.n,
                                                 &err) < 0;
        free(gold);
        free(pred);
        socfw_pii_words_free(&w);
        socfw_pii_spans_free(&found);
        return rc ? -1 : 0;
}

static int
pii_en(const char *shared, const char *split, const char *mode, float thr,
       int verbose, double *f2_exact)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/data/pii-en/train.jsonl", shared);
        socfw_pii_names *nm = NULL;
        if (load(&nm, shared, mode, thr) < 0)
                return 1;
        scorers sc = {0};
        socfw_error err = {0};
        socfw_reader_options ro = SOCFW_READER_OPTIONS_INIT;
        socfw_reader *r = NULL;
        socfw_record *rec = NULL;
        if (socfw_span_scorer_new(&sc.exact, 2.0, &err) < 0 ||
            socfw_span_scorer_new(&sc.words, 2.0, &err) < 0 ||
            socfw_reader_open(&r, path, &ro, &err) < 0) {
                fprintf(stderr, "eval_names: %s\n", err.message);
                return 1;
        }
        /* a tagger's spans: `socfw predict RUN --task pii` output, one
         * line per row of pii-en train.jsonl (EVAL_TAGGER=file) */
        const char *tpath = getenv("EVAL_TAGGER");
        FILE *tf = tpath ? fopen(tpath, "r") : NULL;
        if (tpath && !tf) {
                perror(tpath);
                return 1;
        }
        char *tline = NULL;
        size_t tcap = 0;
        int want_held = strcmp(split, "train") != 0;
        size_t rows = 0;
        int rc;
        while ((rc = socfw_reader_next(r, &rec, &err)) == 1) {
                socfw_pii_spans tagger = {0};
                if (tf)
                        tagger_line(tf, &tline, &tcap, &tagger);
                uint64_t h;
                if (socfw_pii_ner_template_hash(rec, &h) == 0 &&
                    (h % 5 == 0) == want_held) {
                        json_t *row = socfw_record_json(rec);
                        const char *text = json_string_value(
                                json_object_get(row, "text"));
                        if (text && score_row(nm, text,
                                              json_object_get(row, "spans"),
                                              tf ? &tagger : NULL, &sc,
                                              verbose) < 0) {
                                fprintf(stderr, "eval_names: failed\n");
                                return 1;
                        }
                        rows++;
                }
                socfw_pii_spans_free(&tagger);
                socfw_record_free(rec);
        }
        free(tline);
        if (tf)
                fclose(tf);
        if (!f2_exact) {
                printf("pii-en %s rows %zu evidence %s threshold %.2f\n",
                       split, rows, mode, (double)thr);
                report("exact", sc.exact);
                report("words", sc.words);
        } else {
                *f2_exact = person_f2(sc.exact);
        }
        socfw_reader_close(r);
        socfw_span_scorer_free(sc.exact);
        socfw_span_scorer_free(sc.words);
        socfw_pii_names_free(nm);
        return 0;
}

static int
weibo(const char *shared, const char *part, const char *mode, float thr,
      int verbose)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/data/ner-weibo/dev.jsonl", shared);
        socfw_pii_names *nm = NULL;
        if (load(&nm, shared, mode, thr) < 0)
                return 1;
        FILE *f = fopen(path, "r");
        if (!f) {
                perror(path);
                return 1;
        }
        /* a tagger's spans: `socfw predict RUN --task ner_zh` output over
         * the same lines (EVAL_TAGGER=file) */
        const char *tpath = getenv("EVAL_TAGGER");
        FILE *tf = tpath ? fopen(tpath, "r") : NULL;
        if (tpath && !tf) {
                perror(tpath);
                fclose(f);
                return 1;
        }
        char *line = NULL, *tline = NULL;
        size_t cap = 0, tcap = 0, tp = 0, fp = 0, fn = 0, lineno = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
                lineno++;
                socfw_pii_spans tagger = {0};
                if (tf)
                        tagger_line(tf, &tline, &tcap, &tagger);
                int held = lineno % 4 == 0;
                if ((!strcmp(part, "heldout") && !held) ||
                    (!strcmp(part, "tune") && held)) {
                        socfw_pii_spans_free(&tagger);
                        continue;
                }
                json_t *row = json_loadb(line, (size_t)n, 0, NULL);
                json_t *tok = json_object_get(row, "tokens");
                json_t *tag = json_object_get(row, "tags");
                size_t nt = json_array_size(tok);
                /* the text and each token's byte start */
                size_t *at = calloc(nt + 1, sizeof *at);
                char *text = malloc(nt * 8 + 1);
                size_t len = 0;
                for (size_t i = 0; i < nt; i++) {
                        const char *s = json_string_value(json_array_get(tok, i));
                        size_t k = s ? strlen(s) : 0;
                        if (k > 8)
                                k = 0;
                        at[i] = len;
                        memcpy(text + len, s, k);
                        len += k;
                }
                at[nt] = len;
                text[len] = '\0';
                /* gold spans in tokens */
                size_t gs[256], ge[256], ng = 0;
                for (size_t i = 0; i < nt && ng < 256;) {
                        const char *t = json_string_value(json_array_get(tag, i));
                        if (t && !strcmp(t, "B-PER.NAM")) {
                                size_t j = i + 1;
                                while (j < nt &&
                                       !strcmp(json_string_value(
                                                       json_array_get(tag, j)),
                                               "I-PER.NAM"))
                                        j++;
                                gs[ng] = at[i];
                                ge[ng++] = at[j];
                                i = j;
                        } else {
                                i++;
                        }
                }
                socfw_pii_spans found = {0};
                socfw_error err = {0};
                socfw_pii_names_scan(nm, text, len, tf ? &tagger : NULL,
                                     &found, &err);
                socfw_pii_spans_free(&tagger);
                resolve(&found);
                int *used = calloc(ng + 1, sizeof *used);
                for (size_t k = 0; k < found.n; k++) {
                        int hit = 0;
                        for (size_t g = 0; g < ng && !hit; g++)
                                if (!used[g] && gs[g] == found.v[k].start &&
                                    ge[g] == found.v[k].end)
                                        hit = used[g] = 1;
                        tp += hit;
                        fp += !hit;
                        if (verbose && !hit)
                                printf("FP %.*s | %s\n",
                                       (int)(found.v[k].end - found.v[k].start),
                                       text + found.v[k].start, text);
                }
                for (size_t g = 0; g < ng; g++) {
                        fn += !used[g];
                        if (verbose && !used[g])
                                printf("FN %.*s | %s\n", (int)(ge[g] - gs[g]),
                                       text + gs[g], text);
                }
                free(used);
                socfw_pii_spans_free(&found);
                free(at);
                free(text);
                json_decref(row);
        }
        free(line);
        free(tline);
        fclose(f);
        if (tf)
                fclose(tf);
        double p = tp + fp ? (double)tp / (double)(tp + fp) : 0;
        double r = tp + fn ? (double)tp / (double)(tp + fn) : 0;
        printf("weibo dev %s evidence %s threshold %.2f: PER.NAM P %.3f R "
               "%.3f F1 %.3f (tp %zu fp %zu fn %zu)\n",
               part, mode, (double)thr, p, r, p + r ? 2 * p * r / (p + r) : 0,
               tp, fp, fn);
        socfw_pii_names_free(nm);
        return 0;
}

static int
fp_lines(const char *shared, long want, long step, int filter, int verbose,
         const char *mode)
{
        socfw_pii_names *nm = NULL;
        if (load(&nm, shared, mode, 0.4f) < 0)
                return 1;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long used = 0, flagged = 0, first_only = 0, seen = 0;
        if (step < 1)
                step = 1;
        while (used < want && (n = getline(&line, &cap, stdin)) > 0) {
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if (filter && n < 20)
                        continue;
                /* no capitalised word after the first */
                int ok = 1, first = 1;
                for (ssize_t i = 0; i < n && ok; i++) {
                        unsigned char c = (unsigned char)line[i];
                        int start = i == 0 || line[i - 1] == ' ' ||
                                    line[i - 1] == '"' || line[i - 1] == '(';
                        if (start && c != ' ' && !first && c >= 'A' && c <= 'Z')
                                ok = 0;
                        if (c >= 0x80)
                                ok = ok && (c != 0xC3);  /* accented caps */
                        if (c == ' ')
                                first = 0;
                }
                if ((filter && !ok) || seen++ % step)
                        continue;
                used++;
                socfw_pii_spans sp = {0};
                socfw_error err = {0};
                socfw_pii_names_scan(nm, line, (size_t)n, NULL, &sp, &err);
                int later = 0;
                for (size_t k = 0; k < sp.n; k++)
                        later |= sp.v[k].start > 0;
                first_only += sp.n && !later;
                if (sp.n) {
                        flagged++;
                        for (size_t k = 0; verbose && k < sp.n; k++)
                                printf("FP %.*s | %s\n",
                                       (int)(sp.v[k].end - sp.v[k].start),
                                       line + sp.v[k].start, line);
                }
                socfw_pii_spans_free(&sp);
        }
        free(line);
        printf("fp: %ld of %ld lines%s flagged (%.2f%%); %ld of them only "
               "at the first word (%.2f%% of lines flagged elsewhere)\n",
               flagged, used,
               filter ? " without capitalised words after the first" : "",
               used ? 100.0 * (double)flagged / (double)used : 0, first_only,
               used ? 100.0 * (double)(flagged - first_only) / (double)used : 0);
        socfw_pii_names_free(nm);
        return 0;
}

static double
now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int
speed(const char *shared, const char *file, double mb)
{
        socfw_pii_names *nm = NULL;
        if (load(&nm, shared, "all", 0.4f) < 0)
                return 1;
        FILE *f = fopen(file, "r");
        if (!f) {
                perror(file);
                return 1;
        }
        size_t want = (size_t)(mb * 1e6);
        char *buf = malloc(want + 1);
        size_t n = fread(buf, 1, want, f);
        fclose(f);
        while (n && n < want) {   /* repeat the file */
                size_t k = want - n < n ? want - n : n;
                memcpy(buf + n, buf, k);
                n += k;
        }
        size_t spans = 0;
        double t0 = now();
        for (size_t i = 0; i < n;) {
                char *nl = memchr(buf + i, '\n', n - i);
                size_t e = nl ? (size_t)(nl - buf) : n;
                socfw_pii_spans sp = {0};
                socfw_error err = {0};
                socfw_pii_names_scan(nm, buf + i, e - i, NULL, &sp, &err);
                spans += sp.n;
                socfw_pii_spans_free(&sp);
                i = e + 1;
        }
        double t = now() - t0;
        printf("speed: %.1f MB in %.2f s CPU: %.1f MB/s per core, %zu "
               "PERSON spans (names alone)\n", (double)n / 1e6, t,
               (double)n / 1e6 / t, spans);
        /* the whole filter: pattern recognizers and names */
        spans = 0;
        t0 = now();
        for (size_t i = 0; i < n;) {
                char *nl = memchr(buf + i, '\n', n - i);
                size_t e = nl ? (size_t)(nl - buf) : n;
                socfw_pii_spans sp = {0};
                socfw_error err = {0};
                socfw_pii_recognizer_scan(patterns, buf + i, e - i, &sp, &err);
                socfw_pii_names_scan(nm, buf + i, e - i, NULL, &sp, &err);
                socfw_pii_spans_resolve(&sp);
                spans += sp.n;
                socfw_pii_spans_free(&sp);
                i = e + 1;
        }
        t = now() - t0;
        printf("speed: %.1f MB in %.2f s CPU: %.1f MB/s per core, %zu "
               "spans (patterns and names)\n", (double)n / 1e6, t,
               (double)n / 1e6 / t, spans);
        free(buf);
        socfw_pii_names_free(nm);
        return 0;
}

int
main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: eval_names pii-en|weibo|fp|speed "
                                "SHARED ...\n");
                return 2;
        }
        const char *cmd = argv[1], *shared = argv[2];
        int verbose = getenv("EVAL_VERBOSE") != NULL;
        if (!strcmp(cmd, "pii-en") || !strcmp(cmd, "weibo")) {
                const char *split = argc > 3 ? argv[3] :
                                    !strcmp(cmd, "weibo") ? "all" : "heldout";
                const char *mode = argc > 4 ? argv[4] : "all";
                const char *th = argc > 5 ? argv[5] : "0.4";
                if (!strcmp(th, "sweep") && !strcmp(cmd, "pii-en")) {
                        for (int k = 30; k <= 80; k += 5) {
                                double f2 = 0;
                                pii_en(shared, split, mode, (float)k / 100.0f,
                                       0, &f2);
                                printf("threshold %.2f exact F2 %.3f\n",
                                       k / 100.0, f2);
                        }
                        return 0;
                }
                float thr = strtof(th, NULL);
                return !strcmp(cmd, "weibo") ?
                               weibo(shared, split, mode, thr, verbose) :
                               pii_en(shared, split, mode, thr, verbose, NULL);
        }
        if (!strcmp(cmd, "fp"))
                return fp_lines(shared,
                                argc > 3 ? strtol(argv[3], NULL, 10) : 1000,
                                argc > 4 ? strtol(argv[4], NULL, 10) : 1, 1,
                                verbose, "all");
        if (!strcmp(cmd, "lines"))
                return fp_lines(shared, 100000000, 1, 0, verbose,
                                argc > 3 ? argv[3] : "all");
        if (!strcmp(cmd, "speed") && argc > 3)
                return speed(shared, argv[3],
                             argc > 4 ? strtod(argv[4], NULL) : 20.0);
        fprintf(stderr, "eval_names: unknown command %s\n", cmd);
        return 2;
}
