"""tlslab.sweep: the cross product of Config fields, one run per point (and repetition), each
appended to a JSONL file as soon as it completes, so that an interrupted sweep keeps its
points and `resume=True` continues it."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import itertools
import json
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from tlslab import _flags
from tlslab.config import Config, make_config
from tlslab.info import versions as _versions
from tlslab.result import flatten_figures
from tlslab.runs import run

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
_NOT_GROUPED = ("repetition", "elapsed_s", "error")


def sweep(
    config: Config | None = None,
    /,
    *,
    repeat: int = 1,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    isolate: bool = True,
    progress: bool = True,
    errors: str = "raise",
    on_point: Callable[[dict[str, Any]], None] | None = None,
    mode: str = "run",
    simulation: Mapping[str, Any] | None = None,
    **fields: Any,
) -> "pandas.DataFrame":
    """Runs every point of the cross product of the given field values.

    A keyword argument whose value is a list, tuple, range or array is an axis of the sweep;
    any other value is fixed for every point. Every point is validated before the first run.

    Args:
        config: the base Config (fields not given keep its values; default Config()).
        repeat: runs per point; with more than one, the result has the mean of each figure,
            its spread (`<figure>_std`) and `repetitions`.
        out: a JSONL file; each completed run is appended as one line at once:
            {"point", "repetition", "config", "figures", "effective", "versions", "series",
            "elapsed_s", "isolated", "finished_at"}.
        resume: continue the sweep in `out`: runs already there (same config and
            repetition) are not run again. Without it, an existing non-empty `out` is an
            error (nothing is overwritten).
        isolate: True (default) runs each point as a separate `tlslab run` process, so that
            the CPU per side is clean; False runs in this process.
        progress: a tqdm progress bar on stderr.
        errors: "raise" (default) stops at the first failed run; "skip" records the error
            line in `out` and the row (figures NaN, `error` set), and goes on; a resumed
            sweep runs such points again.
        on_point: called with each new record as it is written.
        mode: "run" (default) measures each point; "simulate" simulates it (tlslab.simulate,
            the same record and DataFrame columns, `tlslab simulate` on the same Config).
        simulation: fields only a simulation has (checker_threads, checkers, restart_every,
            ...), the same for every point; used with mode="simulate".
        **fields: Config fields: lists are swept, scalars fixed.

    Returns:
        A pandas DataFrame, one row per point: the swept fields (durations also in seconds,
        `<field>_s`), the context fields (profiles, check, tls, backends, inter, ...), the
        effective close mode, and every numeric figure (nested ones flattened with '_', e.g.
        `latency_ms_p99`, `sessions_removed_total_eof`).

    Example:
        >>> import tlslab
        >>> df = tlslab.sweep(server_profile=["strict", "lenient"],
        ...                   checker_profile="haproxy-1.7.3", backends=5, inter="500ms",
        ...                   duration="3s", progress=False)
        >>> df[["server_profile", "resumption_ratio"]].values.tolist()
        [['strict', 0.0], ['lenient', 1.0]]
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if mode not in ("run", "simulate"):
        raise ValueError(f"mode must be 'run' or 'simulate', got {mode!r}")
    points = expand(config, fields)
    path = Path(out) if out is not None else None
    with _sole_writer(path):
        return _sweep_locked(
            points, path, repeat, resume, isolate, progress, errors, on_point, mode, simulation
        )


