"""Fixtures for the end-to-end tests: real `tlslab` processes over real loopback sockets.

Rules every helper keeps (docs/design.md 10):
- every wait has a timeout: reading the ready line, waiting for an exit, reading a socket;
- every process started here is ended on teardown (SIGTERM, then SIGKILL) and asks the kernel
  to SIGKILL it should the test process die first (PR_SET_PDEATHSIG);
- ports are always 0 (ephemeral); a server's ports are read from its ready line.

The binary comes from $TLSLAB_BIN, else <repo>/build/tlslab.

Tests reach the helpers through fixtures (`cli`, `serve`, `spawn`, `tcp_peer`), never by
importing this file: another conftest.py (tests/interop has one) would shadow it.

    def test_example(cli, serve):
        server = serve("--profile", "strict", "--backends", "2")  # waits for the ready line
        doc = cli.check("--target", server.take(), "--max-checks", "2", "--duration", "5s")
        assert doc["figures"]["checks_total"] == 2
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "tlslab"

# Generous bounds: a 2-core machine shared with other jobs, and maybe an ASan build.
READY_TIMEOUT_S = 30.0  # serve generates its key, then listens: seconds at worst
EXIT_TIMEOUT_S = 10.0  # a process told to stop
RUN_SLACK_S = 30.0  # added to a command's own --duration for its subprocess timeout

READY_RE = re.compile(
    r"^ready backends=(?P<backends>\d+) profile=(?P<profile>\S+) "
    r"listen=(?P<listen>\S+) ports=(?P<ports>\d+(?:,\d+)*)$"
)

# What must never appear on stderr, whatever the input.
CRASH_MARKERS = (
    "Traceback",
    "terminate called",
    "AddressSanitizer",
    "LeakSanitizer",
    "UndefinedBehaviorSanitizer",
    "ThreadSanitizer",
    "runtime error:",
    "Segmentation fault",
    "core dumped",
)

_PR_SET_PDEATHSIG = 1


def pytest_configure(config) -> None:
    # Also in pytest.ini; registered here too so that a run from another rootdir knows it.
    config.addinivalue_line(
        "markers",
        "core_bug: fails because of a known bug in the core; the reason names it "
        "and the fix (xfail strict: remove the marker once the core is fixed)",
    )


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the test process goes away, however it goes."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # best effort; teardown ends the child anyway
        pass


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def duration_s(args: Sequence[str], default: float = 20.0) -> float:
    """The --duration in `args`, in seconds (the command's own bound on its run)."""
    args = [str(a) for a in args]
    if "--duration" not in args or args.index("--duration") + 1 >= len(args):
        return default
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", args[args.index("--duration") + 1])
    if not m:
        return default
    return int(m.group(1)) * {"ms": 0.001, None: 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def assert_no_crash(stderr: str) -> None:
    for marker in CRASH_MARKERS:
        assert marker not in stderr, f"stderr shows a crash ({marker!r}):\n{stderr[-3000:]}"


# --------------------------------------------------------------------------------------------
# Long-running processes


class Proc:
    """A tlslab process whose stdout and stderr are drained by threads (a full pipe never
    blocks it) and which is always ended: stop() sends a signal, waits, then SIGKILLs."""

    def __init__(self, cmd: Sequence[str]):
        self.cmd = [str(c) for c in cmd]
        self.popen = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
        )
        self.stdout_lines: "queue.Queue[str | None]" = queue.Queue()
        self.stderr_lines: "queue.Queue[str | None]" = queue.Queue()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(
                target=self._drain,
                args=(self.popen.stdout, self._stdout, self.stdout_lines),
                daemon=True,
            ),
            threading.Thread(
                target=self._drain,
                args=(self.popen.stderr, self._stderr, self.stderr_lines),
                daemon=True,
            ),
        ]
        for t in self._threads:
            t.start()

    def _drain(self, pipe, sink: list[str], lines: "queue.Queue[str | None]") -> None:
        for line in pipe:
            sink.append(line)
            lines.put(line.rstrip("\n"))
        lines.put(None)  # EOF

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return "".join(self._stdout)

    def stderr(self) -> str:
        return "".join(self._stderr)

    def wait_line(self, pattern: re.Pattern, timeout: float, stderr: bool = False) -> re.Match:
        """The first stdout (or stderr) line matching `pattern`; fails after `timeout` s or at
        EOF."""
        lines = self.stderr_lines if stderr else self.stdout_lines
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                pytest.fail(
                    f"no line matching {pattern.pattern!r} within {timeout:.0f} s from "
                    f"`{' '.join(self.cmd)}`\nstdout: {self.stdout()[-1000:]}\n"
                    f"stderr: {self.stderr()[-2000:]}"
                )
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self.stop()
                pytest.fail(
                    f"`{' '.join(self.cmd)}` exited {rc} before printing a line "
                    f"matching {pattern.pattern!r}\nstderr: {self.stderr()[-2000:]}"
                )
            m = pattern.match(line)
            if m:
                return m

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if the process is still running after `timeout` s."""
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:  # the pipes close at exit: the rest of the output is ours
            t.join(timeout=5)
        if not any(t.is_alive() for t in self._threads):
            self.popen.stdout.close()
            self.popen.stderr.close()
        return rc

    def send_signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = EXIT_TIMEOUT_S) -> int:
        """Ends the process: `sig`, then SIGKILL after `timeout` s. Returns the exit code."""
        if self.popen.poll() is None:
            self.send_signal(sig)
            if self.wait(timeout) is None:
                self.popen.kill()
        rc = self.wait(timeout)
        assert rc is not None, f"{self.cmd} survived SIGKILL"
        return rc


class Serve(Proc):
    """`tlslab serve --port 0 --live off ...`, returned once its ready line is read:

        ready backends=N profile=P listen=127.0.0.1 ports=p1,p2,...

    `--duration` (default here 10m) bounds the process by itself too, a safety net; stop()
    ends it sooner. Hand out backends with take(): a backend no one else was given has an
    empty session cache, so what one user does cannot change what another measures.
    """

    def __init__(
        self,
        bin_path: Path,
        *args: str,
        duration: str = "10m",
        ready_timeout: float = READY_TIMEOUT_S,
    ):
        args = [str(a) for a in args]
        base = ["serve", "--port", "0", "--live", "off"]
        if "--duration" not in args:
            base += ["--duration", duration]
        super().__init__([bin_path, *base, *args])
        # With --json, stdout is kept for the one JSON document: the ready line is on stderr.
        m = self.wait_line(READY_RE, ready_timeout, stderr="--json" in args)
        self.backends = int(m["backends"])
        self.profile = m["profile"]
        self.listen = m["listen"]
        self.ports = [int(p) for p in m["ports"].split(",")]
        assert len(self.ports) == self.backends, m.group(0)
        self._taken = 0
        self._lock = threading.Lock()

    @property
    def targets(self) -> list[str]:
        return [f"{self.listen}:{p}" for p in self.ports]

    def take(self) -> str:
        """A backend (HOST:PORT) no one else was given."""
        with self._lock:
            if self._taken >= len(self.ports):
                pytest.fail(
                    f"all {len(self.ports)} backends of this server are taken; "
                    "start it with more --backends"
                )
            self._taken += 1
            return self.targets[self._taken - 1]


# --------------------------------------------------------------------------------------------
# The command


class Cli:
    """The tlslab command under test and the ways to run it. Every call has a timeout."""

    run_slack_s = RUN_SLACK_S
    exit_timeout_s = EXIT_TIMEOUT_S

    def __init__(self, bin_path: Path):
        self.bin = bin_path

    def run(self, args: Sequence, timeout: float) -> subprocess.CompletedProcess:
        """`tlslab ARGS...` to completion; the test fails (not hangs) after `timeout` s."""
        cmd = [str(self.bin), *map(str, args)]
        try:
            return subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                preexec_fn=_die_with_parent,
            )
        except subprocess.TimeoutExpired as e:  # subprocess.run has killed it already
            pytest.fail(
                f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s\n"
                f"stderr: {_text(e.stderr)[-2000:]}"
            )

    def json(self, command: str, args: Sequence, timeout: float | None = None) -> dict:
        """`tlslab COMMAND ARGS... --json --live off`: exit 0, no crash, one JSON document.
        The timeout defaults to the command's own --duration plus a margin."""
        args = [*map(str, args), "--json", "--live", "off"]
        if timeout is None:
            timeout = duration_s(args) + RUN_SLACK_S
        proc = self.run([command, *args], timeout=timeout)
        assert_no_crash(proc.stderr)
        assert proc.returncode == 0, (
            f"tlslab {command} {' '.join(args)} exited "
            f"{proc.returncode}\nstderr: {proc.stderr[-2000:]}"
        )
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            pytest.fail(f"tlslab {command} printed no JSON document ({e}):\n{proc.stdout[:2000]}")

    def check(self, *args, timeout: float | None = None) -> dict:
        """`tlslab check ... --json --live off` -> the parsed JSON document."""
        return self.json("check", args, timeout)

    def lab(self, *args, timeout: float | None = None) -> dict:
        """`tlslab run ... --json --live off` (server and checker in one process) -> JSON."""
        return self.json("run", args, timeout)

    def serve(self, *args, **kwargs) -> Serve:
        """A ready `tlslab serve`; the caller stops it (the `serve` fixture does that)."""
        return Serve(self.bin, *args, **kwargs)

    def spawn(self, *args) -> Proc:
        """Any tlslab process, running; the caller stops it (the `spawn` fixture does that)."""
        return Proc([self.bin, *args])

    assert_no_crash = staticmethod(assert_no_crash)


