/* cmd_chat.c - `socfw chat`: talk to a pipeline's dialog stage.
 *
 * Every message goes through the whole chain (e.g. privacy -> sentiment ->
 * dialog -> privacy), so PII is masked before the dialog stage sees it and
 * the reply is scrubbed on its way out.  The conversation lives in the
 * dialog stage's session store (its `sessions:` database), so `--session
 * ID` continues where an earlier chat stopped.
 *
 * On a terminal: a REPL ("you> ", "bot> "), with /reset, /history, /help
 * and /quit; Ctrl-D ends.  From a pipe: one output line per input line on
 * stdout (the reply, newlines folded to spaces; /history as one JSON line;
 * /reset as an empty line), everything else on stderr.
 *
 * Streaming: on a terminal the reply is printed as it is generated when the
 * dialog stage is the last stage of the chain.  The stage writes it to the
 * descriptor given as the annotation <task>.stream_fd (standard output) and
 * tells how many bytes it wrote in <task>.streamed.  When a stage follows
 * the dialog stage (a privacy stage scrubbing the reply, or anything else
 * that may rewrite it) the reply is printed only once the whole chain has
 * run, so that nothing unscrubbed reaches the screen.  --no-stream (and
 * --show-prompt, which prints the prompt first) turn streaming off.
 */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "config.h"
#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif
#include "socfw/chain.h"
#include "socfw/io.h"
#include "socfw/pipeline.h"
#include "socfw/runtime.h"

#define MAX_SETS 128
#define MAX_LINE ((size_t)4 << 20)      /* bytes of one input line */
#define SESSION_MAX 256

typedef struct chat_opts {
        const char *target;             /* pipeline file or run directory */
        const char *sets[MAX_SETS];
        size_t n_sets;
        const char *session;
        const char *output_dir;
        int show_prompt;
        int no_stream;
} chat_opts;

typedef struct chat {
        chat_opts o;
        const char *pipeline;           /* the pipeline file */
        json_t *run_json;               /* keeps run.json strings alive */
        char *dir;                      /* output directory */
        socfw_registry *reg;
        socfw_pipeline *p;
        socfw_runtime *rt;
        socfw_chain *chain;             /* every stage, with the models */
        socfw_chain *control;           /* the dialog stage alone */
        const char *task;               /* the dialog stage's name */
        char mood_key[300];             /* <sentiment stage>.label     */
        int reply_as_text;
        char session[SESSION_MAX + 1];
        int interactive;
        int stream;                     /* print replies as generated */
        size_t failures;
} chat;

