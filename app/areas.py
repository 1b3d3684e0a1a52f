"""What each area adds to the app: routes, start-up work, background loops, logout hooks, demo data.

main.create_app() assembles the areas listed in AREAS; an area's `area.py` declares one `Area`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.types import ControllerRouterHandler
from psycopg import AsyncConnection

AppTask = Callable[[Litestar], Awaitable[None]]
LogoutHook = Callable[[AsyncConnection[Any], Any], Awaitable[None]]


@dataclass(frozen=True)
class Area:
    name: str
    route_handlers: Sequence[ControllerRouterHandler] = ()
    # Run once at start-up, before the server accepts requests (after the pool and the hub are up).
    on_startup: Sequence[AppTask] = ()
    # Loops that run for the life of the process (cancelled at shutdown).
    background: Sequence[AppTask] = ()
    # Called on logout with the request's connection and the principal (e.g. free the caller's clinic room).
    logout_hooks: Sequence[LogoutHook] = ()
    # `app seed --demo`: adds this area's demo data, idempotently.
    seed_demo: Callable[[AsyncConnection[Any], Any], Awaitable[None]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
