# train: AdamW, gradient clipping/accumulation, learning-rate schedules
# (public header framework/socfw/optim.h).
framework_libsocfw_la_SOURCES += \
	framework/train/optim.c \
	framework/train/schedule.c \
	framework/train/runtime.c framework/train/runtime_impl.h \
	framework/train/loop.c framework/train/loop.h \
	framework/train/preflight.c \
	framework/train/trainer.c \
	framework/train/retrieval.c \
	framework/train/adapters.c \
	framework/train/adapter_store.c \
	framework/train/continual.c \
	framework/train/l2sp.c \
	framework/train/settings.c framework/train/settings.h \
	framework/train/fingerprint.c \
	framework/train/chunks.c \
	framework/train/pretrain.c framework/train/mlm.c framework/train/mlm.h
socfwinclude_HEADERS += \
	framework/socfw/optim.h \
	framework/socfw/adapter_store.h \
	framework/socfw/continual.h \
	framework/socfw/runtime.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_optim
TESTS += tests/test_optim
endif
tests_test_optim_SOURCES = $(TEST_COMMON) tests/test_optim.c
tests_test_optim_CFLAGS = $(TEST_CFLAGS)
tests_test_optim_LDADD = $(TEST_LDADD)

# the one training loop on a toy objective
if HAVE_CRITERION
check_PROGRAMS += tests/test_loop
TESTS += tests/test_loop
endif
tests_test_loop_SOURCES = $(TEST_COMMON) tests/test_loop.c
tests_test_loop_CFLAGS = $(TEST_CFLAGS)
tests_test_loop_LDADD = $(TEST_LDADD)

# data-parallel training over MPI: two processes train as one
# (skipped when socfw is built without MPI)
check_PROGRAMS += tests/dist_train
tests_dist_train_SOURCES = tests/dist_train.c
tests_dist_train_LDADD = framework/libsocfw.la
TESTS += tests/dist-train.sh
EXTRA_DIST += tests/dist-train.sh

# the runtime end to end on tiny data
if HAVE_CRITERION
check_PROGRAMS += tests/test_train
TESTS += tests/test_train
endif
tests_test_train_SOURCES = $(TEST_COMMON) tests/test_train.c
tests_test_train_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_train_CFLAGS = $(TEST_CFLAGS)
tests_test_train_LDADD = $(TEST_LDADD)

# masked-LM pretraining of encoders (WordPiece vocabulary, BERT/RoBERTa)
if HAVE_CRITERION
check_PROGRAMS += tests/test_pretrain
TESTS += tests/test_pretrain
endif
tests_test_pretrain_SOURCES = $(TEST_COMMON) tests/test_pretrain.c
tests_test_pretrain_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_pretrain_CFLAGS = $(TEST_CFLAGS)
tests_test_pretrain_LDADD = $(TEST_LDADD)

# token classification (word tags, BIO) through the runtime
if HAVE_CRITERION
check_PROGRAMS += tests/test_tagging
TESTS += tests/test_tagging
endif
tests_test_tagging_SOURCES = $(TEST_COMMON) tests/test_tagging.c
tests_test_tagging_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_tagging_CFLAGS = $(TEST_CFLAGS)
tests_test_tagging_LDADD = $(TEST_LDADD)

# the pipeline's sections as typed settings: adapters key by key, their
# defaults per type, where their errors point (framework/train/settings.c)
if HAVE_CRITERION
check_PROGRAMS += tests/test_settings
TESTS += tests/test_settings
endif
tests_test_settings_SOURCES = $(TEST_COMMON) tests/test_settings.c
tests_test_settings_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_settings_CFLAGS = $(TEST_CFLAGS)
tests_test_settings_LDADD = $(TEST_LDADD)

# per-task adapters through the runtime: files, merge, composition, errors
if HAVE_CRITERION
check_PROGRAMS += tests/test_adapters
TESTS += tests/test_adapters
endif
tests_test_adapters_SOURCES = $(TEST_COMMON) tests/test_adapters.c
tests_test_adapters_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_adapters_CFLAGS = $(TEST_CFLAGS)
tests_test_adapters_LDADD = $(TEST_LDADD)

# adapters from the command line: PEFT files, merge, composition
TESTS += tests/adapter-cli.sh
EXTRA_DIST += tests/adapter-cli.sh

# the runtime's inference from several threads (socfw serve --workers)
if HAVE_CRITERION
check_PROGRAMS += tests/test_runtime_threads
TESTS += tests/test_runtime_threads
endif
tests_test_runtime_threads_SOURCES = $(TEST_COMMON) tests/test_runtime_threads.c
tests_test_runtime_threads_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_runtime_threads_CFLAGS = $(TEST_CFLAGS)
tests_test_runtime_threads_LDADD = $(TEST_LDADD)

# one forward pass for the rows of several adapters: the model's
# socfw_context_forward_runs and the engine's batches of different tasks
if HAVE_CRITERION
check_PROGRAMS += tests/test_mixed_batch
TESTS += tests/test_mixed_batch
endif
tests_test_mixed_batch_SOURCES = $(TEST_COMMON) tests/test_peft_util.h \
	tests/test_peft_util.c tests/test_mixed_batch.c
tests_test_mixed_batch_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_mixed_batch_CFLAGS = $(TEST_CFLAGS)
tests_test_mixed_batch_LDADD = $(TEST_LDADD)

# continual re-fine-tuning: version store, replay, held-out split, gate,
# L2-SP (framework/train/continual.c, adapter_store.c, l2sp.c)
if HAVE_CRITERION
check_PROGRAMS += tests/test_continual
TESTS += tests/test_continual
endif
tests_test_continual_SOURCES = $(TEST_COMMON) tests/test_continual.c
tests_test_continual_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_test_continual_CFLAGS = $(TEST_CFLAGS)
tests_test_continual_LDADD = $(TEST_LDADD)

# continual re-fine-tuning from the command line: promote, refuse,
# rollback, serve reload, bad input
TESTS += tests/continual-cli.sh
EXTRA_DIST += tests/continual-cli.sh
