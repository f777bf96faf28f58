# framework/: libsocfw and the socfw CLI.  Each component keeps its own
# fragment; this one only includes them.
include framework/core/local.mk
include framework/io/local.mk
include framework/hub/local.mk
include framework/nn/local.mk
include framework/model/local.mk
include framework/arch/local.mk
include framework/peft/local.mk
include framework/tokenizer/local.mk
include framework/generate/local.mk
include framework/dist/local.mk
include framework/train/local.mk
include framework/engine/local.mk
include framework/data/local.mk
include framework/report/local.mk
include framework/monitor/local.mk
include framework/cli/local.mk
