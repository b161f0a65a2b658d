#!/usr/bin/python3
"""The compatibility matrix: checker profile x server profile x TLS mode x check kind.

For every cell, one short `tlslab run` (one backend, a few checks 50 ms apart) tells whether a
check resumes the saved session; the key rate (HAProxy's SslBackendKeyRate) is then worked out
for the deployment you ask about: backends / inter x (share of checks after the first that did
a full handshake). The profile lists come from `tlslab profiles --json` at run time.

Writes, under --out (default docs/):
    matrix.csv   one row per cell (appended as cells finish; --resume skips the done ones)
    matrix.md    a table per TLS mode x check kind: rows server profiles, columns checker profiles
    matrix.png   a heat map, one panel per TLS mode x check kind, colour = key rate

Example:
    /usr/bin/python3 experiments/matrix.py                       # 600 backends, inter 2s
    /usr/bin/python3 experiments/matrix.py --backends 2000 --inter 1s --out /tmp/m --quick

Use Debian's /usr/bin/python3 (it sees python3-matplotlib and python3-pandas).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from matrix_render import CELL_FLAGS, CHECK_KINDS, heat_map, markdown

REPO = Path(__file__).resolve().parents[1]

# TLS mode name -> tlslab flags. In TLS 1.3 "tickets off" means stateful tickets held in the
# server's cache (OpenSSL's SSL_OP_NO_TICKET), so a strict server can drop them.
TLS_MODES = {
    "tls1.2-session-id": ["--tls", "1.2", "--tickets", "off"],
    "tls1.2-ticket": ["--tls", "1.2", "--tickets", "on"],
    "tls1.3-stateless": ["--tls", "1.3", "--tickets", "on"],
    "tls1.3-stateful": ["--tls", "1.3", "--tickets", "off"],
}
QUICK_MODES = ["tls1.2-session-id", "tls1.3-stateless"]

CELL_TIMEOUT_S = 60

CSV_FIELDS = [
    "tls_mode",
    "check",
    "server_profile",
    "checker_profile",
    "close",
    "reuse",
    "read_after_handshake",
    "checks_total",
    "check_failures_total",
    "full_handshakes_total",
    "resumed_handshakes_total",
    "verdict",
    "full_share",
    "backends",
    "inter_ms",
    "key_rate_per_s",
    "server_close_kinds",
    "sessions_removed",
    "tlslab_commit",
    "error",
]


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


@dataclass(frozen=True)
class Cell:
    tls_mode: str
    check: str
    server_profile: str
    checker_profile: str

    def key(self) -> tuple:
        return (self.tls_mode, self.check, self.server_profile, self.checker_profile)


def core_of(tlslab: str):
    """The compiled core of the build `tlslab` comes from (<build>/python next to the binary),
    for its one duration grammar (lab/duration.h)."""
    python_dir = Path(tlslab).resolve().parent / "python"
    if python_dir.is_dir() and str(python_dir) not in sys.path:
        sys.path.insert(0, str(python_dir))
    try:
        from tlslab._core import core
    except ImportError as e:
        raise UsageError(f"--tlslab {tlslab}: its build has no Python module ({e})") from None
    return core


def parse_duration_ms(core, text: str) -> int:
    """'2s', '500ms', '1m', '2000' -> milliseconds, by the core's grammar."""
    try:
        value = core.parse_duration_ms(text)
    except ValueError:
        raise UsageError(
            f"--inter {text!r}: expected a duration such as 2s, 500ms, 1m or 2000 (milliseconds)"
        ) from None
    if value <= 0:
        raise UsageError(f"--inter {text!r}: must be more than 0")
    return value


