"""Hostile TLS servers against `tlslab check` and `tlslab probe --http`.

A small Python ssl server answers the request with an endless body or an endless header.
Before the bounded reader (lab/http_response.h) `check` grew to 2.2 GB and `probe --http
--timeout 2s` to several GB and never ended. Now both must stay small (peak RSS from
/proc/PID/status VmHWM), end in bounded time, and say why: check counts the failure as
response_too_large, probe fails with "response too large".
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

# A peer exceeding the caps costs at most the header cap (16 KiB), a 64 KiB read slice and
# OpenSSL's buffers; the process itself is ~10-20 MB. Before the caps: gigabytes.
MAX_PEAK_RSS_KB = 96 * 1024
WALL_LIMIT_S = 20.0


@pytest.fixture(scope="module")
def server_context(tmp_path_factory) -> ssl.SSLContext:
    d = tmp_path_factory.mktemp("hostile-cert")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _answer(tls: ssl.SSLSocket, mode: str, stop: threading.Event) -> None:
    if mode == "ok":  # a well-behaved answer, then wait for the client's close
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\n")
        try:
            tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        return
    if mode == "undecryptable":  # an application-data record no key decrypts, on the raw socket
        os.write(tls.fileno(), b"\x17\x03\x03\x00\x20" + bytes(32))
        try:
            tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        return
    if mode == "huge-header":
        tls.sendall(b"HTTP/1.1 200 OK\r\n")
        block = (b"X-Filler: " + b"a" * 1000 + b"\r\n") * 64
    elif mode == "endless-chunked":
        tls.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    else:  # endless body delimited by the close that never comes
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        block = b"x" * 0x10000
    while not stop.is_set():
        tls.sendall(block)


class HostileTlsServer:
    """TLS on 127.0.0.1:0; each connection in its own thread reads a request, then sends the
    answer of `mode` without end, until the client goes away or stop()."""

    def __init__(self, ctx: ssl.SSLContext, mode: str, host: str = "127.0.0.1"):
        self.ctx, self.mode = ctx, mode
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        shown = f"[{host}]" if ":" in host else host
        self.target = f"{shown}:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.request_heads: list[bytes] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            with self.ctx.wrap_socket(raw, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    data = tls.recv(4096)
                    if not data:
                        return
                    request += data
                self.requests += 1
                self.request_heads.append(request)
                _answer(tls, self.mode, self._stop)
        except (OSError, ssl.SSLError):
            pass  # the client gave up on us: what it should do
        finally:
            raw.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self.sock.close()


@pytest.fixture
def hostile(server_context):
    servers: list[HostileTlsServer] = []

    def start(mode: str, host: str = "127.0.0.1") -> HostileTlsServer:
        servers.append(HostileTlsServer(server_context, mode, host))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def run_measured(cmd: list[str]) -> tuple[subprocess.CompletedProcess, int, float]:
    """Runs cmd to completion, sampling its peak RSS (VmHWM, kB); returns it and the wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out: dict[str, str] = {}
    reader = threading.Thread(
        target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())), daemon=True)
    reader.start()
    peak_kb = 0
    try:
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                break
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
            if peak_kb > MAX_PEAK_RSS_KB or time.monotonic() - start > WALL_LIMIT_S * 2:
                break  # a regression: stop it before it takes the machine's memory or time
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
    wall = time.monotonic() - start
    done = subprocess.CompletedProcess(cmd, proc.returncode, out.get("stdout", ""),
                                       out.get("stderr", ""))
    return done, peak_kb, wall


MODES = ["huge-header", "endless-chunked", "endless-until-close"]


