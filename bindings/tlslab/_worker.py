"""What a Dask worker runs for tlslab.sweep(..., cluster=...) and tlslab.run(...,
server_host=..., checker_host=...): the `tlslab` command as a subprocess, and where it ran.

This module imports nothing from tlslab, only the standard library (and `distributed`, which
every worker has): tlslab.cluster has cloudpickle send these functions by value, so that a
worker needs the `tlslab` command ($TLSLAB_BIN in the worker's environment, or `tlslab` on its
PATH) but not this Python package. Errors come back as data ({"error": line, "kind": ...}),
never as a remote traceback: the client raises them as one line.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Sequence

# How long a stopped child gets to print its report before it is killed.
STOP_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def find_tlslab() -> str:
    """The worker's `tlslab` command: $TLSLAB_BIN (an absolute path), else `tlslab` on PATH.
    FileNotFoundError with one line when there is none."""
    env = os.environ.get("TLSLAB_BIN")
    if env:
        if os.path.isabs(env) and os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise FileNotFoundError(f"TLSLAB_BIN={env} is not an absolute path to an executable")
    found = shutil.which("tlslab")
    if found:
        return found
    raise FileNotFoundError(
        "the tlslab command was not found: start the worker with TLSLAB_BIN=/path/to/tlslab "
        "in its environment, or install tlslab on it"
    )


def host_info() -> dict[str, str]:
    """Where this runs: the host name, the CPU model (/proc/cpuinfo `model name`) and the
    Dask worker's address (empty outside a worker)."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    worker = ""
    distributed = sys.modules.get("distributed")  # a worker has it; a local sweep need not
    if distributed is not None:
        try:
            worker = distributed.get_worker().address
        except ValueError:  # not in a worker
            pass
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu or platform.processor() or platform.machine(),
        "worker": worker,
    }


def check() -> dict[str, Any]:
    """Whether this worker can run points: its tlslab command (`tlslab --version`)."""
    out: dict[str, Any] = {"host": host_info()}
    try:
        binary = find_tlslab()
        code = subprocess.run(
            [binary, "--help"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        ).returncode
        if code != 0:
            raise OSError(f"`{binary} --help` exited with code {code}")
        out["tlslab"] = binary
    except (OSError, subprocess.TimeoutExpired) as e:
        out["error"] = str(e)
    return out


def _die_with_parent() -> Any:
    """A preexec_fn: the child gets SIGKILL when the thread that started it dies (prctl(2)
    PR_SET_PDEATHSIG), so a worker that is killed mid-point leaves no `tlslab run` behind to
    share the machine with the point's rerun."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _stop(child: subprocess.Popen) -> tuple[str, str]:
    """SIGINT (tlslab ends its run and prints its report), SIGKILL after a grace period."""
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    try:
        return child.communicate(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.communicate()


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    return (errors or lines or [""])[-1].removeprefix("tlslab: error: ")


def _document(code: int, out: str, err: str, host: dict[str, str]) -> dict[str, Any]:
    """tlslab's exit code and output -> {"doc", "host"} or {"error", "kind", "host"}; the kinds
    follow tlslab._cli.run_json: 2 bad input ("value"), 130 interrupted, else "runtime"."""
    try:
        doc = json.loads(out)
    except json.JSONDecodeError:
        doc = None
    if code == 0 and isinstance(doc, dict):
        return {"doc": doc, "host": host}
    kind = {2: "value", 130: "interrupted"}.get(code, "runtime")
    line = _error_line(err) or f"tlslab exited with code {code} and no JSON document"
    return {"error": line, "kind": kind, "host": host}


def run_json(args: Sequence[str], timeout: float) -> dict[str, Any]:
    """`tlslab ARGS... --json` on this worker, within `timeout` seconds: {"doc", "host",
    "elapsed_s"} or {"error", "kind", "host"}."""
    host = host_info()
    started = time.monotonic()
    try:
        cmd = [find_tlslab(), *map(str, args), "--json"]
    except FileNotFoundError as e:
        return {"error": f"{host['worker'] or host['hostname']}: {e}", "kind": "missing",
                "host": host}
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent(),
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(child)
            return {"error": f"`tlslab {args[0]}` did not finish within {timeout:g} s",
                    "kind": "timeout", "host": host}
        except BaseException:
            _stop(child)
            raise
    return {**_document(child.returncode, out, err, host), "elapsed_s": time.monotonic() - started}


def _ready_line(child: subprocess.Popen, deadline: float) -> tuple[str | None, str]:
    """The `ready ...` line `tlslab serve --json` prints on stderr (None when the child exits
    or the deadline passes first), and what it printed so far (for the error message)."""
    assert child.stderr is not None
    fd = child.stderr.fileno()
    buf = b""
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        for line in buf.decode(errors="replace").splitlines(keepends=True):
            if line.startswith("ready ") and line.endswith("\n"):
                return line.strip(), ""
        if len(buf) > 65536:  # bounded: a server that prints this much is not ready
            break
    return None, buf.decode(errors="replace")


def serve(
    args: Sequence[str], ready_queue: str, stop_event: str, timeout: float
) -> dict[str, Any]:
    """`tlslab serve ARGS... --json` on this worker until the client sets the Dask Event
    `stop_event` (or `timeout` seconds pass): the ready line (with the ports) goes to the
    Dask Queue `ready_queue` as soon as the backends listen, the JSON document is returned
    when the server has stopped."""
    from distributed import Event, Queue

    host = host_info()
    queue = Queue(ready_queue)
    try:
        cmd = [find_tlslab(), *map(str, args), "--json"]
    except FileNotFoundError as e:
        queue.put({"error": str(e)})
        return {"error": f"{host['worker']}: {e}", "kind": "missing", "host": host}
    deadline = time.monotonic() + timeout
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent(),
    ) as child:
        try:
            ready, before = _ready_line(child, min(deadline, time.monotonic() + 60))
            if ready is None:
                out, err = _stop(child)
                text = before + err.decode(errors="replace")
                result = _document(child.returncode or 1, "", text, host)
                queue.put({"error": result["error"]})
                return result
            queue.put({"ready": ready, "host": host})
            Event(stop_event).wait(timeout=max(0.0, deadline - time.monotonic()))
            out, err = _stop(child)
        except BaseException:
            _stop(child)
            raise
    code = 0 if child.returncode in (0, 130) else child.returncode
    return _document(code, out.decode(errors="replace"), err.decode(errors="replace"), host)
