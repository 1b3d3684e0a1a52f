"""Schema migrations with yoyo, run from the CLI or before the server starts (never inside the event loop)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

from app.config import PROJECT_ROOT

MIGRATIONS_FOLDER = PROJECT_ROOT / "migrations"


def yoyo_url(database_url: str) -> str:
    """yoyo speaks psycopg 3 through the `postgresql+psycopg` scheme."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _print_warning(diagnostic: Any) -> None:
    if diagnostic.severity_nonlocalized == "WARNING":
        print(f"migration warning: {diagnostic.message_primary}", file=sys.stderr, flush=True)


@contextmanager
def _backend(database_url: str) -> Iterator[Any]:
    backend = get_backend(yoyo_url(database_url))
    # A migration reports stored rows that break a new rule with RAISE WARNING (never rewriting them): show it.
    backend.connection.add_notice_handler(_print_warning)
    try:
        yield backend
    finally:
        backend.connection.close()  # a lingering session would block CREATE DATABASE ... TEMPLATE


def apply_migrations(database_url: str) -> list[str]:
    """Apply every pending migration; returns the ids applied."""
    with _backend(database_url) as backend, backend.lock():
        pending = backend.to_apply(read_migrations(str(MIGRATIONS_FOLDER)))
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def rollback_migrations(database_url: str, count: int = 1) -> list[str]:
    with _backend(database_url) as backend, backend.lock():
        applied = backend.to_rollback(read_migrations(str(MIGRATIONS_FOLDER)))[:count]
        backend.rollback_migrations(applied)
    return [m.id for m in applied]


def pending_migrations(database_url: str) -> list[str]:
    with _backend(database_url) as backend:
        return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS_FOLDER)))]


def known_migration_ids() -> list[str]:
    return [m.id for m in read_migrations(str(MIGRATIONS_FOLDER))]
