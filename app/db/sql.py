"""Named SQL statements from `sql/<area>.sql`, bound to repository classes.

A file holds statements separated by `-- name: <statement_name>` lines; comment lines right after the name
document the statement. Parameters are written `:name` (psql's variable syntax, so a DBA can `\\set name ...`
and run the statement as it is). We turn them into psycopg's `%(name)s` placeholders once, at load time.

Why not aiosql: its selects are async generators, single-value queries break with dict rows, and it wants each
statement's parameters declared twice; we need plain awaitable calls that take the caller's connection (so a
service can run several statements in one transaction) and rows decoded into msgspec Structs. This loader is
the hundred lines that do exactly that, and `tests/test_sql_files.py` prepares every statement against the
migrated schema.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import msgspec
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from app import tracing
from app.config import PROJECT_ROOT

SQL_FOLDER = PROJECT_ROOT / "sql"
T = TypeVar("T")

_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# A :name parameter, skipping '::' casts, string literals and comments.
_TOKENS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|::|:([A-Za-z_][A-Za-z0-9_]*)|%")


@dataclass(frozen=True, slots=True)
class Statement:
    name: str
    text: str  # as written in the file
    query: str  # with psycopg placeholders
    params: tuple[str, ...]

    def positional(self) -> str:
        """The statement with $1..$n placeholders, for PREPARE."""
        order = {name: i + 1 for i, name in enumerate(self.params)}

        def swap(match: re.Match[str]) -> str:
            if match.group(1):
                return f"${order[match.group(1)]}"
            return match.group(0)

        return _TOKENS.sub(swap, self.text)


def _compile(name: str, text: str) -> Statement:
    params: list[str] = []

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "%":
            return "%%"
        if match.group(1):
            if match.group(1) not in params:
                params.append(match.group(1))
            return f"%({match.group(1)})s"
        return token.replace("%", "%%")  # a literal or a comment: psycopg still reads '%' there

    return Statement(name=name, text=text, query=_TOKENS.sub(swap, text), params=tuple(params))


def parse_sql(source: str) -> dict[str, Statement]:
    statements: dict[str, Statement] = {}
    parts = _NAME_LINE.split(source)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        text = body.strip().rstrip(";").strip()
        if name in statements:
            raise ValueError(f"statement {name!r} is defined twice")
        statements[name] = _compile(name, text)
    return statements


@cache
def load_sql(area: str) -> dict[str, Statement]:
    return parse_sql((SQL_FOLDER / f"{area}.sql").read_text(encoding="utf-8"))


def all_sql_files() -> list[Path]:
    return sorted(SQL_FOLDER.glob("*.sql"))


class Repository:
    """Base of the per-area repositories: named statements of `sql/<area>.sql` run on the caller's connection.

    Subclasses set `area` and write one small typed method per statement.
    """

    area: ClassVar[str]

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn

    def _statement(self, name: str) -> Statement:
        return load_sql(self.area)[name]

    @asynccontextmanager
    async def _atomic_pipeline(self) -> AsyncIterator[None]:
        """The statements sent inside run as ONE transaction and reach PostgreSQL together, with one Sync: one
        round trip. On an idle connection, autocommit for the duration and a pipeline: the statements form the
        implicit transaction that the pipeline's single Sync ends (committed when all succeed; the first error
        rolls all of them back and skips the rest), with no BEGIN or COMMIT. psycopg's `transaction()` inside a
        pipeline syncs after BEGIN, after the statements and after COMMIT, and the pipeline's exit once more: four
        round trips, each a wake-up of PostgreSQL's backend (docs/performance.md, "the bid's round trips").
        Inside the caller's transaction: a pipeline in it, and the caller commits."""
        conn = self.conn
        switch = not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE
        if switch:
            await conn.set_autocommit(True)
        try:
            async with conn.pipeline():
                yield
        finally:
            # Not idle (cancelled mid-way, or broken): autocommit cannot change now; the pool rolls back or
            # discards the connection when it is returned, and its reset turns autocommit off (app/db/pool.py).
            if switch and conn.info.transaction_status == TransactionStatus.IDLE:
                await conn.set_autocommit(False)

    async def _execute(self, name: str, params: dict[str, Any]) -> Any:
        statement = self._statement(name)
        cursor = self.conn.cursor(row_factory=dict_row)
        if tracing.tracer is None or not tracing.in_trace():
            return await cursor.execute(statement.query, params)
        with tracing.statement_span(self.area, name, statement.text):
            return await cursor.execute(statement.query, params)

    async def fetch_one(self, name: str, as_type: type[T], /, **params: Any) -> T | None:
        cursor = await self._execute(name, params)
        row = await cursor.fetchone()
        return None if row is None else msgspec.convert(row, as_type)

    async def fetch_all(self, name: str, as_type: type[T], /, **params: Any) -> list[T]:
        cursor = await self._execute(name, params)
        return msgspec.convert(await cursor.fetchall(), list[as_type])  # type: ignore[valid-type]

    async def fetch_value(self, name: str, /, **params: Any) -> Any:
        """The first column of the first row, or None when there is no row."""
        cursor = await self._execute(name, params)
        row = await cursor.fetchone()
        return None if row is None else next(iter(row.values()))

    async def fetch_rows(self, name: str, /, **params: Any) -> Sequence[dict[str, Any]]:
        cursor = await self._execute(name, params)
        return await cursor.fetchall()

    async def execute(self, name: str, /, **params: Any) -> int:
        """Run a statement for its effect; returns the number of rows it touched."""
        cursor = await self._execute(name, params)
        return cursor.rowcount
