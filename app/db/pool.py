"""The connection pool, opened and closed with the app, and the per-request connection dependency."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar
from litestar.datastructures import State
from psycopg import AsyncConnection
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from app.config import Settings

log = logging.getLogger(__name__)

# json/jsonb parameters and results go through msgspec: UUIDs, datetimes and Decimals (as numbers) just work.
_json_encoder = msgspec.json.Encoder(decimal_format="number")
set_json_dumps(_json_encoder.encode)
set_json_loads(msgspec.json.decode)


def make_pool(settings: Settings, url: str) -> AsyncConnectionPool[AsyncConnection[Any]]:
    return AsyncConnectionPool(
        url,
        open=False,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=settings.db_pool_timeout,
        # A connection that died with a database restart is replaced instead of handed out.
        check=AsyncConnectionPool.check_connection,
        kwargs={"application_name": "marketplace"},
        name="app",
    )


@asynccontextmanager
async def pool_lifespan(app: Litestar) -> AsyncIterator[None]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = app.state.pool
    await pool.open(wait=True, timeout=settings_timeout(app))
    try:
        yield
    finally:
        await pool.close()


def settings_timeout(app: Litestar) -> float:
    return max(5.0, app.state.settings.db_pool_timeout)


async def provide_db(state: State) -> AsyncIterator[AsyncConnection[Any]]:
    """One pooled connection and one transaction per request: committed when the handler returns, rolled back
    when it raises (Litestar throws the handler's exception into this generator)."""
    pool: AsyncConnectionPool[AsyncConnection[Any]] = state.pool
    async with pool.connection() as conn:
        yield conn
