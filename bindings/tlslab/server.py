"""tlslab.Server: the virtual backends of `tlslab serve`, started in this process, so that a
notebook can point its own client code (Python's ssl module, a `tlslab check` process, curl)
at their ports and watch the server's counters live."""

from __future__ import annotations

from typing import Any

from tlslab._core import core
from tlslab.config import Config

_COMMAND = "serve"


class Server:
    """Virtual TLS backends (each with its own listener, SSL_CTX and session cache) served by
    event-loop threads in this process until `close()` (or the end of a `with` block).

    Arguments are the fields of `tlslab serve` ('-' -> '_'; `tlslab serve --help` or
    `tlslab._flags.flags("serve")`), validated by the C++ core; None takes the core's default.
    Ports are ephemeral unless `port` is given.

    Example (a Python client that closes without close_notify loses its session on a strict
    server; TLS 1.2 session IDs):
        >>> import socket, ssl, tlslab
        >>> ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        >>> ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        >>> ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        >>> ctx.options |= ssl.OP_NO_TICKET
        >>> with tlslab.Server(profile="strict", backends=1, key="p256") as srv:
        ...     def check(session=None, close_notify=True):
        ...         raw = socket.create_connection(("127.0.0.1", srv.ports[0]))
        ...         tls = ctx.wrap_socket(raw, session=session)
        ...         reused, session = tls.session_reused, tls.session
        ...         tls.unwrap().close() if close_notify else tls.close()
        ...         return reused, session
        ...     _, s = check()                          # full handshake, clean close
        ...     print(check(s)[0])                      # resumed
        ...     _, s = check(s, close_notify=False)     # a close without close_notify...
        ...     _ = srv.wait_idle()                     # (the server has seen that close)
        ...     print(check(s)[0])                      # ...and the session is gone
        ...     print(srv.stats()["sessions_removed_total"]["eof"])
        True
        False
        1
    """

    def __init__(self, profile: str | None = None, backends: int | None = None, **fields: Any):
        values = {"profile": profile, "backends": backends, **fields}
        values.setdefault("live", False)  # a library call prints no live line
        self._start(core.build_config(_COMMAND, values))

    def _start(self, bound: Any) -> None:
        self.settings: dict[str, Any] = dict(bound.values())
        self._engine = core.Server(bound)

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> "Server":
        """The server side of a run Config (server_profile, backends, TLS settings, ...).

        Example:
            >>> import tlslab
            >>> cfg = tlslab.Config(server_profile="strict", backends=2, key="p256")
            >>> with tlslab.Server.from_config(cfg) as srv:
            ...     len(srv.ports), srv.settings["profile"]
            (2, 'strict')
        """
        # One C++ Config serves both commands: the run's server fields are the serve fields.
        srv = cls.__new__(cls)
        srv._start(core.build_config(_COMMAND, overrides, config._core))
        return srv

    @property
    def ports(self) -> list[int]:
        """The port of each backend, in order."""
        return list(self._engine.ports)

    @property
    def targets(self) -> list[str]:
        """HOST:PORT of each backend, in order (what `tlslab check --target` takes)."""
        return list(self._engine.targets)

    @property
    def host(self) -> str:
        """The address the backends listen on."""
        return str(self.settings["listen"])

    @property
    def closed(self) -> bool:
        return bool(self._engine.closed)

    def stats(self) -> dict[str, Any]:
        """The server's figures since it started, with the keys of `tlslab serve --json`
        (one C++ function builds both): connections, full and resumed handshakes, close kinds
        seen, sessions removed per close kind, `seconds`, and CPU of the server threads
        (`server_cpu_percent`, `cpu_ns`; `cpu_seconds` here). Safe to call while clients
        connect.

        Example:
            >>> import tlslab
            >>> with tlslab.Server(backends=1, key="p256") as srv:
            ...     srv.stats()["connections_total"]
            0
        """
        out = dict(self._engine.stats())
        out["cpu_seconds"] = out["cpu_ns"] / 1e9
        return out

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Waits until every connection the server has accepted so far has ended and got its
        close kind (the server has seen the clients' closes), at most `timeout` seconds.
        Returns False on timeout (a client still holds a connection open)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            s = self._engine.stats()
            if sum(s["close_kinds"].values()) >= s["connections_total"]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def close(self) -> None:
        """Stops the event loops and closes the listeners (idempotent)."""
        self._engine.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        more = "..." if len(self.ports) > 4 else ""
        state = "closed" if self.closed else f"ports {self.ports[:4]}{more}"
        return (
            f"<tlslab.Server profile={self.settings['profile']} "
            f"backends={self.settings['backends']} {state}>"
        )


__all__ = ["Server"]
