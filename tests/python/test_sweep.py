"""tlslab.sweep: rows per point, the JSONL log, interruption and resume, repetitions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

import tlslab
from conftest import python_env
from tlslab import sweeps

SMALL = dict(checker_profile="haproxy-1.7.3", inter="500ms", duration="3s")


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sweep_rows_columns_and_jsonl(tmp_path):
    out = tmp_path / "sweep.jsonl"
    df = tlslab.sweep(
        server_profile=["strict", "lenient"], backends=5, out=out, progress=False, **SMALL
    )
    assert len(df) == 2
    assert df["server_profile"].tolist() == ["strict", "lenient"]
    assert df["resumption_ratio"].tolist() == [0.0, 1.0]
    assert df["effective_close"].tolist() == ["quiet-reset", "quiet-reset"]
    for column in (
        "checker_profile",
        "backends",
        "inter",
        "inter_s",
        "tls",
        "key_rate_per_s",
        "checker_cpu_percent",
        "server_cpu_percent",
        "latency_ms_p99",
        "first_round_latency_ms_p99",
        "first_round_s",
        "sessions_removed_total_reset",
        "elapsed_s",
    ):
        assert column in df.columns, column
    records = lines(out)
    assert len(records) == 2
    first = records[0]
    assert first["point"] == {"server_profile": "strict"} and first["repetition"] == 0
    assert tlslab.Config(**first["config"]) == tlslab.Config(
        server_profile="strict", backends=5, **SMALL
    )
    for key in ("git_commit", "git_describe", "openssl", "tlslab", "python"):
        assert first["versions"][key], key
    assert first["isolated"] is True and len(first["series"]) == 3
    assert first["figures"]["resumption_ratio"] == 0.0
    # The log reads back as the same table.
    loaded = tlslab.load_sweep(out)
    assert loaded["resumption_ratio"].tolist() == [0.0, 1.0]
    # And a record back into a Result.
    result = tlslab.Result.from_record(first)
    assert result.config.server_profile == "strict" and len(result.series) == 3


def test_an_existing_log_needs_resume(tmp_path):
    out = tmp_path / "sweep.jsonl"
    out.write_text('{"config": {}}\n')
    with pytest.raises(FileExistsError, match="resume=True"):
        tlslab.sweep(backends=[1, 2], out=out, progress=False)


def test_every_point_is_validated_before_the_first_run(tmp_path):
    out = tmp_path / "sweep.jsonl"
    with pytest.raises(tlslab.ConfigError, match="^backends=0"):
        tlslab.sweep(backends=[5, 0], out=out, progress=False)
    assert not out.exists()
    with pytest.raises(ValueError, match="empty"):
        tlslab.sweep(backends=[], progress=False)


SCRIPT = textwrap.dedent(
    """
    import sys, tlslab
    tlslab.sweep(backends=[3, 4, 5], checker_profile="haproxy-1.7.3", inter="500ms",
                 duration="2s", out=sys.argv[1], progress=False)
