"""`tlslab probe HOST:PORT` against real processes over loopback: tlslab's own strict and
lenient servers, `openssl s_server` (the real OpenSSL 3 behaviour, docs/tls-semantics.md 2.2), a
port with nothing listening, plain TCP servers that are not TLS, and bad input.

Self-contained (its own small helpers: another file owns conftest.py). Every wait has a
timeout; every process started here is killed at teardown.

    TLSLAB_BIN=build/tlslab /usr/bin/python3 -m pytest -q tests/e2e/test_probe.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TLSLAB_BIN", str(REPO / "build" / "tlslab"))).resolve()

READY_TIMEOUT_S = 30.0  # a server generates its RSA key, then listens
PROBE_TIMEOUT_S = 60.0  # one probe: 60 connections, each wait bounded by 3 s; ~3 s in practice
READY_RE = re.compile(r"^ready backends=1 profile=(\S+) listen=(\S+) ports=(\d+)$")
ACCEPT_RE = re.compile(r"^ACCEPT .*:(\d+)$")


# ------------------------------------------------------------------------------------------
# Helpers


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child if the test process dies first (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def probe(*args: str, timeout: float = PROBE_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`tlslab probe ARGS...` to completion; fails (not hangs) after `timeout` s."""
    cmd = [str(BIN), "probe", *map(str, args)]
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s: {e.stderr!r}")
    for marker in ("terminate called", "Sanitizer", "runtime error:", "Segmentation fault"):
        assert marker not in proc.stderr, proc.stderr[-3000:]
    return proc


def probe_json(*args: str, expect_rc: int = 0) -> dict:
    proc = probe(*args, "--json")
    assert proc.returncode == expect_rc, f"rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def fates(doc: dict, mechanism: str) -> dict[str, str]:
    """{close kind: fate} for one probed row."""
    row = doc["mechanisms"][mechanism]
    assert row["status"] == "probed", row
    return {kind: cell["fate"] for kind, cell in row["close_kinds"].items()}


