# the socfw command-line program
bin_PROGRAMS += socfw
socfw_SOURCES = framework/cli/main.c
socfw_CFLAGS = $(framework_libsocfw_la_CFLAGS)
socfw_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)
