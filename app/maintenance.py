"""Housekeeping every few minutes in each process: expired sessions, old counters, keys, events and mail.

Every statement is an idempotent DELETE, so several processes running it at once is harmless.
"""

from __future__ import annotations

import asyncio
import logging

from litestar import Litestar

from app.auth.service import end_sessions
from app.mail.outbox import MailRepository
from app.realtime.repository import RealtimeRepository
from app.web.repository import WebRepository

log = logging.getLogger("app.maintenance")
INTERVAL_SECONDS = 300


async def prune_once(app: Litestar) -> None:
    settings = app.state.settings
    async with app.state.pool.connection() as conn:
        await end_sessions(conn, app.state.account_hooks)  # expired ones; their users' desks are freed
        await WebRepository(conn).delete_stale_rows()
        await RealtimeRepository(conn).prune_events(settings.event_retention)
        await MailRepository(conn).delete_old_sent_mail()


async def maintenance_loop(app: Litestar) -> None:
    while True:
        await asyncio.sleep(INTERVAL_SECONDS)
        try:
            await prune_once(app)
        except Exception:
            log.exception("maintenance pass failed")
