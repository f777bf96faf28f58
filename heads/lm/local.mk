# lm head (heads/lm/lm.c): see the comment at the top of the source.
plugin_LTLIBRARIES += heads/lm/lm.la
heads_lm_lm_la_SOURCES = heads/lm/lm.c heads/head_util.h
heads_lm_lm_la_CFLAGS = $(AM_CFLAGS)
heads_lm_lm_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
heads_lm_lm_la_LIBADD = $(SOCFW_MODULE_LIBS)
