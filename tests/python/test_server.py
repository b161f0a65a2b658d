"""tlslab.Server: virtual backends in this process, driven by Python's own ssl client."""

from __future__ import annotations

import socket
import ssl

import pytest

import tlslab

REQUEST = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"


def client(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the lab's self-signed cert
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def check(port: int, ctx: ssl.SSLContext, session=None, close_notify: bool = True):
    """One http check: (resumed?, the session to offer next)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        tls = ctx.wrap_socket(raw, session=session)
        tls.sendall(REQUEST)
        response = b""
        while not response.endswith(b"OK\n"):  # reading also takes in a TLS 1.3 ticket
            chunk = tls.recv(4096)
            assert chunk, f"the server closed early: {response!r}"
            response += chunk
        assert response.startswith(b"HTTP/1.1 200 OK")
        resumed, session = tls.session_reused, tls.session
        if close_notify:
            tls.unwrap()
        else:
            tls.close()  # FIN without close_notify
    return resumed, session


def test_ports_stats_and_close():
    with tlslab.Server(backends=3, key="p256") as srv:
        assert len(srv.ports) == 3 and len(set(srv.ports)) == 3
        assert srv.targets == [f"127.0.0.1:{p}" for p in srv.ports]
        assert srv.host == "127.0.0.1" and not srv.closed
        assert srv.settings["profile"] == "lenient" and srv.settings["backends"] == 3
        stats = srv.stats()
        assert stats["connections_total"] == 0 and stats["cpu_seconds"] >= 0
        assert set(stats["close_kinds"]) == {
            "close_notify",
            "eof",
            "reset",
            "alert",
            "timeout",
            "handshake_failed",
        }
        assert "profile=lenient backends=3" in repr(srv)
    assert srv.closed
    srv.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        srv.stats()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.ports[0]), timeout=2)


# (TLS version, server profile, previous check sends close_notify) -> next check resumes.
CASES = [
    (ssl.TLSVersion.TLSv1_2, "strict", True, True),
    (ssl.TLSVersion.TLSv1_2, "strict", False, False),
    (ssl.TLSVersion.TLSv1_2, "lenient", False, True),
    (ssl.TLSVersion.TLSv1_3, "strict", True, True),
    (ssl.TLSVersion.TLSv1_3, "strict", False, False),
    (ssl.TLSVersion.TLSv1_3, "lenient", False, True),
]


@pytest.mark.parametrize(
    "version, profile, close_notify, resumes",
    CASES,
    ids=[f"{c[0].name}-{c[1]}-{'notify' if c[2] else 'fin'}" for c in CASES],
)
def test_python_client_sees_the_profile(version, profile, close_notify, resumes):
    with tlslab.Server(profile=profile, backends=1, key="p256", tls="auto") as srv:
        ctx = client(version)
        first, session = check(srv.ports[0], ctx)
        assert not first
        _, session = check(srv.ports[0], ctx, session, close_notify=close_notify)
        assert srv.wait_idle()
        resumed, _ = check(srv.ports[0], ctx, session)
        assert resumed is resumes
        assert srv.wait_idle()
        stats = srv.stats()
    kind = "close_notify" if close_notify else "eof"
    assert stats["close_kinds"][kind] >= 1
    assert stats["sessions_removed_total"]["eof"] == (0 if resumes else 1)
    assert stats["full_handshakes_total"] == (1 if resumes else 2)
    assert stats["connections_total"] == 3


def test_from_config_serves_the_run_config():
    cfg = tlslab.Config(server_profile="strict", backends=2, tls="1.2", tickets=False, key="p256")
    with tlslab.Server.from_config(cfg, backends=3) as srv:
        assert srv.settings["profile"] == "strict" and len(srv.ports) == 3
        assert srv.settings["tls"] == "1.2" and srv.settings["tickets"] is False


def test_a_port_in_use_is_a_runtime_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=str(port)):
            tlslab.Server(port=port, key="p256")


def test_a_checker_process_against_the_server(tlslab_bin):
    """The notebook pattern: an in-process server, a `tlslab check` process against it."""
    from conftest import run_cli

    with tlslab.Server(profile="strict", backends=4, key="p256") as srv:
        args = [
            "check",
            "--profile",
            "haproxy-1.7.3",
            "--inter",
            "200ms",
            "--duration",
            "2s",
            "--live",
            "off",
            "--json",
        ]
        for target in srv.targets:
            args += ["--target", target]
        proc = run_cli(args)
        assert proc.returncode == 0, proc.stderr
        assert srv.wait_idle()
        stats = srv.stats()
    assert stats["connections_total"] >= 30
    assert stats["resumed_handshakes_total"] == 0  # haproxy-1.7.3 against strict
    assert stats["sessions_removed_total"]["reset"] >= stats["connections_total"] - 4


def test_stats_have_the_keys_of_serve_json():
    """One C++ function renders the server's figures for `tlslab serve --json` and for
    Server.stats() (lab/report.h, ServerFigures): the same keys in both."""
    import json

    from tlslab import _cli

    code, out, err = _cli.run_command(
        ["serve", "--duration", "1s", "--live", "off", "--key", "p256", "--json"], timeout=60
    )
    assert code == 0, err
    doc = json.loads(out[out.index("{"):])  # after the "ready ..." line
    with tlslab.Server(backends=1, key="p256") as srv:
        stats = srv.stats()
    assert set(stats) - {"cpu_seconds"} == set(doc["figures"])
    assert set(stats["close_kinds"]) == set(doc["figures"]["close_kinds"])


def test_stats_and_close_from_threads_at_once():
    """A regression: close() in one thread while others call stats() segfaulted (5 of 5
    runs, CpuMeter::TotalNs <- Server::Stats). Now stats() either answers or raises."""
    import threading

    for _ in range(5):
        srv = tlslab.Server(backends=2, key="p256")
        outcomes: list[str] = []
        start = threading.Barrier(5)

        def poll() -> None:
            start.wait()
            for _ in range(2000):
                try:
                    srv.stats()
                except RuntimeError:  # closed under us: the one acceptable failure
                    outcomes.append("closed")
                    return
            outcomes.append("answered")

        threads = [threading.Thread(target=poll) for _ in range(4)]
        for t in threads:
            t.start()
        start.wait()
        srv.close()
        srv.close()  # idempotent, even while others read
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert len(outcomes) == 4 and srv.closed


def test_metrics_serve_the_live_counters_until_closed():
    """Server(metrics=PORT): each scrape reads the live counters (no 1 Hz monitor here)."""
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metrics"
    with tlslab.Server(profile="strict", backends=1, key="p256", metrics=port) as srv:
        ctx = client(ssl.TLSVersion.TLSv1_2)
        _, session = check(srv.ports[0], ctx, close_notify=False)
        srv.wait_idle()
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        assert "tlslab_server_full_handshakes_total 1\n" in text, text
        assert 'tlslab_server_sessions_removed_total{kind="eof"} 1\n' in text, text
        with pytest.raises(ValueError, match="--metrics"):
            tlslab.Server(profile="strict", backends=1, key="p256", metrics=port)  # in use
    with pytest.raises(OSError):  # closed with the server
        urllib.request.urlopen(url, timeout=5)