class Process:
    """A server process with stdout in a file (a chatty peer never blocks on a full pipe),
    stdin kept open (openssl s_server stops at EOF on stdin), and a sure end: stop() sends
    SIGTERM, then SIGKILL."""

    def __init__(self, cmd: list[str], workdir: Path, name: str):
        self.cmd = cmd
        self.out_path = workdir / f"{name}.out"
        self._out = open(self.out_path, "w")
        self.popen = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            preexec_fn=_die_with_parent,
        )

    def wait_line(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out_path.read_text(errors="replace").splitlines():
                m = pattern.match(line.strip())
                if m:
                    return m
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"no {pattern.pattern!r} from {self.cmd}:\n{self.out_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self.popen.stdin:
            self.popen.stdin.close()
        self._out.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("probe")


@pytest.fixture(scope="module")
def start(workdir: Path) -> Iterator[Callable[..., Process]]:
    """start(cmd, name) -> a running Process; all are stopped when the module ends."""
    procs: list[Process] = []

    def _start(cmd: list[str], name: str) -> Process:
        p = Process([str(c) for c in cmd], workdir, name)
        procs.append(p)
        return p

    yield _start
    for p in procs:
        p.stop()


def tlslab_serve(start, *flags: str) -> str:
    """`tlslab serve --port 0 ...` -> HOST:PORT from its ready line."""
    proc = start(
        [BIN, "serve", "--port", "0", "--live", "off", "--duration", "10m", *flags],
        "serve" + "".join(flags).replace("-", "_"),
    )
    m = proc.wait_line(READY_RE, READY_TIMEOUT_S)
    return f"{m[2]}:{m[3]}"


@pytest.fixture(scope="module")
def strict_target(start) -> str:
    return tlslab_serve(start, "--profile", "strict")


@pytest.fixture(scope="module")
def lenient_target(start) -> str:
    return tlslab_serve(start, "--profile", "lenient")


@pytest.fixture(scope="module")
def s_server(start, workdir: Path) -> Callable[..., str]:
    """s_server(*options) -> HOST:PORT of `openssl s_server -accept 0 ...`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl (the command) is not installed")
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, timeout=10)
    if not version.stdout.startswith("OpenSSL 3."):
        pytest.skip(f"these expectations are OpenSSL 3's; found {version.stdout.strip()}")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x",
         "-days", "1", "-keyout", "key.pem", "-out", "cert.pem"],
        cwd=workdir, capture_output=True, check=True, timeout=60,
    )  # fmt: skip

    def _start(*options: str) -> str:
        proc = start(
            [
                "openssl",
                "s_server",
                "-accept",
                "0",
                "-cert",
                "cert.pem",
                "-key",
                "key.pem",
                *options,
            ],
            "s_server" + "".join(options),
        )
        return f"127.0.0.1:{proc.wait_line(ACCEPT_RE, READY_TIMEOUT_S)[1]}"

    return _start


@pytest.fixture
def plain_peer(tcp_peer) -> Callable[..., object]:
    """conftest's tcp_peer, with a 2 s timeout on every accepted connection."""

    def start(answer: Callable[[socket.socket], None]):
        def on_accept(conn: socket.socket) -> None:
            conn.settimeout(2)
            answer(conn)

        return tcp_peer(on_accept)

    return start


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------
# tlslab's own servers: the probe must find what the profile table says


def test_strict_server_is_strict_and_matches_its_profile(strict_target):
    doc = probe_json(strict_target)
    assert doc["verdict"]["kind"] == "strict", doc["verdict"]
    # strict is the alias of jdk8-sslengine; JDK 11.0.0-11.0.17's engine has the same matrix
    # (no stateless tickets, closeInbound fatal): the probe cannot tell them apart.
    assert doc["matching_profiles"] == ["jdk8-sslengine", "jdk11-sslengine-old"]
    # JDK 8 SSLEngine under Jetty 9.3: FIN and RST both lose the session (profiles.cc).
    removed = {"close_notify": "kept", "eof": "removed", "reset": "removed"}
    assert fates(doc, "session-id") == removed
    # No server tickets (tickets_supported = false): the ticket row has nothing to offer ...
    assert doc["mechanisms"]["ticket"]["status"] == "no-session"
    # ... and TLS 1.3 tickets are stateful, so they die with the session.
    assert fates(doc, "psk") == removed
    cell = doc["mechanisms"]["session-id"]["close_kinds"]["eof"]
    assert cell == {"close_mode": "quiet", "resumed": 0, "attempts": 3, "fate": "removed"}
    assert doc["mechanisms"]["session-id"]["baseline"] == {"resumed": True}
    assert doc["verdict"]["line"].startswith("strict: removes the session after a close")
    assert "matches profiles jdk8-sslengine, jdk11-sslengine-old" in doc["verdict"]["line"]
    assert doc["connections_total"] == 2 * (2 + 2 * 3 * 3) + 1  # + the ticket row's baseline
    assert set(doc["versions"]) >= {"tlslab", "openssl", "git_commit"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_probe_with_what_it_measured(strict_target, sig):
    """probe follows run's rules: complete JSON, exit 130, promptly."""
    proc = subprocess.Popen(
        [str(BIN), "probe", strict_target, "--pause", "2s", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(1.0)  # inside the first pause after a close
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert proc.returncode == 130, (proc.returncode, err)
    assert took < 1.0, f"{took:.2f} s after the signal"
    doc = json.loads(out)
    assert doc["interrupted"] is True
    assert doc["connections_total"] >= 1
    assert err.startswith("tlslab: interrupted: "), err


def test_expect_is_a_ci_gate(strict_target):
    ok = probe(strict_target, "--expect", "strict", "--repeat", "1")
    assert ok.returncode == 0, ok.stderr
    assert "expect strict: met" in ok.stdout
    by_name = probe(strict_target, "--expect", "jdk8-sslengine", "--repeat", "1")  # its profile
    assert by_name.returncode == 0, by_name.stderr
    miss = probe(strict_target, "--expect", "lenient", "--repeat", "1")
    assert miss.returncode == 1, miss.stdout + miss.stderr
    assert miss.stderr.strip().splitlines() == [
        "tlslab: expectation not met: expected lenient, but the verdict is strict"
    ]
    # A profile name (here an alias) asks for an exact match of every cell.
    wrong_profile = probe(strict_target, "--expect", "rfc5246", "--repeat", "1")  # lenient's alias
    assert wrong_profile.returncode == 1
    assert "expected profile lenient, but" in wrong_profile.stderr


def test_lenient_server_is_lenient(lenient_target):
    proc = probe(lenient_target, "--expect", "lenient")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["mechanism", "version", "baseline", "close_notify", "eof", "reset"]
    assert lines[2].split() == ["session-id", "TLSv1.2", "resumed", "kept", "kept", "kept"]
    assert lines[3].split() == ["ticket", "TLSv1.2", "resumed", "kept", "kept", "kept"]
    assert lines[4].split() == ["psk", "TLSv1.3", "resumed", "kept", "kept", "kept"]
    assert lines[5].startswith("verdict: lenient: keeps the session after every close")
    # Every profile that keeps everything and issues tickets matches; lenient is one of them.
    assert "matches profiles " in lines[5] and "lenient" in lines[5].split("matches profiles ")[1]


def test_http_and_version_choice(lenient_target):
    # --http sends a GET before each close; tlslab serve answers it and leaves the close to us.
    doc = probe_json(lenient_target, "--http", "--tls", "1.3", "--repeat", "1")
    assert list(doc["mechanisms"]) == ["psk"]
    assert doc["config"]["check"] == "http"
    assert doc["mechanisms"]["psk"]["server_closed_first"] == 0
    assert doc["verdict"]["kind"] == "lenient"


def test_trace_names_each_event(strict_target):
    proc = probe(strict_target, "--trace", "--repeat", "1", "--tls", "1.3")
    assert proc.returncode == 0, proc.stderr
    for event in (
        "ClientHello offers no session",
        "ClientHello offers the session (TLS 1.3 ticket, pre_shared_key)",
        "NewSessionTicket received",
        "handshake: full TLSv1.3",
        "handshake: resumed TLSv1.3",
        "close_notify sent, then FIN sent",
        "FIN sent (no close_notify)",
        "RST sent (no close_notify)",
        "=> full handshake: the server dropped the session after eof",
        "=> resumed: the server kept the session after close_notify",
    ):
        assert event in proc.stderr, f"{event!r} not traced:\n{proc.stderr[-3000:]}"


def test_no_cache_at_all_is_no_resumption_not_strict(start):
    target = tlslab_serve(
        start, "--profile", "strict", "--tickets", "off", "--session-cache", "off"
    )
    doc = probe_json(target)
    assert doc["verdict"]["kind"] == "no-resumption", doc["verdict"]
    assert doc["mechanisms"]["session-id"]["status"] == "no-session"  # empty session ID
    assert doc["mechanisms"]["psk"]["baseline"] == {"resumed": False}
    assert doc["connections_total"] <= 6  # it stops at the baselines
    miss = probe(target, "--expect", "strict")
    assert miss.returncode == 1
    assert "verdict is no-resumption" in miss.stderr


# ------------------------------------------------------------------------------------------
# openssl s_server: the real OpenSSL 3 (what the probe found is what is asserted; the reason
# for each cell is in the comments)


def test_openssl_s_server_default_drops_session_id_on_fin_only(s_server):
    doc = probe_json(s_server())
    # OpenSSL 3 without SSL_OP_IGNORE_UNEXPECTED_EOF: s_server is in SSL_read when the FIN
    # arrives, the EOF is a fatal error (SSL_R_UNEXPECTED_EOF_WHILE_READING), and
    # ssl3_send_alert removes the session from the cache (docs/tls-semantics.md 2.2, row 14).
    # An RST is SSL_ERROR_SYSCALL, not fatal; s_server then still calls SSL_shutdown (it
    # prints "shutting down SSL"), so SSL_SENT_SHUTDOWN is set and SSL_free keeps the session.
    assert fates(doc, "session-id") == {"close_notify": "kept", "eof": "removed", "reset": "kept"}
    # Tickets are stateless (TLS 1.2 RFC 5077 and the TLS 1.3 default): not in the cache.
    assert fates(doc, "ticket") == {"close_notify": "kept", "eof": "kept", "reset": "kept"}
    assert fates(doc, "psk") == {"close_notify": "kept", "eof": "kept", "reset": "kept"}
    assert doc["verdict"]["kind"] == "strict"
    assert "(session-id: eof); keeps it with ticket, psk" in doc["verdict"]["line"]
    # The openssl3 profile is this row (OpenSSL 3 default), and so is requireCloseNotify's.
    assert doc["matching_profiles"] == ["jdk17-sslsocket-require-close-notify", "openssl3"]


def test_openssl_s_server_stateful_tickets_die_on_fin(s_server):
    # -no_ticket: no TLS 1.2 tickets, and TLS 1.3 tickets become stateful cache entries
    # (OpenSSL commit 7e4d731b1c07). The fatal EOF removes s->session, the session of the
    # latest ticket (each ticket gets its own session), which is the one a client keeps.
    doc = probe_json(s_server("-no_ticket"))
    assert doc["mechanisms"]["ticket"]["status"] == "no-session"
    assert fates(doc, "psk") == {"close_notify": "kept", "eof": "removed", "reset": "kept"}
    assert doc["verdict"]["kind"] == "strict"


def test_openssl_s_server_ignore_unexpected_eof_is_lenient(s_server):
    # SSL_OP_IGNORE_UNEXPECTED_EOF turns the FIN into a close_notify: nothing is removed.
    proc = probe(s_server("-ignore_unexpected_eof"), "--expect", "openssl3-ignore-eof")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lenient: keeps the session after every close" in proc.stdout


# ------------------------------------------------------------------------------------------
# Targets that give no verdict: exit 3 and a clear line


def test_nothing_listening_is_down():
    target = f"127.0.0.1:{free_port()}"
    proc = probe(target, "--expect", "strict")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"verdict: down: cannot connect to {target}: Connection refused" in proc.stdout
    assert proc.stderr.startswith("tlslab: error: down: ")
    doc = probe_json(target, expect_rc=3)
    assert doc["verdict"]["kind"] == "down"
    assert doc["mechanisms"] == {}


def _http_400(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


def _silent(conn: socket.socket) -> None:
    pass  # accepted, never answered (closed at teardown)


def _close_at_once(conn: socket.socket) -> None:
    conn.close()


def _echo(conn: socket.socket) -> None:
    """A TCP echo server: the ClientHello comes back, in a TLS record, yet it is not TLS."""
    try:
        while data := conn.recv(4096):
            conn.sendall(data)
    except OSError:
        pass


@pytest.mark.parametrize(
    "answer, says",
    [
        (_http_400, "not TLS: the answer is not TLS (wrong version number; it answered "
                    "'HTTP/1.1 400 Bad')"),
        (_silent, "not TLS: no answer to the ClientHello within 1s (not a TLS server?)"),
        (_close_at_once, "not TLS: the server closed the connection without answering the "
                         "ClientHello"),
        (_echo, "not TLS: the server sent our ClientHello back (a TCP echo?): not a TLS server"),
    ],
    ids=["http", "silent", "closes", "echo"],
)  # fmt: skip
def test_plain_tcp_server_is_not_tls(plain_peer, answer, says):
    peer = plain_peer(answer)
    proc = probe(peer.target, "--timeout", "1s")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "verdict: " + says
    assert proc.stderr == "tlslab: error: " + says + "\n"


# ------------------------------------------------------------------------------------------
# Bad input: one line on stderr, nothing on stdout, exit 2


@pytest.mark.parametrize(
    "args, says",
    [
        ([], "probe needs a target: tlslab probe HOST:PORT"),
        (["foo"], "'foo' is not HOST:PORT"),
        (["127.0.0.1:9", "--bogus"], "unknown flag '--bogus'"),
        (["127.0.0.1:9", "127.0.0.1:10"], "unexpected argument '127.0.0.1:10'"),
        (["127.0.0.1:9", "--repeat", "0"], "--repeat: bad value '0'; expected a whole number"),
        (["127.0.0.1:9", "--timeout", "soon"], "--timeout: bad value 'soon'"),
        (["127.0.0.1:9", "--tls", "1.1"], "--tls: bad value '1.1'"),
        (["127.0.0.1:9", "--expect", "picky"], "--expect: bad value 'picky'"),
    ],
    ids=["no-target", "no-port", "unknown-flag", "two-targets", "repeat-0", "timeout", "tls",
         "expect"],
)  # fmt: skip
def test_bad_input(args, says):
    proc = probe(*args, timeout=20)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tlslab: error: ") and says in lines[0], lines


def test_help_documents_exit_codes():
    proc = probe("--help", timeout=20)
    assert proc.returncode == 0
    for text in (
        "usage: tlslab probe HOST:PORT",
        "--expect",
        "--repeat",
        "exit codes:",
        "  3  no verdict",
    ):
        assert text in proc.stdout
