# tokenizer: byte-level BPE, WordPiece, SentencePiece BPE; HF and GGUF
# loaders; training.  Public header: socfw/tokenizer.h.
framework_libsocfw_la_SOURCES += \
	framework/tokenizer/tok_internal.h \
	framework/tokenizer/tokenizer.c \
	framework/tokenizer/bpe.c \
	framework/tokenizer/wordpiece.c \
	framework/tokenizer/spm.c \
	framework/tokenizer/hf.c \
	framework/tokenizer/gguf_vocab.c \
	framework/tokenizer/train.c \
	framework/tokenizer/save.c
socfwinclude_HEADERS += framework/socfw/tokenizer.h

if HAVE_CRITERION
check_PROGRAMS += tests/test_tokenizer
TESTS += tests/test_tokenizer
endif
tests_test_tokenizer_SOURCES = $(TEST_COMMON) tests/test_tokenizer.c \
	tests/test_tokenizer_train.c
tests_test_tokenizer_CFLAGS = $(TEST_CFLAGS)
tests_test_tokenizer_LDADD = $(TEST_LDADD)
