"""Seeing the wire: --trace lines in the lab's vocabulary, and --keylog in the SSLKEYLOGFILE
format (NSS key log) that Wireshark reads to decrypt a capture."""

from __future__ import annotations

import re

import pytest

# NSS key log labels: TLS 1.2 writes CLIENT_RANDOM; TLS 1.3 writes the traffic secrets.
KEYLOG_LINE = re.compile(r"^[A-Z][A-Z0-9_]+ [0-9a-f]{64} [0-9a-f]{64,}$")
TLS13_LABELS = {
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
}


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_keylog_holds_the_secrets_of_every_handshake(cli, tmp_path, tls) -> None:
    keylog = tmp_path / "keys.log"
    doc = cli.lab(
        "--tls", tls, "--backends", "2", "--inter", "200ms", "--duration", "1500ms",
        "--keylog", keylog,
    )
    lines = keylog.read_text().splitlines()
    assert lines, "the key log is empty"
    bad = [line for line in lines if not KEYLOG_LINE.match(line)]
    assert not bad, f"not in the SSLKEYLOGFILE format: {bad[:3]}"
    labels = {line.split()[0] for line in lines}
    randoms = {line.split()[1] for line in lines}
    figures = doc["figures"]
    handshakes = figures["full_handshakes_total"] + figures["resumed_handshakes_total"]
    if tls == "1.2":
        assert labels == {"CLIENT_RANDOM"}
    else:
        assert TLS13_LABELS <= labels
    # Checker and server write the same connections (one file, both sides): at least one
    # client random per handshake the checker counted.
    assert len(randoms) >= handshakes > 0


def test_trace_tells_the_story_of_a_broken_check(cli) -> None:
    """haproxy-1.7.3 against strict over TLS 1.2 (JDK 8 had nothing newer): the trace shows
    the whole incident."""
    proc = cli.run(
        ["run", "--server-profile", "strict", "--checker-profile", "haproxy-1.7.3", "--tls", "1.2",
         "--backends", "1", "--inter", "300ms", "--duration", "1s", "--trace", "--live", "off"],
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    trace = proc.stderr
    for event in [
        "ClientHello offers no session (none saved)",  # the first check
        "ClientHello offers the saved session",  # the next ones offer it...
        "handshake: full",  # ...and still pay a full handshake
        "RST sent",  # quiet shutdown, then RST: no close_notify
        "closed: reset",  # the server's close kind
        "session removed (session-id, reset",  # the profile's verdict, with its reason
    ]:
        assert event in trace, f"no '{event}' in the trace:\n{trace[-3000:]}"
    assert "close_notify sent" not in trace
    assert "handshake: resumed" not in trace