@contextlib.contextmanager
def _sole_writer(path: Path | None) -> Iterator[None]:
    """Holds an advisory lock (flock(2)) on the JSONL file for the whole sweep: a second
    sweep of the same file would run and append every point again. The
    lock goes with the process, however it ends."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"{path} is being written by another sweep (it holds the file's lock); "
                "wait for it to finish or choose another file"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _sweep_locked(
    points: list[tuple[dict[str, Any], Config]],
    path: Path | None,
    repeat: int,
    resume: bool,
    isolate: bool,
    progress: bool,
    errors: str,
    on_point: Callable[[dict[str, Any]], None] | None,
    mode: str,
    simulation: Mapping[str, Any] | None,
) -> "pandas.DataFrame":
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if path is not None and path.exists() and path.stat().st_size > 0:
        if not resume:
            raise FileExistsError(
                f"{path} already holds a sweep: pass resume=True to continue "
                "it, or choose another file"
            )
        for record in read_records(path):
            if "error" not in record:
                done[(_config_key(record["config"]), record.get("repetition", 0))] = record
    todo, scheduled = [], set(done)
    for point, cfg in points:  # a point given twice (backends=[5, 5]) runs once
        for k in range(repeat):
            if (_config_key(cfg.to_dict()), k) not in scheduled:
                scheduled.add((_config_key(cfg.to_dict()), k))
                todo.append((point, cfg, k))
    stamp = _versions()
    records: dict[tuple[str, int], dict[str, Any]] = dict(done)
    total = len({_config_key(cfg.to_dict()) for _, cfg in points}) * repeat
    bar = _progress_bar(total, total - len(todo), progress)
    try:
        for point, cfg, k in todo:
            bar.set_postfix_str(_label(point), refresh=True)
            record = _run_point(point, cfg, k, isolate, stamp, errors, mode, simulation)
            if path is not None:
                append_record(path, record)
            records[(_config_key(record["config"]), k)] = record
            if on_point is not None:
                on_point(record)
            bar.update(1)
    finally:
        bar.close()
    # Rows in the order of the points, each with this sweep's point (a record resumed from
    # another sweep of the same file may have swept other fields).
    ordered = [
        {**records[(_config_key(cfg.to_dict()), k)], "point": point}
        for point, cfg in points
        for k in range(repeat)
        if (_config_key(cfg.to_dict()), k) in records
    ]
    frame = records_frame(ordered)
    return summarize(frame) if repeat > 1 else frame


def expand(config: Config | None, fields: Mapping[str, Any]) -> list[tuple[dict[str, Any], Config]]:
    """The points of a sweep: (swept field -> canonical value, Config) for each, in order
    (the last axis varies fastest). Raises ConfigError before anything runs."""
    axes = {k: list(v) for k, v in fields.items() if _is_axis(v)}
    fixed = {k: v for k, v in fields.items() if k not in axes}
    for name, values in axes.items():
        if not values:
            raise ValueError(f"{name}: an empty list of values sweeps nothing")
    base = make_config(config, fixed)
    points = []
    for combo in itertools.product(*axes.values()):
        cfg = base.replace(**dict(zip(axes, combo))) if axes else base
        points.append(({name: getattr(cfg, name) for name in axes}, cfg))
    return points


def _is_axis(value: Any) -> bool:
    if isinstance(value, (list, tuple, range)):
        return True
    return type(value).__name__ in ("ndarray", "Series", "Index")


def _run_point(
    point: dict[str, Any],
    cfg: Config,
    k: int,
    isolate: bool,
    stamp: dict[str, str],
    errors: str,
    mode: str = "run",
    simulation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {"point": point, "repetition": k, "config": cfg.to_dict()}
    try:
        if mode == "simulate":  # bindings/tlslab/simulation.py: the same figures, simulated
            from tlslab.simulation import simulate

            result = simulate(cfg, **dict(simulation or {}))
        elif mode == "run":
            result = run(cfg, isolate=isolate)
        else:
            raise ValueError(f"mode: expected 'run' or 'simulate', got {mode!r}")
    except (RuntimeError, TimeoutError, ValueError) as e:
        if errors == "raise":
            raise
        record.update(
            error=str(e),
            versions=stamp,
            finished_at=datetime.datetime.now().isoformat(timespec="seconds"),
        )
        return record
    doc = result.to_dict()
    record.update(
        figures=doc["figures"],
        effective=doc.get("effective", {}),
        versions={**stamp, **doc.get("versions", {})},
        series=doc.get("series", []),
        elapsed_s=round(result.elapsed_s or 0.0, 3),
        isolated=isolate,
        finished_at=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    return record


def _config_key(config: Mapping[str, Any]) -> str:
    return json.dumps(dict(config), sort_keys=True)


def _label(point: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items())


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc="sweep",
        unit="run",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
    )


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
        config = record["config"]
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
        if "error" in record:
            row["error"] = record["error"]
        rows.append(row)
    return pandas.DataFrame(rows)


def _seconds(field: str, value: Any) -> float | None:
    flag = _flags.flags("run").get(field)
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
    keys = [c for c in frame.columns if c not in _NOT_GROUPED and not _is_figure(frame, c)]
    figures = [c for c in frame.columns if _is_figure(frame, c) and c not in _NOT_GROUPED]
    groups = frame.groupby(keys, dropna=False, sort=False)
    mean = groups[figures].mean(numeric_only=True)
    std = groups[[c for c in SPREAD_FIGURES if c in figures]].std()
    std.columns = [f"{c}_std" for c in std.columns]
    count = groups.size().rename("repetitions")
    merged = pandas.concat([mean, std, count], axis=1).reset_index()
    return merged


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


def describe_points(points: Sequence[tuple[dict[str, Any], Config]]) -> str:
    """One line per point, for a dry run."""
    return "\n".join(_label(p) or "(the base config)" for p, _ in points)


__all__ = [
    "sweep",
    "expand",
    "load_sweep",
    "summarize",
    "read_records",
    "append_record",
    "records_frame",
]
