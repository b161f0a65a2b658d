"""The shape of an expected matrix row, and the comparison every peer test makes.

A peer test holds a table: for each peer configuration (peers.CONFIGS), one `Row` per client
mechanism (resumption_client.MECHANISMS). A row says, for each close mode, the fate the real
software was seen to give the session, and one line of why, citing the source.
"""

from __future__ import annotations

import dataclasses

import resumption_client as rc

K = rc.KEPT
R = rc.REMOVED
# A cell that is a race in the real software: not asserted. The row's `why` must say what races.
RACE = "race"


@dataclasses.dataclass(frozen=True)
class Row:
    """Expected fates for one client mechanism against one peer configuration.

    mechanism:  what the client offers (resumption_client.MECHANISMS).
    close_notify, eof, reset, notify_reset: the fate after each close mode of connection A.
    ticket:     connection A's session carried a ticket (the server issued an RFC 5077 ticket
                or a TLS 1.3 NewSessionTicket). False for "ticket" means the server issued none,
                so the client resumed by session ID.
    resumes_by: the resumption mechanism in docs/design.md 2 terms that was exercised:
                session-id, ticket, psk-stateless or psk-stateful.
    why:        one line, with its source (docs/tls-semantics.md section, JDK bug, option).
    """

    mechanism: str
    close_notify: str
    eof: str
    reset: str
    notify_reset: str
    ticket: bool
    resumes_by: str
    why: str

    def fates(self) -> dict[str, str]:
        return {m: getattr(self, m) for m in rc.CLOSE_MODES}


def check_row(matrix: rc.Matrix, row: Row, config_name: str) -> None:
    """Assert that the observed matrix agrees with row; the message shows the whole matrix."""
    observed = matrix.fates[row.mechanism]
    trials_a = [t for t in matrix.trials if t.mechanism == row.mechanism and t.version_a]
    tickets = {t.ticket_a for t in trials_a}
    problems = []
    for mode, want in row.fates().items():
        got = observed[mode]
        if want == RACE:
            if got not in (K, R, rc.FLAKY):
                problems.append(f"{mode}: expected a race (kept or removed), observed {got}")
        elif got != want:
            problems.append(f"{mode}: expected {want}, observed {got}")
    if tickets != {row.ticket}:
        problems.append(
            f"A's session carried a ticket: expected {row.ticket}, " f"observed {sorted(tickets)}"
        )
    if problems:
        failures = "\n".join(
            f"  failed trial: {t.close_mode}: {t.error}"
            for t in matrix.failures()
            if t.mechanism == row.mechanism
        )
        raise AssertionError(
            f"{config_name}, {row.mechanism} ({row.resumes_by}) no longer matches what the real "
            f"software did: " + "; ".join(problems) + f"\n  expected because: {row.why}\n"
            f"observed matrix:\n{matrix.markdown()}\n{failures}"
        )


def cases(expected: dict[str, list[Row]]) -> list:
    """pytest parameters (config name, row), one per row, with readable ids."""
    import pytest

    return [
        pytest.param(name, row, id=f"{name}-{row.mechanism}")
        for name, rows in expected.items()
        for row in rows
    ]


def check_table(expected: dict[str, list[Row]], kinds: tuple[str, ...]) -> None:
    """Every configuration of these peer kinds has one row per client mechanism."""
    import peers

    names = {c.name for c in peers.CONFIGS if c.kind in kinds}
    assert set(expected) == names, f"table covers {sorted(expected)}, configs are {sorted(names)}"
    for name, rows in expected.items():
        assert tuple(r.mechanism for r in rows) == rc.MECHANISMS, f"{name}: one row per mechanism"
