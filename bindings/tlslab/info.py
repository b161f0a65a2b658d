"""What this build knows: profiles and versions."""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

from tlslab._core import core


def profiles() -> dict[str, list[dict[str, Any]]]:
    """The server and checker profiles, the document of `tlslab profiles --json` (one C++
    function builds both, in this process): for each server profile the session's fate after
    each close kind per resumption mechanism, for each checker profile its close mode per
    check kind, each with its source.

    Example:
        >>> import tlslab
        >>> "haproxy-1.7.3" in [p["name"] for p in tlslab.profiles()["checker"]]
        True
    """
    return copy.deepcopy(_profiles())


@functools.lru_cache(maxsize=None)
def _profiles() -> dict[str, list[dict[str, Any]]]:
    return core.profiles()


def profile(name: str, side: str = "server") -> dict[str, Any]:
    """The profile row called `name` (or with `name` among its aliases), as in profiles().
    ValueError listing the known names when there is none.

    Example:
        >>> import tlslab
        >>> tlslab.profile("strict")["fate"]["session-id"]["eof"]
        'removed'
        >>> tlslab.profile("haproxy-1.7.4", "checker")["http"]["close"]
        'notify-reset'
    """
    for row in profiles()[_side(side)]:
        aliases = [a.strip() for a in str(row.get("aliases", "")).split(",")]
        if name == row["name"] or name in aliases:
            return row
    known = ", ".join(profile_names(side))
    raise ValueError(f"unknown {side} profile {name!r}; known: {known}")


def profile_names(side: str) -> list[str]:
    """The names of the "server" or "checker" profiles (aliases not included).

    Example:
        >>> import tlslab
        >>> "haproxy-1.7.4" in tlslab.profile_names("checker")
        True
    """
    return [p["name"] for p in profiles()[_side(side)]]


def _side(side: str) -> str:
    if side not in ("server", "checker"):
        raise ValueError(f"side must be 'server' or 'checker', got {side!r}")
    return side


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

        if _build_info.SOURCE_DIR is None:  # installed: no source tree to ask
            return "unknown"
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


__all__ = ["profile", "profiles", "profile_names", "versions"]
