# hub: `socfw pull` and hub:ORG/NAME backbones over libcurl (socfw/hub.h)
framework_libsocfw_la_SOURCES += framework/hub/hub.c
socfwinclude_HEADERS += framework/socfw/hub.h

# `socfw pull` end to end against a local stand-in for the hub
TESTS += tests/hub-pull.sh
EXTRA_DIST += tests/hub-pull.sh tests/hub-server.py
