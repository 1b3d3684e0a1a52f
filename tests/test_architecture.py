"""Where things live (issue 12, "Done when"): checks a reviewer can repeat, read from the source alone.

Modules stay small enough to read; a module's private names stay its own; an area's routes are reached only
through its own package; packages depend on each other in one direction; the live-feed protocol and event
publishing have one definition each. Python is read with `ast` (an import in a docstring or a string is not an
import); SQL, which has no such parser here, is read statement by statement."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.config import PROJECT_ROOT
from app.db.sql import parse_sql

APP = PROJECT_ROOT / "app"
MAX_LINES = 350

# Who may write an event (a topic_seq row) or send a notification on the hub's channel: the publish_event()
# function of migration 0017 (sql/realtime.sql's publish_event and the bid both call it), and the rights
# announcement of migration 0012 (seq 0, nothing stored).
PUBLISHERS = {
    ("migrations/0017_publish_event.sql", None),  # the publish_event() function: every stored event
    ("migrations/0012_realtime_rights.sql", None),  # rights notices (seq 0, never stored)
}
_PUBLISHES = re.compile(r"pg_notify\s*\(|\b(?:insert\s+into|update)\s+topic_seq\b", re.IGNORECASE)


@dataclass(frozen=True)
class Module:
    name: str  # dotted, as imported: app.auth.controller
    path: Path
    tree: ast.Module

    @property
    def relative(self) -> str:
        return self.path.relative_to(PROJECT_ROOT).as_posix()

    @property
    def area(self) -> str:
        """The top-level package (app.auth) or single-file module (app.config) the module belongs to."""
        return ".".join(self.name.split(".")[:2])


def _modules() -> list[Module]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        if "static" in path.relative_to(APP).parts:  # vendored files, not ours
            continue
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append(Module(name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return found


MODULES = _modules()
MODULE_NAMES = {module.name for module in MODULES}


def _imports(module: Module) -> Iterator[tuple[str, str | None]]:
    """(imported module, name taken from it) for every import of an app module, wherever it is written; the
    name is None when the import takes the module itself (`import app.x`, `from app.auth import controller`)."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names if alias.name.startswith("app."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "app":
            assert node.level == 0, f"{module.relative}: relative import"  # every import here is absolute
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield (submodule, None) if submodule in MODULE_NAMES else (node.module, alias.name)


def _is_controller(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 3 and parts[2] in ("controller", "controllers")


def test_the_checks_see_the_app() -> None:
    assert {"app.main", "app.auth.controller", "app.users.controller", "app.realtime.feed"} <= MODULE_NAMES
    assert not any(name.startswith("app.static") for name in MODULE_NAMES)


def test_no_python_file_under_app_is_over_the_limit() -> None:
    over = {module.relative for module in MODULES if len(module.path.read_text().splitlines()) > MAX_LINES}
    assert over == set(), f"split these by concept (at most {MAX_LINES} lines)"


def test_no_private_name_is_imported_from_another_module() -> None:
    leaks = {
        (module.name, imported, name)
        for module in MODULES
        for imported, name in _imports(module)
        if name is not None and name.startswith("_") and imported != module.name
    }
    assert leaks == set(), "make the name public where it belongs, or keep it in its module"


def test_controllers_are_imported_only_inside_their_own_area() -> None:
    crossings = {
        (module.name, imported)
        for module in MODULES
        for imported, _ in _imports(module)
        if _is_controller(imported) and ".".join(imported.split(".")[:2]) != module.area
    }
    assert crossings == set(), "move what is shared out of the controller"


def test_area_packages_do_not_import_each_other_in_a_circle() -> None:
    """The packages under app/ (feature areas and the layers they share: web, realtime, db, mail) form layers."""
    packages = {module.name for module in MODULES if module.path.name == "__init__.py" and module.name.count(".") == 1}
    depends: dict[str, set[str]] = {}
    for module in MODULES:
        for imported, _ in _imports(module):
            target = ".".join(imported.split(".")[:2])
            if module.area in packages and target in packages and target != module.area:
                depends.setdefault(module.area, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, pending = set(), [start]
        while pending:
            current = pending.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                pending.extend(depends.get(current, ()))
        return False

    circles = {tuple(sorted((a, b))) for a, targets in depends.items() for b in targets if reaches(b, a)}
    assert circles == set()


def test_only_the_feed_protocol_subscribes_to_the_hub() -> None:
    """Origin, ?since=, subscribe, snapshot or replay, pump, close: app/realtime/feed.py, and nowhere else."""
    subscribers = {
        module.relative
        for module in MODULES
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "subscribe"
    }
    assert subscribers == {"app/realtime/feed.py"}


def _sql_publishers() -> set[tuple[str, str | None]]:
    found: set[tuple[str, str | None]] = set()
    for path in sorted((PROJECT_ROOT / "sql").rglob("*.sql")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        for name, statement in parse_sql(path.read_text(encoding="utf-8")).items():
            if _PUBLISHES.search(statement.text):
                found.add((relative, name))
    for path in sorted((PROJECT_ROOT / "migrations").glob("*.sql")):
        if _PUBLISHES.search(path.read_text(encoding="utf-8")):
            found.add((path.relative_to(PROJECT_ROOT).as_posix(), None))
    return found


def test_events_are_published_one_way() -> None:
    assert _sql_publishers() == PUBLISHERS


def test_the_publishing_pattern_recognises_sql() -> None:
    assert _PUBLISHES.search("SELECT pg_notify ('events', x)")
    assert _PUBLISHES.search("INSERT INTO topic_seq AS ts (topic, last_seq)")
    assert not _PUBLISHES.search("SELECT last_seq FROM topic_seq WHERE topic = :topic")
