"""What the experiment scripts share: finding the tlslab package, the results folder, tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "experiments" / "results"  # git-ignored


def import_tlslab():
    """`import tlslab`, from PYTHONPATH if it is there, else from build/python of this
    checkout."""
    try:
        import tlslab
    except ImportError:
        candidate = REPO / "build" / "python"
        if not (candidate / "tlslab").is_dir():
            sys.exit(
                "tlslab: error: the Python package is not built: configure with "
                "-DTLSLAB_BUILD_PYTHON=ON (scripts/test.sh does) or set PYTHONPATH"
            )
        sys.path.insert(0, str(candidate))
        import tlslab
    return tlslab


Columns = dict  # column -> (header, decimals); decimals None for text


def markdown_table(frame: "pandas.DataFrame", columns: Columns) -> str:
    """A Markdown table of `frame`: column -> (header, decimals or None for text)."""
    lines = ["| " + " | ".join(h for h, _ in columns.values()) + " |"]
    lines.append(
        "| " + " | ".join(":---" if d is None else "---:" for _, d in columns.values()) + " |"
    )
    for _, row in frame.iterrows():
        cells = [_cell(row.get(c), d) for c, (_, d) in columns.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def text_table(frame: "pandas.DataFrame", columns: Columns) -> str:
    """The same table as aligned plain text (numbers to the right), for the terminal."""
    numeric = [d is not None for _, d in columns.values()]
    rows = [[h for h, _ in columns.values()]]
    rows += [[_cell(row.get(c), d) for c, (_, d) in columns.items()] for _, row in frame.iterrows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    out = []
    for n, r in enumerate(rows):
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric)]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


def _cell(value: object, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if decimals is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{decimals}f}"
    return str(value)


def parse_list(text: str, kind: type = str) -> list:
    """ "10,20,50" -> [10, 20, 50]."""
    return [kind(item.strip()) for item in text.split(",") if item.strip()]


def print_paths(paths: Sequence[Path]) -> None:
    for path in paths:
        try:
            shown = path.relative_to(Path.cwd())
        except ValueError:
            shown = path
        print(f"  wrote {shown}")
