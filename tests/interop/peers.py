"""Real TLS server peers for the interop tests: start, wait until ready, stop.

Every peer listens on 127.0.0.1 (an ephemeral port where the peer can report it, else a free
port picked just before the start), logs into its own file in a temporary directory, and is
stopped on teardown: SIGTERM to the process group it was started in, then SIGKILL. Every wait
has a timeout. Children also get SIGKILL should the test process die first (PR_SET_PDEATHSIG).

Used by conftest.py (pytest fixtures) and by print_matrices.py (no pytest needed).
Peers are described by `PeerConfig` rows in CONFIGS; `start_peer(config, workdir)` starts one.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, Sequence

HERE = Path(__file__).resolve().parent
JAVA_SOURCES = HERE / "java"
KEYSTORE_PASSWORD = "changeit"

READY_TIMEOUT_S = 60.0  # a JVM on a busy 2-core machine can take a while
STOP_TIMEOUT_S = 10.0
TOOL_TIMEOUT_S = 120.0  # openssl req, javac

# Jetty 9.4 from Debian's libjetty9-java, and the servlet API it needs (libservlet-api-java).
JETTY_JARS = tuple(
    Path("/usr/share/java") / name
    for name in (
        "jetty9-server.jar",
        "jetty9-util.jar",
        "jetty9-io.jar",
        "jetty9-http.jar",
        "servlet-api.jar",
    )
)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when the test process goes away, however it goes."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # best effort; teardown stops the child anyway
        pass


def _run(argv: Sequence[str], cwd: Path | None = None) -> str:
    """Run a tool to completion (bounded); raise with its output if it fails."""
    done = subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}):\n" f"{done.stdout}\n{done.stderr}"
        )
    return done.stdout + done.stderr


def free_port() -> int:
    """A port that was free a moment ago (for peers that cannot listen on port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- credentials -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Credentials:
    cert: Path  # PEM certificate
    key: Path  # PEM private key
    bundle: Path  # cert + key in one PEM (HAProxy's `crt`)
    pkcs12: Path  # for Java, password KEYSTORE_PASSWORD


def make_credentials(directory: Path) -> Credentials:
    """A throw-away self-signed RSA 2048 certificate for CN=localhost, valid one day."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    bundle = directory / "bundle.pem"
    bundle.write_text(cert.read_text() + key.read_text())
    pkcs12 = directory / "server.p12"
    _run(
        [
            "openssl",
            "pkcs12",
            "-export",
            "-in",
            str(cert),
            "-inkey",
            str(key),
            "-name",
            "server",
            "-out",
            str(pkcs12),
            "-passout",
            f"pass:{KEYSTORE_PASSWORD}",
        ]
    )
    return Credentials(cert, key, bundle, pkcs12)


# --- Java --------------------------------------------------------------------------------------


def jetty_missing() -> str:
    """Why the Jetty peer cannot run here, or "" if it can."""
    missing = [str(j) for j in JETTY_JARS if not j.exists()]
    if missing:
        return (
            "Jetty 9.4 jars not found (" + ", ".join(missing) + "): "
            "apt-get install libjetty9-java libservlet-api-java"
        )
    return ""


def compile_java(out_dir: Path) -> Path:
    """javac the servers in tests/interop/java into out_dir; Jetty's only if its jars exist."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(JAVA_SOURCES.glob("*.java"))
    if jetty_missing():
        sources = [s for s in sources if s.name != "JettyServer.java"]
        classpath = ""
    else:
        classpath = os.pathsep.join(str(j) for j in JETTY_JARS)
    argv = ["javac", "-d", str(out_dir)] + (["-cp", classpath] if classpath else [])
    _run(argv + [str(s) for s in sources])
    return out_dir


# --- peer configurations -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PeerConfig:
    """One real server in one configuration.

    name: short id used in test ids and tables, e.g. "s_server-www".
    kind: which starter (s_server, nginx, haproxy, java-socket, java-engine, jetty).
    args: extra command-line arguments (s_server), JVM -D properties (Java), config lines
          (nginx `server` block, HAProxy `bind` options).
    what: one line for the tables in docs/real-stacks.md.
    """

    name: str
    kind: str
    args: tuple[str, ...] = ()
    what: str = ""


CONFIGS: tuple[PeerConfig, ...] = (
    PeerConfig(
        "s_server", "s_server", (), "openssl s_server, defaults (sv_body: select, then SSL_read)"
    ),
    PeerConfig(
        "s_server-ignore-eof",
        "s_server",
        ("-ignore_unexpected_eof",),
        "openssl s_server -ignore_unexpected_eof",
    ),
    PeerConfig(
        "s_server-www",
        "s_server",
        ("-www",),
        "openssl s_server -www (www_body: BIO_gets on an SSL BIO)",
    ),
    PeerConfig(
        "s_server-www-ignore-eof",
        "s_server",
        ("-www", "-ignore_unexpected_eof"),
        "openssl s_server -www -ignore_unexpected_eof",
    ),
    PeerConfig(
        "s_server-no-ticket",
        "s_server",
        ("-no_ticket",),
        "openssl s_server -no_ticket (TLS 1.3 stateful tickets, no TLS 1.2 tickets)",
    ),
    PeerConfig(
        "s_server-no-ticket-ignore-eof",
        "s_server",
        ("-no_ticket", "-ignore_unexpected_eof"),
        "openssl s_server -no_ticket -ignore_unexpected_eof",
    ),
    PeerConfig(
        "nginx",
        "nginx",
        ("ssl_session_tickets on;",),
        "nginx, ssl_session_cache shared:SSL:1m, tickets on (default)",
    ),
    PeerConfig(
        "nginx-no-tickets",
        "nginx",
        ("ssl_session_tickets off;",),
        "nginx, ssl_session_cache shared:SSL:1m, ssl_session_tickets off",
    ),
    PeerConfig("haproxy", "haproxy", (), "HAProxy frontend, bind ... ssl crt (defaults)"),
    PeerConfig(
        "haproxy-no-tls-tickets",
        "haproxy",
        ("no-tls-tickets",),
        "HAProxy frontend, bind ... ssl crt ... no-tls-tickets",
    ),
    PeerConfig("java-socket", "java-socket", (), "JDK SSLServerSocket, default properties"),
    PeerConfig(
        "java-socket-require-close-notify",
        "java-socket",
        ("-Dcom.sun.net.ssl.requireCloseNotify=true",),
        "JDK SSLServerSocket, -Dcom.sun.net.ssl.requireCloseNotify=true",
    ),
    PeerConfig(
        "java-socket-no-tickets",
        "java-socket",
        ("-Djdk.tls.server.enableSessionTicketExtension=false",),
        "JDK SSLServerSocket, -Djdk.tls.server.enableSessionTicketExtension=false",
    ),
    PeerConfig(
        "java-socket-require-close-notify-no-tickets",
        "java-socket",
        (
            "-Dcom.sun.net.ssl.requireCloseNotify=true",
            "-Djdk.tls.server.enableSessionTicketExtension=false",
        ),
        "JDK SSLServerSocket, requireCloseNotify=true and "
        "enableSessionTicketExtension=false (TLS 1.3 stateful tickets)",
    ),
    PeerConfig(
        "java-engine",
        "java-engine",
        (),
        "JDK SSLEngine, closeInbound() on EOF/RST (as Netty), default properties",
    ),
    PeerConfig(
        "java-engine-no-tickets",
        "java-engine",
        ("-Djdk.tls.server.enableSessionTicketExtension=false",),
        "JDK SSLEngine, closeInbound() on EOF/RST, "
        "-Djdk.tls.server.enableSessionTicketExtension=false",
    ),
    PeerConfig("jetty", "jetty", (), "embedded Jetty 9.4 HTTPS connector, defaults"),
    PeerConfig(
        "jetty-no-tickets",
        "jetty",
        ("-Djdk.tls.server.enableSessionTicketExtension=false",),
        "embedded Jetty 9.4, -Djdk.tls.server.enableSessionTicketExtension=false",
    ),
)


def config(name: str) -> PeerConfig:
    for c in CONFIGS:
        if c.name == name:
            return c
    raise KeyError(f"unknown peer config {name!r}; known: {', '.join(c.name for c in CONFIGS)}")


# --- running peers -----------------------------------------------------------------------------


@dataclasses.dataclass
class RunningPeer:
    config: PeerConfig
    proc: subprocess.Popen
    port: int
    log: Path
    ready_line: str = ""

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the peer's process group (nginx has workers), then SIGKILL."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        else:
            # The leader is gone; make sure nothing else of its group is left (nginx workers).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.stdin:
            self.proc.stdin.close()


def _spawn(argv: Sequence[str], log: Path, cwd: Path, stdin_pipe: bool = False) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )


