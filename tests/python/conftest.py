"""Tests of the Python side (bindings/): the tlslab package against the real core.

Run from the repository root after a build with -DTLSLAB_BUILD_PYTHON=ON:

    PYTHONPATH=build/python TLSLAB_BIN=build/tlslab /usr/bin/python3 -m pytest -q tests/python

Without PYTHONPATH, the package of this checkout's build/python is used when it was built.
Every test here is skipped, with the reason, when the package cannot be imported (the module
was not built); nothing else is skipped. Runs are kept small
(5-40 backends, 2-4 s) so that the whole suite takes about three minutes on two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPERIMENTS = REPO / "experiments"

try:
    import tlslab

    IMPORT_ERROR = None
except ImportError:
    if (REPO / "build" / "python" / "tlslab").is_dir():  # built, just not on PYTHONPATH
        sys.path.insert(0, str(REPO / "build" / "python"))
    try:
        import tlslab

        IMPORT_ERROR = None
    except ImportError as e:  # the module was not built
        tlslab = None
        IMPORT_ERROR = f"{e} (build with -DTLSLAB_BUILD_PYTHON=ON, or set PYTHONPATH)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IMPORT_ERROR is None:
        return
    skip = pytest.mark.skip(reason=f"the tlslab Python package is not importable: {IMPORT_ERROR}")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tlslab_bin() -> Path:
    """The tlslab command the package runs ($TLSLAB_BIN, else the build's own)."""
    return tlslab.tlslab_bin()


def run_cli(args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`tlslab ARGS...` as a process; the test fails (not hangs) after `timeout` seconds."""
    cmd = [str(tlslab.tlslab_bin()), *map(str, args)]
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout} s")


def python_env() -> dict[str, str]:
    """The environment for a child Python that must import the same tlslab package."""
    env = dict(os.environ)
    package_root = str(Path(tlslab.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["TLSLAB_BIN"] = str(tlslab.tlslab_bin())  # absolute: the child may run elsewhere
    return env
