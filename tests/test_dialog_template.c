/* test_dialog_template.c - chat templates render the exact strings. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "testutil.h"

static const socfw_dialog_turn conv[] = {
        {.role = SOCFW_DIALOG_USER, .text = "Hi"},
        {.role = SOCFW_DIALOG_ASSISTANT, .text = "Hello! How can I help?",
         .label = "positive"},
        {.role = SOCFW_DIALOG_USER, .text = "My order is late."},
};

static char *
render(socfw_dialog_template t, const socfw_dialog_render_opts *o,
       const socfw_dialog_turn *turns, size_t n)
{
        char *s = NULL;
        size_t len = 0;
        socfw_error err = {0};
        int rc = socfw_dialog_template_render(t, o, turns, n, &s, &len, &err);
        cr_assert_eq(rc, 0, "render: %s", err.message);
        cr_assert_not_null(s);
        cr_assert_eq(len, strlen(s));
        return s;
}

typedef struct render_case {
        socfw_dialog_template t;
        const char *system, *tone, *control;
        int gen, label_controls;
        size_t n;
        const char *want;
} render_case;

static const render_case cases[] = {
        /* plain */
        {SOCFW_DIALOG_TEMPLATE_PLAIN, "Be kind.", NULL, NULL, 1, 0, 3,
         "System: Be kind.\nUser: Hi\nBot: Hello! How can I help?\n"
         "User: My order is late.\nBot:"},
        {SOCFW_DIALOG_TEMPLATE_PLAIN, "Be kind.", "apologetic, calm",
         "<|tone:negative|>", 1, 0, 3,
         "System: Be kind. Reply in this tone: apologetic, calm\n"
         "User: Hi\nBot: Hello! How can I help?\n"
         "User: My order is late.\nBot: <|tone:negative|>"},
        {SOCFW_DIALOG_TEMPLATE_PLAIN, NULL, NULL, NULL, 0, 1, 2,
         "User: Hi\nBot: <|tone:positive|> Hello! How can I help?\n"},
        {SOCFW_DIALOG_TEMPLATE_PLAIN, NULL, "warm", NULL, 1, 0, 1,
         "System: Reply in this tone: warm\nUser: Hi\nBot:"},
        /* chatml */
        {SOCFW_DIALOG_TEMPLATE_CHATML, "Be kind.", NULL, NULL, 1, 0, 3,
         "<|im_start|>system\nBe kind.<|im_end|>\n"
         "<|im_start|>user\nHi<|im_end|>\n"
         "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
         "<|im_start|>user\nMy order is late.<|im_end|>\n"
         "<|im_start|>assistant\n"},
        {SOCFW_DIALOG_TEMPLATE_CHATML, "", "apologetic", "<|tone:negative|>",
         1, 1, 3,
         "<|im_start|>system\nReply in this tone: apologetic<|im_end|>\n"
         "<|im_start|>user\nHi<|im_end|>\n"
         "<|im_start|>assistant\n<|tone:positive|>Hello! How can I "
         "help?<|im_end|>\n"
         "<|im_start|>user\nMy order is late.<|im_end|>\n"
         "<|im_start|>assistant\n<|tone:negative|>"},
        {SOCFW_DIALOG_TEMPLATE_CHATML, NULL, NULL, NULL, 0, 0, 0, ""},
        /* llama2: Meta's format */
        {SOCFW_DIALOG_TEMPLATE_LLAMA2, "Be kind.", NULL, NULL, 1, 0, 3,
         "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello! How can "
         "I help? </s><s>[INST] My order is late. [/INST]"},
        {SOCFW_DIALOG_TEMPLATE_LLAMA2, NULL, NULL, NULL, 1, 0, 1,
         "[INST] Hi [/INST]"},
        {SOCFW_DIALOG_TEMPLATE_LLAMA2, "Be kind.", "calm", "<|tone:negative|>",
         1, 1, 3,
         "[INST] <<SYS>>\nBe kind. Reply in this tone: calm\n<</SYS>>\n\n"
         "Hi [/INST] <|tone:positive|>Hello! How can I help? </s>"
         "<s>[INST] My order is late. [/INST] <|tone:negative|>"},
        {SOCFW_DIALOG_TEMPLATE_LLAMA2, NULL, NULL, NULL, 0, 0, 2,
         "[INST] Hi [/INST] Hello! How can I help? </s>"},
};

Test(dialog_template, renders_exact_strings)
{
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                const render_case *c = &cases[i];
                socfw_dialog_render_opts o = {
                        .system = c->system,
                        .tone = c->tone,
                        .control = c->control,
                        .generation_prompt = c->gen,
                        .label_controls = c->label_controls,
                };
                char *s = render(c->t, &o, conv, c->n);
                cr_expect_str_eq(s, c->want, "case %zu (%s)", i,
                                 socfw_dialog_template_name(c->t));
                free(s);
        }
}

