"""Regression gates whose reference is a benchmark: the harness-overhead ratio of
experiments/gates/harness.toml (the checker's CPU per check in `tlslab run` over tlslab_bench's
in-memory CPU of the same handshake and close_notify; docs/ci-gating.md 1.3).

Real runs on loopback and real tlslab_bench measurements, short: a gate that passes against a
baseline it just saved, three more unchanged invocations that must not fail, and an injected
regression that must: a CPU delay added to every connect() of the checker by an LD_PRELOAD shim
compiled here, the harness getting slower while the TLS it drives does not. Malformed reference
tables are exit 2 and one line. The long form, the committed gates run 20 times against the
committed baseline, runs with TLSLAB_GATE_HARNESS_RUNS=20 (about 8 minutes; docs/ci-gating.md 4).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tlslab
from conftest import REPO
from tlslab import _gate_file
from tlslab import gate as gate_module
from tlslab._gate_stats import compare

HARNESS = REPO / "experiments/gates/harness.toml"
BENCH = "BM_Handshake/resumed:1/tls13:0/p256:1"
CLOSE = "BM_CloseNotify/tls13:0/p256:1/iterations:1000"
GATE = f"""
[[gate]]
name = "harness"
kind = "regression"
why = "the harness must stay cheap next to the TLS it drives"
figure = "checker_cpu_us_per_check"
repetitions = 3
tolerance = 1.0
[gate.run]
server_profile = "lenient"
close = "close-notify"
check = "connect"
tls = "1.2"
key = "p256"
backends = 4
inter = "20ms"
duration = "500ms"
[gate.reference]
kind = "benchmark"
figure = "client_us"
command = ["$TLSLAB_DIR/tlslab_bench", "--benchmark_min_time=0.05",
           "--benchmark_filter=^BM_(Handshake/resumed:1|CloseNotify)/tls13:0/p256:1(/|$)"]
name = ["{BENCH}", "{CLOSE}"]
"""
# Burns this much of the calling thread's CPU in every connect(): the checker opens one
# connection per check (lab/net.cc), the in-memory benchmarks none. 1,500 us is about four times
# the whole checker CPU of a resumed TLS 1.2 check here (~350 us): the ratio grows about fivefold,
# far beyond the test's tolerance of +100 %, which in turn is twice the largest swing of an
# unchanged build seen on a busy CI machine (+56 % over 500 ms runs).
SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
#include <time.h>

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  int (*real)(int, const struct sockaddr*, socklen_t) =
      (int (*)(int, const struct sockaddr*, socklen_t))dlsym(RTLD_NEXT, "connect");
  struct timespec a, b;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do {
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 1500000L);
  return real(fd, addr, len);
}
"""


def gate(*args, env: dict[str, str] | None = None, timeout: float = 300):
    cmd = [str(tlslab.tlslab_bin()), "gate", *map(str, args)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout} s")


def write(tmp_path: Path, text: str, name: str = "gates.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def delay_shim(tmp_path: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc or gcc) to build the delay shim")
    source, shim = tmp_path / "delay.c", tmp_path / "delay.so"
    source.write_text(SHIM)
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", shim, source, "-ldl"],
                   check=True, timeout=60, capture_output=True)
    return shim


def test_passes_unchanged_and_fails_with_a_delay_in_the_harness(tmp_path):
    gates = write(tmp_path, GATE)
    baseline = tmp_path / "base.json"
    for extra in ([], ["--append"]):  # a baseline pooled over two invocations
        saved = gate(gates, "--save-baseline", baseline, *extra)
        assert saved.returncode == 0, saved.stderr
    entry = json.loads(baseline.read_text())["gates"]["harness"]
    assert entry["key"]["reference"] == {"benchmark": [BENCH, CLOSE], "figure": "client_us"}
    assert len(entry["values"]) == 6 and all(v > 1 for v in entry["values"]), entry["values"]
    # Unchanged: three more invocations, none may fail (3 against 6 repetitions can reach
    # p = 0.024, so each could).
    for i in range(3):
        same = gate(gates, "--baseline", baseline)
        assert same.returncode == 0, f"unchanged invocation {i + 1} failed:\n{same.stderr}"
    # The harness made slower by a delay in every connect(): the ratio grows, the gate fails.
    env = {**os.environ, "LD_PRELOAD": str(delay_shim(tmp_path))}
    junit, md = tmp_path / "out.xml", tmp_path / "out.md"
    slow = gate(gates, "--baseline", baseline, "--junit", junit, "--markdown", md, env=env)
    assert slow.returncode == 1, slow.stderr
    failure = next(ET.parse(junit).getroot().iter("failure"))
    assert "worse than the baseline" in failure.get("message"), failure.get("message")
    text = md.read_text()
    assert f"(client_us of {BENCH} + {CLOSE})" in text, text
    assert "tlslab_bench --benchmark_min_time=0.05" in text, text  # the reference's command


