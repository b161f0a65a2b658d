"""Lifecycle: the ports file, stopping on SIGTERM and SIGINT, and the stats socket."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest

PROMPT_EXIT_S = 5.0  # "promptly": the monitor polls every 50 ms; the rest is a busy machine


def test_ports_file_lists_backends_and_feeds_check(cli, serve, tmp_path: Path) -> None:
    ports_file = tmp_path / "ports.txt"
    server = serve("--backends", "3", "--ports-file", ports_file)
    # Written before the ready line: whoever saw the ready line finds the whole file.
    lines = ports_file.read_text().splitlines()
    assert lines == server.targets
    assert all(re.fullmatch(r"127\.0\.0\.1:\d{1,5}", line) for line in lines), lines
    assert not (tmp_path / "ports.txt.tmp").exists()

    flags = "--check http --inter 100ms --max-checks 6 --duration 10s".split()
    doc = cli.check("--targets-file", ports_file, *flags)
    f = doc["figures"]
    assert f["backends"] == 3
    assert f["checks_total"] == 6 and f["check_failures_total"] == 0, f["check_failure_examples"]
    # The default server profile (lenient) keeps every session after a clean close: at most
    # one full handshake per backend.
    assert 1 <= f["full_handshakes_total"] <= 3
    assert f["full_handshakes_total"] + f["resumed_handshakes_total"] == 6


SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_serve_stops_promptly_on_signal(cli, serve, sig) -> None:
    server = serve("--backends", "2", "--duration", "2m")
    start = time.monotonic()
    server.send_signal(sig)
    rc = server.wait(PROMPT_EXIT_S)
    assert rc is not None, f"serve still running {PROMPT_EXIT_S} s after {sig.name}"
    assert time.monotonic() - start < PROMPT_EXIT_S
    cli.assert_no_crash(server.stderr())


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_serve_exits_130_on_signal_with_its_summary(serve, sig) -> None:
    server = serve("--backends", "2", "--duration", "2m")
    server.send_signal(sig)
    rc = server.wait(PROMPT_EXIT_S)
    assert rc == 130, f"serve exited {rc} on {sig.name}; stdout: {server.stdout()!r}"
    assert "served " in server.stdout()  # the summary made it out


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_serve_json_is_one_document_on_stdout_and_exits_130(serve, sig) -> None:
    server = serve("--backends", "2", "--duration", "0", "--json")  # ready line on stderr
    server.send_signal(sig)
    rc = server.wait(PROMPT_EXIT_S)
    assert rc == 130, f"serve exited {rc} on {sig.name}; stderr: {server.stderr()!r}"
    doc = json.loads(server.stdout())  # the whole of stdout is one JSON document
    assert doc["command"] == "serve"
    assert doc["figures"]["seconds"] >= 0
    assert "ready backends=2" in server.stderr()


def test_check_interrupted_still_prints_its_report(serve, spawn) -> None:
    server = serve("--backends", "1")
    flags = "--inter 100ms --duration 1m --json --live off".split()
    check = spawn("check", "--target", server.take(), *flags)
    time.sleep(1.0)  # a few checks
    check.send_signal(signal.SIGINT)
    rc = check.wait(PROMPT_EXIT_S)
    assert rc is not None, "check still running after SIGINT"
    assert rc in (0, 130), f"check exited {rc} on SIGINT"
    doc = json.loads(check.stdout())
    assert doc["figures"]["interrupted"] is True
    assert doc["figures"]["checks_total"] > 0


# ---------------------------------------------------------------------------------------------
# The stats socket: HAProxy's "show info" over a unix socket, as `socat` reads it.


@pytest.fixture
def short_dir():
    """A short directory for unix sockets (sun_path holds 107 bytes; tmp_path can be long)."""
    path = Path(tempfile.mkdtemp(prefix="tlslab-e2e-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ask(path: Path, command: bytes | None, timeout: float = 5.0) -> str:
    """Sends `command` (None: nothing at all) and reads the answer until the server closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        if command is not None:
            s.sendall(command)
        chunks = []
        while True:
            try:
                data = s.recv(4096)
            except socket.timeout:
                pytest.fail(f"no answer to {command!r} within {timeout} s")
            if not data:
                return b"".join(chunks).decode()
            chunks.append(data)


def show_info(path: Path) -> dict[str, str]:
    answer = ask(path, b"show info\n")
    assert answer.endswith("\n\n"), repr(answer)  # HAProxy ends the block with an empty line
    fields = {}
    for line in answer.splitlines():
        if line:
            name, sep, value = line.partition(": ")
            assert sep, f"not a 'Name: value' line: {line!r}"
            fields[name] = value
    return fields


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_stats_socket_answers_show_info(cli, serve, spawn, short_dir: Path) -> None:
    server = serve("--backends", "1")
    sock = short_dir / "stats.sock"
    flags = "--check http --inter 100ms --duration 4s --json --live off".split()
    check = spawn("check", "--target", server.take(), "--stats-socket", sock, *flags)
    wait_for(sock.exists, 10, f"{sock} to appear")

    def info_after_three_checks():
        info = show_info(sock)
        return info if int(info["TlslabChecks"]) >= 3 else None

    info = wait_for(info_after_three_checks, 10, "three checks in show info")
    for name in ("SslBackendKeyRate", "SslBackendMaxKeyRate"):
        assert re.fullmatch(r"\d+", info[name]), info
    assert int(info["SslBackendMaxKeyRate"]) >= int(info["SslBackendKeyRate"])
    assert info["Name"] == "tlslab"
    assert info["Pid"] == str(check.pid)
    # Counts: one backend against a lenient server, so one full handshake and then resumptions.
    assert int(info["TlslabFullHandshakes"]) == 1, info
    assert int(info["TlslabResumedHandshakes"]) >= 2, info
    assert int(info["TlslabCheckFailures"]) == 0, info

    # A command it does not know gets an answer saying what it does know, not a hang.
    answer = ask(sock, b"show stat\n")
    assert "Unknown command" in answer and "show info" in answer, answer
    # So does a client that connects and says nothing (the socket reads with a short bound).
    assert "Unknown command" in ask(sock, None)
    # And the run goes on: the socket is served between samples.
    assert "SslBackendKeyRate" in show_info(sock)

    rc = check.wait(4 + cli.run_slack_s)
    assert rc == 0, check.stderr()
    doc = json.loads(check.stdout())
    assert doc["figures"]["checks_total"] >= 3
    assert not sock.exists(), "the stats socket is removed at exit"
