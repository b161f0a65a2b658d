#!/usr/bin/python3
"""Cost of TLS health checks versus the number of backends: where does the checker saturate
one core?

Backends from 10 to 5,000 (log steps) x {haproxy-1.7.3, haproxy-1.7.4} x {strict, lenient} x
{TLS 1.2, TLS 1.3}; each point a separate `tlslab run` process (so that the CPU each side
reports is its own). For every checker x server pair and TLS version: key rate, checker CPU,
server CPU, CPU per check, and the backend count at which the checker spends one core
(measured where a point got there, extrapolated from the cost per check otherwise).

Writes, in --out-dir, as it goes:
  sweep_backends.jsonl                  every run as it completes (resumable: run again to
                                        continue an interrupted sweep; --fresh starts over)
  sweep_backends.csv                    one row per point, rewritten after each run
and at the end:
  sweep_backends_saturation.csv         the knee per pair
  sweep_backends.{png,svg}              key rate and CPU per side versus backends
  sweep_backends_resumption.{png,svg}   resumption ratio per pair, per TLS version

    /usr/bin/python3 experiments/sweep_backends.py --quick   # 4 backend counts, 5 s runs, ~3 min
    /usr/bin/python3 experiments/sweep_backends.py           # 9 counts x 8, 20 s runs, ~30 min
    /usr/bin/python3 experiments/sweep_backends.py --backends 10,100 --tls 1.3 --dry-run
    /usr/bin/python3 experiments/sweep_backends.py --cluster tcp://10.0.0.1:8786   # on Dask
                                        # workers, one point per machine (README "On a Dask
                                        # cluster")

Note: on a small machine both sides share the cores (with whatever else runs there), so the
checks can fall behind their schedule (timeouts, p99 latency over inter / 2, a key rate
under one per check) before either side's CPU reaches one core: the saturation table gives
both knees, and the one-core estimate extrapolates each side's cost per check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _lab import RESULTS, import_tlslab, parse_list, print_paths, text_table

FULL_BACKENDS = "10,20,50,100,200,500,1000,2000,5000"
QUICK_BACKENDS = "10,30,100,300"

SATURATION = {  # column -> (header, decimals; None for text)
    "checker_profile": ("checker profile", None),
    "server_profile": ("server profile", None),
    "tls": ("TLS", None),
    "max_cpu_percent": ("max checker CPU %", 1),
    "knee_backends": ("checker >= 90% at", 0),
    "behind_backends": ("checks fall behind at", 0),
    "cpu_us_per_check": ("checker µs/check", 0),
    "one_core_backends_estimate": ("one core at ~ backends", 0),
    "server_max_cpu_percent": ("max server CPU %", 1),
    "server_one_core_backends_estimate": ("server one core at ~", 0),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", help=f"backend counts [{FULL_BACKENDS}]")
    parser.add_argument(
        "--checkers", default="haproxy-1.7.3,haproxy-1.7.4", help="checker profiles"
    )
    parser.add_argument("--servers", default="strict,lenient", help="server profiles")
    parser.add_argument("--tls", default="1.2,1.3", help="TLS versions [1.2,1.3]")
    parser.add_argument("--inter", default=None, help="check interval [2s; --quick 1s]")
    parser.add_argument("--duration", default=None, help="length of each run [20s; --quick 5s]")
    parser.add_argument("--check", default="http", help="check kind: http or connect [http]")
    parser.add_argument("--key", default="rsa2048", help="certificate key: rsa2048 or p256")
    parser.add_argument("--repeat", type=int, default=1, help="runs per point [1]")
    parser.add_argument(
        "--knee", type=float, default=90.0, help="CPU %% that counts as saturated [90]"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"backends {QUICK_BACKENDS}, inter 1s, 5 s runs"
    )
    parser.add_argument("--out-dir", default=str(RESULTS), help="where results go")
    parser.add_argument("--fresh", action="store_true", help="ignore earlier runs in the log")
    parser.add_argument(
        "--in-process", action="store_true", help="run in this process (default: one per run)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list the points and stop")
    parser.add_argument(
        "--cluster", metavar="ADDRESS", help="a Dask scheduler: run the points on its workers"
    )
    args = parser.parse_args(argv)
    if args.cluster and args.in_process:
        parser.error("--cluster runs each point as a process on a worker: not with --in-process")
    backends = parse_list(args.backends or (QUICK_BACKENDS if args.quick else FULL_BACKENDS), int)
    inter = args.inter or ("1s" if args.quick else "2s")
    duration = args.duration or ("5s" if args.quick else "20s")

    tlslab = import_tlslab()
    import tlslab.plot as plot
    from tlslab.analysis import saturation

    axes = dict(
        backends=backends,
        checker_profile=parse_list(args.checkers),
        server_profile=parse_list(args.servers),
        tls=parse_list(args.tls),
    )
    fixed = dict(inter=inter, duration=duration, check=args.check, key=args.key)
    points = tlslab.sweeps.expand(None, {**axes, **fixed})
    seconds = len(points) * args.repeat * (tlslab.Config(duration=duration).seconds("duration") + 1)
    print(
        f"sweep_backends: {len(points)} points x {args.repeat}, {duration} each "
        f"(about {seconds / 60:.0f} min), inter {inter}, {args.check} checks",
        file=sys.stderr,
    )
    if args.dry_run:
        print(tlslab.sweeps.describe_points(points))
        return 0

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log, table = out / "sweep_backends.jsonl", out / "sweep_backends.csv"
    if args.fresh and log.exists():
        log.unlink()

    def rewrite_table(_record: dict) -> None:  # results as they come
        tlslab.load_sweep(log).to_csv(table, index=False)

    try:
        frame = tlslab.sweep(
            **axes,
            **fixed,
            repeat=args.repeat,
            out=log,
            resume=True,
            isolate=not args.in_process,
            errors="skip",
            on_point=rewrite_table,
            cluster=args.cluster,
        )
    except (RuntimeError, ValueError) as e:  # the cluster: out of reach, no worker, no tlslab
        print(f"sweep_backends: error: {e}", file=sys.stderr)
        return 2
    frame.to_csv(table, index=False)
    failed = frame[frame["error"].notna()] if "error" in frame else frame.iloc[0:0]
    ok = frame.drop(failed.index)
    for _, row in failed.iterrows():
        print(
            f"failed: backends={row['backends']} {row['checker_profile']} -> "
            f"{row['server_profile']} TLS {row['tls']}: {row['error']}",
            file=sys.stderr,
        )

    knees = saturation(ok, "checker", args.knee)
    server = saturation(ok, "server", args.knee)
    knees["server_max_cpu_percent"] = server["max_cpu_percent"]
    knees["server_one_core_backends_estimate"] = server["one_core_backends_estimate"]
    knees.to_csv(out / "sweep_backends_saturation.csv", index=False)
    print(text_table(knees, SATURATION))
    for _, row in knees[knees["behind_reason"].notna()].iterrows():
        print(
            f"{row['checker_profile']} -> {row['server_profile']} TLS {row['tls']}: checks "
            f"fall behind at {row['behind_backends']:.0f} backends ({row['behind_reason']})"
        )

    written = [table, out / "sweep_backends_saturation.csv", log]
    title = f"TLS health checks every {inter} ({args.check}, {args.key}): cost versus backends"
    written += plot.save(
        plot.scaling(ok, knee_percent=args.knee, title=title), out / "sweep_backends"
    )
    facet = "tls" if ok["tls"].nunique() > 1 else None
    written += plot.save(
        plot.resumption_heatmap(ok, facet=facet), out / "sweep_backends_resumption"
    )
    print_paths(written)
    return 1 if not failed.empty else 0


if __name__ == "__main__":
    sys.exit(main())
