"""Runtime failures are counted, not fatal: a backend that is down, not TLS, or silent makes
failed checks with a reason (HAProxy's L4/L6 statuses), and `check` still exits 0 with its
figures, ending by itself within its bounds."""

from __future__ import annotations

import socket
import time

import pytest

REASONS = {"connect", "timeout", "handshake", "http_status", "closed", "response_too_large"}
THREE_CHECKS = "--inter 100ms --max-checks 3 --duration 10s"


def failures(doc: dict) -> tuple[dict, dict]:
    f = doc["figures"]
    by_reason = f["check_failures_by_reason"]
    assert set(by_reason) == REASONS, by_reason
    assert sum(by_reason.values()) == f["check_failures_total"], f
    assert f["check_failures_total"] <= f["checks_total"], f
    return f, by_reason


@pytest.mark.parametrize("check", ["connect", "http"])
def test_nothing_listening_is_a_connect_failure(cli, check: str) -> None:
    # A port this test holds bound but not listening: connecting is refused, deterministically
    # (no other process can start listening on it meanwhile).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        target = f"127.0.0.1:{port}"
        doc = cli.check(*f"--target {target} --check {check} {THREE_CHECKS}".split())
    f, by_reason = failures(doc)
    assert f["checks_total"] == 3
    assert f["check_failures_total"] == 3
    assert by_reason["connect"] == 3, f["check_failure_examples"]
    assert "refused" in f["check_failure_examples"]["connect"].lower()
    assert f["full_handshakes_total"] == f["resumed_handshakes_total"] == 0
    # HAProxy starts a server "up, but will fall down at first failure": down it is.
    assert f["backends"] == 1 and f["backends_up"] == 0


def answer_400(conn: socket.socket) -> None:
    """A plain HTTP server, not TLS: reads what comes (a ClientHello), answers 400, closes."""
    conn.settimeout(2)
    try:
        conn.recv(4096)
    except OSError:
        pass
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


@pytest.mark.parametrize("check", ["connect", "http"])
def test_plain_tcp_server_is_a_handshake_failure(cli, tcp_peer, check: str) -> None:
    peer = tcp_peer(answer_400)
    doc = cli.check(*f"--target {peer.target} --check {check} {THREE_CHECKS}".split())
    f, by_reason = failures(doc)
    assert f["checks_total"] == 3
    assert by_reason["handshake"] == 3, f["check_failure_examples"]
    assert f["full_handshakes_total"] == f["resumed_handshakes_total"] == 0
    assert peer.accepted >= 3


def test_silent_server_is_a_timeout_and_the_run_still_ends(cli, tcp_peer) -> None:
    peer = tcp_peer(lambda conn: None)  # accepts, never answers, keeps the connection open
    duration_s, timeout_s = 2.0, 0.3
    start = time.monotonic()
    flags = f"--target {peer.target} --check connect --inter 500ms --timeout 300ms --duration 2s"
    doc = cli.check(*flags.split(), timeout=duration_s + timeout_s + cli.run_slack_s)
    elapsed = time.monotonic() - start
    f, by_reason = failures(doc)
    assert by_reason["timeout"] >= 2, f  # checks at 0, 0.5, 1, 1.5 s; each gives up at +0.3 s
    assert by_reason["timeout"] == f["check_failures_total"] == f["checks_total"], f
    assert "300ms" in f["check_failure_examples"]["timeout"]
    assert not f["interrupted"]
    # It ends by itself: the duration, plus at most one check timeout to let the check in
    # flight at the deadline end, plus process start and exit on a busy machine.
    assert elapsed < duration_s + timeout_s + 5.0, f"took {elapsed:.1f} s"


def test_failure_counts_agree_with_failure_examples(cli, tcp_peer) -> None:
    """Every reason that has an example has a count: a silent backend whose check timeout
    ends after the duration (the check in flight at the deadline is drained, then reported)."""
    peer = tcp_peer(lambda conn: None)
    flags = f"--target {peer.target} --check connect --inter 1s --timeout 1500ms --duration 1s"
    doc = cli.check(*flags.split())
    f, by_reason = failures(doc)
    assert f["check_failure_examples"], "no failure at all: the drain did not wait"
    for reason in f["check_failure_examples"]:
        assert by_reason[reason] > 0, (
            f"an example of {reason!r} failures but none counted: {f['check_failure_examples']},"
            f" counts {by_reason}, checks_total {f['checks_total']}, "
            f"latency max {f['latency_ms']['max']} ms"
        )
