"""tlslab.Config: the configuration of one run, mirroring the C++ Config (lab/config.h).

Every field is a flag of `tlslab run` with '-' turned into '_' (`--server-profile` ->
`server_profile`). Defaults, accepted values and validation all come from the C++ core: a
Config is validated by asking the core for its canonical form, and a bad value raises
ConfigError (a ValueError) naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import InitVar, dataclass
from typing import Any, Mapping, Union

from tlslab import _flags
from tlslab._core import core
from tlslab._flags import ConfigError

Duration = Union[str, int, float, datetime.timedelta]
"""A duration: "2s", "500ms", "1m" or "2000" (a bare number in a string is milliseconds, as in
HAProxy's `inter 2000`); an int or float is seconds (0.5 = 500 ms); or a datetime.timedelta."""

_COMMAND = "run"
# Flags of `tlslab run` that are not Config fields: the Python API always reads the JSON
# document, and `no_reuse=True` is accepted by the constructor as `reuse=False`.
_NOT_FIELDS = ("json", "no_reuse")


@dataclass(frozen=True)
class Config:
    """The configuration of one run: TLS servers and an HAProxy-like checker in one process.

    Fields are the flags of `tlslab run` (see `Config.describe()` or `tlslab run --help`),
    with the same names ('-' -> '_'), the same defaults and the same validation, all taken
    from the C++ core. A field left as None takes the core's default; after construction every
    field holds its canonical value (durations as text such as "2s"), and None remains only
    for the optional fields the core derives when unset (`close`, `reuse`, ... come from the
    checker profile). One difference: `live` defaults to False here (no live line on stderr
    from a library call); the command line's default is on.

    A Config is immutable; `replace()` makes a changed, re-validated copy.

    Example:
        >>> import tlslab
        >>> cfg = tlslab.Config(server_profile="strict", checker_profile="haproxy-1.7.3",
        ...                     backends=20, inter=0.5, duration="4s")
        >>> cfg.inter, cfg.tls, cfg.close
        ('500ms', 'auto', None)
        >>> cfg.replace(backends=40).backends
        40
        >>> tlslab.Config(backends=0)
        Traceback (most recent call last):
        ...
        tlslab.ConfigError: backends=0: backends must be between 1 and 20000, got 0
    """

    # TLS, both sides
    tls: str | None = None  # "auto", "1.2" or "1.3": highest version offered and accepted
    tickets: bool | None = None  # TLS 1.2 RFC 5077 tickets; TLS 1.3: False = stateful tickets
    session_cache: bool | None = None  # server: per-backend session cache (session IDs)
    key: str | None = None  # certificate key type: "rsa2048" or "p256"
    cert: str | None = None  # PEM certificate instead of the in-memory self-signed one
    key_file: str | None = None  # PEM private key that goes with cert
    keylog: str | None = None  # SSLKEYLOGFILE-format key log, for Wireshark
    # Server
    server_profile: str | None = None  # what the server does with a session after a close
    backends: int | None = None  # virtual backends, each with listener, SSL_CTX and cache
    server_threads: int | None = None  # server event-loop threads
    handshake_timeout: Duration | None = None  # server drops a slower handshake
    idle_timeout: Duration | None = None  # server drops an idle connection
    session_timeout: Duration | None = None  # session lifetime; None = OpenSSL's (7200 s)
    cache_size: int | None = None  # session cache entries per backend; None = OpenSSL's
    # Checker
    checker_profile: str | None = None  # e.g. "haproxy-1.7.3"; None = plain knobs only
    check: str | None = None  # check kind: "connect" (handshake only) or "http"
    close: str | None = None  # close mode; None = the checker profile's
    reuse: bool | None = None  # offer the saved session; None = the profile's, else True
    read_after_handshake: bool | None = None  # connect checks wait for a TLS 1.3 ticket
    inter: Duration | None = None  # interval between checks of a healthy backend
    fastinter: Duration | None = None  # interval while a backend changes state (None = inter)
    downinter: Duration | None = None  # interval while a backend is down (None = inter)
    timeout: Duration | None = None  # check timeout (None = inter)
    rise: int | None = None  # consecutive successes to mark a backend up
    fall: int | None = None  # consecutive failures to mark a backend down
    threads: int | None = None  # checker event-loop threads
    stats_socket: str | None = None  # unix socket answering HAProxy's "show info"
    http_path: str | None = None  # path of the http check request
    # The run
    duration: Duration | None = None  # run length
    max_checks: int | None = None  # stop after this many checks; 0 = no limit
    live: bool = False  # a live line on stderr each second (the CLI's default is on)
    trace: bool = False  # one line per connection event on stderr
    no_reuse: InitVar[bool] = False  # HAProxy's no-ssl-reuse: the same as reuse=False

    def __post_init__(self, no_reuse: bool) -> None:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if no_reuse:
            if values["reuse"] is True:
                raise ConfigError("reuse=True contradicts no_reuse=True", ["reuse", "no_reuse"])
            values["reuse"] = False
        canonical = _flags.canonical(_COMMAND, values)
        for name in values:
            object.__setattr__(self, name, canonical[name])

    # ---- conversions

    def to_dict(self) -> dict[str, Any]:
        """Field -> canonical value (None for optional fields left unset).

        Example:
            >>> import tlslab
            >>> tlslab.Config(backends=3).to_dict()["backends"]
            3
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_argv(self) -> list[str]:
        """The flags of `tlslab run` that reproduce this Config (without --json).

        Example:
            >>> import tlslab
            >>> argv = tlslab.Config(backends=3, inter="1s").to_argv()
            >>> argv[argv.index("--inter") + 1], argv[argv.index("--live") + 1]
            ('1s', 'off')
        """
        return _flags.to_argv(_COMMAND, self.to_dict())

    def to_flags(self) -> dict[str, Any]:
        """Flag name -> text (True for a switch): the "config" object of the JSON document
        of a run, the inverse of from_flags().

        Example:
            >>> import tlslab
            >>> tlslab.Config(server_profile="strict").to_flags()["server-profile"]
            'strict'
        """
        argv = self.to_argv()
        flags: dict[str, Any] = {}
        i = 0
        while i < len(argv):
            name = argv[i][2:]
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                flags[name] = argv[i + 1]
                i += 2
            else:
                flags[name] = True
                i += 1
        return flags

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed, validated again.

        Example:
            >>> import tlslab
            >>> tlslab.Config(backends=3).replace(backends=5).backends
            5
        """
        return dataclasses.replace(self, **changes)

    def seconds(self, field: str) -> float | None:
        """A duration field in seconds (None when unset).

        Example:
            >>> import tlslab
            >>> tlslab.Config(inter="500ms").seconds("inter")
            0.5
        """
        value = getattr(self, field)
        if value is None:
            return None
        if _flags.flags(_COMMAND)[field].value != "D":
            raise ValueError(f"{field} is not a duration field")
        return core.parse_duration_ms(value) / 1000.0

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> "Config":
        """A Config from the "config" object of a JSON document (flag name -> text), as
        `tlslab run --json` and `Result.to_dict()` have it. Flags that are not Config
        fields (json) are ignored.

        Example:
            >>> import tlslab
            >>> tlslab.Config.from_flags({"backends": "4", "server-profile": "strict"}).backends
            4
        """
        values = _flags.from_json_config(_COMMAND, flags)
        for name in _NOT_FIELDS:
            values.pop(name, None)
        return cls(**values)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Every field with its flag, default and help text, from the C++ core (a list of
        dicts; `pandas.DataFrame(tlslab.Config.describe())` shows it as a table).

        Example:
            >>> import tlslab
            >>> [row["default"] for row in tlslab.Config.describe() if row["field"] == "inter"]
            ['2s']
        """
        defaults = cls().to_dict()
        rows = []
        for field, flag in _flags.flags(_COMMAND).items():
            if field in _NOT_FIELDS:
                continue
            rows.append(
                {
                    "field": field,
                    "flag": f"--{flag.name}",
                    "default": defaults[field],
                    "help": flag.help,
                }
            )
        return rows


def field_names() -> list[str]:
    """The fields of Config, in the order of `tlslab run --help`."""
    return [f for f in _flags.flags(_COMMAND) if f not in _NOT_FIELDS]


def make_config(config: Config | None, fields: Mapping[str, Any]) -> Config:
    """`config` with `fields` changed, or a new Config from `fields` alone."""
    if config is None:
        return Config(**fields)
    if not isinstance(config, Config):
        raise TypeError(f"expected a tlslab.Config, got {type(config).__name__}")
    return config.replace(**fields) if fields else config


__all__ = ["Config", "ConfigError", "Duration", "field_names"]
