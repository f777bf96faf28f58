# peft: parameter-efficient adapters (LoRA, IA3, bottleneck) at the
# block's named linear sites.  Public header: socfw/peft.h.
framework_libsocfw_la_SOURCES += \
	framework/peft/peft_internal.h \
	framework/peft/adapter_impl.h \
	framework/peft/adapter.c \
	framework/peft/sites.c \
	framework/peft/merge.c \
	framework/peft/peft_file.c
socfwinclude_HEADERS += framework/socfw/peft.h
