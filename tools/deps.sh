#!/bin/sh
# Install what socfw needs to build and test on Debian (run as root, or
# with sudo available).  Packages already present are left alone.
set -e
PKGS="build-essential autoconf automake libtool pkg-config \
libltdl-dev libyaml-dev libopenblas-dev libcurl4-openssl-dev \
libjansson-dev libutf8proc-dev libpcre2-dev libsodium-dev libsqlite3-dev zlib1g-dev \
libmicrohttpd-dev liblinear-dev liblbfgs-dev libcriterion-dev libedit-dev python3 clang \
libclang-rt-dev libopenmpi-dev openmpi-bin"
# (libedit-dev is optional: line editing in socfw chat; Open MPI:
# data-parallel training across processes, tests/dist-train.sh; python3's
# standard library plays the hub and the HTTP client in
# tests/hub-pull.sh and tests/serve-http.sh; clang with libFuzzer builds the
# fuzz targets that make check runs, tests/fuzz/local.mk: ~100 MB, so that a
# parser's fuzz target that stops building or crashes fails the suite)
# test-only extras: PyTorch for fixture scripts and benchmarks (tests never
# need it at run time), Chromium for the headless test of serve's web page
# (tests/serve-webui.sh skips without it)
[ "${SOCFW_DEPS_EXTRA:-0}" = 1 ] && PKGS="$PKGS python3-torch python3-numpy chromium"

missing=""
for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
                missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "socfw: installing:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
