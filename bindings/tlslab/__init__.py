"""tlslab: a lab for TLS shutdown semantics, from Python.

A strict TLS server (JDK 8 SSLEngine under Jetty 9.3) removes a session when a client closes
without close_notify, so an HAProxy-like checker that closes that way (haproxy-1.7.3) pays a
full handshake on every check; haproxy-1.7.4 sends close_notify first and resumes. This
package runs the C++ lab (real OpenSSL over real loopback sockets) and gives its figures to
pandas and matplotlib.

    >>> import tlslab
    >>> r = tlslab.run(server_profile="strict", checker_profile="haproxy-1.7.3",
    ...                backends=10, inter="500ms", duration="3s")
    >>> r.key_rate_per_s > 0, r.resumption_ratio
    (True, 0.0)

- `Config`: one run's configuration (the flags of `tlslab run`, validated by the C++ core).
- `run(...) -> Result`: one run; figures as attributes, `series` (1 Hz DataFrame), `to_dict()`.
- `sweep(...) -> DataFrame`: the cross product of fields, one row per point, saved as JSONL
  as it goes (resumable); `cluster=` runs the points on a Dask cluster (tlslab.cluster).
- `simulate(...) -> Result`: the same fields simulated (`tlslab simulate`): any scale, days,
  nbthread, several load balancers, restarts; `sweep(..., mode="simulate")`.
- `Server(...)`: virtual backends in this process for your own client code.
- `probe(target)`, `profiles()`, `versions()`; `tlslab.plot` for the figures,
  `tlslab.analysis.saturation()` for where a side saturates one core.
"""

from tlslab import _core
from tlslab._cli import tlslab_bin
from tlslab._flags import ConfigError
from tlslab.config import Config, Duration, duration_ms, field_names
from tlslab.info import profile, profile_names, profiles, versions
from tlslab.result import Result
from tlslab.runs import probe, run
from tlslab.server import Server
from tlslab.simulation import simulate
from tlslab.sweeps import load_sweep, summarize, sweep

ConfigError.__module__ = "tlslab"


def __getattr__(name: str) -> object:
    # tlslab.plot and tlslab.analysis load matplotlib and pandas: only when asked for.
    if name in ("plot", "analysis"):
        import importlib

        return importlib.import_module(f"tlslab.{name}")
    raise AttributeError(f"module 'tlslab' has no attribute {name!r}")


__version__ = _core.core.versions()["tlslab"]

__all__ = [
    "Config",
    "ConfigError",
    "Duration",
    "Result",
    "Server",
    "duration_ms",
    "field_names",
    "load_sweep",
    "probe",
    "profile",
    "profile_names",
    "profiles",
    "run",
    "simulate",
    "summarize",
    "sweep",
    "tlslab_bin",
    "versions",
]
