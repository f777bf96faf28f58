# plugins/: loadable task plugins (one folder each).
include plugins/sentiment/local.mk
include plugins/dialog/local.mk
include plugins/recommend/local.mk
include plugins/adcopy/local.mk
include plugins/privacy/local.mk
include plugins/nlu/local.mk
