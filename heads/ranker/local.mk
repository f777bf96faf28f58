# ranker head (heads/ranker/ranker.c): see the comment at the top of the source.
plugin_LTLIBRARIES += heads/ranker/ranker.la
heads_ranker_ranker_la_SOURCES = heads/ranker/ranker.c heads/head_util.h
heads_ranker_ranker_la_CFLAGS = $(AM_CFLAGS)
heads_ranker_ranker_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
heads_ranker_ranker_la_LIBADD = $(SOCFW_MODULE_LIBS)
