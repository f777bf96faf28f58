# dialog task plugin
plugin_LTLIBRARIES += plugins/dialog/dialog.la
plugins_dialog_dialog_la_SOURCES = plugins/dialog/dialog.c \
	plugins/dialog/template.c plugins/dialog/template.h \
	plugins/dialog/context.c plugins/dialog/context.h \
	plugins/dialog/sessions.c plugins/dialog/sessions.h \
	plugins/dialog/genmetrics.c plugins/dialog/genmetrics.h \
	plugins/dialog/stream.c plugins/dialog/stream.h
plugins_dialog_dialog_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) \
	$(UTF8PROC_CFLAGS) $(SQLITE_CFLAGS)
plugins_dialog_dialog_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_dialog_dialog_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS) \
	$(UTF8PROC_LIBS) $(SQLITE_LIBS)

# conversation machinery: templates, history window, SQLite sessions
if HAVE_CRITERION
check_PROGRAMS += tests/test_dialog
TESTS += tests/test_dialog
endif
tests_test_dialog_SOURCES = $(TEST_COMMON) tests/test_dialog_template.c \
	tests/test_dialog_context.c tests/test_dialog_sessions.c \
	tests/test_dialog_plugin.c tests/test_dialog_genmetrics.c \
	tests/test_dialog_runtime.c \
	plugins/dialog/template.c plugins/dialog/context.c \
	plugins/dialog/sessions.c plugins/dialog/genmetrics.c \
	plugins/dialog/stream.c
tests_test_dialog_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/dialog \
	-I$(top_srcdir)/tests
tests_test_dialog_CFLAGS = $(TEST_CFLAGS) $(UTF8PROC_CFLAGS) $(SQLITE_CFLAGS)
tests_test_dialog_LDADD = $(TEST_LDADD) $(UTF8PROC_LIBS) $(SQLITE_LIBS)

# `socfw chat` end to end: train the demo briefly, pipe lines into chat
TESTS += tests/chat-pipe.sh
EXTRA_DIST += tests/chat-pipe.sh

# model metadata with chat templates for `template: auto` (see the script)
EXTRA_DIST += tests/fixtures/gen_dialog_fixtures.py \
	tests/fixtures/dialog/chatml.gguf tests/fixtures/dialog/llama2.gguf \
	tests/fixtures/dialog/unknown.gguf tests/fixtures/dialog/notemplate.gguf \
	tests/fixtures/dialog/hf-chatml/tokenizer_config.json \
	tests/fixtures/dialog/hf-llama2-list/tokenizer_config.json \
	tests/fixtures/dialog/hf-plain/tokenizer_config.json \
	tests/fixtures/dialog/hf-none/tokenizer_config.json \
	tests/fixtures/dialog/hf-bad/tokenizer_config.json
