"""A real Prometheus (Debian's `prometheus`) scrapes `tlslab run --metrics` and answers a PromQL
query for the key rate that matches the run's JSON figure.

Prometheus is started here with a temporary config (scrape every 1 s) and storage directory on
`--web.listen-address=127.0.0.1:PORT`; the run is the incident's broken pair (strict server,
haproxy-1.7.3 checker: a full handshake per check, backends / inter per second), 12 s. Then:

    avg_over_time(haproxy_process_current_backend_ssl_key_rate[W] @ END)

where END is the run's last scrape and W reaches back to the start of the run's steady window
(`steady_window.from_s` of the JSON, mapped through haproxy_process_uptime_seconds). Tolerance 10 %:
Prometheus samples the once-a-second gauge at its own phase, so a second may be scraped twice or
not at all, and the window's edges differ from the JSON's by up to one second; at a steady
40 keys/s with a +-1 jitter per second that is a few percent at most. About 20 s in all;
everything started is killed in teardown. Skips when prometheus is not installed.

Run with -s to print the query, its result and the JSON figure side by side;
TLSLAB_METRICS_LONG=1 for the incident's scale (600 backends, inter 2s, 30 s).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

# TLSLAB_METRICS_LONG=1: the incident's scale instead (600 backends, inter 2s: 300 keys/s), 30 s.
LONG = os.environ.get("TLSLAB_METRICS_LONG") == "1"
BACKENDS = 600 if LONG else 40
INTER_S = 2 if LONG else 1
DURATION_S = 30 if LONG else 12
TOLERANCE = 0.10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(prom_port: int, promql: str) -> list:
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql, "time": f"{time.time():.3f}"}
    )
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:
        pytest.fail(f"{promql}: HTTP {e.code}: {e.read()[:500]!r}")
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


@pytest.fixture
def prometheus(tmp_path):
    if not shutil.which("prometheus"):
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    metrics_port, prom_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: tlslab\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/-/ready", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "prometheus not ready within 30 s"
                time.sleep(0.2)
        yield metrics_port, prom_port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def test_prometheus_key_rate_matches_the_json_figure(cli, prometheus) -> None:
    metrics_port, prom_port = prometheus
    doc = cli.lab("--server-profile", "strict", "--checker-profile", "haproxy-1.7.3",
                  "--backends", BACKENDS, "--inter", f"{INTER_S}s", "--duration", f"{DURATION_S}s",
                  "--key", "p256", "--metrics", f"127.0.0.1:{metrics_port}")  # fmt: skip
    figures = doc["figures"]
    time.sleep(1.5)  # the last scrapes are stored (and fail, the run having ended)

    up = query(prom_port, "max_over_time(up[1m])")
    assert up and up[0]["value"][1] == "1", f"never scraped: {up}"
    # Every scrape of the run: (time, seconds since the run started).
    series = query(prom_port, "haproxy_process_uptime_seconds[1m]")
    assert series, "no uptime samples"
    points = [(float(t), float(v)) for t, v in series[0]["values"]]
    end_t, end_uptime = points[-1]
    # Scrapes whose gauge covers a second inside the steady window: uptime >= steady_from + 1.
    window_s = end_uptime - (figures["steady_window"]["from_s"] + 1.0) + 0.5
    assert window_s >= 5, (points, figures["steady_window"]["from_s"])
    # PromQL durations are whole units: milliseconds.
    promql = (f"avg_over_time(haproxy_process_current_backend_ssl_key_rate"
              f"[{round(window_s * 1000)}ms] @ {end_t:.3f})")  # fmt: skip
    result = query(prom_port, promql)
    assert result, f"no result for {promql}"
    prom_rate = float(result[0]["value"][1])
    json_rate = figures["key_rate_per_s"]
    max_result = query(prom_port, f"max_over_time(haproxy_process_max_backend_ssl_key_rate[1m]"
                                  f" @ {end_t:.3f})")  # fmt: skip
    prom_max = float(max_result[0]["value"][1])
    print(f"\nPromQL: {promql}\n  -> {prom_rate:.2f} keys/s; JSON key_rate_per_s "
          f"{json_rate:.2f} (steady window from {figures['steady_window']['from_s']:.2f} s, "
          f"{figures['steady_window']['seconds']:.2f} s)\n  max: Prometheus {prom_max:g}, JSON "
          f"max_key_rate_per_s {figures['max_key_rate_per_s']:g}")
    # The broken pair: one full handshake a check, backends / inter (less when a loaded machine
    # lets checks time out).
    assert json_rate > 0.5 * BACKENDS / INTER_S, figures
    assert math.isclose(prom_rate, json_rate, rel_tol=TOLERANCE), (prom_rate, json_rate)
    # The maximum is the same rule over the same seconds; the very last second may be unscraped.
    # (The JSON rounds to 2 decimals.)
    assert 0.9 * json_rate <= prom_max <= figures["max_key_rate_per_s"] + 0.01, (prom_max, figures)
