"""The installed tlslab works from outside the checkout (issue: "Installable").

- `cmake --install BUILD --prefix SCRATCH` puts `tlslab` in SCRATCH/bin and the Python package in
  SCRATCH/lib/python3.X/dist-packages; both run from a directory that is not the checkout, with
  no build tree on any path.
- `cpack -G DEB` makes a .deb; where CI=true (or TLSLAB_TEST_DEB=1) and we are root, it is
  installed with `apt-get install ./tlslab_*.deb` (dependencies included), `tlslab incident` and
  `import tlslab` are run with the system's PATH and Debian's /usr/bin/python3 and no
  PYTHONPATH, and the package is removed again.

TLSLAB_BUILD_DIR names the build directory (default: build), configured with
-DTLSLAB_BUILD_PYTHON=ON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("TLSLAB_BUILD_DIR", ROOT / "build")).resolve()
PYTHON = os.environ.get("TLSLAB_PYTHON", "/usr/bin/python3")
PYVER = f"python{sys.version_info.major}.{sys.version_info.minor}"
INCIDENT = ["incident", "--backends", "20", "--duration", "2s", "--json"]
IMPORT_CHECK = (
    "import json, tlslab; "
    "print(json.dumps({'file': tlslab.__file__, 'bin': str(tlslab.tlslab_bin()), "
    "'profiles': len(tlslab.profile_names('server'))}))"
)


def _clean_env() -> dict[str, str]:
    """The environment of a user who has no checkout: no PYTHONPATH, no TLSLAB_BIN."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TLSLAB_BIN")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _check_incident(tlslab: str, cwd: Path, env: dict[str, str]) -> None:
    done = _run([tlslab, *INCIDENT], cwd, env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    runs = doc["runs"] if isinstance(doc, dict) and "runs" in doc else doc
    assert len(runs) == 4, doc
    broken = runs[0]["figures"]
    # 20 backends checked every 2 s by the broken pair: every check is a full handshake.
    assert broken["full_handshakes_total"] >= 20, broken
    assert broken["resumed_handshakes_total"] == 0, broken


@pytest.fixture(scope="module")
def build_dir() -> Path:
    cache = BUILD / "CMakeCache.txt"
    if not cache.is_file():
        pytest.fail(f"no configured build at {BUILD}: run scripts/test.sh or set TLSLAB_BUILD_DIR")
    if "TLSLAB_BUILD_PYTHON:BOOL=ON" not in cache.read_text():
        pytest.fail(f"{BUILD} was configured without -DTLSLAB_BUILD_PYTHON=ON")
    return BUILD


def test_cmake_install_into_a_scratch_prefix(build_dir: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    done = subprocess.run(
        ["cmake", "--install", str(build_dir), "--prefix", str(prefix)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tlslab = prefix / "bin" / "tlslab"
    package = prefix / "lib" / PYVER / "dist-packages" / "tlslab"
    assert tlslab.is_file() and os.access(tlslab, os.X_OK)
    assert (package / "__init__.py").is_file()
    assert list(package.glob("_tlslab*.so")), sorted(p.name for p in package.iterdir())

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _clean_env()
    _check_incident(str(tlslab), outside, env)

    # A scratch prefix is not on Debian's sys.path (/usr/local is); name it, as a user would.
    env["PYTHONPATH"] = str(package.parent)
    done = _run([PYTHON, "-c", IMPORT_CHECK], outside, env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert Path(seen["file"]).resolve().is_relative_to(prefix.resolve()), seen
    # The installed package runs the installed command, not the build tree's.
    assert Path(seen["bin"]).resolve() == tlslab.resolve(), seen
    assert seen["profiles"] > 10, seen
    # `tlslab gate` (app/gate_command.cc) runs the installed package: its one-line error.
    done = _run([str(tlslab), "gate", "missing.toml"], outside, env)
    assert (done.returncode, done.stderr) == (2, "tlslab gate: error: missing.toml: no such "
                                                 "gates file\n"), done.stderr


def _deb_wanted() -> str | None:
    if os.environ.get("CI") != "true" and os.environ.get("TLSLAB_TEST_DEB") != "1":
        return "installs a package system-wide: runs where CI=true or TLSLAB_TEST_DEB=1"
    if os.geteuid() != 0:
        return "installing a .deb needs root"
    if shutil.which("apt-get") is None or shutil.which("cpack") is None:
        return "needs apt-get and cpack (Debian or Ubuntu)"
    return None


def test_deb_installs_with_its_dependencies_and_runs(build_dir: Path, tmp_path: Path) -> None:
    reason = _deb_wanted()
    if reason:
        pytest.skip(reason)
    if subprocess.run(["dpkg-query", "-W", "tlslab"], capture_output=True).returncode == 0:
        pytest.fail("a tlslab package is installed already; apt-get remove tlslab first")
    out = tmp_path / "deb"
    out.mkdir()
    done = subprocess.run(
        ["cpack", "-G", "DEB", "--config", str(build_dir / "CPackConfig.cmake"), "-B", str(out)],
        cwd=out, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    debs = list(out.glob("tlslab_*.deb"))
    assert len(debs) == 1, sorted(p.name for p in out.iterdir())
    deb = debs[0]
    info = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True)
    assert "libssl3" in info.stdout and "python3" in info.stdout, info.stdout

    env = _clean_env()
    env["DEBIAN_FRONTEND"] = "noninteractive"
    done = _run(["apt-get", "install", "-y", "-q", str(deb)], out, env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    try:
        _check_incident("tlslab", tmp_path, env)  # found on PATH, as /usr/bin/tlslab
        done = _run(["/usr/bin/python3", "-c", IMPORT_CHECK], tmp_path, env)
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        assert seen["file"].startswith("/usr/lib/"), seen
        assert seen["bin"] == "/usr/bin/tlslab", seen
    finally:
        _run(["apt-get", "remove", "-y", "-q", "tlslab"], tmp_path, env, timeout=300)
