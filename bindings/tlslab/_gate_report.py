"""The reports of `tlslab gate`: JUnit XML for CI test views, Markdown for a pull request
comment or GitHub's $GITHUB_STEP_SUMMARY, and plain text on stderr.

JUnit XML: the testsuites/testsuite/testcase/failure elements with the attributes that
GitLab's unit test reports, Jenkins' junit step and GitHub test-report actions read (the
Ant JUnit schema, as in Jenkins' junit plugin src/main/resources/.../JUnit.xsd): a failure
carries a one-line `message` and the details as its text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tlslab._gate_file import Gate


@dataclass
class Outcome:
    gate: Gate
    passed: bool
    measured: str  # what was measured, one line
    expected: str  # what the gate wants, one line
    reason: str = ""  # why it failed (or passed), one line
    reproduce: list[str] = field(default_factory=list)  # commands that reproduce it
    detail: list[str] = field(default_factory=list)  # more lines for the failure
    seconds: float = 0.0
    values: list[float] | None = None  # a regression gate's repetitions (for the baseline)


def _failure_text(o: Outcome) -> str:
    lines = [f"why this gate exists: {o.gate.why or '(no why given)'}",
             f"measured: {o.measured}", f"expected: {o.expected}", f"reason: {o.reason}"]
    lines += o.detail
    lines += ["reproduce:"] + [f"  {c}" for c in o.reproduce]
    return "\n".join(lines)


def junit(outcomes: list[Outcome], suite: str, path: Path) -> None:
    failures = sum(not o.passed for o in outcomes)
    total_s = sum(o.seconds for o in outcomes)
    root = ET.Element("testsuites", name="tlslab gate", tests=str(len(outcomes)),
                      failures=str(failures), errors="0", time=f"{total_s:.3f}")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(outcomes)),
                       failures=str(failures), errors="0", skipped="0", time=f"{total_s:.3f}")
    for o in outcomes:
        tc = ET.SubElement(ts, "testcase", classname=f"tlslab.gate.{o.gate.kind}",
                           name=o.gate.name, time=f"{o.seconds:.3f}")
        if not o.passed:
            failure = ET.SubElement(tc, "failure", message=o.reason, type=o.gate.kind)
            failure.text = _failure_text(o)
        out = ET.SubElement(tc, "system-out")
        out.text = f"measured: {o.measured}\nexpected: {o.expected}\n{o.reason}\n"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(outcomes: list[Outcome], title: str) -> str:
    failed = [o for o in outcomes if not o.passed]
    head = (f"## tlslab gate: {title}: " + (f"{len(failed)} of {len(outcomes)} failed"
                                            if failed else f"all {len(outcomes)} passed"))
    lines = [head, "", "| | gate | kind | measured | expected |", "|---|---|---|---|---|"]
    for o in outcomes:
        mark = "✅ pass" if o.passed else "❌ **FAIL**"
        lines.append(f"| {mark} | {_cell(o.gate.name)} | {o.gate.kind} | {_cell(o.measured)} "
                     f"| {_cell(o.expected)} |")
    for o in failed:
        lines += ["", f"### ❌ {o.gate.name}", "",
                  f"**Why this gate exists:** {o.gate.why or '(no why given)'}", "",
                  f"**Measured:** {o.measured}; expected {o.expected}.", "",
                  f"**Reason:** {o.reason}", ""]
        lines += [f"- {d}" for d in o.detail]
        if o.detail:
            lines.append("")
        lines += ["**Reproduce:**", "", "```sh", *o.reproduce, "```"]
    return "\n".join(lines) + "\n"


def text_line(o: Outcome) -> str:
    return (f"{'PASS' if o.passed else 'FAIL'}  {o.gate.name}: {o.measured} (expected "
            f"{o.expected}){'' if o.passed else ' -- ' + o.reason}")


__all__ = ["Outcome", "junit", "markdown", "text_line"]
