"""tlslab.Result: the figures of one run (docs/design.md 8) as attributes, the whole JSON
document as `to_dict()`, and the 1 Hz time series as a pandas DataFrame."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from tlslab.config import Config

if TYPE_CHECKING:  # pandas is imported when the series is asked for
    import pandas

T = TypeVar("T")

# The time series' columns, in reading order (the JSON document sorts its keys).
SERIES_COLUMNS = [
    "t_s",
    "checks_per_s",
    "key_rate_per_s",
    "resumed_per_s",
    "failures_per_s",
    "checker_cpu_percent",
    "server_cpu_percent",
]


class _Figure(Generic[T]):
    """A read-only attribute backed by result.figures[name]."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type) -> "_Figure[T]":
        ...

    @overload
    def __get__(self, obj: "Result", objtype: type) -> T:
        ...

    def __get__(self, obj: "Result | None", objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.figures.get(self.name)


class Result:
    """The outcome of one run: `tlslab run --json`, in Python.

    The figures are attributes (`key_rate_per_s`, `resumption_ratio`, `checker_cpu_percent`,
    ...; every key of the document's "figures" object is one), `config` is the Config that
    reproduces the run, `series` the 1 Hz time series, `to_dict()` the whole document.

    Example:
        >>> import tlslab
        >>> r = tlslab.run(server_profile="strict", checker_profile="haproxy-1.7.3",
        ...                backends=5, inter="500ms", duration="3s")
        >>> r.resumption_ratio, r.full_handshakes_total >= 5
        (0.0, True)
        >>> list(r.series.columns)[:3]
        ['checks_per_s', 'key_rate_per_s', 'resumed_per_s']
    """

    checks_total: _Figure[int] = _Figure()
    check_failures_total: _Figure[int] = _Figure()
    full_handshakes_total: _Figure[int] = _Figure()  # full (non-resumed) handshakes
    resumed_handshakes_total: _Figure[int] = _Figure()
    key_rate_per_s: _Figure[float] = _Figure()  # mean SslBackendKeyRate, steady window
    max_key_rate_per_s: _Figure[float] = _Figure()  # SslBackendMaxKeyRate
    resumption_ratio: _Figure["float | None"] = _Figure()  # resumed / handshakes, steady window
    checker_cpu_percent: _Figure[float] = _Figure()  # 100 = one core, steady window
    server_cpu_percent: _Figure["float | None"] = _Figure()
    checker_cpu_us_per_check: _Figure["float | None"] = _Figure()
    server_cpu_us_per_check: _Figure["float | None"] = _Figure()
    latency_ms: _Figure["dict[str, float]"] = _Figure()  # p50, p90, p99, max; steady state
    first_round_latency_ms: _Figure["dict[str, float]"] = _Figure()  # checks before it ended
    first_round_s: _Figure["float | None"] = _Figure()  # every backend's first check ended
    steady_window_start_s: _Figure[float] = _Figure()  # first sample after the first round
    skipped_slots_total: _Figure[int] = _Figure()  # slots passed over by late or slow checks
    close_kinds: _Figure["dict[str, int]"] = _Figure()  # what the server saw, per close kind
    sessions_removed_total: _Figure["dict[str, int]"] = _Figure()  # per close kind
    check_failures_by_reason: _Figure["dict[str, int]"] = _Figure()
    time_wait_sockets: _Figure["int | None"] = _Figure()
    backends: _Figure[int] = _Figure()
    backends_up: _Figure[int] = _Figure()
    interrupted: _Figure[bool] = _Figure()

    def __init__(
        self, document: dict[str, Any], *, elapsed_s: float | None = None, isolated: bool = False
    ):
        self._doc = document
        self.figures: dict[str, Any] = document["figures"]
        self.effective: dict[str, Any] = document.get("effective", {})
        self.versions: dict[str, Any] = document.get("versions", {})
        self.elapsed_s = elapsed_s  # wall time of the call that produced this result
        self.isolated = isolated  # True when the run was a separate `tlslab run` process
        # Where each side ran, for a run on a cluster: {"server": {...}, "checker": {...}}.
        self.hosts: dict[str, Any] | None = document.get("hosts")
        self._config: Config | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Result":
        """The Result of one line of a sweep's JSONL file (see tlslab.sweep).

        Example:
            >>> import tlslab
            >>> records = tlslab.sweeps.read_records("results.jsonl")  # doctest: +SKIP
            >>> tlslab.Result.from_record(records[0]).series           # doctest: +SKIP
        """
        config = Config(**record["config"])
        doc = {
            "command": "run",
            "config": config.to_flags(),
            "effective": record.get("effective", {}),
            "versions": record.get("versions", {}),
            "figures": record["figures"],
            "series": record.get("series", []),
        }
        result = cls(doc, elapsed_s=record.get("elapsed_s"), isolated=record.get("isolated", False))
        result._config = config
        return result

    @property
    def config(self) -> Config:
        """The Config that reproduces this run."""
        if self._config is None:
            self._config = Config.from_flags(self._doc["config"])
        return self._config

    @property
    def series(self) -> "pandas.DataFrame":
        """The 1 Hz time series, indexed by `t_s` (seconds since the start): checks, full
        handshakes (key rate), resumed handshakes and failures per second, CPU per side."""
        import pandas

        frame = pandas.DataFrame(self._doc.get("series", []), columns=SERIES_COLUMNS)
        return frame.set_index("t_s")

    def to_dict(self) -> dict[str, Any]:
        """The whole JSON document (a deep copy): command, config, effective, versions,
        figures, series."""
        return copy.deepcopy(self._doc)

    def flat_figures(self) -> dict[str, Any]:
        """The numeric figures, nested objects flattened with '_' (`latency_ms_p99`,
        `sessions_removed_total_eof`, ...): one row of a sweep's DataFrame."""
        return flatten_figures(self.figures)

    def __getattr__(self, name: str) -> Any:
        figures = self.__dict__.get("figures", {})
        if name in figures:
            return figures[name]
        raise AttributeError(f"Result has no attribute or figure {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.figures))

    def __repr__(self) -> str:
        e = self.effective
        ratio = self.resumption_ratio
        return (
            f"<tlslab.Result {e.get('checker_profile') or 'checker'} -> "
            f"{e.get('server_profile') or 'server'}, {self.backends} backends: "
            f"key rate {self.key_rate_per_s}/s, resumed "
            f"{'-' if ratio is None else ratio}, checker CPU {self.checker_cpu_percent}%, "
            f"server CPU {self.server_cpu_percent}%>"
        )


def flatten_figures(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Numbers, booleans and None kept; nested objects flattened with '_'; text dropped
    (failure examples)."""
    out: dict[str, Any] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if key == "check_failure_examples":
                continue
            out.update(flatten_figures(value, f"{name}_"))
        elif value is None or isinstance(value, (int, float, bool)):
            out[name] = value
    return out


__all__ = ["Result", "flatten_figures"]
