"""Bad input: one clear line on stderr naming the bad value, nothing on stdout, no crash, and
exit code 2 (README: 2 for bad input, 1 when the environment refuses, e.g. a port in use)."""

from __future__ import annotations

import socket

import pytest

TIMEOUT_S = 20.0
ERROR_PREFIX = "tlslab: error: "

# (id, argv, substrings the error line must contain). Each argv would otherwise be valid and
# short (--duration 1s), so a command that wrongly accepted it would still end by itself.
BAD_INPUT = [
    ("unknown-flag", "check --target 127.0.0.1:9 --bogus --duration 1s",
     ["unknown flag", "--bogus"]),
    ("bad-duration", "check --target 127.0.0.1:9 --inter 2x --duration 1s",
     ["--inter", "'2x'", "500ms"]),
    ("bad-duration-serve", "serve --duration soon", ["--duration", "'soon'"]),
    ("missing-value", "check --target 127.0.0.1:9 --inter", ["--inter"]),
    ("unknown-server-profile", "serve --profile nosuch --duration 1s",
     ["unknown server profile", "'nosuch'", "strict", "lenient"]),
    ("unknown-server-profile-run", "run --server-profile nosuch --duration 1s",
     ["unknown server profile", "'nosuch'", "lenient"]),
    ("unknown-checker-profile", "run --checker-profile haproxy-9 --duration 1s",
     ["unknown checker profile", "'haproxy-9'", "haproxy-1.7.3", "haproxy-1.7.4"]),
    ("server-profile-given-to-checker", "check --profile strict --target 127.0.0.1:9 --duration 1s",
     ["unknown checker profile", "'strict'", "haproxy-1.7.3"]),
    ("unknown-close-mode", "check --target 127.0.0.1:9 --close slam",
     ["--close", "'slam'", "close-notify", "quiet-reset", "keep"]),
    ("unknown-tls-version", "serve --tls 1.1 --duration 1s", ["--tls", "'1.1'", "1.2", "1.3"]),
    ("zero-backends", "serve --backends 0 --duration 1s", ["backends", "between 1 and", "got 0"]),
    ("zero-backends-run", "run --backends 0 --duration 1s", ["backends", "got 0"]),
    ("negative-max-checks", "check --target 127.0.0.1:9 --max-checks -1", ["--max-checks", "'-1'"]),
    ("port-out-of-range", "serve --port 70000 --duration 1s", ["port", "70000"]),
    ("target-without-port", "check --target localhost --duration 1s", ["'localhost'", "HOST:PORT"]),
    ("target-empty-port", "check --target 127.0.0.1: --duration 1s", ["'127.0.0.1:'", "HOST:PORT"]),
    ("target-port-too-big", "check --target 127.0.0.1:99999 --duration 1s",
     ["'127.0.0.1:99999'", "HOST:PORT"]),
    ("target-without-host", "check --target :443 --duration 1s", ["':443'", "HOST:PORT"]),
    ("no-target", "check --duration 1s", ["no target", "--target", "--targets-file"]),
    ("targets-file-missing", "check --targets-file /nonexistent/tlslab-e2e/t.txt --duration 1s",
     ["--targets-file", "/nonexistent/tlslab-e2e/t.txt"]),
    ("stats-socket-unwritable",
     "check --target 127.0.0.1:9 --stats-socket /nonexistent/tlslab-e2e/s.sock --duration 1s",
     ["--stats-socket", "/nonexistent/tlslab-e2e/s.sock"]),
    ("flag-of-another-command", "serve --inter 1s --duration 1s", ["unknown flag", "--inter"]),
]  # fmt: skip


def assert_one_line_error(cli, proc, needles, code: int, usage_may_follow: bool = False) -> str:
    """The error is the first line of stderr, alone (or followed by the usage text only)."""
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.splitlines()
    assert lines, "nothing on stderr"
    first = lines[0]
    assert first.startswith(ERROR_PREFIX), proc.stderr
    if usage_may_follow:
        assert all(ERROR_PREFIX not in line for line in lines[1:]), proc.stderr
        assert len(lines) == 1 or lines[1].startswith("usage:"), proc.stderr
    else:
        assert len(lines) == 1, f"more than one line on stderr:\n{proc.stderr}"
    for needle in needles:
        assert needle in first, f"{needle!r} not in {first!r}"
    return first


@pytest.mark.parametrize("argv,needles", [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(cli, argv: str, needles: list[str]) -> None:
    proc = cli.run(argv.split(), timeout=TIMEOUT_S)
    assert_one_line_error(cli, proc, needles, code=2)


def test_targets_file_with_a_bad_line_names_file_and_line(cli, tmp_path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# backends\n127.0.0.1:9\n\nnot-an-address\n")
    proc = cli.run(["check", "--targets-file", targets, "--duration", "1s"], timeout=TIMEOUT_S)
    assert_one_line_error(cli, proc, [f"{targets}:4", "'not-an-address'", "HOST:PORT"], code=2)


def test_unknown_subcommand(cli) -> None:
    proc = cli.run(["frobnicate", "--json"], timeout=TIMEOUT_S)
    # One error line; the list of commands follows it, which is what a person needs next.
    assert_one_line_error(
        cli, proc, ["unknown command", "'frobnicate'"], code=2, usage_may_follow=True
    )
    for command in ("serve", "check", "run", "profiles"):
        assert f"  {command} " in proc.stderr


def test_no_subcommand_prints_usage_and_fails(cli) -> None:
    proc = cli.run([], timeout=TIMEOUT_S)
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: tlslab COMMAND")


def test_port_in_use_exits_1_naming_the_address(cli) -> None:
    # The one test with a fixed port: one this test holds, listening, for its whole length.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        proc = cli.run(
            ["serve", "--port", port, "--backends", "1", "--duration", "5s", "--live", "off"],
            timeout=TIMEOUT_S,
        )
    # No ready line either (stdout is empty): nothing would wait for a server that isn't.
    assert_one_line_error(cli, proc, [f"127.0.0.1:{port}"], code=1)


@pytest.mark.parametrize(
    "argv",
    [
        "serve strict --duration 1s --live off",
        "check 127.0.0.1:9 --target 127.0.0.1:9 --max-checks 1 --duration 2s --live off",
    ],
    ids=["serve", "check"],
)
def test_stray_argument_is_rejected(cli, argv: str) -> None:
    # Boost keeps a bare word as a nameless option that store() drops: it must be caught first.
    proc = cli.run(argv.split(), timeout=TIMEOUT_S)
    assert_one_line_error(cli, proc, ["unexpected argument", f"'{argv.split()[1]}'"], code=2)
