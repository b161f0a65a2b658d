"""JDK 17 SSLServerSocket (java/SocketServer.java): what happens to a session when the client
closes without close_notify. Observed on Debian's OpenJDK 17.0.15; see docs/real-stacks.md.

Finding against docs/tls-semantics.md 1.3 / row 8: an RST does NOT drop the session on 17.0.15.
JDK-8274736 ("Concurrent read/close of SSLSockets causes SSLSessions to be invalidated
unnecessarily"; openjdk/jdk PR 6197, jdk17u PR 294, jdk11u-dev PR 711) made
TransportContext.fatal() skip conSession.invalidate() when the cause is a SocketException, and
"Connection reset" is one. `javap -c -p --module java.base sun.security.ssl.TransportContext`
on this JDK shows `instanceof java/net/SocketException` guarding the invalidate() call.
"""

from __future__ import annotations

import pytest

from expectations import K, R, Row, cases, check_row, check_table

EOF_AS_CLOSE_NOTIFY = (
    "EOF: SSLSocketImpl.handleEOF treats it as close_notify when "
    "requireCloseNotify=false (docs/tls-semantics.md 1.3)"
)
RST_KEPT = (
    "RST: SocketException -> fatal() without invalidate() since JDK-8274736 "
    "(contradicts docs/tls-semantics.md 1.3 and row 8, which say dropped)"
)
REQUIRE = (
    "requireCloseNotify=true: EOF -> SSLProtocolException -> fatal() -> invalidate() "
    "(docs/tls-semantics.md 1.3, 1.4)"
)
TICKET = (
    "stateless RFC 5077 ticket (JDK 13+ default): the invalidated cache entry is not "
    "consulted (docs/tls-semantics.md 1.5)"
)
STATELESS = ("stateless TLS 1.3 ticket (JDK 13+ default): not in the cache "
             "(docs/tls-semantics.md 1.5)")
NO_TICKETS = (
    "enableSessionTicketExtension=false: no RFC 5077 ticket, resumed by session ID "
    "(docs/tls-semantics.md 1.4)"
)
STATEFUL = (
    "enableSessionTicketExtension=false: stateful TLS 1.3 tickets, children of the "
    "session, invalidated with it (docs/tls-semantics.md 1.5)"
)

EXPECTED: dict[str, list[Row]] = {
    "java-socket": [
        Row("session-id", K, K, K, K, False, "session-id", f"{EOF_AS_CLOSE_NOTIFY}; {RST_KEPT}"),
        Row("ticket", K, K, K, K, True, "ticket", TICKET),
        Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
    ],
    "java-socket-require-close-notify": [
        Row("session-id", K, R, K, K, False, "session-id", f"{REQUIRE}; {RST_KEPT}"),
        Row("ticket", K, K, K, K, True, "ticket", TICKET),
        Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
    ],
    "java-socket-no-tickets": [
        Row("session-id", K, K, K, K, False, "session-id", f"{EOF_AS_CLOSE_NOTIFY}; {RST_KEPT}"),
        Row("ticket", K, K, K, K, False, "session-id", f"{NO_TICKETS}; {RST_KEPT}"),
        Row("tls13", K, K, K, K, True, "psk-stateful", f"{STATEFUL}; nothing invalidates here"),
    ],
    "java-socket-require-close-notify-no-tickets": [
        Row("session-id", K, R, K, K, False, "session-id", f"{REQUIRE}; {RST_KEPT}"),
        Row("ticket", K, R, K, K, False, "session-id", f"{NO_TICKETS}; {REQUIRE}"),
        Row("tls13", K, R, K, K, True, "psk-stateful", f"{STATEFUL}; {REQUIRE}"),
    ],
}


def test_table_covers_every_configuration() -> None:
    check_table(EXPECTED, ("java-socket",))


@pytest.mark.parametrize("config_name,row", cases(EXPECTED))
def test_matrix(measured, config_name: str, row: Row) -> None:
    check_row(measured(config_name), row, config_name)


def _endings(log: str) -> list[str]:
    """SocketServer's one line per connection, without the port: 'ended by ...; session ...'."""
    return [line.split(" ", 2)[2] for line in log.splitlines() if line.startswith("connection ")]


def test_server_sees_rst_as_socket_exception_and_keeps_the_session(server_log) -> None:
    """The server's own view of the RST trials (JDK-8274736): the read fails with
    SocketException "Connection reset", and the session is still valid afterwards."""
    resets = [e for e in _endings(server_log("java-socket")) if "Connection reset" in e]
    assert resets, "no connection ended by an RST"
    assert all(e.endswith("session valid") for e in resets), resets


def test_server_with_require_close_notify_invalidates_on_eof(server_log) -> None:
    """requireCloseNotify=true: the EOF becomes SSLProtocolException "Remote host terminated
    the connection" (SSLSocketImpl.handleEOF) and the session is invalid afterwards."""
    endings = _endings(server_log("java-socket-require-close-notify"))
    eofs = [e for e in endings if "Remote host terminated the connection" in e]
    assert eofs, endings
    assert all(e.endswith("session invalid") for e in eofs), eofs
