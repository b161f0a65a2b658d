"""The figures this lab exists for (matplotlib): cost versus backends with the saturation
knee, the resumption heat map, the 1 Hz time series of a run, and the incident's pairs.

Every function returns a matplotlib Figure built without pyplot (no global state, safe in
scripts and threads); `save(fig, "path/stem")` writes PNG and SVG. In a notebook, run
`%matplotlib inline` once and a returned Figure is shown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, Union

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation

from tlslab.analysis import DEFAULT_LINES, line_keys, saturation
from tlslab.result import Result

if TYPE_CHECKING:
    import pandas

# Axis labels: the vocabulary of docs/design.md 2, with units.
LABELS = {
    "backends": "backends (log scale)",
    "inter_s": "check interval (s)",
    "key_rate_per_s": "key rate (full handshakes/s)",
    "max_key_rate_per_s": "max key rate (full handshakes/s)",
    "resumed_per_s": "resumed handshakes/s",
    "checks_per_s": "checks/s",
    "failures_per_s": "failed checks/s",
    "checker_cpu_percent": "checker CPU (% of one core)",
    "server_cpu_percent": "server CPU (% of one core)",
    "checker_cpu_us_per_check": "checker CPU per check (µs)",
    "server_cpu_us_per_check": "server CPU per check (µs)",
    "resumption_ratio": "resumption ratio (resumed / handshakes)",
    "latency_ms_p99": "check latency p99 (ms)",
    "t_s": "time since start (s)",
}
_COLORS = [
    "#d62728",
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]
_STYLES = ["-", "--", ":", "-."]
_MARKERS = ["o", "s", "^", "D", "v", "P"]

Results = Union[Result, Mapping[str, Result]]


class _PlainLogFormatter(LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers (2000, not 2x10^3), on the ticks matplotlib
    would label anyway."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def label(column: str) -> str:
    """The axis label of a column (the column name when it has none)."""
    return LABELS.get(column, column.replace("_", " "))


def save(
    fig: Figure, stem: str | os.PathLike, formats: Sequence[str] = ("png", "svg"), dpi: int = 150
) -> list[Path]:
    """Writes `stem.png` and `stem.svg` (or the given formats); returns the paths.

    Example:
        >>> import tempfile, pathlib, tlslab.plot
        >>> fig = tlslab.plot.Figure()
        >>> _ = fig.subplots().plot([1, 2], [3, 4])
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> [p.name for p in tlslab.plot.save(fig, d / "demo")]
        ['demo.png', 'demo.svg']
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


def _line_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """ "haproxy-1.7.3 → strict, TLS 1.2" for keys (checker_profile, server_profile, tls)."""
    named = dict(zip(keys, values))
    head = []
    if "checker_profile" in named:
        head.append(str(named.pop("checker_profile") or "checker"))
    if "server_profile" in named:
        head.append(str(named.pop("server_profile")))
    rest = [f"TLS {v}" if k == "tls" else f"{k}={v}" for k, v in named.items()]
    return ", ".join([" → ".join(head)] + rest if head else rest)


