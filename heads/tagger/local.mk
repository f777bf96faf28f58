# tagger head (heads/tagger/tagger.c): see the comment at the top of the source.
plugin_LTLIBRARIES += heads/tagger/tagger.la
heads_tagger_tagger_la_SOURCES = heads/tagger/tagger.c heads/head_util.h
heads_tagger_tagger_la_CFLAGS = $(AM_CFLAGS)
heads_tagger_tagger_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
heads_tagger_tagger_la_LIBADD = $(SOCFW_MODULE_LIBS)
