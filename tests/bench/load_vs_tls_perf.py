#!/usr/bin/python3
"""tlslab as a load generator next to tls-perf: client CPU per resumed TLS 1.2 handshake at the
same rate (docs/performance.md, "Load generator against tls-perf").

tls-perf (github.com/tempesta-tech/tls-perf) is the usual reference but is not in Debian, so
this script is not part of CI: give the binary you built with --tls-perf PATH.

One nginx (one worker, TLS 1.2, tickets on, a key and certificate generated here) is the
server. Each round runs, one after the other:
  tls-perf  `tls-perf -l L -t 1 -T S --tls 1.2 --tickets on`: flat out, resuming by ticket;
  tlslab    `tlslab check --profile haproxy-2.6 --check connect` against N copies of the same
            address, scheduled for tls-perf's achieved rate of that round (inter = N / rate):
            each check resumes the backend's last session by ticket.
CPU of each client process from /proc/PID/task/*/schedstat over a window that starts after a
warm-up (the first full handshakes); handshakes from nginx's accepted connections over the same
window. The figure is the median over rounds of tlslab's CPU per handshake over tls-perf's, with
the rounds' min..max; the goal is at most 1.0 (no more than tls-perf's). Exit status: 0 goal
met or missed only within the rounds' spread, 1 missed in every round or a measurement failed,
2 bad flags or paths.

    /usr/bin/python3 tests/bench/load_vs_tls_perf.py --tls-perf /path/to/tls-perf
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness_overhead as ho  # noqa: E402
import peers  # noqa: E402  (nginx, /proc readers, process control)

PROG = "load_vs_tls_perf.py"
GOAL = 1.0
BACKENDS = 200  # tlslab's checks spread over this many copies of the one nginx address


def window(pid: int, nginx: peers.Nginx, warm_s: float, seconds: float) -> tuple[float, int]:
    """CPU microseconds of `pid` and handshakes accepted by nginx over one window."""
    time.sleep(warm_s)
    cpu0, acc0 = peers.cpu_ns(pid), nginx.accepts()
    time.sleep(seconds)
    cpu1, acc1 = peers.cpu_ns(pid), nginx.accepts()
    return (cpu1 - cpu0) / 1e3, acc1 - acc0 - 1  # stub_status counts its own request


def run_tls_perf(binary: Path, nginx: peers.Nginx, parallel: int, seconds: float,
                 warm_s: float) -> tuple[float, float]:
    """(CPU us per handshake, handshakes per second) of tls-perf flat out."""
    cmd = [str(binary), "-l", str(parallel), "-t", "1", "-T", str(int(seconds + warm_s + 2)),
           "--tls", "1.2", "--tickets", "on", "-q", "127.0.0.1", str(nginx.port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cpu_us, handshakes = window(proc.pid, nginx, warm_s, seconds)
    finally:
        peers.stop(proc)
    if handshakes <= 0:
        raise peers.Failure("tls-perf made no handshakes (is nginx reachable?)")
    return cpu_us / handshakes, handshakes / seconds


def run_tlslab(tlslab: Path, work: Path, nginx: peers.Nginx, rate: float, seconds: float,
               warm_s: float) -> tuple[float, float, float]:
    """(CPU us per handshake, handshakes per second, resumption ratio) of tlslab check."""
    targets = peers.targets_file(work, nginx.port, BACKENDS)
    inter_ms = max(1, round(BACKENDS / rate * 1000))
    duration_ms = int((warm_s + seconds + 1) * 1000)
    err = work / "check.err"
    cmd = [str(tlslab), "check", "--targets-file", str(targets), "--inter", f"{inter_ms}ms",
           "--profile", "haproxy-2.6", "--check", "connect", "--tls", "1.2",
           # HAProxy's `timeout check` default (2 s), not the interval: at thousands of
           # handshakes a second the interval is milliseconds and a slow handshake would fail.
           "--timeout", "2s", "--duration", f"{duration_ms}ms", "--json", "--live", "off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err.open("w"), text=True)
    try:
        cpu_us, handshakes = window(proc.pid, nginx, warm_s, seconds)
        out, _ = proc.communicate(timeout=duration_ms / 1000 + 30)
    finally:
        peers.stop(proc)
    if proc.returncode != 0 or handshakes <= 0:
        raise peers.Failure(f"tlslab check exited {proc.returncode}: "
                            f"{ho.last_line(peers.read_text(err))}")
    figures = json.loads(out).get("figures", {})
    ratio = figures.get("resumption_ratio") or 0.0
    if ratio < 0.99 or figures.get("check_failures_total", 0):
        raise peers.Failure(f"tlslab check at {rate:.0f}/s: resumption {ratio:.2f}, "
                            f"{figures.get('check_failures_total', 0)} failed checks (not the "
                            "resumed handshakes this compares)")
    return cpu_us / handshakes, handshakes / seconds, ratio


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--tls-perf", type=Path, required=True, help="the tls-perf binary")
    parser.add_argument("--tlslab", type=Path, default=ho.REPO / "build" / "tlslab")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--parallel", type=int, default=1,
                        help="tls-perf's connections in flight (-l) [1]")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.window <= 0 or args.parallel < 1:
        raise peers.Failure("--rounds, --window and --parallel must be positive", status=2)
    if not args.tls_perf.is_file():
        raise peers.Failure(f"--tls-perf: no file '{args.tls_perf}' (tls-perf is not in Debian: "
                            "build it from its source)", status=2)
    tlslab = ho.executable(args.tlslab, "--tlslab", "tlslab")
    warm_s = 2.0
    rows = []
    with tempfile.TemporaryDirectory(prefix="tlslab-load-") as tmp:
        work = Path(tmp)
        cert, key = work / "cert.pem", work / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"],
                       check=True, capture_output=True, timeout=60)
        nginx = peers.start_nginx(work, cert, key)
        try:
            for n in range(1, args.rounds + 1):
                peer_us, rate = run_tls_perf(args.tls_perf, nginx, args.parallel, args.window,
                                             warm_s)
                ours_us, our_rate, resumed = run_tlslab(tlslab, work, nginx, rate, args.window,
                                                        warm_s)
                if our_rate < 0.9 * rate:
                    raise peers.Failure(f"tlslab check made {our_rate:.0f}/s where tls-perf "
                                        f"made {rate:.0f}/s: not the same rate")
                rows.append((peer_us, rate, ours_us, our_rate, resumed))
                print(f"{PROG}: round {n}/{args.rounds}: tls-perf {peer_us:.0f} us at "
                      f"{rate:.0f}/s, tlslab {ours_us:.0f} us at {our_rate:.0f}/s "
                      f"(resumption {resumed:.2f})", file=sys.stderr, flush=True)
        finally:
            peers.stop(nginx.proc)
    ratios = [ours / peer for peer, _, ours, _, _ in rows]
    median = statistics.median(ratios)
    verdict = ("met" if median <= GOAL else
               "within spread" if min(ratios) <= GOAL else "MISSED")
    print("client CPU per resumed TLS 1.2 handshake, tlslab check vs tls-perf at the same rate")
    print(f"  tls-perf {statistics.median(r[0] for r in rows):.0f} us at "
          f"{statistics.median(r[1] for r in rows):.0f}/s; tlslab "
          f"{statistics.median(r[2] for r in rows):.0f} us at "
          f"{statistics.median(r[3] for r in rows):.0f}/s")
    print(f"  ratio {median:.2f} ({min(ratios):.2f}..{max(ratios):.2f}), goal <= {GOAL}: "
          f"{verdict}")
    return 1 if verdict == "MISSED" else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (peers.Failure, ho.Failure) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(e.status)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        sys.exit(130)