def scaling(
    frame: "pandas.DataFrame",
    x: str = "backends",
    metrics: Sequence[str] = ("key_rate_per_s", "checker_cpu_percent", "server_cpu_percent"),
    by: Sequence[str] = DEFAULT_LINES,
    knee_percent: float = 90.0,
    title: str | None = None,
) -> Figure:
    """Figures versus `x` (log scale), one line per checker x server pair (colour) and TLS
    version (line style), with spread bars when the frame has `<metric>_std` columns.

    CPU panels draw one core (100 %). The knees are vertical lines on every panel, labelled:
    dashed where the checker reaches `knee_percent` of one core, dotted where the checks
    fall behind their schedule (tlslab.analysis.falls_behind). The key rate panel draws the
    rate of a checker that pays a full handshake on every check (backends / inter) for
    reference: a broken pair follows it until the machine cannot keep up.

    Example:
        >>> import pandas, tlslab.plot
        >>> df = pandas.DataFrame({"backends": [10, 100, 1000] * 2, "inter_s": [2.0] * 6,
        ...     "checker_profile": ["haproxy-1.7.3"] * 3 + ["haproxy-1.7.4"] * 3,
        ...     "server_profile": ["strict"] * 6,
        ...     "key_rate_per_s": [5, 50, 310, 0, 0, 0],
        ...     "checker_cpu_percent": [1, 10, 95, 0.1, 1, 8],
        ...     "server_cpu_percent": [1, 12, 99, 0.1, 1, 9]})
        >>> fig = tlslab.plot.scaling(df)
        >>> [ax.get_ylabel() for ax in fig.axes][:2]
        ['key rate (full handshakes/s)', 'checker CPU (% of one core)']
    """
    keys = line_keys(frame, by)
    style_key = "tls" if "tls" in keys and frame["tls"].nunique() > 1 else None
    color_keys = [k for k in keys if k != style_key and frame[k].nunique(dropna=False) > 0]
    fig = Figure(figsize=(5.2 * len(metrics), 4.4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    color_values = _unique_rows(frame, color_keys)
    style_values = list(dict.fromkeys(frame[style_key])) if style_key else [None]
    knees = (
        saturation(frame, "checker", knee_percent, x=x, by=keys)
        if ("checker_cpu_percent" in frame and "checker_cpu_us_per_check" in frame)
        else None
    )
    for ci, cvals in enumerate(color_values):
        for si, svalue in enumerate(style_values):
            sel = _select(frame, color_keys, cvals)
            if style_key:
                sel = sel[sel[style_key] == svalue]
            if sel.empty:
                continue
            sel = sel.sort_values(x)
            name = _line_label(color_keys, cvals)
            if style_key:
                name += f", TLS {svalue}"
            for ax, metric in zip(axes, metrics):
                if metric not in sel:
                    continue
                err = sel[f"{metric}_std"] if f"{metric}_std" in sel else None
                ax.errorbar(
                    sel[x],
                    sel[metric],
                    yerr=err,
                    label=name,
                    color=_COLORS[ci % len(_COLORS)],
                    linestyle=_STYLES[si % 4],
                    marker=_MARKERS[ci % len(_MARKERS)],
                    markersize=4,
                    capsize=2,
                )
    for ax, metric in zip(axes, metrics):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_PlainLogFormatter())
        ax.xaxis.set_minor_formatter(
            _PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5))
        )
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(metric))
        ax.grid(True, which="both", alpha=0.3)
        if metric.endswith("cpu_percent"):
            top = frame[metric].max() if metric in frame else 0
            # One core (100 %) is drawn once the data come within reach of it; below that it
            # would squash the lines to the floor.
            if top >= 40:
                ax.axhline(100, color="black", linewidth=1, alpha=0.6)
                ax.annotate(
                    "one core",
                    xy=(0.01, 100),
                    xycoords=("axes fraction", "data"),
                    va="bottom",
                    fontsize=8,
                )
            ax.set_ylim(bottom=0)
        if metric == "key_rate_per_s" and x == "backends" and "inter_s" in frame:
            xs = sorted(frame[x].unique())
            inter = frame["inter_s"].iloc[0]
            ax.plot(
                xs,
                [b / inter for b in xs],
                color="grey",
                linewidth=5,
                alpha=0.3,
                zorder=0,
                label="every check a full handshake (backends / inter)",
            )
            ax.set_yscale("symlog", linthresh=1)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_ylim(bottom=0)
    if knees is not None:
        _mark_knees(axes, knees, x, knee_percent)
    handles, labels = axes[0].get_legend_handles_labels()
    # Below the panels (matplotlib 3.6 has no "outside" legend placement); savefig with
    # bbox_inches="tight" and notebooks' inline display include it.
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(3, max(1, len(labels))),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(title or f"Cost of TLS health checks versus {x}")
    return fig


