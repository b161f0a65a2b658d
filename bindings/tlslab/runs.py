"""tlslab.run (one run, in this process or as a `tlslab run` process) and tlslab.probe (in
this process)."""

from __future__ import annotations

import time
from typing import Any

from tlslab import _cli
from tlslab._core import core
from tlslab.config import Config, make_config
from tlslab.result import Result

# A subprocess gets this long beyond its own --duration before it is stopped.
_SUBPROCESS_SLACK_S = 120.0


def run(config: Config | None = None, /, *, isolate: bool = False, **fields: Any) -> Result:
    """Runs the lab once: virtual TLS backends and an HAProxy-like checker, as `tlslab run`.

    Args:
        config: a Config; keyword arguments change its fields (or make one from scratch).
        isolate: False (default) runs in this process, on threads of its own, with the GIL
            released. True runs a separate `tlslab run --json` process, so that the CPU each
            side reports cannot include anything Python does meanwhile (sweeps use this).
        **fields: Config fields, e.g. backends=100, server_profile="strict", duration="5s".

    Returns:
        A Result: figures as attributes, `series` (1 Hz DataFrame), `to_dict()`.

    Raises:
        ConfigError (a ValueError) naming the field for a bad value, a ValueError naming the
        need when the descriptor hard limit is below what the backends need (docs/scale.md);
        RuntimeError when the environment refuses (port in use); KeyboardInterrupt on Ctrl-C,
        after the run has stopped cleanly (within about 100 ms plus the checks in flight).

    Example:
        >>> import tlslab
        >>> r = tlslab.run(server_profile="strict", checker_profile="haproxy-1.7.4",
        ...                backends=5, inter="500ms", duration="3s")
        >>> r.resumption_ratio
        1.0
    """
    cfg = make_config(config, fields)
    started = time.monotonic()
    if isolate:
        timeout = cfg.seconds("duration") + _SUBPROCESS_SLACK_S
        doc = _cli.run_json(["run", *cfg.to_argv()], timeout=timeout)
    else:
        doc = core.run(cfg._core)
    return Result(doc, elapsed_s=time.monotonic() - started, isolated=isolate)


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
