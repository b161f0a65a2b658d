"""tlslab.probe runs the probe of `tlslab probe HOST:PORT --json` in this process."""

from __future__ import annotations

import pytest

import tlslab


@pytest.mark.parametrize("profile", ["strict", "lenient"])
def test_probe_tells_strict_from_lenient(profile):
    with tlslab.Server(profile=profile, backends=1, key="p256") as srv:
        doc = tlslab.probe(srv.targets[0], repeat=1, tls="1.2")
    assert doc["target"] == srv.targets[0]
    assert doc["verdict"]["kind"] == profile, doc["verdict"]


def test_probe_expect_is_in_the_document():
    with tlslab.Server(profile="strict", backends=1, key="p256") as srv:
        doc = tlslab.probe(srv.targets[0], repeat=1, tls="1.2", expect="lenient")
    assert doc["expect"]["value"] == "lenient" and doc["expect"]["met"] is False


@pytest.mark.parametrize(
    "flags, says",
    [
        (dict(repeat=0), "repeat"),
        (dict(tls="1.1"), "tls"),
        (dict(expect="picky"), "expect"),
        (dict(bogus=1), "unknown field 'bogus'"),
    ],
)
def test_probe_bad_flags_are_value_errors(flags, says):
    with pytest.raises(ValueError, match=says):
        tlslab.probe("127.0.0.1:1", **flags)


def test_probe_bad_target_is_a_value_error():
    with pytest.raises(ValueError, match="HOST:PORT"):
        tlslab.probe("nowhere")
