"""tlslab.run: the same figures as `tlslab run --json` for the same config; Result; Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pandas
import pytest

import tlslab
from conftest import run_cli

# Small pairs: the broken one pays a full handshake per check, the fixed one resumes.
SMALL = dict(backends=20, inter="500ms", duration="3s")
PAIRS = {
    "broken": dict(server_profile="strict", checker_profile="haproxy-1.7.3", **SMALL),
    "fixed": dict(server_profile="strict", checker_profile="haproxy-1.7.4", **SMALL),
}


@pytest.fixture(scope="module")
def api_and_cli() -> dict[str, tuple[tlslab.Result, dict]]:
    """Each pair run twice, one after the other: through the API (in this process) and by
    the CLI (`tlslab run --json`, with the argv of the same Config)."""
    out = {}
    for name, fields in PAIRS.items():
        cfg = tlslab.Config(**fields)
        api = tlslab.run(cfg)
        proc = run_cli(["run", *cfg.to_argv(), "--json"])
        assert proc.returncode == 0, proc.stderr
        out[name] = (api, json.loads(proc.stdout))
    return out


@pytest.mark.parametrize("pair", PAIRS)
def test_api_and_cli_give_the_same_figures(api_and_cli, pair):
    api, cli = api_and_cli[pair]
    a, c = api.figures, cli["figures"]
    # The same run, described the same way.
    assert api.to_dict()["config"] == cli["config"]
    assert api.effective == cli["effective"]
    assert api.versions == cli["versions"]
    # Counts decided by the schedule: equal within a check or two per backend.
    for name in ("checks_total", "full_handshakes_total", "resumed_handshakes_total"):
        assert abs(a[name] - c[name]) <= max(4, 0.1 * c[name]), (name, a[name], c[name])
    assert a["backends"] == c["backends"] == 20
    assert a["check_failures_total"] == c["check_failures_total"] == 0
    # Figures of the steady window.
    assert a["resumption_ratio"] == pytest.approx(c["resumption_ratio"], abs=0.02)
    assert a["key_rate_per_s"] == pytest.approx(c["key_rate_per_s"], rel=0.1, abs=1.0)
    for side in ("checker", "server"):  # CPU is noisy on a shared machine: within 2x
        ratio = a[f"{side}_cpu_us_per_check"] / c[f"{side}_cpu_us_per_check"]
        assert 0.5 <= ratio <= 2.0, (
            side,
            a[f"{side}_cpu_us_per_check"],
            c[f"{side}_cpu_us_per_check"],
        )
    # What the server saw.
    assert max(a["close_kinds"], key=a["close_kinds"].get) == max(
        c["close_kinds"], key=c["close_kinds"].get
    )
    assert len(api.series) == len(cli["series"])


def test_the_pairs_show_the_incident(api_and_cli):
    broken, fixed = api_and_cli["broken"][0], api_and_cli["fixed"][0]
    assert broken.resumption_ratio == 0.0
    assert broken.key_rate_per_s == pytest.approx(20 / 0.5, rel=0.1)
    assert broken.sessions_removed_total["reset"] >= broken.checks_total - 1
    assert fixed.resumption_ratio == 1.0 and fixed.key_rate_per_s == 0.0
    assert fixed.close_kinds["close_notify"] >= fixed.checks_total - 1


def test_result_api(api_and_cli):
    r = api_and_cli["broken"][0]
    assert isinstance(r.checks_total, int) and isinstance(r.key_rate_per_s, float)
    assert r.config == tlslab.Config(**PAIRS["broken"])
    assert r.latency_ms["p50"] > 0 and r.first_round_latency_ms["p50"] > 0
    assert r.first_round_s > 0 and r.steady_window_start_s >= r.first_round_s
    assert isinstance(r.skipped_slots_total, int)
    assert r.steady_window == r.figures["steady_window"]  # any figure is an attribute
    assert "steady_window" in dir(r)
    with pytest.raises(AttributeError):
        r.no_such_figure  # noqa: B018
    doc = r.to_dict()
    assert set(doc) == {"command", "config", "effective", "versions", "figures", "series"}
    doc["figures"]["checks_total"] = -1
    assert r.checks_total != -1  # to_dict() is a copy
    s = r.series
    assert isinstance(s, pandas.DataFrame) and s.index.name == "t_s"
    assert list(s.columns) == [
        "checks_per_s",
        "key_rate_per_s",
        "resumed_per_s",
        "failures_per_s",
        "checker_cpu_percent",
        "server_cpu_percent",
    ]
    assert len(s) == 3 and s["checks_per_s"].iloc[-1] == pytest.approx(40, rel=0.2)
    assert "haproxy-1.7.3 -> strict" in repr(r) and r.elapsed_s > 2.5 and not r.isolated
    assert r.flat_figures()["sessions_removed_total_reset"] == r.sessions_removed_total["reset"]


def test_isolated_run_and_keyword_arguments_over_a_config():
    base = tlslab.Config(backends=3, duration="2s", inter="500ms")
    r = tlslab.run(base, backends=4, isolate=True)
    assert r.isolated and r.backends == 4 and r.config == base.replace(backends=4)
    assert r.checks_total >= 4


def test_bad_keyword_raises_before_running():
    started = time.monotonic()
    with pytest.raises(ValueError, match="^backends=0"):
        tlslab.run(backends=0)
    with pytest.raises(TypeError):
        tlslab.run(bakends=3)
    assert time.monotonic() - started < 1


def _tasks() -> int:
    return len(os.listdir("/proc/self/task"))


def test_ctrl_c_stops_a_run_promptly_and_cleanly():
    threads_before = _tasks()
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            tlslab.run(backends=20, inter="200ms", duration="60s")
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"the run took {elapsed:.1f} s to stop after Ctrl-C at 1 s"
    # Every thread of the run has ended, and the next run works.
    deadline = time.monotonic() + 5
    while _tasks() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tasks() <= threads_before
    assert tlslab.run(backends=2, duration="1s").backends == 2


def test_profiles_are_those_of_the_cli():
    proc = run_cli(["profiles", "--json"])
    assert proc.returncode == 0
    assert tlslab.profiles() == json.loads(proc.stdout)
    assert {"haproxy-1.7.3", "haproxy-1.7.4"} <= set(tlslab.profile_names("checker"))
    assert tlslab.profile("strict")["fate"]["session-id"]["reset"] == "removed"
    assert tlslab.profile("lenient")["fate"]["session-id"]["reset"] == "kept"
    with pytest.raises(ValueError, match="known: "):
        tlslab.profile("tomcat")
    with pytest.raises(ValueError):
        tlslab.profile_names("client")


def test_versions_are_those_of_the_cli():
    proc = run_cli(["version"])
    v = tlslab.versions()
    for key, value in json.loads(proc.stdout).items():
        assert v[key] == value
    assert v["python"].startswith("3.") and v["git_describe"]
