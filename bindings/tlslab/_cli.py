"""The `tlslab` command as a subprocess: for runs isolated in their own process (so that the
CPU each side reports is its own, untouched by Python).

The binary is $TLSLAB_BIN, else the `tlslab` of the build this package comes from, else the
first `tlslab` on PATH.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

# A relative $TLSLAB_BIN is relative to the directory the process was in when tlslab was
# imported (a notebook or a test may change directory later).
_IMPORT_CWD = os.getcwd()
# How long a stopped child gets to write its report and exit before it is killed.
_STOP_GRACE_S = 10.0


def tlslab_bin() -> Path:
    """The `tlslab` command this package runs: $TLSLAB_BIN (relative to the directory
    tlslab was imported from), else the binary of the build this package was built in, else
    `tlslab` on PATH. FileNotFoundError when none exists.

    Example:
        >>> import tlslab
        >>> tlslab.tlslab_bin().name
        'tlslab'
    """
    env = os.environ.get("TLSLAB_BIN")
    if env:
        path = Path(_IMPORT_CWD, env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"TLSLAB_BIN={env} is not an executable file")
        return path.resolve()
    try:
        from tlslab import _build_info

        built = Path(_build_info.TLSLAB_BIN)
        if built.is_file() and os.access(built, os.X_OK):
            return built
    except ImportError:
        pass
    found = shutil.which("tlslab")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "the tlslab command was not found: set TLSLAB_BIN=/path/to/tlslab, or build it "
        "(cmake --build build) in the tree this package comes from"
    )


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent_fn() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when this process dies, however it dies
    (prctl(2) PR_SET_PDEATHSIG): a SIGKILLed sweep leaves no `tlslab run` behind to overlap
    the resumed point. libc is resolved here, before the fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def run_command(args: Sequence[str], timeout: float | None = None) -> tuple[int, str, str]:
    """Runs `tlslab ARGS...`; returns (exit code, stdout, stderr). A KeyboardInterrupt (or
    any other exception) while it runs stops the child first: SIGINT, which makes tlslab end
    its run cleanly, then SIGKILL after a grace period. The child dies with this process."""
    cmd = [str(tlslab_bin()), *map(str, args)]
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent_fn(),
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(child)
            raise TimeoutError(f"`{' '.join(cmd)}` did not finish within {timeout} s") from None
        except BaseException:
            _stop(child)
            raise
        return child.returncode, out, err


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.communicate(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()


def run_json(args: Sequence[str], timeout: float | None = None) -> dict[str, Any]:
    """Runs `tlslab ARGS... --json` and returns the JSON document. Exit code 2 (bad input)
    raises ValueError with tlslab's one-line message, 1 (refused by the environment)
    RuntimeError, 130 (interrupted) KeyboardInterrupt."""
    code, out, err = run_command([*args, "--json"], timeout)
    message = _error_line(err)
    if code == 2:
        raise ValueError(message)
    if code == 130:
        raise KeyboardInterrupt(message or "tlslab was interrupted")
    try:
        doc = json.loads(out)
    except json.JSONDecodeError:
        doc = None
    if code != 0 and not isinstance(doc, dict):
        raise RuntimeError(message or f"tlslab exited with code {code}")
    if not isinstance(doc, dict):
        raise RuntimeError(f"tlslab printed no JSON document: {out[:200]!r}")
    return doc


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    return (errors or lines or [""])[-1].removeprefix("tlslab: error: ")


def subcommands() -> list[str]:
    """The subcommands `tlslab --help` lists."""
    code, out, err = run_command(["--help"], timeout=30)
    names = []
    for line in (out + err).splitlines():
        if line.startswith("  ") and line.strip():
            names.append(line.split()[0])
    return names


__all__ = ["tlslab_bin", "run_command", "run_json", "subcommands"]
