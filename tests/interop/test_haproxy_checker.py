"""Real HAProxy 2.6 as the checker, against the checker profile haproxy-2.6.

HAProxy runs `haproxy -f CFG -db` with one backend of N `server` lines pointing at the ports of
`tlslab serve --backends N`, each `check check-ssl verify none inter 200ms` (and a variant with
`option httpchk`), for RUN_S seconds. The same tlslab server figures are then taken with
`tlslab check --profile haproxy-2.6` (same N, inter, check kind) against a fresh `tlslab serve`.
The two runs happen side by side. What the servers saw must agree:

* the close kinds: the same kinds make up the bulk of the closes (HAProxy 2.2+ closes every
  check with a quiet shutdown, then an RST: the server sees `reset`; docs/tls-semantics.md 4.1,
  commit 3d5e12184);
* the key rate (full handshakes per second, SslBackendKeyRate) within 10 % (with a slack of two
  handshakes for the edges of the runs), and the full-handshake share within 10 points.
  HAProxy runs with `nbthread 1`, as the lab's checker runs one thread: HAProxy 2.6 keeps one
  session per thread (reused_sess[tid]), so with two threads it would pay two first full
  handshakes per server where the lab pays one.

Server rows: jdk8-sslengine (the incident's server: an RST removes the session) and lenient
(nothing is removed, so only the checker decides whether a check resumes), in TLS 1.3 (the
default) and TLS 1.2.

The binary comes from $TLSLAB_BIN, else <repo>/build/tlslab.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import peers

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TLSLAB_BIN", str(REPO / "build" / "tlslab"))).resolve()

N = 10  # backends
INTER = "200ms"
RUN_S = 6.0
READY_TIMEOUT_S = 30.0
BULK = 0.05  # a close kind below this share of all closes is noise (the last check at the end)
RATE_TOLERANCE = 0.10
KEY_RATE_SLACK = 2  # full handshakes: a check more or less at either end of a run

READY_RE = re.compile(r"^ready backends=(\d+) profile=(\S+) listen=(\S+) ports=([\d,]+)$", re.M)

HAPROXY_CFG = """\
global
    maxconn 1024
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 5s
    timeout check 2s
frontend fe
    bind abns@{sock}
    default_backend be
backend be
{option}
{servers}
"""


@dataclasses.dataclass
class Figures:
    close_kinds: dict[str, int]
    full: int
    resumed: int

    @property
    def full_rate(self) -> float:
        return self.full / max(1, self.full + self.resumed)

    def bulk_kinds(self) -> set[str]:
        total = sum(self.close_kinds.values())
        return {k for k, n in self.close_kinds.items() if total and n / total >= BULK}

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in self.close_kinds.items() if n)
        return (
            f"full {self.full}, resumed {self.resumed} "
            f"(full rate {self.full_rate:.0%}); closes: {kinds}"
        )


class Serve:
    """`tlslab serve --backends N --duration 0 --json`: figures on SIGTERM."""

    def __init__(self, workdir: Path, name: str, *flags: str):
        self.out = workdir / f"{name}.serve.json"
        self.err = workdir / f"{name}.serve.err"
        argv = [str(BIN), "serve", "--backends", str(N), "--port", "0", "--duration", "0"]
        argv += ["--json", "--live", "off", "--key", "p256", *flags]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=peers._die_with_parent,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            m = READY_RE.search(self.err.read_text(errors="replace"))  # --json: on stderr
            if m:
                self.ports = [int(p) for p in m[4].split(",")]
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{' '.join(argv)} not ready:\n{self.err.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def figures(self) -> Figures:
        """SIGTERM, then the final JSON document (after the ready line)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("tlslab serve did not stop on SIGTERM")
        text = self.out.read_text(errors="replace")
        doc = json.loads(text)  # stdout is the one JSON document
        f = doc["figures"]
        return Figures(f["close_kinds"], f["full_handshakes_total"], f["resumed_handshakes_total"])


