"""A real network path on one machine: two network namespaces, a veth pair, tc netem.

    with NetPath(delay="10ms", loss=1.0) as path:       # as root
        server = path.popen("server", ["tlslab", "serve", "--listen", path.server_addr, ...])
        path.run("client", ["tlslab", "check", ...], timeout=60)

Two namespaces with unique names (`tlslab-<token>-s` and `-c`), joined by a veth pair with the
private addresses 10.213.<k>.1 (server) and .2 (client) in a /30 that exists only inside them;
`tc qdisc ... netem` (delay, jitter, loss, reorder) on the egress of both ends, so the round
trip is twice the delay; a jitter reorders packets too (tc-netem(8): each packet draws its own
delay). Leaving the block, after a failure or Ctrl-C too, kills every process
still in the namespaces and deletes them (the veth pair goes with them). Nothing is made in the
host's own namespace.

netem is a kernel module (CONFIG_NET_SCH_NETEM, tc-netem(8)). On a kernel without it a path
with loss alone drops packets with an nftables `numgen random` rule on the same egress
(nft(8), "NUMGEN EXPRESSION"); delay, jitter and reordering have no such stand-in and are
refused. `NetPath.emulation` says which one a path uses.

This file uses the standard library only, so it also runs as a script (`scripts/netpath.sh`):
one command in each namespace, the client started once the server printed its `ready` line.
Errors (not root, no `ip netns`, a namespace that exists, bad values): one line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFIX = "tlslab-"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s)$")
_STEP_TIMEOUT_S = 10.0  # one ip/tc/nft call; each is a few netlink messages
_STOP_GRACE_S = 3.0  # from SIGTERM to SIGKILL for what is left in a namespace


class NetPathError(Exception):
    """The path cannot be made: the message is one line for the user."""


def _duration_us(text: str, what: str) -> int:
    m = _DURATION.match(str(text).strip())
    if not m:
        raise NetPathError(f"{what} {text!r} is not a duration like 10ms, 500us or 1s")
    scale = {"us": 1, "ms": 1000, "s": 1_000_000}[m.group(2)]
    value = float(m.group(1)) * scale
    if value > 10_000_000:
        raise NetPathError(f"{what} {text!r} is over 10 s")
    return int(round(value))


def _percent(value: float | str, what: str) -> float:
    text = str(value).strip().rstrip("%")
    try:
        p = float(text)
    except ValueError:
        raise NetPathError(f"{what} {value!r} is not a percentage like 1 or 0.5%") from None
    if not 0.0 <= p <= 100.0:
        raise NetPathError(f"{what} {value!r} is not between 0 and 100")
    return p


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise NetPathError(f"{what}: {argv[0]} did not answer in {_STEP_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["exit " + str(done.returncode)])[-1]
        raise NetPathError(f"{what}: {detail}")
    return done.stdout


def namespaces() -> list[str]:
    """The network namespaces that exist now (`ip netns list`)."""
    out = _run(["ip", "netns", "list"], "ip netns list")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def require_root_and_netns() -> None:
    """NetPathError unless this process is root and `ip netns` works."""
    if os.geteuid() != 0:
        raise NetPathError("network namespaces need root (CAP_SYS_ADMIN): run as root")
    if shutil.which("ip") is None or shutil.which("tc") is None:
        raise NetPathError("ip netns is missing: install iproute2 (ip and tc)")
    try:
        namespaces()
    except NetPathError as e:
        raise NetPathError(f"ip netns does not work here ({e})") from None


class NetPath:
    """Two namespaces joined by a veth pair with netem on both ends; a context manager."""

    def __init__(self, delay: str = "0ms", jitter: str = "0ms", loss: float | str = 0.0,
                 reorder: float | str = 0.0, name: str | None = None) -> None:
        self.delay_us = _duration_us(delay, "delay")
        self.jitter_us = _duration_us(jitter, "jitter")
        self.loss = _percent(loss, "loss")
        self.reorder = _percent(reorder, "reorder")
        if self.jitter_us > self.delay_us:
            raise NetPathError("jitter must not exceed delay")
        if self.reorder > 0 and self.delay_us == 0:
            # tc-netem(8): reordering sends some packets at once and delays the rest.
            raise NetPathError("reorder needs a delay (tc-netem(8): the others are delayed)")
        token = name if name is not None else secrets.token_hex(3)
        if not re.fullmatch(r"[a-z0-9]{1,8}", token):
            raise NetPathError(f"name {token!r}: 1 to 8 lowercase letters or digits")
        self.server_ns = f"{PREFIX}{token}-s"
        self.client_ns = f"{PREFIX}{token}-c"
        self.server_dev = f"tl{token}s"  # interface names have at most 15 characters
        self.client_dev = f"tl{token}c"
        k = int.from_bytes(token.encode(), "big") % 250 + 1
        self.server_addr = f"10.213.{k}.1"
        self.client_addr = f"10.213.{k}.2"
        self.emulation = "none"
        self._made: list[str] = []
        self._children: list[subprocess.Popen] = []

    # --- making and removing -------------------------------------------------------------

    def __enter__(self) -> NetPath:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        require_root_and_netns()
        existing = set(namespaces())
        for ns in (self.server_ns, self.client_ns):
            if ns in existing:
                raise NetPathError(f"network namespace {ns} already exists (remove it with "
                                   f"'ip netns del {ns}' if no run uses it)")
        try:
            for ns in (self.server_ns, self.client_ns):
                _run(["ip", "netns", "add", ns], f"ip netns add {ns}")
                self._made.append(ns)
                self._ip(ns, "link", "set", "lo", "up")
            # Both ends are born in their namespaces: the host's namespace never holds them.
            _run(["ip", "link", "add", self.server_dev, "netns", self.server_ns, "type", "veth",
                  "peer", "name", self.client_dev, "netns", self.client_ns], "ip link add veth")
            for ns, dev, addr in ((self.server_ns, self.server_dev, self.server_addr),
                                  (self.client_ns, self.client_dev, self.client_addr)):
                self._ip(ns, "addr", "add", f"{addr}/30", "dev", dev)
                self._ip(ns, "link", "set", dev, "up")
            self._emulate()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop what runs in the namespaces and delete them; safe to call twice."""
        # Our own children first, by their Popen: one started just now may still be `ip netns
        # exec` on its way into its namespace, where `ip netns pids` does not list it yet.
        for child in self._children:
            if child.poll() is None:
                child.terminate()
        for child in self._children:
            try:
                child.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children = []
        for ns in self._made:
            self._stop_processes(ns)
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True,
                           timeout=_STEP_TIMEOUT_S, check=False)
        self._made = []

    def _stop_processes(self, ns: str) -> None:
        deadline = time.monotonic() + _STOP_GRACE_S
        sig = signal.SIGTERM
        while True:
            try:
                out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                     timeout=_STEP_TIMEOUT_S, check=False).stdout
            except subprocess.TimeoutExpired:
                return
            pids = [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]
            if not pids:
                return
            if time.monotonic() > deadline:
                sig = signal.SIGKILL
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def _ip(self, ns: str, *args: str) -> str:
        return _run(["ip", "-n", ns, *args], f"ip -n {ns} {' '.join(args)}")

    def _netem_args(self) -> list[str]:
        args: list[str] = []
        if self.delay_us:
            args += ["delay", f"{self.delay_us}us"]
            if self.jitter_us:
                args += [f"{self.jitter_us}us"]
        if self.loss:
            args += ["loss", f"{self.loss}%"]
        if self.reorder:
            args += ["reorder", f"{self.reorder}%"]
        return args

    def _emulate(self) -> None:
        args = self._netem_args()
        if not args:
            return
        ends = ((self.server_ns, self.server_dev), (self.client_ns, self.client_dev))
        try:
            for ns, dev in ends:
                _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
                      "netem", *args], "tc qdisc add netem")
            self.emulation = "netem"
            return
        except NetPathError as e:
            if "unknown" not in str(e).lower():
                raise
        if self.delay_us or self.reorder:
            raise NetPathError("this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): delay, "
                               "jitter and reorder need it; loss alone works without it")
        if shutil.which("nft") is None:
            raise NetPathError("this kernel has no netem qdisc and nft is missing for the loss: "
                               "install nftables")
        per_10000 = int(round(self.loss * 100))
        for ns, dev in ends:
            rules = (f"add table inet tlslab\n"
                     f"add chain inet tlslab out {{ type filter hook output priority 0 ; }}\n"
                     f"add rule inet tlslab out oifname \"{dev}\" "
                     f"numgen random mod 10000 < {per_10000} drop\n")
            with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
                f.write(rules)
                f.flush()
                _run(["ip", "netns", "exec", ns, "nft", "-f", f.name], "nft loss rule")
        self.emulation = "nftables-loss"

    # --- running in a namespace ----------------------------------------------------------

    def _ns(self, side: str) -> str:
        if side not in ("server", "client"):
            raise ValueError(f"side {side!r}: 'server' or 'client'")
        return self.server_ns if side == "server" else self.client_ns

    def argv(self, side: str, argv: list[str]) -> list[str]:
        """`argv` as a command that runs in the namespace of `side` ('server' or 'client')."""
        return ["ip", "netns", "exec", self._ns(side), *[str(a) for a in argv]]

    def popen(self, side: str, argv: list[str], **kwargs: object) -> subprocess.Popen:
        child = subprocess.Popen(self.argv(side, argv), **kwargs)  # type: ignore[call-overload]
        self._children.append(child)  # stopped by close()
        return child

    def run(self, side: str, argv: list[str], timeout: float,
            **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(side, argv), timeout=timeout,  # type: ignore
                              **kwargs)

    def describe(self) -> dict[str, object]:
        return {"server_ns": self.server_ns, "client_ns": self.client_ns,
                "server_addr": self.server_addr, "client_addr": self.client_addr,
                "delay_us": self.delay_us, "jitter_us": self.jitter_us, "loss_percent": self.loss,
                "reorder_percent": self.reorder, "emulation": self.emulation}


