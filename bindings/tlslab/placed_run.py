"""tlslab.run(..., cluster=..., server_host=..., checker_host=...): `tlslab serve` on one
worker of a Dask cluster and `tlslab check` on another, so that the checks cross a real
network path; the document is a `tlslab run` document with the server's figures merged in and
`hosts` saying where each side ran.

The server listens on the host part of the address of the worker the user named (never a
wildcard address): that is the address the scheduler reaches the worker by, so the checker's
machine can be expected to reach it too. Each side takes its worker's resource
(tlslab/cluster.py RESOURCE), so no sweep point shares a machine with either side.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, Mapping

from tlslab import _flags, _worker
from tlslab import cluster as _cluster
from tlslab.config import Config

if TYPE_CHECKING:
    import distributed

# A side gets this long beyond the run's --duration (startup, key generation, the report).
SLACK_S = 120.0
# Run flags that are another flag on one side (`tlslab run --help` vs serve/check --help).
_SERVE_RENAMES = {"server-profile": "profile", "server-threads": "threads"}
_CHECK_RENAMES = {"checker-profile": "profile"}
# Run flags the server does not take from the run: `threads` is the checker's; the files
# (--pcap, --keylog, the stats socket) are the checker's, on its machine; the duration and
# the listen address are the server's own.
_SERVE_SKIP = {"threads", "duration", "max-checks", "live", "pcap", "keylog", "listen", "port"}


def run_placed(
    client: "distributed.Client",
    cfg: Config,
    server_host: str,
    checker_host: str,
    timeout: float,
) -> dict[str, Any]:
    """The JSON document of one run whose server runs on the worker `server_host` and whose
    checker runs on the worker `checker_host` (each a worker address, a worker name, or a
    host that exactly one worker with the resource has)."""
    import distributed

    workers = _cluster.machines(client, timeout)
    server = find_worker(workers, server_host, "server_host")
    checker = find_worker(workers, checker_host, "checker_host")
    if server == checker:
        raise ValueError(
            f"server_host and checker_host both name the worker {server}: the two sides "
            "need two workers (two machines)"
        )
    listen = distributed.comm.get_address_host(server)
    seconds = cfg.seconds("duration") or 0.0
    token = uuid.uuid4().hex
    ready_name, stop_name = f"tlslab-ready-{token}", f"tlslab-stop-{token}"
    stop = distributed.Event(stop_name, client=client)
    serve_future = client.submit(
        _worker.serve,
        ["serve", *side_args(cfg, "serve"), "--listen", listen, "--duration",
         f"{int(seconds + SLACK_S)}s"],
        ready_name,
        stop_name,
        seconds + 2 * SLACK_S,
        workers=[server],
        allow_other_workers=False,
        resources={_cluster.RESOURCE: 1},
        pure=False,
        key=f"tlslab-serve-{token}",
    )
    check_future = None
    try:
        ready = _wait_ready(distributed.Queue(ready_name, client=client), serve_future, seconds)
        targets = [f"[{listen}]:{p}" if ":" in listen else f"{listen}:{p}" for p in ready]
        check_args = ["check", *side_args(cfg, "check")]
        for target in targets:
            check_args += ["--target", target]
        check_future = client.submit(
            _worker.run_json,
            check_args,
            seconds + SLACK_S,
            workers=[checker],
            allow_other_workers=False,
            resources={_cluster.RESOURCE: 1},
            pure=False,
            key=f"tlslab-check-{token}",
        )
        checked = check_future.result(timeout=seconds + SLACK_S + timeout)
    finally:
        stop.set()
        if check_future is not None and not check_future.done():
            check_future.cancel()
    served = serve_future.result(timeout=_worker.STOP_GRACE_S + timeout + 30)
    for answer in (checked, served):
        if "error" in answer:
            _cluster.raise_error(answer)
    return merge(cfg, checked, served, listen)


def find_worker(workers: Mapping[str, Mapping[str, Any]], wanted: str, field: str) -> str:
    """The address of the worker `wanted` names: its address ("tcp://10.0.0.5:40123"), its
    name (dask-worker --name), or its host when exactly one worker has that host."""
    import distributed

    if not isinstance(wanted, str) or not wanted:
        raise ValueError(f"{field}: expected a worker address, name or host, got {wanted!r}")
    for address, info in workers.items():
        if wanted in (address, str(info.get("name"))):
            return address
    by_host = [a for a in workers if distributed.comm.get_address_host(a) == wanted]
    if len(by_host) == 1:
        return by_host[0]
    known = ", ".join(f"{a} ({w.get('name')})" for a, w in sorted(workers.items()))
    if by_host:
        raise ValueError(
            f"{field}={wanted!r}: {len(by_host)} workers run on that host; name one by its "
            f"address or name: {known}"
        )
    raise ValueError(f"{field}={wanted!r} is none of the workers with the resource: {known}")


def side_args(cfg: Config, command: str) -> list[str]:
    """The flags of `tlslab serve` or `tlslab check` that the run's Config sets."""
    names = {f.name for f in _flags.fields(command)}
    renames = _SERVE_RENAMES if command == "serve" else _CHECK_RENAMES
    args = ["--live", "off"]
    for name, value in cfg.to_flags().items():
        if command == "serve" and name in _SERVE_SKIP:
            continue
        target = renames.get(name, name)
        if target not in names or name == "live":
            continue
        args += [f"--{target}"] if value is True else [f"--{target}", str(value)]
    return args


def _wait_ready(queue: Any, serve_future: Any, seconds: float) -> list[str]:
    """The server's ports, from its ready line; bounded, and not past the server's end."""
    deadline = time.monotonic() + seconds + SLACK_S
    while time.monotonic() < deadline:
        try:
            message = queue.get(timeout=1)
        except TimeoutError:
            if serve_future.done():
                answer = serve_future.result(timeout=10)
                if "error" not in answer:
                    answer = {**answer, "error": "the server stopped before it was ready"}
                _cluster.raise_error(answer)
            continue
        if "error" in message:
            _cluster.raise_error(serve_future.result(timeout=30))
        fields = dict(f.split("=", 1) for f in message["ready"].split()[1:] if "=" in f)
        return fields.get("ports", "").split(",")
    raise RuntimeError(f"the server was not ready within {seconds + SLACK_S:g} s")


def merge(
    cfg: Config, checked: dict[str, Any], served: dict[str, Any], listen: str
) -> dict[str, Any]:
    """The checker's document with the server's figures, as `tlslab run --json` has them:
    close kinds and sessions removed (what the server saw), `server` (all its figures), and
    the server's CPU over the run's duration (it idles before the first check and after the
    last one), as percent and per check."""
    doc = dict(checked["doc"])
    server = served["doc"]["figures"]
    figures = dict(doc["figures"])
    figures["close_kinds"] = server["close_kinds"]
    figures["sessions_removed_total"] = server["sessions_removed_total"]
    figures["server"] = server
    seconds = cfg.seconds("duration") or 0.0
    cpu_s = server["cpu_ns"] / 1e9
    figures["server_cpu_percent"] = round(100.0 * cpu_s / seconds, 2) if seconds else None
    checks = figures.get("checks_total") or 0
    figures["server_cpu_us_per_check"] = round(cpu_s * 1e6 / checks, 2) if checks else None
    doc["figures"] = figures
    doc["command"] = "run"
    doc["config"] = cfg.to_flags()
    doc["effective"] = {**doc.get("effective", {}), "server_profile": cfg.server_profile}
    doc["hosts"] = {
        "server": {**served["host"], "listen": listen},
        "checker": dict(checked["host"]),
    }
    return doc


__all__ = ["run_placed"]
