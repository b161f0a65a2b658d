"""The CI examples of docs/ci-gating.md work as written: the GitHub Actions and GitLab CI blocks
are parsed as YAML, their `tlslab gate` commands run verbatim (in a scratch directory that has
the repository's experiments/ and this build as build/), and the files they hand to the CI
system exist and parse (JUnit XML, the step summary). The build steps are not run here (the
build under test is already there); their packages must be ones scripts/lib.sh installs."""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import tlslab
from conftest import REPO

DOC = REPO / "docs" / "ci-gating.md"


def yaml_block(heading: str) -> dict:
    text = DOC.read_text()
    start = text.index(heading)
    block = re.search(r"```yaml\n(.*?)```", text[start:], re.S)
    assert block, f"no yaml block after {heading!r} in {DOC}"
    return yaml.safe_load(block.group(1))


def scratch(tmp_path: Path) -> Path:
    (tmp_path / "experiments").symlink_to(REPO / "experiments")
    (tmp_path / "build").symlink_to(tlslab.tlslab_bin().parent)
    return tmp_path


def run_shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{command}` did not finish within 300 s")


def gate_commands(lines: list[str]) -> list[str]:
    commands = [ln for ln in lines if "tlslab gate" in ln]
    assert commands, "the example runs no `tlslab gate`"
    return commands


def installed_packages(lines: list[str]) -> set[str]:
    words = set()
    for ln in lines:
        if "apt-get install" in ln:
            words |= {w for w in ln.split() if w not in ("sudo", "apt-get", "install", "-y")}
    return words


def lib_packages() -> set[str]:
    text = (REPO / "scripts" / "lib.sh").read_text()
    words = set()
    for block in re.findall(r"TLSLAB_(?:BUILD|TEST)_PACKAGES=\((.*?)\n\)", text, re.S):
        for line in block.splitlines():
            words |= set(line.split("#")[0].split())
    return words


def env_without_bin() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TLSLAB_BIN", None)  # the command uses its own build, as in CI
    env.pop("PYTHONPATH", None)
    return env


def test_github_actions_example(tmp_path):
    workflow = yaml_block("### 3.1 GitHub Actions")
    steps = workflow["jobs"]["gate"]["steps"]
    lines = [ln for s in steps if "run" in s for ln in s["run"].splitlines()]
    assert installed_packages(lines) <= lib_packages()
    cwd = scratch(tmp_path)
    env = env_without_bin()
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    for command in gate_commands(lines):
        done = run_shell(command, cwd, env)
        assert done.returncode == 0, done.stderr
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    junit = ET.parse(cwd / upload["with"]["path"]).getroot()
    assert junit.tag == "testsuites" and junit.get("failures") == "0"
    assert "## tlslab gate: experiments/gates/example.toml: all 2 passed" in (
        tmp_path / "summary.md").read_text()


def test_gitlab_ci_example(tmp_path):
    job = yaml_block("### 3.2 GitLab CI")["tls-gates"]
    assert installed_packages(job["before_script"]) <= lib_packages()
    cwd = scratch(tmp_path)
    for command in gate_commands(job["script"]):
        done = run_shell(command, cwd, env_without_bin())
        assert done.returncode == 0, done.stderr
    junit = ET.parse(cwd / job["artifacts"]["reports"]["junit"]).getroot()
    assert len(list(junit.iter("testcase"))) == 2
    for path in job["artifacts"]["paths"]:
        assert (cwd / path).read_text().startswith("## tlslab gate:")