def wait_for_line(path: Path, pattern: re.Pattern[str], proc: subprocess.Popen,
                  timeout_s: float) -> str | None:
    """The first line of the file `path` matching `pattern`, or None if `proc` ends first or
    `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        m = pattern.search(text)
        if m:
            return m.group(0)
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def _cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="netpath.sh",
        description="Run SERVER in one network namespace and CLIENT in another, across a veth "
                    "pair with tc netem on both ends; tear everything down afterwards. In the "
                    "commands {server_addr}, {client_addr} and {dir} (a scratch directory) are "
                    "replaced.")
    ap.add_argument("--delay", default="0ms", help="one-way delay on each end (RTT = 2 x delay)")
    ap.add_argument("--jitter", default="0ms")
    ap.add_argument("--loss", default="0", help="percent of packets lost on each end")
    ap.add_argument("--reorder", default="0", help="percent of packets sent at once (reordered)")
    ap.add_argument("--name", help="1-8 lowercase letters or digits (default: random)")
    ap.add_argument("--server", required=True, help="the server command (a shell-quoted string)")
    ap.add_argument("--client", required=True, help="the client command (a shell-quoted string)")
    ap.add_argument("--ready", default=r"^ready\b",
                    help="regex of the server's output line that starts the client")
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    a = ap.parse_args(argv)
    try:
        ready = re.compile(a.ready, re.M)
    except re.error as e:
        raise NetPathError(f"--ready {a.ready!r} is not a regular expression ({e})") from None
    with tempfile.TemporaryDirectory(prefix="tlslab-netpath-") as scratch, \
            NetPath(a.delay, a.jitter, a.loss, a.reorder, a.name) as path:
        values = {"server_addr": path.server_addr, "client_addr": path.client_addr,
                  "dir": scratch}

        def command(text: str) -> list[str]:
            try:
                return [w.format(**values) for w in shlex.split(text)]
            except (ValueError, KeyError, IndexError) as e:
                raise NetPathError(f"command {text!r}: {e}") from None

        server_cmd, client_cmd = command(a.server), command(a.client)
        print(f"netpath: {path.server_ns} {path.server_addr} <-> {path.client_ns} "
              f"{path.client_addr}, {path.emulation} {' '.join(path._netem_args())}".rstrip(),
              file=sys.stderr)
        log = Path(scratch) / "server.log"
        with open(log, "w") as out:
            server = path.popen("server", server_cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            if wait_for_line(log, ready, server, a.ready_timeout) is None:
                sys.stderr.write(log.read_text(errors="replace"))
                raise NetPathError(f"the server printed no line matching {a.ready!r} in "
                                   f"{a.ready_timeout:.0f} s")
            client = path.popen("client", client_cmd, stdin=subprocess.DEVNULL)
            rc = client.wait()
            rc = rc if rc >= 0 else 128 - rc  # killed by a signal: the shell's convention
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)  # tlslab serve prints its summary on SIGINT
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            sys.stdout.write(log.read_text(errors="replace"))
        return rc


def main(argv: list[str] | None = None) -> int:
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # SIGTERM tears down as Ctrl-C does
    try:
        return _cli(sys.argv[1:] if argv is None else argv)
    except NetPathError as e:
        print(f"netpath: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netpath: interrupted; namespaces removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
