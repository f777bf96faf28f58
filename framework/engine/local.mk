# engine: the inference host over one runtime - shared weights, each
# task's adapter and head, and a pool of contexts - that the chain's
# hooks, `socfw predict`, `chat` and `serve` run on.  Internal header
# framework/engine/engine_internal.h; no training code.
framework_libsocfw_la_SOURCES += \
	framework/engine/engine_internal.h \
	framework/engine/engine.c \
	framework/engine/scratch.c \
	framework/engine/batch.c \
	framework/engine/infer.c \
	framework/engine/tag.c \
	framework/engine/generate.c \
	framework/engine/decode_batch.c \
	framework/engine/chain.c
