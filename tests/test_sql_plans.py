"""No named statement in sql/*.sql reads a growing table from end to end: each one's generic plan is checked.

A private copy of the migrated schema gets ~100k rows in every table that grows (tests/sql_plans_data.sql) and
ANALYZE; then every statement is PREPAREd and `EXPLAIN (FORMAT JSON) EXECUTE`d with
`plan_cache_mode = force_generic_plan` (psycopg prepares a statement after five executions, and PostgreSQL may
then keep the generic plan, the one that knows no parameter value) and otherwise default planner settings. The
plan may hold a `Seq Scan` only of a table in SMALL_TABLES, or of any table for a statement in MEANT_TO_SCAN.
EXPLAIN without ANALYZE runs nothing, so INSERT/UPDATE/DELETE are checked too. A new statement is checked
without anyone adding it anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from app.db.sql import Statement, parse_sql
from tests.support import ROOT, sql_statements

# Tables that stay small whatever the traffic: reading them whole costs a page or two.
SMALL_TABLES = {
    "roles",  # a handful of roles, edited by hand
    "claims",  # a handful of permissions
    "role_claims",  # roles x claims
    "cashback_tiers",  # three tiers
    "auto_approved_cpfs",  # a list kept by hand
    "clinics",  # tens of clinics
    "services",  # a few per clinic
    "rooms",  # a few per clinic
    "clinic_kiosks",  # a few registered devices per clinic (its indexes serve every statement once it grows)
}

# Statements whose job is to read a whole table, with why ("file:statement": reason).
MEANT_TO_SCAN: dict[str, str] = {
    "web.sql:applied_migrations": "yoyo's bookkeeping table: one row per migration, all of them wanted",
    "users.sql:has_administrator": "once at start-up outside production; EXISTS stops at the first active admin",
}


STATEMENTS = sql_statements()
DATA = ROOT / "tests" / "sql_plans_data.sql"

_PREPARABLE = re.compile(r"^\s*(?:WITH|SELECT|INSERT|UPDATE|DELETE|MERGE|VALUES|TABLE)\b", re.IGNORECASE)


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


@pytest.fixture(scope="module")
def grown(server_url: str, template_database: str) -> Iterator[psycopg.Connection]:
    """A private copy of the migrated schema with the data of tests/sql_plans_data.sql, analyzed."""
    name = f"test_plans_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            conn.execute("SET synchronous_commit = off")
            data = DATA.read_text(encoding="utf-8")
            try:
                # Skip the foreign keys' per-row checks (half the time; the data loads with them on too). Only a
                # superuser may; the embedded server's user is one.
                with conn.transaction():
                    conn.execute("SET LOCAL session_replication_role = replica")
                    conn.execute(data)
            except psycopg.errors.InsufficientPrivilege:
                with conn.transaction():
                    conn.execute(data)
            conn.execute("ANALYZE")
            conn.execute("RESET ALL")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            yield conn
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Parameter values: only their types matter to a generic plan, but they are plausible ones of the data.
_BY_NAME: dict[str, Any] = {
    "user_id": str(uuid.UUID(hashlib.md5(b"user1").hexdigest())),
    "status": "open",
    "kind": "bearer",
    "topic": "product:00000000-0000-0000-0000-000000000000",
    "email": "user1@example.com",
    "login": "user1@example.com",
    "cpf": "00000000001",
    "limit": 20,
    "batch_size": 20,
}
_BY_TYPE: dict[str, Any] = {
    "uuid": "00000000-0000-0000-0000-000000000001",
    "integer": 1,
    "bigint": 1,
    "smallint": 1,
    "numeric": 10,
    "double precision": 1.5,
    "boolean": True,
    "text": "x",
    "character": "00000000001",
    "bytea": b"\x00",
    "jsonb": "{}",
    "timestamp with time zone": dt.datetime(2026, 1, 15, tzinfo=dt.UTC),
    "date": dt.date(2026, 1, 1),
    "integer[]": [1, 2],
    "bigint[]": [1, 2],
    "uuid[]": ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"],
    "text[]": ["x", "y"],
    "bytea[]": [b"\x00", b"\x01"],
    "timestamp with time zone[]": [dt.datetime(2026, 1, 15, tzinfo=dt.UTC)] * 2,
}


def _optional(statement: Statement) -> set[str]:
    """Parameters that may be NULL: optional filters (`:x::type IS NULL OR ...`) and missing bounds
    (`COALESCE(:x, <the lowest bound>)`)."""
    text = statement.text
    return set(re.findall(r":([A-Za-z_]\w*)(?:::[\w\s\[\]]+?)?\s+IS\s+NULL", text)) | set(
        re.findall(r"COALESCE\(\(?:([A-Za-z_]\w*)", text)
    )


def _value(name: str, type_name: str) -> Any:
    if name in _BY_NAME and type_name not in {"bytea", "jsonb"}:
        return _BY_NAME[name]
    if type_name not in _BY_TYPE:
        raise AssertionError(f"no test value for a parameter of type {type_name} (add one to _BY_TYPE)")
    return _BY_TYPE[type_name]


def _seq_scans(node: dict[str, Any]) -> Iterator[str]:
    if node.get("Node Type") == "Seq Scan":
        yield node["Relation Name"]
    for child in node.get("Plans", []):
        yield from _seq_scans(child)


def _plan_text(conn: psycopg.Connection, execute: sql.Composable) -> str:
    rows = conn.execute(sql.SQL("EXPLAIN {}").format(execute)).fetchall()
    return "\n".join(row[0] for row in rows)


def whole_table_reads(conn: psycopg.Connection, statement: Statement) -> Iterator[tuple[str, list[str], str]]:
    """For each shape of the parameters (every one given; the optional ones NULL): a description of it, the
    tables outside SMALL_TABLES its generic plan reads with a Seq Scan, and the plan as text."""
    conn.execute("DEALLOCATE ALL")
    conn.execute(f"PREPARE plan_check AS {statement.positional()}")
    found = conn.execute(
        "SELECT array_to_string(parameter_types::text[], ',') FROM pg_prepared_statements WHERE name = 'plan_check'"
    ).fetchone()
    type_names = found[0].split(",") if found and found[0] else []
    optional = _optional(statement)
    for nulls in [set()] + ([optional] if optional else []):
        arguments = [
            sql.SQL("NULL::{}").format(sql.SQL(type_name))
            if name in nulls
            else sql.SQL("{}::{}").format(sql.Literal(_value(name, type_name)), sql.SQL(type_name))
            for name, type_name in zip(statement.params, type_names, strict=True)
        ]
        execute = sql.SQL("EXECUTE plan_check") + (
            sql.SQL("({})").format(sql.SQL(", ").join(arguments)) if arguments else sql.SQL("")
        )
        row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(execute)).fetchone()
        assert row is not None
        scanned = sorted(set(_seq_scans(row[0][0]["Plan"])) - SMALL_TABLES)
        given = f"{', '.join(sorted(nulls))} NULL" if nulls else "every parameter given"
        yield given, scanned, _plan_text(conn, execute) if scanned else ""


def test_there_are_statements_to_check() -> None:
    assert len(STATEMENTS) > 100


def test_every_allowed_scan_names_a_statement() -> None:
    known = {f"{file}:{statement.name}" for file, statement in STATEMENTS}
    assert not set(MEANT_TO_SCAN) - known


def test_the_check_sees_an_optional_filter_defeat_the_index(grown: psycopg.Connection) -> None:
    """The case that made this test (issue 14): one reseller's purchases behind `:x IS NULL OR`."""
    (statement,) = parse_sql(
        "-- name: bad\nSELECT id FROM purchases WHERE (:reseller_id::uuid IS NULL OR reseller_id = :reseller_id)"
    ).values()
    (_given, scanned, plan), *_ = whole_table_reads(grown, statement)
    assert scanned == ["purchases"], plan


@pytest.mark.parametrize(
    ("file", "statement"), STATEMENTS, ids=[f"{file}:{statement.name}" for file, statement in STATEMENTS]
)
def test_generic_plan_reads_no_growing_table_whole(grown: psycopg.Connection, file: str, statement: Statement) -> None:
    if not _PREPARABLE.match(_without_comments(statement.text)):
        pytest.skip("a utility statement (LISTEN ...) has no plan")
    if f"{file}:{statement.name}" in MEANT_TO_SCAN:
        pytest.skip(f"allowed to scan: {MEANT_TO_SCAN[f'{file}:{statement.name}']}")
    for given, scanned, plan in whole_table_reads(grown, statement):
        if scanned:
            pytest.fail(
                f"sql/{file}, statement {statement.name!r} ({given}): its generic plan reads "
                f"{', '.join(scanned)} whole (Seq Scan). Use an index (a migration), one statement per filter "
                f'shape, or keyset pagination; see docs/performance.md, "Plans".\n{plan}',
                pytrace=False,
            )
