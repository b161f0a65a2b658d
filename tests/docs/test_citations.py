"""Every citation in the repository resolves inside the repository.

A reader of tlslab has only the repository, so a comment, a profile's source or a document that
says "docs/tls-semantics.md 1.2" or "docs/real-stacks.md 4.3" must name a file that exists and a
section that the file has; a path such as `servers/server_conn.cc` must exist. This test reads
every tracked text file and fails on:

- a citation of a Markdown file by bare name outside docs/ ("tls-semantics.md 1.5" in code:
  which file?), or of a file that does not exist;
- a section number the cited file has no heading for ("## 4.", "### 4.3 ..."), a numbered item
  ("mechanism 2", "7.4" as item 4 of section 7) or a table row ("8 row 14") it does not have;
- a repository path that does not exist.

Run: /usr/bin/python3 -m pytest -q tests/docs
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()
TEXT_SUFFIXES = {".cc", ".h", ".py", ".md", ".sh", ".txt", ".java", ".ipynb", ".csv", ".in",
                 ".ini", ".cfg", ".toml", ".json", ""}
# Folders whose files a run creates (git-ignored): naming them in prose is fine.
GENERATED = ("experiments/results", "build", "docs/notebooks/")

CITATION = re.compile(
    r"(?P<path>(?:[\w.-]+/)*[\w-]+\.md)\)?:?\s+(?:sections?\s+)?(?P<rest>§?\d[^\n]*)"
)
SECTION = re.compile(
    r"^§?(?P<num>\d+(?:\.\d+)*)(?:\s*[–-]\s*§?(?P<to>\d+(?:\.\d+)*))?"
    r"(?:\s+(?P<what>rows?|table|mechanisms?|notes?|items?)(?:\s+(?P<item>\d+))?)?"
)
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:lab|servers|clients|app|bindings|tests|docs|experiments|scripts|sim)"
    r"/[\w./-]*\w)"
)


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return [f for f in out if Path(f).suffix in TEXT_SUFFIXES and f != SELF
            and (ROOT / f).is_file()]


@lru_cache(maxsize=None)
def outline(path: str) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Section number -> (first line, end line) of its text, and the file's lines."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    heads = []
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+(\d+(?:\.\d+)*)\.?\s", line)
        if m:
            heads.append((i, len(m.group(1)), m.group(2)))
    spans = {}
    for k, (i, level, num) in enumerate(heads):
        end = len(lines)
        for j, lev2, _ in heads[k + 1:]:
            if lev2 <= level:
                end = j
                break
        spans[num] = (i, end)
    return spans, lines


def has_item(path: str, section: str, item: str, table: bool) -> bool:
    spans, lines = outline(path)
    if section not in spans:
        return False
    start, end = spans[section]
    pattern = rf"^\|\s*{item}\s*\|" if table else rf"^\s*(?:\*\*)?{item}\.\s"
    return any(re.match(pattern, line) for line in lines[start:end])


def check_section(target: str, token: str) -> str | None:
    m = SECTION.match(token.strip())
    if not m:
        return None
    spans, _ = outline(target)
    for num in filter(None, (m.group("num"), m.group("to"))):
        if num in spans:
            continue
        head, _, last = num.rpartition(".")
        if head and head in spans and has_item(target, head, last, table=False):
            continue  # "7.4": item 4 of section 7
        return f"{target} has no section {num}"
    what, item = m.group("what"), m.group("item")
    if what and item:
        table = what.startswith("row")
        if not has_item(target, m.group("num"), item, table=table):
            kind = "row" if table else "item"
            return f"{target} section {m.group('num')} has no {kind} {item}"
    return None


def resolve(source: str, cited: str) -> str | None:
    if "/" in cited:
        candidate = (ROOT / Path(source).parent / cited).resolve()
        if not candidate.is_file():
            candidate = (ROOT / cited).resolve()
    elif source.startswith("docs/"):
        candidate = ROOT / "docs" / cited
    else:
        return None
    try:
        rel = candidate.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None
    return rel if (ROOT / rel).is_file() else None


def problems_in(source: str) -> list[Problem]:
    found = []
    text = (ROOT / source).read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{source}:{lineno}"
        if re.search(r"shared/reference|\.\./shared|reference/tls-semantics", line):
            found.append(Problem(where, "cites a file outside the repository"))
        for m in CITATION.finditer(line):
            cited = m.group("path")
            target = resolve(source, cited)
            if target is None:
                found.append(Problem(where, f"'{cited}' does not resolve to a file in the "
                                     "repository (outside docs/, name it as docs/NAME.md)"))
                continue
            rest = re.split(r"[)\]:\"'`]", m.group("rest"))[0]  # the citation ends there
            for token in re.split(r"[,;]|\band\b", rest):
                token = token.strip()
                if not re.match(r"^§?\d", token):
                    break
                error = check_section(target, token)
                if error:
                    found.append(Problem(where, error))
        for m in REPO_PATH.finditer(line):
            path = m.group(1).rstrip(".")
            placeholder = re.search(r"/[A-Z_]+(\.\w+)?$", path)  # docs/NAME.md in prose
            if any(path.startswith(g) for g in GENERATED) or placeholder or \
                    any(c in path for c in "*{<"):
                continue
            if not (ROOT / path).exists():
                found.append(Problem(where, f"'{path}' does not exist"))
    return found


def test_every_citation_resolves_inside_the_repository() -> None:
    problems = [p for f in tracked_files() for p in problems_in(f)]
    assert not problems, f"{len(problems)} dangling citations:\n" + "\n".join(map(str, problems))


def test_the_checker_catches_what_it_must(tmp_path: Path) -> None:
    """The test above can fail: each kind of dangling citation is reported."""
    spans, _ = outline("docs/tls-semantics.md")
    assert "1.2" in spans and "8" in spans
    assert check_section("docs/tls-semantics.md", "1.2") is None
    assert check_section("docs/tls-semantics.md", "8 row 1") is None
    assert check_section("docs/tls-semantics.md", "99.9") is not None
    assert check_section("docs/tls-semantics.md", "8 row 999") is not None
    assert resolve("lab/profiles.cc", "tls-semantics.md") is None  # bare name outside docs/
    assert resolve("docs/real-stacks.md", "tls-semantics.md") == "docs/tls-semantics.md"
    assert resolve("lab/x.cc", "docs/no-such-file.md") is None
