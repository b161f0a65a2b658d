#!/usr/bin/python3
"""Simulated against measured: the simulator's figures next to real runs of the lab.

Each point runs for real (a separate `tlslab run` process; --repeat N runs, the median of each
figure, since one run of a shared 2-core machine can be 20% off the next) and once simulated
(`tlslab simulate`, the same flags) with a cost file calibrated on this machine (`tlslab
calibrate`, or --costs). Writes, in --out-dir:
  simulation_vs_measured.csv, .md   one row per point: measured, simulated, relative error
                                    (the CSV a row at a time, as each point is done)
  simulation_vs_measured.png        predicted against measured, y = x, per figure

The full grid: backends 100, 300, 1000, 3000 x broken and fixed pairs x TLS 1.2 and
1.3 x connect and http checks x one and two checker threads: 64 points, about 25 minutes.

    /usr/bin/python3 experiments/simulation_vs_measured.py --quick   # 2 points, ~1 minute
    /usr/bin/python3 experiments/simulation_vs_measured.py --small --duration 10s \\
        --out-dir docs/figures                                    # 8 points, ~3 minutes
    /usr/bin/python3 experiments/simulation_vs_measured.py     # the full grid
    ... --repeat 3   # each real point three times, medians (three times as long)

--knee BACKENDS (a comma list) also measures the knee: the fewest backends at which the checks
of one checker thread fall behind their schedule (fewer than KNEE_SHARE of backends / inter
per second, or timeouts), broken pair, TLS 1.2, http, inter 1 s, in the real lab (one short
run per count) and in the simulation; written to simulation_vs_measured_knee.csv, .md. The
key is --knee-key, p256 by default: the checker's thread is then the first to saturate. With
rsa2048 the server's one thread signs with RSA and costs about what the checker does, so on a
2-core machine the two saturate together and the sweep measures whichever goes first.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
from pathlib import Path

from _lab import RESULTS, import_tlslab, markdown_table

PAIRS = {
    "broken": ("jdk8-sslengine", "haproxy-1.7.3"),
    "fixed": ("jdk8-sslengine", "haproxy-1.7.4"),
}
KNEE_SHARE = 0.95
FIGURES = ["key_rate_per_s", "resumption_ratio", "checker_cpu_percent", "server_cpu_percent"]


def grid(quick: bool, small: bool = False) -> list[dict]:
    if quick:
        return [dict(pair=p, backends=200, tls="1.2", check="http", threads=1)
                for p in ("broken", "fixed")]
    if small:  # docs/figures: 8 points
        return [dict(pair=p, backends=b, tls=t, check="http", threads=1)
                for b, p, t in itertools.product((100, 1000), PAIRS, ("1.2", "1.3"))]
    return [dict(pair=p, backends=b, tls=t, check=c, threads=n)
            for b, p, t, c, n in itertools.product((100, 300, 1000, 3000), PAIRS, ("1.2", "1.3"),
                                                   ("connect", "http"), (1, 2))]


def measured(tlslab, fields: dict, repeat: int) -> dict:
    """The median of each figure over `repeat` real runs."""
    runs = [tlslab.run(isolate=True, **fields) for _ in range(repeat)]
    return {name: statistics.median(getattr(r, name) for r in runs) for name in FIGURES}


def behind(result, backends: int, duration_s: float) -> bool:
    """Checks fell behind their schedule (inter 1 s): too few, or timed out."""
    timeouts = result.check_failures_by_reason.get("timeout", 0)
    return result.checks_total < KNEE_SHARE * backends * duration_s or timeouts > 0


def knee(tlslab, costs: str, counts: list[int], duration: str, out_dir: Path, key: str) -> None:
    import pandas as pd

    server, checker = PAIRS["broken"]
    rows = []
    seconds = float(duration.rstrip("s"))
    for n in counts:
        fields = dict(server_profile=server, checker_profile=checker, backends=n, tls="1.2",
                      check="http", inter="1s", duration=duration, key=key)
        real = tlslab.run(isolate=True, **fields)
        sim = tlslab.simulate(costs=costs, **fields)
        rows.append(dict(backends=n, measured_checks=real.checks_total,
                         simulated_checks=sim.checks_total,
                         measured_checker_cpu_percent=real.checker_cpu_percent,
                         simulated_checker_cpu_percent=sim.checker_cpu_percent,
                         measured_server_cpu_percent=real.server_cpu_percent,
                         simulated_server_cpu_percent=sim.server_cpu_percent,
                         measured_behind=behind(real, n, seconds),
                         simulated_behind=behind(sim, n, seconds)))
        print(rows[-1], file=sys.stderr)
    frame = pd.DataFrame(rows)
    frame.to_csv(out_dir / "simulation_vs_measured_knee.csv", index=False)
    columns = {k: (k.replace("_", " "), 1 if "cpu" in k else None) for k in rows[0]}
    text = (f"Broken pair, TLS 1.2, http, inter 1 s, key {key}, one checker thread, {duration} "
            f"a run.\n\n" + markdown_table(frame, columns))
    for side in ("measured", "simulated"):
        at = [r["backends"] for r in rows if r[f"{side}_behind"]]
        text += f"\n{side} knee: {at[0] if at else f'above {counts[-1]}'} backends\n"
    (out_dir / "simulation_vs_measured_knee.md").write_text(text)
    print(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two points, 5 s runs")
    parser.add_argument("--small", action="store_true", help="eight points (docs/figures)")
    parser.add_argument("--duration", default=None, help="length of each real run [20s]")
    parser.add_argument("--costs", default=None, help="cost file (default: calibrate now)")
    parser.add_argument("--knee", default=None, help="backend counts of the knee sweep: 600,1000")
    parser.add_argument("--knee-key", default="p256", choices=("p256", "rsa2048"),
                        help="key of the knee sweep [p256]")
    parser.add_argument("--no-grid", action="store_true", help="only the knee sweep")
    parser.add_argument("--repeat", type=int, default=1,
                        help="real runs per point, the median of each figure [1]")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help=f"[{RESULTS}]")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    tlslab = import_tlslab()
    import pandas as pd

    args.out_dir.mkdir(parents=True, exist_ok=True)
    duration = args.duration or ("5s" if args.quick else "20s")
    costs = args.costs
    if costs is None:
        costs = str(args.out_dir / "simulation_vs_measured_costs.json")
        cmd = [str(tlslab.tlslab_bin()), "calibrate", "--out", costs, "--force"]
        if args.quick:
            cmd += ["--loopback-duration", "3s", "--budget", "150ms"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if args.knee:
        knee(tlslab, costs, [int(n) for n in args.knee.split(",")], duration, args.out_dir,
             args.knee_key)
    if args.no_grid:
        return 0
    rows = []
    points = grid(args.quick, args.small)
    csv_path = args.out_dir / "simulation_vs_measured.csv"
    for done, point in enumerate(points, 1):
        server, checker = PAIRS[point["pair"]]
        fields = dict(server_profile=server, checker_profile=checker, backends=point["backends"],
                      tls=point["tls"], check=point["check"], threads=point["threads"],
                      inter="1s", duration=duration)
        real = measured(tlslab, fields, args.repeat)
        sim = tlslab.simulate(costs=costs, **fields)
        row = dict(point)
        for name in FIGURES:
            row[f"measured_{name}"] = real[name]
            row[f"simulated_{name}"] = getattr(sim, name)
            if "cpu" in name:  # relative error, percent (the goal: within 15)
                row[f"error_{name}"] = 100 * (row[f"simulated_{name}"] / max(
                    row[f"measured_{name}"], 1e-9) - 1)
        rows.append(row)
        # Written as it is made: an interrupted grid keeps the points it finished.
        pd.DataFrame(rows).to_csv(csv_path, index=False)
        print(f"[{done}/{len(points)}]", point,
              {n: (round(row[f"measured_{n}"], 3), round(row[f"simulated_{n}"], 3))
               for n in FIGURES}, file=sys.stderr)
    frame = pd.DataFrame(rows)
    keys = ("pair", "backends", "tls", "check", "threads")
    columns = {k: (k, None) for k in keys}
    for name in FIGURES:
        columns[f"measured_{name}"] = (f"measured {name}", 3 if "ratio" in name else 1)
        columns[f"simulated_{name}"] = (f"simulated {name}", 3 if "ratio" in name else 1)
        if "cpu" in name:
            columns[f"error_{name}"] = (f"error % {name}", 0)
    (args.out_dir / "simulation_vs_measured.md").write_text(markdown_table(frame, columns))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(FIGURES), figsize=(4 * len(FIGURES), 4))
    for ax, name in zip(axes, FIGURES):
        x, y = frame[f"measured_{name}"].astype(float), frame[f"simulated_{name}"].astype(float)
        ax.scatter(x, y, s=14)
        top = max(float(x.max()), float(y.max()), 1e-9) * 1.05
        ax.plot([0, top], [0, top], color="grey", linewidth=0.8)  # y = x
        ax.set_xlabel(f"measured {name}")
        ax.set_ylabel(f"simulated {name}")
    fig.tight_layout()
    fig.savefig(args.out_dir / "simulation_vs_measured.png", dpi=110)
    print(args.out_dir / "simulation_vs_measured.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
