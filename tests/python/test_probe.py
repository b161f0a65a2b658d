"""tlslab.probe runs `tlslab probe HOST:PORT --json` when the command has it."""

from __future__ import annotations

import pytest

import tlslab
from tlslab import _cli


def has_probe() -> bool:
    return "probe" in _cli.subcommands()


@pytest.mark.parametrize("profile", ["strict", "lenient"])
def test_probe_tells_strict_from_lenient(profile):
    with tlslab.Server(profile=profile, backends=1, key="p256") as srv:
        if not has_probe():
            with pytest.raises(NotImplementedError, match="no `probe` subcommand"):
                tlslab.probe(srv.targets[0])
            return
        doc = tlslab.probe(srv.targets[0], repeat=1, tls="1.2")
    assert doc["target"] == srv.targets[0]
    assert doc["verdict"]["kind"] == profile, doc["verdict"]


def test_probe_bad_flags_are_value_errors():
    if not has_probe():
        pytest.skip("this tlslab has no probe subcommand (tested above: NotImplementedError)")
    with pytest.raises(ValueError, match="repeat"):
        tlslab.probe("127.0.0.1:1", repeat=0)
