# Shared by the scripts: install what is missing from Debian's packages, then configure and
# build. Sourced, not run. Safe to run again: it installs and rebuilds only what is missing.

TLSLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Debian's interpreter: the one that sees Debian's python3-* packages (a pyenv python3 earlier
# on PATH would not). Override with TLSLAB_PYTHON=/path/to/python3.
TLSLAB_PYTHON="${TLSLAB_PYTHON:-/usr/bin/python3}"

# What building the `tlslab` command needs: all the main job installs.
TLSLAB_BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config git
  libssl-dev libboost-program-options-dev libboost-dev nlohmann-json3-dev
)
# What the tests need on top (scripts/test.sh).
TLSLAB_TEST_PACKAGES=(
  libgtest-dev libbenchmark-dev
  python3 python3-pytest
  # the Python side (bindings/, experiments/, tests/python/)
  pybind11-dev python3-dev python3-numpy python3-pandas python3-matplotlib python3-tqdm
  python3-nbclient python3-ipykernel python3-nbconvert flake8
  python3-yaml  # tests/python/test_gate_docs.py reads the CI examples of docs/ci-gating.md
  python3-distributed  # tests/python/test_cluster.py: sweeps on a real dask-scheduler + workers
  # tests/e2e/test_pcap.py reads --pcap files with tshark
  tshark
  # tests/e2e/test_metrics_prometheus.py scrapes a run with a real Prometheus
  prometheus
  clang-format
  # packaging: dpkg-shlibdeps for `cpack -G DEB` (tests/install)
  dpkg-dev file
  # Real peers for tests/interop: they decide what the profiles claim.
  openssl nginx-light haproxy openjdk-17-jdk-headless libjetty9-java
  # tests/netpath: namespaces, veth and tc (iproute2); the loss rule where the kernel has no netem
  iproute2 nftables
)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "tlslab: error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q >/dev/null
  # The tests start nginx and HAProxy themselves, on loopback ports of their own: keep the
  # packages' post-install scripts from starting system-wide daemons (policy-rc.d, exit 101).
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && added_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ "$added_policy" -eq 1 ] && $sudo rm -f "$policy"
  return $status
}

# configure DIR [cmake options...]: configure DIR with these options, also when it exists and
# was configured with others (by the other script, or by hand): the options asked for always
# hold, so `scripts/test.sh` after `scripts/run-incident.sh` builds and runs the tests. A
# directory configured by hand keeps its generator (CMake refuses to switch one).
configure() {
  local dir="$1"; shift
  local generator=(-G Ninja)
  if [ -f "$dir/CMakeCache.txt" ]; then
    generator=()
  fi
  log "configuring $dir"
  # The interpreter is named even when the Python module is off: no warning for that.
  cmake --no-warn-unused-cli -S "$TLSLAB_ROOT" -B "$dir" "${generator[@]}" \
    -DPython3_EXECUTABLE="$TLSLAB_PYTHON" "$@" >/dev/null
}

# build DIR [TARGET]: build everything in DIR, or one target.
build() {
  local dir="$1" target=()
  [ $# -ge 2 ] && target=(--target "$2")
  log "building $dir ${target[*]}"
  # The progress lines are dropped; with pipefail the pipeline fails when the build fails (the
  # filter itself always succeeds, even when it has nothing to print).
  cmake --build "$dir" "${target[@]}" --parallel "$(nproc)" 2>&1 |
    { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
}