def _wait_for_line(proc: subprocess.Popen, log: Path, pattern: re.Pattern[str]) -> re.Match[str]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        m = pattern.search(text)
        if m:
            return m
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args[0]} exited ({proc.returncode}) before it was "
                f"ready; log {log}:\n{text[-3000:]}"
            )
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args[0]} not ready after {READY_TIMEOUT_S}s; log {log}")


def _wait_for_port(proc: subprocess.Popen, log: Path, port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(
                f"{proc.args[0]} exited ({proc.returncode}) before it was "
                f"ready; log {log}:\n{text[-3000:]}"
            )
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args[0]} not listening on {port} after {READY_TIMEOUT_S}s")


def _start_s_server(cfg: PeerConfig, creds: Credentials, workdir: Path) -> RunningPeer:
    # stdin is a pipe kept open and never written: s_server's interactive loop then never
    # sees stdin readable, so the server never closes first ("DONE" on stdin EOF would make
    # it send close_notify itself). -ign_eof as a second guard.
    log = workdir / "s_server.log"
    argv = [
        "openssl",
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        str(creds.cert),
        "-key",
        str(creds.key),
        "-ign_eof",
        *cfg.args,
    ]
    proc = _spawn(argv, log, workdir, stdin_pipe=True)
    m = _wait_for_line(proc, log, re.compile(r"^ACCEPT 127\.0\.0\.1:(\d+)$", re.M))
    return RunningPeer(cfg, proc, int(m.group(1)), log, m.group(0))


