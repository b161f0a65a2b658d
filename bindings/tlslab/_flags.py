"""The flags of a tlslab command, read from the C++ core, and the conversions between Python
values and flag text.

Nothing here knows a flag by name: the list of flags, their value kinds and their defaults come
from lab/flags.cc through the compiled module (`flags_help`, `defaults`), and validation is
`canonical` (ParseFlags + Validate + ToArgv). A Python field name is the flag name with '-'
turned into '_' (`--server-profile` -> `server_profile`).
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from tlslab._core import core

# A help line: "  --name VALUE   help text [default]" (VALUE absent for a switch); wrapped
# help text continues on lines that start with spaces only.
_HELP_LINE = re.compile(
    r"^\s+--(?P<name>[a-z0-9-]+)(?: (?P<value>[A-Z:]+|on\|off))?(?:\s+(?P<help>.*))?$"
)
_CONTINUATION = re.compile(r"^\s{8,}\S")
_DEFAULT_SUFFIX = re.compile(r"\s*\[[^\]]*\]$")
_CPP_FLAG_IN_MESSAGE = re.compile(r"--([a-z0-9-]+)")


@dataclass(frozen=True)
class Flag:
    """One flag of a command, as the core describes it."""

    name: str  # flag name, e.g. "server-profile"
    value: str  # value kind: "N", "D", "on|off", "NAME", "FILE", ... ; "" for a switch
    help: str  # the help line, without the "[default]" suffix
    default: str | bool | None  # default text; True/False for a switch; None = unset

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")

    @property
    def optional(self) -> bool:
        """Unset by default (the core then derives the value, e.g. from a profile)."""
        return self.default is None

    def to_python(self, text: str | bool | None) -> Any:
        """Flag text (as in a canonical argv or a JSON "config" map) -> Python value."""
        if self.value == "":
            return bool(text)
        if text is None:
            return None
        if self.value == "N":
            return int(text)
        if self.value == "on|off":
            return text in ("on", True)
        return str(text)

    def to_text(self, value: Any) -> str:
        """A Python value -> flag text; ValueError naming the field for a wrong type."""
        kind = self.value
        if kind == "N":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return str(int(value))
                if isinstance(value, str):
                    return value  # the core parses it and names the flag when it is bad
                raise _type_error(self.field, value, "a whole number")
            return str(value)
        if kind == "D":
            return duration_text(value, self.field)
        if kind == "on|off":
            if isinstance(value, bool):
                return "on" if value else "off"
            if isinstance(value, str):
                return value
            raise _type_error(self.field, value, "True or False")
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise _type_error(self.field, value, "a string")


def _type_error(field: str, value: Any, want: str) -> ConfigError:
    return ConfigError(f"{field}={value!r}: expected {want}, got {type(value).__name__}", [field])


def duration_text(value: Any, field: str = "duration") -> str:
    """A duration as flag text. Strings pass as they are ("2s", "500ms", "1m"; a bare number
    in a string is milliseconds, as in HAProxy's `inter 2000`); an int or float is seconds; a
    datetime.timedelta is itself. Sub-millisecond values are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ms = value * 1000
        if not math.isfinite(ms) or abs(ms - round(ms)) > 1e-6:
            raise ConfigError(
                f"{field}={value!r}: a duration in seconds must be a whole "
                "number of milliseconds",
                [field],
            )
        return f"{int(round(ms))}ms"
    raise _type_error(
        field, value, 'a duration: "2s", "500ms", seconds as a number, or a ' "timedelta"
    )


@functools.lru_cache(maxsize=None)
def flags(command: str) -> dict[str, Flag]:
    """Field name -> Flag, in the order of `tlslab COMMAND --help`."""
    defaults = core.defaults(command)
    entries: list[list[str]] = []  # [name, value kind, help text]
    for line in core.flags_help(command).splitlines():
        m = _HELP_LINE.match(line)
        if m:
            entries.append([m["name"], m["value"] or "", m["help"] or ""])
        elif entries and _CONTINUATION.match(line):
            entries[-1][2] += " " + line.strip()  # a wrapped help line
    out: dict[str, Flag] = {}
    for name, value, help_text in entries:
        default: str | bool | None = defaults.get(name)
        if value == "":
            default = bool(default)
        out[name.replace("-", "_")] = Flag(
            name, value, _DEFAULT_SUFFIX.sub("", " ".join(help_text.split())), default
        )
    return out


class ConfigError(ValueError):
    """A bad configuration value. `fields` names the Python fields at fault."""

    def __init__(self, message: str, fields: Iterable[str] = ()):
        super().__init__(message)
        self.fields = tuple(fields)

    @property
    def field(self) -> str | None:
        return self.fields[0] if self.fields else None


def canonical(command: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validates `values` (field -> Python value; None = default) as flags of `command` and
    returns every field's canonical Python value. Raises ConfigError naming the field(s)."""
    spec = flags(command)
    argv_by_field: dict[str, list[str]] = {}
    for field, value in values.items():
        if field not in spec:
            known = ", ".join(spec)
            raise ConfigError(f"unknown field {field!r}; known fields: {known}", [field])
        if value is None:
            continue
        flag = spec[field]
        if flag.value == "":
            argv_by_field[field] = [f"--{flag.name}"] if value else []
        else:
            argv_by_field[field] = [f"--{flag.name}", flag.to_text(value)]
    argv = [a for args in argv_by_field.values() for a in args]
    try:
        canon = core.canonical(command, argv)
    except core.UsageError as e:
        raise _attribute(command, argv_by_field, values, str(e)) from None
    return parse_argv(command, canon)


def _attribute(
    command: str, argv_by_field: Mapping[str, list[str]], values: Mapping[str, Any], message: str
) -> ConfigError:
    """Names the field a core error is about: the one that fails on its own, else the fields
    whose flags the message mentions (a rule between fields, such as cert with key_file)."""
    culprits = []
    for field, args in argv_by_field.items():
        try:
            core.canonical(command, args)
        except core.UsageError:
            culprits.append(field)
    if culprits:
        field = culprits[0]
        return ConfigError(f"{field}={values[field]!r}: {message}", [field])
    spec = flags(command)
    mentioned = [m.replace("-", "_") for m in _CPP_FLAG_IN_MESSAGE.findall(message)]
    named = [f for f in mentioned if f in spec] or list(argv_by_field)
    return ConfigError(f"{', '.join(named)}: {message}", named)


def parse_argv(command: str, argv: list[str]) -> dict[str, Any]:
    """A canonical argv -> field -> Python value for every flag of `command` (None or False
    for what the argv leaves out)."""
    spec = flags(command)
    by_name = {f.name: f for f in spec.values()}
    out: dict[str, Any] = {f.field: (False if f.value == "" else None) for f in spec.values()}
    i = 0
    while i < len(argv):
        flag = by_name[argv[i][2:]]
        if flag.value == "":
            out[flag.field] = True
            i += 1
        else:
            out[flag.field] = flag.to_python(argv[i + 1])
            i += 2
    return out


def from_json_config(command: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The "config" object of a JSON document (flag name -> text) -> field -> Python value."""
    spec = flags(command)
    by_name = {f.name: f for f in spec.values()}
    out: dict[str, Any] = {f.field: (False if f.value == "" else None) for f in spec.values()}
    for name, text in config.items():
        if name in by_name:
            out[by_name[name].field] = by_name[name].to_python(text)
    return out


def to_argv(command: str, values: Mapping[str, Any]) -> list[str]:
    """Canonical Python values -> argv (unset optional flags and switches that are off are
    left out)."""
    spec = flags(command)
    argv: list[str] = []
    for field, value in values.items():
        flag = spec[field]
        if flag.value == "":
            if value:
                argv.append(f"--{flag.name}")
        elif value is not None:
            argv += [f"--{flag.name}", flag.to_text(value)]
    return argv
