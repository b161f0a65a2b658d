"""tlslab.run (one run, in this process or as a `tlslab run` process) and tlslab.probe."""

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
        ConfigError (a ValueError) naming the field for a bad value; RuntimeError when the
        environment refuses (port in use, too many open files); KeyboardInterrupt on Ctrl-C,
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
        import json

        # --json as on the command line, so both paths describe the run the same way.
        doc = json.loads(core.run([*cfg.to_argv(), "--json"]))
    return Result(doc, elapsed_s=time.monotonic() - started, isolated=isolate)


def probe(target: str, *, timeout: float | None = 600.0, **flags: Any) -> dict[str, Any]:
    """Is a real TLS server strict or lenient? Runs `tlslab probe TARGET --json` and returns
    its JSON document (the observed matrix, the verdict and the closest server profiles).

    Args:
        target: HOST:PORT of the server (e.g. one of `Server.targets`).
        timeout: seconds before the probe process is stopped.
        **flags: flags of `tlslab probe`, '_' for '-' (tls="1.2", repeat=3, expect="strict";
            True for a switch).

    Raises:
        NotImplementedError when the tlslab command has no `probe` subcommand; ValueError for
        bad flags (tlslab's message); RuntimeError when the probe cannot run.

    Example:
        >>> import tlslab
        >>> with tlslab.Server(profile="strict", backends=1) as srv:   # doctest: +SKIP
        ...     tlslab.probe(srv.targets[0], tls="1.2")["verdict"]
    """
    if "probe" not in _cli.subcommands():
        raise NotImplementedError(
            f"{_cli.tlslab_bin()} has no `probe` subcommand (`tlslab --help` does not list "
            "it); build a tlslab that has it, or point TLSLAB_BIN at one"
        )
    args = ["probe", target]
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None:
            continue
        else:
            args += [flag, str(value)]
    return _cli.run_json(args, timeout=timeout)


__all__ = ["run", "probe"]
