"""Housekeeping every few minutes in each process: expired sessions, old counters, keys, events and mail.

Every statement is an idempotent DELETE, so several processes running it at once is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import PoolTimeout

from app.auth.service import end_sessions
from app.mail.outbox import MailRepository
from app.realtime.repository import RealtimeRepository
from app.web.repository import WebRepository

log = logging.getLogger("app.maintenance")
INTERVAL_SECONDS = 300


async def prune_once(app: Litestar) -> None:
    """Each step in a transaction of its own: one that fails is logged and does not keep the others from
    running (docs/security.md, "One poisoned row"). An outage still fails the pass, for the loop to log."""
    settings = app.state.settings
    steps: dict[str, Callable[[AsyncConnection[Any]], Awaitable[object]]] = {
        # Expired sessions; their users' desks are freed.
        "expired sessions": lambda conn: end_sessions(conn, app.state.account_hooks),
        "rate-limit windows and idempotency keys": lambda conn: WebRepository(conn).delete_stale_rows(),
        "old events": lambda conn: RealtimeRepository(conn).prune_events(settings.event_retention),
        "sent mail": lambda conn: MailRepository(conn).delete_old_sent_mail(),
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
