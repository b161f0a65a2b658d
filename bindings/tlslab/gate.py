"""`tlslab gate FILE`: the CI gates a team declares in its own repository (docs/ci-gating.md).

    tlslab gate FILE [--baseline B.json] [--save-baseline B.json [--force|--append]]
                     [--junit out.xml]
                     [--markdown out.md] [--only NAME ...]

Three kinds of gate: behaviour (probe a target, expect strict, lenient or a profile), figure (a
figure of a run against a bound) and regression (a figure, or a Google Benchmark's repetitions,
against a stored baseline by a Mann-Whitney U test; tlslab._gate_stats). Exit status 0 when all
pass, 1 when a gate fails (or cannot measure), 2 for bad input (one line on stderr). Progress
goes to stderr; the reports to the files asked for. `tlslab gate` runs this module
(app/gate_command.cc); `python3 -m tlslab.gate` does the same.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import operator
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import tlslab
from tlslab import _gate_file, _gate_measure, _gate_report
from tlslab._gate_file import Gate, GateFileError, GatesFile
from tlslab._gate_report import Outcome
from tlslab._gate_stats import compare, median, smallest_p


@dataclass
class _Context:
    """What every gate's check needs besides the gate."""

    gf: GatesFile
    baseline_arg: str | None  # --baseline as given, for the reproducing command lines
    baseline: dict[str, Any] | None
    servers: dict[str, Any]
    tlslab_dir: Path  # where the tlslab command (and tlslab_bench next to it) is

    def rerun(self, g: Gate) -> str:
        """The `tlslab gate` command line that checks this gate alone."""
        args = ["tlslab", "gate", str(self.gf.path)]
        if g.kind == "regression" and self.baseline_arg:
            args += ["--baseline", self.baseline_arg]
        return shlex.join(args + ["--only", g.name])


OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
BASELINE_FORMAT = 1
EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise GateFileError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tlslab gate", description="Check the gates a gates file declares.")
    p.add_argument("file", help="the gates file (TOML; docs/ci-gating.md)")
    p.add_argument("--baseline", help="baseline JSON for regression gates (default: the "
                   "file's own `baseline = ...`)")
    p.add_argument("--save-baseline", metavar="B.json",
                   help="save this run's regression measurements as a new baseline")
    p.add_argument("--force", action="store_true", help="let --save-baseline replace a file")
    p.add_argument("--append", action="store_true", help="--save-baseline adds this run's "
                   "repetitions to the file's (a baseline pooled over several invocations)")
    p.add_argument("--junit", metavar="OUT.xml", help="write a JUnit XML report")
    p.add_argument("--markdown", metavar="OUT.md", help="write a Markdown summary (e.g. "
                   "$GITHUB_STEP_SUMMARY)")
    p.add_argument("--only", action="append", metavar="NAME", help="check only this gate "
                   "(repeatable)")
    return p


def _progress(message: str) -> None:
    print(f"tlslab gate: {message}", file=sys.stderr, flush=True)


def _writable(flag: str, path: str | None) -> None:
    if path is not None and not Path(path).resolve().parent.is_dir():
        raise GateFileError(f"{flag}: no directory for {path}")


