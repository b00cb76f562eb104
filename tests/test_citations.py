"""Every citation of a note resolves inside the repository.

Docstrings, comments and documents cite the notes under `docs/` as `docs/<note>.md §<section>` with optional
numbered items, `#<n>` or a range `#<n>-#<m>`, and further references to the same note after a comma:
`docs/method.md §2.7, §6.2 #12-#14`. A section is a Markdown heading whose text starts with that number
(`### 2.7 Memory ...`, `## 1b. Search ...`); an item is a numbered list entry (`15. ...`) or table row (`| 15 |`)
of that section. Inside a note, a bare `§6.2 #7` refers to that note and must resolve in it too. The names of the
documents these notes replaced, which lived outside the repository, must not come back.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED_DIRS = ("langgraph_sale", "tests", "examples", "benchmarks", "notebooks", "docs")
SCANNED_FILES = ("README.md",)
SUFFIXES = (".py", ".md", ".ipynb")
SKIPPED = {ROOT / "docs" / "results" / "runs", Path(__file__).resolve()}
"""Committed run records (machine output), and this file, whose examples are broken on purpose."""

_REF = r"§\d\w*(?:\.\w+)*(?:\s+#\d+(?:-#\d+)?)?"
CITATION = re.compile(rf"docs/(?P<path>(?:[\w-]+/)*[\w.-]+\.md)(?P<refs>(?:,?\s+{_REF})*)")
REF = re.compile(r"§(?P<section>\d\w*(?:\.\w+)*)(?:\s+#(?P<first>\d+)(?:-#(?P<last>\d+))?)?")
RETIRED = re.compile(
    r"(?<![\w/.-])(?:(?:sale-method|langgraph-notes|real-feasibility|routing-headroom|postgres-store|local-models)"
    r"(?:\.md)?|(?:peers|DESIGN)\.md)(?![\w-])"
)
"""Bare names of the documents outside the repository that citations used to name (a `docs/` path is fine)."""

HEADING = re.compile(r"^(?P<level>#{1,6})[ \t]+(?P<id>\d\w*(?:\.\w+)*)\.?(?:[ \t]|$)", re.M)
FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", re.M | re.S)


def scanned_files() -> list[Path]:
    """The package, tests, examples, benchmarks, notebooks, README and docs, without committed run records."""
    files = [ROOT / name for name in SCANNED_FILES]
    for top in SCANNED_DIRS:
        for folder, subfolders, names in os.walk(ROOT / top):
            here = Path(folder)
            subfolders[:] = sorted(d for d in subfolders if here / d not in SKIPPED and not d.startswith((".", "__")))
            files.extend(here / name for name in sorted(names) if name.endswith(SUFFIXES))
    return [path for path in files if path not in SKIPPED]


@cache
def sections(note: Path) -> dict[str, str]:
    """Each numbered section of a Markdown note, by its number: the text up to the next heading as high or higher.
    Code blocks are left out, so a `# comment` in one is no heading."""
    text = FENCE.sub("", note.read_text(encoding="utf-8"))
    headings = list(HEADING.finditer(text))
    found: dict[str, str] = {}
    for index, heading in enumerate(headings):
        level = len(heading["level"])
        end = next((h.start() for h in headings[index + 1:] if len(h["level"]) <= level), len(text))
        found.setdefault(heading["id"], text[heading.end():end])
    return found


def has_item(body: str, number: int) -> bool:
    """Whether a section body holds numbered item `number`: a list entry `n. ` or a table row `| n |`."""
    return re.search(rf"^[ \t]*(?:{number}\.[ \t]|\|[ \t]*#?{number}[ \t]*\|)", body, re.M) is not None


def citation_problems(text: str, where: str = "<text>") -> list[str]:
    """What does not resolve among the citations in `text`: a missing note, section or item."""
    problems: list[str] = []
    for citation in CITATION.finditer(text):
        cited = " ".join(citation[0].split())
        note = (ROOT / "docs" / citation["path"]).resolve()
        if ROOT not in note.parents or not note.is_file():
            problems.append(f"{where}: {cited!r}: no such file in the repository")
            continue
        for ref in REF.finditer(citation["refs"]):
            body = sections(note).get(ref["section"])
            if body is None:
                problems.append(f"{where}: {cited!r}: docs/{citation['path']} has no section {ref['section']}")
                continue
            if ref["first"] is None:
                continue
            first, last = int(ref["first"]), int(ref["last"] or ref["first"])
            if last < first:
                problems.append(f"{where}: {cited!r}: the range #{first}-#{last} is backwards")
            missing = [n for n in range(first, last + 1) if not has_item(body, n)]
            if missing:
                problems.append(f"{where}: {cited!r}: §{ref['section']} of docs/{citation['path']} has no item "
                                + ", ".join(f"#{n}" for n in missing))
    return problems


def self_reference_problems(text: str, note: Path, where: str = "<text>") -> list[str]:
    """What does not resolve among a note's bare references to itself (`§6.2 #7`, outside any `docs/` citation)."""
    cited = [match.span() for match in CITATION.finditer(text)]
    problems: list[str] = []
    for ref in REF.finditer(text):
        if any(start <= ref.start() < end for start, end in cited):
            continue
        body = sections(note).get(ref["section"])
        first, last = (int(ref["first"]), int(ref["last"] or ref["first"])) if ref["first"] else (0, -1)
        if body is None or any(not has_item(body, n) for n in range(first, last + 1)):
            problems.append(f"{where}: {' '.join(ref[0].split())!r} does not resolve in this note")
    return problems


