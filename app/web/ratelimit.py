"""Rate limits counted in PostgreSQL, so that every server process shares them (429 with Retry-After).

Hits are counted on their own short connection and committed at once: a refused login must still count even
though its request's transaction rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.db.pool import autocommit_connection
from app.web.client import client_address
from app.web.errors import AppError
from app.web.repository import WebRepository


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window_seconds: int


# Per client address unless said otherwise.
LOGIN_PER_ADDRESS = Rule("login:address", limit=30, window_seconds=60)
LOGIN_PER_ACCOUNT = Rule("login:account", limit=10, window_seconds=300)
ANONYMOUS_CREATE = Rule("create:address", limit=60, window_seconds=60)
PASSWORD_RESET = Rule("reset:address", limit=10, window_seconds=3600)
CODE_ATTEMPTS = Rule("code:address", limit=20, window_seconds=600)


class RateLimiter:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    async def hit(self, rule: Rule, subject: str) -> None:
        if not self.settings.rate_limits:
            return
        async with autocommit_connection(self.pool) as conn:
            hit = await WebRepository(conn).hit_rate_limit(f"{rule.name}:{subject}", rule.window_seconds)
        if hit.hits > rule.limit:
            raise AppError(
                429, "Too many requests, try again later", headers={"Retry-After": str(max(1, hit.retry_after))}
            )

    async def hit_address(self, rule: Rule, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        await self.hit(rule, client_address(connection, self.settings))


def provide_rate_limiter(state: State) -> RateLimiter:
    return state.rate_limiter