def run_haproxy(workdir: Path, ports: list[int], check: str) -> str:
    """haproxy -f CFG -db for RUN_S seconds, then SIGTERM to its group; returns its log."""
    servers = "\n".join(
        f"    server s{i} 127.0.0.1:{p} check check-ssl verify none inter {INTER}"
        for i, p in enumerate(ports)
    )
    option = "    option httpchk GET /" if check == "http" else ""
    cfg = workdir / f"haproxy-{check}.cfg"
    cfg.write_text(
        HAPROXY_CFG.format(
            sock=f"tlslab-{os.getpid()}-{workdir.name}", option=option, servers=servers
        )
    )
    log = workdir / f"haproxy-{check}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["haproxy", "-f", str(cfg), "-db"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=peers._die_with_parent,
            start_new_session=True,
        )
    time.sleep(RUN_S)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    text = log.read_text(errors="replace")
    if not alive:
        raise RuntimeError(f"haproxy exited early ({proc.returncode}):\n{text[-2000:]}")
    return text


def run_lab_checker(workdir: Path, ports: list[int], check: str, tls: str) -> dict:
    targets = workdir / f"targets-{check}-{tls}.txt"
    targets.write_text("".join(f"127.0.0.1:{p}\n" for p in ports))
    argv = [str(BIN), "check", "--profile", "haproxy-2.6", "--targets-file", str(targets)]
    argv += ["--check", check, "--inter", INTER, "--duration", f"{RUN_S:g}s", "--tls", tls]
    argv += ["--json", "--live", "off"]
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_S + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


CASES = [
    # (server profile, tls, check kind)
    ("jdk8-sslengine", "auto", "connect"),
    ("jdk8-sslengine", "auto", "http"),
    ("jdk8-sslengine", "1.2", "connect"),
    ("lenient", "1.2", "connect"),
    ("lenient", "1.2", "http"),
    ("lenient", "auto", "http"),
]


@pytest.fixture(scope="module")
def results(interop_dir: Path) -> dict[tuple[str, str, str], tuple[Figures, Figures] | str]:
    """Every case, the HAProxy run and the tlslab run side by side, one case at a time."""
    if not shutil.which("haproxy"):
        pytest.skip("haproxy not installed (apt-get install haproxy)")
    if not BIN.exists():
        pytest.skip(f"tlslab binary not found at {BIN}: build it or set TLSLAB_BIN")
    out: dict = {}
    started = time.monotonic()
    for profile, tls, check in CASES:
        workdir = interop_dir / f"haproxy-checker-{profile}-{tls}-{check}"
        workdir.mkdir(parents=True, exist_ok=True)
        real = lab = None
        try:
            real = Serve(workdir, "real", "--profile", profile, "--tls", tls)
            lab = Serve(workdir, "lab", "--profile", profile, "--tls", tls)
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                h = pool.submit(run_haproxy, workdir, real.ports, check)
                c = pool.submit(run_lab_checker, workdir, lab.ports, check, tls)
                h.result()
                c.result()
            out[(profile, tls, check)] = (real.figures(), lab.figures())
        except Exception as e:  # reported by that case's test
            out[(profile, tls, check)] = f"{type(e).__name__}: {e}"
        finally:
            for s in (real, lab):
                if s is not None:
                    s.kill()
    print(f"\nHAProxy as checker: {len(CASES)} cases in {time.monotonic() - started:.1f} s")
    return out


@pytest.mark.parametrize("profile,tls,check", CASES, ids=[f"{p}-tls{t}-{c}" for p, t, c in CASES])
def test_haproxy_26_checks_look_like_the_haproxy_26_profile(
    results: dict, profile: str, tls: str, check: str
) -> None:
    outcome = results[(profile, tls, check)]
    if isinstance(outcome, str):
        pytest.fail(outcome, pytrace=False)
    real, lab = outcome
    report = f"\n  HAProxy 2.6:          {real.line()}\n  tlslab haproxy-2.6:   {lab.line()}"
    print(f"\n{profile} tls {tls} {check}:{report}")
    assert real.full + real.resumed >= N, f"HAProxy checked too little{report}"
    assert lab.full + lab.resumed >= N, f"tlslab check checked too little{report}"
    assert real.bulk_kinds() == lab.bulk_kinds(), f"the servers saw different closes{report}"
    assert (
        abs(real.full_rate - lab.full_rate) <= RATE_TOLERANCE
    ), f"full-handshake shares differ by more than {RATE_TOLERANCE:.0%}{report}"
    real_rate, lab_rate = real.full / RUN_S, lab.full / RUN_S
    slack = max(KEY_RATE_SLACK / RUN_S, RATE_TOLERANCE * max(real_rate, lab_rate))
    assert abs(real_rate - lab_rate) <= slack, (
        f"key rates differ by more than 10 %: HAProxy {real_rate:.1f}/s, "
        f"tlslab {lab_rate:.1f}/s{report}"
    )
