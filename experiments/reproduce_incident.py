#!/usr/bin/python3
"""The incident, before and after the fix: a table and figures.

HAProxy checks many Java (Jetty) backends over TLS. haproxy-1.7.3 closes each check without
close_notify; the strict server (JDK 8 SSLEngine under Jetty 9.3) then removes the session, so
every check pays a full handshake (the key rate is backends / inter). haproxy-1.7.4 sends
close_notify first and resumes. The lenient server keeps the session either way.

Four pairs (haproxy-1.7.3, haproxy-1.7.4) x (strict, lenient), each a separate `tlslab run`
process, and the time series of the strict server under both checkers. Writes, in --out-dir:
  incident.jsonl                   every run as it completes (config, versions, figures, series)
  incident.csv, incident.md        the table
  incident.{png,svg}               key rate, resumption and CPU per side for each pair
  incident_time_series.{png,svg}   the 1 Hz series of the strict server, before and after

    /usr/bin/python3 experiments/reproduce_incident.py --quick   # ~30 s: 50 backends, 5 s runs
    /usr/bin/python3 experiments/reproduce_incident.py           # the incident's scale, ~90 s

Runs already in incident.jsonl with the same config are not run again (--fresh starts over).
"""

from __future__ import annotations

import argparse
import sys

from _lab import RESULTS, import_tlslab, markdown_table, print_paths, text_table

TABLE = {  # column -> (header, decimals; None for text)
    "checker_profile": ("checker profile", None),
    "server_profile": ("server profile", None),
    "check": ("check", None),
    "effective_close": ("close", None),
    "backends": ("backends", 0),
    "inter": ("inter", None),
    "key_rate_per_s": ("key rate/s", 1),
    "resumption_ratio": ("resumed", 3),
    "check_failures_total": ("failures", 0),
    "checker_cpu_percent": ("checker CPU %", 1),
    "server_cpu_percent": ("server CPU %", 1),
    "checker_cpu_us_per_check": ("checker µs/check", 0),
    "server_cpu_us_per_check": ("server µs/check", 0),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=int, default=600, help="backends [600]")
    parser.add_argument("--inter", default="2s", help="check interval [2s]")
    parser.add_argument("--duration", default="20s", help="length of each run [20s]")
    parser.add_argument("--check", default="http", help="check kind: http or connect [http]")
    parser.add_argument("--tls", default="auto", help="TLS version: auto, 1.2, 1.3 [auto]")
    parser.add_argument("--repeat", type=int, default=1, help="runs per pair [1]")
    parser.add_argument(
        "--quick", action="store_true", help="a small run: 50 backends, inter 1s, 5 s runs"
    )
    parser.add_argument("--out-dir", default=str(RESULTS), help="where results go")
    parser.add_argument("--fresh", action="store_true", help="ignore earlier runs in the log")
    parser.add_argument(
        "--in-process", action="store_true", help="run in this process (default: one per run)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.backends, args.inter, args.duration = 50, "1s", "5s"

    tlslab = import_tlslab()
    import tlslab.plot as plot

    from pathlib import Path

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "incident.jsonl"
    if args.fresh and log.exists():
        log.unlink()
    print(
        f"incident: {args.backends} backends, inter {args.inter}, {args.check} checks, "
        f"{args.duration} per run, 4 pairs x {args.repeat}",
        file=sys.stderr,
    )
    frame = tlslab.sweep(
        checker_profile=["haproxy-1.7.3", "haproxy-1.7.4"],
        server_profile=["strict", "lenient"],
        backends=args.backends,
        inter=args.inter,
        duration=args.duration,
        check=args.check,
        tls=args.tls,
        repeat=args.repeat,
        out=log,
        resume=True,
        isolate=not args.in_process,
    )
    frame = frame.sort_values(["server_profile", "checker_profile"], ascending=[False, True])
    frame.to_csv(out / "incident.csv", index=False)
    (out / "incident.md").write_text(markdown_table(frame, TABLE))
    print(text_table(frame, TABLE))

    written = [out / "incident.csv", out / "incident.md", log]
    title = (
        f"The incident: {args.backends} backends, {args.check} checks every {args.inter} "
        "(before: haproxy-1.7.3, after: haproxy-1.7.4)"
    )
    written += plot.save(plot.pairs(frame, title=title), out / "incident")

    # The time series of the strict server under both checkers (first repetition).
    series = {}
    for record in tlslab.sweeps.read_records(log):
        c = record["config"]
        if (
            "error" not in record
            and record.get("repetition") == 0
            and c["server_profile"] == "strict"
            and c["backends"] == args.backends
            and c["check"] == args.check
            and c["duration"] == frame["duration"].iloc[0]
            and c["inter"] == frame["inter"].iloc[0]
            and c["tls"] == args.tls
        ):
            series[f"{c['checker_profile']} → strict"] = tlslab.Result.from_record(record)
    if series:
        fig = plot.time_series(
            dict(sorted(series.items())),
            title=f"Strict server, {args.backends} backends: before and after the fix",
        )
        written += plot.save(fig, out / "incident_time_series")
    print_paths(written)

    broken = frame[
        (frame["server_profile"] == "strict") & (frame["checker_profile"] == "haproxy-1.7.3")
    ]
    if not broken.empty:
        expected = args.backends / tlslab.Config(inter=args.inter).seconds("inter")
        print(
            f"haproxy-1.7.3 -> strict pays {broken['key_rate_per_s'].iloc[0]:.1f} full "
            f"handshakes/s (one per check would be {expected:.1f}/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
