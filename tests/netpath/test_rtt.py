"""Check latency across a path with netem delay, next to `tlslab simulate --rtt` (sim/streams.h
Model::NetworkUs): an http check over TLS 1.3 waits three round trips (TCP, the handshake, the
request), so its latency is about 3 x RTT plus CPU; a check timeout below that fails every check,
in the lab and in the simulation. Needs netem (skipped with the reason where the kernel has
none): no other delay is real.

The tolerance: the measured median within 20 % + 2 ms of the simulated one (timer slack, the
checker's scheduling on a shared machine, and netem's own clock granularity)."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BIN, lab_check, netpath

N = 5
RUN_S = 4.0
DELAY_MS = 10  # on each end: RTT 20 ms
RTT_MS = 2 * DELAY_MS
CHECK = ("--check", "http", "--tls", "1.3", "--profile", "haproxy-1.7.4", "--inter", "500ms")


def simulate(*flags: str) -> dict:
    argv = [str(BIN), "simulate", "--server-profile", "lenient", "--backends", str(N),
            "--duration", f"{RUN_S:g}s", "--json", *flags]
    argv = [a if a != "--profile" else "--checker-profile" for a in argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["figures"]


@pytest.mark.parametrize("timeout_ms", [1000, 2 * RTT_MS])
def test_latency_follows_the_rtt_as_simulated(need_netem, serve, timeout_ms) -> None:
    with netpath.NetPath(delay=f"{DELAY_MS}ms") as path:
        server = serve(path, "rtt", "--profile", "lenient", "--backends", str(N))
        f = lab_check(path, server.targets, *CHECK, "--timeout", f"{timeout_ms}ms",
                      duration_s=RUN_S)["figures"]
    sim = simulate(*CHECK, "--timeout", f"{timeout_ms}ms", "--rtt", f"{RTT_MS}ms")
    print(f"\nRTT {RTT_MS} ms, timeout {timeout_ms} ms: measured p50 {f['latency_ms']['p50']} ms,"
          f" failures {f['check_failures_total']}/{f['checks_total']}; simulated p50 "
          f"{sim['latency_ms']['p50']} ms, failures {sim['check_failures_total']}/"
          f"{sim['checks_total']}")
    if timeout_ms > 3 * RTT_MS:
        assert f["check_failures_total"] == 0 and sim["check_failures_total"] == 0
        assert f["latency_ms"]["p50"] == pytest.approx(sim["latency_ms"]["p50"], rel=0.2, abs=2)
        assert f["latency_ms"]["p50"] >= 3 * RTT_MS
    else:  # every check needs 3 RTT: past the timeout, in both
        assert f["check_failures_total"] == f["checks_total"] > 0
        assert sim["check_failures_total"] == sim["checks_total"] > 0
