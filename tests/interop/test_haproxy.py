"""HAProxy 2.6 (Debian, OpenSSL 3.0) as a TLS frontend (`bind ... ssl crt`, mode http): what
happens to a session when the client closes without close_notify. See docs/real-stacks.md.

docs/tls-semantics.md 2.6 leaves HAProxy frontends [UNVERIFIED]; what the real one does:
* EOF (FIN without close_notify): kept. HAProxy reads through its own BIO, whose ctrl answers
  0 to BIO_CTRL_EOF (src/ssl_sock.c ha_ssl_ctrl, in every version in the code index), so
  OpenSSL 3.0's "unexpected eof while reading" fatal error (which needs BIO_eof) never fires;
  the EOF comes back as SSL_ERROR_SYSCALL, which HAProxy handles as a read shutdown.
* RST: removed from the session-ID cache (and TLS 1.3 stateful tickets with no-tls-tickets).
  Consistent with docs/tls-semantics.md 2.1 mechanism 2: on a connection error HAProxy frees the
  SSL without SSL_shutdown, so ssl_clear_bad_session removes the session [inferred from the
  observed fates: stateless tickets survive, cached sessions do not].
* close_notify then RST at once (HAProxy 1.7.4's own check close, docs/tls-semantics.md 4.1): a
  race. If HAProxy reads the close_notify before the RST arrives, the session is kept; if the
  RST is there first, it is removed. Measured here: about half and half over 20 trials; with
  50 ms between the two, always kept (test_close_notify_read_before_rst_keeps_the_session).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import peers
import resumption_client as rc
from expectations import K, R, RACE, Row, cases, check_row, check_table

EOF_KEPT = (
    "EOF: HAProxy's BIO never reports BIO_eof (ha_ssl_ctrl), so no OpenSSL 3 "
    "unexpected-EOF fatal error (docs/tls-semantics.md 2.2 does not apply)"
)
RST_REMOVED = (
    "RST: SSL_free without SSL_shutdown -> ssl_clear_bad_session "
    "(docs/tls-semantics.md 2.1 mechanism 2)"
)
NOTIFY_RACE = (
    "close_notify+RST: race between HAProxy reading the close_notify (kept) and "
    "the RST arriving first (removed)"
)
TICKET = ("RFC 5077 ticket: resumption from the ticket never reads the cache "
          "(docs/tls-semantics.md 2.5)")
STATELESS = "TLS 1.3 stateless ticket, not in the cache (docs/tls-semantics.md 2.5)"

EXPECTED: dict[str, list[Row]] = {
    "haproxy": [
        Row(
            "session-id",
            K,
            K,
            R,
            RACE,
            False,
            "session-id",
            f"{EOF_KEPT}; {RST_REMOVED}; {NOTIFY_RACE}",
        ),
        Row("ticket", K, K, K, K, True, "ticket", TICKET),
        Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
    ],
    # no-tls-tickets = SSL_OP_NO_TICKET: no RFC 5077 tickets, stateful TLS 1.3 tickets kept in
    # HAProxy's shared session cache, where the RST removal reaches them.
    "haproxy-no-tls-tickets": [
        Row(
            "session-id",
            K,
            K,
            R,
            RACE,
            False,
            "session-id",
            f"{EOF_KEPT}; {RST_REMOVED}; {NOTIFY_RACE}",
        ),
        Row(
            "ticket",
            K,
            K,
            R,
            RACE,
            False,
            "session-id",
            f"no-tls-tickets: no RFC 5077 ticket, resumed by session ID; {RST_REMOVED}",
        ),
        Row(
            "tls13",
            K,
            K,
            R,
            RACE,
            True,
            "psk-stateful",
            f"no-tls-tickets: stateful TLS 1.3 tickets in the cache; {RST_REMOVED}",
        ),
    ],
}


def test_table_covers_every_configuration() -> None:
    check_table(EXPECTED, ("haproxy",))


@pytest.mark.parametrize("config_name,row", cases(EXPECTED))
def test_matrix(measured, config_name: str, row: Row) -> None:
    check_row(measured(config_name), row, config_name)


@pytest.fixture(scope="module")
def haproxy(interop_dir: Path, credentials: peers.Credentials) -> Iterator[peers.RunningPeer]:
    if not peers.shutil.which("haproxy"):
        pytest.skip("haproxy not installed (apt-get install haproxy)")
    with peers.running(peers.config("haproxy"), credentials, interop_dir / "haproxy-gap") as p:
        yield p


def test_close_notify_read_before_rst_keeps_the_session(haproxy: peers.RunningPeer) -> None:
    """The notify_reset race, made deterministic: with NOTIFY_GAP_S between the close_notify
    and the RST, HAProxy has read the close_notify (and shut the SSL down cleanly) before the
    RST arrives, so the session-ID session survives every time."""
    trials = [
        rc.run_trial("127.0.0.1", haproxy.port, "session-id", rc.NOTIFY_GAP_RESET) for _ in range(3)
    ]
    assert [t.error for t in trials] == ["", "", ""]
    assert [t.resumed for t in trials] == [True, True, True], trials