NGINX_CONF = """\
worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:1m;
        {extra}
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def _start_nginx(cfg: PeerConfig, creds: Credentials, workdir: Path) -> RunningPeer:
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=workdir,
            port=port,
            cert=creds.cert,
            key=creds.key,
            extra="\n        ".join(cfg.args),
        )
    )
    log = workdir / "nginx.out"
    proc = _spawn(["nginx", "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"], log, workdir)
    _wait_for_port(proc, log, port)
    return RunningPeer(cfg, proc, port, workdir / "error.log")


HAPROXY_CFG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port} ssl crt {bundle} {extra}
    http-request return status 200
"""


def _start_haproxy(cfg: PeerConfig, creds: Credentials, workdir: Path) -> RunningPeer:
    port = free_port()
    conf = workdir / "haproxy.cfg"
    conf.write_text(HAPROXY_CFG.format(port=port, bundle=creds.bundle, extra=" ".join(cfg.args)))
    log = workdir / "haproxy.log"
    proc = _spawn(["haproxy", "-f", str(conf), "-db"], log, workdir)
    _wait_for_port(proc, log, port)
    return RunningPeer(cfg, proc, port, log)


JAVA_MAIN = {"java-socket": "SocketServer", "java-engine": "EngineServer", "jetty": "JettyServer"}


def _start_java(cfg: PeerConfig, creds: Credentials, workdir: Path, classes: Path) -> RunningPeer:
    classpath = [str(classes)]
    if cfg.kind == "jetty":
        why = jetty_missing()
        if why:
            raise RuntimeError(why)
        classpath += [str(j) for j in JETTY_JARS]
    log = workdir / f"{cfg.name}.log"
    # -XX:TieredStopAtLevel=1 -Xshare:auto: start fast; the handshakes are few.
    argv = [
        "java",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-Xss512k",
        *cfg.args,
        "-cp",
        os.pathsep.join(classpath),
        JAVA_MAIN[cfg.kind],
        str(creds.pkcs12),
        KEYSTORE_PASSWORD,
    ]
    proc = _spawn(argv, log, workdir)
    m = _wait_for_line(proc, log, re.compile(r"^ready port=(\d+).*$", re.M))
    return RunningPeer(cfg, proc, int(m.group(1)), log, m.group(0))


def start_peer(
    cfg: PeerConfig, creds: Credentials, workdir: Path, java_classes: Path | None = None
) -> RunningPeer:
    """Start one peer in workdir (created) and wait until it accepts connections."""
    workdir.mkdir(parents=True, exist_ok=True)
    if cfg.kind == "s_server":
        return _start_s_server(cfg, creds, workdir)
    if cfg.kind == "nginx":
        for attempt in range(3):  # the free port may be taken between pick and bind
            try:
                return _start_nginx(cfg, creds, workdir)
            except RuntimeError:
                if attempt == 2:
                    raise
    if cfg.kind == "haproxy":
        for attempt in range(3):
            try:
                return _start_haproxy(cfg, creds, workdir)
            except RuntimeError:
                if attempt == 2:
                    raise
    if cfg.kind in JAVA_MAIN:
        if java_classes is None:
            raise ValueError("Java peers need the compiled classes (compile_java)")
        return _start_java(cfg, creds, workdir, java_classes)
    raise ValueError(f"unknown peer kind {cfg.kind!r}")


@contextlib.contextmanager
def running(
    cfg: PeerConfig, creds: Credentials, workdir: Path, java_classes: Path | None = None
) -> Iterator[RunningPeer]:
    peer = start_peer(cfg, creds, workdir, java_classes)
    try:
        yield peer
    finally:
        peer.stop()


# --- versions ----------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    """The exact versions of every peer on this machine (for docs/real-stacks.md)."""
    import ssl

    def output(argv: Sequence[str], lines: int = 1) -> str:
        if not shutil.which(argv[0]):
            return "not installed"
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"unknown ({e})"
        return " / ".join((done.stdout + done.stderr).strip().splitlines()[:lines])

    def deb(package: str) -> str:
        v = output(["dpkg-query", "-W", "-f", "${Version}", package])
        return f"Debian {package} {v}" if v and "no packages" not in v else ""

    out = {
        "openssl": output(["openssl", "version"]),
        "python ssl": ssl.OPENSSL_VERSION,
        "nginx": output(["nginx", "-V"], 2),
        "haproxy": output(["haproxy", "-v"]),
        "java": output(["java", "-version"], 2),
        "jetty": deb("libjetty9-java") or "not installed",
    }
    for name, package in (
        ("openssl", "openssl"),
        ("nginx", "nginx-light"),
        ("haproxy", "haproxy"),
        ("java", "openjdk-17-jdk-headless"),
    ):
        if deb(package):
            out[name] += f" ({deb(package)})"
    return out
