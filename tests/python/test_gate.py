"""`tlslab gate` end to end (bindings/tlslab/gate.py through app/gate_command.cc): real servers,
real runs and probes on loopback, short. A gate that must pass, gates that must fail (a strict
server where lenient is expected; a regression injected with a slower configuration), the
reports parsed back, and a table of malformed input that must be exit 2 and one line."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tlslab
from conftest import REPO, run_cli

SERVERS = """
[[server]]
name = "strict"
profile = "strict"
backends = 1
key = "p256"

[[server]]
name = "lenient"
profile = "lenient"
backends = 1
key = "p256"
"""

BEHAVIOUR = """
[[gate]]
name = "{name}"
kind = "behaviour"
why = "{why}"
target = "$server.{server}"
expect = "{expect}"
[gate.probe]
tls = "1.2"
repeat = 1
"""

FIXED_RUN = """
[gate.run]
server_profile = "strict"
checker_profile = "haproxy-1.7.4"
backends = 10
inter = "500ms"
duration = "3s"
key = "p256"
"""


def write(tmp_path: Path, text: str, name: str = "gates.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def gate(*args, timeout: float = 300):
    return run_cli(["gate", *map(str, args)], timeout=timeout)


def test_passing_gates_and_their_reports(tmp_path):
    gates = write(tmp_path, SERVERS + BEHAVIOUR.format(
        name="lenient stays lenient", why="RFC 5246 7.2.1", server="lenient", expect="lenient")
        + """
[[gate]]
name = "the fix resumes"
kind = "figure"
why = "close_notify first keeps the session"
figure = "resumption_ratio"
bound = ">= 0.99"
""" + FIXED_RUN)
    junit, md = tmp_path / "out.xml", tmp_path / "out.md"
    done = gate(gates, "--junit", junit, "--markdown", md)
    assert done.returncode == 0, done.stderr
    assert "2 passed, 0 failed" in done.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    names = [tc.get("name") for tc in suite.iter("testcase")]
    assert names == ["lenient stays lenient", "the fix resumes"]
    assert not list(suite.iter("failure"))
    text = md.read_text()
    assert "all 2 passed" in text and "resumption_ratio = 1" in text


def test_a_strict_server_fails_a_lenient_expectation(tmp_path):
    why = "our load balancer closes checks without close_notify"
    gates = write(tmp_path, SERVERS + BEHAVIOUR.format(
        name="must be lenient", why=why, server="strict", expect="lenient"))
    junit, md = tmp_path / "out.xml", tmp_path / "out.md"
    done = gate(gates, "--junit", junit, "--markdown", md)
    assert done.returncode == 1, done.stderr
    assert "FAIL  must be lenient" in done.stderr
    failures = list(ET.parse(junit).getroot().iter("failure"))
    assert len(failures) == 1
    assert "expected lenient, but the verdict is strict" in failures[0].get("message")
    assert why in failures[0].text and "tlslab probe" in failures[0].text
    text = md.read_text()
    assert "1 of 1 failed" in text and "### ❌ must be lenient" in text
    assert f"**Why this gate exists:** {why}" in text
    assert "verdict strict" in text  # what was measured
    assert f"tlslab gate {gates} --only 'must be lenient'" in text  # how to reproduce
    assert "tlslab serve --duration 0 --ports-file ports.txt --profile strict" in text


def test_a_figure_out_of_bounds_fails(tmp_path):
    gates = write(tmp_path, """
