"""Embedded Jetty 9.4 (Debian libjetty9-java 9.4.57, java/JettyServer.java) on JDK 17: what
happens to a session when the client closes without close_notify. See docs/real-stacks.md.

Jetty >= 9.3.20 / 9.4.6 (jetty issue #523, commit d53af5d) no longer calls
SSLEngine.closeInbound() on server connections after the handshake, and JDK 17.0.15 would not
invalidate even if it did (JDK-8273553): kept everywhere. The incident's Jetty 9.3.16 + JDK 8
combination is not installable here.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterator

import pytest

import peers
import resumption_client as rc
from expectations import K, Row, cases, check_row, check_table

JETTY = (
    "Jetty 9.4.6+ SslConnection: no closeInbound() on a server connection after the "
    "handshake (jetty #523, d53af5d; docs/tls-semantics.md 1.6, row 9)"
)
TICKET = "stateless RFC 5077 ticket (JDK 13+ default; docs/tls-semantics.md 1.5)"
STATELESS = "stateless TLS 1.3 ticket (JDK 13+ default; docs/tls-semantics.md 1.5)"

EXPECTED: dict[str, list[Row]] = {
    "jetty": [
        Row("session-id", K, K, K, K, False, "session-id", JETTY),
        Row("ticket", K, K, K, K, True, "ticket", TICKET),
        Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
    ],
    "jetty-no-tickets": [
        Row("session-id", K, K, K, K, False, "session-id", JETTY),
        Row(
            "ticket",
            K,
            K,
            K,
            K,
            False,
            "session-id",
            f"enableSessionTicketExtension=false: no RFC 5077 ticket; {JETTY}",
        ),
        Row(
            "tls13",
            K,
            K,
            K,
            K,
            True,
            "psk-stateful",
            f"enableSessionTicketExtension=false: stateful TLS 1.3 tickets; {JETTY}",
        ),
    ],
}


def test_table_covers_every_configuration() -> None:
    check_table(EXPECTED, ("jetty",))


@pytest.mark.parametrize("config_name,row", cases(EXPECTED))
def test_matrix(measured, config_name: str, row: Row) -> None:
    check_row(measured(config_name), row, config_name)


@pytest.fixture(scope="module")
def jetty_with_ssl_debug(
    interop_dir: Path, credentials: peers.Credentials, java_classes: Path
) -> Iterator[peers.RunningPeer]:
    """Jetty with -Djavax.net.debug=ssl: the JDK logs "Closing inbound of SSLEngine" whenever
    anyone calls SSLEngine.closeInbound() (SSLEngineImpl.closeInbound, SSLLogger "ssl")."""
    if peers.jetty_missing():
        pytest.skip(peers.jetty_missing())
    base = peers.config("jetty")
    cfg = dataclasses.replace(
        base, name="jetty-ssl-debug", args=base.args + ("-Djavax.net.debug=ssl",)
    )
    with peers.running(cfg, credentials, interop_dir / cfg.name, java_classes) as peer:
        yield peer


def test_jetty_never_calls_close_inbound_on_a_server_connection(
    jetty_with_ssl_debug: peers.RunningPeer,
) -> None:
    """Why Jetty keeps the session, independently of the JDK: after an EOF and an RST the JDK
    debug log has no "Closing inbound of SSLEngine" (EngineServer, which does call it, logs
    it once per close). So the jetty #523 fix is what is seen, not only JDK-8273553."""
    for mode in ("eof", "reset"):
        trial = rc.run_trial("127.0.0.1", jetty_with_ssl_debug.port, "session-id", mode)
        assert trial.error == "" and trial.resumed, trial
    time.sleep(0.5)  # the debug log is written by Jetty's threads
    log = jetty_with_ssl_debug.log.read_text(errors="replace")
    # Logged under the same "ssl" debug category as "Closing inbound of SSLEngine": proves the
    # debug output is on and that Jetty did reach its close path.
    assert "Closing outbound of SSLEngine" in log, "javax.net.debug=ssl output missing"
    assert "Closing inbound of SSLEngine" not in log
