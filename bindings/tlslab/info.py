"""What this build knows: profiles and versions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tlslab._core import core


def profiles() -> dict[str, list[dict[str, Any]]]:
    """The server and checker profiles, as `tlslab profiles --json` prints them: for each
    server profile the session's fate after each close kind per resumption mechanism, for
    each checker profile its close mode per check kind, each with its source.

    Example:
        >>> import tlslab
        >>> [p["name"] for p in tlslab.profiles()["checker"]]
        ['haproxy-1.7.3', 'haproxy-1.7.4']
        >>> tlslab.profiles()["server"][0]["fate"]["session-id"]["eof"]
        'removed'
    """
    return core.profiles()


def profile_names(side: str) -> list[str]:
    """The names of the "server" or "checker" profiles.

    Example:
        >>> import tlslab
        >>> tlslab.profile_names("server")
        ['strict', 'lenient']
    """
    if side not in ("server", "checker"):
        raise ValueError(f"side must be 'server' or 'checker', got {side!r}")
    return [p["name"] for p in profiles()[side]]


def versions() -> dict[str, str]:
    """Versions that stamp every result: tlslab, the git commit it was built from, OpenSSL;
    plus Python's version and the commit of the working tree now (`git describe --dirty`,
    when the package runs from a build of a git checkout).

    Example:
        >>> import tlslab
        >>> sorted(tlslab.versions())[:3]
        ['git_commit', 'git_describe', 'openssl']
    """
    out = dict(core.versions())
    out["python"] = sys.version.split()[0]
    out["git_describe"] = _git_describe()
    return out


def _git_describe() -> str:
    try:
        from tlslab import _build_info

        source = Path(_build_info.SOURCE_DIR)
    except ImportError:
        return "unknown"
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


__all__ = ["profiles", "profile_names", "versions"]
