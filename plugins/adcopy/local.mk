# adcopy task plugin
plugin_LTLIBRARIES += plugins/adcopy/adcopy.la
plugins_adcopy_adcopy_la_SOURCES = plugins/adcopy/adcopy.c \
	plugins/adcopy/brief.c plugins/adcopy/brief.h
plugins_adcopy_adcopy_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_adcopy_adcopy_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
plugins_adcopy_adcopy_la_LIBADD = $(SOCFW_MODULE_LIBS) $(JANSSON_LIBS)

# briefs, prompts, constraints and metrics; the generation loop's
# constraints; the plugin in a runtime with a tiny random GPT-2
if HAVE_CRITERION
check_PROGRAMS += tests/test_adcopy
TESTS += tests/test_adcopy
endif
tests_test_adcopy_SOURCES = $(TEST_COMMON) tests/test_adcopy_brief.c \
	tests/test_adcopy_generate.c tests/test_adcopy_plugin.c \
	plugins/adcopy/brief.c
tests_test_adcopy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/adcopy \
	-I$(top_srcdir)/tests
tests_test_adcopy_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_test_adcopy_LDADD = $(TEST_LDADD) $(JANSSON_LIBS)