[[gate]]
name = "no full handshakes"
kind = "figure"
why = "the broken pair must show up"
figure = "key_rate_per_s"
bound = "< 1"
[gate.run]
server_profile = "strict"
checker_profile = "haproxy-1.7.3"
backends = 5
inter = "300ms"
duration = "2s"
key = "p256"
""")
    md = tmp_path / "out.md"
    done = gate(gates, "--markdown", md)
    assert done.returncode == 1, done.stderr
    text = md.read_text()
    assert "tlslab run" in text and "--checker-profile haproxy-1.7.3" in text
    assert "sessions_removed_total" in text  # what the server saw


REGRESSION = """
[[gate]]
name = "server CPU per check"
kind = "regression"
why = "resumed checks must stay cheap for the server"
figure = "server_cpu_us_per_check"
repetitions = 4
tolerance = 0.2
[gate.run]
server_profile = "lenient"
checker_profile = "haproxy-1.7.4"
backends = 20
inter = "200ms"
duration = "2s"
tls = "1.2"
key = "p256"
"""


def test_regression_injected_by_a_slower_configuration(tmp_path):
    gates = write(tmp_path, REGRESSION)
    baseline = tmp_path / "base.json"
    saved = gate(gates, "--save-baseline", baseline)
    assert saved.returncode == 0, saved.stderr
    entry = json.loads(baseline.read_text())["gates"]["server CPU per check"]
    assert len(entry["values"]) == 4
    # The same setup again passes; saving over the file needs --force.
    again = gate(gates, "--baseline", baseline)
    assert again.returncode == 0, again.stderr
    refused = gate(gates, "--save-baseline", baseline)
    assert refused.returncode == 2 and "add --force" in refused.stderr
    # --append pools this invocation's repetitions with the file's.
    pooled = gate(gates, "--save-baseline", baseline, "--append")
    assert pooled.returncode == 0, pooled.stderr
    values = json.loads(baseline.read_text())["gates"]["server CPU per check"]["values"]
    assert values[:4] == entry["values"] and len(values) == 8
    # The slower configuration: no session reuse, a full handshake on every check.
    slower = write(tmp_path, REGRESSION + "no_reuse = true\n", "slower.toml")
    junit = tmp_path / "out.xml"
    done = gate(slower, "--baseline", baseline, "--junit", junit)
    assert done.returncode == 1, done.stderr
    assert "configuration differs from the baseline's" in done.stderr
    failure = next(ET.parse(junit).getroot().iter("failure"))
    assert "worse than the baseline" in failure.get("message")
    assert "significant: p = 0.0040" in failure.get("message")  # 8 vs 4, fully separated


BAD = [
    ("not toml [", "not valid TOML"),
    ("[[gate]]\nname = 'x'\nkind = 'smoke'\n", "unknown gate kind 'smoke'"),
    ("[[gate]]\nkind = 'figure'\n", "needs a 'name'"),
    ("", "declares no [[gate]]"),
    ("[[gate]]\nname = 'x'\nkind = 'behaviour'\nexpect = 'lenient'\n", "needs a 'target'"),
    ("[[gate]]\nname = 'x'\nkind = 'behaviour'\ntarget = '$server.nope'\nexpect = 'strict'\n",
     "no [[server]] named 'nope'"),
    ("[[gate]]\nname = 'x'\nkind = 'behaviour'\ntarget = '127.0.0.1:1'\nexpect = 'sloppy'\n",
     "expect 'sloppy' is not strict, lenient"),
    ("[[gate]]\nname = 'x'\nkind = 'figure'\nfigure = 'key_rate_per_s'\nbound = '~ 3'\n"
     "[gate.run]\nbackends = 1\n", "'bound' must be text such as"),
    ("[[gate]]\nname = 'x'\nkind = 'figure'\nfigure = 'key_rate_per_s'\nbound = '< 1'\n"
     "[gate.run]\nbackends = 0\n", "backends must be between 1 and"),
    ("[[gate]]\nname = 'x'\nkind = 'figure'\nfigure = 'key_rate_per_s'\nbound = '< 1'\n"
     "[gate.run]\nbackend = 1\n", "backend"),
    ("[[gate]]\nname = 'x'\nkind = 'figure'\nfigur = 'key_rate_per_s'\n", "unknown key 'figur'"),
    ("[[gate]]\nname = 'x'\nkind = 'figure'\nfigure = 'key_rate'\nbound = '< 1'\n"
     "[gate.run]\nbackends = 1\nduration = '1s'\ninter = '200ms'\n",
     "unknown figure 'key_rate'"),
    ("[[gate]]\nname = 'x'\nkind = 'regression'\nfigure = 'key_rate_per_s'\n[gate.run]\n",
     "give --baseline"),
    ("[[gate]]\nname = 'x'\nkind = 'regression'\n[gate.benchmark]\nfile = 'none.json'\n"
     "name = 'BM_x'\n", "give --baseline"),
    ("[[gate]]\nname = 'x'\nkind = 'figure'\nfigure = 'key_rate_per_s'\nbound = '< 1'\n",
     "needs exactly one of [gate.run]"),
    ("[[gate]]\nname = 'x'\nkind = 'behaviour'\ntarget = 'h:1'\nexpect = 'strict'\n" * 2,
     "two gates are named 'x'"),
    ("[server]\nname = 'x'\n[[gate]]\nname = 'x'\nkind = 'figure'\n", "arrays of tables"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_malformed_gates_files_are_one_line_and_exit_2(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    done = gate(path, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 or "unknown figure" in message, done.stderr
    assert lines[-1].startswith("tlslab gate: error: ") and message in lines[-1], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args,message", [
    (["/nonexistent/gates.toml"], "no such gates file"),
    ([REPO / "experiments"], "is a directory"),
    ([REPO / "experiments/gates/example.toml", "--only", "nope"], "no gate named 'nope'"),
    ([REPO / "experiments/gates/example.toml", "--junit", "/nonexistent/x.xml"], "--junit"),
    ([REPO / "experiments/gates/example.toml", "--bogus"], "unrecognized arguments"),
    ([], "the following arguments are required: file"),
    ([REPO / "experiments/gates/incident.toml", "--baseline", "/nonexistent.json"],
     "--baseline: no such file"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    done = gate(*args, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert message in done.stderr


def test_the_repositorys_incident_gates_are_valid():
    # The gates file scripts/test.sh checks, with the baseline next to it: parsed and validated
    # (one gate run: the cheapest), so a broken edit of either fails here too.
    done = gate(REPO / "experiments/gates/incident.toml", "--only",
                "a resumed handshake stays cheaper than a full one", timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr


def test_regression_as_a_ratio_to_a_reference_run(tmp_path):
    # Each repetition: checks_total of a run every 200 ms over that of a run every 400 ms (~2).
    gates = write(tmp_path, """
