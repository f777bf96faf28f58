/* cmd_monitor.c - `socfw monitor`: posts through the pipeline's chain, then
 * the monitor stage (socfw/monitor.h): windows per key, detectors, alerts
 * printed and delivered, state kept for a restart, an HTML report. */
#define _GNU_SOURCE /* getline */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "socfw/chain.h"
#include "socfw/io.h"
#include "socfw/monitor.h"
#include "socfw/runtime.h"

#define MAX_SETS 64

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
        (void)sig;
        stop_flag = 1;
}

static void
print_alert(const char *json, void *user)
{
        (void)user;
        printf("%s\n", json);
        fflush(stdout);
}

typedef struct mon_opts {
        const char *pipeline, *input, *webhook, *report, *state, *text_field;
        const char *sets[MAX_SETS];
        size_t n_sets;
        int follow;
} mon_opts;

static int
parse_opts(int argc, char **argv, mon_opts *o)
{
        static const struct option opts[] = {
                {"input", required_argument, NULL, 'i'},
                {"follow", no_argument, NULL, 'F'},
                {"webhook", required_argument, NULL, 'w'},
                {"report", required_argument, NULL, 'r'},
                {"state", required_argument, NULL, 'S'},
                {"set", required_argument, NULL, 's'},
                {"text-field", required_argument, NULL, 'f'},
                {"plugin-path", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        int c;
        memset(o, 0, sizeof *o);
        while ((c = getopt_long(argc, argv, "i:s:P:h", opts, NULL)) != -1) {
                switch (c) {
                case 'i': o->input = optarg; break;
                case 'F': o->follow = 1; break;
                case 'w': o->webhook = optarg; break;
                case 'r': o->report = optarg; break;
                case 'S': o->state = optarg; break;
                case 'f': o->text_field = optarg; break;
                case 'P': cli_g.plugin_path = optarg; break;
                case 's':
                        if (o->n_sets == MAX_SETS)
                                return cli_usage("monitor",
                                                 "too many --set options");
                        o->sets[o->n_sets++] = optarg;
                        break;
                case 'h':
                        cli_print_help(stdout, "monitor");
                        return -1;
                default:
                        return cli_usage("monitor", "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage("monitor", "missing the pipeline file or "
                                            "run directory");
        if (optind + 1 < argc)
                return cli_usage("monitor", "unexpected argument '%s'",
                                 argv[optind + 1]);
        o->pipeline = argv[optind];
        if (!o->input && !o->report)
                return cli_usage("monitor", "missing --input FILE.jsonl (- "
                                            "reads standard input), or "
                                            "--report alone to chart the "
                                            "state");
        return 0;
}

/* Where the state lives: --state, monitor.state, or OUTPUT_DIR/
 * monitor.sqlite (the directory is created).  Caller frees. */
static char *
state_path(const mon_opts *o, const cli_inference *in,
           const socfw_config *cfg)
{
        if (o->state)
                return strdup(o->state);
        const char *s = socfw_config_get_string(cfg, "state");
        if (s)
                return strdup(s);
        char *dir = cli_output_dir(in->p, in->pipeline);
        socfw_error err = {0};
        if (!dir || socfw_dir_make(dir, 0755, &err) < 0) {
                if (dir)
                        cli_error(&err);
                free(dir);
                return NULL;
        }
        char *path = socfw_path_join_alloc(dir, "monitor.sqlite");
        free(dir);
        return path;
}

/* Skip what the state already counted.  Returns 0, or -1 (reported). */
static int
resume(FILE *in, const mon_opts *o, socfw_monitor *m, long *lineno,
       int64_t *offset, const char *state)
{
        int64_t lines = socfw_monitor_input_lines(m);
        int64_t off = socfw_monitor_input_offset(m);
        const char *name = socfw_monitor_input_name(m);
        *lineno = 0;
        *offset = 0;
        if (lines == 0)
                return 0;
        if (strcmp(name, o->input) != 0) {
                cli_errorf("%s continues the stream of %s (%lld lines "
                           "counted), not %s; hint: give --state a new file "
                           "for a new stream, or the same --input",
                           state, name, (long long)lines, o->input);
                return -1;
        }
        struct stat st;
        if (in != stdin && fstat(fileno(in), &st) == 0 &&
            S_ISREG(st.st_mode)) {
                if (st.st_size < off || fseeko(in, (off_t)off, SEEK_SET) < 0) {
                        cli_errorf("%s: shorter (%lld bytes) than where the "
                                   "state %s stopped (%lld bytes); hint: a "
                                   "new stream needs a new --state",
                                   o->input, (long long)st.st_size, state,
                                   (long long)off);
                        return -1;
                }
                *lineno = (long)lines;
                *offset = off;
        } else {
                char *line = NULL;
                size_t cap = 0;
                ssize_t len;
                while (*lineno < lines &&
                       (len = getline(&line, &cap, in)) >= 0) {
                        (*lineno)++;
                        *offset += len;
                }
                free(line);
        }
        fprintf(stderr, "socfw: monitor: continuing %s after line %ld\n",
                o->input, *lineno);
        return 0;
}

/* One line through the chain and into the monitor.  Returns 0, or -1
 * (reported). */
static int
handle_line(socfw_monitor *m, socfw_chain *chain, const char *text_field,
            int skip_bad, const char *file, long lineno, const char *line,
            size_t len, int64_t offset, int64_t *bad)
{
        socfw_error err = {0};
        json_error_t je;
        json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        int rc = 0;
        if (!json_is_object(rec) ||
            !json_is_string(json_object_get(rec, text_field))) {
                if (skip_bad) {
                        (*bad)++;
                        socfw_monitor_skip_line(m, file, offset);
                        goto out;
                }
                if (!rec)
                        socfw_error_set_at(&err, SOCFW_EINVAL, file, lineno,
                                           je.column, "invalid JSON: %s",
                                           je.text);
                else
                        socfw_error_set_at(&err, SOCFW_EINVAL, file, lineno,
                                           0,
                                           "expected a JSON object with a "
                                           "string field '%s' (hint: "
                                           "monitor.on_bad_record: skip "
                                           "skips such lines)",
                                           text_field);
                rc = -1;
                goto out;
        }
        if (chain) {
                socfw_post *post = NULL;
                rc = socfw_post_from_json(&post, line, len, text_field, &err);
                if (rc == 0)
                        rc = socfw_chain_run(chain, post, &err);
                char *js = rc == 0 ? socfw_post_to_json(post) : NULL;
                socfw_post_free(post);
                if (rc < 0 || !js) {
                        if (rc == 0)
                                socfw_error_set(&err, SOCFW_ENOMEM,
                                                "out of memory");
                        err.line = lineno;
                        snprintf(err.file, sizeof err.file, "%s", file);
                        rc = -1;
                        goto out;
                }
                json_t *out = json_loads(js, 0, NULL);
                free(js);
                /* posts print reals with 7 digits: keep the record's own
                 * numbers (epoch timestamps need all theirs) */
                const char *k;
                json_t *v;
                json_object_foreach(rec, k, v)
                        if (json_is_real(v) && json_is_object(out))
                                json_object_set(out, k, v);
                json_decref(rec);
                rec = out;
        }
        if (socfw_monitor_feed(m, rec, file, lineno, offset, &err) < 0)
                rc = -1;
out:
        if (rc < 0)
                cli_error(&err);
        json_decref(rec);
        return rc;
}

static void
sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

int
cli_cmd_monitor(int argc, char **argv)
{
        mon_opts o;
        cli_inference in;
        socfw_chain *chain = NULL;
        socfw_monitor *m = NULL;
        FILE *fin = NULL;
        char *state = NULL, *line = NULL, *partial = NULL;
        size_t cap = 0, partial_len = 0;
        int64_t bad = 0;
        socfw_error err = {0};
        int rc = parse_opts(argc, argv, &o);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        rc = cli_inference_open(&in, o.pipeline, o.sets, o.n_sets);
        if (rc != CLI_OK)
                goto out;
        rc = CLI_FAIL;
        const socfw_config *cfg = socfw_pipeline_section(in.p, "monitor");
        const char *text_field = o.text_field
                                         ? o.text_field
                                         : socfw_config_get_string(
                                                   cfg, "text_field");
        const char *bad_policy = socfw_config_get_string(cfg,
                                                         "on_bad_record");
        int skip_bad = bad_policy && strcmp(bad_policy, "skip") == 0;
        if (socfw_pipeline_chain_len(in.p) > 0 &&
            !(chain = cli_inference_chain(in.p, in.rt, NULL)))
                goto out;
        if (!(state = state_path(&o, &in, cfg)))
                goto out;
        socfw_monitor_options mo = {.state_path = state,
                                    .webhook_url = o.webhook,
                                    .on_alert = print_alert};
        if (!o.input) { /* --report alone: chart what the state holds */
                struct stat sb;
                if (stat(state, &sb) != 0) {
                        cli_errorf("%s: no monitor state to report on "
                                   "(hint: run with --input first, or give "
                                   "--state)",
                                   state);
                        goto out;
                }
                if (socfw_monitor_open(&m, cfg, &mo, &err) < 0 ||
                    socfw_monitor_write_report(m, o.report, &err) < 0) {
                        cli_error(&err);
                        goto out;
                }
                fprintf(stderr, "socfw: monitor: report %s\n", o.report);
                rc = CLI_OK;
                goto out;
        }
        fin = strcmp(o.input, "-") == 0 ? stdin : fopen(o.input, "rb");
        if (!fin) {
                cli_errorf("%s: cannot open: %s", o.input, strerror(errno));
                goto out;
        }
        if (socfw_monitor_open(&m, cfg, &mo, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        long lineno;
        int64_t offset;
        if (resume(fin, &o, m, &lineno, &offset, state) < 0)
                goto out;
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        int idle_saved = 1;
        while (!stop_flag) {
                ssize_t len = getline(&line, &cap, fin);
                if (len < 0) {
                        if (!o.follow || ferror(fin))
                                break;
                        clearerr(fin);
                        if (!idle_saved &&
                            socfw_monitor_checkpoint(m, &err) < 0) {
                                cli_error(&err);
                                goto out;
                        }
                        idle_saved = 1;
                        sleep_ms(200);
                        continue;
                }
                /* --follow: a line still being written waits for its end */
                if (o.follow && (len == 0 || line[len - 1] != '\n')) {
                        char *p = realloc(partial, partial_len + (size_t)len +
                                                           1);
                        if (!p) {
                                cli_errorf("out of memory");
                                goto out;
                        }
                        partial = p;
                        memcpy(partial + partial_len, line, (size_t)len + 1);
                        partial_len += (size_t)len;
                        continue;
                }
                const char *text = line;
                size_t tl = (size_t)len;
                if (partial_len) {
                        char *p = realloc(partial, partial_len + tl + 1);
                        if (!p) {
                                cli_errorf("out of memory");
                                goto out;
                        }
                        partial = p;
                        memcpy(partial + partial_len, line, tl + 1);
                        text = partial;
                        tl += partial_len;
                        partial_len = 0;
                }
                lineno++;
                offset += (int64_t)tl;
                idle_saved = 0;
                size_t n = tl;
                while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
                        n--;
                if (n == 0) {
                        socfw_monitor_skip_line(m, o.input, offset);
                        continue;
                }
                if (handle_line(m, chain, text_field, skip_bad, o.input,
                                lineno, text, n, offset, &bad) < 0)
                        goto out;
        }
        if (ferror(fin)) {
                cli_errorf("%s: read error: %s", o.input, strerror(errno));
                goto out;
        }
        /* the end of a finite input closes every window; a stopped
         * --follow keeps them open for the next start */
        int finished = !o.follow && !stop_flag;
        if ((finished ? socfw_monitor_finish(m, &err)
                      : socfw_monitor_checkpoint(m, &err)) < 0) {
                cli_error(&err);
                goto out;
        }
        if (o.report && socfw_monitor_write_report(m, o.report, &err) < 0) {
                cli_error(&err);
                goto out;
        }
        socfw_monitor_stats st;
        socfw_monitor_get_stats(m, &st);
        fprintf(stderr,
                "socfw: monitor: %lld posts (%lld counted, %lld late, %lld "
                "without timestamp, %lld without key, %lld bad lines "
                "skipped), %lld windows closed, %lld alerts, %lld "
                "deliveries pending; state in %s%s%s\n",
                (long long)st.posts, (long long)st.counted,
                (long long)st.late_dropped, (long long)st.no_timestamp,
                (long long)st.no_key, (long long)bad,
                (long long)st.windows_closed, (long long)st.alerts,
                (long long)st.deliveries_pending, state,
                o.report ? "; report " : "", o.report ? o.report : "");
        rc = CLI_OK;
out:
        socfw_monitor_close(m);
        if (fin && fin != stdin)
                fclose(fin);
        free(line);
        free(partial);
        free(state);
        socfw_chain_free(chain);
        cli_inference_close(&in);
        return rc;
}
