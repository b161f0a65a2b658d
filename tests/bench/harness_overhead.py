#!/usr/bin/python3
"""The harness's own overhead: the checker's CPU per check in `tlslab run` next to the cost of
the same TLS work in memory, measured in the same invocation.

Two measurements, one after the other:
  1. `tlslab_bench` (Google Benchmark, BIO pairs, no sockets): BM_Handshake client_us and
     server_us per handshake, full and resumed, TLS 1.2 and 1.3, plus BM_CloseNotify (the
     close_notify the checker sends with --close close-notify), and BM_LoopbackCheck, the
     same check's socket calls on loopback TCP without TLS (the socket floor).
  2. `tlslab run` twice per TLS version and check kind, with the same key: full handshakes on
     every check (--no-reuse) and resumed handshakes on every check (the saved session offered
     to the lenient server profile), reading figures.checker_cpu_us_per_check and
     server_cpu_us_per_check over the steady window.
The difference per check (run minus in memory) is what sockets, epoll, timers and the
scheduling around the handshake cost: the harness's overhead. A second table splits it into
the socket floor and the rest (event loop, timers, wake-ups, caches gone cold between checks).
Compare within one invocation: the machine's load moves absolute numbers, ratios move less.

Example (from the repository root, after building build/tlslab and build/tlslab_bench):
  /usr/bin/python3 tests/bench/harness_overhead.py --key p256 --json-out /tmp/overhead.json
Standard library only; exit status 2 for bad flags or paths, 1 when a measurement fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[2]
PROG = "harness_overhead.py"
TLS_VERSIONS = ("1.2", "1.3")
MODES = ("full", "resumed")
CHECK_KINDS = ("connect", "http")
KEYS = ("rsa2048", "p256")
US_PER_UNIT = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}  # Google Benchmark's time_unit
# Runs whose resumption ratio strays this far from the intended one are flagged in the table.
RATIO_TOLERANCE = 0.05


def messages_of(tls: str, mode: str, check: str) -> int:
    """Messages of a check before the goodbye, as BM_LoopbackCheck counts them: a TLS 1.2
    resumed handshake takes three flights, the others four (in TLS 1.3 the ticket is the
    fourth); an http check adds its request and response."""
    flights = 3 if (tls, mode) == ("1.2", "resumed") else 4
    return flights + (2 if check == "http" else 0)


class Failure(Exception):
    """A measurement that could not be made; `status` is the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class MemoryCost:
    """In-memory CPU per operation from tlslab_bench, in microseconds."""

    client_us: float
    server_us: float
    real_us: float


@dataclass
class RunFigures:
    """The figures of one `tlslab run` that this comparison uses."""

    command: list[str]
    checker_us: Optional[float]
    server_us: Optional[float]
    resumption_ratio: Optional[float]
    checks: int
    failures: int
    steady_seconds: float
    versions: dict[str, Any] = field(default_factory=dict)


def parse_seconds(text: str) -> Optional[float]:
    """Seconds in a tlslab duration (2s, 500ms, 1m, 1h, or a bare number of milliseconds, as
    lab/duration.cc reads them); None when tlslab would refuse it."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", text)
    if not m:
        return None
    scale = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "ms"]
    return int(m.group(1)) * scale


def executable(path: Path, flag: str, target: str) -> Path:
    """The path if it is an executable file; otherwise a usage failure naming the flag."""
    if not path.is_file() or not os.access(path, os.X_OK):
        raise Failure(
            f"{flag}: no executable at '{path}' (build the '{target}' target, or pass {flag} PATH)",
            status=2,
        )
    return path


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_json(cmd: list[str], timeout_s: float, what: str) -> dict[str, Any]:
    """Runs `cmd`, returns its stdout as JSON; a Failure carrying one line otherwise."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: no result within {timeout_s:.0f} s: {' '.join(cmd)}") from None
    except OSError as e:
        raise Failure(f"{what}: cannot start '{cmd[0]}': {e.strerror}", status=2) from None
    if proc.returncode != 0:
        status = 2 if proc.returncode == 2 else 1
        raise Failure(f"{what} exited {proc.returncode}: {last_line(proc.stderr)}", status)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise Failure(f"{what}: output is not JSON ({e.msg} at line {e.lineno})") from None


def bench_name_args(name: str) -> dict[str, str]:
    """{"resumed": "1", "tls13": "0", ...} from "BM_Handshake/resumed:1/tls13:0/p256:1"."""
    return dict(part.split(":", 1) for part in name.split("/")[1:] if ":" in part)


