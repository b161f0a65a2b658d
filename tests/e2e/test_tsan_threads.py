"""Many threads on both sides of one process: `run` with several server and checker threads
and a stats client (or a --metrics scraper) asking all along. Under ThreadSanitizer
(scripts/test.sh, build-tsan) a data race between the loops, the counters, the sampler, the
stats socket or the metrics thread fails this test; in the other builds it checks that the
threaded run agrees with itself."""

from __future__ import annotations

import socket
import threading


def test_threaded_run_with_a_stats_client(cli, tmp_path) -> None:
    path = tmp_path / "stats.sock"
    replies: list[bytes] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.wait(0.2):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(str(path))
                    s.sendall(b"show info\n")
                    replies.append(s.recv(4096))
            except OSError:
                continue

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    try:
        doc = cli.lab("--backends", "8", "--server-threads", "3", "--threads", "3",
                      "--inter", "100ms", "--duration", "4s", "--stats-socket", path,
                      "--checker-profile", "haproxy-1.7.3", "--key", "p256")  # fmt: skip
    finally:
        stop.set()
        asker.join(5)
    f = doc["figures"]
    assert f["checks_total"] > 0
    assert f["server"]["full_handshakes_total"] + f["server"]["resumed_handshakes_total"] > 0
    assert any(b"SslBackendKeyRate" in r for r in replies), replies[:3]


def test_threaded_run_with_a_metrics_scraper(cli) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bodies: list[bytes] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(0.1):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    body = b""
                    while chunk := s.recv(65536):
                        body += chunk
                    bodies.append(body)
            except OSError:
                continue

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        doc = cli.lab("--backends", "8", "--server-threads", "3", "--threads", "3",
                      "--inter", "100ms", "--duration", "4s", "--metrics", port,
                      "--checker-profile", "haproxy-1.7.3", "--key", "p256")  # fmt: skip
    finally:
        stop.set()
        scraper.join(5)
    assert doc["figures"]["checks_total"] > 0
    assert any(b"tlslab_server_backend_sessions_removed_total" in b for b in bodies), bodies[:1]
