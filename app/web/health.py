"""GET /health (the process is alive) and GET /ready (the database answers and the migrations are current)."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import Redirect

from app.db.migrations import known_migration_ids
from app.db.pool import OWN_CONNECTIONS
from app.web.errors import Refusal, refuses, service_unavailable
from app.web.repository import WebRepository


@cache
def _expected_migrations() -> tuple[str, ...]:
    """The migrations this code knows (read from migrations/ once: they do not change while it runs)."""
    return tuple(known_migration_ids())


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    migrations: str


@get("/health", tags=["operations"], summary="The process is alive", opt={"skip_db": True})
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    tags=["operations"],
    summary="The database answers and its migrations are current",
    opt={OWN_CONNECTIONS: True},
)
@refuses(Refusal(503, "the database is unreachable, or its migrations are not current"))
async def ready(request: Request[Any, Any, Any]) -> Readiness:
    pool = request.app.state.pool
    try:
        async with asyncio.timeout(2), pool.connection(timeout=2) as conn:
            applied = {row["migration_id"] for row in await WebRepository(conn).fetch_rows("applied_migrations")}
    except Exception:
        raise service_unavailable("The database is not reachable", retry_after=2) from None
    missing = [m for m in _expected_migrations() if m not in applied]
    if missing:
        raise service_unavailable(f"Migrations not applied: {', '.join(missing)}", retry_after=5)
    return Readiness(status="ready", database="ok", migrations="current")


@get("/docs", tags=["operations"], summary="The interactive API documentation", include_in_schema=False)
async def docs() -> Redirect:
    return Redirect(path="/schema/swagger")
