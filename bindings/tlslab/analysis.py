"""Figures derived from a sweep: where a side saturates one core."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

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
    """Where one side (checker or server) saturates one core, and where the checks fall
    behind their schedule, per line of a sweep.

    For each combination of `by` (checker x server pair, TLS version):
    - `knee_<x>`: the smallest measured x at which the side's CPU reached
      `threshold_percent` of one core (NaN when no point reached it);
    - `behind_<x>` and `behind_reason`: the smallest x at which the checks fell behind (see
      falls_behind(): failed checks, a p99 latency over half the interval, or a broken pair's
      key rate under 90 % of one full handshake per check). On a machine shared by both
      sides (and by other work) this comes before either side's CPU reaches one core;
    - `cpu_us_per_check`: the side's CPU per check (median over the three largest x that
      kept up);
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
        reasons = [falls_behind(r) for _, r in group.iterrows()]
        behind = [i for i, reason in enumerate(reasons) if reason]
        row[f"behind_{x}"] = group[x].iloc[behind[0]] if behind else numpy.nan
        row["behind_reason"] = reasons[behind[0]] if behind else None
        kept_up = group[[not reason for reason in reasons]]
        cost = kept_up[per_check].dropna().tail(3).median() if per_check in group else numpy.nan
        row["cpu_us_per_check"] = cost
        inter_s = group["inter_s"].iloc[0] if "inter_s" in group else numpy.nan
        if x == "backends" and cost and not numpy.isnan(cost):
            row[f"one_core_{x}_estimate"] = round(inter_s * 1e6 / cost)
        else:
            row[f"one_core_{x}_estimate"] = numpy.nan
        rows.append(row)
    return pandas.DataFrame(rows)


def falls_behind(point: "pandas.Series") -> str | None:
    """Why the checks of one sweep point did not keep their schedule, or None when they did:
    failed checks, a p99 check latency over half the interval, or (for a pair that pays a
    full handshake on every check) a key rate under 90 % of backends / inter.

    Example:
        >>> import pandas, tlslab.analysis
        >>> tlslab.analysis.falls_behind(pandas.Series({"backends": 2000, "inter_s": 2.0,
        ...     "check_failures_total": 0, "latency_ms_p99": 1998.8,
        ...     "resumption_ratio": 0.0, "key_rate_per_s": 827.9}))
        'p99 check latency 1999 ms > inter / 2'
    """

    def get(name: str) -> Any:
        value = point.get(name)
        return None if value is None or value != value else value

    failures, inter_s = get("check_failures_total"), get("inter_s")
    if failures:
        return f"{int(failures)} failed checks"
    p99 = get("latency_ms_p99")
    if p99 is not None and inter_s and p99 > inter_s * 1000 / 2:
        return f"p99 check latency {p99:.0f} ms > inter / 2"
    ratio, rate, backends = get("resumption_ratio"), get("key_rate_per_s"), get("backends")
    if ratio is not None and ratio <= 0.01 and rate is not None and backends and inter_s:
        expected = backends / inter_s
        if rate < 0.9 * expected:
            return f"key rate {rate:.0f}/s < 90% of {expected:.0f}/s"
    return None


__all__ = ["saturation", "falls_behind", "line_keys"]
