"""`--metrics ADDR:PORT` on serve, check and run: Prometheus text at /metrics over real loopback
HTTP, bounded clients, and its bad input (a port in use, a bad address: one line, exit 2, before
the run starts). The real HAProxy's names: tests/interop/test_metrics_names.py; a real
Prometheus scraping a run: tests/e2e/test_metrics_prometheus.py."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TIMEOUT_S = 20.0
ERROR_PREFIX = "tlslab: error: "
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str = "/metrics", method: str = "GET", accept: str | None = None,
             timeout: float = 5.0) -> tuple[int, dict[str, str], str]:
    """One request, read to the close (the server closes every connection)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if accept:
        head += f"Accept: {accept}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall((head + "\r\n").encode())
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(data) < 8 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head_text, _, body = data.decode().partition("\r\n\r\n")
    lines = head_text.split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def wait_scrape(port: int, timeout: float = 15.0) -> str:
    """The first scrape with figures (the body is empty until the run's first sample)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, body = http_get(port)
            if status == 200 and body:
                return body
        except OSError:
            pass
        assert time.monotonic() < deadline, f"no figures at 127.0.0.1:{port}/metrics"
        time.sleep(0.1)


def parse(text: str) -> tuple[dict[str, str], dict[tuple[str, str], float]]:
    """# TYPE lines (family -> type) and samples ((name, labels) -> value)."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ")
            types[family] = kind
        elif line and not line.startswith("#"):
            m = SAMPLE_RE.match(line)
            assert m, f"not a sample line: {line!r}"
            samples[(m[1], m[2] or "")] = float(m[3])
    return types, samples


def one_line_error(cli, proc, needles) -> None:
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


COMMANDS = {
    "serve": ["serve", "--backends", "1"],
    "check": ["check", "--target", "127.0.0.1:9"],
    "run": ["run", "--backends", "1"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_metrics_port_in_use_is_one_line_exit_2_before_the_run(cli, command) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        started = time.monotonic()
        proc = cli.run([*COMMANDS[command], "--metrics", f"127.0.0.1:{port}", "--duration", "10s",
                        "--live", "off"], timeout=TIMEOUT_S)  # fmt: skip
    one_line_error(cli, proc, ["--metrics", f"127.0.0.1:{port}", "in use"])
    assert time.monotonic() - started < 8, "refused only after the run"


@pytest.mark.parametrize(
    "value",
    ["nonsense", "127.0.0.1:99999", "127.0.0.1:", "0", "no.such.host.invalid:9464", "1234567"],
)
def test_bad_metrics_address_is_one_line_exit_2(cli, value) -> None:
    proc = cli.run(["serve", "--metrics", value, "--duration", "5s", "--live", "off"],
                   timeout=TIMEOUT_S)  # fmt: skip
    one_line_error(cli, proc, ["--metrics"])


def test_a_non_loopback_metrics_address_must_be_named_and_warns(cli) -> None:
    port = free_port()
    proc = cli.run(["serve", "--metrics", f"0.0.0.0:{port}", "--duration", "1s",
                    "--live", "off"], timeout=TIMEOUT_S)  # fmt: skip
    cli.assert_no_crash(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert f"--metrics listens on 0.0.0.0:{port}, not a loopback address" in proc.stderr


def test_serve_metrics_has_server_families_and_answers_only_get_metrics(cli, spawn) -> None:
    port = free_port()
    # A port alone: loopback.
    server = spawn("serve", "--backends", "2", "--port", "0", "--metrics", str(port),
                   "--duration", "30s", "--live", "off")  # fmt: skip
    text = wait_scrape(port)
    types, samples = parse(text)
    assert types["tlslab_server_full_handshakes_total"] == "counter"
    assert types["tlslab_server_cpu_seconds_total"] == "counter"
    assert not any(f.startswith("haproxy_") for f in types), "serve has no checker side"
    backends = [k for k in samples if k[0] == "tlslab_server_backend_sessions_removed_total"]
    assert len(backends) == 2, backends
    assert ("tlslab_server_close_kinds_total", '{kind="reset"}') in samples
    assert not text.rstrip().endswith("# EOF")  # the 0.0.4 text format unless asked

    status, headers, body = http_get(port, accept="application/openmetrics-text;version=1.0.0")
    assert status == 200 and headers["content-type"].startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n") and body.count("# EOF") == 1
    assert "# TYPE tlslab_server_full_handshakes counter\n" in body

    assert http_get(port, "/")[0] == 404
    assert http_get(port, method="POST")[0] == 405
    server.stop()


def test_silent_clients_do_not_stop_a_scrape(cli, spawn) -> None:
    port = free_port()
    server = spawn("serve", "--backends", "1", "--port", "0", "--metrics", f"127.0.0.1:{port}",
                   "--duration", "30s", "--live", "off")  # fmt: skip
    wait_scrape(port)
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    try:
        started = time.monotonic()
        status, _, _ = http_get(port, timeout=5)
        assert status == 200
        assert time.monotonic() - started < 3.0
        # A head that never ends is cut at the bound: 431, not an endless read.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 9000)
            assert s.recv(64).startswith(b"HTTP/1.1 431")
    finally:
        for s in silent:
            s.close()
    server.stop()


def test_run_metrics_live_key_rate_and_per_server_failures(cli, spawn) -> None:
    port = free_port()
    run = spawn("run", "--server-profile", "strict", "--checker-profile", "haproxy-1.7.3",
                "--backends", "10", "--inter", "500ms", "--duration", "6s", "--metrics", str(port),
                "--live", "off")  # fmt: skip
    wait_scrape(port)
    time.sleep(3.5)
    types, samples = parse(http_get(port)[2])
    assert types["haproxy_process_current_backend_ssl_key_rate"] == "gauge"
    assert types["haproxy_server_check_failures_total"] == "counter"
    # The broken pair pays a full handshake per check: backends / inter = 20/s.
    assert 12 <= samples[("haproxy_process_current_backend_ssl_key_rate", "")] <= 28
    servers = [k for k in samples if k[0] == "haproxy_server_check_failures_total"]
    assert len(servers) == 10 and all('proxy="tlslab"' in k[1] for k in servers)
    assert samples[("haproxy_backend_active_servers", '{proxy="tlslab"}')] == 10
    assert samples[("tlslab_server_sessions_removed_total", '{kind="reset"}')] > 0
    assert run.wait(30) == 0, run.stderr()
    # docs/grafana-dashboard.json queries only names that a run exports.
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in re.findall(r"\b(?:haproxy|tlslab)_\w+", e)}
    assert used and used <= set(types), used - set(types)
