"""What `tlslab gate` measures: one figure of a `tlslab run` (or `tlslab.simulate`, when this
tlslab has it), and the repetitions of a Google Benchmark (`tlslab_bench` or the user's own),
each by its JSON key. Only the package's public API is used (tlslab.run, tlslab.Config,
tlslab.probe, tlslab.Server); a figure is read from the run's JSON document by key
(docs/design.md 8), so a figure added to the core is gateable without a change here."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
from pathlib import Path
from typing import Any

import tlslab
from tlslab._gate_file import Gate, GateFileError

# A benchmark command gets this long before it is stopped.
_BENCH_TIMEOUT_S = 600.0
# real_time and cpu_time are in each benchmark's time_unit (Google Benchmark's
# src/json_reporter.cc); a benchmark reference reads them in microseconds, so that benchmarks of
# different units add up.
_US_PER_UNIT = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def check_run_fields(gate: Gate, fields: dict[str, Any], where: str) -> None:
    """Validates run fields with the core (tlslab.Config) before anything runs: exit 2 early."""
    try:
        tlslab.Config(**fields)
    except (TypeError, ValueError) as e:
        raise GateFileError(f"gate '{gate.name}': [{where}]: {e}") from None


def run_command_line(fields: dict[str, Any]) -> str:
    """The `tlslab run` command line that reproduces a run of these fields."""
    argv = tlslab.Config(**fields).to_argv()
    return shlex.join(["tlslab", "run", *argv, "--json"])


def _lookup(doc: Any, key: str) -> Any:
    value = doc
    for part in key.split("."):  # latency_ms.p99: a figure inside an object
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def figure_of(gate: Gate, doc: dict[str, Any]) -> float:
    """The gate's figure in a run's JSON document; GateFileError (exit 2) when the document has
    no such figure, because that is a typo in the gates file, not a failure of the service."""
    figures = doc.get("figures", doc)
    value = _lookup(figures, gate.figure)
    if value is None and _lookup(figures, gate.figure.split(".")[0]) is None:
        known = sorted(k for k, v in figures.items() if isinstance(v, (int, float)))
        raise GateFileError(f"gate '{gate.name}': unknown figure '{gate.figure}' (the run's "
                            f"figures: {', '.join(known)})")
    if value is None:
        return math.nan  # a figure the run could not compute (no checks in the window)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GateFileError(f"gate '{gate.name}': figure '{gate.figure}' is not a number "
                            f"(use a key inside it, e.g. latency_ms.p99)")
    return float(value)


def measure(gate: Gate, fields: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Runs the gate's source once with these fields; (figure, JSON document)."""
    try:
        if gate.source == "simulate":
            simulate = getattr(tlslab, "simulate", None)
            if simulate is None:
                raise GateFileError(f"gate '{gate.name}': this tlslab has no tlslab.simulate; "
                                    "use [gate.run]")
            result = simulate(**fields)
            doc = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        else:
            # A separate `tlslab run` process: the CPU figures cannot include this interpreter.
            doc = tlslab.run(isolate=True, **fields).to_dict()
    except GateFileError:
        raise
    except (TypeError, ValueError) as e:  # a field the core refuses: bad input, exit 2
        raise GateFileError(f"gate '{gate.name}': [gate.{gate.source}]: {e}") from None
    return figure_of(gate, doc), doc


def _bench_argv(command: list[str], tlslab_dir: Path, repetitions: int) -> list[str]:
    """A benchmark command with $TLSLAB_DIR (the directory of the tlslab command, where the
    build puts tlslab_bench) substituted, JSON output and the repetitions added, and the
    repetitions of all benchmarks interleaved at random unless the command says otherwise:
    the reference and the candidate then share the machine's load drift (random_interleaving.md
    in Google Benchmark's documentation reports the variance this removes)."""
    argv = [a.replace("$TLSLAB_DIR", str(tlslab_dir)) for a in command]
    if not any(a.startswith("--benchmark_format") for a in argv):
        argv.append("--benchmark_format=json")
    if not any(a.startswith("--benchmark_repetitions") for a in argv):
        argv.append(f"--benchmark_repetitions={repetitions}")
    if repetitions > 1 and not any(
            a.startswith("--benchmark_enable_random_interleaving") for a in argv):
        argv.append("--benchmark_enable_random_interleaving=true")
    return argv


def bench_command(gate: Gate, tlslab_dir: Path) -> list[str]:
    """The command of a [gate.benchmark], with the gate's repetitions (_bench_argv)."""
    return _bench_argv(gate.config["command"], tlslab_dir, gate.repetitions)


