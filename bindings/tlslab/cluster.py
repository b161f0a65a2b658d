"""tlslab on a Dask distributed cluster: the points of tlslab.sweep(..., cluster=...) and the
two sides of tlslab.run(..., server_host=..., checker_host=...), each a `tlslab` process on a
worker machine.

A worker runs points only when it has the resource RESOURCE, and a point takes all of it: one
point per worker at a time. Start ONE such worker per machine, with one thread (a point's CPU
figures are only clean when the point has the machine to itself):

    dask-scheduler --host 10.0.0.1 --port 8786
    TLSLAB_BIN=/usr/local/bin/tlslab dask-worker tcp://10.0.0.1:8786 --nthreads 1 \\
        --resources tlslab-machine=1          # on each machine

The worker needs the `tlslab` command ($TLSLAB_BIN, or `tlslab` on its PATH), not this Python
package: the functions it runs (tlslab/_worker.py) travel by value.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from tlslab import _worker

if TYPE_CHECKING:
    import distributed

# The worker resource a point takes (dask-worker --resources tlslab-machine=1).
RESOURCE = "tlslab-machine"
# Seconds to reach the scheduler, and to wait for a worker with the resource when none is there.
DEFAULT_TIMEOUT_S = 10.0
# How often the client looks at its points while they run.
_POLL_S = 0.1
# How often it asks the scheduler whether any worker with the resource is left.
_WATCH_S = 2.0


@contextlib.contextmanager
def connect(cluster: "str | distributed.Client", timeout: float) -> Iterator["distributed.Client"]:
    """A Client of the cluster: `cluster` itself when it is one (left open), else a new one
    connected to the scheduler address within `timeout` seconds (closed afterwards).

    Raises:
        ValueError for something that is not an address or a Client; RuntimeError when the
        scheduler cannot be reached in time, or Dask distributed is not installed.
    """
    try:
        import cloudpickle
        import distributed
    except ImportError:
        raise RuntimeError(
            "cluster= needs Dask distributed (Debian: apt install python3-distributed)"
        ) from None
    # A worker has the tlslab command, not necessarily this package: send _worker by value.
    cloudpickle.register_pickle_by_value(_worker)
    if isinstance(cluster, distributed.Client):
        yield cluster
        return
    if not isinstance(cluster, str) or not cluster.strip():
        raise ValueError(
            "cluster: expected a scheduler address such as 'tcp://10.0.0.1:8786' or a "
            f"distributed.Client, got {cluster!r}"
        )
    _reach(cluster, timeout)
    try:
        client = distributed.Client(cluster, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise RuntimeError(_unreachable(cluster, timeout, e)) from None
    try:
        yield client
    finally:
        client.close(timeout=timeout)


def _reach(address: str, timeout: float) -> None:
    """Opens and closes one connection to the scheduler, on an event loop of its own in a
    thread of its own (this thread may run one already: Jupyter). A Client that fails to
    connect is left half made, and closing it at garbage collection takes twice the timeout
    and prints a traceback (distributed 2022.12 Client.__del__): probing first avoids it."""
    import asyncio
    import concurrent.futures

    from distributed.comm import connect as comm_connect

    async def probe() -> None:
        comm = await comm_connect(address, timeout=timeout)
        await comm.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, probe()).result(timeout=timeout + 5)
        except (OSError, TimeoutError, concurrent.futures.TimeoutError) as e:
            raise RuntimeError(_unreachable(address, timeout, e)) from None
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"cluster: {address!r} is not a scheduler address ({_one_line(e)})"
            ) from None


def _unreachable(address: str, timeout: float, error: BaseException) -> str:
    return (
        f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
        f"({_one_line(error) or type(error).__name__})"
    )


def machines(client: "distributed.Client", timeout: float) -> dict[str, dict[str, Any]]:
    """The workers with the resource (address -> the scheduler's info), waiting up to
    `timeout` seconds for a first one; each is checked for a working `tlslab` command.
    RuntimeError naming the worker and what it lacks otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        found = _with_resource(client)
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if not found:
        raise RuntimeError(
            f"no worker of the Dask cluster at {client.scheduler.address} has the resource "
            f"{RESOURCE}: start one worker per machine with `dask-worker SCHEDULER "
            f"--nthreads 1 --resources {RESOURCE}=1`"
        )
    checks = client.run(
        _worker.check, workers=list(found), on_error="return", callback_timeout=timeout + 30
    )
    lost = {a: e for a, e in checks.items() if isinstance(e, BaseException)}
    if len(lost) == len(checks):
        address, error = sorted(lost.items())[0]
        raise RuntimeError(f"no worker answered (worker {address}: {_one_line(error)})")
    for address, answer in sorted(checks.items()):
        if address in lost:  # it died meanwhile: Dask gives it no point
            continue
        if "error" in answer:
            raise RuntimeError(
                f"worker {address} ({answer['host']['hostname']}) cannot run tlslab: "
                f"{answer['error']}"
            )
    return found


def _with_resource(client: "distributed.Client") -> dict[str, dict[str, Any]]:
    workers = client.scheduler_info()["workers"]
    return {a: w for a, w in workers.items() if w.get("resources", {}).get(RESOURCE, 0) >= 1}


def run_points(
    client: "distributed.Client",
    jobs: Sequence[tuple[Sequence[str], float]],
    done: Callable[[int, dict[str, Any]], None],
    timeout: float,
) -> None:
    """Runs `tlslab ARGS... --json` for each job (args, timeout in seconds) on a worker with
    the resource, all submitted at once, and calls done(index, answer) in this thread as each
    one finishes: answer is {"doc", "host", "elapsed_s"} or {"error", "kind", "host"}.

    A point whose worker dies runs again on another (Dask reschedules a task of a lost
    worker, up to distributed.scheduler.allowed-failures times); each job is reported once.
    Raises RuntimeError when a point cannot run (it killed its workers too often) or when
    no worker with the resource is left for `timeout` seconds; whatever raises (done() too,
    or Ctrl-C), the points not yet finished are cancelled.
    """
    futures = {
        client.submit(
            _worker.run_json,
            list(args),
            seconds,
            resources={RESOURCE: 1},
            pure=False,
            key=f"tlslab-run-{i}-{time.time_ns()}",
        ): i
        for i, (args, seconds) in enumerate(jobs)
    }
    pending = set(futures)
    alone_since: float | None = None
    next_watch = time.monotonic() + _WATCH_S
    try:
        while pending:
            finished = [f for f in pending if f.done()]
            for future in finished:
                pending.discard(future)
                if future.status == "cancelled":
                    raise RuntimeError(
                        "a point was cancelled by the cluster (a scheduler restart, or "
                        "this client was dropped); resume=True continues the sweep"
                    )
                if future.status != "finished":
                    error = future.exception(timeout=timeout)
                    raise RuntimeError(
                        f"a point failed on the cluster: {type(error).__name__}: "
                        f"{_one_line(error)}"
                    )
                done(futures[future], future.result(timeout=timeout))
            if finished:
                continue
            time.sleep(_POLL_S)
            if time.monotonic() >= next_watch:
                next_watch = time.monotonic() + _WATCH_S
                if _with_resource(client):
                    alone_since = None
                elif alone_since is None:
                    alone_since = time.monotonic()
                elif time.monotonic() - alone_since > timeout:
                    raise RuntimeError(
                        f"no worker with the resource {RESOURCE} is left in the cluster at "
                        f"{client.scheduler.address} (for {timeout:g} s): {len(pending)} "
                        "points did not run; resume=True continues the sweep"
                    )
    finally:
        if pending:
            client.cancel(list(pending))


def raise_error(answer: dict[str, Any]) -> None:
    """A worker's error answer as the exception tlslab.run would raise: ValueError for bad
    input, KeyboardInterrupt when interrupted, else RuntimeError; the host is named."""
    host = answer.get("host", {})
    where = host.get("worker") or host.get("hostname", "?")
    message = f"{answer['error']} (on {where})"
    if answer.get("kind") == "value":
        raise ValueError(message)
    if answer.get("kind") == "interrupted":
        raise KeyboardInterrupt(message)
    raise RuntimeError(message)


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


__all__ = ["RESOURCE", "connect", "machines", "run_points"]
