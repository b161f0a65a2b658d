"""The HAProxy names of `--metrics` are HAProxy's: every `haproxy_*` family tlslab exports must
exist in the real HAProxy 2.6 exporter with the same type and the same label names.

HAProxy runs `haproxy -f CFG -db` with `http-request use-service prometheus-exporter if { path
/metrics }` on a stats frontend and a backend of two `server ... check check-ssl verify none`
lines pointing at `tlslab serve --backends 2` (so it has per-server check figures and backend
key rates to show). `tlslab run --metrics` and HAProxy are both scraped, and the families are
compared (about 5 s).

The binary comes from $TLSLAB_BIN, else <repo>/build/tlslab.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import peers

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TLSLAB_BIN", str(REPO / "build" / "tlslab"))).resolve()
READY_RE = re.compile(r"^ready backends=(\d+) profile=(\S+) listen=(\S+) ports=([\d,]+)$", re.M)
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? \S+$")

HAPROXY_CFG = """\
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 5s
    timeout check 2s
frontend stats
    bind 127.0.0.1:{stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
backend be
{servers}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def families(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """family -> (type, label names of its samples), from the 0.0.4 text format."""
    types: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            m = SAMPLE_RE.match(line)
            assert m, line
            names = {p.split("=", 1)[0] for p in re.findall(r'(\w+)="(?:[^"\\]|\\.)*"', m[2] or "")}
            labels.setdefault(m[1], set()).update(names)
    return {f: (t, frozenset(labels.get(f, set()))) for f, t in types.items()}


class Started:
    """Processes started here, each in its own group, all ended on teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], out: Path) -> subprocess.Popen:
        with open(out, "wb") as f:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=peers._die_with_parent)  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def started():
    s = Started()
    yield s
    s.stop_all()


def test_haproxy_named_metrics_exist_in_real_haproxy_with_the_same_type(tmp_path, started):
    if not shutil.which("haproxy"):
        pytest.skip("haproxy not installed (apt-get install haproxy)")
    if not BIN.exists():
        pytest.skip(f"{BIN} not built")
    serve_log = tmp_path / "serve.log"
    started.start([str(BIN), "serve", "--backends", "2", "--port", "0", "--duration", "60s",
                   "--live", "off", "--key", "p256"], serve_log)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (m := READY_RE.search(serve_log.read_text(errors="replace"))):
        assert time.monotonic() < deadline, serve_log.read_text()
        time.sleep(0.05)
    ports = [int(p) for p in m[4].split(",")]

    stats_port = free_port()
    servers = "\n".join(f"    server s{i} 127.0.0.1:{p} check check-ssl verify none inter 200ms"
                        for i, p in enumerate(ports))  # fmt: skip
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(stats_port=stats_port, servers=servers))
    started.start(["haproxy", "-f", str(cfg), "-db"], tmp_path / "haproxy.log")

    metrics_port = free_port()
    started.start([str(BIN), "run", "--backends", "2", "--inter", "200ms", "--duration", "20s",
                   "--metrics", str(metrics_port), "--live", "off", "--key", "p256"],
                  tmp_path / "run.log")  # fmt: skip
    time.sleep(2.0)  # a few checks on both sides, so every per-server family has samples
    real = families(scrape(stats_port))
    ours = families(scrape(metrics_port))

    named = {f: v for f, v in ours.items() if f.startswith("haproxy_")}
    assert "haproxy_process_current_backend_ssl_key_rate" in named
    assert "haproxy_process_max_backend_ssl_key_rate" in named
    assert "haproxy_server_check_failures_total" in named
    for family, (kind, labels) in named.items():
        assert family in real, f"{family}: not a name of HAProxy 2.6's exporter"
        assert real[family][0] == kind, f"{family}: {kind} here, {real[family][0]} in HAProxy"
        assert labels == real[family][1], f"{family}: labels {sorted(labels)} here, " \
                                          f"{sorted(real[family][1])} in HAProxy"
    assert not any(f.startswith("haproxy_") for f in ours if f not in named)
    others = [f for f in ours if not f.startswith("haproxy_")]
    assert others and all(f.startswith("tlslab_") for f in others), others
