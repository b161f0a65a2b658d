"""tlslab.Config: the configuration of one run, the C++ Config (lab/config.h) in Python.

The class is built at import from the core's one flag table (`_tlslab.describe_flags("run")`):
every flag of `tlslab run` that is a field becomes a dataclass field named like the flag with
'-' turned into '_' (`--server-profile` -> `server_profile`). A flag added to lab/flag_table.cc
appears here with no Python edit. Values go to the core through the table's typed setters
(`_tlslab.build_config`), which validate them; a bad value raises ConfigError (a ValueError)
naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Mapping, Union

from tlslab import _flags
from tlslab._core import core
from tlslab._flags import ConfigError

Duration = Union[str, int, float, datetime.timedelta]
"""A duration: "2s", "500ms", "1m" or "2000" (a bare number in a string is milliseconds, as in
HAProxy's `inter 2000`); an int or float is seconds (0.5 = 500 ms); or a datetime.timedelta."""

_COMMAND = "run"
# The library's one difference from the command line: a library call prints no live line on
# stderr unless asked (the command line's default is on).
_LIBRARY_DEFAULTS = {"live": False}
# Python annotations per flag type (lab/flag_table.h, FlagType).
_ANNOTATIONS = {
    "int": "int | None",
    "duration": "Duration | None",
    "on/off": "bool | None",
    "enum": "str | None",
    "string": "str | None",
    "switch": "bool",
    "strings": "list[str] | None",
}


class _ConfigMethods:
    """What every Config does; the fields come from the core's flag table."""

    def __post_init__(self, *alias_values: Any) -> None:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for flag, value in zip(_flags.aliases(_COMMAND), alias_values):
            values[flag.field] = value if value else None
        bound = core.build_config(_COMMAND, values)
        for name, value in bound.values().items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_core", bound)

    def __reduce__(self) -> tuple:
        return (_from_dict, (self.to_dict(),))

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
        """The flags of `tlslab run` that reproduce this Config (without --json), from the
        core's ToArgv.

        Example:
            >>> import tlslab
            >>> argv = tlslab.Config(backends=3, inter="1s").to_argv()
            >>> argv[argv.index("--inter") + 1], argv[argv.index("--live") + 1]
            ('1s', 'off')
        """
        return list(self._core.argv())

    def to_flags(self) -> dict[str, Any]:
        """Flag name -> text (True for a switch): the "config" object of the JSON document
        of a run, the inverse of from_flags().

        Example:
            >>> import tlslab
            >>> tlslab.Config(server_profile="strict").to_flags()["server-profile"]
            'strict'
        """
        return dict(self._core.json())

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
        if _flags.flags(_COMMAND)[field].type != "duration":
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
        values = _flags.from_json_config(_COMMAND, dict(flags))
        values.setdefault("live", True)  # a document without it is from the command line
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
        return [
            {"field": f.field, "flag": f"--{f.name}", "default": defaults[f.field], "help": f.help}
            for f in _flags.fields(_COMMAND)
        ]


def _make_config_class() -> type:
    specs: list[tuple[str, Any, Any]] = []
    for flag in _flags.fields(_COMMAND):
        default = _LIBRARY_DEFAULTS.get(flag.field, False if flag.type == "switch" else None)
        specs.append((flag.field, _ANNOTATIONS[flag.type], dataclasses.field(default=default)))
    for flag in _flags.aliases(_COMMAND):
        specs.append((flag.field, dataclasses.InitVar[bool], dataclasses.field(default=False)))
    cls = dataclasses.make_dataclass(
        "Config", specs, bases=(_ConfigMethods,), frozen=True, namespace={}
    )
    cls.__module__ = __name__
    return cls


Config = _make_config_class()
Config.__doc__ = """The configuration of one run: TLS servers and an HAProxy-like checker in one
    process.

    Fields are the flags of `tlslab run` (see `Config.describe()` or `tlslab run --help`),
    with the same names ('-' -> '_'), the same defaults and the same validation, all taken
    from the C++ core's flag table. A field left as None takes the core's default; after
    construction every field holds its canonical value (durations as text such as "2s"), and
    None remains only for the optional fields the core derives when unset (`close`, `reuse`,
    ... come from the checker profile). Aliases are accepted by the constructor (`no_reuse=True`
    is `reuse=False`). One difference: `live` defaults to False here (no live line on stderr
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


def duration_ms(value: Duration) -> int:
    """A duration in milliseconds, by the core's one grammar (lab/duration.h): "2s",
    "500ms", "1m", "2000" (a bare number in a string is milliseconds); an int or float is
    seconds; a datetime.timedelta is itself. ValueError for anything else.

    Example:
        >>> import tlslab
        >>> tlslab.duration_ms("2s"), tlslab.duration_ms(0.5), tlslab.duration_ms("250")
        (2000, 500, 250)
    """
    return int(core.duration_ms(value))


def _from_dict(values: dict[str, Any]) -> "Config":
    return Config(**values)


def field_names() -> list[str]:
    """The fields of Config, in the order of `tlslab run --help`."""
    return [f.field for f in _flags.fields(_COMMAND)]


def make_config(config: "Config | None", fields: Mapping[str, Any]) -> "Config":
    """`config` with `fields` changed, or a new Config from `fields` alone."""
    if config is None:
        return Config(**fields)
    if not isinstance(config, Config):
        raise TypeError(f"expected a tlslab.Config, got {type(config).__name__}")
    return config.replace(**fields) if fields else config


__all__ = ["Config", "ConfigError", "Duration", "duration_ms", "field_names"]