def run_tlslab(tlslab: str, args: list[str], timeout: float = 30) -> str:
    """stdout of `tlslab ARGS`; UsageError with tlslab's own one-line message if it fails."""
    try:
        done = subprocess.run(
            [tlslab, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except OSError as e:
        raise UsageError(f"--tlslab {tlslab}: cannot run it ({e.strerror})") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{tlslab} {' '.join(args)}` did not finish in {timeout:g} s") from None
    if done.returncode != 0:
        line = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UsageError(f"`{tlslab} {' '.join(args)}` failed ({done.returncode}): {line}")
    return done.stdout


def load_profiles(tlslab: str) -> dict:
    """{'server': [...], 'checker': [...]} from `tlslab profiles --json`."""
    try:
        profiles = json.loads(run_tlslab(tlslab, ["profiles", "--json"]))
        return {"server": profiles["server"], "checker": profiles["checker"]}
    except (ValueError, KeyError) as e:
        raise UsageError(f"`{tlslab} profiles --json` printed something unexpected: {e}") from None


def classify(checks: int, full: int, resumed: int, failures: int) -> tuple[str, float | None]:
    """(verdict, share of the checks after the first that did a full handshake).

    The first check of a backend has nothing to offer, so it is always full; a cell "resumes"
    when every later check resumed, is "full every check" when none did, else "partial k/n"
    (k of the n later checks resumed). A checker that keeps one connection open (close mode
    `keep`) does one handshake for all its checks: "one connection", no handshake after the
    first."""
    handshakes = full + resumed
    if failures or checks < 2 or handshakes < 1:
        return "error", None
    if handshakes == 1:
        return "one connection", 0.0

    later = handshakes - 1
    if resumed == later:
        return "resumes", 0.0
    if resumed == 0:
        return "full every check", 1.0
    return f"partial {resumed}/{later}", (later - resumed) / later


def run_cell(tlslab: str, cell: Cell) -> dict:
    """One short `tlslab run` for the cell -> a CSV row (without the deployment columns)."""
    args = [
        "run",
        "--json",
        "--live",
        "off",
        *CELL_FLAGS,
        *TLS_MODES[cell.tls_mode],
        "--check",
        cell.check,
        "--server-profile",
        cell.server_profile,
        "--checker-profile",
        cell.checker_profile,
    ]
    row = {
        "tls_mode": cell.tls_mode,
        "check": cell.check,
        "server_profile": cell.server_profile,
        "checker_profile": cell.checker_profile,
    }
    try:
        done = subprocess.run(
            [tlslab, *args], capture_output=True, text=True, timeout=CELL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return {**row, "verdict": "error", "error": f"no result in {CELL_TIMEOUT_S} s"}
    if done.returncode != 0:
        line = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {**row, "verdict": "error", "error": f"exit {done.returncode}: {line}"}
    try:
        doc = json.loads(done.stdout)
        figures, effective = doc["figures"], doc["effective"]
        full = int(figures["full_handshakes_total"])
        resumed = int(figures["resumed_handshakes_total"])
        failures = int(figures["check_failures_total"])
        checks = int(figures["checks_total"])
    except (ValueError, KeyError, TypeError) as e:
        return {**row, "verdict": "error", "error": f"unreadable JSON: {e}"}
    verdict, full_share = classify(checks, full, resumed, failures)
    closes = figures.get("close_kinds", {})
    removed = figures.get("sessions_removed_total", {})
    return {
        **row,
        "close": effective.get("close", ""),
        "reuse": effective.get("reuse", ""),
        "read_after_handshake": effective.get("read_after_handshake", ""),
        "checks_total": figures.get("checks_total", ""),
        "check_failures_total": failures,
        "full_handshakes_total": full,
        "resumed_handshakes_total": resumed,
        "verdict": verdict,
        "full_share": "" if full_share is None else f"{full_share:.3f}",
        "server_close_kinds": " ".join(f"{k}={v}" for k, v in closes.items() if v),
        "sessions_removed": " ".join(f"{k}={v}" for k, v in removed.items() if v),
        "tlslab_commit": doc.get("versions", {}).get("git_commit", ""),
        "error": "" if verdict != "error" else _failure_reason(figures),
    }


def run_cell_twice(tlslab: str, cell: Cell) -> dict:
    """run_cell, once more if it failed (a check timeout on a busy machine is not a verdict)."""
    row = run_cell(tlslab, cell)
    return run_cell(tlslab, cell) if row["verdict"] == "error" else row


def _failure_reason(figures: dict) -> str:
    reasons = figures.get("check_failures_by_reason") or {}
    text = " ".join(f"{k}={v}" for k, v in reasons.items() if v)
    return text or f"{figures.get('checks_total')} checks, too few handshakes"


def with_deployment(row: dict, backends: int, inter_ms: float) -> dict:
    """The row with the key rate for `backends` checked every `inter_ms`."""
    share = row.get("full_share")
    rate = "" if share in ("", None) else f"{backends / (inter_ms / 1000) * float(share):.1f}"
    return {**row, "backends": backends, "inter_ms": f"{inter_ms:g}", "key_rate_per_s": rate}


def read_done(path: Path) -> dict[tuple, dict]:
    """Cells already in the CSV (for --resume), by key; error rows are run again."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and set(CSV_FIELDS) - set(rows[0]):
        raise UsageError(f"--resume: {path} has other columns than this script writes")
    return {
        (r["tls_mode"], r["check"], r["server_profile"], r["checker_profile"]): r
        for r in rows
        if r["verdict"] != "error"
    }


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv: list[str]) -> argparse.Namespace:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
            print(f"matrix.py: error: {message}", file=sys.stderr)
            sys.exit(2)

    parser = Parser(description=__doc__.split("\n\n")[0])
    default_bin = os.environ.get("TLSLAB_BIN") or str(REPO / "build" / "tlslab")
    parser.add_argument("--tlslab", default=default_bin, help=f"tlslab binary [{default_bin}]")
    parser.add_argument("--backends", type=int, default=600, help="backends for the key rate [600]")
    parser.add_argument("--inter", default="2s", help="check interval for the key rate [2s]")
    parser.add_argument("--out", default=str(REPO / "docs"), help="output folder [docs/]")
    parser.add_argument(
        "--quick", action="store_true", help=f"TLS modes {', '.join(QUICK_MODES)} only"
    )
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once [2]")
    parser.add_argument(
        "--resume", action="store_true", help="keep the cells already in matrix.csv"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.backends < 1:
        raise UsageError(f"--backends {args.backends}: must be at least 1")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    tlslab = args.tlslab
    if not (os.path.isfile(tlslab) and os.access(tlslab, os.X_OK)):
        raise UsageError(f"--tlslab {tlslab}: not an executable file (build it, or set TLSLAB_BIN)")
    inter_ms = parse_duration_ms(core_of(tlslab), args.inter)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create it ({e.strerror})") from None
    versions = json.loads(run_tlslab(tlslab, ["version"]))
    profiles = load_profiles(tlslab)
    modes = QUICK_MODES if args.quick else list(TLS_MODES)

    cells = [
        Cell(mode, check, s["name"], c["name"])
        for mode in modes
        for check in CHECK_KINDS
        for s in profiles["server"]
        for c in profiles["checker"]
    ]
    csv_path = out / "matrix.csv"
    done = read_done(csv_path) if args.resume else {}
    rows = [
        with_deployment(done[c.key()], args.backends, inter_ms) for c in cells if c.key() in done
    ]
    todo = [c for c in cells if c.key() not in done]
    write_csv(csv_path, rows)  # keeps only the done cells; new rows are appended as they come
    print(
        f"matrix: {len(cells)} cells ({len(profiles['server'])} server x "
        f"{len(profiles['checker'])} checker profiles x {len(modes)} TLS modes x "
        f"{len(CHECK_KINDS)} check kinds); {len(todo)} to run, {args.jobs} at a time",
        file=sys.stderr,
    )
    start = time.monotonic()
    with csv_path.open("a", newline="") as f, concurrent.futures.ThreadPoolExecutor(
        args.jobs
    ) as pool:
        # Threads only wait on subprocesses: each cell is its own tlslab process.
        writer = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        futures = {pool.submit(run_cell_twice, tlslab, c): c for c in todo}
        for n, future in enumerate(concurrent.futures.as_completed(futures), 1):
            row = with_deployment(future.result(), args.backends, inter_ms)
            writer.writerow(row)
            f.flush()
            rows.append(row)
            rate = f", {row['key_rate_per_s']}/s" if row.get("key_rate_per_s") else ""
            detail = row.get("error") or (
                f"{row['full_handshakes_total']} full, {row['resumed_handshakes_total']} resumed"
            )
            print(
                f"[{n}/{len(todo)}] {row['tls_mode']:<17} {row['check']:<7} "
                f"{row['server_profile']} x {row['checker_profile']}: {row['verdict']}{rate} "
                f"({detail})",
                file=sys.stderr,
            )
    elapsed = time.monotonic() - start

    order = {c.key(): i for i, c in enumerate(cells)}
    rows.sort(
        key=lambda r: order[(r["tls_mode"], r["check"], r["server_profile"], r["checker_profile"])]
    )
    write_csv(csv_path, rows)
    command_args = ["/usr/bin/python3", "experiments/matrix.py"]
    if args.backends != 600:
        command_args += ["--backends", str(args.backends)]
    if args.inter != "2s":
        command_args += ["--inter", args.inter]
    if args.quick:
        command_args.append("--quick")
    if Path(args.out).resolve() != (REPO / "docs").resolve():
        command_args += ["--out", args.out]
    reused = len(cells) - len(todo)
    if reused:
        elapsed_note = f"{elapsed:.0f} s for {len(todo)} cells ({reused} kept by --resume)"
    else:
        elapsed_note = f"{elapsed:.0f} s"
    (out / "matrix.md").write_text(
        markdown(
            rows,
            profiles,
            modes,
            args.backends,
            inter_ms,
            shlex.join(command_args),
            versions,
            elapsed_note,
        )
    )
    heat_map(out / "matrix.png", rows, profiles, modes, args.backends, inter_ms)
    errors = sum(r["verdict"] == "error" for r in rows)
    print(
        f"matrix: wrote {csv_path}, {out / 'matrix.md'}, {out / 'matrix.png'} in {elapsed:.0f} s"
        + (f"; {errors} cells failed (see the error column)" if errors else ""),
        file=sys.stderr,
    )
    return 1 if errors == len(rows) and rows else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        print(f"matrix.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            "matrix.py: interrupted; the finished cells are in matrix.csv (--resume)",
            file=sys.stderr,
        )
        sys.exit(130)
