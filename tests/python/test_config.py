"""tlslab.Config: the same fields, defaults and validation as the C++ Config (no runs here)."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

import tlslab
from tlslab import _flags
from tlslab._core import core


def test_fields_are_the_flags_of_tlslab_run():
    """Every flag of `tlslab run` that the core's table calls a field is a Config field, in
    --help order; aliases (no_reuse) are constructor arguments, the output format (json) is
    not a field. Nothing in Python lists them."""
    described = core.describe_flags("run")
    fields = [f.name for f in dataclasses.fields(tlslab.Config)]
    assert fields == [row["field"] for row in described if row["role"] == "field"]
    assert tlslab.field_names() == fields
    roles = {row["field"]: row["role"] for row in described}
    assert roles["no_reuse"] == "alias" and roles["json"] == "output"


def test_defaults_come_from_the_core():
    cfg = tlslab.Config()
    for row in core.describe_flags("run"):
        if row["role"] != "field" or row["field"] == "live":
            continue
        assert getattr(cfg, row["field"]) == row["default"], row["field"]
    assert cfg.live is False  # the library's one difference: no live line on stderr
    assert cfg.close is None and cfg.reuse is None and cfg.checker_profile is None
    assert (cfg.backends, cfg.inter, cfg.server_profile) == (1, "2s", "lenient")


# Candidate non-default values per flag type; every field must take one of them (strings
# are tried in turn: some fields accept only names or paths).
CANDIDATES = {
    "int": [5, 2],
    "duration": ["1500ms", "2s"],
    "on/off": [False, True],
    "switch": [True],
    "strings": [["127.0.0.1:1"]],
    # one value that some string flag accepts: a profile, a path, an address, a file, a mode
    "string": ["strict", "haproxy-1.7.4", "/health", "127.0.0.2", "out.txt", "0640"],
}


@pytest.mark.parametrize("field", [f.field for f in _flags.fields("run")])
def test_every_described_field_round_trips(field):
    """Proves that a flag added to lab/flag_table.cc reaches Python with no Python edit: every
    described field takes a non-default value, which survives the JSON "config" object and
    appears in the argv the core renders."""
    flag = _flags.flags("run")[field]
    candidates = list(flag.choices) if flag.type == "enum" else CANDIDATES[flag.type]
    # Alone, else with one other field of the same type (cert goes with key_file).
    partners = [None] + [f.field for f in _flags.fields("run") if f.type == flag.type]
    cfg = None
    for value in candidates:
        for partner in partners:
            try:
                candidate = tlslab.Config(**{field: value, **({partner: value} if partner else {})})
            except tlslab.ConfigError:
                continue
            if getattr(candidate, field) != flag.default:
                cfg = candidate
                break
        if cfg is not None:
            break
    assert cfg is not None, f"{field}: no non-default value accepted from {candidates}"
    assert tlslab.Config.from_flags(cfg.to_flags()) == cfg
    assert f"--{flag.name}" in cfg.to_argv()


@pytest.mark.parametrize(
    "value, canonical",
    [
        ("2s", "2s"),
        ("2000", "2s"),
        ("1500ms", "1500ms"),
        (0.5, "500ms"),
        (3, "3s"),
        (datetime.timedelta(minutes=1), "1m"),
    ],
)
def test_durations(value, canonical):
    cfg = tlslab.Config(inter=value)
    assert cfg.inter == canonical
    assert cfg.seconds("inter") == core.parse_duration_ms(canonical) / 1000


# Table rows: (fields, the field the error must name, a fragment of the core's message).
BAD = [
    (dict(backends=0), "backends", "between 1 and 20000"),
    (dict(backends=20001), "backends", "between 1 and 20000"),
    (dict(backends="ten"), "backends", "whole number"),
    (dict(backends=True), "backends", "whole number"),
    (dict(backends=2.5), "backends", "whole number"),
    (dict(server_profile="tomcat"), "server_profile", "unknown server profile 'tomcat'; known:"),
    (dict(checker_profile="haproxy-9"), "checker_profile", "haproxy-1.7.3"),
    (dict(tls="1.4"), "tls", "auto, 1.2, 1.3"),
    (dict(check="ping"), "check", "connect, http"),
    (dict(close="slam"), "close", "close-notify"),
    (dict(key="rsa512"), "key", "rsa2048, p256"),
    (dict(tickets="maybe"), "tickets", "on or off"),
    (dict(inter="soon"), "inter", "duration such as 2s"),
    (dict(inter="5ms"), "inter", "between 10ms and 1h"),
    (dict(inter=0.0005), "inter", "whole number of milliseconds"),
    (dict(duration=-1), "duration", "duration"),
    (dict(timeout="20m"), "timeout", "between"),
    (dict(rise=0), "rise", "between 1 and 1000"),
    (dict(threads=65), "threads", "between 1 and 64"),
    (dict(server_threads=0), "server_threads", "between 1 and 64"),
    (dict(http_path="health"), "http_path", "must start with '/'"),
    (dict(cert="server.pem"), "cert", "go together"),
    (dict(key_file="server.key"), "key_file", "go together"),
    (dict(max_checks=-1), "max_checks", ">= 0"),
]


@pytest.mark.parametrize(
    "fields, field, fragment", BAD, ids=[f"{r[1]}-{i}" for i, r in enumerate(BAD)]
)
def test_bad_values_raise_value_error_naming_the_field(fields, field, fragment):
    with pytest.raises(ValueError) as info:
        tlslab.Config(**fields)
    err = info.value
    assert isinstance(err, tlslab.ConfigError)
    assert err.field == field
    message = str(err)
    assert message.startswith(f"{field}=") or message.startswith(f"{field}:"), message
    assert fragment in message, message
    assert "\n" not in message


def test_contradicting_reuse_flags():
    with pytest.raises(tlslab.ConfigError) as info:
        tlslab.Config(reuse=True, no_reuse=True)
    assert set(info.value.fields) == {"reuse", "no_reuse"}
    assert tlslab.Config(no_reuse=True).reuse is False


def test_unknown_field_is_a_type_error():
    with pytest.raises(TypeError, match="bakends"):
        tlslab.Config(bakends=3)


def test_config_is_immutable_and_replace_revalidates():
    cfg = tlslab.Config(backends=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.backends = 4  # type: ignore[misc]
    assert cfg.replace(backends=4).backends == 4
    with pytest.raises(tlslab.ConfigError, match="backends"):
        cfg.replace(backends=0)


def test_equal_configs_compare_equal_whatever_the_spelling():
    assert tlslab.Config(inter="2000") == tlslab.Config(inter=2) == tlslab.Config()
    assert tlslab.Config(tickets="off") == tlslab.Config(tickets=False)


def test_argv_and_flags_round_trip():
    cfg = tlslab.Config(
        server_profile="strict",
        checker_profile="haproxy-1.7.4",
        backends=7,
        inter="750ms",
        tls="1.3",
        tickets=False,
        close="quiet",
        no_reuse=True,
        timeout="3s",
        trace=True,
    )
    argv = cfg.to_argv()
    assert tlslab.Config.from_flags(cfg.to_flags()) == cfg
    assert "--trace" in argv and argv[argv.index("--reuse") + 1] == "off"


def test_describe_lists_every_field_with_its_help():
    rows = tlslab.Config.describe()
    assert [r["field"] for r in rows] == tlslab.field_names()
    inter = next(r for r in rows if r["field"] == "inter")
    assert inter == {
        "field": "inter",
        "flag": "--inter",
        "default": "2s",
        "help": "interval between checks",
    }


def test_server_arguments_are_validated_by_the_core():
    with pytest.raises(tlslab.ConfigError) as info:
        tlslab.Server(profile="tomcat")
    assert info.value.field == "profile" and "known: " in str(info.value)
    with pytest.raises(tlslab.ConfigError, match="^port=70000"):
        tlslab.Server(port=70000)