def _mark_knees(
    axes: Iterable[Any], knees: "pandas.DataFrame", x: str, knee_percent: float
) -> None:
    """Vertical lines where the checker reached `knee_percent` of a core (dashed) and where
    the checks fell behind their schedule (dotted), labelled on the first panel."""
    import numpy

    first = next(iter(axes))
    marks = []
    for _, row in knees.iterrows():
        knee = row.get(f"knee_{x}")
        if knee is not None and not numpy.isnan(knee):
            marks.append(
                (knee, "--", f"checker ≥ {knee_percent:.0f}% of a core\nat {int(knee)} {x}")
            )
        behind = row.get(f"behind_{x}")
        if behind is not None and not numpy.isnan(behind):
            marks.append((behind, ":", f"checks fall behind\nat {int(behind)} {x}"))
    for value, style, text in dict(((m[0], m[1]), m) for m in marks).values():
        for ax in axes:
            ax.axvline(value, color="black", linestyle=style, linewidth=0.9, alpha=0.7)
        first.annotate(
            text,
            xy=(value, 0.95 if style == "--" else 0.75),
            xycoords=("data", "axes fraction"),
            ha="right",
            va="top",
            fontsize=8,
            bbox=dict(boxstyle="round", fc="white", ec="grey", alpha=0.8),
        )


def _unique_rows(frame: "pandas.DataFrame", keys: Sequence[str]) -> list[tuple]:
    if not keys:
        return [()]
    return list(dict.fromkeys(tuple(r) for r in frame[list(keys)].itertuples(index=False)))


def _select(
    frame: "pandas.DataFrame", keys: Sequence[str], values: Sequence[Any]
) -> "pandas.DataFrame":
    sel = frame
    for k, v in zip(keys, values):
        sel = sel[sel[k].isna()] if v is None or v != v else sel[sel[k] == v]
    return sel


def resumption_heatmap(
    frame: "pandas.DataFrame",
    rows: str = "checker_profile",
    cols: str = "server_profile",
    value: str = "resumption_ratio",
    facet: str | None = None,
    title: str | None = None,
) -> Figure:
    """A heat map of `value` (default the resumption ratio: 1 = every check resumed, 0 =
    every check a full handshake) for each `rows` x `cols` cell, one panel per `facet`
    value (e.g. facet="tls"); the mean where several points share a cell.

    Example:
        >>> import pandas, tlslab.plot
        >>> df = pandas.DataFrame({"checker_profile": ["haproxy-1.7.3", "haproxy-1.7.4"] * 2,
        ...                        "server_profile": ["strict"] * 2 + ["lenient"] * 2,
        ...                        "resumption_ratio": [0.0, 1.0, 1.0, 1.0]})
        >>> fig = tlslab.plot.resumption_heatmap(df)
        >>> fig.axes[0].get_xlabel()
        'server profile'
    """
    import numpy

    facets = list(dict.fromkeys(frame[facet])) if facet else [None]
    fig = Figure(
        figsize=(1.6 + 2.6 * len(facets) * max(1, frame[cols].nunique()) / 2, 3.6),
        layout="constrained",
    )
    axes = fig.subplots(1, len(facets), squeeze=False)[0]
    image = None
    for ax, fvalue in zip(axes, facets):
        sel = frame if facet is None else frame[frame[facet] == fvalue]
        table = sel.pivot_table(
            index=rows, columns=cols, values=value, aggfunc="mean", dropna=False
        )
        data = table.to_numpy(dtype=float)
        image = ax.imshow(data, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
        ax.set_yticks(range(len(table.index)), [str(i) for i in table.index])
        ax.set_xlabel(label(cols))
        ax.set_ylabel(label(rows))
        if facet:
            ax.set_title(f"TLS {fvalue}" if facet == "tls" else f"{facet} = {fvalue}")
        for (i, j), v in numpy.ndenumerate(data):
            ax.text(
                j,
                i,
                "-" if numpy.isnan(v) else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=11,
                color="black",
            )
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=label(value), shrink=0.9)
    fig.suptitle(title or "Do checks resume their TLS session?")
    return fig


