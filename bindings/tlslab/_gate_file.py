"""The gates file of `tlslab gate` (TOML, read with Python 3.11's tomllib): servers to start and
gates to check, validated before anything runs, so that a typo fails in a second with one line
naming the gate and the key, not after minutes of measurements (a figure name is checked against
the first run's JSON document, since the core's figures are not listed anywhere else). The format is
documented in docs/ci-gating.md ("The gates file")."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("behaviour", "figure", "regression")
OPS = ("<", "<=", ">", ">=")
# probe verdicts besides the server profile names (clients/probe_verdict.cc ValidateExpectation).
VERDICTS = ("strict", "lenient", "no-resumption")
_SERVER_REF = re.compile(r"^\$server\.([A-Za-z0-9_-]+)$")
_BOUND = re.compile(r"^\s*(<=|>=|<|>)\s*(\S+)\s*$")
_SERVER_KEYS = {"name", "profile", "backends", "tls", "tickets", "session_cache", "key",
                "threads"}
_COMMON = {"name", "kind", "why"}
_GATE_KEYS = {
    "behaviour": _COMMON | {"target", "expect", "probe"},
    "figure": _COMMON | {"figure", "bound", "run", "simulate"},
    "regression": _COMMON | {"figure", "run", "simulate", "reference", "benchmark",
                             "repetitions", "tolerance", "alpha", "better"},
}
_BENCH_KEYS = {"command", "file", "name", "reference"}
# [gate.reference] of a run or simulate gate with kind = "benchmark": a benchmark measured after
# each repetition of the run (docs/ci-gating.md 1.3, "A benchmark as the reference").
_REF_BENCH_KEYS = {"kind", "command", "name", "figure"}


class GateFileError(ValueError):
    """A gates file that cannot be used: one line, naming the file and what is wrong."""


@dataclass(frozen=True)
class ServerSpec:
    name: str
    fields: dict[str, Any]  # tlslab.Server keyword arguments


@dataclass(frozen=True)
class Gate:
    name: str
    kind: str
    why: str
    # behaviour
    target: str = ""
    expect: str = ""
    probe: dict[str, Any] = field(default_factory=dict)
    # figure and regression
    figure: str = ""
    op: str = ""
    bound: float = math.nan
    source: str = ""  # "run", "simulate" or "benchmark"
    config: dict[str, Any] = field(default_factory=dict)  # run/simulate fields; benchmark table
    # run/simulate fields of the reference, or, with "kind": "benchmark", the benchmark table
    # (command, name: a list of names whose figures add up, figure)
    reference: dict[str, Any] | None = None
    repetitions: int = 5
    tolerance: float = 0.1
    alpha: float = 0.05
    better: str = "lower"


@dataclass(frozen=True)
class GatesFile:
    path: Path
    servers: list[ServerSpec]
    gates: list[Gate]
    baseline: Path | None  # the file's own `baseline = "..."`, relative to the gates file


def _fail(path: Path, where: str, message: str) -> GateFileError:
    return GateFileError(f"{path}: {where}: {message}" if where else f"{path}: {message}")


def _table(path: Path, where: str, value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, where, f"'{key}' must be a table, got {type(value).__name__}")
    return value


def _number(path: Path, where: str, raw: dict[str, Any], key: str, default: float,
            low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(path, where, f"'{key}' must be a number from {low} to {high}, got {value!r}")
    return value


def _parse_server(path: Path, index: int, raw: Any) -> ServerSpec:
    where = f"[[server]] #{index + 1}"
    raw = _table(path, where, raw, "server")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise _fail(path, where, "needs a 'name' of letters, digits, '-' or '_'")
    unknown = sorted(set(raw) - _SERVER_KEYS)
    if unknown:
        raise _fail(path, f"server '{name}'", f"unknown key '{unknown[0]}' (known: "
                    f"{', '.join(sorted(_SERVER_KEYS))})")
    return ServerSpec(name, {k: v for k, v in raw.items() if k != "name"})


def _parse_bound(path: Path, where: str, raw: dict[str, Any]) -> tuple[str, float]:
    bound = raw.get("bound")
    match = _BOUND.match(bound) if isinstance(bound, str) else None
    if not match:
        raise _fail(path, where, f"'bound' must be text such as \"< 1\" or \">= 0.99\" (one of "
                    f"{' '.join(OPS)} and a number), got {bound!r}")
    try:
        value = float(match.group(2))
    except ValueError:
        raise _fail(path, where, f"'bound': {match.group(2)!r} is not a number") from None
    if math.isnan(value):
        raise _fail(path, where, "'bound' is NaN")
    return match.group(1), value


def _parse_source(path: Path, where: str, raw: dict[str, Any], kind: str) -> tuple[str, dict]:
    sources = [k for k in ("run", "simulate", "benchmark") if k in raw]
    allowed = ("run", "simulate", "benchmark") if kind == "regression" else ("run", "simulate")
    if len(sources) != 1 or sources[0] not in allowed:
        raise _fail(path, where, f"a {kind} gate needs exactly one of "
                    f"{', '.join('[gate.' + a + ']' for a in allowed)}")
    source = sources[0]
    table = _table(path, where, raw[source], source)
    if source == "benchmark":
        unknown = sorted(set(table) - _BENCH_KEYS)
        if unknown:
            raise _fail(path, where, f"[gate.benchmark]: unknown key '{unknown[0]}' (known: "
                        f"{', '.join(sorted(_BENCH_KEYS))})")
        if ("command" in table) == ("file" in table):
            raise _fail(path, where, "[gate.benchmark] needs exactly one of 'command' (a list "
                        "of arguments) or 'file' (a Google Benchmark JSON file)")
        command = table.get("command")
        if command is not None and (not isinstance(command, list) or not command or not all(
                isinstance(a, str) for a in command)):
            raise _fail(path, where, "[gate.benchmark] 'command' must be a list of strings")
        if not isinstance(table.get("name"), str):
            raise _fail(path, where, "[gate.benchmark] needs 'name', the benchmark's name")
        if "reference" in table and not isinstance(table["reference"], str):
            raise _fail(path, where, "[gate.benchmark] 'reference' must be a benchmark name")
    return source, table


def _parse_reference(path: Path, where: str, table: dict[str, Any], source: str) -> dict:
    """[gate.reference]: by default a second run (or simulation) of the gate's source; with
    kind = "benchmark", a Google Benchmark command whose named benchmarks' figure, added up, is
    the denominator (a check is a handshake plus its close_notify, two benchmarks)."""
    kind = table.get("kind", source)
    if kind == source:
        return {k: v for k, v in table.items() if k != "kind"}
    if kind != "benchmark":
        raise _fail(path, where, f"[gate.reference] 'kind' must be \"{source}\" (the default) "
                    f"or \"benchmark\", got {kind!r}")
    unknown = sorted(set(table) - _REF_BENCH_KEYS)
    if unknown:
        raise _fail(path, where, f"[gate.reference]: unknown key '{unknown[0]}' for a benchmark "
                    f"reference (known: {', '.join(sorted(_REF_BENCH_KEYS))})")
    command = table.get("command")
    if not isinstance(command, list) or not command or not all(
            isinstance(a, str) for a in command):
        raise _fail(path, where, "[gate.reference] 'command' must be a list of strings (the "
                    "benchmark command, measured after each repetition)")
    names = table.get("name")
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and n for n in names):
        raise _fail(path, where, "[gate.reference] needs 'name': a benchmark's name, or a list "
                    "of names whose figures add up")
    figure = table.get("figure", "cpu_time")
    if not isinstance(figure, str) or not figure:
        raise _fail(path, where, "[gate.reference] 'figure' must be a benchmark field "
                    "(cpu_time, real_time or a counter)")
    return {"kind": "benchmark", "command": command, "name": names, "figure": figure}


def is_benchmark_reference(gate: Gate) -> bool:
    """Whether the gate's reference is a benchmark rather than a second run."""
    return gate.reference is not None and gate.reference.get("kind") == "benchmark"


