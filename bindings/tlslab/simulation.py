"""tlslab.simulate: the flags of `tlslab run`, answered by the simulator (`tlslab simulate`,
sim/engine.h) instead of sockets; the same Result type as tlslab.run, marked
`result.to_dict()["mode"] == "simulated"` and naming its cost file.

Fields beyond a run's: checker_threads (HAProxy nbthread), checkers (load balancers),
restart_every, restart_share, restart_downtime, backend_cores, costs (a cost file from
`tlslab calibrate`), checker_costs (a checker cost set from `tlslab calibrate --checker
haproxy`), seed, resolution (series step). `duration` and `backends` go beyond what a
real run accepts (days; millions of backends).
"""

from __future__ import annotations

import time
from typing import Any

from tlslab import _cli
from tlslab.config import Config, make_config
from tlslab.result import Result

# Fields only `tlslab simulate` has, and run fields whose simulated range is wider.
SIMULATION_FIELDS = (
    "checker_threads",
    "checkers",
    "restart_every",
    "restart_share",
    "restart_downtime",
    "backend_cores",
    "costs",
    "checker_costs",
    "seed",
    "resolution",
)
WIDER_FIELDS = ("duration", "backends")
_TIMEOUT_S = 900.0


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def simulation_argv(config: Config | None, fields: dict[str, Any]) -> list[str]:
    """The argv of `tlslab simulate` for a Config plus fields (without --json)."""
    sim = {k: fields.pop(k) for k in list(fields) if k in SIMULATION_FIELDS or k in WIDER_FIELDS}
    cfg = make_config(config, fields)
    argv = cfg.to_argv()
    out: list[str] = []
    i = 0
    while i < len(argv):  # the wider fields replace the run's own value
        if argv[i].startswith("--") and argv[i][2:].replace("-", "_") in sim:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    for name, value in sim.items():
        if value is None:
            continue
        if isinstance(value, (int, float)) and name in ("duration", "restart_every",
                                                        "restart_downtime", "resolution"):
            value = f"{int(value * 1000)}ms"
        out += [_flag(name), str(value)]
    return out


def simulate(config: Config | None = None, /, **fields: Any) -> Result:
    """Simulates a run: the same fields as tlslab.run, plus SIMULATION_FIELDS.

    Raises ValueError with tlslab's one-line message for bad input (including a cost file
    that is missing, malformed or of another version, and a simulation too large).

    Example:
        >>> import tlslab
        >>> r = tlslab.simulate(server_profile="strict", checker_profile="haproxy-1.7.3",
        ...                     backends=1000, inter="2s", duration="24h",
        ...                     checker_threads=4, checkers=2, backend_cores=2)
        >>> round(r.key_rate_per_s), r.to_dict()["mode"]
        (500, 'simulated')
    """
    started = time.monotonic()
    doc = _cli.run_json(["simulate", *simulation_argv(config, dict(fields))], timeout=_TIMEOUT_S)
    return Result(doc, elapsed_s=time.monotonic() - started, isolated=True)


__all__ = ["SIMULATION_FIELDS", "simulate", "simulation_argv"]
