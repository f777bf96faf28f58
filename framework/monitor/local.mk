# monitor: sentiment per key and time window, detectors, alerts, sinks,
# SQLite state and the HTML report (socfw/monitor.h)
framework_libsocfw_la_SOURCES += \
	framework/monitor/monitor_impl.h \
	framework/monitor/monitor.c \
	framework/monitor/state.c \
	framework/monitor/sink.c \
	framework/monitor/mreport.c
socfwinclude_HEADERS += framework/socfw/monitor.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_monitor
TESTS += tests/test_monitor
endif
tests_test_monitor_SOURCES = $(TEST_COMMON) tests/test_monitor.c \
	tests/test_monitor_sink.c
tests_test_monitor_CFLAGS = $(TEST_CFLAGS)
tests_test_monitor_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_monitor_LDADD = $(TEST_LDADD)

# kill -9 mid-stream and restart: no alert twice, none missed
TESTS += tests/monitor-restart.sh
EXTRA_DIST += tests/monitor-restart.sh tests/monitor-stream.py \
	bench/monitor-sweep.sh \
	tests/fuzz/fuzz_monitor.c

# the monitor stage alone on synthetic streams with injected episodes
noinst_PROGRAMS += bench/bench_monitor
bench_bench_monitor_SOURCES = bench/bench_monitor.c
bench_bench_monitor_CPPFLAGS = $(AM_CPPFLAGS)
bench_bench_monitor_CFLAGS = $(framework_libsocfw_la_CFLAGS)
bench_bench_monitor_LDADD = framework/libsocfw.la $(framework_libsocfw_la_LIBADD)
