"""Figures derived from a sweep: where a side saturates one core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas

DEFAULT_LINES = ("checker_profile", "server_profile", "tls")


def line_keys(frame: "pandas.DataFrame", by: Sequence[str] = DEFAULT_LINES) -> list[str]:
    """The columns of `by` that the frame has: one plotted line per combination."""
    return [c for c in by if c in frame.columns]


def saturation(
    frame: "pandas.DataFrame",
    side: str = "checker",
    threshold_percent: float = 90.0,
    x: str = "backends",
    by: Sequence[str] = DEFAULT_LINES,
) -> "pandas.DataFrame":
    """Where one side (checker or server) saturates one core, per line of a sweep.

    For each combination of `by` (checker x server pair, TLS version):
    - `knee_<x>`: the smallest measured x at which the side's CPU reached
      `threshold_percent` of one core (NaN when no point reached it);
    - `cpu_us_per_check`: the side's CPU per check (median over the three largest x);
    - `one_core_<x>_estimate`: the x at which one core would be spent, extrapolated from the
      cost per check and the check rate (x / inter checks per second): inter_s * 1e6 /
      cpu_us_per_check for x = backends;
    - `max_cpu_percent`: the highest CPU measured.

    Example:
        >>> import pandas, tlslab.analysis
        >>> df = pandas.DataFrame({"backends": [10, 100, 1000], "inter_s": [2.0] * 3,
        ...                        "checker_profile": ["haproxy-1.7.3"] * 3,
        ...                        "checker_cpu_percent": [1.0, 10.0, 95.0],
        ...                        "checker_cpu_us_per_check": [2000.0, 2000.0, 1900.0]})
        >>> row = tlslab.analysis.saturation(df).iloc[0]
        >>> int(row["knee_backends"]), int(row["one_core_backends_estimate"])
        (1000, 1000)
    """
    import numpy
    import pandas

    if side not in ("checker", "server"):
        raise ValueError(f"side must be 'checker' or 'server', got {side!r}")
    cpu, per_check = f"{side}_cpu_percent", f"{side}_cpu_us_per_check"
    keys = line_keys(frame, by)
    rows = []
    if keys:
        groups = frame.groupby(keys if len(keys) > 1 else keys[0], dropna=False, sort=False)
    else:
        groups = [((), frame)]
    for key, group in groups:
        group = group.sort_values(x)
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key))
        hot = group[group[cpu] >= threshold_percent]
        row[f"knee_{x}"] = hot[x].iloc[0] if not hot.empty else numpy.nan
        row["max_cpu_percent"] = group[cpu].max()
        cost = group[per_check].dropna().tail(3).median() if per_check in group else numpy.nan
        row["cpu_us_per_check"] = cost
        inter_s = group["inter_s"].iloc[0] if "inter_s" in group else numpy.nan
        if x == "backends" and cost and not numpy.isnan(cost):
            row[f"one_core_{x}_estimate"] = round(inter_s * 1e6 / cost)
        else:
            row[f"one_core_{x}_estimate"] = numpy.nan
        rows.append(row)
    return pandas.DataFrame(rows)


__all__ = ["saturation", "line_keys"]
