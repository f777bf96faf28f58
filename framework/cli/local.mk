# the socfw command-line program (links libsocfw; only it prints to stdout)
bin_PROGRAMS += socfw
socfw_SOURCES = \
	framework/cli/cli.h \
	framework/cli/main.c \
	framework/cli/dist_run.c \
	framework/cli/help.c \
	framework/cli/cmd_inspect.c \
	framework/cli/rundir.c \
	framework/cli/runpkg.c \
	framework/cli/cmd_init.c \
	framework/cli/cmd_run.c \
	framework/cli/cmd_chat.c \
	framework/cli/cmd_model.c \
	framework/cli/cmd_adapter.c \
	framework/cli/cmd_continual.c \
	framework/cli/cmd_pull.c \
	framework/cli/cmd_serve.c \
	framework/cli/serve.h \
	framework/cli/serve_http.c \
	framework/cli/serve_parse.h \
	framework/cli/serve_parse.c \
	framework/cli/serve_predict.c \
	framework/cli/serve_openai.c \
	framework/cli/serve_metrics.c \
	framework/cli/serve_ui.c \
	framework/cli/cmd_monitor.c \
	framework/cli/cmd_quantize.c \
	framework/cli/cmd_perplexity.c
socfw_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/framework \
	-DSOCFW_WEBDIR='"$(webdir)"'

# serve's web page (GET /), one self-contained file
webdir = $(pkgdatadir)/web
dist_web_DATA = web/index.html
socfw_CFLAGS = $(framework_libsocfw_la_CFLAGS) $(EDIT_CFLAGS)
socfw_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD) \
	$(EDIT_LIBS)

# end-to-end tests of tokenize / generate / logits (cmd_model.c)
if HAVE_CRITERION
check_PROGRAMS += tests/test_cli_model
TESTS += tests/test_cli_model
endif
tests_test_cli_model_SOURCES = $(TEST_COMMON) tests/test_arch_util.h \
	tests/test_arch_util.c tests/test_cli_model.c
tests_test_cli_model_CFLAGS = $(TEST_CFLAGS)
tests_test_cli_model_LDADD = $(TEST_LDADD)

# `socfw serve` over HTTP, end to end
TESTS += tests/serve-http.sh tests/serve-openai.sh tests/serve-webui.sh
EXTRA_DIST += tests/serve-http.sh tests/serve-openai.sh tests/serve-webui.sh \
	tests/webui_cdp.py

# `socfw quantize` end to end (cmd_quantize.c)
TESTS += tests/quantize-cli.sh
EXTRA_DIST += tests/quantize-cli.sh tests/gguf-gpt2-check.py \
	tests/gen-wide-llama.py

# `socfw perplexity` end to end (cmd_perplexity.c)
TESTS += tests/perplexity-cli.sh
EXTRA_DIST += tests/perplexity-cli.sh

# run packages: a moved run predicts and serves without its pipeline/data
TESTS += tests/run-package.sh
EXTRA_DIST += tests/run-package.sh

# the load generators of doc/performance.md (serving): the Python one and
# the C one (libcurl's multi interface, so the client costs the shared
# cores little): bench/serve_load URL predict|chat|chat-stream [-c C] ...
EXTRA_DIST += bench/serve_load.py
noinst_PROGRAMS += bench/serve_load
bench_serve_load_SOURCES = bench/serve_load.c bench/bench_clock.h
bench_serve_load_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
bench_serve_load_LDADD = $(CURL_LIBS) $(JANSSON_LIBS) -lm
