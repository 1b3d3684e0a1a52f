"""The connection pool, opened and closed with the app, and the per-request connection dependency."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from weakref import WeakKeyDictionary

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


# When each connection last came back to the pool. A connection that was working a moment ago is handed out
# without the liveness round trip; one that sat idle is checked first, so after a database restart the pool
# replaces dead connections instead of handing them out (the benchmark showed the check on every checkout cost
# one of a bid's seven round trips).
_returned_at: WeakKeyDictionary[AsyncConnection[Any], float] = WeakKeyDictionary()
RECENTLY_USED_SECONDS = 2.0


async def _note_return(conn: AsyncConnection[Any]) -> None:
    _returned_at[conn] = time.monotonic()


async def _check_unless_recent(conn: AsyncConnection[Any]) -> None:
    if time.monotonic() - _returned_at.get(conn, float("-inf")) > RECENTLY_USED_SECONDS:
        await AsyncConnectionPool.check_connection(conn)


def make_pool(settings: Settings, url: str) -> AsyncConnectionPool[AsyncConnection[Any]]:
    return AsyncConnectionPool(
        url,
        open=False,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=settings.db_pool_timeout,
        check=_check_unless_recent,
        reset=_note_return,
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
