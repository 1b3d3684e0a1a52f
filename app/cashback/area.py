"""Reseller cashback (docs/rules/cashback.md): resellers, purchases with the monthly cashback tier, the external API."""

from __future__ import annotations

import asyncio

from litestar import Litestar

from app.areas import Area
from app.cashback.controller import CashbackController, PurchasesController, ResellersController
from app.cashback.demo import seed_demo
from app.cashback.upstream import CashbackApi


async def open_cashback_api(app: Litestar) -> None:
    """One HTTP client for the external cashback API per app (its connection pool, breaker and cache)."""
    app.state.cashback_api = CashbackApi(app.state.settings)


async def close_cashback_api_at_shutdown(app: Litestar) -> None:
    """Waits for the life of the process; shutdown cancels it, which closes the client."""
    try:
        await asyncio.Event().wait()
    finally:
        await app.state.cashback_api.aclose()


area = Area(
    name="cashback",
    route_handlers=[ResellersController, PurchasesController, CashbackController],
    on_startup=[open_cashback_api],
    background=[close_cashback_api_at_shutdown],
    seed_demo=seed_demo,
)
