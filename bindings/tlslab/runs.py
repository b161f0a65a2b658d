"""tlslab.run (one run, in this process or as a `tlslab run` process) and tlslab.probe (in
this process)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tlslab import _cli
from tlslab._core import core
from tlslab.cluster import DEFAULT_TIMEOUT_S
from tlslab.config import Config, make_config
from tlslab.result import Result

if TYPE_CHECKING:
    import distributed

# A subprocess gets this long beyond its own --duration before it is stopped.
_SUBPROCESS_SLACK_S = 120.0


def run(
    config: Config | None = None,
    /,
    *,
    isolate: bool = False,
    cluster: "str | distributed.Client | None" = None,
    server_host: str | None = None,
    checker_host: str | None = None,
    cluster_timeout: float = DEFAULT_TIMEOUT_S,
    **fields: Any,
) -> Result:
    """Runs the lab once: virtual TLS backends and an HAProxy-like checker, as `tlslab run`.

    Args:
        config: a Config; keyword arguments change its fields (or make one from scratch).
        isolate: False (default) runs in this process, on threads of its own, with the GIL
            released. True runs a separate `tlslab run --json` process, so that the CPU each
            side reports cannot include anything Python does meanwhile (sweeps use this).
        cluster: a Dask scheduler address or a distributed.Client: the run is a `tlslab run`
            process on a worker with the resource `tlslab-machine` (see tlslab.cluster).
        server_host, checker_host: with `cluster`, two workers (each by address, name, or
            host): `tlslab serve` runs on the first, listening on that worker's address,
            and `tlslab check` on the second, so the checks cross the network between them.
            The server's CPU is then over the whole duration (not the steady window).
        cluster_timeout: seconds to reach the scheduler and to find a worker.
        **fields: Config fields, e.g. backends=100, server_profile="strict", duration="5s".

    Returns:
        A Result: figures as attributes, `series` (1 Hz DataFrame), `to_dict()`; on a
        cluster, `hosts` says where each side ran ({"server": {"hostname", "cpu_model",
        "worker", "listen"}, "checker": {...}}).

    Raises:
        ConfigError (a ValueError) naming the field for a bad value, a ValueError naming the
        need when the descriptor hard limit is below what the backends need (docs/scale.md);
        RuntimeError when the environment refuses (port in use, a scheduler out of reach, a
        worker without tlslab); KeyboardInterrupt on Ctrl-C, after the run has stopped
        cleanly (within about 100 ms plus the checks in flight).

    Example:
        >>> import tlslab
        >>> r = tlslab.run(server_profile="strict", checker_profile="haproxy-1.7.4",
        ...                backends=5, inter="500ms", duration="3s")
        >>> r.resumption_ratio
        1.0
    """
    cfg = make_config(config, fields)
    started = time.monotonic()
    if cluster is not None or server_host is not None or checker_host is not None:
        doc = _run_on_cluster(cfg, cluster, server_host, checker_host, cluster_timeout)
        return Result(doc, elapsed_s=time.monotonic() - started, isolated=True)
    if isolate:
        timeout = cfg.seconds("duration") + _SUBPROCESS_SLACK_S
        doc = _cli.run_json(["run", *cfg.to_argv()], timeout=timeout)
    else:
        doc = core.run(cfg._core)
    return Result(doc, elapsed_s=time.monotonic() - started, isolated=isolate)


def _run_on_cluster(
    cfg: Config,
    cluster: Any,
    server_host: str | None,
    checker_host: str | None,
    timeout: float,
) -> dict[str, Any]:
    from tlslab import cluster as _cluster
    from tlslab.placed_run import run_placed

    if cluster is None:
        raise ValueError("server_host and checker_host name workers of a cluster: pass cluster=")
    if (server_host is None) != (checker_host is None):
        raise ValueError("server_host and checker_host go together (two workers, one per side)")
    with _cluster.connect(cluster, timeout) as client:
        if server_host is not None and checker_host is not None:
            return run_placed(client, cfg, server_host, checker_host, timeout)
        _cluster.machines(client, timeout)
        answers: list[dict[str, Any]] = []
        job = (["run", *cfg.to_argv()], (cfg.seconds("duration") or 0.0) + _SUBPROCESS_SLACK_S)
        _cluster.run_points(client, [job], lambda _, answer: answers.append(answer), timeout)
    if "error" in answers[0]:
        _cluster.raise_error(answers[0])
    doc = answers[0]["doc"]
    doc["hosts"] = {"server": answers[0]["host"], "checker": answers[0]["host"]}
    return doc


def probe(target: str, **flags: Any) -> dict[str, Any]:
    """Is a real TLS server strict or lenient? Runs the probe of `tlslab probe TARGET --json`
    in this process (sequential, every wait bounded by `timeout`) and returns its JSON
    document (the observed matrix, the verdict and the closest server profiles).

    Args:
        target: HOST:PORT of the server (e.g. one of `Server.targets`).
        **flags: fields of `tlslab probe`, '_' for '-' (tls="1.2", repeat=3, expect="strict",
            timeout="3s", http=True).

    Raises:
        ConfigError or ValueError for bad flags or a bad target (the core's message);
        RuntimeError when OpenSSL itself fails. A server that is down or not TLS is not an
        error: the document's verdict says so.

    Example:
        >>> import tlslab
        >>> with tlslab.Server(profile="strict", backends=1) as srv:   # doctest: +SKIP
        ...     tlslab.probe(srv.targets[0], tls="1.2")["verdict"]
    """
    return core.probe(core.build_config("probe", flags), target)


__all__ = ["run", "probe"]
