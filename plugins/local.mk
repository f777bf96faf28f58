# plugins/: loadable task plugins (one folder each).
include plugins/privacy/local.mk