static int
parse_opts(int argc, char **argv, chat_opts *o)
{
        static const struct option opts[] = {
                {"session", required_argument, NULL, 'S'},
                {"show-prompt", no_argument, NULL, 'p'},
                {"no-stream", no_argument, NULL, 'n'},
                {"set", required_argument, NULL, 's'},
                {"output-dir", required_argument, NULL, 'd'},
                {"plugin-path", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {0, 0, 0, 0},
        };
        int c;
        memset(o, 0, sizeof *o);
        while ((c = getopt_long(argc, argv, "S:ps:d:P:h", opts, NULL)) !=
               -1) {
                switch (c) {
                case 'S':
                        o->session = optarg;
                        break;
                case 'p':
                        o->show_prompt = 1;
                        break;
                case 'n':
                        o->no_stream = 1;
                        break;
                case 's':
                        /* room for the overrides chat adds itself */
                        if (o->n_sets + 3 >= MAX_SETS)
                                return cli_usage("chat", "too many --set "
                                                         "options");
                        o->sets[o->n_sets++] = optarg;
                        break;
                case 'd':
                        o->output_dir = optarg;
                        break;
                case 'P':
                        cli_g.plugin_path = optarg;
                        break;
                case 'h':
                        cli_print_help(stdout, "chat");
                        return -1;
                default:
                        return cli_usage("chat", "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage("chat", "missing the pipeline file (or the "
                                         "run directory)");
        if (optind + 1 < argc)
                return cli_usage("chat", "unexpected argument '%s'",
                                 argv[optind + 1]);
        o->target = argv[optind];
        if (o->session && (!o->session[0] ||
                           strlen(o->session) > SESSION_MAX))
                return cli_usage("chat", "--session: expected 1 to %d "
                                         "bytes",
                                 SESSION_MAX);
        return 0;
}

/* ---- the pipeline ---- */

/* A run directory (`socfw run` wrote run.json into it): its pipeline and
 * recorded overrides, which go before the command line's.  Returns 1 when
 * `arg` is one, 0 when it is not a directory, -1 (reported) when broken.
 * (Same format as cmd_run.c reads.) */
static int
open_run_dir(chat *ch)
{
        const char *pipeline;
        json_t *sets, *doc;
        int rc = cli_read_run_dir(ch->o.target, &doc, &pipeline, &sets);
        if (rc <= 0)
                return rc;
        size_t n_rec = json_array_size(sets), n_cli = ch->o.n_sets;
        if (n_rec + n_cli + 3 >= MAX_SETS) {
                cli_errorf("%s: too many overrides", ch->o.target);
                json_decref(doc);
                return -1;
        }
        memmove(ch->o.sets + n_rec, ch->o.sets, n_cli * sizeof *ch->o.sets);
        for (size_t i = 0; i < n_rec; i++)
                ch->o.sets[i] = json_string_value(json_array_get(sets, i));
        ch->o.n_sets = n_rec + n_cli;
        if (!ch->o.output_dir)
                ch->o.output_dir = ch->o.target;
        ch->pipeline = pipeline;
        ch->run_json = doc;
        return 1;
}

/* Load and validate with the extra overrides; print every diagnostic. */
static socfw_pipeline *
load_pipeline(chat *ch, const char *const *extra, size_t n_extra)
{
        const char *sets[MAX_SETS];
        size_t n = 0;
        for (size_t i = 0; i < ch->o.n_sets && n < MAX_SETS; i++)
                sets[n++] = ch->o.sets[i];
        for (size_t i = 0; i < n_extra && n < MAX_SETS; i++)
                sets[n++] = extra[i];
        return cli_load_pipeline(ch->pipeline, sets, n, ch->reg);
}

/* The conversational stage of a chain: the last stage whose task
 * generates text (its head's target is tokens) from a post (the task
 * declares no other input, as adcopy's briefs); NULL when none.  *last: 1
 * when no stage runs after it.  Decided by what the plugins declare, not
 * by their names, so a third-party dialog plugin chats and serves too. */
const char *
cli_chat_stage(const socfw_pipeline *p, int *last)
{
        const char *found = NULL;
        *last = 0;
        for (size_t i = 0; i < socfw_pipeline_chain_len(p); i++) {
                const char *name = socfw_pipeline_chain_stage(p, i);
                int t = socfw_pipeline_task_find(p, name);
                if (t < 0)
                        continue; /* the privacy section's stage */
                const socfw_plugin *head =
                        socfw_pipeline_task_head(p, (size_t)t);
                if (head &&
                    socfw_registry_head_target(head) == SOCFW_TARGET_TOKENS &&
                    !socfw_registry_task_input(
                            socfw_pipeline_task_plugin(p, (size_t)t))) {
                        found = name;
                        *last = i + 1 == socfw_pipeline_chain_len(p);
                }
        }
        return found;
}

/* cli_chat_stage, and whether that task answers with its reply as the
 * post's text (reply_as_text). */
static const char *
find_dialog_stage(const socfw_pipeline *p, int *reply_as_text, int *last)
{
        const char *found = cli_chat_stage(p, last);
        int t = found ? socfw_pipeline_task_find(p, found) : -1;
        *reply_as_text = t >= 0 && socfw_config_get_bool(
                                           socfw_pipeline_task(p, (size_t)t),
                                           "reply_as_text");
        return found;
}

/* Everything up to the chains.  Returns CLI_OK or CLI_FAIL (reported). */
static int
chat_open(chat *ch)
{
        socfw_error err = {0};
        ch->pipeline = ch->o.target;
        if (open_run_dir(ch) < 0)
                return CLI_FAIL;
        if (!(ch->reg = cli_registry(1)))
                return CLI_FAIL;
        /* chat never trains: a pretrained backbone in the run is reused */
        const char *extra[2] = {"pretrain.reuse=true", NULL};
        if (!(ch->p = load_pipeline(ch, extra, 1)))
                return CLI_FAIL;
        int last = 0;
        ch->task = find_dialog_stage(ch->p, &ch->reply_as_text, &last);
        if (!ch->task) {
                cli_errorf("%s: the chain has no dialog stage (hint: add a "
                           "task with plugin: dialog and list it in "
                           "chain:)",
                           ch->pipeline);
                return CLI_FAIL;
        }
        if (ch->o.show_prompt) {
                /* the stage puts its prompt into <task>.prompt */
                char *set = NULL;
                if (asprintf(&set, "tasks.%s.debug_prompt=true", ch->task) <
                    0) {
                        cli_errorf("out of memory");
                        return CLI_FAIL;
                }
                extra[1] = set;
                socfw_pipeline_free(ch->p);
                ch->p = load_pipeline(ch, extra, 2);
                free(set);
                if (!ch->p)
                        return CLI_FAIL;
                ch->task = find_dialog_stage(ch->p, &ch->reply_as_text,
                                             &last);
        }
        /* the label the dialog stage takes its tone from */
        int ti = socfw_pipeline_task_find(ch->p, ch->task);
        const char *ss = ti >= 0 ? socfw_config_get_string(
                                           socfw_pipeline_task(ch->p,
                                                               (size_t)ti),
                                           "sentiment_stage")
                                 : NULL;
        snprintf(ch->mood_key, sizeof ch->mood_key, "%s.label",
                 ss ? ss : "sentiment");
        /* stream only what no later stage can rewrite (privacy); with
         * --show-prompt the prompt is printed before the whole reply */
        ch->stream = ch->interactive && !ch->o.no_stream &&
                     !ch->o.show_prompt && last;
        const char *outdir = ch->o.output_dir;
        ch->dir = outdir ? strdup(outdir) : cli_output_dir(ch->p, ch->pipeline);
        if (!ch->dir) {
                cli_errorf("out of memory");
                return CLI_FAIL;
        }
        const socfw_config *bb = socfw_pipeline_section(ch->p, "backbone");
        int ckpt = cli_file_in(ch->dir, "checkpoint/model.safetensors");
        if (!ckpt && !socfw_config_get_string(bb, "model") &&
            !cli_file_in(ch->dir, "backbone/config.json")) {
                cli_errorf("%s: no trained model in %s (hint: run `socfw run "
                           "%s` first, or give --output-dir DIR of a run)",
                           ch->pipeline, ch->dir, ch->pipeline);
                return CLI_FAIL;
        }
        if (!ckpt)
                fprintf(stderr, "socfw: warning: no fine-tuned checkpoint in "
                                "%s; the backbone replies as it is\n",
                        ch->dir);
        socfw_runtime_options ro = {.output_dir = ch->dir,
                                    .threads = cli_g.threads,
                                    .from_checkpoint = ckpt};
        const char *only[2] = {ch->task, NULL};
        if (socfw_runtime_new(&ch->rt, ch->p, &ro, &err) < 0 ||
            socfw_runtime_chain(ch->rt, &ch->chain, &err) < 0 ||
            socfw_chain_new(&ch->control, ch->p, only, &err) < 0) {
                cli_error(&err);
                return CLI_FAIL;
        }
        return CLI_OK;
}

static void
chat_close(chat *ch)
{
        socfw_chain_free(ch->control);
        socfw_chain_free(ch->chain);
        socfw_runtime_free(ch->rt);
        socfw_pipeline_free(ch->p);
        socfw_registry_free(ch->reg);
        json_decref(ch->run_json);
        free(ch->dir);
}

/* ---- one exchange ---- */

static const char *
annotation(const socfw_post *post, const chat *ch, const char *field)
{
        char key[512];
        snprintf(key, sizeof key, "%s.%s", ch->task, field);
        return socfw_post_get_string(post, key);
}

/* Print `s` as one line: newlines and carriage returns become spaces. */
static void
put_one_line(const char *s)
{
        for (; *s; s++)
                fputc(*s == '\n' || *s == '\r' ? ' ' : *s, stdout);
        fputc('\n', stdout);
}

static int
say(chat *ch, const char *text)
{
        socfw_error err = {0};
        socfw_post *post = socfw_post_new(text, ch->session);
        if (!post) {
                cli_errorf("out of memory");
                return CLI_FAIL;
        }
        char key[512];
        int rc = 0;
        if (ch->stream) {
                snprintf(key, sizeof key, "%s.stream_fd", ch->task);
                rc = socfw_post_set_number(post, key, STDOUT_FILENO, &err);
                fputs("bot> ", stdout);
                fflush(stdout); /* the stage writes to the descriptor */
        }
        if (rc == 0)
                rc = socfw_chain_run(ch->chain, post, &err);
        if (rc < 0) {
                if (ch->stream)
                        putchar('\n');
                fflush(stdout);
                cli_error(&err);
                socfw_post_free(post);
                return CLI_FAIL;
        }
        const char *prompt = annotation(post, ch, "prompt");
        if (ch->o.show_prompt && prompt)
                fprintf(stderr, "---- prompt ----\n%s\n---- end of prompt "
                                "----\n",
                        prompt);
        /* the post's text is the reply after the later stages (privacy)
         * have scrubbed it; without reply_as_text, the raw reply */
        const char *reply = ch->reply_as_text ? socfw_post_text(post)
                                              : annotation(post, ch, "reply");
        double streamed = 0;
        snprintf(key, sizeof key, "%s.streamed", ch->task);
        if (ch->stream && socfw_post_get_number(post, key, &streamed) == 0 &&
            streamed > 0) {
                /* already on the screen; reprinted only if the stage
                 * replaced it afterwards (e.g. by fallback_reply) */
                if (reply && (size_t)streamed == strlen(reply))
                        putchar('\n');
                else
                        printf("\nbot> %s\n", reply ? reply : "");
        } else if (ch->stream) {
                printf("%s\n", reply ? reply : "");
        } else if (ch->interactive) {
                printf("bot> %s\n", reply ? reply : "");
        } else {
                put_one_line(reply ? reply : "");
        }
        /* on a terminal: the mood detected in the message, and the tone
         * the reply took from it */
        const char *mood = socfw_post_get_string(post, ch->mood_key);
        const char *tone = annotation(post, ch, "tone");
        if (ch->interactive && mood)
                printf("     (your mood: %s%s%s)\n", mood,
                       tone ? "; tone: " : "", tone ? tone : "");
        fflush(stdout);
        socfw_post_free(post);
        return CLI_OK;
}

/* Run a command on the dialog stage alone; *out_post: caller frees. */
static int
command(chat *ch, const char *cmd, socfw_post **out_post)
{
        socfw_error err = {0};
        char key[512];
        socfw_post *post = socfw_post_new("", ch->session);
        snprintf(key, sizeof key, "%s.command", ch->task);
        if (!post || socfw_post_set_string(post, key, cmd, &err) < 0 ||
            socfw_chain_run(ch->control, post, &err) < 0) {
                if (!post)
                        cli_errorf("out of memory");
                else
                        cli_error(&err);
                socfw_post_free(post);
                return CLI_FAIL;
        }
        *out_post = post;
        return CLI_OK;
}

/* The session's turns as a JSON array (borrowed from *doc). */
static json_t *
history_of(const socfw_post *post, const chat *ch, json_t **doc)
{
        char *js = socfw_post_to_json(post);
        *doc = js ? json_loads(js, 0, NULL) : NULL;
        free(js);
        return json_object_get(json_object_get(*doc, ch->task), "history");
}

static int
show_history(chat *ch)
{
        socfw_post *post = NULL;
        json_t *doc = NULL;
        if (command(ch, "history", &post) != CLI_OK)
                return CLI_FAIL;
        json_t *turns = history_of(post, ch, &doc);
        if (!ch->interactive) {
                json_t *line = json_pack("{s:s, s:I, s:O}", "session",
                                         ch->session, "turns",
                                         (json_int_t)json_array_size(turns),
                                         "history",
                                         turns ? turns : json_array());
                char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
                puts(s ? s : "{}");
                free(s);
                json_decref(line);
        } else {
                printf("-- session %s: %zu turn%s --\n", ch->session,
                       json_array_size(turns),
                       json_array_size(turns) == 1 ? "" : "s");
                size_t i;
                json_t *t;
                json_array_foreach(turns, i, t)
                {
                        const char *role = json_string_value(
                                json_object_get(t, "role"));
                        printf("  %s %s\n",
                               role && !strcmp(role, "assistant") ? "bot:"
                                                                  : "you:",
                               json_string_value(json_object_get(t, "text")));
                }
        }
        fflush(stdout);
        json_decref(doc);
        socfw_post_free(post);
        return CLI_OK;
}

static int
reset_session(chat *ch)
{
        socfw_post *post = NULL;
        if (command(ch, "reset", &post) != CLI_OK)
                return CLI_FAIL;
        socfw_post_free(post);
        if (ch->interactive)
                printf("-- session %s cleared --\n", ch->session);
        else
                putchar('\n');
        fflush(stdout);
        return CLI_OK;
}

/* ---- input ---- */

/* Read one line (without its newline) into *buf.  Returns 1, 0 at the end
 * of input, -1 on ENOMEM.  A line longer than MAX_LINE is read to its end
 * and reported with *too_long (its text is dropped). */
static int
read_line(FILE *in, char **buf, size_t *cap, int *too_long)
{
        size_t len = 0;
        int c, any = 0;
        *too_long = 0;
        while ((c = getc(in)) != EOF) {
                any = 1;
                if (c == '\n')
                        break;
                if (len + 2 > *cap) {
                        if (len + 2 > MAX_LINE) {
                                *too_long = 1;
                                continue;
                        }
                        size_t ncap = *cap ? *cap * 2 : 256;
                        if (ncap > MAX_LINE)
                                ncap = MAX_LINE;
                        char *g = realloc(*buf, ncap);
                        if (!g)
                                return -1;
                        *buf = g;
                        *cap = ncap;
                }
                (*buf)[len++] = (char)c;
        }
        if (!any)
                return 0;
        if (len && (*buf)[len - 1] == '\r')
                len--;
        if (*buf)
                (*buf)[len] = '\0';
        return 1;
}

static int
is_blank(const char *s)
{
        for (; *s; s++)
                if (*s != ' ' && *s != '\t')
                        return 0;
        return 1;
}

static void
new_session_id(char *buf, size_t size)
{
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32] = "0";
        if (localtime_r(&now, &tm))
                strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(buf, size, "chat-%s-%ld", stamp, (long)getpid());
}

/* Say on stderr whether --session continues a conversation. */
static void
announce_session(chat *ch)
{
        socfw_post *post = NULL;
        json_t *doc = NULL;
        if (command(ch, "history", &post) != CLI_OK)
                return;
        size_t n = json_array_size(history_of(post, ch, &doc));
        if (n)
                fprintf(stderr, "socfw: session %s continues (%zu turn%s "
                                "so far)\n",
                        ch->session, n, n == 1 ? "" : "s");
        else
                fprintf(stderr, "socfw: session %s is new\n", ch->session);
        json_decref(doc);
        socfw_post_free(post);
}

static int
chat_loop(chat *ch)
{
        char *line = NULL;
        size_t cap = 0;
        int r, too_long;
        if (ch->interactive)
                printf("Talking to '%s' of %s; /history, /reset, /quit "
                       "(or Ctrl-D).\n",
                       ch->task, ch->pipeline);
        for (;;) {
                if (ch->interactive) {
#ifdef HAVE_LIBEDIT
                        /* line editing, and this session's lines on Up
                         * (kept in memory only: messages may hold
                         * personal data) */
                        char *got = readline("you> ");
                        if (!got) {
                                r = 0;
                                break;
                        }
                        size_t n = strlen(got);
                        too_long = n > MAX_LINE;
                        if (!too_long && n + 1 > cap) {
                                char *g = realloc(line, n + 1);
                                if (!g) {
                                        free(got);
                                        r = -1;
                                        break;
                                }
                                line = g;
                                cap = n + 1;
                        }
                        if (!too_long)
                                memcpy(line, got, n + 1);
                        if (!is_blank(got))
                                add_history(got);
                        free(got);
                        r = 1;
                        goto have_line;
#else
                        fputs("you> ", stdout);
                        fflush(stdout);
#endif
                }
                if ((r = read_line(stdin, &line, &cap, &too_long)) <= 0)
                        break;
#ifdef HAVE_LIBEDIT
have_line:;
#endif
                const char *text = line ? line : "";
                int rc = CLI_OK;
                if (too_long) {
                        cli_errorf("line too long (more than %zu bytes); "
                                   "skipped",
                                   MAX_LINE);
                        rc = CLI_FAIL;
                } else if (strcmp(text, "/quit") == 0 ||
                           strcmp(text, "/exit") == 0) {
                        break;
                } else if (strcmp(text, "/history") == 0) {
                        rc = show_history(ch);
                } else if (strcmp(text, "/reset") == 0) {
                        rc = reset_session(ch);
                } else if (ch->interactive && strcmp(text, "/help") == 0) {
                        puts("/history  show this session's turns\n"
                             "/reset    forget them\n"
                             "/quit     leave (or Ctrl-D)\n"
                             "//text    send a message that starts with /");
                        continue;
                } else if (ch->interactive && is_blank(text)) {
                        continue;
                } else if (text[0] == '/' && text[1] == '/') {
                        rc = say(ch, text + 1);
                } else if (text[0] == '/' && text[1] &&
                           !strchr(" \t/", text[1]) && !is_blank(text + 1)) {
                        /* a command socfw chat does not know: answered
                         * here, never sent to the model */
                        cli_errorf("unknown chat command '%.*s' (commands: "
                                   "/history, /reset, /help, /quit; //text "
                                   "sends a message starting with /)",
                                   (int)strcspn(text, " \t"), text);
                        rc = ch->interactive ? CLI_OK : CLI_FAIL;
                } else {
                        rc = say(ch, text);
                }
                if (rc != CLI_OK) {
                        ch->failures++;
                        if (!ch->interactive) {
                                /* keep one output line per input line */
                                putchar('\n');
                                fflush(stdout);
                        }
                }
        }
        if (ch->interactive && r == 0)
                putchar('\n');
        free(line);
        if (r < 0) {
                cli_errorf("out of memory");
                return CLI_FAIL;
        }
        return ch->failures ? CLI_FAIL : CLI_OK;
}

int
cli_cmd_chat(int argc, char **argv)
{
        chat ch;
        memset(&ch, 0, sizeof ch);
        int rc = parse_opts(argc, argv, &ch.o);
        if (rc)
                return rc < 0 ? CLI_OK : rc;
        ch.interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        rc = chat_open(&ch);
        if (rc == CLI_OK) {
                if (ch.o.session) {
                        snprintf(ch.session, sizeof ch.session, "%s",
                                 ch.o.session);
                } else {
                        new_session_id(ch.session, sizeof ch.session);
                        fprintf(stderr,
                                "socfw: session %s (continue it with "
                                "--session %s)\n",
                                ch.session, ch.session);
                }
                if (ch.o.session)
                        announce_session(&ch);
                rc = chat_loop(&ch);
                if (ch.failures)
                        fprintf(stderr, "socfw: %zu message%s failed\n",
                                ch.failures, ch.failures == 1 ? "" : "s");
        }
        chat_close(&ch);
        return rc;
}
