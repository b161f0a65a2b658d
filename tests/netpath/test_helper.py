"""The helper itself (scripts/netpath.sh, bindings/tlslab/netpath.py): bad input gets one
line and exit 2; nothing is left behind (namespaces, veths, processes) after a failure, after
SIGINT, or when the helper refuses to start."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO, netpath

SCRIPT = REPO / "scripts" / "netpath.sh"
TIMEOUT_S = 60.0


def cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, "bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def ours_left(token: str) -> list[str]:
    """Namespaces, interfaces and processes of the path named `token` still there."""
    left = [ns for ns in netpath.namespaces() if token in ns]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [line.split(":")[1].strip() for line in links.splitlines() if token in line]
    procs = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    left += [line for line in procs.splitlines() if f"marker-{token}" in line]
    return left


def test_not_root_is_one_line() -> None:
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to become another user")
    nobody = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")
    helper = SCRIPT.parent.parent / "bindings" / "tlslab" / "netpath.py"
    if subprocess.run([*nobody, "test", "-r", str(helper)], timeout=TIMEOUT_S).returncode != 0:
        # A checkout under a 0700 directory (mktemp -d) cannot be read by another user at all.
        pytest.skip(f"{helper} is not readable by user nobody (a private parent directory)")
    done = cli("--server", "true", "--client", "true", prefix=nobody)
    assert done.returncode == 2, done
    assert "root" in one_line(done.stderr)


@pytest.mark.parametrize("args, words", [
    (("--loss", "150"), "between 0 and 100"),
    (("--delay", "ten"), "not a duration"),
    (("--delay", "1ms", "--jitter", "5ms"), "jitter"),
    (("--reorder", "25"), "needs a delay"),
    (("--name", "Bad_Name"), "lowercase"),
])
def test_bad_values_are_one_line(need_path, args, words) -> None:
    done = cli(*args, "--server", "true", "--client", "true")
    assert done.returncode == 2, done
    assert words in one_line(done.stderr)


def test_an_existing_namespace_is_refused_and_left_alone(need_path) -> None:
    token = secrets.token_hex(3)
    mine = f"{netpath.PREFIX}{token}-s"
    subprocess.run(["ip", "netns", "add", mine], check=True, timeout=10)
    try:
        done = cli("--name", token, "--server", "true", "--client", "true")
        assert done.returncode == 2, done
        assert f"{mine} already exists" in one_line(done.stderr)
        assert netpath.namespaces().count(mine) == 1  # still there: not ours to remove
        assert f"{netpath.PREFIX}{token}-c" not in netpath.namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", mine], timeout=10)
    assert ours_left(token) == []


def test_a_path_carries_tcp_and_goes_away_after_a_failing_client(need_path) -> None:
    token = secrets.token_hex(3)
    # A server that is ready at once and listens; a client that reaches it, then fails.
    server = ("/usr/bin/python3 -c 'import socket,time;"
              "s=socket.create_server((\"{server_addr}\",7));print(\"ready\",flush=True);"
              f"c,_=s.accept();c.sendall(b\"hi\");time.sleep(30)' marker-{token}")
    client = ("/usr/bin/python3 -c 'import socket,sys;"
              "d=socket.create_connection((\"{server_addr}\",7),timeout=5).recv(2);"
              "print(\"got\",d);sys.exit(3)'")
    done = cli("--name", token, "--server", server, "--client", client)
    assert done.returncode == 3, done
    assert "got b'hi'" in done.stdout
    assert ours_left(token) == []


def test_sigint_tears_everything_down(need_path) -> None:
    token = secrets.token_hex(3)
    sleeper = "/usr/bin/python3 -c 'import time;print(\"ready\",flush=True);time.sleep(30)'"
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), "--name", token, "--server", f"{sleeper} marker-{token}",
         "--client", f"{sleeper} marker-{token}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # both commands running in their namespaces
            # Both in their namespaces: python itself, not `ip netns exec` on its way there.
            if len([p for p in ours_left(token) if p.split()[1:2] == ["/usr/bin/python3"]]) >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the path did not come up: {ours_left(token)}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:  # the test failed early: SIGTERM tears down as SIGINT does
            proc.terminate()
            try:
                proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert ours_left(token) == []


@pytest.mark.parametrize("kwargs", [
    {"delay": "5ms", "jitter": "1ms", "loss": "1%", "reorder": "25"},
    {"delay": "500us"},
    {"loss": 0.5},
])
def test_tc_takes_the_netem_arguments(need_path, kwargs) -> None:
    """tc parses netem's arguments before the kernel sees them (tc-netem(8)): here they must
    parse, even on a kernel without netem, where the kernel's refusal comes after the parse."""
    args = netpath.NetPath(**kwargs)._netem_args()
    scratch = f"{netpath.PREFIX}{secrets.token_hex(3)}-t"
    subprocess.run(["ip", "netns", "add", scratch], check=True, timeout=10)
    try:
        done = subprocess.run(["ip", "netns", "exec", scratch, "tc", "qdisc", "add", "dev", "lo",
                               "root", "netem", *args], capture_output=True, text=True, timeout=10)
    finally:
        subprocess.run(["ip", "netns", "del", scratch], timeout=10)
    assert done.returncode == 0 or "qdisc kind is unknown" in done.stderr, (args, done.stderr)