@dataclass
class InMemory:
    """What tlslab_bench measured: handshakes by (tls, mode), close_notify by tls, the socket
    floor by message count, and the benchmark run's context."""

    handshakes: dict[tuple[str, str], MemoryCost]
    closes: dict[str, MemoryCost]
    loopback: dict[int, MemoryCost]
    context: dict[str, Any]


def measure_in_memory(
    bench: Path, key: str, messages: set[int], repetitions: int, min_time_s: float
) -> InMemory:
    p256 = "1" if key == "p256" else "0"
    counts = "|".join(str(m) for m in sorted(messages))
    cmd = [
        str(bench),
        "--benchmark_format=json",
        f"--benchmark_filter=^BM_((Handshake/resumed:[01]|CloseNotify)/tls13:[01]/p256:{p256}"
        f"|LoopbackCheck/messages:({counts}))(/|$)",
        f"--benchmark_min_time={min_time_s}",
    ]
    if repetitions > 1:
        cmd += [f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true"]
    doc = run_json(cmd, timeout_s=600, what="tlslab_bench")
    handshakes: dict[tuple[str, str], MemoryCost] = {}
    closes: dict[str, MemoryCost] = {}
    loopback: dict[int, MemoryCost] = {}
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            raise Failure(f"tlslab_bench: {b.get('name')}: {b.get('error_message')}")
        # With repetitions the median of each case stands for it; without, the only run.
        if repetitions > 1 and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        args = bench_name_args(name)
        tls = "1.3" if args.get("tls13") == "1" else "1.2"
        cost = MemoryCost(
            client_us=float(b["client_us"]),
            server_us=float(b["server_us"]),
            real_us=float(b["real_time"]) * US_PER_UNIT[b["time_unit"]],
        )
        if name.startswith("BM_Handshake/"):
            handshakes[(tls, "resumed" if args.get("resumed") == "1" else "full")] = cost
        elif name.startswith("BM_CloseNotify/"):
            closes[tls] = cost
        elif name.startswith("BM_LoopbackCheck/"):
            loopback[int(args["messages"])] = cost
    missing = [f"TLS {t} {m}" for t in TLS_VERSIONS for m in MODES if (t, m) not in handshakes]
    if missing:
        raise Failure(f"tlslab_bench reported no BM_Handshake for: {', '.join(missing)}")
    return InMemory(handshakes, closes, loopback, doc.get("context", {}))


def measure_run(
    tlslab: Path, tls: str, mode: str, check: str, args: argparse.Namespace
) -> RunFigures:
    cmd = [str(tlslab), "run", "--json", "--live", "off", "--server-profile", "lenient",
           "--close", "close-notify", "--check", check, "--tls", tls, "--key", args.key,
           "--backends", str(args.backends), "--inter", args.inter, "--duration", args.duration]
    if mode == "full":
        cmd.append("--no-reuse")
    timeout_s = parse_seconds(args.duration) + 60
    doc = run_json(cmd, timeout_s, what=f"tlslab run (TLS {tls}, {mode}, {check})")
    f = doc.get("figures", {})
    return RunFigures(
        command=cmd,
        checker_us=f.get("checker_cpu_us_per_check"),
        server_us=f.get("server_cpu_us_per_check"),
        resumption_ratio=f.get("resumption_ratio"),
        checks=int(f.get("checks_total", 0)),
        failures=int(f.get("check_failures_total", 0)),
        steady_seconds=float(f.get("steady_window", {}).get("seconds", 0.0)),
        versions=doc.get("versions", {}),
    )


def compare(memory: Optional[float], harness: Optional[float]) -> dict[str, Optional[float]]:
    if memory is None or harness is None:
        return {"memory_us": memory, "harness_us": harness, "ratio": None, "overhead_us": None}
    return {
        "memory_us": round(memory, 2),
        "harness_us": round(harness, 2),
        "ratio": round(harness / memory, 3) if memory > 0 else None,
        "overhead_us": round(harness - memory, 2),
    }


def split(overhead: Optional[float], floor: Optional[MemoryCost], side: str) -> dict[str, Any]:
    """The overhead as the loopback socket floor plus the rest."""
    floor_us = getattr(floor, side) if floor is not None else None
    rest = overhead - floor_us if overhead is not None and floor_us is not None else None
    return {"socket_floor_us": None if floor_us is None else round(floor_us, 2),
            "rest_us": None if rest is None else round(rest, 2)}


def build_rows(mem: InMemory, runs: dict[tuple[str, str, str], RunFigures]) -> list[dict[str, Any]]:
    rows = []
    for (tls, mode, check), run in runs.items():
        hs = mem.handshakes[(tls, mode)]
        close = mem.closes.get(tls)
        floor = mem.loopback.get(messages_of(tls, mode, check))
        # A check with --close close-notify does the handshake and then sends close_notify.
        mem_client = hs.client_us + (close.client_us if close else 0.0)
        mem_server = hs.server_us + (close.server_us if close else 0.0)
        want = 1.0 if mode == "resumed" else 0.0
        ratio = run.resumption_ratio
        client = compare(mem_client, run.checker_us)
        server = compare(mem_server, run.server_us)
        client.update(split(client["overhead_us"], floor, "client_us"))
        server.update(split(server["overhead_us"], floor, "server_us"))
        rows.append({
            "tls": tls,
            "mode": mode,
            "check": check,
            "resumption_ratio": ratio,
            "resumption_as_intended": ratio is not None and abs(ratio - want) <= RATIO_TOLERANCE,
            "checks_total": run.checks,
            "check_failures_total": run.failures,
            "client": client,
            "server": server,
            "memory_handshake": vars(hs),
            "memory_close_notify": vars(close) if close else None,
            "loopback_messages": messages_of(tls, mode, check),
            "loopback": vars(floor) if floor else None,
        })
    return rows


def fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def layout(head: list[str], body: list[list[str]], left: int = 2) -> list[str]:
    """Aligned columns: the first `left` columns to the left, the numbers to the right."""
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = []
    for cells in [head, ["-" * w for w in widths], *body]:
        lines.append("  ".join(
            cell.ljust(w) if j < left else cell.rjust(w)
            for j, (cell, w) in enumerate(zip(cells, widths))
        ).rstrip())
    return lines


def format_tables(rows: list[dict[str, Any]], close_included: bool) -> str:
    head = ["case", "check", "resumed", "mem client us", "run checker us", "ratio", "overhead us",
            "mem server us", "run server us", "ratio", "overhead us"]
    body = []
    for r in rows:
        c, s = r["client"], r["server"]
        flag = "" if r["resumption_as_intended"] else " !"
        body.append([
            f"TLS {r['tls']} {r['mode']}", r["check"], fmt(r["resumption_ratio"], ".3f") + flag,
            fmt(c["memory_us"], ".1f"), fmt(c["harness_us"], ".1f"), fmt(c["ratio"], ".2f"),
            fmt(c["overhead_us"], "+.1f"),
            fmt(s["memory_us"], ".1f"), fmt(s["harness_us"], ".1f"), fmt(s["ratio"], ".2f"),
            fmt(s["overhead_us"], "+.1f"),
        ])
    lines = layout(head, body)
    lines += [
        "",
        "mem: tlslab_bench, CPU per handshake of each side"
        + (" plus its close_notify (BM_CloseNotify)" if close_included else "")
        + "; run: tlslab run, CPU per check over the steady window.",
        "ratio = run / mem; overhead = run - mem (sockets, epoll, timers, and for http the"
        " request and response).",
    ]
    if any(not r["resumption_as_intended"] for r in rows):
        lines.append(f"! resumption ratio more than {RATIO_TOLERANCE} away from the intended"
                     " 0 (full) or 1 (resumed): that row compares unlike handshakes.")

    head2 = ["case", "check", "messages", "checker overhead us", "socket floor us", "rest us",
             "server overhead us", "socket floor us", "rest us"]
    body2 = []
    for r in rows:
        c, s = r["client"], r["server"]
        body2.append([
            f"TLS {r['tls']} {r['mode']}", r["check"], str(r["loopback_messages"]),
            fmt(c["overhead_us"], "+.1f"), fmt(c["socket_floor_us"], ".1f"),
            fmt(c["rest_us"], "+.1f"),
            fmt(s["overhead_us"], "+.1f"), fmt(s["socket_floor_us"], ".1f"),
            fmt(s["rest_us"], "+.1f"),
        ])
    lines += ["", "Where the overhead goes:"] + layout(head2, body2)
    lines += [
        "",
        "socket floor: BM_LoopbackCheck, the check's socket calls on loopback TCP without TLS, in"
        " a tight loop; rest: event loop, timers, wake-ups, caches gone cold between checks.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Checker CPU per check in `tlslab run` against the same handshake in memory "
        "(tlslab_bench), measured in one invocation.",
    )
    p.add_argument("--tlslab", type=Path, default=REPO / "build" / "tlslab",
                   help="the tlslab command [%(default)s]")
    p.add_argument("--bench", type=Path, default=REPO / "build" / "tlslab_bench",
                   help="the benchmark binary [%(default)s]")
    p.add_argument("--backends", type=int, default=200, help="backends per run [%(default)s]")
    p.add_argument("--inter", default="1s", help="check interval per backend [%(default)s]")
    p.add_argument("--duration", default="10s", help="length of each run [%(default)s]")
    p.add_argument("--key", choices=KEYS, default="rsa2048", help="certificate key [%(default)s]")
    p.add_argument("--checks", default="connect,http",
                   help="check kinds to run, comma-separated (connect, http) [%(default)s]")
    p.add_argument("--bench-repetitions", type=int, default=3,
                   help="tlslab_bench repetitions; the median counts [%(default)s]")
    p.add_argument("--bench-min-time", type=float, default=0.3,
                   help="tlslab_bench seconds per benchmark and repetition [%(default)s]")
    p.add_argument("--json-out", type=Path, help="also write the results as JSON to this file")
    args = p.parse_args(argv)
    checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    unknown = [c for c in checks if c not in CHECK_KINDS]
    if unknown or not checks:
        p.error(f"--checks: '{args.checks}' is not a list of {', '.join(CHECK_KINDS)}")
    args.checks = checks
    for name in ("inter", "duration"):
        seconds = parse_seconds(getattr(args, name))
        if seconds is None or seconds <= 0:
            p.error(f"--{name}: bad value '{getattr(args, name)}'; expected a duration such as "
                    "2s, 500ms, 1m or 2000 (milliseconds)")
    if args.backends < 1:
        p.error(f"--backends: {args.backends} is not a positive number")
    if args.bench_repetitions < 1:
        p.error(f"--bench-repetitions: {args.bench_repetitions} is not a positive number")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tlslab = executable(args.tlslab, "--tlslab", "tlslab")
    bench = executable(args.bench, "--bench", "tlslab_bench")
    if args.json_out is not None and not args.json_out.parent.is_dir():
        raise Failure(f"--json-out: no directory '{args.json_out.parent}'", status=2)
    started = time.monotonic()

    print(f"{PROG}: tlslab_bench ({args.key}, {args.bench_repetitions} repetitions) ...",
          file=sys.stderr, flush=True)
    messages = {messages_of(t, m, c) for t in TLS_VERSIONS for m in MODES for c in args.checks}
    mem = measure_in_memory(bench, args.key, messages, args.bench_repetitions, args.bench_min_time)

    runs: dict[tuple[str, str, str], RunFigures] = {}
    for check in args.checks:
        for tls in TLS_VERSIONS:
            for mode in MODES:
                print(f"{PROG}: tlslab run TLS {tls} {mode} {check} "
                      f"({args.backends} backends, inter {args.inter}, {args.duration}) ...",
                      file=sys.stderr, flush=True)
                runs[(tls, mode, check)] = measure_run(tlslab, tls, mode, check, args)

    rows = build_rows(mem, runs)
    if args.json_out is not None:  # first, so that a closed stdout cannot lose it
        result = {
            "settings": {
                "key": args.key, "backends": args.backends, "inter": args.inter,
                "duration": args.duration, "checks": args.checks,
                "bench_repetitions": args.bench_repetitions,
                "bench_min_time_s": args.bench_min_time,
            },
            "versions": next(iter(runs.values())).versions if runs else {},
            "bench_context": mem.context,
            "rows": rows,
            "runs": [{"tls": t, "mode": m, "check": c, **vars(r)} for (t, m, c), r in runs.items()],
        }
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")

    close_included = all(t in mem.closes for t in TLS_VERSIONS)
    print(f"key {args.key}, {args.backends} backends, inter {args.inter}, runs of "
          f"{args.duration}, server profile lenient, close close-notify "
          f"({time.monotonic() - started:.0f} s in all)")
    print(format_tables(rows, close_included))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(e.status)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # stdout closed early (| head): nothing more to say
        sys.stderr.close()
        sys.exit(1)
