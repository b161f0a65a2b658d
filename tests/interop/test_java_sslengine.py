"""JDK 17 SSLEngine driven like Netty's SslHandler (java/EngineServer.java): closeInbound() when
the channel read returns -1 (EOF) or throws (RST). Observed on Debian's OpenJDK 17.0.15, which
has JDK-8273553 (17.0.6+): closeInbound() before close_notify only throws an SSLException
("closing inbound before receiving peer's close_notify") and no longer runs fatal(), so the
session survives. Before 17.0.6 (and on JDK 8 <= 8u252) the same server dropped it: that is
the incident's `strict` profile, which this JDK cannot show. See docs/real-stacks.md.
"""

from __future__ import annotations

import pytest

from expectations import K, Row, cases, check_row, check_table

LENIENT = (
    "closeInbound() without close_notify throws but does not invalidate since "
    "JDK-8273553 (17.0.6+; docs/tls-semantics.md 1.2, row 7)"
)
TICKET = "stateless RFC 5077 ticket (JDK 13+ default; docs/tls-semantics.md 1.5)"
STATELESS = "stateless TLS 1.3 ticket (JDK 13+ default; docs/tls-semantics.md 1.5)"

EXPECTED: dict[str, list[Row]] = {
    "java-engine": [
        Row("session-id", K, K, K, K, False, "session-id", LENIENT),
        Row("ticket", K, K, K, K, True, "ticket", TICKET),
        Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
    ],
    "java-engine-no-tickets": [
        Row("session-id", K, K, K, K, False, "session-id", LENIENT),
        Row(
            "ticket",
            K,
            K,
            K,
            K,
            False,
            "session-id",
            f"enableSessionTicketExtension=false: no RFC 5077 ticket; {LENIENT}",
        ),
        Row(
            "tls13",
            K,
            K,
            K,
            K,
            True,
            "psk-stateful",
            f"enableSessionTicketExtension=false: stateful TLS 1.3 tickets; {LENIENT}",
        ),
    ],
}


def test_table_covers_every_configuration() -> None:
    check_table(EXPECTED, ("java-engine",))


@pytest.mark.parametrize("config_name,row", cases(EXPECTED))
def test_matrix(measured, config_name: str, row: Row) -> None:
    check_row(measured(config_name), row, config_name)


def test_server_called_close_inbound_and_the_session_stayed_valid(server_log) -> None:
    """EngineServer's own view: on every EOF and RST it called closeInbound(), the JDK threw
    "closing inbound before receiving peer's close_notify" (JDK-8273553's SSLException), and
    the session was still valid afterwards."""
    lines = [x for x in server_log("java-engine").splitlines() if x.startswith("connection ")]
    truncated = [x for x in lines if "ended by eof" in x or "ended by read exception" in x]
    assert truncated, lines
    for line in truncated:
        assert (
            'closeInbound threw "closing inbound before receiving peer\'s close_notify"' in line
        ), line
        assert "; session valid" in line, line
