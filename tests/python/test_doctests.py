"""The examples in the public API's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "tlslab",
    "tlslab.config",
    "tlslab.result",
    "tlslab.runs",
    "tlslab.simulation",
    "tlslab.server",
    "tlslab.sweeps",
    "tlslab.sweep_records",
    "tlslab.info",
    "tlslab.plot",
    "tlslab.analysis",
    "tlslab._cli",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name not in ("tlslab._cli",):
        assert result.attempted > 0, f"{name} has no runnable example"
