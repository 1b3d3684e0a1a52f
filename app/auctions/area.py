"""Real-time auctions (docs/rules/auctions.md): routes, the socket, the closer, demo data."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from litestar import Litestar

from app.areas import Area
from app.auctions.controller import ProductsController, auction_page
from app.auctions.demo import seed_demo
from app.auctions.feed import auction_socket
from app.auctions.service import CLOSE_BATCH, close_account_auctions, close_due_auctions

log = logging.getLogger("app.auctions")


async def close_ended_auctions(app: Litestar) -> int:
    """Close every auction whose end has passed, in batches, each batch in one transaction with its kind 5
    events; returns how many it closed. Safe in any number of processes at once (FOR UPDATE SKIP LOCKED)."""
    total = 0
    failed: set[UUID] = set()  # for this pass only: the next one tries them again
    while True:
        async with app.state.pool.connection() as conn:
            batch = await close_due_auctions(conn, failed)
        total += batch
        if batch < CLOSE_BATCH:
            return total - len(failed)


async def close_at_startup(app: Litestar) -> None:
    """Auctions that ended while no process was running are closed before the server takes requests."""
    try:
        closed = await close_ended_auctions(app)
    except Exception:
        log.exception("closing ended auctions at start-up failed; the closer loop will retry")
        return
    if closed:
        log.info("closed %d auctions that ended while the server was stopped", closed)


async def closer_loop(app: Litestar) -> None:
    interval = app.state.settings.closer_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await close_ended_auctions(app)
        except Exception:
            log.exception("closing ended auctions failed; retrying in %.1f s", interval)


area = Area(
    name="auctions",
    route_handlers=[ProductsController, auction_socket, auction_page],
    on_startup=[close_at_startup],
    background=[closer_loop],
    account_close_hooks=[close_account_auctions],
    seed_demo=seed_demo,
)
