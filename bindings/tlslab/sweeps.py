"""tlslab.sweep: the cross product of Config fields, one run per point (and repetition), each
appended to a JSONL file as soon as it completes, so that an interrupted sweep keeps its
points and `resume=True` continues it."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from tlslab import _worker
from tlslab import cluster as _cluster
from tlslab.config import Config, make_config
from tlslab.info import versions as _versions
from tlslab.runs import _SUBPROCESS_SLACK_S, run
from tlslab.sweep_records import (  # re-exported: tlslab.sweeps.* as before the move
    CONTEXT_FIELDS,
    SPREAD_FIGURES,
    _warn_mixed_cpus,
    append_record,
    error_record,
    load_sweep,
    make_record,
    read_records,
    records_frame,
    summarize,
)

if TYPE_CHECKING:
    import distributed
    import pandas

# A run's outcome, keyed by (the point's config as JSON, repetition).
_Key = tuple[str, int]
# One run to do: (swept field -> value, Config, simulation-only fields, repetition).
_Todo = tuple[dict[str, Any], Config, dict[str, Any], int]


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
    cluster: "str | distributed.Client | None" = None,
    cluster_timeout: float = _cluster.DEFAULT_TIMEOUT_S,
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
            ...), the same for every point; used with mode="simulate". With
            mode="simulate" they can also be given as keyword arguments, lists swept like
            any field (checker_threads=[1, 4, 16]), and so can `backends` and `duration`
            beyond a real run's range (backends=[10_000, 100_000], duration="24h").
        cluster: a Dask scheduler address ("tcp://10.0.0.1:8786") or a distributed.Client:
            the points run on its workers that have the resource `tlslab-machine` (one point
            per worker at a time, each a `tlslab run` process there; see tlslab.cluster for
            how to start the workers), all at once; each is appended to `out` here as it
            completes. A point whose worker dies runs again on another; each point is in
            `out` once. Without it, the points run here, one after the other.
        cluster_timeout: seconds to reach the scheduler, and that the sweep waits while the
            cluster has no worker with the resource.
        **fields: Config fields: lists are swept, scalars fixed.

    Returns:
        A pandas DataFrame, one row per point: the swept fields (durations also in seconds,
        `<field>_s`), the context fields (profiles, check, tls, backends, inter, ...), the
        effective close mode, every numeric figure (nested ones flattened with '_', e.g.
        `latency_ms_p99`, `sessions_removed_total_eof`), and where it ran (`host`,
        `cpu_model`). Rows from machines with different CPU models come with a warning:
        their CPU figures are not comparable.

    Raises:
        ConfigError (a ValueError) for a bad field, before anything runs; with `cluster`,
        RuntimeError (one line) when the scheduler cannot be reached within
        `cluster_timeout`, no worker has the resource, or a worker has no `tlslab` command.

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
    if cluster is not None and (mode != "run" or not isolate):
        raise ValueError("cluster: a sweep on a cluster runs each point as a `tlslab run` "
                         "process (mode='run', isolate=True)")
    sim_points = [({}, {})]  # a run has no simulation-only fields
    if mode == "simulate":
        sim_points = _simulation_points(_simulation_fields(fields, simulation))
    else:
        from tlslab.simulation import SIMULATION_FIELDS

        if simulation:
            raise ValueError("simulation: only with mode='simulate'")
        for name in fields:
            if name in SIMULATION_FIELDS:
                raise ValueError(f"{name}: a field of `tlslab simulate` only; sweep it with "
                                 "mode='simulate'")
    points = [
        ({**point, **sim_point}, cfg, sim)
        for point, cfg in expand(config, fields)
        for sim_point, sim in sim_points
    ]
    path = Path(out) if out is not None else None
    with _sole_writer(path), _maybe_connect(cluster, cluster_timeout) as client:
        return _sweep_locked(
            points, path, repeat, resume, isolate, progress, errors, on_point, mode, client,
            cluster_timeout
        )


@contextlib.contextmanager
def _maybe_connect(cluster: Any, timeout: float) -> Iterator["distributed.Client | None"]:
    if cluster is None:
        yield None
    else:
        with _cluster.connect(cluster, timeout) as client:
            yield client


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


def _simulation_fields(
    fields: dict[str, Any], simulation: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Takes the simulation-only fields (and backends, duration: wider when simulated) out of
    `fields`, merged with `simulation`; a field given both ways is an error."""
    from tlslab.simulation import SIMULATION_FIELDS, WIDER_FIELDS

    sim = {k: fields.pop(k) for k in list(fields) if k in SIMULATION_FIELDS or k in WIDER_FIELDS}
    for name, value in (simulation or {}).items():
        if name in sim:
            raise ValueError(f"{name}: given both as a field and in simulation=")
        sim[name] = value
    return sim


