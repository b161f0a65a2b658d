#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang with ASan+UBSan) in build-fuzz and runs each
# for a bounded time from its seed corpus (tests/fuzz/corpus/NAME). A crash leaves its input in
# build-fuzz/findings/ and fails the script.
#   scripts/fuzz.sh              short form, as CI runs it: 20 s per target
#   scripts/fuzz.sh --long       long form, for a local run: 30 min per target
#   scripts/fuzz.sh --seconds N  any other bound; --only NAME runs one target
# New inputs found go to build-fuzz/corpus/NAME (not to the repository: add a seed there by
# hand when it covers something new, keeping the seed corpus small).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds=20
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --long) seconds=1800 ;;
    --seconds) seconds="${2:?--seconds needs a number}"; shift ;;
    --only) only="${2:?--only needs a target name}"; shift ;;
    *) echo "tlslab: error: unknown flag '$1'; fuzz.sh accepts --long, --seconds N, --only NAME" >&2
       exit 2 ;;
  esac
  shift
done
ensure_packages clang libclang-rt-14-dev "${TLSLAB_BUILD_PACKAGES[@]}"
cd "$TLSLAB_ROOT"
CC=clang CXX=clang++ configure build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DTLSLAB_BUILD_FUZZ=ON -DTLSLAB_WERROR=OFF -DTLSLAB_BUILD_TESTS=OFF -DTLSLAB_BUILD_BENCH=OFF \
  -DTLSLAB_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
build build-fuzz
mkdir -p build-fuzz/findings
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for target in server_conn stats_command duration flags targets_file http_response; do
  [ -n "$only" ] && [ "$only" != "$target" ] && continue
  corpus="build-fuzz/corpus/$target"
  mkdir -p "$corpus"
  log "fuzzing $target for ${seconds} s"
  # -max_total_time bounds the run; -timeout bounds one input (a hang is a finding too).
  "build-fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$target-" \
    "$corpus" "tests/fuzz/corpus/$target" 2>&1 | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY)' || true
  test "${PIPESTATUS[0]}" -eq 0
done
log "fuzzing passed"