"""
)


def test_an_interrupted_sweep_keeps_its_points_and_resumes(tmp_path):
    out = tmp_path / "sweep.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out)],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().count("\n") >= 1):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no point completed within 60 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)  # Ctrl-C while the second point runs
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    kept = out.read_text()
    done = lines(out)
    assert 1 <= len(done) < 3, "the interrupted sweep should have kept its completed points"
    assert [r["point"]["backends"] for r in done] == [3, 4][: len(done)]

    df = tlslab.sweep(
        backends=[3, 4, 5],
        resume=True,
        out=out,
        progress=False,
        checker_profile="haproxy-1.7.3",
        inter="500ms",
        duration="2s",
    )
    assert df["backends"].tolist() == [3, 4, 5]
    assert out.read_text().startswith(kept), "completed points are not run again"
    assert [r["point"]["backends"] for r in lines(out)] == [3, 4, 5]


def test_repetitions_give_mean_and_spread(tmp_path):
    df = tlslab.sweep(
        backends=[2, 3],
        repeat=2,
        duration="1s",
        inter="500ms",
        isolate=False,
        progress=False,
        out=tmp_path / "r.jsonl",
    )
    assert df["backends"].tolist() == [2, 3]
    assert df["repetitions"].tolist() == [2, 2]
    assert "key_rate_per_s_std" in df.columns and "checker_cpu_percent_std" in df.columns
    raw = tlslab.load_sweep(tmp_path / "r.jsonl")
    assert len(raw) == 4 and sorted(raw["repetition"]) == [0, 0, 1, 1]
    mean = raw[raw["backends"] == 2]["checks_total"].mean()
    assert df.loc[df["backends"] == 2, "checks_total"].iloc[0] == mean


def test_failed_points_can_be_skipped_and_are_retried_on_resume(tmp_path):
    out = tmp_path / "e.jsonl"
    too_long = "/tmp/" + "x" * 200 + ".sock"  # the stats socket path is refused at run time
    df = tlslab.sweep(
        stats_socket=[too_long], duration="1s", out=out, errors="skip", progress=False
    )
    assert "path too long" in df["error"].iloc[0]
    assert "error" in lines(out)[0]
    with pytest.raises(ValueError, match="path too long"):
        tlslab.sweep(stats_socket=[too_long], duration="1s", out=out, resume=True, progress=False)


def test_a_torn_last_line_is_skipped_and_the_log_stays_readable(tmp_path):
    out = tmp_path / "torn.jsonl"
    out.write_text('{"point": {}, "config": {}, "repetition": 0}\n{"point": {"bac')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(sweeps.read_records(out)) == 1
    assert "torn" in str(caught[0].message)
    sweeps.append_record(out, {"point": {"backends": 1}, "config": {}, "repetition": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = sweeps.read_records(out)
    assert records[-1]["point"] == {"backends": 1} and len(records) == 2


def test_a_point_given_twice_runs_once(tmp_path):
    out = tmp_path / "twice.jsonl"
    df = tlslab.sweep(backends=[2, 2], duration="1s", isolate=False, progress=False, out=out)
    assert df["backends"].tolist() == [2, 2] and len(lines(out)) == 1


def test_a_second_writer_of_the_same_log_is_refused(tmp_path):
    """A regression: two sweeps on one JSONL file ran every point twice."""
    import fcntl

    out = tmp_path / "sweep.jsonl"
    with open(out, "ab") as held:  # what a running sweep holds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match="being written by another sweep"):
            tlslab.sweep(backends=[1, 2], out=out, progress=False, **SMALL)
    assert out.read_text() == ""  # nothing ran


LONG_POINT = textwrap.dedent(
    """
    import sys, tlslab
    tlslab.sweep(backends=[1], checker_profile="haproxy-1.7.3", inter="500ms",
                 duration="60s", out=sys.argv[1], progress=False)
    """
)


def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(k) for k in f.read().split()]
    return kids


def test_a_killed_sweep_takes_its_run_with_it(tmp_path):
    """A regression: after SIGKILL of the sweep its `tlslab run` child kept running and
    overlapped the resumed point. Now the child gets SIGKILL with its parent."""
    sweeper = subprocess.Popen(
        [sys.executable, "-c", LONG_POINT, str(tmp_path / "s.jsonl")],
        env=python_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _children(sweeper.pid):
            assert sweeper.poll() is None and time.monotonic() < deadline, "no tlslab run child"
            time.sleep(0.05)
        (child,) = _children(sweeper.pid)
        sweeper.kill()
        sweeper.wait(10)
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
            try:
                with open(f"/proc/{child}/stat") as f:
                    if f.read().split(")")[-1].split()[0] == "Z":  # dead, not yet reaped
                        break
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            assert not os.path.exists(f"/proc/{child}"), "tlslab run outlived its sweep"
    finally:
        if sweeper.poll() is None:
            sweeper.kill()