def _simulation_points(sim: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(swept simulation field -> value, all simulation fields) for each combination of the
    simulation axes, each validated by the core's flag table (`tlslab simulate`'s flags)
    before anything runs."""
    from tlslab.config import ConfigError
    from tlslab.simulation import WIDER_FIELDS
    from tlslab._core import core

    axes = {k: list(v) for k, v in sim.items() if _is_axis(v)}
    for name, values in axes.items():
        if not values:
            raise ValueError(f"{name}: an empty list of values sweeps nothing")
    out = []
    for combo in itertools.product(*axes.values()):
        values = {**sim, **dict(zip(axes, combo))}
        for name, value in values.items():
            if name == "backends" and not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"backends={value!r}: expected a whole number from 1")
        core.build_config("simulate", {k: v for k, v in values.items()
                                       if k not in WIDER_FIELDS or k == "duration"})
        out.append(({k: values[k] for k in axes}, values))
    return out


def _sweep_locked(
    points: list[tuple[dict[str, Any], Config, dict[str, Any]]],
    path: Path | None,
    repeat: int,
    resume: bool,
    isolate: bool,
    progress: bool,
    errors: str,
    on_point: Callable[[dict[str, Any]], None] | None,
    mode: str,
    client: "distributed.Client | None" = None,
    cluster_timeout: float = _cluster.DEFAULT_TIMEOUT_S,
) -> "pandas.DataFrame":
    done: dict[_Key, dict[str, Any]] = {}
    if path is not None and path.exists() and path.stat().st_size > 0:
        if not resume:
            raise FileExistsError(
                f"{path} already holds a sweep: pass resume=True to continue "
                "it, or choose another file"
            )
        for record in read_records(path):
            if "error" not in record:
                done[(_record_key(record), record.get("repetition", 0))] = record
    todo: list[_Todo] = []
    scheduled = set(done)
    for point, cfg, sim in points:  # a point given twice (backends=[5, 5]) runs once
        for k in range(repeat):
            if (_config_key(cfg.to_dict(), sim), k) not in scheduled:
                scheduled.add((_config_key(cfg.to_dict(), sim), k))
                todo.append((point, cfg, sim, k))
    stamp = _versions()
    records: dict[_Key, dict[str, Any]] = dict(done)
    total = len({_config_key(cfg.to_dict(), sim) for _, cfg, sim in points}) * repeat
    bar = _progress_bar(total, total - len(todo), progress)

    def finished(record: dict[str, Any]) -> None:
        key = (_record_key(record), record["repetition"])
        if key in records:  # reported twice (a rerun): the first one stands
            return
        if path is not None:
            append_record(path, record)
        records[key] = record
        if on_point is not None:
            on_point(record)
        bar.update(1)

    try:
        if client is not None:
            _run_on_cluster(client, todo, finished, bar, errors, stamp, cluster_timeout)
        else:
            host = _worker.host_info()
            for point, cfg, sim, k in todo:
                bar.set_postfix_str(_label(point), refresh=True)
                finished(_run_point(point, cfg, k, isolate, stamp, errors, mode, sim, host))
    finally:
        bar.close()
    # Rows in the order of the points, each with this sweep's point (a record resumed from
    # another sweep of the same file may have swept other fields).
    ordered = [
        {**records[(_config_key(cfg.to_dict(), sim), k)], "point": point}
        for point, cfg, sim in points
        for k in range(repeat)
        if (_config_key(cfg.to_dict(), sim), k) in records
    ]
    frame = records_frame(ordered)
    if repeat > 1:
        return summarize(frame)
    _warn_mixed_cpus(frame)
    return frame


def _run_on_cluster(
    client: "distributed.Client",
    todo: list[_Todo],
    finished: Callable[[dict[str, Any]], None],
    bar: Any,
    errors: str,
    stamp: dict[str, str],
    timeout: float,
) -> None:
    """The points on the cluster's workers (tlslab/cluster.py), each record handed to
    finished() in this thread as its point completes, in whatever order they complete."""
    if not todo:
        return
    _cluster.machines(client, timeout)
    jobs = [
        (["run", *cfg.to_argv()], (cfg.seconds("duration") or 0.0) + _SUBPROCESS_SLACK_S)
        for _, cfg, _, _ in todo
    ]

    def done(index: int, answer: dict[str, Any]) -> None:
        point, cfg, _, k = todo[index]
        host = answer.get("host", {})
        if "error" not in answer:
            doc, elapsed = answer["doc"], answer["elapsed_s"]
            record = make_record(point, cfg, k, stamp, host, doc, elapsed, True)
        elif errors == "skip" and answer.get("kind") in ("value", "runtime", "timeout"):
            record = error_record(point, cfg, k, stamp, host, answer["error"])
        else:
            _cluster.raise_error(answer)
        bar.set_postfix_str(f"{_label(point)} on {host.get('hostname', '?')}", refresh=False)
        finished(record)

    _cluster.run_points(client, jobs, done, timeout)


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
    host: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    host = dict(host or _worker.host_info())
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
        return error_record(point, cfg, k, stamp, host, str(e), simulation)
    elapsed = result.elapsed_s or 0.0
    return make_record(point, cfg, k, stamp, host, result.to_dict(), elapsed, isolate,
                       simulation)


def _config_key(config: Mapping[str, Any], simulation: Mapping[str, Any] | None = None) -> str:
    """A point's identity: its Config, and its simulation-only fields when it has some (a
    record without them keeps the key it always had)."""
    if not simulation:
        return json.dumps(dict(config), sort_keys=True)
    return json.dumps({"config": dict(config), "simulation": dict(simulation)}, sort_keys=True)


def _record_key(record: Mapping[str, Any]) -> str:
    return _config_key(record["config"], record.get("simulation"))


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


def describe_points(points: Sequence[tuple[dict[str, Any], Config]]) -> str:
    """One line per point, for a dry run."""
    return "\n".join(_label(p) or "(the base config)" for p, _ in points)


__all__ = [
    "CONTEXT_FIELDS",
    "SPREAD_FIGURES",
    "sweep",
    "expand",
    "load_sweep",
    "summarize",
    "read_records",
    "append_record",
    "records_frame",
]
