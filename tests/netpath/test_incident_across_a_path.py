"""The incident across a real path: 10 ms round trip (5 ms netem delay on each end) and 1 %
loss on each end. Where the kernel has no netem the path has the loss alone (nftables), and the
test says so. The broken pair (haproxy-1.7.3 against the strict server) pays a full handshake
per check, backends / inter; the fixed pair (haproxy-1.7.4) resumes, apart from the few closes
whose close_notify was lost (the strict server then reads an RST alone and removes the
session). The close kinds the server saw are printed (run with -s)."""

from __future__ import annotations

import pytest

from conftest import LONG_RUN_S, lab_check, netem_missing, netpath

N = 20
INTER_S = 0.5
RUN_S = LONG_RUN_S or 5.0
BROKEN_KEY_RATE = N / INTER_S


def path_args() -> dict:
    return {"loss": 1.0} if netem_missing() else {"delay": "5ms", "loss": 1.0}


def one_pair(path, serve, checker: str) -> tuple[dict, dict]:
    server = serve(path, checker, "--profile", "strict", "--backends", str(N))
    doc = lab_check(path, server.targets, "--profile", checker, "--check", "http",
                    "--inter", f"{INTER_S * 1000:g}ms", duration_s=RUN_S)
    return doc["figures"], server.figures()


def test_incident_across_a_lossy_path(need_path, serve) -> None:
    args = path_args()
    with netpath.NetPath(**args) as path:
        broken, broken_server = one_pair(path, serve, "haproxy-1.7.3")
        fixed, fixed_server = one_pair(path, serve, "haproxy-1.7.4")
        what = f"{path.emulation}: delay {path.delay_us} us each end, loss {path.loss:g}% each end"
    for name, f, s in (("broken haproxy-1.7.3", broken, broken_server),
                       ("fixed haproxy-1.7.4", fixed, fixed_server)):
        print(f"\nincident across {what}: {name}: key rate {f['key_rate_per_s']:.1f}/s, "
              f"resumed {f['resumption_ratio']:.3f}, failures {f['check_failures_total']} of "
              f"{f['checks_total']}, checker CPU {f['checker_cpu_percent']:.1f}%, latency p50 "
              f"{f['latency_ms']['p50']} ms, server CPU {s['server_cpu_percent']:.1f}%; server "
              f"close kinds {s['close_kinds']}, sessions removed {s['sessions_removed_total']}")
    assert broken["key_rate_per_s"] == pytest.approx(BROKEN_KEY_RATE, rel=0.3), broken
    assert broken["resumption_ratio"] < 0.1, broken
    assert fixed["key_rate_per_s"] <= 0.1 * BROKEN_KEY_RATE, fixed
    assert fixed["resumption_ratio"] >= 0.85, fixed
    # What the strict server read: RSTs without close_notify from the broken pair, each one
    # costing the session; close_notify first from the fixed pair, costing nothing.
    assert broken_server["close_kinds"]["reset"] > 0.8 * sum(broken_server["close_kinds"].values())
    assert broken_server["sessions_removed_total"]["reset"] == broken_server["close_kinds"]["reset"]
    assert fixed_server["close_kinds"]["close_notify"] > 0.85 * sum(
        fixed_server["close_kinds"].values())
    assert fixed_server["sessions_removed_total"]["close_notify"] == 0
