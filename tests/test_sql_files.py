"""Every named statement in sql/*.sql is PREPAREd against the migrated schema, and app/ holds no SQL strings.

PREPARE parses and plans a statement without running it: a typo in a column, a parameter whose type PostgreSQL
cannot infer (write `:x::integer`), or a table that no migration makes fails here, named by file and statement.
"""

from __future__ import annotations

import ast
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from app.db.sql import Statement
from tests.support import ROOT, sql_statements

STATEMENTS = sql_statements()


@pytest.fixture(scope="module")
def schema(server_url: str, template_database: str) -> Iterator[psycopg.Connection]:
    """One connection to a private copy of the migrated schema for the whole module (never to the template
    itself: a session on it would block every other test's CREATE DATABASE ... TEMPLATE)."""
    name = f"test_sql_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        # prepare_threshold=None: psycopg must not prepare statements of its own on this connection.
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            yield conn
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_there_are_statements_to_check() -> None:
    files = {name for name, _ in STATEMENTS}
    assert {"users.sql", "auth.sql", "web.sql", "mail.sql", "realtime.sql"} <= files


@pytest.mark.parametrize(
    ("file", "statement"), STATEMENTS, ids=[f"{file}:{statement.name}" for file, statement in STATEMENTS]
)
def test_statement_prepares_against_the_schema(schema: psycopg.Connection, file: str, statement: Statement) -> None:
    try:
        if _PREPARABLE.match(_without_comments(statement.text)):
            schema.execute(f"PREPARE checked_statement AS {statement.positional()}")
            schema.execute("DEALLOCATE checked_statement")
        else:
            # A utility statement (LISTEN, ...) cannot be prepared: run it in a transaction that rolls back.
            assert not statement.params, f"sql/{file}, {statement.name}: a utility statement cannot take parameters"
            _run_and_roll_back(schema, statement.text)
    except psycopg.Error as exc:
        pytest.fail(f"sql/{file}, statement {statement.name!r}: {str(exc).strip()}", pytrace=False)


class _RolledBack(Exception):
    pass


def _run_and_roll_back(conn: psycopg.Connection, text: str) -> None:
    try:
        with conn.transaction():
            conn.execute(text)
            raise _RolledBack
    except _RolledBack:
        pass


_PREPARABLE = re.compile(r"^\s*(?:WITH|SELECT|INSERT|UPDATE|DELETE|MERGE|VALUES|TABLE)\b", re.IGNORECASE)


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def test_every_parameter_is_named_and_used_consistently() -> None:
    """A `:name` parameter becomes one psycopg placeholder per name; the positional form numbers them alike."""
    for file, statement in STATEMENTS:
        assert statement.query.count("%(") >= len(statement.params), f"sql/{file}: {statement.name}"
        for index in range(1, len(statement.params) + 1):
            assert f"${index}" in statement.positional(), f"sql/{file}: {statement.name} lost parameter ${index}"


# No SQL in Python ---------------------------------------------------------------------------------------------

# SQL keywords in capitals, as our .sql files write them; prose in a message rarely writes "SELECT x FROM".
_SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|ALTER|DROP)\s+(?:TABLE|INDEX|DATABASE)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_strings_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [
        f"{where}:{node.lineno}: {node.value[:60]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        if _SQL.search(node.value)
    ]


def test_the_scan_recognises_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""SELECT x FROM y in a docstring is prose."""\nQUERY = "SELECT id FROM users WHERE id = %s"\n')
    assert len(sql_strings_in(sample)) == 1


def test_no_sql_strings_in_python_under_app() -> None:
    offenders = [hit for path in sorted((ROOT / "app").rglob("*.py")) for hit in sql_strings_in(path)]
    assert not offenders, "SQL belongs in sql/<area>.sql:\n" + "\n".join(offenders)