@pytest.mark.parametrize("mode", MODES[:2])
def test_check_against_an_endless_response_is_bounded_and_counted(cli, hostile, mode) -> None:
    server = hostile(mode)
    cmd = [str(cli.bin), "check", "--target", server.target, "--check", "http", "--inter",
           "200ms", "--timeout", "5s", "--max-checks", "3", "--duration", "15s", "--json",
           "--live", "off"]
    proc, peak_kb, wall = run_measured(cmd)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 0, proc.stderr[-2000:]
    f = json.loads(proc.stdout)["figures"]
    assert f["checks_total"] == 3, f
    assert f["check_failures_by_reason"]["response_too_large"] == 3, f
    assert "exceeds" in f["check_failure_examples"]["response_too_large"], f
    assert peak_kb < MAX_PEAK_RSS_KB, f"peak RSS {peak_kb} kB"
    assert wall < WALL_LIMIT_S, f"{wall:.1f} s"


def test_check_takes_a_response_without_framing_at_its_header(cli, hostile) -> None:
    # As HAProxy's httpchk judges the status line: a body delimited by the close is not waited
    # for, so the endless one costs nothing and the check passes.
    server = hostile("endless-until-close")
    cmd = [str(cli.bin), "check", "--target", server.target, "--check", "http", "--inter",
           "200ms", "--timeout", "5s", "--max-checks", "2", "--duration", "15s", "--json",
           "--live", "off"]
    proc, peak_kb, wall = run_measured(cmd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    f = json.loads(proc.stdout)["figures"]
    assert f["checks_total"] == 2 and f["check_failures_total"] == 0, f
    assert peak_kb < MAX_PEAK_RSS_KB, f"peak RSS {peak_kb} kB"
    assert wall < WALL_LIMIT_S, f"{wall:.1f} s"


def test_check_names_an_undecryptable_record_a_tls_error(cli, hostile) -> None:
    # A regression: a record that does not decrypt was reported as "server closed".
    server = hostile("undecryptable")
    proc = subprocess.run(
        [str(cli.bin), "check", "--target", server.target, "--check", "http", "--inter",
         "200ms", "--timeout", "3s", "--max-checks", "1", "--duration", "10s", "--json",
         "--live", "off"], capture_output=True, text=True, timeout=WALL_LIMIT_S)
    cli.assert_no_crash(proc.stderr)
    f = json.loads(proc.stdout)["figures"]
    assert f["check_failures_total"] == 1, f
    example = f["check_failure_examples"]["closed"]
    assert ": TLS error after the handshake: " in example, example
    assert "bad record mac" in example or "decrypt" in example, example


@pytest.mark.parametrize("mode", MODES)
def test_probe_http_against_an_endless_response_is_bounded_and_fails(cli, hostile, mode) -> None:
    server = hostile(mode)
    cmd = [str(cli.bin), "probe", server.target, "--http", "--timeout", "2s", "--repeat", "1",
           "--json"]
    proc, peak_kb, wall = run_measured(cmd)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-2000:])
    doc = json.loads(proc.stdout)
    assert doc["verdict"]["kind"] == "failed", doc["verdict"]
    assert "response too large" in doc["verdict"]["line"], doc["verdict"]
    assert server.requests >= 1
    assert peak_kb < MAX_PEAK_RSS_KB, f"peak RSS {peak_kb} kB"
    assert wall < WALL_LIMIT_S, f"{wall:.1f} s"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_host_header_of_an_ipv6_target_keeps_its_brackets(cli, hostile) -> None:
    # RFC 9110 7.2 / RFC 3986 3.2.2: an IPv6 literal in Host is written in brackets; check and
    # probe build the header in one place (lab/http_response.h HostHeader).
    server = hostile("ok", "::1")
    doc = cli.check("--target", server.target, "--check", "http", "--inter", "200ms",
                    "--timeout", "5s", "--max-checks", "1", "--duration", "10s")
    assert doc["figures"]["check_failures_total"] == 0, doc["figures"]
    probe = cli.run(["probe", server.target, "--http", "--tls", "1.3", "--repeat", "1",
                     "--timeout", "2s", "--json"], timeout=60)
    cli.assert_no_crash(probe.stderr)
    assert len(server.request_heads) >= 2
    for head in server.request_heads:
        assert b"\r\nHost: [::1]\r\n" in head, head