Test(dialog_template, prompt_plus_reply_is_the_rendered_turn)
{
        /* what the model writes after the generation prompt, followed by
         * the end of turn, equals the turn as history renders it */
        const char *reply_after[] = {" ", "", " "};
        for (int t = 0; t < 3; t++) {
                socfw_dialog_render_opts g = {.system = "S",
                                              .generation_prompt = 1};
                socfw_dialog_render_opts h = {.system = "S"};
                char *p = render((socfw_dialog_template)t, &g, conv, 1);
                char *full = render((socfw_dialog_template)t, &h, conv, 2);
                const char *eot = socfw_dialog_template_end_of_turn(
                        (socfw_dialog_template)t);
                char want[512];
                snprintf(want, sizeof want, "%s%s%s%s%s", p, reply_after[t],
                         conv[1].text,
                         t == SOCFW_DIALOG_TEMPLATE_LLAMA2 ? " " : "", eot);
                if (t == SOCFW_DIALOG_TEMPLATE_CHATML)
                        strncat(want, "\n", sizeof want - strlen(want) - 1);
                cr_expect_str_eq(full, want, "template %d", t);
                free(p);
                free(full);
        }
}

Test(dialog_template, names_and_parse)
{
        socfw_dialog_template t;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_template_parse("chatml", &t, &err), 0);
        cr_expect_eq(t, SOCFW_DIALOG_TEMPLATE_CHATML);
        cr_assert_eq(socfw_dialog_template_parse("llama-2", &t, &err), 0);
        cr_expect_eq(t, SOCFW_DIALOG_TEMPLATE_LLAMA2);
        cr_assert_eq(socfw_dialog_template_parse("plain", &t, &err), 0);
        cr_expect_eq(t, SOCFW_DIALOG_TEMPLATE_PLAIN);
        cr_expect_eq(socfw_dialog_template_parse("alpaca", &t, &err),
                     SOCFW_EINVAL);
        cr_expect(strstr(err.message, "alpaca") &&
                  strstr(err.message, "chatml"), "%s", err.message);
        for (int i = 0; i < 3; i++) {
                socfw_dialog_template back;
                cr_expect_eq(socfw_dialog_template_parse(
                                     socfw_dialog_template_name(
                                             (socfw_dialog_template)i),
                                     &back, NULL),
                             0);
                cr_expect_eq((int)back, i);
        }
        cr_expect_str_eq(socfw_dialog_template_end_of_turn(
                                 SOCFW_DIALOG_TEMPLATE_CHATML),
                         "<|im_end|>");
        cr_expect_str_eq(socfw_dialog_template_stops(
                                 SOCFW_DIALOG_TEMPLATE_PLAIN)[0],
                         "\nUser:");
        socfw_dialog_role r;
        cr_expect_eq(socfw_dialog_role_parse("bot", &r, NULL), 0);
        cr_expect_eq(r, SOCFW_DIALOG_ASSISTANT);
        cr_expect_eq(socfw_dialog_role_parse("robot", &r, NULL), SOCFW_EINVAL);
}

Test(dialog_template, detect_from_model_metadata)
{
        static const struct {
                const char *jinja;
                int rc;
                socfw_dialog_template want;
        } det[] = {
                {"{% for message in messages %}{{'<|im_start|>' + "
                 "message['role'] + '\\n' + message['content'] + "
                 "'<|im_end|>' + '\\n'}}{% endfor %}{% if "
                 "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                 "{% endif %}",
                 0, SOCFW_DIALOG_TEMPLATE_CHATML},
                {"{% if messages[0]['role'] == 'system' %}{% set "
                 "system_message = '<<SYS>>\\n' + messages[0]['content'] + "
                 "'\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' "
                 "+ content.strip() + ' [/INST]' }}",
                 0, SOCFW_DIALOG_TEMPLATE_LLAMA2},
                {"{{ messages[0]['content'] }}", SOCFW_ENOTFOUND,
                 SOCFW_DIALOG_TEMPLATE_PLAIN},
                {"", SOCFW_ENOTFOUND, SOCFW_DIALOG_TEMPLATE_PLAIN},
                {NULL, SOCFW_ENOTFOUND, SOCFW_DIALOG_TEMPLATE_PLAIN},
        };
        for (size_t i = 0; i < sizeof det / sizeof det[0]; i++) {
                socfw_dialog_template t = SOCFW_DIALOG_TEMPLATE_PLAIN;
                socfw_error err = {0};
                int rc = socfw_dialog_template_detect(det[i].jinja, &t, &err);
                cr_expect_eq(rc, det[i].rc, "case %zu", i);
                if (rc == 0)
                        cr_expect_eq(t, det[i].want, "case %zu", i);
                else
                        cr_expect(strstr(err.message, "hint:"), "%s",
                                  err.message);
        }
}

