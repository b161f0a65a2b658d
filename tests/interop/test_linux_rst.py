"""The kernel premise behind the notify_reset close mode (close_notify, then RST at once, as
HAProxy 1.7.4-2.1 checks close): on Linux, bytes that arrived before an RST stay readable.

docs/tls-semantics.md 4.1 leaves "whether the peer's kernel delivers data queued ahead of an RST to
the application" [UNVERIFIED]. It does: recv() returns the queued bytes first and only then
fails with ECONNRESET; epoll reports EPOLLIN together with EPOLLERR|EPOLLHUP. So whether a
server sees the close_notify depends on the server: one that reads first gets it (JDK
SSLSocket, openssl s_server), one that acts on the error first loses it (HAProxy 2.6 as a
frontend, half the time, see test_haproxy.py).
"""

from __future__ import annotations

import select
import socket
import struct
import time


def test_bytes_queued_before_an_rst_are_read_before_the_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
        with server:
            server.settimeout(5)
            client.sendall(b"stands for a close_notify record")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # RST
            time.sleep(0.1)  # both the bytes and the RST have arrived

            poller = select.epoll()
            try:
                poller.register(server.fileno(), select.EPOLLIN)
                events = dict(poller.poll(5))
            finally:
                poller.close()
            ev = events[server.fileno()]
            assert ev & select.EPOLLIN and ev & select.EPOLLERR and ev & select.EPOLLHUP

            assert server.recv(100) == b"stands for a close_notify record"
            try:
                server.recv(100)
            except ConnectionResetError:
                pass
            else:
                raise AssertionError("expected ECONNRESET after the queued bytes")
