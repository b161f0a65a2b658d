"""tlslab.sweep(mode="simulate"): simulation-only fields (checker_threads, checkers,
restart_every, ...) and a simulation's wider backends and duration are axes like any field,
with the columns and the JSONL log of a real sweep."""

from __future__ import annotations

import json

import pytest

import tlslab

BROKEN = dict(server_profile="strict", checker_profile="haproxy-1.7.3", inter="2s", tls="1.2")


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_simulation_fields_are_axes_with_columns(tmp_path):
    out = tmp_path / "sim.jsonl"
    df = tlslab.sweep(
        mode="simulate", checker_threads=[1, 4], backends=[1000, 50_000], duration="10m",
        out=out, progress=False, **BROKEN
    )
    assert len(df) == 4
    assert df["checker_threads"].tolist() == [1, 1, 4, 4]
    # 50,000 is beyond what a real run accepts: the simulated point keeps it.
    assert df["backends"].tolist() == [1000, 50_000, 1000, 50_000]
    assert df["duration"].tolist() == ["10m"] * 4
    # The broken pair pays a full handshake per check: the key rate is backends / inter,
    # whatever the threads (as long as they keep up; 1,000 backends every 2 s do).
    small = df[df["backends"] == 1000]
    assert small["key_rate_per_s"].tolist() == pytest.approx([500.0, 500.0], rel=0.02)
    # One thread cannot check 50,000 backends every 2 s with full handshakes; 4 do more.
    big = df[df["backends"] == 50_000].set_index("checker_threads")
    assert big.loc[4, "key_rate_per_s"] > 1.5 * big.loc[1, "key_rate_per_s"]
    records = lines(out)
    assert [r["simulation"]["checker_threads"] for r in records] == [1, 1, 4, 4]
    assert all(r["config"]["backends"] == 1 for r in records)  # the run's own field untouched


def test_a_resumed_simulated_sweep_runs_nothing_again(tmp_path):
    out = tmp_path / "sim.jsonl"
    fields = dict(mode="simulate", restart_every=["0ms", "1h"], backends=200, duration="3h",
                  out=out, progress=False, **BROKEN)
    first = tlslab.sweep(**fields)
    seen = []
    again = tlslab.sweep(resume=True, on_point=seen.append, **fields)
    assert seen == [] and len(lines(out)) == 2
    assert again["restart_every"].tolist() == ["0ms", "1h"]
    assert again["restart_every_s"].tolist() == [0.0, 3600.0]
    assert again["key_rate_per_s"].tolist() == first["key_rate_per_s"].tolist()


def test_fixed_simulation_fields_still_come_by_simulation_mapping():
    def server_cpu(checkers: int) -> list[float]:
        df = tlslab.sweep(mode="simulate", backends=[100, 200], duration="1m", progress=False,
                          simulation={"checkers": checkers}, **BROKEN)
        assert df["key_rate_per_s"].tolist() == pytest.approx([50.0, 100.0], rel=0.02)
        return df["server_cpu_percent"].tolist()

    # Each load balancer has its own sessions and reports its own key rate (HAProxy's
    # SslBackendKeyRate is per process); the backends serve them all: each one more adds
    # the same server CPU (the server's per-second floor stays).
    one, two, three = server_cpu(1), server_cpu(2), server_cpu(3)
    for a, b, c in zip(one, two, three):
        assert b - a > 0 and c - b == pytest.approx(b - a, rel=0.05)


@pytest.mark.parametrize("fields, message", [
    (dict(checker_threads=[1, -1]), "checker_threads=-1"),
    (dict(restart_every=["1h", "soon"]), "restart_every='soon'"),
    (dict(backends=[10, 0]), "backends=0"),
    (dict(checkers=[], backends=10), "checkers: an empty list"),
])
def test_a_bad_simulation_value_is_refused_before_anything_runs(tmp_path, fields, message):
    out = tmp_path / "sim.jsonl"
    with pytest.raises(ValueError, match=message):
        tlslab.sweep(mode="simulate", duration="1m", out=out, progress=False, **fields)
    assert not out.exists() or out.read_text() == ""


def test_a_field_given_both_ways_is_refused():
    with pytest.raises(ValueError, match="checkers: given both"):
        tlslab.sweep(mode="simulate", checkers=[1, 2], simulation={"checkers": 2},
                     progress=False)


def test_a_real_sweep_refuses_simulation_only_fields():
    with pytest.raises(ValueError, match="checker_threads"):
        tlslab.sweep(checker_threads=[1, 4], progress=False)
    with pytest.raises(ValueError, match="simulation: only with mode='simulate'"):
        tlslab.sweep(backends=[1, 2], simulation={"checkers": 2}, progress=False)