Test(dialog_template, control_tokens)
{
        char buf[64];
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_control_token("negative", buf, sizeof buf,
                                                &err),
                     0);
        cr_expect_str_eq(buf, "<|tone:negative|>");
        cr_expect_eq(socfw_dialog_control_token("bad|>label", buf, sizeof buf,
                                                NULL),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_dialog_control_token("", buf, sizeof buf, NULL),
                     SOCFW_EINVAL);
        cr_expect_eq(socfw_dialog_control_token("negative", buf, 10, NULL),
                     SOCFW_EINVAL);
        /* a label that cannot be a control token fails the render */
        socfw_dialog_turn t[] = {
                {.role = SOCFW_DIALOG_ASSISTANT, .text = "x", .label = "a b"},
        };
        socfw_dialog_render_opts o = {.label_controls = 1};
        char *s = NULL;
        cr_expect_eq(socfw_dialog_template_render(SOCFW_DIALOG_TEMPLATE_CHATML,
                                                  &o, t, 1, &s, NULL, NULL),
                     SOCFW_EINVAL);
        cr_expect_null(s);
}

/* ---- template: auto, from model metadata (tests/fixtures/dialog, made
 * by tests/fixtures/gen_dialog_fixtures.py) ---- */

static const char *
fixture(const char *name)
{
        static char path[4096];
        snprintf(path, sizeof path, "%s/tests/fixtures/dialog/%s",
                 socfw_test_srcdir(), name);
        return path;
}

Test(dialog_template, auto_reads_gguf_and_hugging_face_metadata,
     .timeout = 10)
{
        static const struct {
                const char *model;
                int rc;
                socfw_dialog_template want;
                const char *msg; /* in err.message when rc != 0 */
        } cases[] = {
                {"chatml.gguf", 0, SOCFW_DIALOG_TEMPLATE_CHATML, NULL},
                {"llama2.gguf", 0, SOCFW_DIALOG_TEMPLATE_LLAMA2, NULL},
                {"hf-chatml", 0, SOCFW_DIALOG_TEMPLATE_CHATML, NULL},
                /* a list of named templates: "default" wins */
                {"hf-llama2-list", 0, SOCFW_DIALOG_TEMPLATE_LLAMA2, NULL},
                /* a file of an HF model: the config beside it */
                {"hf-chatml/tokenizer_config.json", 0,
                 SOCFW_DIALOG_TEMPLATE_CHATML, NULL},
                {"hf-plain", 0, SOCFW_DIALOG_TEMPLATE_PLAIN, NULL},
                /* unknown family -> plain, said as "unknown" */
                {"unknown.gguf", SOCFW_DIALOG_AUTO_UNKNOWN,
                 SOCFW_DIALOG_TEMPLATE_PLAIN, "no known family"},
                {"notemplate.gguf", SOCFW_DIALOG_AUTO_NO_TEMPLATE,
                 SOCFW_DIALOG_TEMPLATE_PLAIN, "tokenizer.chat_template"},
                {"hf-none", SOCFW_DIALOG_AUTO_NO_TEMPLATE,
                 SOCFW_DIALOG_TEMPLATE_PLAIN, "no chat_template"},
                {"missing.gguf", SOCFW_DIALOG_AUTO_NO_TEMPLATE,
                 SOCFW_DIALOG_TEMPLATE_PLAIN, "not found"},
                /* a broken config is an error with file:line */
                {"hf-bad", SOCFW_EFORMAT, SOCFW_DIALOG_TEMPLATE_PLAIN,
                 "not valid JSON"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                socfw_dialog_template t = SOCFW_DIALOG_TEMPLATE_LLAMA2;
                socfw_error err = {0};
                int rc = socfw_dialog_template_auto(fixture(cases[i].model),
                                                    &t, &err);
                cr_expect_eq(rc, cases[i].rc, "%s: rc %d (%s)",
                             cases[i].model, rc, err.message);
                if (rc >= 0)
                        cr_expect_eq(t, cases[i].want, "%s: %s",
                                     cases[i].model,
                                     socfw_dialog_template_name(t));
                if (cases[i].msg)
                        cr_expect(strstr(err.message, cases[i].msg),
                                  "%s: '%s'", cases[i].model, err.message);
        }
}

Test(dialog_template, the_raw_template_text_is_returned, .timeout = 10)
{
        char *jinja = NULL;
        socfw_error err = {0};
        cr_assert_eq(socfw_dialog_model_chat_template(fixture("llama2.gguf"),
                                                      &jinja, &err),
                     0, "%s", err.message);
        cr_assert(strstr(jinja, "[INST]") && strstr(jinja, "<<SYS>>"));
        free(jinja);
        cr_assert_eq(socfw_dialog_model_chat_template(NULL, &jinja, NULL),
                     SOCFW_ENOTFOUND);
        cr_assert_null(jinja);
}

Test(dialog_template, detect_plain_text_templates)
{
        socfw_dialog_template t = SOCFW_DIALOG_TEMPLATE_CHATML;
        cr_assert_eq(socfw_dialog_template_detect(
                             "{{ 'User: ' + m }}{{ 'Assistant: ' + r }}", &t,
                             NULL),
                     0);
        cr_assert_eq(t, SOCFW_DIALOG_TEMPLATE_PLAIN);
        /* "User:" alone is not enough */
        cr_assert_eq(socfw_dialog_template_detect("{{ 'User: ' + m }}", &t,
                                                  NULL),
                     SOCFW_ENOTFOUND);
}
