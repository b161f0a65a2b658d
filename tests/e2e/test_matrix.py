"""The matrix: server profile x checker close mode x TLS mode x check kind -> does the next check
resume? Real `tlslab serve` and `tlslab check` processes over loopback.

Each cell: 4 checks 100 ms apart against a backend no other cell touched (its own SSL_CTX and
session cache), by a fresh checker process (its own saved session). The first check is always a
full handshake; the expectation for the three that follow is derived below from what the close
looks like to the server and what the server profile does with the session after it.

One `serve` process per server profile x TLS mode (module scope, so 8 in all), shared by the
close-mode x check-kind cells, each on its own backend: cells cannot see each other's sessions.
"""

from __future__ import annotations

import pytest

CHECKS = 4
INTER = "100ms"
CELL_BOUNDS = ("--inter", INTER, "--max-checks", str(CHECKS), "--duration", "10s")

PROFILES = ("strict", "lenient")
CLOSE_MODES = ("close-notify", "quiet", "quiet-reset", "notify-reset", "keep")
CHECK_KINDS = ("connect", "http")

# The flags both sides get: a server offering tickets and a client not asking for them (or the
# reverse) would measure the mismatch, not the mode.
TLS_MODES = {
    "1.2-sid": ("--tls", "1.2", "--tickets", "off"),
    "1.2-ticket": ("--tls", "1.2", "--tickets", "on"),
    "1.3": ("--tls", "1.3", "--tickets", "on"),  # stateless tickets
    "1.3-stateful": ("--tls", "1.3", "--tickets", "off"),  # stateful tickets: a cache entry
}

# ---------------------------------------------------------------------------------------------
# The expectation, with its reasons.

# What the server sees when the checker closes a check (docs/design.md 2): close-notify and
# notify-reset deliver close_notify before anything else, so the server reads it first; quiet
# is a FIN without close_notify (eof); quiet-reset an RST without close_notify (reset). keep
# does not close: the next check reuses the connection.
CLOSE_KIND_SEEN = {
    "close-notify": "close_notify",
    "notify-reset": "close_notify",
    "quiet": "eof",
    "quiet-reset": "reset",
    "keep": None,
}


def resumption_mechanism(profile: str, tls_mode: str) -> str:
    """How the session would be resumed. The strict profile is JDK 8 SSLEngine under Jetty 9.3:
    no server-side tickets, so a TLS 1.2 ticket request falls back to the session ID and TLS 1.3
    issues stateful tickets; every mechanism goes through the server's session cache."""
    tls, tickets = TLS_MODES[tls_mode][1], TLS_MODES[tls_mode][3] == "on"
    if profile == "strict":
        tickets = False
    if tls == "1.2":
        return "ticket" if tickets else "session-id"
    return "psk-stateless" if tickets else "psk-stateful"


def session_removed(profile: str, mechanism: str, close_kind: str) -> bool:
    """Whether the server profile removes the session after that close.
    strict: a close without close_notify (eof or reset) is a possible truncation attack, the
    session is invalidated: it leaves the cache. Stateless tickets live in the client, no cache
    can lose them (strict never issues them anyway).
    lenient (RFC 5246 7.2.1): a close without close_notify no longer invalidates; only a fatal
    alert would, and no close mode sends one."""
    if mechanism in ("ticket", "psk-stateless"):
        return False
    if profile == "strict":
        return close_kind in ("eof", "reset")
    return close_kind == "alert"


def expected_handshakes(
    profile: str, close_mode: str, tls_mode: str, check: str, read_after_handshake: bool = True
) -> tuple[int, int]:
    """(full, resumed) handshakes over CHECKS checks of one fresh backend."""
    if close_mode == "keep":
        return 1, 0  # one connection for every check: one handshake, nothing to resume
    tls13 = TLS_MODES[tls_mode][1] == "1.3"
    if tls13 and check == "connect" and not read_after_handshake:
        # The TLS 1.3 ticket arrives after the handshake (RFC 8446 4.6.1); a connect check that
        # closes at once never receives one, so it has nothing to offer next time.
        return CHECKS, 0
    kind = CLOSE_KIND_SEEN[close_mode]
    if session_removed(profile, resumption_mechanism(profile, tls_mode), kind):
        return CHECKS, 0
    return 1, CHECKS - 1


# ---------------------------------------------------------------------------------------------
# Servers: one per profile x TLS mode, a fresh backend per cell.

BACKENDS_PER_SERVER = 20  # 10 matrix cells + the read-after-handshake cells, with room to spare


@pytest.fixture(
    scope="module",
    params=[(p, t) for p in PROFILES for t in TLS_MODES],
    ids=[f"{p}-{t}" for p in PROFILES for t in TLS_MODES],
)
def server(request, cli):
    profile, tls_mode = request.param
    s = cli.serve("--profile", profile, "--backends", BACKENDS_PER_SERVER, *TLS_MODES[tls_mode])
    s.tls_mode = tls_mode
    assert s.profile == profile
    yield s
    s.stop()
    cli.assert_no_crash(s.stderr())


def check_cell(cli, target: str, tls_mode: str, check: str, close: str, *extra: str) -> dict:
    flags = f"--target {target} --check {check} --close {close}".split()
    return cli.check(*flags, *TLS_MODES[tls_mode], *CELL_BOUNDS, *extra)


def assert_handshakes(doc: dict, full: int, resumed: int, cell: str) -> None:
    f = doc["figures"]
    got = (f["checks_total"], f["check_failures_total"])
    got += (f["full_handshakes_total"], f["resumed_handshakes_total"])
    assert got == (CHECKS, 0, full, resumed), (
        f"{cell}: (checks, failures, full, resumed) = {got}, expected {(CHECKS, 0, full, resumed)};"
        f" failures: {f['check_failure_examples']}"
    )


