"""The notebooks execute from top to bottom without an error (so they never rot), with the
kernel Debian's python3-ipykernel provides, in experiments/ as their working directory."""

from __future__ import annotations

import os

import pytest

from conftest import EXPERIMENTS, python_env

nbformat = pytest.importorskip("nbformat", reason="python3-nbclient is not installed")
nbclient = pytest.importorskip("nbclient", reason="python3-nbclient is not installed")

NOTEBOOKS = sorted(EXPERIMENTS.glob("*.ipynb"))


def test_the_notebooks_are_found():
    assert [p.name for p in NOTEBOOKS] == [
        "01-the-incident.ipynb",
        "02-tls13-and-tickets.ipynb",
        "03-capacity-planning.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_saved_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert (
                not cell.outputs and cell.execution_count is None
            ), f"{path.name} was saved with outputs: clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, monkeypatch):
    for key, value in python_env().items():  # the kernel imports the same tlslab
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger notice
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(EXPERIMENTS)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and the traceback
    images = sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert images >= 2, f"{path.name} drew {images} figures"
    assert os.environ.get("PYTHONPATH")
