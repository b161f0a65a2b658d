"""The flags of a tlslab command, as the C++ core's one flag table describes them.

Nothing here knows a flag by name: the list of flags, their types, defaults, choices and help
come from lab/flag_table.cc through `_tlslab.describe_flags(command)`, and Python values become
a validated C++ Config through `_tlslab.build_config` (the table's typed setters; no argv, no
help text in between). A Python field name is the flag name with '-' turned into '_'
(`--server-profile` -> `server_profile`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable

from tlslab._core import core


@dataclass(frozen=True)
class Flag:
    """One flag of a command, as the core describes it."""

    name: str  # flag name, e.g. "server-profile"
    field: str  # the Python name, e.g. "server_profile"
    type: str  # "int", "duration", "on/off", "enum", "string", "switch" or "strings"
    role: str  # "field"; "alias" (another spelling of alias_of); "output" (--json)
    alias_of: str | None
    value_name: str  # in --help: N, D, on|off, NAME, FILE ...; "" for a switch
    default: Any  # the canonical default; None when unset (the core derives it)
    choices: tuple[str, ...]  # for "enum"
    help: str  # one line, without the default
    commands: tuple[str, ...]  # the commands that have this flag

    @property
    def optional(self) -> bool:
        """Unset by default (the core then derives the value, e.g. from a profile)."""
        return self.default is None


@functools.lru_cache(maxsize=None)
def flags(command: str) -> dict[str, Flag]:
    """Field name -> Flag, in the order of `tlslab COMMAND --help`.

    Example:
        >>> from tlslab import _flags
        >>> f = _flags.flags("run")["close"]
        >>> f.type, f.default, "quiet" in f.choices
        ('enum', None, True)
    """
    out: dict[str, Flag] = {}
    for row in core.describe_flags(command):
        row = dict(row)
        row["choices"] = tuple(row["choices"])
        row["commands"] = tuple(row["commands"])
        out[row["field"]] = Flag(**row)
    return out


def fields(command: str) -> list[Flag]:
    """The flags that are fields of a configuration (no aliases, no output format)."""
    return [f for f in flags(command).values() if f.role == "field"]


def aliases(command: str) -> list[Flag]:
    """The flags that are another spelling of a field (no_reuse: reuse=False)."""
    return [f for f in flags(command).values() if f.role == "alias"]


class ConfigError(ValueError):
    """A bad configuration value. `fields` names the Python fields at fault."""

    def __init__(self, message: str, fields: Iterable[str] = ()):
        super().__init__(message)
        self.fields = tuple(fields)

    @property
    def field(self) -> str | None:
        return self.fields[0] if self.fields else None


def from_json_config(command: str, config: dict[str, Any]) -> dict[str, Any]:
    """The "config" object of a JSON document (flag name -> text, true for a switch) ->
    field -> value, for the flags of `command` that are fields (others are ignored); the core
    parses the text when the values are built into a Config."""
    by_name = {f.name: f for f in fields(command)}
    return {by_name[name].field: value for name, value in config.items() if name in by_name}
