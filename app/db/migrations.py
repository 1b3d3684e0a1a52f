"""Schema migrations with yoyo, run from the CLI or before the server starts (never inside the event loop)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import default_migration_table, parse_uri

from app.config import PROJECT_ROOT

MIGRATIONS_FOLDER = PROJECT_ROOT / "migrations"
log = logging.getLogger(__name__)


def yoyo_url(database_url: str) -> str:
    """yoyo speaks psycopg 3 through the `postgresql+psycopg` scheme."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


class _ReportingBackend(PostgresqlPsycopgBackend):  # type: ignore[misc]
    """yoyo's psycopg 3 backend, whose connections (yoyo applies each migration on a fresh one) log what a
    migration reports with RAISE NOTICE / WARNING about the stored rows, so that the operator sees it."""

    def connect(self, dburi: Any) -> Any:
        connection = super().connect(dburi)
        connection.add_notice_handler(
            lambda diagnostic: log.warning("migration %s: %s", diagnostic.severity, diagnostic.message_primary)
        )
        return connection


@contextmanager
def _backend(database_url: str) -> Iterator[Any]:
    backend = _ReportingBackend(parse_uri(yoyo_url(database_url)), default_migration_table)
    backend.init_database()
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
