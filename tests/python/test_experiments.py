"""The experiment scripts and the CI gate run end to end, at a tiny scale."""

from __future__ import annotations

import csv
import importlib
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import EXPERIMENTS, python_env


def script(name: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(EXPERIMENTS / name), *args]
    try:
        return subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=python_env(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {timeout} s")


def test_reproduce_incident(tmp_path):
    proc = script(
        "reproduce_incident.py",
        "--backends",
        "5",
        "--inter",
        "500ms",
        "--duration",
        "3s",
        "--out-dir",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    for name in (
        "incident.jsonl",
        "incident.csv",
        "incident.md",
        "incident.png",
        "incident.svg",
        "incident_time_series.png",
        "incident_time_series.svg",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = {
        (r["checker_profile"], r["server_profile"]): r
        for r in csv.DictReader((tmp_path / "incident.csv").open())
    }
    assert float(rows["haproxy-1.7.3", "strict"]["resumption_ratio"]) == 0.0
    assert float(rows["haproxy-1.7.4", "strict"]["resumption_ratio"]) == 1.0
    assert (
        "| haproxy-1.7.3 | strict | http | quiet-reset |" in (tmp_path / "incident.md").read_text()
    )
    assert "key rate/s" in proc.stdout
    # One full handshake per check: 5 backends / 500 ms, within a check of the 1 s window.
    m = re.search(
        r"strict pays ([\d.]+) full handshakes/s \(one per check would be 10.0/s\)", proc.stdout
    )
    assert m and 8.0 <= float(m.group(1)) <= 12.0, proc.stdout[-500:]


def test_sweep_backends_dry_run_and_a_tiny_sweep(tmp_path):
    dry = script("sweep_backends.py", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    points = dry.stdout.splitlines()
    assert len(points) == 9 * 2 * 2 * 2  # 10..5000 x checkers x servers x TLS versions
    assert points[0] == "backends=10 checker_profile=haproxy-1.7.3 server_profile=strict tls=1.2"
    assert points[-1].startswith("backends=5000 ")
    proc = script(
        "sweep_backends.py",
        "--backends",
        "4,8",
        "--servers",
        "strict",
        "--tls",
        "1.2",
        "--inter",
        "500ms",
        "--duration",
        "3s",
        "--out-dir",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    for name in (
        "sweep_backends.jsonl",
        "sweep_backends.csv",
        "sweep_backends_saturation.csv",
        "sweep_backends.png",
        "sweep_backends.svg",
        "sweep_backends_resumption.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    knees = list(csv.DictReader((tmp_path / "sweep_backends_saturation.csv").open()))
    assert len(knees) == 2 and all(float(k["one_core_backends_estimate"]) > 0 for k in knees)
    assert "one core at ~ backends" in proc.stdout


@pytest.fixture
def gate():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        yield importlib.import_module("ci_gate")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def test_gate_rules(gate):
    """evaluate() without runs: bounds, relative gates, a missing figure fails."""

    def result(**figures):
        return SimpleNamespace(
            config=SimpleNamespace(to_argv=lambda: ["--backends", "1"]),
            close_kinds={"reset": 3},
            sessions_removed_total={"reset": 3},
            key_rate_per_s=1.0,
            resumption_ratio=figures.get("resumption_ratio"),
            checks_total=3,
            check_failures_total=0,
            **{k: v for k, v in figures.items() if k != "resumption_ratio"},
        )

    results = {
        "a": result(resumption_ratio=1.0, server_cpu_us_per_check=900.0),
        "b": result(resumption_ratio=0.5, server_cpu_us_per_check=100.0),
    }
    gates = [
        gate.Gate("resumes", {"k": "a"}, "resumption_ratio", ">=", 0.99, "why a"),
        gate.Gate("b resumes", {"k": "b"}, "resumption_ratio", ">=", 0.99, "why b"),
        gate.Gate(
            "ratio",
            {"k": "a"},
            "server_cpu_us_per_check",
            "<=",
            5.0,
            "why r",
            relative_to={"k": "b"},
        ),
        gate.Gate("missing", {"k": "a"}, "no_such_figure", "<=", 1, "why m"),
    ]
    outcomes = gate.evaluate(gates, results, key=lambda c: c["k"])
    assert [o.passed for o in outcomes] == [True, False, False, False]
    assert outcomes[2].value == pytest.approx(9.0)
    text = gate.report(outcomes)
    assert "FAIL  b resumes" in text and "needs >= 0.99" in text and "why b" in text
    assert "1 of 4 gates passed; 3 failed" in text


def test_ci_gate_passes_and_reports_a_failure_readably(tmp_path):
    report = tmp_path / "gate.json"
    proc = script(
        "ci_gate.py",
        "--backends",
        "10",
        "--duration",
        "3s",
        "--demo-failure",
        "--json",
        str(report),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("PASS") for line in lines) == 6, proc.stdout
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(failed) == 1 and "[demo]" in failed[0] and "needs >= 0.99" in failed[0]
    assert "tlslab run --tls auto" in proc.stdout  # the command that reproduces the run
    assert "sessions removed: reset=" in proc.stdout
    assert lines[-1] == "6 of 7 gates passed; 1 failed"
    doc = json.loads(report.read_text())
    assert doc["passed"] is False and len(doc["gates"]) == 7


def test_simulation_vs_measured_quick(tmp_path):
    """The short form of the validation grid: two points, real and simulated, within bounds."""
    done = script("simulation_vs_measured.py", "--quick", "--out-dir", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "simulation_vs_measured.csv").open()))
    assert [r["pair"] for r in rows] == ["broken", "fixed"]
    for r in rows:
        measured = float(r["measured_key_rate_per_s"])
        simulated = float(r["simulated_key_rate_per_s"])
        assert abs(simulated - measured) <= max(0.02 * measured, 0.5), r
    assert (tmp_path / "simulation_vs_measured.png").stat().st_size > 0


@pytest.mark.parametrize("args,needle", [
    (["--tls-perf", "/nonexistent/tls-perf"], "--tls-perf: no file"),
    (["--tls-perf", "/bin/true", "--rounds", "0"], "must be positive"),
])  # fmt: skip
def test_load_vs_tls_perf_bad_input_is_one_line(args, needle):
    """tests/bench/load_vs_tls_perf.py (tls-perf is not in Debian, so CI runs only this)."""
    bench = EXPERIMENTS.parent / "tests" / "bench" / "load_vs_tls_perf.py"
    done = subprocess.run([sys.executable, str(bench), *args], capture_output=True, text=True,
                          timeout=60, env=python_env(), stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr
