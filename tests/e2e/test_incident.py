"""The incident in miniature, through `tlslab run --json`: 20 backends checked every 500 ms by
HAProxy 1.7.3 against the strict (JDK 8 + Jetty 9.3) server pay a full handshake on every
check, backends / inter = 40 per second; HAProxy 1.7.4 sends close_notify first and resumes."""

from __future__ import annotations

import pytest

BACKENDS = 20
INTER_S = 0.5
BROKEN_KEY_RATE = BACKENDS / INTER_S  # every check is a full handshake: 40/s


def incident_run(cli, checker_profile: str) -> dict:
    flags = f"--backends {BACKENDS} --inter 500ms --duration 4s".split()
    return cli.lab("--server-profile", "strict", "--checker-profile", checker_profile, *flags)


def test_haproxy_1_7_3_pays_a_full_handshake_per_check(cli) -> None:
    doc = incident_run(cli, "haproxy-1.7.3")
    f = doc["figures"]
    assert doc["effective"]["close"] == "quiet-reset"
    assert f["check_failures_total"] == 0, f["check_failure_examples"]
    assert f["resumption_ratio"] is not None and f["resumption_ratio"] < 0.05, f
    assert f["key_rate_per_s"] == pytest.approx(BROKEN_KEY_RATE, rel=0.25), f
    # The server's view: RST without close_notify, and each one cost the session.
    assert f["close_kinds"]["reset"] > 0
    assert f["sessions_removed_total"]["reset"] == f["close_kinds"]["reset"]
    assert f["resumed_handshakes_total"] == 0


def test_haproxy_1_7_4_resumes(cli) -> None:
    doc = incident_run(cli, "haproxy-1.7.4")
    f = doc["figures"]
    assert doc["effective"]["close"] == "notify-reset"
    assert f["check_failures_total"] == 0, f["check_failure_examples"]
    assert f["resumption_ratio"] is not None and f["resumption_ratio"] >= 0.95, f
    # Near 0: after the first round (one full handshake per backend) there is nothing to pay.
    assert f["key_rate_per_s"] <= 1.0, f
    assert f["full_handshakes_total"] == BACKENDS, f
    assert sum(f["sessions_removed_total"].values()) == 0, f
    assert f["close_kinds"]["close_notify"] > 0
