"""Fixtures for tests/netpath: the helper (bindings/tlslab/netpath.py, standard library only,
loaded from its file so that these tests need no built Python module) and `tlslab` processes
in its namespaces. Every wait is bounded; every path is torn down by the helper itself."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TLSLAB_BIN", str(REPO / "build" / "tlslab"))).resolve()
HELPER = REPO / "bindings" / "tlslab" / "netpath.py"
READY_RE = re.compile(r"^ready backends=\d+ profile=\S+ listen=\S+ ports=([\d,]+)$", re.M)
READY_TIMEOUT_S = 30.0
# The long form (figures for a report, not CI): TLSLAB_NETPATH_RUN_S=30 lengthens each run of
# the race and the incident; TLSLAB_NETPATH_LOSS=1 sets the race's loss (percent, each end).
LONG_RUN_S = float(os.environ.get("TLSLAB_NETPATH_RUN_S", "0"))
STOP_TIMEOUT_S = 15.0


def _load_helper():
    spec = importlib.util.spec_from_file_location("tlslab_netpath", HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


netpath = _load_helper()


def skip_reason() -> str | None:
    """Why a path cannot be made here, or None."""
    try:
        netpath.require_root_and_netns()
    except netpath.NetPathError as e:
        return str(e)
    if not BIN.exists():
        return f"no tlslab binary at {BIN} (set TLSLAB_BIN)"
    return None


def netem_missing() -> str | None:
    """Why netem delays cannot be had here (the kernel has no netem qdisc), or None."""
    try:
        with netpath.NetPath(delay="1ms"):
            return None
    except netpath.NetPathError as e:
        return str(e)


@pytest.fixture(scope="session")
def need_path() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def need_netem(need_path) -> None:
    reason = netem_missing()
    if reason:
        pytest.skip(reason)


class Served:
    """`tlslab serve --json` in the server namespace: ports on ready, figures on SIGTERM."""

    def __init__(self, path, workdir: Path, name: str, *flags: str,
                 listen: str | None = None) -> None:
        """listen: the address in the server namespace (default its veth address)."""
        self.out, self.err = workdir / f"{name}.json", workdir / f"{name}.err"
        addr = listen or path.server_addr
        argv = [str(BIN), "serve", "--listen", addr, "--duration", "0", "--json",
                "--live", "off", "--key", "p256", *flags]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = path.popen("server", argv, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err)
        self.targets = workdir / f"{name}.targets"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            m = READY_RE.search(self.err.read_text(errors="replace"))
            if m:
                self.ports = [int(p) for p in m[1].split(",")]
                self.targets.write_text("".join(f"{addr}:{p}\n" for p in self.ports))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tlslab serve not ready:\n{self.err.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)

    def figures(self) -> dict:
        self.stop()
        return json.loads(self.out.read_text(errors="replace"))["figures"]


def lab_check(path, targets: Path, *flags: str, duration_s: float) -> dict:
    argv = [str(BIN), "check", "--targets-file", str(targets), "--json", "--live", "off",
            "--duration", f"{duration_s:g}s", *flags]
    done = path.run("client", argv, timeout=duration_s + 60, capture_output=True, text=True,
                    stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Served] = []

    def start(path, name: str, *flags: str, listen: str | None = None) -> Served:
        s = Served(path, tmp_path, name, *flags, listen=listen)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
