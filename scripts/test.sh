#!/usr/bin/env bash
# All tests, as CI runs them: install what is missing, build with warnings as errors, run the
# unit tests (GoogleTest) and the end-to-end tests (pytest over real loopback sockets and real
# processes), the interop tests against real peers (openssl s_server, nginx, HAProxy, Java,
# Jetty), then unit and end-to-end again in an ASan+UBSan build, unit and a subset of
# end-to-end in a ThreadSanitizer build, each libFuzzer target for 20 s (scripts/fuzz.sh), and
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
ensure_packages "${TLSLAB_BUILD_PACKAGES[@]}" "${TLSLAB_TEST_PACKAGES[@]}"
cd "$TLSLAB_ROOT"

run_suite() {  # run_suite BUILD_DIR LABEL [PYTEST_ARGS...]
  local dir="$1" label="$2"
  shift 2
  log "unit tests ($label)"
  # --no-tests=error: a build configured without tests must fail here, not pass silently.
  ctest --test-dir "$dir" --output-on-failure --timeout 120 --no-tests=error
  log "end-to-end tests ($label)"
  TLSLAB_BIN="$dir/tlslab" "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider --durations=10 \
    tests/e2e "$@"
}

# Release (-O3) with -Werror: GCC's -O3-only warnings fail here, not on a user's first build.
configure build -DCMAKE_BUILD_TYPE=Release -DTLSLAB_WERROR=ON -DTLSLAB_BUILD_TESTS=ON \
  -DTLSLAB_BUILD_BENCH=ON -DTLSLAB_BUILD_PYTHON=ON
build build
run_suite build release
log "Python tests (the tlslab package, experiments, notebooks; release build only)"
PYTHONPATH=build/python TLSLAB_BIN=build/tlslab "$TLSLAB_PYTHON" -m pytest -q \
  -p no:cacheprovider tests/python
log "gates (tlslab gate: the incident's figures at a small scale, resumed/full handshake cost, the harness overhead; ~40 s)"
mkdir -p build/gate
build/tlslab gate experiments/gates/incident.toml --junit build/gate/junit.xml \
  --markdown build/gate/summary.md
build/tlslab gate experiments/gates/harness.toml --junit build/gate/harness-junit.xml \
  --markdown build/gate/harness-summary.md
# The performance goals (docs/performance.md) are judged by the long form (tests/bench/peers.py
# without --short, ~10 min); CI's short form reports the table and fails only on gross
# regressions (1.5x a goal).
log "peers benchmark, short form (CPU per check and handshake next to HAProxy 2.6 and nginx; ~1 min)"
if command -v haproxy >/dev/null && command -v nginx >/dev/null; then
  "$TLSLAB_PYTHON" tests/bench/peers.py --short --json-out build/gate/peers.json
else
  echo "peers benchmark skipped: haproxy or nginx is missing (both are in TLSLAB_TEST_PACKAGES)" >&2
fi
log "install tests (cmake --install into a scratch prefix; the .deb when CI=true)"
TLSLAB_BUILD_DIR=build "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider tests/install
log "interop tests (real openssl s_server, nginx, HAProxy, Java, Jetty)"
"$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider tests/interop
log "network path tests (namespaces, veth, netem; root only, each skip says why; ~40 s)"
TLSLAB_BIN=build/tlslab "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider tests/netpath

if [ "$quick" -eq 0 ]; then
  # detect_leaks: every OpenSSL object is owned by RAII; a leak is a bug.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  configure build-asan -DTLSLAB_WERROR=ON -DTLSLAB_SANITIZE=ON -DTLSLAB_BUILD_TESTS=ON \
    -DTLSLAB_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
  build build-asan
  # Not the comparisons an instrumented build distorts: test_simulate's simulated-vs-measured CPU
  # (its sim engine runs in the unit tests above), and test_scale's peak RSS per backend (ASan's
  # shadow memory and quarantine) and 1,500-backend first round (a Debug+ASan handshake costs
  # several times the Release one). Their code paths run in the other e2e tests here.
  # (-k, not --deselect: node ids are relative to tests/e2e, where pytest.ini makes the rootdir.)
  run_suite build-asan asan+ubsan -k "not test_simulated_matches_measured and not \
test_first_round_outlasting_an_interval and not test_rss_per_backend_bound"
  unset ASAN_OPTIONS UBSAN_OPTIONS

  # ThreadSanitizer: the engines' threads, the counters read across threads, the monitor.
  # halt_on_error: a race is a failure (exit 66), and conftest's markers catch the report.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  configure build-tsan -DTLSLAB_WERROR=ON -DTLSLAB_SANITIZE=thread -DTLSLAB_BUILD_TESTS=ON \
    -DTLSLAB_BUILD_BENCH=OFF -DTLSLAB_BUILD_PYTHON=ON
  build build-tsan
  log "unit tests (tsan)"
  ctest --test-dir build-tsan --output-on-failure --timeout 300 --no-tests=error
  log "end-to-end tests (tsan: lifecycle, hostile peers, runtime failures, threads)"
  TLSLAB_BIN=build-tsan/tlslab "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider \
    tests/e2e/test_lifecycle.py tests/e2e/test_hostile_clients.py \
    tests/e2e/test_runtime_failures.py tests/e2e/test_tsan_threads.py
  # The binding's threads (stats() against close() from several Python threads): the module is
  # built with TSan; the interpreter is not, so the runtime comes in first, by LD_PRELOAD.
  log "Python binding under tsan (Server.stats/close from threads)"
  LD_PRELOAD="$(gcc -print-file-name=libtsan.so)" PYTHONPATH=build-tsan/python \
    TLSLAB_BIN=build-tsan/tlslab "$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider \
    tests/python/test_server.py -k threads
  unset TSAN_OPTIONS

  log "fuzzing (short form: 20 s per target; scripts/fuzz.sh --long for 30 min each)"
  "$TLSLAB_ROOT/scripts/fuzz.sh"
fi

log "citations (every docs/NAME.md SECTION and repository path resolves in the repository)"
"$TLSLAB_PYTHON" -m pytest -q -p no:cacheprovider tests/docs
log "formatting (clang-format, Google style)"
files=$(git ls-files '*.cc' '*.h')
clang-format --dry-run -Werror $files
log "Python style (flake8)"
flake8 --max-line-length 100 bindings/tlslab bindings/_build_info_installed.py experiments \
  tests/python tests/install tests/docs tests/bench tests/netpath tests/e2e tests/interop
log "all tests passed"
