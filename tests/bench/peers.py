#!/usr/bin/python3
"""tlslab next to the real tools it is compared with (docs/performance.md's table), in one run.

One nginx (one worker, a key and certificate generated here, TLS 1.2, or 1.3 with --tls 1.3)
is the backend. Cases (with --tls 1.3 the resumed ones are http checks: a TLS 1.3 connect check
closes before the server's ticket arrives, so neither checker resumes it):
  checker   `tlslab check --profile haproxy-2.6` and HAProxy 2.6 (`nbthread 1`, N `server` lines
            with `check check-ssl verify none inter I ssl-max-ver TLSv1.2`), the same N and I,
            so both are scheduled for the same checks per second: full connect checks (tlslab
            --no-reuse, HAProxy `no-ssl-reuse`, doc/configuration.txt 5.2), resumed connect
            checks, resumed http checks (`option httpchk`) at 400/s (800 backends, inter 2s),
            resumed connect checks at 2,000/s (2,000 backends, inter 1s);
  memory    the full connect check against the same handshake in memory plus the socket floor
            (tlslab_bench BM_Handshake and BM_LoopbackCheck, run by harness_overhead.py's code);
  server    `tlslab serve --profile lenient` against nginx (one worker) under the same client
            (`tlslab check`, 400/s; nginx's side is the checker case's tlslab run), CPU per
            full and per resumed handshake;
  load      `tlslab check` flat out (200 backends, inter 10ms, resumed): the client's CPU per
            handshake (tls-perf, the usual reference, is not in Debian: reported, not judged
            here; tests/bench/load_vs_tls_perf.py compares it when you have built it).
CPU per process is read from /proc/PID/task/*/schedstat (nanoseconds, every thread) at the
start and the end of the same window, after a warm-up of one interval (so the first round of
full handshakes is over). The checks of the window: nginx's stub_status (accepted connections)
when nginx is the server, for HAProxy and tlslab alike; the checker's stats socket (`show info`,
TlslabChecks, read when asked) against `tlslab serve`. Voluntary context switches per check
come from /proc/PID/task/*/status. HAProxy schedules each server's next check an interval after
the end of the last one, tlslab at a fixed rate: the achieved rates are printed with the table.
Rounds are interleaved (every case once per round, tlslab and its peer alternating which goes
first), and each figure is the median of the rounds, with their min..max.

Goals (docs/performance.md): checker CPU per check at most 0.9x HAProxy's at 400/s, 0.5x at
2,000/s; a full check at most 1.3x the in-memory handshake plus the socket floor; server CPU per
handshake at most 0.95x nginx's. A goal counts as missed when every round misses it (the lowest
ratio of the rounds is above the goal): a miss inside the run's own spread is reported, not
failed.
`--short` (CI: 2 rounds of 1 s windows at inter 1s, no load case, about a minute) fails only
on gross regressions, ratios to HAProxy above 1.5x the goal (the 2,000/s case and the in-memory
ratio only reported: the first is noisy on a loaded 2-core machine, the second depends on the
machine, see build_figures); the goals themselves are judged by the long form (the default,
~10 minutes).

Example (from the repository root, after building build/tlslab and build/tlslab_bench):
  /usr/bin/python3 tests/bench/peers.py --json-out /tmp/peers.json
Standard library only. Exit status: 0 goals met (within the spread), 1 a goal missed or a
measurement failed, 2 bad flags or paths.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness_overhead as ho  # noqa: E402  (tlslab_bench's in-memory and socket-floor costs)

REPO = Path(__file__).resolve().parents[2]
PROG = "peers.py"
SHORT_SLACK = 1.5  # --short fails only above goal x this (a noisy shared CI machine)
# The messages of a full connect check, by TLS version: TLS 1.2 ClientHello, server flight,
# client flight, server Finished (RFC 5246 7.3); TLS 1.3 ClientHello, server flight, client
# Finished (RFC 8446 2).
FULL_CHECK_MESSAGES = {"1.2": 4, "1.3": 3}


class Failure(Exception):
    """A measurement that could not be made; `status` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# ---- /proc ----

