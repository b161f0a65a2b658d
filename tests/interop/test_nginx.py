"""nginx 1.22 (Debian nginx-light, OpenSSL 3.0) with ssl_session_cache shared:SSL:1m: what
happens to a session when the client closes without close_notify. See docs/real-stacks.md.
"""

from __future__ import annotations

import pytest

from expectations import K, Row, cases, check_row, check_table

# nginx >= 1.21.2 sets SSL_OP_IGNORE_UNEXPECTED_EOF (ngx_ssl_create, commit 5155845ce), treats
# a syscall EOF or reset as a clean peer shutdown in ngx_ssl_handle_recv and sets
# SSL_SENT_SHUTDOWN in ngx_ssl_shutdown before SSL_free.
LENIENT = (
    "nginx: SSL_OP_IGNORE_UNEXPECTED_EOF and SSL_set_shutdown(SENT) before SSL_free "
    "(docs/tls-semantics.md 2.6)"
)
TICKET = ("RFC 5077 ticket: resumption from the ticket never reads the cache "
          "(docs/tls-semantics.md 2.5)")
STATELESS = "TLS 1.3 stateless ticket, not in the cache (docs/tls-semantics.md 2.5)"

EXPECTED: dict[str, list[Row]] = {
    "nginx": [
        Row("session-id", K, K, K, K, False, "session-id", LENIENT),
        Row("ticket", K, K, K, K, True, "ticket", TICKET),
        Row("tls13", K, K, K, K, True, "psk-stateless", STATELESS),
    ],
    # ssl_session_tickets off = SSL_OP_NO_TICKET: TLS 1.3 tickets become stateful and live in
    # the shared cache (docs/tls-semantics.md 2.5), so this configuration tests nginx's cache path.
    "nginx-no-tickets": [
        Row("session-id", K, K, K, K, False, "session-id", LENIENT),
        Row(
            "ticket",
            K,
            K,
            K,
            K,
            False,
            "session-id",
            f"ssl_session_tickets off: no RFC 5077 ticket; {LENIENT}",
        ),
        Row(
            "tls13",
            K,
            K,
            K,
            K,
            True,
            "psk-stateful",
            f"SSL_OP_NO_TICKET: stateful TLS 1.3 tickets in the shared cache; {LENIENT}",
        ),
    ],
}


def test_table_covers_every_configuration() -> None:
    check_table(EXPECTED, ("nginx",))


@pytest.mark.parametrize("config_name,row", cases(EXPECTED))
def test_matrix(measured, config_name: str, row: Row) -> None:
    check_row(measured(config_name), row, config_name)
