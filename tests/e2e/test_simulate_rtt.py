"""`tlslab simulate --rtt D`: each check's latency gains D times the round
trips it waits for (sim/streams.h Model::NetworkUs: TCP 1, TLS 1.2 full 2, resumed 1, TLS 1.3
1, an http request 1), and a check whose latency passes the check timeout fails as a timeout.
tests/netpath/test_rtt.py holds the same model against a real path with netem delay."""

from __future__ import annotations

import json

import pytest

COMMON = ["--backends", "10", "--inter", "1s", "--duration", "10s", "--check", "http"]


def simulate(cli, *args: str) -> dict:
    proc = cli.run(["simulate", *COMMON, *args, "--json"], timeout=60)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["figures"]


@pytest.mark.parametrize("pair, round_trips", [
    # resumed TLS 1.3: TCP + handshake + request
    (["--server-profile", "lenient", "--checker-profile", "haproxy-1.7.4", "--tls", "1.3"], 3),
    # the incident in TLS 1.2: a full handshake on every check, two round trips
    (["--server-profile", "strict", "--checker-profile", "haproxy-1.7.3", "--tls", "1.2"], 4),
])
def test_latency_gains_the_round_trips(cli, pair, round_trips) -> None:
    base = simulate(cli, *pair)
    far = simulate(cli, *pair, "--rtt", "20ms")
    gained = far["latency_ms"]["p50"] - base["latency_ms"]["p50"]
    assert gained == pytest.approx(20 * round_trips, abs=1.0), (base["latency_ms"],
                                                                far["latency_ms"])
    assert far["check_failures_total"] == 0
    # The network waits; it costs no CPU, and changes no session.
    assert far["key_rate_per_s"] == pytest.approx(base["key_rate_per_s"])
    assert far["checker_cpu_percent"] == pytest.approx(base["checker_cpu_percent"], rel=0.05)


def test_rtt_past_the_timeout_fails_every_check(cli) -> None:
    pair = ["--server-profile", "lenient", "--checker-profile", "haproxy-1.7.4", "--tls", "1.3"]
    f = simulate(cli, *pair, "--rtt", "20ms", "--timeout", "50ms")  # 3 x 20 ms > 50 ms
    assert f["checks_total"] > 0
    assert f["check_failures_total"] == f["checks_total"], f
    assert f["check_failures_by_reason"]["timeout"] == f["checks_total"], f
    near = simulate(cli, *pair, "--rtt", "10ms", "--timeout", "50ms")  # 30 ms: in time
    assert near["check_failures_total"] == 0, near


@pytest.mark.parametrize("args", [["simulate", "--rtt", "fast"], ["run", "--rtt", "10ms"]])
def test_bad_rtt_is_one_line(cli, args) -> None:
    proc = cli.run(args, timeout=30)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 2, proc
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
