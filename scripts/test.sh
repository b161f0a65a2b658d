#!/usr/bin/env bash
# All tests, as CI runs them: install what is missing, build with warnings as errors, run the
# unit tests (GoogleTest) and the end-to-end tests (pytest over real loopback sockets and real
# processes), the interop tests against real peers (openssl s_server, nginx, HAProxy, Java,
# Jetty), then unit and end-to-end again in an ASan+UBSan build, unit and a subset of
# end-to-end in a ThreadSanitizer build, each libFuzzer target for 25 s (scripts/fuzz.sh), and
# check the formatting.
#   --quick   skip the sanitizer builds and the fuzzing
set -euo pipefail
source "$(dirname "$0")/lib.sh"
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "tlslab: error: unknown flag '$arg'; test.sh accepts --quick" >&2; exit 2 ;;
  esac
done
ensure_packages "${TLSLAB_PACKAGES[@]}"
cd "$TLSLAB_ROOT"

run_suite() {  # run_suite BUILD_DIR LABEL
  local dir="$1" label="$2"
  log "unit tests ($label)"
  ctest --test-dir "$dir" --output-on-failure --timeout 120
  log "end-to-end tests ($label)"
  TLSLAB_BIN="$dir/tlslab" "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider tests/e2e
}

# An existing build directory keeps its cache (build() configures once): switch the Python
# module on there as well.
if [ -f build/CMakeCache.txt ] && ! grep -q '^TLSLAB_BUILD_PYTHON:BOOL=ON' build/CMakeCache.txt; then
  cmake build -DTLSLAB_BUILD_PYTHON=ON -DPython3_EXECUTABLE="$TLSLAB_PYTHON" >/dev/null
fi
build build -DTLSLAB_WERROR=ON -DTLSLAB_BUILD_TESTS=ON -DTLSLAB_BUILD_BENCH=ON \
  -DTLSLAB_BUILD_PYTHON=ON
run_suite build release
log "Python tests (the tlslab package, experiments, notebooks; release build only)"
PYTHONPATH=build/python TLSLAB_BIN=build/tlslab "$TLSLAB_PYTHON" -m pytest -q \
  -p no:cacheprovider tests/python
log "interop tests (real openssl s_server, nginx, HAProxy, Java, Jetty)"
"$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider tests/interop

if [ "$quick" -eq 0 ]; then
  # detect_leaks: every OpenSSL object is owned by RAII; a leak is a bug.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  build build-asan -DTLSLAB_WERROR=ON -DTLSLAB_SANITIZE=ON -DTLSLAB_BUILD_TESTS=ON \
    -DTLSLAB_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
  run_suite build-asan asan+ubsan
  unset ASAN_OPTIONS UBSAN_OPTIONS

  # ThreadSanitizer: the engines' threads, the counters read across threads, the monitor.
  # halt_on_error: a race is a failure (exit 66), and conftest's markers catch the report.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  build build-tsan -DTLSLAB_WERROR=ON -DTLSLAB_SANITIZE=thread -DTLSLAB_BUILD_TESTS=ON \
    -DTLSLAB_BUILD_BENCH=OFF -DTLSLAB_BUILD_PYTHON=OFF
  log "unit tests (tsan)"
  ctest --test-dir build-tsan --output-on-failure --timeout 300
  log "end-to-end tests (tsan: lifecycle, hostile peers, runtime failures, threads)"
  TLSLAB_BIN=build-tsan/tlslab "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider \
    tests/e2e/test_lifecycle.py tests/e2e/test_hostile_peers.py \
    tests/e2e/test_runtime_failures.py tests/e2e/test_tsan_threads.py
  unset TSAN_OPTIONS

  log "fuzzing (short form: 25 s per target; scripts/fuzz.sh --long for 30 min each)"
  "$TLSLAB_ROOT/scripts/fuzz.sh"
fi

log "formatting (clang-format, Google style)"
files=$(git ls-files '*.cc' '*.h')
clang-format --dry-run -Werror $files
log "Python style (flake8)"
flake8 --max-line-length 100 bindings/tlslab experiments tests/python
log "all tests passed"
