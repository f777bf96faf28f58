# classifier head (heads/classifier/classifier.c): see the comment at the top of the source.
plugin_LTLIBRARIES += heads/classifier/classifier.la
heads_classifier_classifier_la_SOURCES = heads/classifier/classifier.c heads/head_util.h
heads_classifier_classifier_la_CFLAGS = $(AM_CFLAGS)
heads_classifier_classifier_la_LDFLAGS = $(SOCFW_MODULE_FLAGS)
heads_classifier_classifier_la_LIBADD = $(SOCFW_MODULE_LIBS)
