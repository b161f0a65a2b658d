"""CPU per side, as the lab reports it, against the kernel's own accounting.

- Server side: tlslab.Server runs its event loop in this process; the CPU it reports
  (pthread CPU clocks of its threads) is compared with /proc/self/task/<tid>/stat of the
  threads it started (utime + stime, in clock ticks).
- Checker side: a `tlslab check` process; the CPU of its series (1 Hz, checker threads only)
  is compared with getrusage(RUSAGE_CHILDREN) for the whole process, which also counts its
  main thread (start-up, the monitor): that is the small part the 10 % allows for.
- Both sides: a `tlslab run` process, both series against getrusage.

The load is heavy enough (full handshakes, 10 checks/s per backend) that a few clock ticks
and the process start-up stay far below 10 %.
"""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

import tlslab
from conftest import run_cli

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def task_ids() -> set[int]:
    return {int(t) for t in os.listdir("/proc/self/task")}


def task_cpu_s(tid: int) -> float:
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime (fields 14 and 15)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def series_cpu_s(doc: dict, side: str) -> float:
    """CPU seconds of one side over the series (each row: one second's percent)."""
    total, last_t = 0.0, 0.0
    for row in doc["series"]:
        total += row[f"{side}_cpu_percent"] / 100 * (row["t_s"] - last_t)
        last_t = row["t_s"]
    return total


def close_enough(reported: float, kernel: float, what: str) -> None:
    assert kernel > 0.2, f"{what}: too little CPU ({kernel:.3f} s) to compare"
    assert reported == pytest.approx(
        kernel, rel=0.10
    ), f"{what}: the lab reports {reported:.3f} s, the kernel {kernel:.3f} s"


def check_args(targets: list[str]) -> list[str]:
    args = [
        "check",
        "--profile",
        "haproxy-1.7.3",
        "--inter",
        "100ms",
        "--duration",
        "4s",
        "--live",
        "off",
        "--json",
    ]
    for target in targets:
        args += ["--target", target]
    return args


def test_server_and_checker_cpu_match_the_kernel():
    before = task_ids()
    with tlslab.Server(profile="strict", backends=20, key="rsa2048") as srv:
        server_tids = task_ids() - before
        assert len(server_tids) == srv.settings["threads"] == 1
        children_before = children_cpu_s()
        proc = run_cli(check_args(srv.targets))
        checker_kernel = children_cpu_s() - children_before
        assert proc.returncode == 0, proc.stderr
        assert srv.wait_idle()
        time.sleep(0.05)
        server_reported = srv.stats()["cpu_seconds"]
        server_kernel = sum(task_cpu_s(t) for t in server_tids)
    doc = json.loads(proc.stdout)
    assert doc["figures"]["resumed_handshakes_total"] == 0  # every check a full handshake
    close_enough(server_reported, server_kernel, "server threads vs /proc/self/task/*/stat")
    close_enough(series_cpu_s(doc, "checker"), checker_kernel, "tlslab check series vs getrusage")


def test_both_sides_of_a_run_match_the_kernel():
    # p256: the certificate is made in microseconds, so start-up stays out of the comparison.
    children_before = children_cpu_s()
    proc = run_cli(
        [
            "run",
            "--server-profile",
            "strict",
            "--checker-profile",
            "haproxy-1.7.3",
            "--backends",
            "30",
            "--inter",
            "100ms",
            "--duration",
            "4s",
            "--key",
            "p256",
            "--live",
            "off",
            "--json",
        ]
    )
    kernel = children_cpu_s() - children_before
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    reported = series_cpu_s(doc, "checker") + series_cpu_s(doc, "server")
    close_enough(reported, kernel, "tlslab run series (both sides) vs getrusage")
