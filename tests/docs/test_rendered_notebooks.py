"""docs/notebooks/ is in step with experiments/: one rendered Markdown file per notebook, every
figure it shows is there, no figure is left over, and the text and code of every cell are in it
(so a notebook edited without running experiments/render_notebooks.py fails here).

Run: /usr/bin/python3 -m pytest -q tests/docs
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
RENDERED = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted(EXPERIMENTS.glob("*.ipynb"))
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
MAX_FIGURE_BYTES = 250 * 1024  # the repository keeps them: modest PNGs
RENDER = "/usr/bin/python3 experiments/render_notebooks.py"


def test_one_rendered_file_per_notebook() -> None:
    assert NOTEBOOKS, "no notebook in experiments/"
    rendered = sorted(p.stem for p in RENDERED.glob("*.md"))
    assert rendered == [p.stem for p in NOTEBOOKS], f"run {RENDER}"


def _cells(path: Path) -> list[tuple[str, str]]:
    nb = json.loads(path.read_text())
    return [(c["cell_type"], "".join(c["source"]).strip()) for c in nb["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_rendered_notebook_has_every_cell_and_figure(path: Path) -> None:
    md_path = RENDERED / f"{path.stem}.md"
    assert md_path.is_file(), f"{md_path.relative_to(ROOT)} is missing: run {RENDER}"
    md = md_path.read_text()
    for kind, source in _cells(path):
        if source:
            assert source in md, (
                f"a {kind} cell of {path.name} is not in {md_path.name} as saved "
                f"(starts {source[:60]!r}): run {RENDER} {path.stem}"
            )
    figures = IMAGE.findall(md)
    assert figures, f"{md_path.name} shows no figure"
    for ref in figures:
        target = (RENDERED / ref).resolve()
        assert target.is_file(), f"{md_path.name} shows {ref}, which does not exist"
        assert target.stat().st_size <= MAX_FIGURE_BYTES, f"{ref} is not a modest PNG"


def test_no_figure_is_left_over() -> None:
    shown = set()
    for md in RENDERED.glob("*.md"):
        shown |= {(RENDERED / ref).resolve() for ref in IMAGE.findall(md.read_text())}
    files = {p.resolve() for p in RENDERED.glob("*_files/*") if p.is_file()}
    left_over = sorted(str(p.relative_to(ROOT)) for p in files - shown)
    assert not left_over, f"figures no rendered notebook shows: {left_over}; run {RENDER}"