@pytest.fixture(scope="session")
def tlslab_bin() -> Path:
    """The tlslab binary under test ($TLSLAB_BIN, else <repo>/build/tlslab)."""
    path = Path(os.environ.get("TLSLAB_BIN", str(DEFAULT_BIN)))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"tlslab binary not found at {path}: build it (see README) or point "
            "TLSLAB_BIN at it",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def cli(tlslab_bin: Path) -> Cli:
    """The tlslab command: cli.check(...), cli.lab(...) (`tlslab run`), cli.run(argv, timeout),
    cli.serve(...), cli.spawn(...)."""
    return Cli(tlslab_bin)


def _stop_all(procs: list[Proc]) -> None:
    for p in procs:  # stop them all before judging any
        p.stop()
    for p in procs:
        assert_no_crash(p.stderr())  # e.g. a sanitizer report from a server fails its test


@pytest.fixture
def serve(cli: Cli) -> Iterator[Callable[..., Serve]]:
    """serve(*flags) -> a ready server; every one is stopped at teardown."""
    started: list[Proc] = []

    def start(*args, **kwargs) -> Serve:
        s = cli.serve(*args, **kwargs)
        started.append(s)
        return s

    yield start
    _stop_all(started)


@pytest.fixture
def spawn(cli: Cli) -> Iterator[Callable[..., Proc]]:
    """spawn(*args) -> a running tlslab process; every one is stopped at teardown."""
    started: list[Proc] = []

    def start(*args) -> Proc:
        p = cli.spawn(*args)
        started.append(p)
        return p

    yield start
    _stop_all(started)


# --------------------------------------------------------------------------------------------
# Fake peers: plain TCP servers that are not TLS servers


class TcpPeer:
    """A plain TCP server on 127.0.0.1:0 in a thread. on_accept(conn) handles each
    connection; connections it leaves open are closed at stop()."""

    def __init__(self, on_accept: Callable[[socket.socket], None]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)  # so that the thread notices stop() promptly
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._on_accept = on_accept
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # includes the accept timeout
                continue
            self.accepted += 1
            self._open.append(conn)
            try:
                self._on_accept(conn)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._open:
            conn.close()
        self.sock.close()


@pytest.fixture
def tcp_peer() -> Iterator[Callable[..., TcpPeer]]:
    """tcp_peer(on_accept) -> a running TcpPeer; every one is stopped at teardown."""
    peers: list[TcpPeer] = []

    def start(on_accept: Callable[[socket.socket], None]) -> TcpPeer:
        p = TcpPeer(on_accept)
        peers.append(p)
        return p

    yield start
    for p in peers:
        p.stop()
