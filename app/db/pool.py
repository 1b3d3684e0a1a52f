"""The connection pool, opened and closed with the app, and the per-request connection dependency."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from weakref import WeakKeyDictionary

import msgspec
from litestar.types import Scope
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
    if conn.autocommit:  # lent out by autocommit_connection: back to transactions for the next borrower
        await conn.set_autocommit(False)


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
        # prepare_threshold None: never prepare (psycopg's default prepares a statement on its 5th run).
        kwargs={"application_name": "marketplace"} | ({} if settings.db_prepare else {"prepare_threshold": None}),
        name="app",
    )


@asynccontextmanager
async def autocommit_connection(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection in autocommit mode: each statement is its own transaction, so a read or a
    single-statement write costs one round trip instead of three (BEGIN, statement, COMMIT). Reads lose nothing:
    under READ COMMITTED every statement takes its own snapshot, inside a transaction or not."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        yield conn


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The authentication middleware's connection (a LentConnection), kept for the rest of a read (keeps_connection)
# and handed to provide_db: an authenticated read then checks out one connection, not two.
SHARED_CONNECTION = "app.db_connection"
# A handler's opt flag: it takes pool connections itself (around a slow upstream call, say) and must not be given
# one held for the whole request, which would also make it hold two at once.
OWN_CONNECTIONS = "own_connections"


class LentConnection:
    """A pooled connection in autocommit mode that whoever is done with it first gives back: provide_db when the
    handler's dependencies are cleaned up, else the middleware when the response starts (or the request fails).
    Never kept while a response is being sent: a client that reads slowly must not hold the pool."""

    __slots__ = ("conn", "pool", "released")

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], conn: AsyncConnection[Any]) -> None:
        self.pool = pool
        self.conn = conn
        self.released = False

    @classmethod
    async def borrow(cls, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> LentConnection:
        conn = await pool.getconn()
        try:
            await conn.set_autocommit(True)
        except BaseException:
            await pool.putconn(conn)
            raise
        return cls(pool, conn)

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await self.pool.putconn(self.conn)


def keeps_connection(scope: Scope) -> bool:
    """May the connection that authenticated this request stay with it? Reads only (autocommit, like the
    middleware's), not sockets (a connection per socket for its life), not handlers with OWN_CONNECTIONS."""
    return (
        scope["type"] == "http"
        and scope["method"] in SAFE_METHODS
        and not scope["route_handler"].opt.get(OWN_CONNECTIONS, False)
    )


async def provide_db(scope: Scope) -> AsyncIterator[AsyncConnection[Any]]:
    """The request's connection. Unsafe methods get one transaction per request: committed when the handler
    returns, rolled back when it raises (Litestar throws the handler's exception into this generator). Reads
    (GET, HEAD) run in autocommit: they change nothing, and it saves two round trips per request (the one-row
    read benchmark in docs/performance.md spent a third of its time sending COMMIT). Litestar cleans dependencies
    up before it sends the response, so the connection is back in the pool by then."""
    pool: AsyncConnectionPool[AsyncConnection[Any]] = scope["litestar_app"].state.pool
    if scope.get("method") in SAFE_METHODS:
        lent: LentConnection | None = scope.get(SHARED_CONNECTION)
        if lent is not None and not lent.released:
            try:
                yield lent.conn
            finally:
                await lent.release()
            return
        async with autocommit_connection(pool) as conn:
            yield conn
    else:
        async with pool.connection() as conn:
            yield conn
