# data: JSONL/CSV/TSV readers, datasets, batching (socfw/data.h)
framework_libsocfw_la_SOURCES += \
	framework/data/reader.c \
	framework/data/dataset.c \
	framework/data/batch.c
socfwinclude_HEADERS += framework/socfw/data.h
EXTRA_DIST += tests/fuzz/fuzz_data.c

if HAVE_CRITERION
check_PROGRAMS += tests/test_data
TESTS += tests/test_data
endif
tests_test_data_SOURCES = $(TEST_COMMON) tests/test_data_reader.c \
	tests/test_data_dataset.c tests/test_data_batch.c
tests_test_data_CFLAGS = $(TEST_CFLAGS)
tests_test_data_LDADD = $(TEST_LDADD)
