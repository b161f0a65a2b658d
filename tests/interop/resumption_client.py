"""A small TLS client that measures whether a server keeps a session after a close.

For one server, one resumption mechanism and one close kind, a *trial* is:

1. connection A: full handshake (for TLS 1.3, read briefly until a NewSessionTicket has arrived,
   because the server sends it only after the client's Finished); save `sslsock.session`;
2. close A one way (see CLOSE_MODES);
3. pause, so the server has handled the close;
4. connection B offers the saved session; `sslsock.session_reused` says whether the server
   resumed it; B is closed cleanly (close_notify).

`measure_matrix()` repeats a trial per (mechanism, close mode) and turns the results into
fates: `kept`, `removed`, `no-resumption` (even a clean close does not resume), or `flaky`.

Uses only the standard `ssl` module of Debian's /usr/bin/python3 (linked against the system
OpenSSL 3.0). Every socket operation is under a timeout.

Example (against any TLS server on 127.0.0.1:8443):

    /usr/bin/python3 tests/interop/resumption_client.py 127.0.0.1 8443
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import socket
import ssl
import struct
import time
from typing import Iterable, Sequence

# Resumption mechanisms, named as in docs/design.md 2, with what the client offers.
#   session-id: TLS 1.2 and the client sends no SessionTicket extension (ssl.OP_NO_TICKET), so
#               the only way to resume is the server's session-ID cache;
#   ticket:     TLS 1.2, SessionTicket extension offered: the server resumes from an RFC 5077
#               ticket if it issued one, else from its session-ID cache;
#   tls13:      TLS 1.3 PSK from whatever NewSessionTicket the server issued (stateless or
#               stateful: the client cannot tell; the peer's configuration says which).
MECHANISMS = ("session-id", "ticket", "tls13")

# How connection A ends (docs/design.md 2 close modes; what the server sees in brackets):
#   close_notify: close_notify, then FIN; wait for the server to close        [close_notify]
#   eof:          FIN without close_notify; wait for the server to close      [eof]
#   reset:        no close_notify, RST (SO_LINGER {1, 0})                     [reset]
#   notify_reset: close_notify, then RST at once: HAProxy 1.7.4-2.1 checks   [close_notify, or
#                 that read a response (docs/tls-semantics.md 4.1)                 reset if the RST
#                                                                             wins the race]
CLOSE_MODES = ("close_notify", "eof", "reset", "notify_reset")
# Not in the matrices: close_notify, NOTIFY_GAP_S, then RST. Shows what notify_reset does when
# the server has read the close_notify before the RST arrives.
NOTIFY_GAP_RESET = "notify_gap_reset"
NOTIFY_GAP_S = 0.05

KEPT = "kept"
REMOVED = "removed"
NO_RESUMPTION = "no-resumption"
FLAKY = "flaky"

CONNECT_TIMEOUT_S = 10.0  # shared 2-core machine, JVM peers: generous
IO_TIMEOUT_S = 10.0
TICKET_WAIT_S = 2.0  # TLS 1.3: longest wait for a NewSessionTicket after the handshake
TICKET_POLL_S = 0.02  # one read attempt while waiting for it
SERVER_CLOSE_WAIT_S = 3.0  # after our FIN: longest wait for the server's own close
# Between the close of A and connection B. After a FIN we have already waited for the server's
# own close, so it has handled ours; after an RST there is nothing to wait for, so wait longer.
PAUSE_AFTER_FIN_S = 0.1
PAUSE_AFTER_RST_S = 0.2


@dataclasses.dataclass
class Trial:
    """One trial: what connection A got and whether connection B resumed."""

    mechanism: str
    close_mode: str
    version_a: str  # negotiated protocol of A, e.g. "TLSv1.2"
    ticket_a: bool  # the saved session carries a ticket (RFC 5077 or TLS 1.3 PSK)
    server_closed: bool | None  # after a FIN close: the server closed within the wait
    resumed: bool  # B: sslsock.session_reused
    error: str = ""  # a failed trial: what failed (resumed is then False)


def make_context(mechanism: str) -> ssl.SSLContext:
    """A client context for one mechanism. The server certificate is not verified (a
    throw-away self-signed one); what is measured is the server's session handling."""
    if mechanism not in MECHANISMS:
        raise ValueError(f"unknown mechanism {mechanism!r}; known: {', '.join(MECHANISMS)}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if mechanism == "tls13":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if mechanism == "session-id":
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def _connect(
    ctx: ssl.SSLContext, host: str, port: int, session: ssl.SSLSession | None
) -> ssl.SSLSocket:
    raw = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    raw.settimeout(IO_TIMEOUT_S)
    try:
        tls = ctx.wrap_socket(
            raw, server_hostname="localhost", session=session, do_handshake_on_connect=False
        )
        tls.do_handshake()
        return tls
    except BaseException:
        raw.close()
        raise


def _wait_for_ticket(tls: ssl.SSLSocket) -> None:
    """TLS 1.3: read in short slices until the session carries a ticket (the server sends its
    NewSessionTicket after it has received our Finished), at most TICKET_WAIT_S."""
    deadline = time.monotonic() + TICKET_WAIT_S
    tls.settimeout(TICKET_POLL_S)
    try:
        while time.monotonic() < deadline:
            session = tls.session
            if session is not None and session.has_ticket:
                return
            try:
                data = tls.recv(1)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not data:  # the server closed: nothing more will come
                return
    finally:
        tls.settimeout(IO_TIMEOUT_S)


def _drain_until_closed(raw: socket.socket, wait_s: float) -> bool:
    """Read and discard until the peer closes (True) or wait_s passes (False)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        raw.settimeout(left)
        try:
            if not raw.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError as e:  # the server answered with an RST: it has closed too
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                return True
            raise


def _send_close_notify(tls: ssl.SSLSocket) -> None:
    """Send our close_notify without waiting for the server's: SSL_shutdown once, non-blocking
    (Python's unwrap() would otherwise block in the second SSL_shutdown for the peer's)."""
    tls.settimeout(0)
    try:
        tls.unwrap()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass  # close_notify is out; the server's answer is read (and discarded) by the drain
    except (ssl.SSLError, OSError):
        pass  # the server already closed; the close_notify may still have been delivered


def _detach(tls: ssl.SSLSocket) -> socket.socket:
    """The plain TCP socket under tls. The SSL object is dropped without SSL_shutdown, and
    SSL_free writes nothing, so nothing more goes out at the TLS layer."""
    return socket.socket(fileno=tls.detach())


def _sends_rst(mode: str) -> bool:
    return mode in ("reset", "notify_reset", NOTIFY_GAP_RESET)


def close_connection(tls: ssl.SSLSocket, mode: str) -> bool | None:
    """Close tls one of the CLOSE_MODES ways. Returns, for the modes that send a FIN, whether
    the server closed its side within SERVER_CLOSE_WAIT_S (None for the RST modes)."""
    if mode not in CLOSE_MODES + (NOTIFY_GAP_RESET,):
        raise ValueError(
            f"unknown close mode {mode!r}; known: {', '.join(CLOSE_MODES)}, " f"{NOTIFY_GAP_RESET}"
        )
    if mode in ("close_notify", "notify_reset", NOTIFY_GAP_RESET):
        _send_close_notify(tls)
    if mode == NOTIFY_GAP_RESET:
        time.sleep(NOTIFY_GAP_S)
    raw = _detach(tls)
    try:
        if _sends_rst(mode):
            # SO_LINGER {on, 0 s}: close() sends an RST and drops anything unsent.
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return None
        # FIN now, whatever is still unread (a close() with unread data would send an RST);
        # then wait for the server's close, so that it has handled ours before the next trial.
        raw.shutdown(socket.SHUT_WR)
        return _drain_until_closed(raw, SERVER_CLOSE_WAIT_S)
    finally:
        raw.close()


def run_trial(
    host: str, port: int, mechanism: str, close_mode: str, pause_s: float | None = None
) -> Trial:
    """One trial (module docstring). A failed connection becomes a trial with error set.
    pause_s: between the close of A and connection B; default by close mode (PAUSE_AFTER_*)."""
    if pause_s is None:
        pause_s = PAUSE_AFTER_RST_S if _sends_rst(close_mode) else PAUSE_AFTER_FIN_S
    ctx = make_context(mechanism)
    trial = Trial(mechanism, close_mode, "", False, None, False)
    try:
        a = _connect(ctx, host, port, None)
        trial.version_a = a.version() or ""
        if trial.version_a == "TLSv1.3":
            _wait_for_ticket(a)
        saved = a.session
        trial.ticket_a = bool(saved is not None and saved.has_ticket)
        trial.server_closed = close_connection(a, close_mode)
        time.sleep(pause_s)
        b = _connect(ctx, host, port, saved)
        trial.resumed = b.session_reused
        close_connection(b, "close_notify")
    except (OSError, ssl.SSLError) as e:
        trial.error = f"{type(e).__name__}: {e}"
    return trial


def fate_of(baseline: Sequence[Trial], trials: Sequence[Trial]) -> str:
    """The session fate for one close mode, given the close_notify trials as the baseline."""
    if not baseline or not any(t.resumed for t in baseline):
        return NO_RESUMPTION
    if not all(t.resumed for t in baseline):
        return FLAKY  # even a clean close resumes only sometimes
    resumed = [t.resumed for t in trials]
    if all(resumed):
        return KEPT
    if not any(resumed):
        return REMOVED
    return FLAKY


@dataclasses.dataclass
class Matrix:
    """Observed fates: fates[mechanism][close_mode], plus every trial for the record."""

    fates: dict[str, dict[str, str]]
    trials: list[Trial]

    def row(self, mechanism: str) -> tuple[str, ...]:
        return tuple(self.fates[mechanism][m] for m in self.close_modes)

    @property
    def close_modes(self) -> tuple[str, ...]:
        first = next(iter(self.fates.values()))
        return tuple(first)

    def markdown(self) -> str:
        head = "| mechanism | " + " | ".join(self.close_modes) + " | A's session |"
        rule = "|---" * (len(self.close_modes) + 2) + "|"
        lines = [head, rule]
        for mech, row in self.fates.items():
            a = [t for t in self.trials if t.mechanism == mech and t.version_a]
            what = (
                ", ".join(
                    sorted({f"{t.version_a} {'ticket' if t.ticket_a else 'no ticket'}" for t in a})
                )
                or "no connection"
            )
            lines.append(f"| {mech} | " + " | ".join(row.values()) + f" | {what} |")
        return "\n".join(lines)

    def failures(self) -> list[Trial]:
        return [t for t in self.trials if t.error]


def measure_matrix(
    host: str,
    port: int,
    mechanisms: Iterable[str] = MECHANISMS,
    close_modes: Iterable[str] = CLOSE_MODES,
    repeats: int = 3,
    pause_s: float | None = None,
) -> Matrix:
    """Run `repeats` trials per (mechanism, close mode) and derive the fates."""
    close_modes = tuple(close_modes)
    if "close_notify" not in close_modes:
        close_modes = ("close_notify",) + close_modes  # the baseline
    fates: dict[str, dict[str, str]] = {}
    trials: list[Trial] = []
    for mech in mechanisms:
        by_mode = {
            m: [run_trial(host, port, mech, m, pause_s) for _ in range(repeats)]
            for m in close_modes
        }
        for ts in by_mode.values():
            trials.extend(ts)
        fates[mech] = {m: fate_of(by_mode["close_notify"], by_mode[m]) for m in close_modes}
    return Matrix(fates, trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mechanisms", default=",".join(MECHANISMS))
    parser.add_argument("--close", default=",".join(CLOSE_MODES))
    args = parser.parse_args()
    matrix = measure_matrix(
        args.host, args.port, args.mechanisms.split(","), args.close.split(","), args.repeats
    )
    print(matrix.markdown())
    for t in matrix.failures():
        print(f"failed: {t.mechanism} {t.close_mode}: {t.error}")


if __name__ == "__main__":
    main()