[[gate]]
name = "ratio"
kind = "regression"
figure = "checks_total"
better = "higher"
repetitions = 2
[gate.run]
backends = 3
inter = "200ms"
duration = "1s"
key = "p256"
[gate.reference]
backends = 3
inter = "400ms"
duration = "1s"
key = "p256"
""")
    baseline = tmp_path / "base.json"
    done = gate(gates, "--save-baseline", baseline)
    assert done.returncode == 0, done.stderr
    entry = json.loads(baseline.read_text())["gates"]["ratio"]
    assert entry["key"]["ratio"] is True
    assert all(1.4 < v < 2.6 for v in entry["values"]), entry["values"]
    # 2 against 2 repetitions can never be significant: refused before measuring.
    refused = gate(gates, "--baseline", baseline)
    assert refused.returncode == 2 and "can never reach p < 0.05" in refused.stderr


def test_a_tlslab_without_its_python_package_is_one_line(tmp_path):
    # A copy of the command outside its build tree finds no build/python: with no package on
    # the interpreter's path, one line and exit 2. A missing interpreter: the same.
    copy = tmp_path / "tlslab"
    copy.write_bytes(Path(tlslab.tlslab_bin()).read_bytes())
    copy.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TLSLAB_BIN")}
    for extra, message in (({}, "the tlslab Python package does not import"),
                           ({"TLSLAB_PYTHON": "/nonexistent/python3"},
                            "cannot run the Python interpreter /nonexistent/python3")):
        done = subprocess.run([copy, "gate", REPO / "experiments/gates/example.toml"],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              env={**env, **extra}, stdin=subprocess.DEVNULL)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_a_malformed_baseline_is_bad_input(tmp_path):
    baseline = tmp_path / "base.json"
    for text in ("not json", '{"gates": {"x": {"values": "no"}}}', "[]"):
        baseline.write_text(text)
        done = gate(REPO / "experiments/gates/incident.toml", "--baseline", baseline, timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("tlslab gate: error: --baseline: ")
        assert done.stderr.count("\n") == 1, done.stderr


def test_an_unreachable_target_fails_the_gate(tmp_path):
    gates = write(tmp_path, """
[[gate]]
name = "our service"
kind = "behaviour"
target = "127.0.0.1:1"
expect = "lenient"
""")
    md = tmp_path / "out.md"
    done = gate(gates, "--markdown", md)
    assert done.returncode == 1, done.stderr
    assert "cannot connect to 127.0.0.1:1" in md.read_text()
    assert "tlslab probe 127.0.0.1:1 --expect lenient" in md.read_text()
