"""Housekeeping every few minutes in each process: expired sessions, old counters, keys, events and mail.

Every statement is an idempotent DELETE, so several processes running it at once is harmless. Each deletes
a batch of at most BATCH_SIZE rows in a transaction of its own and is repeated until nothing is left, so a
statement's cost and the locks and WAL of a transaction stay those of one batch however many rows are due
(docs/performance.md, "Cost that does not grow with the data").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from litestar import Litestar
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import PoolTimeout

from app.auth.service import end_expired_sessions
from app.mail.outbox import MailRepository
from app.realtime.repository import RealtimeRepository
from app.web.repository import WebRepository

log = logging.getLogger("app.maintenance")
INTERVAL_SECONDS = 300
BATCH_SIZE = 1000


async def in_batches(conn: AsyncConnection[Any], batch: Callable[[], Awaitable[int]]) -> None:
    """Run `batch` in a transaction of its own until it reports that it touched nothing."""
    while True:
        async with conn.transaction():
            touched = await batch()
        if not touched:
            return


async def prune_events(conn: AsyncConnection[Any], retention_seconds: int) -> None:
    """Events past the retention, walked in batches from the oldest (each batch resumes after the last)."""
    after: datetime | None = None

    async def batch() -> int:
        nonlocal after
        examined, after = await RealtimeRepository(conn).prune_events(retention_seconds, after, BATCH_SIZE)
        return examined

    await in_batches(conn, batch)


async def prune_once(app: Litestar) -> None:
    """Each step's batches in transactions of their own: one step that fails is logged and does not keep the others from
    running (docs/security.md, "One poisoned row"). An outage still fails the pass, for the loop to log."""
    settings = app.state.settings
    steps: dict[str, Callable[[AsyncConnection[Any]], Awaitable[object]]] = {
        # Expired sessions; their users' desks are freed.
        "expired sessions": lambda conn: in_batches(
            conn, lambda: end_expired_sessions(conn, app.state.account_hooks, BATCH_SIZE)
        ),
        "rate-limit windows": lambda conn: in_batches(
            conn, lambda: WebRepository(conn).delete_old_rate_limits(BATCH_SIZE)
        ),
        "idempotency keys": lambda conn: in_batches(
            conn, lambda: WebRepository(conn).delete_old_idempotency_keys(BATCH_SIZE)
        ),
        "old events": lambda conn: prune_events(conn, settings.event_retention),
        "sent mail": lambda conn: in_batches(conn, lambda: MailRepository(conn).delete_old_sent_mail(BATCH_SIZE)),
    }
    for what, step in steps.items():
        try:
            async with app.state.pool.connection() as conn:
                await step(conn)
        except (OperationalError, PoolTimeout):
            raise
        except Exception:
            log.exception("pruning %s failed; the other steps go on", what)


async def maintenance_loop(app: Litestar) -> None:
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await prune_once(app)
        except Exception:
            log.exception("maintenance pass failed")
