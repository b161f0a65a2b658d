"""Bad input: one clear line on stderr naming the bad value, nothing on stdout, no crash, and
exit code 2 (README: 2 for bad input, 1 when the environment refuses, e.g. a port in use)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from pathlib import Path

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
    # --http-path and --sni validated before anything runs
    ("http-path-relative", "check --target 127.0.0.1:9 --http-path health --duration 1s",
     ["http-path", "start with '/'"]),
    ("sni-ip-literal", "check --target 127.0.0.1:9 --sni 10.0.0.1 --duration 1s",
     ["sni", "DNS host name"]),
    ("sni-bad-label", "check --target 127.0.0.1:9 --sni -a.example --duration 1s",
     ["sni", "DNS host name"]),
    ("version-with-flag", "version --bogus", ["version takes no flags", "--bogus"]),
    # the bounds are flags with checked values
    ("zero-max-connections", "serve --max-connections 0 --duration 1s",
     ["max-connections", "got 0"]),
    ("stats-socket-mode-not-octal",
     "check --target 127.0.0.1:9 --stats-socket-mode 0999 --duration 1s",
     ["stats-socket-mode", "octal"]),
]  # fmt: skip

# Bytes the user may give that are not text: (id, argv as bytes,
# fragments of the error line). The error names the field, never echoes the raw bytes, and no
# run starts (so no JSON can fail after it).
BAD_BYTES = [
    ("sni-not-utf8", [b"check", b"--target", b"127.0.0.1:9", b"--sni", b"a\xff.example"],
     [b"sni", b"not valid UTF-8"]),
    ("http-path-not-utf8", [b"check", b"--target", b"127.0.0.1:9", b"--http-path", b"/\xc3("],
     [b"http-path", b"not valid UTF-8"]),
    ("http-path-crlf", [b"check", b"--target", b"127.0.0.1:9", b"--http-path", b"/\r\nX: y"],
     [b"http-path", b"control character"]),
    ("ports-file-name-not-utf8", [b"serve", b"--ports-file", b"/tmp/p\xfe"],
     [b"ports-file", b"not valid UTF-8"]),
    ("keylog-name-not-utf8", [b"serve", b"--keylog", b"/tmp/k\x80"],
     [b"keylog", b"not valid UTF-8"]),
    ("target-not-utf8", [b"check", b"--target", b"127.0.0.\xff:9"],
     [b"target", b"not valid UTF-8"]),
    ("unknown-flag-raw-bytes", [b"check", b"--\xff\x1b[2J"], [b"unknown flag", b"\\x"]),
    ("unknown-command-raw-bytes", [b"\x1b[31mred"], [b"unknown command", b"\\x1B"]),
]  # fmt: skip


def run_bytes(argv: list[bytes], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """tlslab with raw-byte arguments; stdout and stderr stay bytes (nothing is decoded)."""
    default = Path(__file__).resolve().parents[2] / "build" / "tlslab"
    binary = os.environ.get("TLSLAB_BIN", str(default))
    return subprocess.run(
        [os.fsencode(binary), *argv, b"--duration", b"1s"] if argv[0] != b"version" else
        [os.fsencode(binary), *argv],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize("argv,needles", [b[1:] for b in BAD_BYTES], ids=[b[0] for b in BAD_BYTES])
def test_bytes_that_are_not_text_are_rejected_without_echo(argv, needles) -> None:
    proc = run_bytes(argv)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == b"", proc.stdout
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith(ERROR_PREFIX.encode()), proc.stderr
    lines[0].decode("ascii")  # escaped: no raw byte from the input reaches the terminal
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


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


# ---- files created safely


def test_stats_socket_refuses_to_replace_a_regular_file(cli, tmp_path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me\n")
    proc = cli.run(
        ["check", "--target", "127.0.0.1:9", "--stats-socket", precious, "--duration", "1s"],
        timeout=TIMEOUT_S,
    )
    assert_one_line_error(cli, proc, ["--stats-socket", "not a socket", "refusing"], code=2)
    assert precious.read_text() == "keep me\n"


def test_stats_socket_refuses_a_live_socket_and_replaces_a_stale_one(cli, tmp_path) -> None:
    path = tmp_path / "stats.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(path))
        live.listen(1)
        proc = cli.run(
            ["check", "--target", "127.0.0.1:9", "--stats-socket", path, "--duration", "1s"],
            timeout=TIMEOUT_S,
        )
        assert_one_line_error(cli, proc, ["--stats-socket", "in use"], code=2)
    # Closed without unlink: a stale socket, as a killed run leaves. Replaced, mode 0600.
    assert path.is_socket()
    proc = cli.run(
        ["check", "--target", "127.0.0.1:9", "--stats-socket", path, "--max-checks", "1",
         "--duration", "1s", "--live", "off"],
        timeout=TIMEOUT_S,
    )  # fmt: skip
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 0, proc.stderr


def test_stats_socket_is_0600_unless_told(spawn, serve, tmp_path) -> None:
    server = serve("--backends", "1")
    for mode in ("0600", "0660"):
        path = tmp_path / f"s{mode}.sock"
        check = spawn(
            "check", "--target", server.targets[0], "--stats-socket", path,
            "--stats-socket-mode", mode, "--duration", "20s", "--live", "off",
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.is_socket(), check.stderr()
        assert stat.S_IMODE(path.stat().st_mode) == int(mode, 8)
        check.stop()


def test_ports_file_refuses_a_fifo_and_a_symlink(cli, tmp_path) -> None:
    fifo = tmp_path / "ports.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "ports.link"
    link.symlink_to(tmp_path / "elsewhere")
    for target in (fifo, link):
        proc = cli.run(["serve", "--ports-file", target, "--duration", "1s", "--live", "off"],
                       timeout=TIMEOUT_S)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert "not a regular file" in proc.stderr, proc.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.is_symlink()
    assert not (tmp_path / "elsewhere").exists()


def test_ports_file_is_written_atomically_and_ignores_a_planted_tmp(serve, tmp_path) -> None:
    ports = tmp_path / "ports.txt"
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    (tmp_path / "ports.txt.tmp").symlink_to(victim)  # the old predictable name
    server = serve("--backends", "2", "--ports-file", ports)
    assert ports.read_text().split() == server.targets
    assert victim.read_text() == "untouched\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tlslab")] == []


def test_keylog_is_0600_and_never_follows_a_symlink(cli, serve, tmp_path) -> None:
    keylog = tmp_path / "keys.log"
    server = serve("--backends", "1", "--keylog", keylog)
    assert stat.S_IMODE(keylog.stat().st_mode) == 0o600
    cli.check("--target", server.take(), "--max-checks", "1", "--duration", "5s")
    assert "CLIENT_" in keylog.read_text() or "SERVER_" in keylog.read_text()
    victim = tmp_path / "victim"
    link = tmp_path / "planted.log"
    link.symlink_to(victim)
    proc = cli.run(["serve", "--keylog", link, "--duration", "1s", "--live", "off"],
                   timeout=TIMEOUT_S)  # fmt: skip
    assert_one_line_error(cli, proc, ["--keylog", str(link)], code=2)
    assert not victim.exists()


def test_encrypted_key_is_refused_without_a_prompt(cli, tmp_path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=t", "-passout", "pass:secret"],
        check=True, capture_output=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    # The error says why; the key is read once and no passphrase callback reaches a terminal.
    proc = cli.run(["serve", "--cert", cert, "--key-file", key, "--duration", "1s"],
                   timeout=TIMEOUT_S)  # fmt: skip
    assert_one_line_error(cli, proc, ["--key-file", "encrypted"], code=2)


def test_listen_on_a_wildcard_address_says_so(cli) -> None:
    proc = cli.run(["serve", "--listen", "0.0.0.0", "--duration", "1s", "--live", "off"],
                   timeout=TIMEOUT_S)  # fmt: skip
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert "warning: listening on 0.0.0.0, not a loopback address" in proc.stderr


def test_nul_in_a_targets_file_is_rejected(cli, tmp_path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_bytes(b"127.0.0.1:9\x00evil\n")
    proc = cli.run(["check", "--targets-file", targets, "--duration", "1s"], timeout=TIMEOUT_S)
    assert_one_line_error(cli, proc, [f"{targets}:1", "control character", "\\x00"], code=2)
