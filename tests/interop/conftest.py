# Debian packages these tests need (bookworm):
#   openssl                    openssl s_server 3.0 (and the certificates)
#   nginx-light                nginx 1.22 (any nginx flavour with the ssl module works)
#   haproxy                    HAProxy 2.6, as a TLS frontend
#   openjdk-17-jdk-headless    javac, java (17.0.6+ for the SSLEngine rows, JDK-8273553)
#   libjetty9-java             Jetty 9.4 jars in /usr/share/java (pulls libservlet-api-java)
#   python3-pytest             run with Debian's /usr/bin/python3 -m pytest (its ssl module is
#                              linked against the system OpenSSL 3.0)
"""Fixtures for the interop tests: real TLS servers decide what the server profiles claim.

Each peer configuration (peers.CONFIGS) is started once, measured once (the full matrix:
mechanism x close mode, 3 trials a cell) and stopped; the tests of that configuration then
read the cached matrix. So one JVM per configuration, whatever the number of cells.

    /usr/bin/python3 -m pytest -q tests/interop        # the suite (about 2 minutes)
    /usr/bin/python3 -m pytest -q tests/interop -s     # and print every matrix
    /usr/bin/python3 tests/interop/print_matrices.py   # the tables of docs/real-stacks.md
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

import peers
import resumption_client as rc

REPEATS = 3

# Which executable each peer kind needs.
REQUIRED_TOOL = {
    "s_server": "openssl",
    "nginx": "nginx",
    "haproxy": "haproxy",
    "java-socket": "java",
    "java-engine": "java",
    "jetty": "java",
}


@pytest.fixture(scope="session")
def interop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop")


@pytest.fixture(scope="session")
def credentials(interop_dir: Path) -> peers.Credentials:
    """One throw-away self-signed certificate (openssl req -x509, RSA 2048, one day)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed (apt-get install openssl)")
    return peers.make_credentials(interop_dir / "credentials")


@pytest.fixture(scope="session")
def java_classes(interop_dir: Path) -> Path:
    """tests/interop/java/*.java compiled with javac, once per session."""
    if not (shutil.which("javac") and shutil.which("java")):
        pytest.skip("javac/java not installed (apt-get install openjdk-17-jdk-headless)")
    return peers.compile_java(interop_dir / "classes")


@pytest.fixture(scope="session")
def measured(
    interop_dir: Path, credentials: peers.Credentials, request: pytest.FixtureRequest
) -> Callable[[str], rc.Matrix]:
    """measured(config_name) -> the observed matrix of that peer configuration.

    The peer is started, measured and stopped on the first call; later calls read the cache.
    Skips (with the reason) when the peer's software is not installed."""
    cache: dict[str, rc.Matrix] = {}
    logs: dict[str, Path] = {}
    broken: dict[str, str] = {}  # a peer that failed to start fails its other tests at once

    def measure(name: str) -> rc.Matrix:
        if name in cache:
            return cache[name]
        if name in broken:
            pytest.fail(broken[name], pytrace=False)
        cfg = peers.config(name)
        tool = REQUIRED_TOOL[cfg.kind]
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed: needed for {name} (see conftest.py header)")
        if cfg.kind == "jetty" and peers.jetty_missing():
            pytest.skip(peers.jetty_missing())
        classes = request.getfixturevalue("java_classes") if cfg.kind in peers.JAVA_MAIN else None
        try:
            with peers.running(cfg, credentials, interop_dir / name, classes) as peer:
                matrix = rc.measure_matrix("127.0.0.1", peer.port, repeats=REPEATS)
                logs[name] = peer.log
                if peer.proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} died during the measurement; log {peer.log}:\n"
                        f"{peer.log_tail()}"
                    )
        except RuntimeError as e:
            broken[name] = f"{name}: {e}"
            raise
        print(f"\n{name}: {cfg.what}\n{matrix.markdown()}")
        cache[name] = matrix
        return matrix

    measure.logs = logs  # type: ignore[attr-defined]
    return measure


@pytest.fixture(scope="session")
def server_log(measured: Callable[[str], rc.Matrix]) -> Callable[[str], str]:
    """server_log(config_name) -> the text the peer logged while it was measured."""

    def read(name: str) -> str:
        measured(name)
        return measured.logs[name].read_text(errors="replace")  # type: ignore[attr-defined]

    return read