def _load_baseline(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise GateFileError(f"--baseline: no such file {path}") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise GateFileError(f"--baseline: {path} is not a baseline ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("gates"), dict):
        raise GateFileError(f"--baseline: {path} is not a baseline of tlslab gate (no \"gates\")")
    for name, entry in doc["gates"].items():
        values = entry.get("values") if isinstance(entry, dict) else None
        if not isinstance(values, list) or not values or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise GateFileError(f"--baseline: {path}: the entry of gate '{name}' has no list of "
                                "numbers \"values\"")
    return doc["gates"]


def _baseline_key(gate: Gate) -> dict[str, Any]:
    """What a baseline entry must agree on with its gate to be comparable: the same figure of
    the same source, as a ratio or not. A changed run configuration is allowed (with a note on
    stderr): a slower configuration is one of the regressions a gate is for."""
    if gate.source == "benchmark":
        what = {"benchmark": gate.config["name"], "reference": gate.config.get("reference")}
    else:
        what = {"ratio": gate.reference is not None}
        if _gate_file.is_benchmark_reference(gate):
            assert gate.reference is not None
            what["reference"] = {"benchmark": gate.reference["name"],
                                 "figure": gate.reference["figure"]}
    return {"figure": gate.figure, "source": gate.source, **what}


def _validate(gf: GatesFile, baseline: dict[str, Any] | None, saving: bool) -> None:
    """Everything that can be checked before measuring: a bad gates file fails in a second."""
    server_profiles = set(tlslab.profile_names("server"))
    for g in gf.gates:
        if g.kind == "behaviour" and g.expect not in _gate_file.VERDICTS + tuple(server_profiles):
            raise GateFileError(f"gate '{g.name}': expect '{g.expect}' is not strict, lenient, "
                                "no-resumption or a server profile (tlslab profiles)")
        if g.source == "run":
            _gate_measure.check_run_fields(g, g.config, "gate.run")
            if g.reference is not None and not _gate_file.is_benchmark_reference(g):
                _gate_measure.check_run_fields(g, g.reference, "gate.reference")
        if g.kind != "regression":
            continue
        if baseline is None:
            if not saving:
                raise GateFileError(f"gate '{g.name}' is a regression gate: give --baseline "
                                    "B.json (or `baseline = ...` in the file), or make one "
                                    "with --save-baseline B.json")
            continue
        entry = baseline.get(g.name)
        if entry is None and not saving:
            raise GateFileError(f"gate '{g.name}': the baseline has no entry for it; make one "
                                "with --save-baseline")
        if entry is not None and entry.get("key") != _baseline_key(g) and not saving:
            raise GateFileError(f"gate '{g.name}': the baseline measured something else "
                                "(figure, source or benchmark changed); save a new one "
                                "with --save-baseline")
        if entry is not None and g.source != "benchmark" and entry.get("config") != g.config:
            _progress(f"note: gate '{g.name}': the run configuration differs from the "
                      "baseline's")
        if entry is not None and smallest_p(len(entry["values"]), g.repetitions) >= g.alpha:
            raise GateFileError(f"gate '{g.name}': {len(entry['values'])} baseline and "
                                f"{g.repetitions} current repetitions can never reach p < "
                                f"{g.alpha}; use more repetitions")


def _start_servers(gf: GatesFile, stack: contextlib.ExitStack) -> dict[str, Any]:
    wanted = {_gate_file.server_ref(g.target) for g in gf.gates if g.kind == "behaviour"}
    servers = {}
    for spec in gf.servers:
        if spec.name not in wanted:
            continue
        try:
            servers[spec.name] = stack.enter_context(tlslab.Server(**spec.fields))
        except (TypeError, ValueError) as e:
            raise GateFileError(f"server '{spec.name}': {e}") from None
        _progress(f"server '{spec.name}' ({spec.fields.get('profile', 'default profile')}) "
                  f"listening on {', '.join(servers[spec.name].targets[:3])}")
    return servers


def _serve_command(gf: GatesFile, name: str) -> str:
    spec = next(s for s in gf.servers if s.name == name)
    args = ["tlslab", "serve", "--duration", "0", "--ports-file", "ports.txt"]
    for key, value in spec.fields.items():
        flag = "--" + key.replace("_", "-")
        args += [flag, ("on" if value else "off") if isinstance(value, bool) else str(value)]
    return shlex.join(args) + " &"


def _behaviour(g: Gate, ctx: _Context) -> Outcome:
    name = _gate_file.server_ref(g.target)
    target = ctx.servers[name].targets[0] if name else g.target
    flags = {k: v for k, v in g.probe.items() if k != "expect"}
    try:
        doc = tlslab.probe(target, expect=g.expect, **flags)
    except ValueError as e:  # tlslab probe's exit 2: a bad flag in [gate.probe]
        raise GateFileError(f"gate '{g.name}': [gate.probe]: {e}") from None
    verdict = doc.get("verdict", {})
    met = (doc.get("expect") or {}).get("met")
    probe_args = ["tlslab", "probe", target if not name else "$(head -n1 ports.txt)",
                  "--expect", g.expect]
    for k, v in flags.items():
        flag = f"--{k.replace('_', '-')}"
        probe_args += [flag, str(v)] if v is not True else [flag]
    probe_line = shlex.join(probe_args).replace("'$(head -n1 ports.txt)'",
                                                "$(head -n1 ports.txt)")
    serve = [_serve_command(ctx.gf, name), "sleep 1"] if name else []
    reproduce = [ctx.rerun(g), *serve, probe_line]
    return Outcome(
        g, bool(met), f"verdict {verdict.get('kind', '?')}: {verdict.get('line', '')}",
        g.expect, (doc.get("expect") or {}).get("reason") or doc.get("failure", ""),
        reproduce, [f"target {target}" + (f" (server '{name}')" if name else ""),
                    f"closest profiles: {', '.join(doc.get('closest_profiles', []))}"])


def _run_detail(doc: dict[str, Any]) -> list[str]:
    fig = doc.get("figures", {})
    keys = ("checks_total", "check_failures_total", "full_handshakes_total",
            "resumed_handshakes_total", "close_kinds", "sessions_removed_total")
    return [f"{k}: {json.dumps(fig[k])}" for k in keys if k in fig]


def _figure(g: Gate, ctx: _Context) -> Outcome:
    value, doc = _gate_measure.measure(g, g.config)
    passed = not math.isnan(value) and OPS[g.op](value, g.bound)
    reproduce = [ctx.rerun(g)]
    if g.source == "run":
        reproduce.append(_gate_measure.run_command_line(g.config))
    reason = ("the run could not compute it" if math.isnan(value)
              else f"{value:.4g} {'is' if passed else 'is not'} {g.op} {g.bound:g}")
    return Outcome(g, passed, f"{g.figure} = {value:.4g}", f"{g.op} {g.bound:g}", reason,
                   reproduce, _run_detail(doc))


def _repetitions(g: Gate, ctx: _Context) -> tuple[list[float], list[tuple[float, float]]]:
    """A run (or simulate) gate's repetitions: the figure, or its ratio to the reference
    measured right after it (a second run, or a benchmark); and the (figure, reference) pairs."""
    values, pairs = [], []
    for i in range(g.repetitions):
        _progress(f"  '{g.name}': repetition {i + 1}/{g.repetitions}")
        v, _ = _gate_measure.measure(g, g.config)
        if g.reference is None:
            values.append(v)
            continue
        if _gate_file.is_benchmark_reference(g):
            r = _gate_measure.reference_benchmark(g, ctx.tlslab_dir)
        else:
            r, _ = _gate_measure.measure(g, g.reference)
        pairs.append((v, r))
        values.append(v / r if r else math.nan)
    return values, pairs


def _regression(g: Gate, ctx: _Context) -> Outcome:
    reproduce, detail = [ctx.rerun(g)], []
    if g.source == "benchmark":
        values, origin = _gate_measure.bench_repetitions(g, ctx.tlslab_dir, ctx.gf.path.parent)
        reproduce.append(origin if "file" not in g.config else f"# {origin}")
    else:
        values, pairs = _repetitions(g, ctx)
        if g.source == "run":
            reproduce.append(_gate_measure.run_command_line(g.config))
        if _gate_file.is_benchmark_reference(g):
            reproduce.append(shlex.join(_gate_measure.reference_command(g, ctx.tlslab_dir)))
        if g.reference is not None:
            detail += [f"{g.figure} of each run: {', '.join(f'{v:.4g}' for v, _ in pairs)}",
                       f"reference of each: {', '.join(f'{r:.4g}' for _, r in pairs)}"
                       + (f" ({g.reference['figure']} of {' + '.join(g.reference['name'])})"
                          if _gate_file.is_benchmark_reference(g) else "")]
    what = f"{g.figure}" + (" / reference" if g.reference or g.config.get("reference") else "")
    if any(math.isnan(v) for v in values):
        return Outcome(g, False, f"{what}: {values}", "a number each repetition",
                       "a repetition could not compute the figure", reproduce, detail,
                       values=values)
    entry = (ctx.baseline or {}).get(g.name)
    measured = f"{what}: median {median(values):.4g} of {len(values)}"
    if entry is None:
        return Outcome(g, True, measured, "(no baseline: recorded)",
                       "recorded for --save-baseline", reproduce, detail, values=values)
    c = compare(entry["values"], values, better=g.better, tolerance=g.tolerance, alpha=g.alpha)
    return Outcome(
        g, not c.failed,
        f"{what}: median {c.current_median:.4g} vs baseline {c.baseline_median:.4g} "
        f"({c.change:+.1%}, p = {c.utest.p:.3g})",
        f"not {'higher' if g.better == 'lower' else 'lower'} by > {g.tolerance:.0%} at p < "
        f"{g.alpha}", c.reason, reproduce,
        [f"current repetitions: {', '.join(f'{v:.4g}' for v in values)}",
         f"baseline repetitions: {', '.join(f'{v:.4g}' for v in entry['values'])}",
         f"Mann-Whitney U = {c.utest.u:g} ({c.utest.method}), two-sided p = {c.utest.p:.4g}",
         *detail],
        values=values)


def _check(g: Gate, ctx: _Context) -> Outcome:
    started = time.monotonic()
    try:
        if g.kind == "behaviour":
            outcome = _behaviour(g, ctx)
        elif g.kind == "figure":
            outcome = _figure(g, ctx)
        else:
            outcome = _regression(g, ctx)
    except (RuntimeError, TimeoutError, NotImplementedError, OSError) as e:
        # The environment refused (port in use, a command failed): the gate cannot pass.
        outcome = Outcome(g, False, "nothing (the measurement failed)", "a measurement",
                          f"{type(e).__name__}: {e}", [ctx.rerun(g)])
    outcome.seconds = time.monotonic() - started
    return outcome


def _save_baseline(path: Path, gf: GatesFile, outcomes: list[Outcome], append: bool) -> None:
    entries: dict[str, Any] = {}
    if path.exists():  # --force or --append: keep the entries of gates not run (--only)
        with contextlib.suppress(GateFileError):
            entries = _load_baseline(path)
    for o in outcomes:
        if o.gate.kind == "regression" and o.values and not any(map(math.isnan, o.values)):
            old = entries.get(o.gate.name)
            pooled = (old["values"] if append and old and old.get("key") == _baseline_key(
                o.gate) else [])
            entries[o.gate.name] = {"key": _baseline_key(o.gate), "values": pooled + o.values,
                                    "config": o.gate.config}
    doc = {"format": BASELINE_FORMAT, "gates_file": str(gf.path),
           "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "versions": tlslab.versions(), "gates": entries}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    _progress(f"baseline saved to {path} ({len(entries)} gates)")


def run_gates(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    for flag, value in (("--junit", args.junit), ("--markdown", args.markdown),
                        ("--save-baseline", args.save_baseline)):
        _writable(flag, value)
    if (args.force or args.append) and not args.save_baseline:
        raise GateFileError("--force and --append go with --save-baseline")
    if args.force and args.append:
        raise GateFileError("--force replaces the baseline, --append adds to it: choose one")
    exists = args.save_baseline and Path(args.save_baseline).exists()
    if exists and not (args.force or args.append):
        raise GateFileError(f"--save-baseline: {args.save_baseline} exists; add --force to "
                            "replace it or --append to add to it")
    gf = _gate_file.load(args.file)
    if args.only:
        unknown = [n for n in args.only if n not in {g.name for g in gf.gates}]
        if unknown:
            raise GateFileError(f"--only: {gf.path} has no gate named '{unknown[0]}'")
        gf = GatesFile(gf.path, gf.servers, [g for g in gf.gates if g.name in args.only],
                       gf.baseline)
    baseline_path = Path(args.baseline) if args.baseline else gf.baseline
    needs_baseline = any(g.kind == "regression" for g in gf.gates)
    baseline = None
    if needs_baseline and baseline_path is not None:
        if args.baseline or baseline_path.exists() or not args.save_baseline:
            baseline = _load_baseline(baseline_path)
    _validate(gf, baseline, saving=bool(args.save_baseline))
    outcomes = []
    with contextlib.ExitStack() as stack:
        ctx = _Context(gf, args.baseline, baseline, _start_servers(gf, stack),
                       tlslab.tlslab_bin().parent)
        for i, g in enumerate(gf.gates, 1):
            _progress(f"[{i}/{len(gf.gates)}] {g.kind} gate '{g.name}'")
            outcomes.append(_check(g, ctx))
            _progress(f"  {_gate_report.text_line(outcomes[-1])}")
    failed = sum(not o.passed for o in outcomes)
    if args.junit:
        _gate_report.junit(outcomes, f"tlslab gate {gf.path}", Path(args.junit))
    if args.markdown:
        Path(args.markdown).write_text(_gate_report.markdown(outcomes, str(gf.path)))
    if args.save_baseline:
        _save_baseline(Path(args.save_baseline), gf, outcomes, args.append)
    _progress(f"{len(outcomes) - failed} passed, {failed} failed")
    return EXIT_FAIL if failed else EXIT_PASS


def main(argv: Sequence[str] | None = None) -> int:
    """The command: exit status 0, 1 or 2; bad input is one line on stderr, never a traceback."""
    try:
        return run_gates(sys.argv[1:] if argv is None else argv)
    except GateFileError as e:
        print(f"tlslab gate: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("tlslab gate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
