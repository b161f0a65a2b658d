"""Each real peer and the tlslab profile named after it give the same `tlslab probe` matrix.

For every peer configuration in peers.CONFIGS that a profile row emulates (PAIRS), this module
runs `tlslab probe 127.0.0.1:PORT --json` against the real server and against
`tlslab serve --profile ROW`, and asserts that the two matrices are equal cell by cell: per
mechanism (session-id, ticket, psk) the row status (probed, no-session, no-resumption) and the
fate after each close kind (close_notify, eof, reset). A profile row with verified_here = true
must be one of these pairs, and every pair's row must say verified_here = true.

Rows this machine cannot run (JDK 8, JDK 11.0.0-11.0.17 / 17.0.0-17.0.5, Go, HAProxy 1.7 and
3.4 as checkers) have a skipped test each, with the reason and the citation.

The binary comes from $TLSLAB_BIN, else <repo>/build/tlslab. Each pair costs one peer process
and one `tlslab serve`; the pairs run two at a time (about 40 s in all).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

import peers

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TLSLAB_BIN", str(REPO / "build" / "tlslab"))).resolve()

READY_RE = re.compile(r"^ready backends=1 profile=(\S+) listen=(\S+) ports=(\d+)$", re.M)
READY_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 120.0  # 60 connections, each wait bounded by the probe's 3 s; ~5 s in practice
PARALLEL_PAIRS = 2  # two pairs (four probes) at a time on a 2-core machine

# (peer configuration in peers.CONFIGS, the profile row that emulates it)
PAIRS: tuple[tuple[str, str], ...] = (
    ("s_server", "openssl3"),
    ("s_server-ignore-eof", "openssl3-ignore-eof"),
    ("nginx", "nginx"),
    ("haproxy", "haproxy-frontend"),
    ("java-socket", "jdk17-sslsocket"),
    ("java-socket-require-close-notify", "jdk17-sslsocket-require-close-notify"),
    ("java-socket-no-tickets", "jdk17-sslsocket-no-tickets"),
    (
        "java-socket-require-close-notify-no-tickets",
        "jdk17-sslsocket-require-close-notify-no-tickets",
    ),
    ("java-engine", "jdk17-sslengine"),
    ("jetty", "jetty94"),
)

REQUIRED_TOOL = {
    "s_server": "openssl",
    "nginx": "nginx",
    "haproxy": "haproxy",
    "java-socket": "java",
    "java-engine": "java",
    "jetty": "java",
}

# Rows that cannot be checked here: the row, why, and where its behaviour comes from.
NOT_HERE: tuple[tuple[str, str], ...] = (
    (
        "jdk8-sslengine",
        "JDK 8u252 (old SSLEngine) and Jetty <= 9.3.19 / 9.4.5 are not installable here "
        "(Debian bookworm ships OpenJDK 17 and Jetty 9.4.57). Source: openjdk/jdk@fde1dab "
        "SSLEngineImpl.closeInbound -> fatal -> sess.invalidate(); Jetty 9.3.16 SslConnection "
        "calls closeInbound on EOF, fixed by d53af5d (#523); "
        "docs/tls-semantics.md 1.2, 1.6, 8 row 1",
    ),
    (
        "jdk11-sslengine-old",
        "JDK 11.0.0-11.0.17 is not installable here. Source: TransportContext.fatal "
        "invalidates (openjdk/jdk@0278846); fixed by JDK-8273553 in 11.0.18 "
        "(jdk11u-dev#1422); docs/tls-semantics.md 1.2, 8 row 4",
    ),
    (
        "jdk17-sslengine-old",
        "JDK 17.0.0-17.0.5 is not installable here (Debian has 17.0.15, which has "
        "JDK-8273553). Source: jdk17u-dev#695 (the 17.0.6 backport); docs/tls-semantics.md 1.2, "
        "8 row 6",
    ),
    (
        "go",
        "no Go TLS server is installed here. Source: Go crypto/tls handshake_server.go "
        "checkForResumption (tickets only, no session-ID cache); docs/tls-semantics.md 3, 8 row 17",
    ),
)
CHECKERS_NOT_HERE: tuple[tuple[str, str], ...] = (
    (
        "haproxy-1.7.3",
        "HAProxy 1.7 is not installable here (Debian bookworm ships 2.6). Source: HAProxy "
        "src/checks.c before 544d48151 (conn_data_shutw_hard, SSL_set_quiet_shutdown), "
        "fd_delete linger_risk RST; docs/tls-semantics.md 4.1",
    ),
    (
        "haproxy-1.7.4",
        "HAProxy 1.7 is not installable here. Source: commit 544d48151 'attempt clean shutw "
        "for SSL check' (http checks only; connect checks still SSL_free without "
        "SSL_shutdown); docs/tls-semantics.md 4.1",
    ),
    (
        "haproxy-3.4",
        "HAProxy 3.4 is not installable here. Source: commits dcce93691 and 420b42df1 "
        "(CO_FL_SSL_NO_CACHED_INFO: checks never resume); docs/tls-semantics.md 4.2",
    ),
)


# --- running things ----------------------------------------------------------------------------


def run_probe(target: str) -> dict:
    """`tlslab probe TARGET --json`; raises with the output when it does not give a document."""
    cmd = [str(BIN), "probe", target, "--json"]
    done = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {done.returncode}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


class LabServer:
    """`tlslab serve --profile ROW --port 0`, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, profile: str, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"serve-{profile}.out"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--profile", profile, "--port", "0", "--live", "off"]
                + ["--duration", "10m"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=peers._die_with_parent,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            m = READY_RE.search(self.log.read_text(errors="replace"))
            if m:
                self.target = f"{m[2]}:{m[3]}"
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tlslab serve --profile {profile} not ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# --- matrices ----------------------------------------------------------------------------------


def matrix(doc: dict) -> dict[str, dict[str, str]]:
    """{mechanism: {"status": ..., close kind: fate}} from a probe document."""
    out: dict[str, dict[str, str]] = {}
    for mechanism, row in doc["mechanisms"].items():
        cells = {"status": row["status"]}
        for kind, cell in row["close_kinds"].items():
            cells[kind] = cell["fate"]
        out[mechanism] = cells
    return out


def differences(real: dict, lab: dict) -> list[str]:
    """One line per cell that differs: 'psk eof: real kept, profile removed'."""
    out = []
    for mechanism in sorted(set(real) | set(lab)):
        r, p = real.get(mechanism, {}), lab.get(mechanism, {})
        for key in ["status"] + sorted((set(r) | set(p)) - {"status"}):
            if r.get(key) != p.get(key):
                out.append(f"{mechanism} {key}: real {r.get(key)}, profile {p.get(key)}")
    return out


def table(m: dict) -> str:
    lines = []
    for mechanism, cells in m.items():
        rest = ", ".join(f"{k} {v}" for k, v in cells.items() if k != "status")
        lines.append(f"    {mechanism:10} {cells['status']:14} {rest}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def profile_rows() -> dict[str, dict]:
    if not BIN.exists():
        pytest.skip(f"tlslab binary not found at {BIN}: build it or set TLSLAB_BIN")
    done = subprocess.run(
        [str(BIN), "profiles", "--json"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    return {
        "server": {p["name"]: p for p in doc["server"]},
        "checker": {p["name"]: p for p in doc["checker"]},
    }


@pytest.fixture(scope="module")
def compared(
    profile_rows: dict, credentials: peers.Credentials, interop_dir: Path, request
) -> Callable[[str], tuple[dict, dict] | str]:
    """compared(peer config) -> (real matrix, profile matrix), or the reason it could not run.

    Every pair is measured on first use, PARALLEL_PAIRS at a time; each pair's real peer and
    tlslab server run side by side and are probed at the same time."""
    java_classes: Path | None = None
    why_no_java = ""
    if shutil.which("javac") and shutil.which("java"):
        java_classes = peers.compile_java(interop_dir / "profiles-match-classes")
    else:
        why_no_java = "javac/java not installed (apt-get install openjdk-17-jdk-headless)"

    def one(peer_name: str, profile: str) -> tuple[dict, dict] | str:
        cfg = peers.config(peer_name)
        tool = REQUIRED_TOOL[cfg.kind]
        if not shutil.which(tool):
            return f"SKIP {tool} not installed: needed for {peer_name} (see conftest.py header)"
        if cfg.kind in peers.JAVA_MAIN and java_classes is None:
            return f"SKIP {why_no_java}"
        if cfg.kind == "jetty" and peers.jetty_missing():
            return f"SKIP {peers.jetty_missing()}"
        workdir = interop_dir / f"profiles-match-{peer_name}"
        lab = LabServer(profile, workdir)
        try:
            with peers.running(cfg, credentials, workdir, java_classes) as peer:
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    real_doc = pool.submit(run_probe, f"127.0.0.1:{peer.port}")
                    lab_doc = pool.submit(run_probe, lab.target)
                    return matrix(real_doc.result()), matrix(lab_doc.result())
        finally:
            lab.stop()

    started = time.monotonic()
    results: dict[str, tuple[dict, dict] | str] = {}
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_PAIRS) as pool:
        futures = {pool.submit(one, peer, profile): peer for peer, profile in PAIRS}
        for future in concurrent.futures.as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception as e:  # reported by that pair's test
                results[futures[future]] = f"ERROR {type(e).__name__}: {e}"
    print(f"\nprofiles match: {len(PAIRS)} pairs probed in {time.monotonic() - started:.1f} s")
    return results.__getitem__


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("peer_name,profile", PAIRS, ids=[p for p, _ in PAIRS])
def test_real_peer_and_its_profile_give_the_same_matrix(
    compared: Callable, profile_rows: dict, peer_name: str, profile: str
) -> None:
    assert profile in profile_rows["server"], f"no profile row {profile!r}"
    outcome = compared(peer_name)
    if isinstance(outcome, str):
        if outcome.startswith("SKIP "):
            pytest.skip(outcome[5:])
        pytest.fail(f"{peer_name} vs {profile}: {outcome}", pytrace=False)
    real, lab = outcome
    diff = differences(real, lab)
    assert not diff, (
        f"{peer_name} ({peers.config(peer_name).what}) and profile {profile} differ:\n  "
        + "\n  ".join(diff)
        + f"\nreal:\n{table(real)}\nprofile:\n{table(lab)}"
    )
    # Something was measured: a probe that resumed nothing would make any two servers equal.
    assert any(row["status"] == "probed" for row in real.values()), table(real)


def test_verified_here_means_checked_against_the_real_peer(profile_rows: dict) -> None:
    paired = {profile for _, profile in PAIRS}
    verified = {name for name, p in profile_rows["server"].items() if p["verified_here"]}
    assert verified == paired, (
        f"verified_here without a real-peer test: {sorted(verified - paired)}; "
        f"a real-peer test but verified_here false: {sorted(paired - verified)}"
    )


def test_rows_not_checkable_here_are_listed(profile_rows: dict) -> None:
    """Every server row is either paired with a real peer, listed in NOT_HERE, or lenient (the
    RFC, not a product); every checker row but haproxy-2.6 (test_haproxy_checker.py) and
    persistent (no product) is in CHECKERS_NOT_HERE."""
    accounted = {p for _, p in PAIRS} | {name for name, _ in NOT_HERE} | {"lenient"}
    assert set(profile_rows["server"]) == accounted
    checkers = {name for name, _ in CHECKERS_NOT_HERE} | {"haproxy-2.6", "persistent"}
    assert set(profile_rows["checker"]) == checkers
    verified = {name for name, p in profile_rows["checker"].items() if p["verified_here"]}
    assert verified == {"haproxy-2.6"}, "only HAProxy 2.6 runs here as a checker"


@pytest.mark.parametrize("profile,why", NOT_HERE, ids=[p for p, _ in NOT_HERE])
def test_server_row_from_source_only(profile_rows: dict, profile: str, why: str) -> None:
    row = profile_rows["server"][profile]
    assert not row["verified_here"], f"{profile} says verified_here but no real peer runs here"
    assert row["source"], profile
    pytest.skip(f"{profile}: cannot be checked on this machine: {why}")


@pytest.mark.parametrize("profile,why", CHECKERS_NOT_HERE, ids=[p for p, _ in CHECKERS_NOT_HERE])
def test_checker_row_from_source_only(profile_rows: dict, profile: str, why: str) -> None:
    row = profile_rows["checker"][profile]
    assert not row["verified_here"], f"{profile} says verified_here but no real checker runs here"
    pytest.skip(f"{profile}: cannot be checked on this machine: {why}")
