"""The rules the code cites are in the repository (docs/rules/README.md): no file under app/, sql/, migrations/,
tests/, loadtest/ or pyproject.toml points at a specification outside the clone, and every
`docs/rules/<file>.md, "<Section>"` citation names a file and a heading that exist. No database, no server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "rules"
SCANNED_DIRS = ("app", "sql", "migrations", "tests", "loadtest")
SCANNED_FILES = ("pyproject.toml",)
TEXT_SUFFIXES = {".py", ".sql", ".toml", ".js", ".html", ".css", ".md", ".txt", ".cfg", ".ini", ".json"}

# Specification files that live outside the repository, and the ways the code used to refer to them. A name
# preceded by docs/rules/ (or by a letter, digit or hyphen, as in performance.md) is not one of them.
OUTSIDE = re.compile(
    r"(?<!docs/rules/)(?<![\w-])(?:users-auth|auctions|clinic|cashback|realtime)\.md\b"
    r"|stack-notes|shared/spec|spec README|\bthe spec\b|\bspec's\b"
)
# docs/rules/<file>.md, then optionally sections: quoted headings or guarantee numbers, separated by , ; or "and".
CITATION = re.compile(r"docs/rules/([A-Za-z0-9_.-]+?\.md)((?:\s*(?:,|;|and)?\s*(?:\"[^\"\n]+\"|\d+\b))*)")
SECTION = re.compile(r"\"([^\"\n]+)\"|(\d+)\b")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
LINK = re.compile(r"\]\(([A-Za-z0-9_.-]+\.md)?(?:#([\w-]+))?\)")


def _scanned() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES]
    for folder in SCANNED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    this = Path(__file__).resolve()
    return [f for f in files if f.resolve() != this]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _headings(name: str) -> list[str]:
    return HEADING.findall((RULES / name).read_text(encoding="utf-8"))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces become hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _citations() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for path in _scanned():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            sections = [quoted or number for quoted, number in SECTION.findall(match.group(2))]
            found.append((str(path.relative_to(ROOT)), _line(text, match.start()), match.group(1), sections))
    return found


def test_nothing_cites_a_specification_outside_the_repository() -> None:
    offenders = []
    for path in _scanned():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in OUTSIDE.finditer(text):
            offenders.append(f"{path.relative_to(ROOT)}:{_line(text, match.start())}: {match.group(0)!r}")
    assert not offenders, "cite docs/rules/<file>.md instead:\n" + "\n".join(offenders)


def test_citations_name_existing_files_and_sections() -> None:
    citations = _citations()
    assert len(citations) >= 50, "the citation pattern no longer finds the code's citations"
    problems = []
    for where, line, name, sections in citations:
        if not (RULES / name).is_file():
            problems.append(f"{where}:{line}: docs/rules/{name} does not exist")
            continue
        headings = _headings(name)
        for section in sections:
            numbered = section.isdigit() and any(h.startswith(f"{section}. ") for h in headings)
            if not numbered and section not in headings:
                problems.append(f"{where}:{line}: docs/rules/{name} has no section {section!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(p.name for p in RULES.glob("*.md")))
def test_links_between_rule_files_resolve(name: str) -> None:
    text = (RULES / name).read_text(encoding="utf-8")
    problems = []
    for match in LINK.finditer(text):
        target, anchor = match.group(1) or name, match.group(2)
        if not (RULES / target).is_file():
            problems.append(f"{name}: link to missing {target}")
        elif anchor and anchor not in {_slug(h) for h in _headings(target)}:
            problems.append(f"{name}: link to missing section {target}#{anchor}")
    assert not problems, "\n".join(problems)


def test_the_index_lists_every_rule_file() -> None:
    index = (RULES / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in RULES.glob("*.md") if p.name != "README.md" and f"]({p.name})" not in index]
    assert not missing, f"docs/rules/README.md does not list {missing}"
