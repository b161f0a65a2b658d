"""openssl s_server (OpenSSL 3.0): what happens to a session when the client closes without
close_notify. Observed on Debian bookworm's openssl 3.0.19; see docs/real-stacks.md.

With and without -www the EOF reaches SSL_read (sv_body: select, then SSL_read; www_body:
BIO_gets on an SSL BIO, whose read is SSL_read), so both take the same path: no difference.
"""

from __future__ import annotations

import pytest

from expectations import K, R, Row, cases, check_row, check_table

# OpenSSL 3.0 ssl3_read_n: EOF without close_notify -> SSLfatal(decode_error,
# "unexpected eof while reading") -> ssl3_send_alert(fatal) -> SSL_CTX_remove_session.
EOF_FATAL = (
    "EOF: OpenSSL 3.0 SSLfatal(unexpected eof while reading) -> ssl3_send_alert -> "
    "SSL_CTX_remove_session (docs/tls-semantics.md 2.1 mechanism 1, 2.2)"
)
# RST: SSL_ERROR_SYSCALL without an alert (docs/tls-semantics.md 2.3); s_server then sets
# SSL_SENT_SHUTDOWN (sv_body `err:` do_ssl_shutdown/SSL_set_shutdown; -www: BIO_f_ssl's
# ssl_free calls SSL_shutdown before SSL_free), so ssl_clear_bad_session never fires.
RST_KEPT = (
    "RST: SSL_ERROR_SYSCALL, no alert (2.3); s_server sets SSL_SENT_SHUTDOWN before "
    "SSL_free, so no ssl_clear_bad_session (2.1 mechanism 2)"
)
IGNORE_EOF = (
    "-ignore_unexpected_eof = SSL_OP_IGNORE_UNEXPECTED_EOF: EOF handled as "
    "close_notify (docs/tls-semantics.md 2.2)"
)
TICKET = ("RFC 5077 ticket: resumption from the ticket never reads the cache "
          "(docs/tls-semantics.md 2.5)")
STATELESS = ("TLS 1.3 stateless ticket, not in the cache (openssl PR #6293; "
             "docs/tls-semantics.md 2.5)")
STATEFUL = (
    "-no_ticket in TLS 1.3 = stateful tickets in the cache (openssl 7e4d731b1c07; "
    "docs/tls-semantics.md 2.5)"
)
NO_TICKET = "-no_ticket: no RFC 5077 ticket issued, the client resumes by session ID"

STRICT_ON_EOF = [
    Row("session-id", K, R, K, K, False, "session-id", f"{EOF_FATAL}; {RST_KEPT}"),
    Row("ticket", K, K, K, K, True, "ticket", TICKET),
    Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
]
LENIENT = [
    Row("session-id", K, K, K, K, False, "session-id", f"{IGNORE_EOF}; {RST_KEPT}"),
    Row("ticket", K, K, K, K, True, "ticket", TICKET),
    Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
]

EXPECTED: dict[str, list[Row]] = {
    "s_server": STRICT_ON_EOF,
    "s_server-ignore-eof": LENIENT,
    # www_body reads the request through BIO_gets on the SSL BIO -> SSL_read: the same path.
    "s_server-www": STRICT_ON_EOF,
    "s_server-www-ignore-eof": LENIENT,
    "s_server-no-ticket": [
        Row("session-id", K, R, K, K, False, "session-id", f"{EOF_FATAL}; {RST_KEPT}"),
        Row("ticket", K, R, K, K, False, "session-id", f"{NO_TICKET}; {EOF_FATAL}"),
        Row("tls13", K, R, K, K, True, "psk-stateful", f"{STATEFUL}; {EOF_FATAL}"),
    ],
    "s_server-no-ticket-ignore-eof": [
        Row("session-id", K, K, K, K, False, "session-id", IGNORE_EOF),
        Row("ticket", K, K, K, K, False, "session-id", f"{NO_TICKET}; {IGNORE_EOF}"),
        Row("tls13", K, K, K, K, True, "psk-stateful", f"{STATEFUL}; {IGNORE_EOF}"),
    ],
}


def test_table_covers_every_configuration() -> None:
    check_table(EXPECTED, ("s_server",))


@pytest.mark.parametrize("config_name,row", cases(EXPECTED))
def test_matrix(measured, config_name: str, row: Row) -> None:
    check_row(measured(config_name), row, config_name)
