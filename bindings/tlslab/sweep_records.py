"""The records of a sweep: one JSON line per run (what it measured, with what, where it ran),
the JSONL file that holds them (appended and synced run by run, so that an interrupted sweep
keeps its points), and the DataFrame they make (one row per run, or per point with
summarize())."""

from __future__ import annotations

import datetime
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from tlslab import _flags
from tlslab.config import Config
from tlslab.result import flatten_figures

if TYPE_CHECKING:
    import pandas

# Config fields every row carries (swept or not): what a plot or a table groups by.
CONTEXT_FIELDS = (
    "checker_profile",
    "server_profile",
    "check",
    "tls",
    "tickets",
    "key",
    "backends",
    "inter",
    "duration",
)
# Figures whose spread (standard deviation) summarize() reports next to the mean.
SPREAD_FIGURES = (
    "key_rate_per_s",
    "max_key_rate_per_s",
    "resumption_ratio",
    "checker_cpu_percent",
    "server_cpu_percent",
    "checker_cpu_us_per_check",
    "server_cpu_us_per_check",
    "latency_ms_p50",
    "latency_ms_p99",
    "first_round_s",
    "first_round_latency_ms_p99",
)
_NOT_GROUPED = ("repetition", "elapsed_s", "error", "host", "cpu_model")


# ---- records