@pytest.mark.parametrize("check", CHECK_KINDS)
@pytest.mark.parametrize("close", CLOSE_MODES)
def test_next_check_resumes(cli, server, close: str, check: str) -> None:
    full, resumed = expected_handshakes(server.profile, close, server.tls_mode, check)
    doc = check_cell(cli, server.take(), server.tls_mode, check, close)
    assert doc["effective"]["close"] == close
    assert doc["effective"]["check"] == check
    assert_handshakes(doc, full, resumed, f"{server.profile} {server.tls_mode} {check} {close}")


@pytest.mark.parametrize(
    "read_after_handshake", ["off", "on"], ids=lambda v: f"read-after-handshake-{v}"
)
def test_tls13_connect_check_needs_to_read_its_ticket(
    cli, server, read_after_handshake: str
) -> None:
    """A connect check that closes right after the handshake: in TLS 1.3 no ticket has arrived
    yet, so the next check has nothing to offer, even after a clean close that both profiles
    honour; in TLS 1.2 the session is known at the end of the handshake and resumes anyway."""
    wait = read_after_handshake == "on"
    full, resumed = expected_handshakes(
        server.profile, "close-notify", server.tls_mode, "connect", read_after_handshake=wait
    )
    flag = ("--read-after-handshake", read_after_handshake)
    doc = check_cell(cli, server.take(), server.tls_mode, "connect", "close-notify", *flag)
    assert doc["effective"]["read_after_handshake"] is wait
    assert_handshakes(
        doc, full, resumed, f"{server.tls_mode} connect read-after-handshake {read_after_handshake}"
    )
    if server.tls_mode.startswith("1.3") and not wait:
        assert doc["figures"]["resumed_handshakes_total"] == 0


def test_expectation_covers_both_outcomes() -> None:
    """The expectation function is not trivially constant: the matrix has both outcomes for
    every TLS mode (a guard against an expectation that would pass whatever the binary does)."""
    for tls_mode in TLS_MODES:
        outcomes = {
            expected_handshakes(p, c, tls_mode, k)
            for p in PROFILES
            for c in CLOSE_MODES
            for k in CHECK_KINDS
        }
        assert outcomes == {(1, CHECKS - 1), (CHECKS, 0), (1, 0)}, tls_mode


# ---------------------------------------------------------------------------------------------
# The server's own view of the same cells: `tlslab run` holds server and checker in one process
# and reports the close kinds the server saw and the sessions its profile removed.

CLOSE_KINDS = ("close_notify", "eof", "reset", "alert", "timeout", "handshake_failed")

RUN_CELLS = [
    ("strict", "quiet-reset", "http", "1.2-sid"),
    ("strict", "quiet", "connect", "1.3-stateful"),
    ("strict", "notify-reset", "http", "1.2-ticket"),
    ("strict", "close-notify", "connect", "1.3"),
    ("strict", "keep", "http", "1.2-sid"),
    ("lenient", "quiet-reset", "http", "1.2-sid"),
    ("lenient", "quiet", "connect", "1.3-stateful"),
    ("lenient", "notify-reset", "http", "1.3"),
]


@pytest.mark.parametrize(
    "profile,close,check,tls_mode", RUN_CELLS, ids=["-".join(c) for c in RUN_CELLS]
)
def test_server_view(cli, profile: str, close: str, check: str, tls_mode: str) -> None:
    flags = f"--server-profile {profile} --backends 1 --check {check} --close {close}".split()
    doc = cli.lab(*flags, *TLS_MODES[tls_mode], *CELL_BOUNDS)
    f = doc["figures"]
    cell = f"run {profile} {close} {check} {tls_mode}"
    full, resumed = expected_handshakes(profile, close, tls_mode, check)
    assert_handshakes(doc, full, resumed, cell)

    kinds, removed = f["close_kinds"], f["sessions_removed_total"]
    assert set(kinds) == set(CLOSE_KINDS) and set(removed) == set(CLOSE_KINDS), cell
    seen = CLOSE_KIND_SEEN[close]
    # The run stops as soon as the checker has done its checks, so the server may not have
    # classified the last close yet: CHECKS - 1 or CHECKS of them, all of the one kind.
    if seen is None:
        # The kept connection closes only when the checker tears down at the end of the run,
        # hard (RST), maybe after the server has stopped looking.
        assert sum(kinds.values()) == kinds["reset"] <= 1, f"{cell}: {kinds}"
    else:
        assert CHECKS - 1 <= kinds[seen] <= CHECKS, f"{cell}: {kinds}"
        others = {k: n for k, n in kinds.items() if k != seen}
        assert sum(others.values()) == 0, f"{cell}: {kinds}"
    mechanism = resumption_mechanism(profile, tls_mode)
    for kind in CLOSE_KINDS:
        # Every connection that ended with a removing close kind lost its session; no other.
        want = kinds[kind] if session_removed(profile, mechanism, kind) else 0
        assert removed[kind] == want, f"{cell}: close kinds {kinds}, removed {removed}"
    if profile == "lenient":
        assert sum(removed.values()) == 0, f"{cell}: {removed}"
    if seen in ("eof", "reset") and profile == "strict":
        assert kinds[seen] > 0 and removed[seen] > 0, f"{cell}: {kinds} {removed}"
    # The server counts the same handshakes, except perhaps the last, which the run may end
    # before the server has finished it.
    server = (f["server"]["full_handshakes_total"], f["server"]["resumed_handshakes_total"])
    assert server in {(full, resumed), (full - 1, resumed), (full, resumed - 1)}, f"{cell}: {f}"