def retired_names(text: str, where: str = "<text>") -> list[str]:
    """Bare names of documents that are not in the repository."""
    return [f"{where}:{text.count(chr(10), 0, hit.start()) + 1}: {hit[0]!r}" for hit in RETIRED.finditer(text)]


def _texts() -> list[tuple[str, str]]:
    return [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")) for path in scanned_files()]


def test_every_citation_resolves() -> None:
    texts = _texts()
    problems = [problem for where, text in texts for problem in citation_problems(text, where)]
    notes = sorted((ROOT / "docs").glob("*.md"))
    problems += [problem for note in notes
                 for problem in self_reference_problems(note.read_text(encoding="utf-8"), note, note.name)]
    assert problems == []
    # The scan sees the notes and the citations of them (a broken pattern would find nothing and pass).
    cited = {match["path"] for _, text in texts for match in CITATION.finditer(text)}
    assert {"method.md", "local-models.md", "feasibility.md", "langgraph-notes.md"} <= cited
    assert sum(len(CITATION.findall(text)) for _, text in texts) >= 30


def test_no_citation_names_a_document_outside_the_repository() -> None:
    assert [problem for where, text in _texts() for problem in retired_names(text, where)] == []


def test_a_citation_of_a_missing_note_section_or_item_fails() -> None:
    assert citation_problems("(docs/method.md §2.7, §6.2 #12-#14; docs/langgraph-notes.md §1 #1)") == []
    assert citation_problems("docs/method.md\n    §6.2 #15 across a line break") == []
    broken = {
        "(docs/method.md §6.2 #99)": "has no item #99",
        "(docs/method.md §6.2 #15-#99)": "has no item #24",
        "(docs/method.md §9.9)": "has no section 9.9",
        "(docs/method.md §2.7, §7.1)": "has no section 7.1",
        "(docs/no-such-note.md §1)": "no such file",
        "(docs/feasibility.md §2 #1)": "has no item #1",
    }
    for text, expected in broken.items():
        problems = citation_problems(text)
        assert len(problems) == 1 and expected in problems[0], (text, problems)
    method = ROOT / "docs" / "method.md"
    assert self_reference_problems("as in §2.7 and §6.2 #12-#14 (docs/method.md §6.2 #1)", method) == []
    assert len(self_reference_problems("as in §6.2 #42", method)) == 1
    assert len(self_reference_problems("as in §8", method)) == 1


def test_a_bare_outside_name_is_caught() -> None:
    assert len(retired_names("small models cannot emit tool calls (local-models.md)")) == 1
    assert len(retired_names("the outbid prompt (sale-method §6.2 #15)")) == 1
    assert len(retired_names("see langgraph-notes §0.3 and real-feasibility.md §4")) == 2
    assert retired_names("see docs/local-models.md §2 and docs/langgraph-notes.md §1 #1") == []