def _parse_gate(path: Path, index: int, raw: Any) -> Gate:
    where = f"[[gate]] #{index + 1}"
    raw = _table(path, where, raw, "gate")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, where, "needs a 'name'")
    where = f"gate '{name}'"
    kind = raw.get("kind")
    if kind == "behavior":  # both spellings
        kind = "behaviour"
    if kind not in KINDS:
        raise _fail(path, where, f"unknown gate kind {kind!r}; expected one of {', '.join(KINDS)}")
    unknown = sorted(set(raw) - _GATE_KEYS[kind])
    if unknown:
        raise _fail(path, where, f"unknown key '{unknown[0]}' for a {kind} gate (known: "
                    f"{', '.join(sorted(_GATE_KEYS[kind]))})")
    why = raw.get("why", "")
    if not isinstance(why, str):
        raise _fail(path, where, "'why' must be text")
    if kind == "behaviour":
        target, expect = raw.get("target"), raw.get("expect")
        if not isinstance(target, str) or not target:
            raise _fail(path, where, "needs a 'target': HOST:PORT or $server.NAME")
        if not isinstance(expect, str) or not expect:
            raise _fail(path, where, "needs 'expect': strict, lenient, no-resumption or a "
                        "server profile")
        probe = _table(path, where, raw.get("probe", {}), "probe")
        return Gate(name, kind, why, target=target, expect=expect, probe=probe)
    figure = raw.get("figure")
    source, config = _parse_source(path, where, raw, kind)
    if source == "benchmark":
        figure = figure or "cpu_time"
    if not isinstance(figure, str) or not figure:
        raise _fail(path, where, "needs a 'figure', a key of the run's JSON \"figures\" object "
                    "(e.g. key_rate_per_s)")
    if kind == "figure":
        op, bound = _parse_bound(path, where, raw)
        return Gate(name, kind, why, figure=figure, op=op, bound=bound, source=source,
                    config=config)
    reference = raw.get("reference")
    if reference is not None:
        if source == "benchmark":
            raise _fail(path, where, "a benchmark gate names its reference in [gate.benchmark]")
        reference = _parse_reference(path, where, _table(path, where, reference, "reference"),
                                     source)
    repetitions = _number(path, where, raw, "repetitions", 5, 2, 100)
    if not isinstance(repetitions, int):
        raise _fail(path, where, f"'repetitions' must be a whole number, got {repetitions!r}")
    better = raw.get("better", "lower")
    if better not in ("lower", "higher"):
        raise _fail(path, where, f"'better' must be \"lower\" or \"higher\", got {better!r}")
    return Gate(name, kind, why, figure=figure, source=source, config=config,
                reference=reference, repetitions=repetitions,
                tolerance=_number(path, where, raw, "tolerance", 0.1, 0.0, 100.0),
                alpha=_number(path, where, raw, "alpha", 0.05, 1e-9, 0.5), better=better)


