"""Hostile-peer figures for a given tlslab binary (before/after): what hostile peers and careless
input cost the process (peak RSS from /proc/PID/status VmHWM, wall time, exit code).

    /usr/bin/python3 tests/bench/hostile_figures.py build/tlslab [ITEM...]

Items: backpressure slowloris cap stats_drip stats_silent utf8 files version. Each prints one
line. Every wait is bounded; a hung run is reported as such (a timeout), not waited on.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time

READY = re.compile(rb"ready backends=\d+ profile=\S+ listen=\S+ ports=(\d+)")
REQUEST = b"GET / HTTP/1.1\r\nHost: b\r\n\r\n"


def peak_rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


def client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def serve(binary: str, *args: str) -> tuple[subprocess.Popen, int]:
    """A running serve (ready line read from stdout or stderr) and its first port."""
    proc = subprocess.Popen(
        [binary, "serve", "--port", "0", "--live", "off", "--duration", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout, proc.stderr], [], [], 0.5)
        for pipe in ready:
            seen += os.read(pipe.fileno(), 65536)
        m = READY.search(seen)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError("serve printed no ready line")


def stop(proc: subprocess.Popen) -> tuple[int, bytes]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def checks(binary: str, port: int) -> str:
    argv = [binary, "check", "--target", f"127.0.0.1:{port}", "--check", "http", "--inter",
            "200ms", "--timeout", "2s", "--max-checks", "3", "--duration", "10s", "--json",
            "--live", "off"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, timeout=60)
    try:
        f = json.loads(done.stdout)["figures"]
        return f"3 real checks: {f['check_failures_total']} failed"
    except (ValueError, KeyError):
        return f"check exit {done.returncode}, no JSON"


def backpressure(binary: str) -> str:
    proc, port = serve(binary, "--backends", "1")
    base = peak_rss_mb(proc.pid)
    conns = [
        client_context().wrap_socket(socket.create_connection(("127.0.0.1", port)))
        for _ in range(4)
    ]
    sent = [0] * len(conns)

    def pipeline(i: int) -> None:
        conns[i].settimeout(1.0)
        end = time.monotonic() + 10
        try:
            while time.monotonic() < end and sent[i] < 10 * 2**20:
                conns[i].sendall(REQUEST * 4000)
                sent[i] += len(REQUEST) * 4000
        except OSError:  # blocked for 1 s: the server stopped reading
            pass

    threads = [threading.Thread(target=pipeline, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = peak_rss_mb(proc.pid)
    real = checks(binary, port)
    rc, _ = stop(proc)
    for c in conns:
        c.close()
    return (f"4 clients pipelined {sum(sent) / 2**20:.0f} MB unread: serve peak RSS "
            f"{base}->{peak} MB; {real}; serve exit {rc}")  # fmt: skip


def slowloris(binary: str) -> str:
    proc, port = serve(binary, "--backends", "1", "--idle-timeout", "3s")
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing)
    while True:
        try:
            tls.do_handshake()
            sock.sendall(outgoing.read())
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(b"\x17\x03\x03\x40\x00")  # a record header; its body never completes
    sock.settimeout(0.05)
    start, closed = time.monotonic(), None
    while closed is None and time.monotonic() - start < 20:
        try:
            sock.send(b"x")
            if sock.recv(100) == b"":
                closed = time.monotonic() - start
        except socket.timeout:
            time.sleep(1)
        except OSError:
            closed = time.monotonic() - start
    stop(proc)
    sock.close()
    held = f"closed after {closed:.1f} s" if closed else "still open after 20 s"
    return f"1 byte/s after the handshake vs --idle-timeout 3s: {held}"


def cap(binary: str) -> str:
    has_cap = "--max-connections" in subprocess.run(
        [binary, "serve", "--help"], capture_output=True, text=True, timeout=30
    ).stdout
    proc, port = serve(binary, "--backends", "1", "--json",
                       *(["--max-connections", "50"] if has_cap else []))  # fmt: skip
    base = peak_rss_mb(proc.pid)
    conns = []
    for _ in range(2000):
        try:
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            pass
    time.sleep(1)
    kept = 0
    for c in conns:
        c.setblocking(False)
        try:
            kept += c.recv(1) != b""
        except BlockingIOError:
            kept += 1
        except OSError:
            pass
    peak = peak_rss_mb(proc.pid)
    for c in conns:
        c.close()
    _, out = stop(proc)
    try:
        refused = json.loads(out)["figures"].get("refused_at_cap_total", "n/a")
    except ValueError:
        refused = "n/a (stdout is not one JSON document)"
    return (f"2000 idle connections to one backend: {kept} kept, peak RSS {base}->{peak} MB, "
            f"refused_at_cap_total={refused}")  # fmt: skip


def run_with_stats(binary: str, pester) -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="tlslab-fig-"), "stats.sock")
    proc = subprocess.Popen(
        [binary, "run", "--backends", "1", "--inter", "200ms", "--duration", "6s",
         "--stats-socket", path, "--json", "--live", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.monotonic()
    done = threading.Event()
    pester(path, done)
    time.sleep(0.5)
    asked = time.monotonic()
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(b"show info\n")
            s.recv(4096)
        answer = f"a real show info answered in {time.monotonic() - asked:.2f} s"
    except OSError as e:
        answer = f"a real show info failed after {time.monotonic() - asked:.2f} s ({e})"
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        done.set()
        return f"6 s run still running after 60 s (killed); {answer}"
    done.set()
    wall = time.monotonic() - start
    try:
        samples = len(json.loads(out)["series"])
    except ValueError:
        samples = "?"
    return f"6 s run: wall {wall:.1f} s, exit {proc.returncode}, {samples} samples; {answer}"


def stats_drip(binary: str) -> str:
    def pester(path: str, done: threading.Event) -> None:
        def drip() -> None:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            for byte in b"show info" * 200:
                if done.wait(0.15):
                    return
                try:
                    s.send(bytes([byte]))
                except OSError:  # dropped: come back
                    s = socket.socket(socket.AF_UNIX)
                    try:
                        s.connect(path)
                    except OSError:
                        pass

        threading.Thread(target=drip, daemon=True).start()

    return "a client dripping 1 byte/150 ms: " + run_with_stats(binary, pester)


def stats_silent(binary: str) -> str:
    held = []

    def pester(path: str, done: threading.Event) -> None:
        for _ in range(16):
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(path)
            except OSError:
                pass
            held.append(s)

    return "16 silent clients: " + run_with_stats(binary, pester)


def utf8(binary: str) -> str:
    start = time.monotonic()
    done = subprocess.run(
        [binary, "run", "--backends", "1", "--inter", "200ms", "--duration", "2s",
         "--http-path", b"/\xff", "--json", "--live", "off"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    return (f"run --http-path /\\xff: exit {done.returncode} after "
            f"{time.monotonic() - start:.1f} s, {len(done.stdout)} bytes of JSON, "
            f"stderr {done.stderr[:70]!r}")  # fmt: skip


def files(binary: str) -> str:
    work = tempfile.mkdtemp(prefix="tlslab-fig-")
    precious = os.path.join(work, "notes.txt")
    with open(precious, "w") as f:
        f.write("keep\n")
    a = subprocess.run([binary, "check", "--target", "127.0.0.1:9", "--stats-socket", precious,
                        "--duration", "1s", "--live", "off"], capture_output=True, timeout=30)
    kept = os.path.isfile(precious)
    fifo = os.path.join(work, "fifo")
    os.mkfifo(fifo)
    b = subprocess.run([binary, "serve", "--ports-file", fifo, "--duration", "1s", "--live", "off"],
                       capture_output=True, timeout=30)
    fifo_kept = stat.S_ISFIFO(os.lstat(fifo).st_mode)
    keylog = os.path.join(work, "keys.log")
    subprocess.run([binary, "serve", "--keylog", keylog, "--duration", "1s", "--live", "off"],
                   capture_output=True, timeout=30)
    mode = oct(stat.S_IMODE(os.stat(keylog).st_mode)) if os.path.exists(keylog) else "none"
    return (f"--stats-socket FILE: exit {a.returncode}, file kept {kept}; --ports-file FIFO: "
            f"exit {b.returncode}, FIFO kept {fifo_kept}; new --keylog mode {mode}")  # fmt: skip


def version(binary: str) -> str:
    done = subprocess.run([binary, "version", "--bogus"], capture_output=True, timeout=30)
    return f"version --bogus: exit {done.returncode}"


ITEMS = {f.__name__: f for f in (backpressure, slowloris, cap, stats_drip, stats_silent, utf8,
                                 files, version)}  # fmt: skip


def main() -> int:
    if len(sys.argv) < 2 or any(a not in ITEMS for a in sys.argv[2:]):
        print(f"usage: hostile_figures.py TLSLAB_BIN [{' '.join(ITEMS)}]", file=sys.stderr)
        return 2
    for name in sys.argv[2:] or ITEMS:
        start = time.monotonic()
        print(f"{name}: {ITEMS[name](sys.argv[1])}  [{time.monotonic() - start:.1f} s]",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
