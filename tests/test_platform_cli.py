"""The `app` command as a maintainer uses it: migrate (and roll back), seed, db-url, psql, check, and clear
one-line failures (database unreachable, production without a secret) instead of a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys

import psycopg
import pytest

from app.config import DEVELOPMENT_SECRET, Settings
from app.db.migrations import known_migration_ids
from tests.support import ROOT, free_port, settings_env


def app_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _tables(url: str) -> dict[str, list[str]]:
    """Every table of the public schema with its columns, in order (yoyo's own bookkeeping left out)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name NOT LIKE '%yoyo%' ORDER BY table_name, ordinal_position"
        ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def test_every_migration_rolls_back_and_reapplies_cleanly(settings: Settings) -> None:
    env = settings_env(settings)
    url = settings.database_url or ""
    migrated = _tables(url)
    assert migrated

    rolled = app_cli("migrate", "--rollback", "99", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert all(migration in rolled.stdout for migration in known_migration_ids())
    assert _tables(url) == {}, "a rollback file left tables behind"
    listed = app_cli("migrate", "--list", env=env)
    assert listed.stdout.strip() == "pending: " + ", ".join(known_migration_ids())

    applied = app_cli("migrate", env=env)
    assert applied.returncode == 0, applied.stderr
    assert _tables(url) == migrated
    again = app_cli("migrate", env=env)
    assert "nothing, the schema is current" in again.stdout
    assert app_cli("migrate", "--list", env=env).stdout.strip() == "pending: none"


def test_check_reports_pending_migrations(settings: Settings) -> None:
    env = settings_env(settings)
    current = app_cli("check", env=env)
    assert current.returncode == 0, current.stderr
    assert current.stdout.splitlines() == ["database: reachable", "migrations: current"]
    assert app_cli("migrate", "--rollback", "1", env=env).returncode == 0
    pending = app_cli("check", env=env)
    assert pending.returncode == 1
    assert pending.stdout.splitlines()[-1] == f"migrations: pending {known_migration_ids()[-1]}"


def _row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in _tables(url)}


def test_seed_is_idempotent(settings: Settings) -> None:
    """Run twice, `app seed --demo` creates the development admin and each area's demo data once."""
    url = settings.database_url or ""
    env = {k: v for k, v in settings_env(settings).items() if k not in ("ADMIN_EMAIL", "ADMIN_PASSWORD")}
    first = app_cli("seed", "--demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "administrator created: admin@localhost / " in first.stdout
    after_first = _row_counts(url)
    second = app_cli("seed", "--demo", env=env)
    assert second.returncode == 0, second.stderr
    assert "administrator created" not in second.stdout
    assert second.stdout.splitlines()[-1] == "seed complete"
    assert _row_counts(url) == after_first


def test_db_url_and_psql(settings: Settings) -> None:
    env = settings_env(settings)
    printed = app_cli("db-url", env=env)
    assert printed.returncode == 0
    assert printed.stdout.strip() == settings.database_url
    answered = app_cli("psql", env=env, stdin="SELECT 40 + 2 AS answer;\n")
    assert answered.returncode == 0, answered.stderr
    assert "42" in answered.stdout


def _closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:  # nothing listens there: connecting is refused at once
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


@pytest.mark.slow
def test_an_unreachable_database_is_one_line_and_a_failure(settings: Settings) -> None:
    url = f"postgresql://app:secret@127.0.0.1:{_closed_port()}/app"
    result = app_cli("serve", env=settings_env(settings) | {"DATABASE_URL": url})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the database at postgresql://app:***@127.0.0.1:")
    assert "unreachable" in lines[0]
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "secret",
    [None, DEVELOPMENT_SECRET, "too-short"],
    ids=["unset", "development-secret", "short"],
)
def test_production_refuses_to_serve_without_a_real_secret(settings: Settings, secret: str | None) -> None:
    env = {k: v for k, v in settings_env(settings).items() if k != "SECRET_KEY"} | {"APP_ENV": "production"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    result = app_cli("serve", env=env, timeout=30)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: APP_ENV=production needs SECRET_KEY set to a random value of at least 32 characters"
    ]
