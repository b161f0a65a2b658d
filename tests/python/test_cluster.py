"""tlslab on a Dask cluster: a real `dask-scheduler` and real `dask-worker` processes started
here on 127.0.0.1 (random ports, one thread and the resource tlslab-machine each, no nanny, so
that a killed worker stays dead); the workers get $TLSLAB_BIN and no PYTHONPATH (they need the
command, not the package). Skipped when Dask distributed is not installed. Every process is
killed at the end, also after a failure. About 60 s on two busy cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Iterator

import pytest

import tlslab
from conftest import python_env
from tlslab import cluster, sweeps

try:
    import distributed
except ImportError:  # pragma: no cover - CI installs python3-distributed
    distributed = None

pytestmark = [
    pytest.mark.skipif(
        distributed is None,
        reason="Dask distributed is not installed (Debian: apt install python3-distributed)",
    ),
    # distributed 2022.12 on Debian 12's tornado: not ours to fix.
    pytest.mark.filterwarnings("ignore:make_current is deprecated:DeprecationWarning"),
]

SMALL = dict(checker_profile="haproxy-1.7.3", inter="500ms", duration="3s", backends=5)
START_S = 60.0  # bound on a scheduler's or worker's start (two loaded cores)


class Cluster:
    """A scheduler and its workers, as processes of this test (each in a session of its
    own, so that killing its group kills whatever it started)."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.address = ""
        self.workers: dict[str, subprocess.Popen] = {}  # name -> process

    def _start(self, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
        with open(log, "wb") as f:
            proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.root,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def _wait_for(self, proc: subprocess.Popen, log: Path, pattern: str) -> re.Match:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            found = re.search(pattern, log.read_text(errors="replace"))
            if found:
                return found
            assert proc.poll() is None, f"{log.name} exited:\n{log.read_text()[-2000:]}"
            time.sleep(0.1)
        pytest.fail(f"{log.name}: no {pattern!r} within {START_S:g} s")

    def start_scheduler(self) -> None:
        log = self.root / "scheduler.log"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = self._start(
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--dashboard-address", "127.0.0.1:0", "--no-show"],
            log,
            env,
        )
        self.address = self._wait_for(proc, log, r"Scheduler at:\s+(tcp://\S+)").group(1)

    def start_workers(self, names: list[str], tlslab_bin: str | None) -> None:
        """Workers with the resource, started together; tlslab_bin None: without tlslab
        (no $TLSLAB_BIN, a PATH with no tlslab on it)."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TLSLAB_BIN")}
        if tlslab_bin is None:
            empty = self.root / "empty-path"
            empty.mkdir(exist_ok=True)
            env["PATH"] = str(empty)
        else:
            env["TLSLAB_BIN"] = tlslab_bin
        started = []
        for name in names:
            log = self.root / f"{name}.log"
            proc = self._start(
                ["distributed.cli.dask_worker", self.address, "--host", "127.0.0.1",
                 "--nthreads", "1", "--no-nanny", "--resources", f"{cluster.RESOURCE}=1",
                 "--dashboard-address", "127.0.0.1:0", "--name", name,
                 "--local-directory", str(self.root / name)],
                log,
                env,
            )
            self.workers[name] = proc
            started.append((proc, log))
        for proc, log in started:
            self._wait_for(proc, log, r"Registered to:")

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            with_group = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                with_group = False
            if not with_group:
                proc.kill()
        proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            self.kill(proc)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, tlslab_bin) -> Iterator[Cluster]:
    """A scheduler and three workers for the whole file: w1, w2, and w3 (which the
    worker-kill test kills)."""
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.start_scheduler()
        c.start_workers(["w1", "w2", "w3"], str(tlslab_bin))
        yield c
    finally:
        c.stop()


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def worker_address(client: "distributed.Client", name: str) -> str:
    workers = client.scheduler_info()["workers"]
    return next(a for a, w in workers.items() if w["name"] == name)


def test_a_sweep_on_the_cluster_matches_the_same_sweep_here(lab, tmp_path):
    axes = dict(server_profile=["strict", "lenient"], **SMALL)
    local = tlslab.sweep(**axes, out=tmp_path / "local.jsonl", progress=False)
    out = tmp_path / "cluster.jsonl"
    remote = tlslab.sweep(**axes, out=out, cluster=lab.address, progress=False)
    assert remote["server_profile"].tolist() == ["strict", "lenient"]
    # The strict server removes every session (a full handshake per check: backends/inter
    # = 10/s), the lenient one keeps them: the same on a worker as here.
    assert remote["resumption_ratio"].tolist() == local["resumption_ratio"].tolist() == [0, 1]
    for here, there in zip(local["key_rate_per_s"], remote["key_rate_per_s"]):
        assert abs(here - there) <= 0.3 * max(here, 1.0), (here, there)
    assert list(remote.columns) == list(local.columns)
    assert set(remote["host"]) == {socket.gethostname()} and remote["cpu_model"].all()
    records = lines(out)
    assert len(records) == 2
    with distributed.Client(lab.address, set_as_default=False, timeout=30) as client:
        workers = set(client.scheduler_info()["workers"])
    assert {r["host"]["worker"] for r in records} <= workers
    assert all(r["isolated"] and len(r["series"]) == 3 for r in records)


KILLED_SCRIPT = textwrap.dedent(
    """
    import sys, tlslab
    tlslab.sweep(backends=[2, 3, 4], checker_profile="haproxy-1.7.3", inter="500ms",
                 duration="2s", out=sys.argv[1], cluster=sys.argv[2], progress=False)
"""
)


def points_of(pid: int) -> list[int]:
    """The `tlslab run` processes whose parent is `pid` (/proc/PID/stat, field 4): not the
    `tlslab --help` of the sweep's check of the workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and argv[1:2] == [b"run"]:
                found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_point_its_point_runs_again_elsewhere(lab, tmp_path):
    w3 = lab.workers["w3"]
    assert w3.poll() is None, "w3 is already dead (this test runs once per cluster)"
    with distributed.Client(lab.address, set_as_default=False, timeout=30) as client:
        w3_address = worker_address(client, "w3")
    out = tmp_path / "killed.jsonl"
    sweep = subprocess.Popen(
        [sys.executable, "-c", KILLED_SCRIPT, str(out), lab.address],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while not points_of(w3.pid):  # w3 runs a point: its `tlslab run` process
            assert sweep.poll() is None, sweep.communicate()
            assert time.monotonic() < deadline, "w3 ran no point within 40 s"
            time.sleep(0.05)
        point = points_of(w3.pid)
        lab.kill(w3)
        _, err = sweep.communicate(timeout=90)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
    assert sweep.returncode == 0, err
    records = lines(out)
    assert sorted(r["point"]["backends"] for r in records) == [2, 3, 4]
    assert all("error" not in r and r["figures"]["checks_total"] > 0 for r in records)
    # w3 was killed in its first point: that point ran again on w1 or w2, and the
    # `tlslab run` it had started died with it.
    assert w3_address not in {r["host"]["worker"] for r in records}
    assert not any(os.path.exists(f"/proc/{p}") for p in point)


LOST_CLIENT_SCRIPT = textwrap.dedent(
    """
    import sys, tlslab
    tlslab.sweep(backends=[3, 4, 5], checker_profile="haproxy-1.7.3", inter="500ms",
                 duration="2s", out=sys.argv[1], cluster=sys.argv[2], progress=False)
"""
)


def test_resume_after_a_lost_client_runs_only_what_is_missing(lab, tmp_path):
    out = tmp_path / "lost.jsonl"
    client = subprocess.Popen(
        [sys.executable, "-c", LOST_CLIENT_SCRIPT, str(out), lab.address],
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().count("\n") >= 1):
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline, "no point completed within 60 s"
            time.sleep(0.05)
    finally:
        client.kill()  # the client is lost: SIGKILL, no goodbye to the scheduler
        client.communicate()
    kept = out.read_text()
    assert 1 <= len(lines(out)) < 3
    df = tlslab.sweep(
        backends=[3, 4, 5], checker_profile="haproxy-1.7.3", inter="500ms", duration="2s",
        out=out, cluster=lab.address, resume=True, progress=False,
    )
    assert df["backends"].tolist() == [3, 4, 5] and not df["key_rate_per_s"].isna().any()
    assert out.read_text().startswith(kept), "finished points are not run again"
    assert sorted(r["point"]["backends"] for r in lines(out)) == [3, 4, 5]


def test_a_failed_point_on_a_worker_is_skipped_or_raised_in_one_line(lab, tmp_path):
    too_long = "/tmp/" + "x" * 200 + ".sock"  # the stats socket path is refused at run time
    out = tmp_path / "e.jsonl"
    df = tlslab.sweep(stats_socket=[too_long], duration="1s", out=out, errors="skip",
                      cluster=lab.address, progress=False)
    assert "path too long" in df["error"].iloc[0] and "error" in lines(out)[0]
    with pytest.raises(ValueError, match=r"path too long.*\(on tcp://127\.0\.0\.1:\d+\)$"):
        tlslab.sweep(stats_socket=[too_long], duration="1s", out=out, resume=True,
                     cluster=lab.address, progress=False)


def test_server_and_checker_on_two_workers(lab):
    with distributed.Client(lab.address, set_as_default=False, timeout=30) as client:
        w1, w2 = worker_address(client, "w1"), worker_address(client, "w2")
        r = tlslab.run(
            server_profile="strict", cluster=client, server_host="w1", checker_host=w2, **SMALL
        )
    assert r.hosts["server"]["worker"] == w1 and r.hosts["server"]["listen"] == "127.0.0.1"
    assert r.hosts["checker"]["worker"] == w2
    assert r.hosts["server"]["hostname"] == socket.gethostname()
    # The server's side of the run: what it saw (a reset per check, each removing the
    # session), next to the checker's (a full handshake per check).
    assert r.resumption_ratio == 0.0 and r.key_rate_per_s > 0
    assert r.close_kinds["reset"] >= r.checks_total - 5 > 0
    assert r.sessions_removed_total["reset"] == r.close_kinds["reset"]
    assert r.server_cpu_percent > 0 and r.to_dict()["effective"]["server_profile"] == "strict"


def test_bad_placements_are_one_line_errors(lab):
    with pytest.raises(ValueError, match="two workers"):
        tlslab.run(cluster=lab.address, server_host="w1", checker_host="w1", **SMALL)
    with pytest.raises(ValueError, match=r"\d workers run on that host"):
        tlslab.run(cluster=lab.address, server_host="127.0.0.1", checker_host="w2", **SMALL)
    with pytest.raises(ValueError, match="none of the workers"):
        tlslab.run(cluster=lab.address, server_host="nope", checker_host="w2", **SMALL)
    with pytest.raises(ValueError, match="pass cluster="):
        tlslab.run(server_host="w1", checker_host="w2", **SMALL)


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"^cannot reach the Dask scheduler at .* within 2 s"):
        tlslab.sweep(backends=[1, 2], cluster=f"tcp://127.0.0.1:{port}", cluster_timeout=2,
                     out=tmp_path / "x.jsonl", progress=False)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "x.jsonl").read_text()  # nothing half-written
    with pytest.raises(ValueError, match="not a scheduler address"):
        tlslab.sweep(backends=[1, 2], cluster="nonsense://x", progress=False)
    with pytest.raises(ValueError, match="scheduler address"):
        tlslab.sweep(backends=[1, 2], cluster=8786, progress=False)
    with pytest.raises(ValueError, match="mode='run', isolate=True"):
        tlslab.sweep(backends=[1, 2], cluster=f"tcp://127.0.0.1:{port}", mode="simulate")
    with pytest.raises(ValueError, match="go together"):
        tlslab.run(cluster=f"tcp://127.0.0.1:{port}", server_host="w1", **SMALL)


