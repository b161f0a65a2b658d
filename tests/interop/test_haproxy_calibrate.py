"""`tlslab calibrate --checker haproxy`: the real HAProxy 2.6's own CPU as the
checker, calibrated at two rates, predicts its CPU at another rate (within TOLERANCE).

The calibration runs HAProxy (nbthread 1, http checks, TLS 1.3, RSA-2048) against the lab's
backends at 40 and 160 servers checked every second, every check full and every check resumed
(app/calibrate_haproxy.h). The test then runs the same HAProxy set-up at 100 servers, full and
resumed, reading its CPU from /proc the same way (the calibration's runs, with other --backends),
and compares with `tlslab simulate --checker-profile haproxy-2.6 --checker-costs FILE` at 100
backends. The target lies between the calibrated rates: HAProxy's CPU per check falls as the
rate grows (849 us per resumed check at 300/s, 1,066 at 150/s, on the development machine), so
a line through two low rates overpredicts a higher one (by 23 % at 300/s from 50 and 150).
About 40 s. Skips when haproxy is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TLSLAB_BIN", str(REPO / "build" / "tlslab"))).resolve()

CALIBRATION_BACKENDS = "40,160"
TARGET = 100  # the rate predicted: servers checked every second
# The goal is 20 %. On the shared 2-core development machine, three runs of this test
# predicted full checks -31 %, -8 % and -7 % off, resumed ones -23 % and -7 % (the last run at
# load 1.4, within 20 %; the others at load 2-5 from other work, when the same HAProxy
# configuration measured minutes apart cost 1,363 and 2,056 us per full check). So this test
# holds 40 %, which still fails the lab checker's own costs in place of HAProxy's (6.1 % and
# 10.6 % predicted against 13.1 % and 18.5 % measured: -54 % and -43 %); 20 % holds on a
# quiet machine only. The long form (not run in CI) holds the goal, with longer runs:
#   TLSLAB_HAPROXY_TOLERANCE=0.20 TLSLAB_HAPROXY_RUN=10s \
#     /usr/bin/python3 -m pytest -s tests/interop/test_haproxy_calibrate.py
TOLERANCE = float(os.environ.get("TLSLAB_HAPROXY_TOLERANCE", "0.40"))
RUN = os.environ.get("TLSLAB_HAPROXY_RUN", "4s")
TIMEOUT_S = 120


def calibrate(out: Path, backends: str) -> dict:
    argv = [str(BIN), "calibrate", "--checker", "haproxy", "--key", "rsa2048", "--tls", "1.3",
            "--check", "http", "--backends", backends, "--loopback-duration", RUN,
            "--out", str(out), "--force"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def cost_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("haproxy"):
        pytest.skip("haproxy not installed (apt-get install haproxy)")
    if not BIN.exists():
        pytest.skip(f"tlslab binary not found at {BIN}: build it or set TLSLAB_BIN")
    out = tmp_path_factory.mktemp("haproxy-costs") / "haproxy.json"
    doc = calibrate(out, CALIBRATION_BACKENDS)
    assert doc["format"] == "tlslab-checker-costs" and doc["checker"] == "haproxy"
    assert doc["checker_version"].startswith("HAProxy version")
    costs = doc["costs"]["rsa2048"]["1.3"]["http"]
    assert costs["full"] > 0 and costs["resumed"] > 0, costs
    # A full check costs more than a resumed one at the rates calibrated: per_second + rate x
    # cost. The slopes alone can come out either way (1,083 against 1,093 us in one CI run),
    # as two short runs share what they cost between the intercept and the slope by noise.
    for rate in (int(n) for n in CALIBRATION_BACKENDS.split(",")):
        full = costs["per_second_full"] + rate * costs["full"]
        resumed = costs["per_second"] + rate * costs["resumed"]
        assert full > resumed, (rate, costs)
    for run in doc["runs"]:
        assert run["resumption_ratio"] == (0.0 if run["handshakes"] == "full" else 1.0), run
    return out


def test_a_cost_set_from_two_low_rates_predicts_haproxy_cpu_at_a_higher_rate(
    cost_set: Path, tmp_path: Path
) -> None:
    # The measurement at TARGET: the calibration's own runs (the same HAProxy configuration and
    # /proc reading), at TARGET and a second count it needs, of which only TARGET is used.
    measured_doc = calibrate(tmp_path / "measured.json", f"{TARGET // 2},{TARGET}")
    measured = {r["handshakes"]: r for r in measured_doc["runs"] if r["backends"] == TARGET}
    for kind, server in (("full", ["--tickets", "off", "--session-cache", "off"]),
                         ("resumed", [])):  # fmt: skip
        argv = [str(BIN), "simulate", "--server-profile", "lenient", "--checker-profile",
                "haproxy-2.6", "--check", "http", "--tls", "1.3", "--key", "rsa2048",
                "--backends", str(TARGET), "--inter", "1s", "--duration", "20s",
                "--checker-costs", str(cost_set), "--json", *server]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["simulation"]["checker_costs_file"] == str(cost_set)
        simulated = doc["figures"]["checker_cpu_percent"]
        # The real rate, not the nominal one: HAProxy may run a little behind on a busy machine.
        real = measured[kind]["cpu_percent"] * TARGET / measured[kind]["checks_per_s"]
        print(f"\nHAProxy {kind} at {TARGET}/s: measured {real:.1f}%, simulated {simulated:.1f}%")
        assert simulated == pytest.approx(real, rel=TOLERANCE), (kind, simulated, real)
