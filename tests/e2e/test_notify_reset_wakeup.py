"""A close_notify with an RST right behind it, against `tlslab serve --profile haproxy-frontend`:
the fate follows what the server saw in one wake-up (docs/real-stacks.md 4.8).

HAProxy 2.6 answers a connection that ends before its first request with a 400; with the RST
already in the kernel that send fails and SSL_shutdown is skipped, so the session is removed
(src/mux_h1.c h1_handle_parsing_error, h1_shutw_conn). The lab server is stopped (SIGSTOP)
while the close_notify and the RST arrive, so it sees both in one wake-up, deterministically;
a close_notify read alone, or one after a served request, keeps the session. The close kind
stays close_notify in every case; only the removal count moves."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import struct
import time

from test_hostile_clients import client_context, host_port

REQUEST = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"
SETTLE_S = 0.2  # loopback delivers in microseconds; the server wakes well within this


def handshake(target: str):
    """A finished TLS handshake over a plain socket and memory BIOs: the socket stays ours, so
    the close_notify and the RST can be timed against the server."""
    sock = socket.create_connection(host_port(target), timeout=5)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(incoming, outgoing)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            obj.do_handshake()
            sock.sendall(outgoing.read())
            return sock, obj, incoming, outgoing
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            assert data, "server closed during the handshake"
            incoming.write(data)
    raise AssertionError("no handshake within 10 s")


def close_notify_bytes(obj: ssl.SSLObject, outgoing: ssl.MemoryBIO) -> bytes:
    """The client's close_notify record (SSL_shutdown writes it, then wants the peer's)."""
    try:
        obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def stopped(pid: int) -> bool:
    """Whether every thread of `pid` is stopped: kill() returns before the stop takes effect."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] != "T":
                return False
    return True


def stop(server) -> None:
    server.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while not stopped(server.pid):
        assert time.monotonic() < deadline, "the server did not stop within 5 s"
        time.sleep(0.005)


def reset(sock: socket.socket) -> None:
    """SO_LINGER {1, 0} and close: an RST, as `tlslab check --close notify-reset` does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def served(sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO,
           outgoing: ssl.MemoryBIO) -> None:
    """One request and its whole response, as an http check before it closes."""
    obj.write(REQUEST)
    sock.sendall(outgoing.read())
    got = b""
    deadline = time.monotonic() + 5
    while b"OK\n" not in got and time.monotonic() < deadline:
        data = sock.recv(65536)
        assert data, "server closed before answering"
        incoming.write(data)
        try:
            got += obj.read(65536)
        except ssl.SSLWantReadError:
            pass
    assert got.startswith(b"HTTP/1.1 200"), got


def close(server, target: str, *, request: bool, same_wakeup: bool) -> None:
    sock, obj, incoming, outgoing = handshake(target)
    if request:
        served(sock, obj, incoming, outgoing)
    notify = close_notify_bytes(obj, outgoing)
    assert notify, "no close_notify written"
    try:
        if same_wakeup:
            stop(server)
        sock.sendall(notify)
        if not same_wakeup:
            time.sleep(SETTLE_S)  # the server reads the close_notify alone
        reset(sock)
        time.sleep(SETTLE_S)
    finally:
        server.send_signal(signal.SIGCONT)
    time.sleep(SETTLE_S)


def figures_after(serve, profile: str, cases: list[tuple[bool, bool]]) -> dict:
    server = serve("--profile", profile, "--tls", "1.2", "--tickets", "off", "--backends",
                   str(len(cases)), "--json")
    for target, (request, same_wakeup) in zip(server.targets, cases):
        close(server, target, request=request, same_wakeup=same_wakeup)
    rc = server.stop()
    assert rc == 130, (rc, server.stderr()[-2000:])
    return json.loads(server.stdout())["figures"]


def test_haproxy_frontend_drops_only_a_first_close_notify_that_came_with_the_rst(serve) -> None:
    # (a request first, RST in the same wake-up): only (no request, same wake-up) removes.
    cases = [(False, True), (False, False), (True, True)]
    f = figures_after(serve, "haproxy-frontend", cases)
    assert f["close_kinds"]["close_notify"] == 3, f
    assert f["close_kinds"]["reset"] == 0, f
    assert f["sessions_removed_total"]["close_notify"] == 1, f


def test_other_profiles_keep_a_close_notify_that_came_with_the_rst(serve) -> None:
    f = figures_after(serve, "nginx", [(False, True)])
    assert f["close_kinds"]["close_notify"] == 1, f
    assert f["sessions_removed_total"]["close_notify"] == 0, f