def make_record(
    point: dict[str, Any],
    cfg: Config,
    k: int,
    stamp: dict[str, str],
    host: Mapping[str, str],
    doc: Mapping[str, Any],
    elapsed_s: float,
    isolated: bool,
    simulation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One line of the JSONL file: a completed run and where it ran (and, for a simulated
    point, the simulation-only fields it was given)."""
    return {
        "point": point,
        "repetition": k,
        "config": cfg.to_dict(),
        **({"simulation": dict(simulation)} if simulation else {}),
        "figures": doc["figures"],
        "effective": doc.get("effective", {}),
        "versions": {**stamp, **doc.get("versions", {})},
        "series": doc.get("series", []),
        "elapsed_s": round(elapsed_s, 3),
        "isolated": isolated,
        "host": dict(host),
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def error_record(
    point: dict[str, Any],
    cfg: Config,
    k: int,
    stamp: dict[str, str],
    host: Mapping[str, str],
    error: str,
    simulation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One line of the JSONL file for a failed run (errors="skip"): a resume runs it again."""
    return {
        "point": point,
        "repetition": k,
        "config": cfg.to_dict(),
        **({"simulation": dict(simulation)} if simulation else {}),
        "error": error,
        "versions": stamp,
        "host": dict(host),
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


# ---- the JSONL file


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """Appends one record as a line, flushed and synced: a crash loses no completed run. A
    torn last line (a crash mid-write) is ended first so the new record stays readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode())
        f.flush()
        os.fsync(f.fileno())


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a JSONL sweep file; unreadable lines (a torn write) are skipped with a
    warning."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(
                    f"{path}:{number}: skipping an unreadable line (a torn write?)", stacklevel=2
                )
    return records


def load_sweep(path: str | os.PathLike) -> "pandas.DataFrame":
    """A JSONL sweep file as a DataFrame, one row per run (repetitions not merged; see
    summarize()).

    Example:
        >>> import tlslab
        >>> df = tlslab.load_sweep("experiments/results/sweep_backends.jsonl")  # doctest: +SKIP
    """
    return records_frame(read_records(path))


def records_frame(records: Iterable[Mapping[str, Any]]) -> "pandas.DataFrame":
    """Records -> DataFrame, one row per run: swept fields (durations also as `<field>_s`),
    context fields, `effective_close`, `repetition`, figures, `elapsed_s` (and `error`)."""
    import pandas

    rows = []
    for record in records:
        row: dict[str, Any] = {}
        # A simulated point's backends and duration may be beyond a run's: its own win.
        config = {**record["config"], **record.get("simulation", {})}
        for name, value in record.get("point", {}).items():
            row[name] = value
            seconds = _seconds(name, value)
            if seconds is not None:
                row[f"{name}_s"] = seconds
        for name in CONTEXT_FIELDS:
            row.setdefault(name, config.get(name))
        if "inter_s" not in row and config.get("inter") is not None:
            row["inter_s"] = _seconds("inter", config["inter"])
        row["effective_close"] = record.get("effective", {}).get("close")
        row["repetition"] = record.get("repetition", 0)
        row.update(flatten_figures(record.get("figures", {})))
        row["elapsed_s"] = record.get("elapsed_s")
        if "host" in record:  # where it ran (older files do not say)
            row["host"] = record["host"].get("hostname")
            row["cpu_model"] = record["host"].get("cpu_model")
        if "error" in record:
            row["error"] = record["error"]
        rows.append(row)
    return pandas.DataFrame(rows)


def _seconds(field: str, value: Any) -> float | None:
    flag = _flags.flags("run").get(field) or _flags.flags("simulate").get(field)
    if flag is None or flag.type != "duration" or not isinstance(value, str):
        return None
    from tlslab._core import core

    return core.parse_duration_ms(value) / 1000.0


def summarize(frame: "pandas.DataFrame") -> "pandas.DataFrame":
    """One row per point: the mean of every figure over the repetitions, the standard
    deviation of the main ones (`<figure>_std`), and `repetitions`.

    Example:
        >>> import pandas, tlslab
        >>> raw = pandas.DataFrame({"backends": [10, 10], "repetition": [0, 1],
        ...                         "key_rate_per_s": [4.0, 6.0]})
        >>> summary = tlslab.summarize(raw)
        >>> summary[["backends", "key_rate_per_s", "repetitions"]].to_dict("records")
        [{'backends': 10, 'key_rate_per_s': 5.0, 'repetitions': 2}]
        >>> round(summary["key_rate_per_s_std"][0], 3)
        1.414
    """
    import pandas

    if frame.empty:
        return frame
    _warn_mixed_cpus(frame)
    keys = [c for c in frame.columns if c not in _NOT_GROUPED and not _is_figure(frame, c)]
    figures = [c for c in frame.columns if _is_figure(frame, c) and c not in _NOT_GROUPED]
    groups = frame.groupby(keys, dropna=False, sort=False)
    mean = groups[figures].mean(numeric_only=True)
    std = groups[[c for c in SPREAD_FIGURES if c in figures]].std()
    std.columns = [f"{c}_std" for c in std.columns]
    count = groups.size().rename("repetitions")
    merged = pandas.concat([mean, std, count], axis=1).reset_index()
    return merged


def _warn_mixed_cpus(frame: "pandas.DataFrame") -> None:
    """CPU figures of different CPU models are not comparable without a per-host
    calibration (`tlslab calibrate`, README Simulation): say so when the rows mix them."""
    if "cpu_model" not in frame.columns:
        return
    models = sorted({str(m) for m in frame["cpu_model"].dropna()})
    if len(models) > 1:
        warnings.warn(
            f"the runs come from {len(models)} CPU models ({'; '.join(models)}): their CPU "
            "figures are not comparable without a per-host calibration (tlslab calibrate)",
            stacklevel=3,
        )


def _is_figure(frame: "pandas.DataFrame", column: str) -> bool:
    """Figures are the numeric columns that are not config (swept or context) columns."""
    if column in CONTEXT_FIELDS or column.endswith("_s") and column[:-2] in CONTEXT_FIELDS:
        return False
    if (
        column in _flags.flags("run")
        or column.endswith("_s")
        and column[:-2] in _flags.flags("run")
    ):
        return False
    import pandas.api.types as ptypes

    return ptypes.is_numeric_dtype(frame[column]) or ptypes.is_bool_dtype(frame[column])


__all__ = [
    "CONTEXT_FIELDS",
    "SPREAD_FIGURES",
    "append_record",
    "read_records",
    "load_sweep",
    "records_frame",
    "summarize",
]