def load(path: str | Path) -> GatesFile:
    """Reads and validates a gates file; GateFileError (one line) for anything wrong with it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise GateFileError(f"{path}: no such gates file") from None
    except IsADirectoryError:
        raise GateFileError(f"{path}: is a directory, not a gates file") from None
    except OSError as e:
        raise GateFileError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise GateFileError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise GateFileError(f"{path}: not valid TOML: not UTF-8 text") from None
    unknown = sorted(set(doc) - {"server", "gate", "baseline"})
    if unknown:
        raise _fail(path, "", f"unknown top-level key '{unknown[0]}' (known: baseline, "
                    "[[server]], [[gate]])")
    servers_raw, gates_raw = doc.get("server", []), doc.get("gate", [])
    if not isinstance(servers_raw, list) or not isinstance(gates_raw, list):
        raise _fail(path, "", "'server' and 'gate' must be arrays of tables ([[server]], [[gate]])")
    servers = [_parse_server(path, i, s) for i, s in enumerate(servers_raw)]
    gates = [_parse_gate(path, i, g) for i, g in enumerate(gates_raw)]
    if not gates:
        raise _fail(path, "", "declares no [[gate]]")
    for names, what in (([s.name for s in servers], "server"), ([g.name for g in gates], "gate")):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _fail(path, "", f"two {what}s are named '{dupes[0]}'")
    known = {s.name for s in servers}
    for g in gates:
        ref = _SERVER_REF.match(g.target) if g.kind == "behaviour" else None
        if g.kind == "behaviour" and g.target.startswith("$") and not ref:
            raise _fail(path, f"gate '{g.name}'", f"target {g.target!r}: write $server.NAME")
        if ref and ref.group(1) not in known:
            raise _fail(path, f"gate '{g.name}'", f"target {g.target}: no [[server]] named "
                        f"'{ref.group(1)}'")
    baseline = doc.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise _fail(path, "", "'baseline' must be a path (text)")
    return GatesFile(path, servers, gates, path.parent / baseline if baseline else None)


def server_ref(target: str) -> str | None:
    """The server name of a `$server.NAME` target, else None."""
    match = _SERVER_REF.match(target)
    return match.group(1) if match else None


__all__ = ["GateFileError", "Gate", "GatesFile", "ServerSpec", "load", "server_ref",
           "is_benchmark_reference", "KINDS", "VERDICTS"]
