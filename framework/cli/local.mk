# the socfw command-line program (links libsocfw; only it prints to stdout)
bin_PROGRAMS += socfw
socfw_SOURCES = \
	framework/cli/cli.h \
	framework/cli/main.c \
	framework/cli/help.c \
	framework/cli/cmd_inspect.c \
	framework/cli/cmd_run.c
socfw_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/framework
socfw_CFLAGS = $(framework_libsocfw_la_CFLAGS)
socfw_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)
