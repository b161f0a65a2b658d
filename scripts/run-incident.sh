#!/usr/bin/env bash
# The main job: install what is missing (the compiler and the libraries the command links), build
# the command, and reproduce the incident with its embedded defaults (600 backends, inter 2s,
# http checks, 20 s per pair). Extra flags go to
# `tlslab incident` (see `build/tlslab incident --help`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_packages "${TLSLAB_BUILD_PACKAGES[@]}"
# A build/ that scripts/test.sh configured keeps its options (tests, Python): the main job builds
# only the command there. A new one is configured without tests, which need more packages.
if [ ! -f "$TLSLAB_ROOT/build/CMakeCache.txt" ]; then
  configure "$TLSLAB_ROOT/build" -DTLSLAB_BUILD_TESTS=OFF -DTLSLAB_BUILD_BENCH=OFF
fi
build "$TLSLAB_ROOT/build" tlslab
exec "$TLSLAB_ROOT/build/tlslab" incident "$@"