def time_series(results: Results, title: str | None = None) -> Figure:
    """The 1 Hz time series of one run (a Result), or of several runs to compare (a mapping
    label -> Result): full handshakes per second (key rate) and resumed handshakes per
    second above, CPU per side below.

    Example:
        >>> import tlslab, tlslab.plot
        >>> r = tlslab.run(backends=3, inter="500ms", duration="2s")
        >>> fig = tlslab.plot.time_series(r)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['handshakes/s', 'CPU (% of one core)']
    """
    runs = {"": results} if isinstance(results, Result) else dict(results)
    fig = Figure(figsize=(9, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    for i, (name, result) in enumerate(runs.items()):
        s = result.series
        color = _COLORS[i % len(_COLORS)]
        prefix = f"{name}: " if name else ""
        top.plot(
            s.index,
            s["key_rate_per_s"],
            color=color,
            marker="o",
            markersize=3,
            label=f"{prefix}full handshakes/s (key rate)",
        )
        top.plot(
            s.index, s["resumed_per_s"], color=color, linestyle="--", label=f"{prefix}resumed/s"
        )
        if len(runs) == 1:
            top.plot(s.index, s["checks_per_s"], color="grey", linestyle=":", label="checks/s")
            if s["failures_per_s"].any():
                top.plot(s.index, s["failures_per_s"], color="black", label="failed checks/s")
        bottom.plot(
            s.index,
            s["checker_cpu_percent"],
            color=color,
            marker="o",
            markersize=3,
            label=f"{prefix}checker CPU",
        )
        if result.server_cpu_percent is not None:
            bottom.plot(
                s.index,
                s["server_cpu_percent"],
                color=color,
                linestyle="--",
                label=f"{prefix}server CPU",
            )
    top.set_ylabel("handshakes/s")
    bottom.set_ylabel("CPU (% of one core)")
    bottom.set_xlabel(label("t_s"))
    bottom.set_ylim(bottom=0)
    top.set_ylim(bottom=0)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None and len(runs) == 1:
        r = next(iter(runs.values()))
        e = r.effective
        title = (
            f"{e.get('checker_profile') or 'checker'} ({e.get('close')}) → "
            f"{e.get('server_profile') or 'server'}, {r.backends} backends, "
            f"inter {r.config.inter}"
        )
    fig.suptitle(title or "Time series, 1 Hz")
    return fig


def pairs(
    frame: "pandas.DataFrame",
    metrics: Sequence[str] = (
        "key_rate_per_s",
        "resumption_ratio",
        "checker_cpu_percent",
        "server_cpu_percent",
    ),
    by: Sequence[str] = ("checker_profile", "server_profile"),
    title: str | None = None,
) -> Figure:
    """Bars per checker x server pair (the incident table as a figure): one panel per metric.

    Example:
        >>> import pandas, tlslab.plot
        >>> df = pandas.DataFrame({"checker_profile": ["haproxy-1.7.3", "haproxy-1.7.4"],
        ...                        "server_profile": ["strict", "strict"],
        ...                        "key_rate_per_s": [300.0, 0.0], "resumption_ratio": [0.0, 1.0],
        ...                        "checker_cpu_percent": [21.0, 3.0],
        ...                        "server_cpu_percent": [20.0, 2.0]})
        >>> len(tlslab.plot.pairs(df).axes)
        4
    """
    keys = [k for k in by if k in frame.columns]
    names = ["\n".join(str(v) for v in row) for row in frame[keys].itertuples(index=False)]
    width = max(3.4, 0.95 * len(names))
    fig = Figure(figsize=(width * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    colors = [_COLORS[i % len(_COLORS)] for i in range(len(names))]
    for ax, metric in zip(axes, metrics):
        values = frame[metric].astype(float).fillna(0).to_list()
        err = frame[f"{metric}_std"].to_list() if f"{metric}_std" in frame else None
        bars = ax.bar(range(len(names)), values, color=colors, yerr=err, capsize=3)
        ax.bar_label(bars, fmt="%.2f" if metric == "resumption_ratio" else "%.1f", fontsize=8)
        ax.set_xticks(range(len(names)), names, fontsize=7)
        ax.set_ylabel(label(metric))
        ax.grid(True, axis="y", alpha=0.3)
        if metric == "resumption_ratio":
            ax.set_ylim(0, 1.1)
    fig.suptitle(title or "Checker x server pairs")
    return fig


__all__ = ["Figure", "label", "save", "scaling", "resumption_heatmap", "time_series", "pairs"]