def reference_command(gate: Gate, tlslab_dir: Path) -> list[str]:
    """The command of a benchmark [gate.reference]: one repetition, measured after each run."""
    assert gate.reference is not None
    return _bench_argv(gate.reference["command"], tlslab_dir, 1)


def _run_bench(gate: Gate, argv: list[str]) -> dict[str, Any]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_BENCH_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GateFileError(f"gate '{gate.name}': benchmark command not found: {argv[0]}"
                            ) from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`{shlex.join(argv)}` did not finish in {_BENCH_TIMEOUT_S:.0f} s"
                           ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"`{shlex.join(argv)}` exited with {done.returncode}: {last}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise RuntimeError(f"`{shlex.join(argv)}` printed no JSON") from None


def _bench_doc(gate: Gate, tlslab_dir: Path, gates_dir: Path) -> tuple[dict[str, Any], str]:
    table = gate.config
    if "file" in table:
        path = gates_dir / table["file"]
        try:
            return json.loads(path.read_text()), str(path)
        except FileNotFoundError:
            raise GateFileError(f"gate '{gate.name}': no such benchmark file {path}") from None
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise GateFileError(f"gate '{gate.name}': {path}: not Google Benchmark JSON "
                                f"({type(e).__name__})") from None
    argv = bench_command(gate, tlslab_dir)
    return _run_bench(gate, argv), shlex.join(argv)


def _bench_values(gate: Gate, doc: dict[str, Any], name: str, origin: str,
                  figure: str | None = None, in_us: bool = False) -> list[float]:
    entries = doc.get("benchmarks") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise GateFileError(f"gate '{gate.name}': {origin}: no \"benchmarks\" list")
    # The repetitions themselves, not the _mean/_median/_stddev aggregates (run_type
    # "aggregate"; Google Benchmark's src/json_reporter.cc). Old files have no run_name.
    runs = [b for b in entries if isinstance(b, dict)
            and b.get("run_name", b.get("name")) == name
            and b.get("run_type", "iteration") == "iteration"]
    if not runs:
        names = sorted({b.get("run_name", b.get("name", "?")) for b in entries
                        if isinstance(b, dict)})
        raise GateFileError(f"gate '{gate.name}': {origin}: no benchmark named '{name}' (it "
                            f"has: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''})")
    failed = [b.get("error_message", "") for b in runs if b.get("error_occurred")]
    if failed:
        raise RuntimeError(f"benchmark '{name}' failed: {failed[0]}")
    figure = figure or gate.figure
    values = []
    for b in runs:
        value = b.get(figure)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GateFileError(f"gate '{gate.name}': benchmark '{name}' has no numeric "
                                f"'{figure}' (real_time, cpu_time or a counter)")
        if in_us and figure in ("real_time", "cpu_time"):  # else the benchmark's time_unit
            value *= _US_PER_UNIT.get(b.get("time_unit", "ns"), math.nan)
        values.append(float(value))
    return values


def bench_repetitions(gate: Gate, tlslab_dir: Path, gates_dir: Path) -> tuple[list[float], str]:
    """The benchmark's repetitions of the figure, each divided by the same repetition of the
    reference benchmark when there is one; and where they came from (command or file)."""
    doc, origin = _bench_doc(gate, tlslab_dir, gates_dir)
    values = _bench_values(gate, doc, gate.config["name"], origin)
    reference = gate.config.get("reference")
    if reference:
        ref = _bench_values(gate, doc, reference, origin)
        if len(ref) != len(values):
            raise RuntimeError(f"'{gate.config['name']}' has {len(values)} repetitions but "
                               f"'{reference}' has {len(ref)}")
        values = [v / r if r else math.nan for v, r in zip(values, ref)]
    return values, origin


def reference_benchmark(gate: Gate, tlslab_dir: Path) -> float:
    """One measurement of a benchmark [gate.reference]: the median over the command's
    repetitions (one unless the command asks for more) of each named benchmark's figure, added
    up over the names."""
    assert gate.reference is not None
    argv = reference_command(gate, tlslab_dir)
    doc = _run_bench(gate, argv)
    total = 0.0
    for name in gate.reference["name"]:
        values = sorted(_bench_values(gate, doc, name, "[gate.reference]",
                                      gate.reference["figure"], in_us=True))
        mid = len(values) // 2
        total += values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return total


__all__ = ["check_run_fields", "run_command_line", "figure_of", "measure", "bench_command",
           "reference_command", "bench_repetitions", "reference_benchmark"]