def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` so far, in nanoseconds (schedstat's first field)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended between the listing and the read
    return total


def voluntary_switches(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in Path(f"/proc/{pid}/task/{task}/status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        out += [int(x) for x in text.split()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, what: str, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"{what} exited {proc.returncode}: {ho.last_line(read_text(log))}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise Failure(f"{what}: port {port} not open within {timeout_s:.0f} s")


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ---- the peers ----

NGINX_CONF = """\
worker_processes 1;
worker_rlimit_nofile 8192;
error_log {dir}/error.log error;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
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
        ssl_protocols TLSv{tls};
        ssl_session_cache shared:SSL:10m;
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{status_port};
        location / {{ stub_status; }}
    }}
}}
"""

HAPROXY_CFG = """\
global
    nbthread 1
    maxconn 8192
defaults
    mode {mode}
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 2s
frontend fe
    bind abns@{sock}
    default_backend be
backend be
{option}
    default-server check check-ssl verify none inter {inter_ms}ms ssl-min-ver TLSv{tls} \
ssl-max-ver TLSv{tls} {reuse}
{servers}
"""


@dataclass
class Nginx:
    proc: subprocess.Popen
    port: int
    status_port: int
    worker: int

    def accepts(self) -> int:
        """Connections accepted so far (stub_status), this request included."""
        url = f"http://127.0.0.1:{self.status_port}/"
        with urllib.request.urlopen(url, timeout=5) as r:
            lines = r.read().decode().splitlines()
        return int(lines[2].split()[0])


def start_nginx(work: Path, cert: Path, key: Path, tls: str) -> Nginx:
    port, status_port = free_port(), free_port()
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=work, port=port, status_port=status_port, cert=cert,
                                      key=key, tls=tls))
    log = work / "nginx.out"
    proc = subprocess.Popen(["nginx", "-p", str(work), "-c", str(conf), "-g", "daemon off;"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_port(port, proc, log, "nginx")
    wait_port(status_port, proc, log, "nginx")
    deadline = time.monotonic() + 5
    while not children(proc.pid):
        if time.monotonic() > deadline:
            raise Failure("nginx: no worker process")
        time.sleep(0.05)
    return Nginx(proc, port, status_port, children(proc.pid)[0])


def start_serve(tlslab: Path, work: Path, tls: str) -> tuple[subprocess.Popen, int]:
    log = work / "serve.err"
    proc = subprocess.Popen(
        [str(tlslab), "serve", "--profile", "lenient", "--backends", "1", "--tls", tls,
         "--key", "rsa2048", "--duration", "0", "--live", "off"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        stop(proc)
        raise Failure(f"tlslab serve: no ready line: {ho.last_line(read_text(log))}")
    ports = line.split("ports=")[1].split()[0]
    return proc, int(ports.split(",")[0])


# ---- one checker run ----

@dataclass
class Window:
    """What one process did over one measurement window."""

    cpu_us: float
    switches: int
    checks: int
    seconds: float
    server_cpu_us: Optional[float] = None
    resumption_ratio: Optional[float] = None
    failures: int = 0

    @property
    def us_per_check(self) -> float:
        return self.cpu_us / self.checks if self.checks else float("nan")

    @property
    def server_us_per_check(self) -> float:
        if self.server_cpu_us is None or not self.checks:
            return float("nan")
        return self.server_cpu_us / self.checks


@dataclass
class Case:
    name: str
    check: str  # connect | http
    reuse: bool
    backends: int
    inter_ms: int
    server: str = "nginx"  # nginx | tlslab
    tls: str = "1.2"

    @property
    def timeout_ms(self) -> int:
        return min(self.inter_ms, 2000) if self.inter_ms >= 500 else 2000

    @property
    def rate(self) -> float:
        return self.backends * 1000.0 / self.inter_ms


def show_info_checks(path: Path) -> Optional[int]:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(path))
            s.sendall(b"show info\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("TlslabChecks:"):
            return int(line.split(":")[1])
    return None


def measure_window(pid: int, server_pid: int, warm_s: float, window_s: float,
                   count: Callable[[], Optional[int]], alive: Callable[[], bool]) -> Window:
    time.sleep(warm_s)
    if not alive():
        raise Failure("the checker ended before the window")
    c0, s0, v0, n0, t0 = cpu_ns(pid), cpu_ns(server_pid), voluntary_switches(pid), count(), \
        time.monotonic()
    time.sleep(window_s)
    c1, s1, v1, n1, t1 = cpu_ns(pid), cpu_ns(server_pid), voluntary_switches(pid), count(), \
        time.monotonic()
    if n0 is None or n1 is None:
        raise Failure("could not count the checks in the window")
    return Window(cpu_us=(c1 - c0) / 1e3, switches=v1 - v0, checks=n1 - n0, seconds=t1 - t0,
                  server_cpu_us=(s1 - s0) / 1e3)


def targets_file(work: Path, port: int, n: int) -> Path:
    path = work / f"targets-{port}-{n}.txt"
    path.write_text("".join(f"127.0.0.1:{port}\n" for _ in range(n)))
    return path


def run_tlslab(tlslab: Path, work: Path, case: Case, port: int, server_pid: int,
               warm_s: float, window_s: float, nginx: Optional[Nginx]) -> Window:
    """With `nginx`, the checks of the window are nginx's accepted connections, as for
    HAProxy; without, the checker's own count (the stats socket)."""
    sock = work / "check.sock"
    sock.unlink(missing_ok=True)
    duration_ms = int((warm_s + window_s + 1.0) * 1000)
    cmd = [str(tlslab), "check", "--profile", "haproxy-2.6", "--targets-file",
           str(targets_file(work, port, case.backends)), "--inter", f"{case.inter_ms}ms",
           "--check", case.check, "--tls", case.tls, "--duration", f"{duration_ms}ms", "--json",
           # HAProxy's, below: min(inter, timeout connect 2s) for an L6 check.
           "--timeout", f"{case.timeout_ms}ms",
           "--live", "off", "--stats-socket", str(sock)]
    if not case.reuse:
        cmd.append("--no-reuse")
    err = work / "check.err"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err.open("w"), text=True)
    try:
        try:
            count = nginx.accepts if nginx else (lambda: show_info_checks(sock))
            w = measure_window(proc.pid, server_pid, warm_s, window_s, count,
                               lambda: proc.poll() is None)
            if nginx:
                w.checks -= 1  # stub_status counts its own request
        except Failure as e:
            raise Failure(f"tlslab check: {e}: {ho.last_line(read_text(err))}") from None
        out, _ = proc.communicate(timeout=duration_ms / 1000 + 30)
    finally:
        stop(proc)
    if proc.returncode != 0:
        raise Failure(f"tlslab check exited {proc.returncode}: {ho.last_line(read_text(err))}")
    figures = json.loads(out).get("figures", {})
    w.resumption_ratio = figures.get("resumption_ratio")
    w.failures = int(figures.get("check_failures_total", 0))
    return w


def run_haproxy(work: Path, case: Case, nginx: Nginx, warm_s: float, window_s: float) -> Window:
    servers = "\n".join(f"    server s{i} 127.0.0.1:{nginx.port}" for i in range(case.backends))
    cfg = work / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(
        sock=f"tlslab-peers-{os.getpid()}", mode="http" if case.check == "http" else "tcp",
        option="    option httpchk GET /" if case.check == "http" else "",
        inter_ms=case.inter_ms, reuse="" if case.reuse else "no-ssl-reuse", servers=servers,
        tls=case.tls))
    log = work / "haproxy.log"
    proc = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    try:
        # stub_status counts its own request as an accepted connection: one per reading.
        w = measure_window(proc.pid, nginx.worker, warm_s, window_s, nginx.accepts,
                           lambda: proc.poll() is None)
        w.checks -= 1
    except Failure as e:
        raise Failure(f"haproxy: {e}: {ho.last_line(read_text(log))}") from None
    finally:
        stop(proc)
    return w


# ---- rounds, medians, goals ----

@dataclass
class Figure:
    label: str
    ours: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)
    goal: Optional[float] = None
    peer_name: str = ""
    # --short judges it too (the 2,000/s case is not: on a loaded 2-core CI machine its rounds
    # ranged 0.36..1.75 against a goal of 0.5, timeouts included, so it is reported only).
    short_judged: bool = True

    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.ours, self.peer) if b > 0]

    def verdict(self, slack: float) -> str:
        """met: the median within the goal; within spread: some round within it; MISSED: every
        round above goal x slack (slack 1 in the long form); below that, a miss the long form
        judges."""
        r = self.ratios()
        if self.goal is None or not r:
            return "reported"
        if statistics.median(r) <= self.goal:
            return "met"
        if min(r) <= self.goal:
            return "within spread"
        if slack > 1.0 and not self.short_judged:
            return "missed (long form judges)"
        return "MISSED" if min(r) > self.goal * slack else "missed (long form judges)"


def median(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def fmt(x: Optional[float], spec: str = ".0f") -> str:
    return "-" if x is None else format(x, spec)


def table(figures: list[Figure], slack: float) -> str:
    head = ["figure", "tlslab us", "peer", "peer us", "ratio", "min..max", "goal", "verdict"]
    body = []
    for f in figures:
        r = f.ratios()
        body.append([f.label, fmt(median(f.ours)), f.peer_name, fmt(median(f.peer)),
                     fmt(median(r), ".2f"),
                     f"{min(r):.2f}..{max(r):.2f}" if r else "-",
                     "-" if f.goal is None else f"<= {f.goal:g}", f.verdict(slack)])
    return "\n".join(ho.layout(head, body, left=1))


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description="tlslab check/serve next to HAProxy 2.6 "
                                "and nginx: CPU per check and per handshake, the goals of "
                                "docs/performance.md.")
    p.add_argument("--tlslab", type=Path, default=REPO / "build" / "tlslab",
                   help="the tlslab command [%(default)s]")
    p.add_argument("--bench", type=Path, default=REPO / "build" / "tlslab_bench",
                   help="the benchmark binary [%(default)s]")
    p.add_argument("--short", action="store_true",
                   help="CI form: short windows, fails only on ratios above 1.5x the goal")
    p.add_argument("--rounds", type=int, help="interleaved rounds [3; --short: 2]")
    p.add_argument("--window", type=float,
                   help="seconds measured per case and round [10; --short: 1]")
    p.add_argument("--json-out", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--tls", choices=("1.2", "1.3"), default="1.2",
                   help="TLS version of every case [%(default)s]; with 1.3 the resumed cases "
                   "are http checks (a connect check closes before the server's ticket "
                   "arrives, so HAProxy never resumes one: docs/tls-semantics.md 7)")
    p.add_argument("--only", help="run only the cases whose name contains this (a partial "
                   "table, for profiling one case)")
    args = p.parse_args(argv)
    if args.window is None:
        args.window = 1.0 if args.short else 10.0
    if args.rounds is None:
        args.rounds = 2 if args.short else 3
    if not 0.2 <= args.window <= 600:
        p.error(f"--window: {args.window} is not between 0.2 and 600 seconds")
    if not 1 <= args.rounds <= 20:
        p.error(f"--rounds: {args.rounds} is not between 1 and 20")
    return args


def resumed_check(tls: str) -> str:
    """The check kind of the resumed cases: with TLS 1.3 only an http check resumes."""
    return "connect" if tls == "1.2" else "http"


def cases(short: bool, tls: str = "1.2") -> dict[str, Case]:
    """The cases, in the order of a round. HAProxy's L6 check must finish within
    min(inter, timeout connect) (doc/configuration.txt, "timeout check"); a long inter keeps
    the slow handshakes of a loaded machine from failing, and tlslab gets the same timeout."""
    inter = 1000 if short else 2000
    n400 = 400 * inter // 1000
    rc = resumed_check(tls)
    out = [
        Case("connect full 400/s", "connect", False, n400, inter),
        Case(f"{rc} resumed 400/s", rc, True, n400, inter),
        Case("http resumed 400/s", "http", True, n400, inter),
        Case(f"{rc} resumed 2000/s", rc, True, 1000 * inter // 1000, inter // 2),
        Case("serve full 400/s", "connect", False, n400, inter, "tlslab"),
        Case("serve resumed 400/s", rc, True, n400, inter, "tlslab"),
    ]
    if not short:
        # Flat out: 200 checks always in flight, each backend checked again as soon as it
        # can be (inter 10ms, the least tlslab takes). No goal: reported, not in --short.
        out.append(Case("load resumed", rc, True, 200, 10))
    for c in out:
        c.tls = tls
    return {c.name: c for c in out}  # with TLS 1.3 the two http resumed 400/s cases are one


def checker_goals(tls: str) -> dict[str, float]:
    rc = resumed_check(tls)
    return {"connect full 400/s": 0.9, f"{rc} resumed 400/s": 0.9, "http resumed 400/s": 0.9,
            f"{rc} resumed 2000/s": 0.5}


def measure(args: argparse.Namespace, tlslab: Path, work: Path, nginx: Nginx, serve_pid: int,
            serve_port: int) -> dict[str, list[dict[str, Any]]]:
    """Every case once per round; returns the windows by case and side."""
    todo = cases(args.short, args.tls)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in todo}
    for rnd in range(args.rounds):
        for i, (name, case) in enumerate(todo.items()):
            if args.only and args.only not in name:
                continue
            # The first round (spread over one interval) is over: full handshakes only.
            warm = case.inter_ms / 1000 + (0.4 if args.short else 1.0)
            sides: dict[str, Window] = {}
            order = ["tlslab", "peer"] if (rnd + i) % 2 == 0 else ["peer", "tlslab"]
            for side in order:
                if side == "peer" and (case.server == "tlslab" or name.startswith("load")):
                    # The server cases' peer, nginx under the same client, is the tlslab side
                    # of the checker case of the same round (build_figures); the load case
                    # has none (tls-perf is not in Debian).
                    continue
                print(f"{PROG}: round {rnd + 1}/{args.rounds}: {name}: {side} ...",
                      file=sys.stderr, flush=True)
                if side == "tlslab":
                    if case.server == "tlslab":
                        sides[side] = run_tlslab(tlslab, work, case, serve_port, serve_pid,
                                                 warm, args.window, None)
                    else:
                        sides[side] = run_tlslab(tlslab, work, case, nginx.port, nginx.worker,
                                                 warm, args.window, nginx)
                else:
                    sides[side] = run_haproxy(work, case, nginx, warm, args.window)
            runs[name].append({k: vars(v) | {"us_per_check": v.us_per_check,
                                             "server_us_per_check": v.server_us_per_check}
                               for k, v in sides.items()})
    return runs


def build_figures(runs: dict[str, list[dict[str, Any]]], mem_full_us: float,
                  floor_us: float, tls: str = "1.2") -> list[Figure]:
    figs = []
    for name, goal in checker_goals(tls).items():
        f = Figure(f"checker CPU per check, {name}", goal=goal, peer_name="HAProxy 2.6",
                   short_judged="2000/s" not in name)
        f.ours = [r["tlslab"]["us_per_check"] for r in runs[name]]
        f.peer = [r["peer"]["us_per_check"] for r in runs[name]]
        figs.append(f)
    # --short reports this one and does not judge it: how much dearer a check every 2.5 ms is
    # than the same handshake in a tight loop depends on the machine (cold caches, frequency).
    # On one CI machine HAProxy's own full check was 2.28x the same reference, so the ratio
    # alone says little there; the next row (HAProxy's) says what the machine allows. A
    # regression of tlslab's own overhead is gated with a baseline by
    # experiments/gates/harness.toml (docs/ci-gating.md, section 4).
    full = runs["connect full 400/s"]
    f = Figure("full check vs in-memory handshake + socket floor", goal=1.3,
               peer_name="tlslab_bench", short_judged=False)
    f.ours = [r["tlslab"]["us_per_check"] for r in full]
    f.peer = [mem_full_us + floor_us] * len(f.ours)
    figs.append(f)
    f = Figure("  the same for HAProxy 2.6's full check", peer_name="tlslab_bench")
    f.ours = [r["peer"]["us_per_check"] for r in full if "peer" in r]
    f.peer = [mem_full_us + floor_us] * len(f.ours)
    figs.append(f)
    if "load resumed" in runs:
        f = Figure("client CPU per resumed handshake, flat out", peer_name="(tls-perf: absent)")
        f.ours = [r["tlslab"]["us_per_check"] for r in runs["load resumed"]]
        figs.append(f)
    for mode in ("full", "resumed"):
        f = Figure(f"server CPU per {mode} handshake, 400/s", goal=0.95,
                   peer_name="nginx 1 worker")
        peer = "connect full 400/s" if mode == "full" else f"{resumed_check(tls)} resumed 400/s"
        f.ours = [r["tlslab"]["server_us_per_check"] for r in runs[f"serve {mode} 400/s"]]
        f.peer = [r["tlslab"]["server_us_per_check"] for r in runs[peer]]
        figs.append(f)
    return figs


def details(runs: dict[str, list[dict[str, Any]]]) -> str:
    head = ["case", "side", "checks/s", "us/check", "vol. switches/check", "server us/check",
            "resumed", "failures"]
    body = []
    for name, rounds in runs.items():
        for side in ("tlslab", "peer"):
            ws = [r[side] for r in rounds if side in r]
            if not ws:
                continue
            rate = median([w["checks"] / w["seconds"] for w in ws])
            sw = median([w["switches"] / w["checks"] for w in ws if w["checks"]])
            rr = [w["resumption_ratio"] for w in ws if w["resumption_ratio"] is not None]
            body.append([name, "tlslab" if side == "tlslab" else "haproxy", fmt(rate),
                         fmt(median([w["us_per_check"] for w in ws])), fmt(sw, ".2f"),
                         fmt(median([w["server_us_per_check"] for w in ws])),
                         fmt(median(rr), ".3f"),
                         # HAProxy's failed checks are in its log, not counted here.
                         str(sum(w["failures"] for w in ws)) if side == "tlslab" else "-"])
    return "\n".join(ho.layout(head, body, left=2))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tlslab = ho.executable(args.tlslab, "--tlslab", "tlslab")
    bench = ho.executable(args.bench, "--bench", "tlslab_bench")
    for tool in ("haproxy", "nginx", "openssl"):
        if shutil.which(tool) is None:
            raise Failure(f"{tool} is not installed (apt-get install "
                          f"{'nginx-light' if tool == 'nginx' else tool})")
    if args.json_out is not None and not args.json_out.parent.is_dir():
        raise Failure(f"--json-out: no directory '{args.json_out.parent}'", status=2)
    started = time.monotonic()
    print(f"{PROG}: tlslab_bench (in-memory handshake and socket floor) ...", file=sys.stderr,
          flush=True)
    messages = FULL_CHECK_MESSAGES[args.tls]
    mem = ho.measure_in_memory(bench, "rsa2048", {messages}, 1 if args.short else 3,
                               0.1 if args.short else 0.3)
    mem_full_us = mem.handshakes[(args.tls, "full")].client_us
    floor = mem.loopback.get(messages)
    floor_us = floor.client_us if floor else 0.0

    with tempfile.TemporaryDirectory(prefix="tlslab-peers-") as tmp:
        work = Path(tmp)
        cert, key = work / "cert.pem", work / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"],
                       check=True, capture_output=True, timeout=60)
        nginx = start_nginx(work, cert, key, args.tls)
        serve, serve_port = None, 0
        try:
            serve, serve_port = start_serve(tlslab, work, args.tls)
            runs = measure(args, tlslab, work, nginx, serve.pid, serve_port)
        finally:
            if serve is not None:
                stop(serve)
            stop(nginx.proc)

    figures = build_figures(runs, mem_full_us, floor_us, args.tls)
    slack = SHORT_SLACK if args.short else 1.0
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({
            "settings": {"short": args.short, "rounds": args.rounds, "window_s": args.window,
                         "tls": args.tls, "key": "rsa2048"},
            "memory": {"client_full_handshake_us": mem_full_us, "socket_floor_us": floor_us,
                       "context": mem.context},
            "figures": [{"figure": f.label, "tlslab": f.ours, "peer": f.peer,
                         "peer_name": f.peer_name, "ratios": f.ratios(), "goal": f.goal,
                         "verdict": f.verdict(slack)} for f in figures],
            "runs": runs,
        }, indent=2) + "\n")
    print(f"tlslab vs HAProxy 2.6 and nginx (1 worker), TLS {args.tls}, rsa2048, {args.rounds} "
          f"interleaved rounds of {args.window:g} s per case, medians "
          f"({time.monotonic() - started:.0f} s in all)")
    print(table(figures, slack))
    print(f"\nin memory: full handshake {mem_full_us:.0f} us (client), socket floor "
          f"{floor_us:.0f} us ({messages} messages)")
    print("\n" + details(runs))
    print("\nfailures: tlslab's failed checks over whole runs (a loaded machine's timeouts); "
          "checks/s: achieved in the windows (HAProxy starts a server's next check an interval "
          "after the end of the last one)")
    print("verdict: met (median within the goal); within spread (some round within it); "
          "MISSED (every round above it)" + (f"; --short: fails only above {SHORT_SLACK}x the "
                                             "goal, the long form judges the goals"
                                             if args.short else ""))
    missed = [f.label for f in figures if f.verdict(slack) == "MISSED"]
    if missed:
        print(f"{PROG}: goal missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (Failure, ho.Failure) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(e.status)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        sys.exit(130)
