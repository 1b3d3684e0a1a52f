"""What each area adds to the app: routes, start-up work, background loops, account hooks, demo data.

main.create_app() assembles the areas listed in AREAS; an area's `area.py` declares one `Area`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Litestar
from litestar.types import ControllerRouterHandler
from psycopg import AsyncConnection

AppTask = Callable[[Litestar], Awaitable[None]]
# (the transaction, the user): the user's last live session ended.
SessionEndHook = Callable[[AsyncConnection[Any], UUID], Awaitable[None]]
# (the transaction, the user, deleting): the account is deactivated, or deleted when `deleting`.
AccountCloseHook = Callable[[AsyncConnection[Any], UUID, bool], Awaitable[None]]


@dataclass(frozen=True)
class Area:
    name: str
    route_handlers: Sequence[ControllerRouterHandler] = ()
    # Run once at start-up, before the server accepts requests (after the pool and the hub are up).
    on_startup: Sequence[AppTask] = ()
    # Loops that run for the life of the process (cancelled at shutdown).
    background: Sequence[AppTask] = ()
    # Run in the transaction that ended a user's last live session, whatever ended it (app.auth.service.
    # end_sessions is the only way sessions end): e.g. free the user's clinic rooms.
    session_end_hooks: Sequence[SessionEndHook] = ()
    # Run in the transaction that deactivates or deletes an account (app.auth.service.close_account), before
    # the session-end hooks; may refuse a deletion by raising an AppError (auctions: 409 while leading).
    account_close_hooks: Sequence[AccountCloseHook] = ()
    # `app seed --demo`: adds this area's demo data, idempotently.
    seed_demo: Callable[[AsyncConnection[Any], Any], Awaitable[None]] | None = None


@dataclass(frozen=True)
class AccountHooks:
    """Every area's account hooks, and what tells a live session from a dead one (app.state.account_hooks)."""

    session_idle_ttl: int
    session_end: Sequence[SessionEndHook]
    account_close: Sequence[AccountCloseHook]

    @classmethod
    def of(cls, areas: Sequence[Area], session_idle_ttl: int) -> AccountHooks:
        return cls(
            session_idle_ttl=session_idle_ttl,
            session_end=[hook for area in areas for hook in area.session_end_hooks],
            account_close=[hook for area in areas for hook in area.account_close_hooks],
        )
