#!/usr/bin/python3
"""A CI gate: run a configured experiment and fail when a figure crosses its threshold.

Each gate names a run (Config fields over a shared base), a figure of that run, and a bound;
a relative gate divides the figure by the same figure of a second run (e.g. the server CPU
per check of full handshakes over that of resumed ones). Every distinct run is made once, as
a separate `tlslab run` process. The report says, for each gate, PASS or FAIL with the
measured value and the bound; for a failure, why the gate exists, what the server saw, and
the command that reproduces the run. Exit code 1 when a gate fails.

    /usr/bin/python3 experiments/ci_gate.py                  # ~20 s
    /usr/bin/python3 experiments/ci_gate.py --demo-failure   # adds a gate that must fail
    /usr/bin/python3 experiments/ci_gate.py --json gate.json # the report for machines too
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from _lab import import_tlslab

OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Gate:
    """One rule: `figure` of the run `config` (divided by the same figure of `relative_to`,
    when given) must satisfy `op threshold`."""

    name: str
    config: Mapping[str, Any]
    figure: str
    op: str
    threshold: float
    why: str
    relative_to: Mapping[str, Any] | None = None


@dataclass
class Outcome:
    gate: Gate
    value: float | None
    passed: bool
    detail: list[str] = field(default_factory=list)


BROKEN = dict(checker_profile="haproxy-1.7.3", server_profile="strict")
FIXED = dict(checker_profile="haproxy-1.7.4", server_profile="strict")

GATES = [
    Gate(
        "the fix resumes against the strict server",
        FIXED,
        "resumption_ratio",
        ">=",
        0.99,
        "haproxy-1.7.4 sends close_notify before the reset, so the strict server keeps the "
        "session",
    ),
    Gate(
        "the fixed checker resumes against the lenient server",
        dict(checker_profile="haproxy-1.7.4", server_profile="lenient"),
        "resumption_ratio",
        ">=",
        0.99,
        "a lenient server keeps sessions after any close",
    ),
    Gate(
        "the old checker resumes against the lenient server",
        dict(checker_profile="haproxy-1.7.3", server_profile="lenient"),
        "resumption_ratio",
        ">=",
        0.99,
        "a lenient server keeps sessions after any close",
    ),
    Gate(
        "the incident reproduces (old checker, strict server)",
        BROKEN,
        "resumption_ratio",
        "<=",
        0.01,
        "haproxy-1.7.3 closes without close_notify; the strict server (JDK 8 "
        "SSLEngine) then removes the session, so no check can resume",
    ),
    Gate(
        "no check fails", FIXED, "check_failures_total", "<=", 0, "every backend is up and answers"
    ),
    Gate(
        "full-handshake server CPU per check <= 10x resumed",
        BROKEN,
        "server_cpu_us_per_check",
        "<=",
        10.0,
        "a full handshake costs the server a signature and a key exchange; far more than "
        "10x a resumed one means the harness, not TLS, is being measured",
        relative_to=FIXED,
    ),
]

DEMO_FAILURE = Gate(
    "[demo] the old checker resumes against the strict server",
    BROKEN,
    "resumption_ratio",
    ">=",
    0.99,
    "this gate is meant to fail: it shows what a failure report looks like",
)


def evaluate(
    gates: Sequence[Gate], results: Mapping[str, Any], key: Callable[[Mapping[str, Any]], str]
) -> list[Outcome]:
    """Gates x results (run key -> Result) -> outcomes. A missing figure fails its gate."""
    outcomes = []
    for gate in gates:
        result = results[key(gate.config)]
        value = getattr(result, gate.figure, None)
        detail = []
        if value is not None and gate.relative_to is not None:
            base = getattr(results[key(gate.relative_to)], gate.figure, None)
            value = value / base if base else None
        passed = value is not None and OPS[gate.op](value, gate.threshold)
        if not passed:
            detail.append(f"why this gate: {gate.why}")
            detail += _describe(result)
            if gate.relative_to is not None:
                detail += _describe(results[key(gate.relative_to)], "relative to")
        outcomes.append(Outcome(gate, value, passed, detail))
    return outcomes


def _describe(result: Any, role: str = "run") -> list[str]:
    seen = ", ".join(f"{k}={v}" for k, v in (result.close_kinds or {}).items() if v) or "none"
    removed = (
        ", ".join(f"{k}={v}" for k, v in (result.sessions_removed_total or {}).items() if v)
        or "none"
    )
    return [
        f"{role}: tlslab run {' '.join(result.config.to_argv())}",
        f"  key rate {result.key_rate_per_s}/s, resumption ratio {result.resumption_ratio}, "
        f"checks {result.checks_total}, failures {result.check_failures_total}",
        f"  the server saw closes: {seen}; sessions removed: {removed}",
    ]


def report(outcomes: Sequence[Outcome]) -> str:
    width = max(len(o.gate.name) for o in outcomes)
    lines = []
    for o in outcomes:
        what = o.gate.figure + (" ratio" if o.gate.relative_to else "")
        if o.value is None:
            value = "missing"
        else:
            value = str(o.value) if isinstance(o.value, int) else f"{o.value:.3f}"
        bound = f"{o.gate.op} {o.gate.threshold:g}"
        verdict = "PASS" if o.passed else "FAIL"
        lines.append(
            f"{verdict}  {o.gate.name:<{width}}  {what} = {value}  "
            f"({'' if o.passed else 'needs '}{bound})"
        )
        lines += [f"      {d}" for d in o.detail]
    failed = sum(not o.passed for o in outcomes)
    lines.append(
        f"{len(outcomes) - failed} of {len(outcomes)} gates passed"
        + (f"; {failed} failed" if failed else "")
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=int, default=20, help="backends per run [20]")
    parser.add_argument("--inter", default="500ms", help="check interval [500ms]")
    parser.add_argument("--duration", default="4s", help="length of each run [4s]")
    parser.add_argument("--check", default="http", help="check kind [http]")
    parser.add_argument("--tls", default="auto", help="TLS version [auto]")
    parser.add_argument("--demo-failure", action="store_true", help="add a gate that fails")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    args = parser.parse_args(argv)

    tlslab = import_tlslab()
    base = tlslab.Config(
        backends=args.backends,
        inter=args.inter,
        duration=args.duration,
        check=args.check,
        tls=args.tls,
    )
    gates = GATES + ([DEMO_FAILURE] if args.demo_failure else [])

    def key(config: Mapping[str, Any]) -> str:
        return json.dumps(base.replace(**config).to_dict(), sort_keys=True)

    runs: dict[str, Any] = {}
    for gate in gates:
        for config in filter(None, (gate.config, gate.relative_to)):
            runs.setdefault(key(config), config)
    print(
        f"CI gate: {len(gates)} gates over {len(runs)} runs ({args.backends} backends, "
        f"inter {args.inter}, {args.check} checks, {args.duration} each)",
        file=sys.stderr,
    )
    results = {k: tlslab.run(base.replace(**config), isolate=True) for k, config in runs.items()}
    outcomes = evaluate(gates, results, key)
    sys.stdout.write(report(outcomes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "passed": all(o.passed for o in outcomes),
                    "versions": tlslab.versions(),
                    "gates": [
                        {
                            "name": o.gate.name,
                            "figure": o.gate.figure,
                            "op": o.gate.op,
                            "threshold": o.gate.threshold,
                            "relative": o.gate.relative_to is not None,
                            "value": o.value,
                            "passed": o.passed,
                        }
                        for o in outcomes
                    ],
                },
                f,
                indent=2,
            )
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