BAD_REFERENCES = [
    ("kind = 'simulate'\n", "'kind' must be \"run\" (the default) or \"benchmark\""),
    ("kind = 'benchmark'\nname = 'BM_x'\n", "'command' must be a list of strings"),
    ("kind = 'benchmark'\ncommand = ['b']\n", "needs 'name'"),
    ("kind = 'benchmark'\ncommand = ['b']\nname = []\n", "needs 'name'"),
    ("kind = 'benchmark'\ncommand = ['b']\nname = 'BM_x'\nfile = 'x.json'\n",
     "unknown key 'file' for a benchmark reference"),
    ("kind = 'benchmark'\ncommand = ['b']\nname = 'BM_x'\nfigure = 3\n", "'figure' must be"),
]


@pytest.mark.parametrize("table,message", BAD_REFERENCES, ids=[m for _, m in BAD_REFERENCES])
def test_malformed_benchmark_references_are_one_line_and_exit_2(tmp_path, table, message):
    gates = write(tmp_path, "[[gate]]\nname = 'x'\nkind = 'regression'\n"
                  "figure = 'checker_cpu_us_per_check'\n[gate.run]\nbackends = 1\n"
                  "[gate.reference]\n" + table)
    done = gate(gates, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_a_reference_benchmark_that_does_not_exist_is_bad_input(tmp_path):
    gates = write(tmp_path, GATE.replace(f'"{CLOSE}"', '"BM_Nope"').replace(
        'duration = "500ms"', 'duration = "200ms"'))
    done = gate(gates, "--save-baseline", tmp_path / "b.json", timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "no benchmark named 'BM_Nope'" in last and "Traceback" not in done.stderr, last


def test_the_repositorys_harness_gates_are_valid():
    # The file scripts/test.sh checks, against its committed baseline, validated as the gate
    # does before measuring anything: the baseline measured the same figure over the same
    # reference benchmarks, and has enough repetitions for each gate to be able to fail.
    gf = _gate_file.load(HARNESS)
    assert gf.baseline == REPO / "experiments/gates/harness.baseline.json"
    baseline = gate_module._load_baseline(gf.baseline)
    gate_module._validate(gf, baseline, saving=False)  # GateFileError (exit 2) otherwise
    assert set(baseline) == {"harness overhead, TLS 1.2 resumed", "harness overhead, TLS 1.3 full"}
    assert all(len(e["values"]) >= 15 for e in baseline.values())
    assert all(_gate_file.is_benchmark_reference(g) for g in gf.gates)


@pytest.mark.skipif(not os.environ.get("TLSLAB_GATE_HARNESS_RUNS"),
                    reason="long form (about 25 s per run): set TLSLAB_GATE_HARNESS_RUNS=20")
def test_the_harness_gates_do_not_flap_and_catch_a_regression(tmp_path, capsys):
    # experiments/gates/harness.toml against its committed baseline, N times: how often an
    # unchanged build fails (each gate counted), and how often each invocation's real
    # repetitions, made 20 % and 100 % worse, would have been caught (the gate's own comparison,
    # compare(), with the gate's tolerance: a 20 % regression is below the 50 % it allows).
    runs = int(os.environ["TLSLAB_GATE_HARNESS_RUNS"])
    gf = _gate_file.load(HARNESS)
    stored = json.loads((REPO / "experiments/gates/harness.baseline.json").read_text())["gates"]
    failures = {1.0: 0, 1.2: 0, 2.0: 0}
    trials, changes = 0, []
    for i in range(runs):
        out = tmp_path / f"run{i}.json"
        # Measures, compares with the committed baseline (exit 0 or 1), and keeps the values.
        done = gate(HARNESS, "--save-baseline", out, timeout=600)
        assert done.returncode in (0, 1) and out.exists(), done.stderr
        values = json.loads(out.read_text())["gates"]
        for g in gf.gates:
            now, base = values[g.name]["values"], stored[g.name]["values"]
            kw = {"better": g.better, "tolerance": g.tolerance, "alpha": g.alpha}
            for factor in failures:
                failures[factor] += compare(base, [v * factor for v in now], **kw).failed
            changes.append(compare(base, now, **kw).change)
            trials += 1
    with capsys.disabled():
        print(f"\nharness gates, {runs} unchanged invocations x {len(gf.gates)} gates: "
              f"{failures[1.0]}/{trials} false failures; injected 20 %: {failures[1.2]}/"
              f"{trials} detected, 100 %: {failures[2.0]}/{trials} detected; unchanged medians "
              f"{min(changes):+.0%} to {max(changes):+.0%} from the baseline's")
    assert failures[1.0] <= max(1, trials // 10)
    assert failures[2.0] >= trials * 0.6
