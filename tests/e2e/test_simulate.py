"""tlslab simulate and tlslab calibrate: the simulator's figures against real runs of
the lab on this machine, with a cost file calibrated in the same test session; bad input.

Bounds (the goals): key rate within 2%, resumption ratio within 0.02, CPU per side within
15%. Key rate and resumption are held to those bounds here. CPU: the cost file splits a cost
per check from a cost per wall second of each event loop and the share of a check's cost that a
busy loop saves (sim/wake.h), calibrated at 10, 100, 400 and 900 checks/s and near the knee; the
points below run at 200. On the shared 2-core development
machine (load 3-7 from other work) the simulated CPU came within 2-22% of the measured one at
100 checks/s and within 8-19% from 400 to 1,000 (docs/figures/simulation_vs_measured.md, the
knee sweep), but the same real run measured twice minutes apart differs by up to 30% there. So
the CPU bound here is CPU_FACTOR either way: twice the worst error seen, which still fails a
model that drops the per-second cost (+55-62% at 1,000 checks/s) or a broken cost file.
One real run can still land outside it: on a quiet machine one 200-backend configuration measured
6.7 to 9.5% of a core in four runs of 4 to 40 s, and the calibration's own runs vary as much. So a
CPU figure outside the bound is measured again, and the test holds the median of up to three
real runs to it: noise gives way, a model that is wrong stays wrong in every run.
"""

from __future__ import annotations

import json
import statistics

import pytest

TIMEOUT_S = 120.0
CPU_FACTOR = 1.5  # the goal is 15%: see the module docstring
REAL_ATTEMPTS = 3  # a CPU figure outside CPU_FACTOR is measured again, up to this many runs
ERROR_PREFIX = "tlslab: error: "


