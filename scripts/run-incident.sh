#!/usr/bin/env bash
# The main job: install what is missing, build, and reproduce the incident with its embedded
# defaults (600 backends, inter 2s, http checks, 20 s per pair). Extra flags go to
# `tlslab incident` (see `build/tlslab incident --help`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_packages "${TLSLAB_PACKAGES[@]}"
build "$TLSLAB_ROOT/build" -DTLSLAB_BUILD_TESTS=OFF -DTLSLAB_BUILD_BENCH=OFF
exec "$TLSLAB_ROOT/build/tlslab" incident "$@"