def test_the_sweep_script_says_a_bad_cluster_in_one_line(tmp_path):
    script = Path(__file__).resolve().parents[2] / "experiments" / "sweep_backends.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--backends", "2", "--out-dir", str(tmp_path),
         "--cluster", "nonsense://x"],
        env=python_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("sweep_backends: error: cluster: 'nonsense://x' is not a ")
    assert "Traceback" not in done.stderr


def test_a_worker_without_tlslab_is_named_in_one_line(lab, tmp_path):
    lab.start_workers(["bare"], None)
    try:
        message = r"^worker \S+ \(.*\) cannot run tlslab: the tlslab command was not found"
        with pytest.raises(RuntimeError, match=message):
            tlslab.sweep(backends=[1, 2], cluster=lab.address, out=tmp_path / "b.jsonl",
                         progress=False, **{k: v for k, v in SMALL.items() if k != "backends"})
        assert not (tmp_path / "b.jsonl").read_text()
    finally:
        lab.kill(lab.workers["bare"])


def test_rows_from_different_cpu_models_come_with_a_warning():
    def record(cpu: str, rate: float) -> dict:
        host = {"hostname": cpu.split()[0].lower(), "cpu_model": cpu}
        return {"point": {"backends": 1}, "config": {"backends": 1}, "repetition": 0,
                "figures": {"key_rate_per_s": rate}, "host": host}

    same = sweeps.records_frame([record("AMD EPYC", 1.0), record("AMD EPYC", 2.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tlslab.summarize(same)
    mixed = sweeps.records_frame([record("AMD EPYC", 1.0), record("Intel Xeon", 2.0)])
    with pytest.warns(UserWarning, match="2 CPU models .*not comparable"):
        summary = tlslab.summarize(mixed)
    assert summary["key_rate_per_s"].tolist() == [1.5]  # the hosts are not a grouping key