@pytest.fixture(scope="module")
def costs(tmp_path_factory, tlslab_bin):
    import subprocess

    out = tmp_path_factory.mktemp("costs") / "costs.json"
    proc = subprocess.run(
        [str(tlslab_bin), "calibrate", "--key", "rsa2048", "--out", str(out),
         "--loopback-duration", "4s", "--budget", "200ms"],
        capture_output=True, text=True, timeout=2 * TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == "tlslab-costs" and doc["version"] == 4
    assert doc["costs"]["rsa2048"]["1.2"]["checker"]["per_second"] >= 0
    assert 0 <= doc["costs"]["rsa2048"]["1.2"]["checker"]["wake_share"] <= 0.9
    runs = [10, 100, 400, 900]
    assert [r["backends"] for r in doc["loopback"]["rsa2048"]["1.3"]["fixed"]] == runs
    # The broken pair once more near its knee: more backends than the highest rate, where the
    # wake-up model's bend shows (sim/wake.h).
    broken = [r["backends"] for r in doc["loopback"]["rsa2048"]["1.3"]["broken"]]
    assert broken[:4] == runs and 1000 <= broken[4] <= 5000, broken
    assert doc["measured"]["versions"]["openssl"]
    return out


def simulate(cli, args, costs_file=None):
    argv = ["simulate", *args, "--json"] + (["--costs", str(costs_file)] if costs_file else [])
    proc = cli.run(argv, timeout=TIMEOUT_S)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


POINTS = [
    ("broken-tls12", ["--server-profile", "strict", "--checker-profile", "haproxy-1.7.3",
                      "--tls", "1.2"], "20s"),
    ("fixed-tls13", ["--server-profile", "strict", "--checker-profile", "haproxy-1.7.4",
                     "--tls", "1.3"], "20s"),
    ("session-timeout-10s", ["--server-profile", "lenient", "--checker-profile", "haproxy-1.7.4",
                             "--tls", "1.2", "--session-timeout", "10s"], "40s"),
]  # fmt: skip


@pytest.mark.parametrize("args,duration", [(a, d) for _, a, d in POINTS],
                         ids=[p[0] for p in POINTS])
def test_simulated_matches_measured(cli, costs, args, duration) -> None:
    # 200 backends every second: between the calibration's two rates (100 and 400).
    common = [*args, "--backends", "200", "--inter", "1s", "--duration", duration]
    real = cli.lab(*common)["figures"]
    doc = simulate(cli, common, costs)
    assert doc["mode"] == "simulated" and doc["cost_file"] == str(costs)
    sim = doc["figures"]
    assert sim["key_rate_per_s"] == pytest.approx(real["key_rate_per_s"], rel=0.02, abs=0.5)
    assert sim["resumption_ratio"] == pytest.approx(real["resumption_ratio"], abs=0.02)
    runs = [real]
    for side in ("checker_cpu_percent", "server_cpu_percent"):
        while True:  # the median of up to REAL_ATTEMPTS real runs: see the module docstring
            measured = statistics.median(r[side] for r in runs)
            ratio = sim[side] / max(measured, 0.01)
            if 1 / CPU_FACTOR <= ratio <= CPU_FACTOR or len(runs) == REAL_ATTEMPTS:
                break
            runs.append(cli.lab(*common)["figures"])
        assert 1 / CPU_FACTOR <= ratio <= CPU_FACTOR, (side, sim[side], [r[side] for r in runs])


def test_same_document_as_run(cli) -> None:
    doc = simulate(cli, ["--server-profile", "strict", "--checker-profile", "haproxy-1.7.3",
                         "--backends", "50", "--duration", "24h"])
    assert doc["command"] == "simulate"
    for key in ("key_rate_per_s", "max_key_rate_per_s", "resumption_ratio", "checker_cpu_percent",
                "server_cpu_percent", "checker_cpu_us_per_check", "latency_ms",
                "check_failures_by_reason", "close_kinds", "sessions_removed_total"):
        assert key in doc["figures"], key
    assert doc["figures"]["key_rate_per_s"] == pytest.approx(25.0)
    assert 1000 <= len(doc["series"]) <= 1500  # 24 h at a minute-scale step
    assert doc["cost_file"].endswith("sim/costs/default.json")


def test_nightly_deploy_costs_one_full_handshake_per_backend_and_thread(cli) -> None:
    doc = simulate(cli, ["--server-profile", "jdk17-sslengine", "--checker-profile", "haproxy-2.6",
                         "--backends", "1000", "--checker-threads", "4", "--inter", "2s",
                         "--duration", "48h", "--restart-every", "24h", "--backend-cores", "2"])
    fig = doc["figures"]
    # 4 sessions per backend at the start, 4 again after the deploy at 24 h.
    assert fig["full_handshakes_total"] == 1000 * 4 * 2
    assert fig["max_key_rate_per_s"] > 0


BAD = [
    ("negative-duration", ["--duration", "-5s"], ["--duration"]),
    ("zero-threads", ["--threads", "0"], ["checker threads", "got 0"]),
    ("zero-server-threads", ["--server-threads", "0"], ["server threads", "got 0"]),
    ("zero-checkers", ["--checkers", "0"], ["checkers", "got 0"]),
    ("restart-share", ["--restart-share", "2"], ["--restart-share", "'2'"]),
    ("max-checks", ["--max-checks", "5"], ["--max-checks", "--duration"]),
    ("trace", ["--trace"], ["--trace"]),
    ("missing-costs", ["--costs", "/nonexistent/tlslab/costs.json"], ["--costs", "cannot read"]),
    ("too-large", ["--backends", "5000000", "--duration", "24h", "--server-profile", "strict",
                   "--checker-profile", "haproxy-1.7.3"], ["simulation too large"]),
]  # fmt: skip


@pytest.mark.parametrize("args,needles", [(a, n) for _, a, n in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_exit_2(cli, args, needles) -> None:
    proc = cli.run(["simulate", *args], timeout=TIMEOUT_S)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    first = proc.stderr.splitlines()[0]
    assert first.startswith(ERROR_PREFIX), proc.stderr
    for needle in needles:
        assert needle in first, (needle, first)


@pytest.mark.parametrize("content,needle", [
    ("{not json", "not valid JSON"),
    ('{"format": "tlslab-costs", "version": 3, "costs": {}}', "format version 3"),
    ('{"format": "tlslab-costs", "version": 5, "costs": {}}', "format version 5"),
    ('{"format": "something-else"}', "not a tlslab cost file"),
])  # fmt: skip
def test_bad_cost_file(cli, tmp_path, content, needle) -> None:
    path = tmp_path / "costs.json"
    path.write_text(content)
    proc = cli.run(["simulate", "--costs", str(path)], timeout=TIMEOUT_S)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr.splitlines()[0]


@pytest.mark.parametrize("args,needle", [
    (["--repeat", "0"], "--repeat: bad value '0'"),
    (["--repeat", "x"], "--repeat"),
    (["--checker", "haproxy", "--repeat", "3"], "--repeat: only with --checker tlslab"),
])  # fmt: skip
def test_calibrate_bad_repeat(cli, tmp_path, args, needle) -> None:
    proc = cli.run(["calibrate", *args, "--out", str(tmp_path / "c.json")], timeout=TIMEOUT_S)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr.splitlines()[0]
    assert not (tmp_path / "c.json").exists()


def test_calibrate_does_not_replace_a_file(cli, tmp_path) -> None:
    path = tmp_path / "costs.json"
    path.write_text("keep me")
    proc = cli.run(["calibrate", "--out", str(path)], timeout=TIMEOUT_S)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert path.read_text() == "keep me"
