"""Render every notebook of experiments/ into docs/notebooks/: executed from top to bottom,
converted to Markdown with its figures as PNG files next to it, so that a reader sees the story
and the plots on the repository page without running anything.

The notebooks themselves stay saved without outputs (tests/python/test_notebooks.py checks);
this script is the one command that regenerates the rendered copies:

    /usr/bin/python3 experiments/render_notebooks.py            # all notebooks
    /usr/bin/python3 experiments/render_notebooks.py 01-the-incident

Needs Debian's python3-nbconvert, python3-nbclient and python3-ipykernel (scripts/lib.sh's
TLSLAB_TEST_PACKAGES), and the tlslab package, installed or built (build/python of this
checkout, found as experiments/_lab.py finds it). tests/docs/test_rendered_notebooks.py checks
that docs/notebooks/ is in step with experiments/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from _lab import REPO, import_tlslab

EXPERIMENTS = REPO / "experiments"
OUT = REPO / "docs" / "notebooks"
CELL_TIMEOUT_S = 600  # one cell of a live run on a loaded 2-core machine, at worst
FIGURE_DPI = 80  # modest PNGs: the repository keeps them


def fail(message: str) -> None:
    print(f"render_notebooks: error: {message}", file=sys.stderr)
    sys.exit(2)


def kernel_env() -> None:
    """The kernel is a child process: it must import the same tlslab as this script."""
    tlslab = import_tlslab()
    package_root = str(Path(tlslab.__file__).resolve().parents[1])
    paths = [package_root, os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    os.environ.setdefault("TLSLAB_BIN", str(tlslab.tlslab_bin()))
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # ipykernel's debugger notice
    # Smaller figures for the repository; the notebooks' own settings are left alone.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"


def render(path: Path) -> list[str]:
    """Executes `path` and writes docs/notebooks/STEM.md and STEM_files/; returns the files."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import MarkdownExporter

    nb = nbformat.read(path, as_version=4)
    # A first cell the reader never sees: modest figure sizes for the rendered copy.
    setup = nbformat.v4.new_code_cell(
        f"import matplotlib\nmatplotlib.rcParams['figure.dpi'] = {FIGURE_DPI}"
    )
    nb.cells.insert(0, setup)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(EXPERIMENTS)}},
    )
    client.execute()
    nb.cells.pop(0)
    stem = path.stem
    files_dir = f"{stem}_files"
    exporter = MarkdownExporter()
    body, resources = exporter.from_notebook_node(
        nb, resources={"output_files_dir": files_dir, "unique_key": stem}
    )
    md = OUT / f"{stem}.md"
    shutil.rmtree(OUT / files_dir, ignore_errors=True)
    written = []
    for name, data in sorted(resources.get("outputs", {}).items()):
        target = OUT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(str(target.relative_to(REPO)))
    header = (
        f"<!-- Rendered from experiments/{path.name} by experiments/render_notebooks.py; "
        "do not edit: edit the notebook and render again. -->\n\n"
    )
    md.write_text(header + body.strip() + "\n")
    return [str(md.relative_to(REPO)), *written]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook stems (default: every notebook)")
    args = parser.parse_args()
    try:
        import nbconvert  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError as e:
        fail(f"{e.name} is not installed: apt install python3-nbconvert python3-nbclient "
             "python3-ipykernel")
    notebooks = sorted(EXPERIMENTS.glob("*.ipynb"))
    if args.names:
        known = {p.stem: p for p in notebooks}
        unknown = [n for n in args.names if n not in known]
        if unknown:
            fail(f"no notebook named {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        notebooks = [known[n] for n in args.names]
    kernel_env()
    OUT.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        print(f"rendering {path.name} ...", file=sys.stderr, flush=True)
        for name in render(path):
            print(name)


if __name__ == "__main__":
    main()
