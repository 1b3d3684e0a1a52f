"""Rate limits counted in PostgreSQL, so that every server process shares them (429 with Retry-After).

Hits are counted on their own short connection and committed at once: a refused login must still count even
though its request's transaction rolls back.

Clients are counted by bucket (app/web/client.py: an IPv4 address or an IPv6 /64). Password checks follow
docs/rules/users.md, "Rate limits": only failures count, per client and per (account, client) pair, and a browser
with a device cookie for the account is a client of its own (app/web/device.py). See docs/security.md.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.config import Settings
from app.db.pool import autocommit_connection
from app.web.client import client_key
from app.web.device import device_id
from app.web.errors import AppError, Refusal, refuses
from app.web.repository import RateLimitHit, WebRepository


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window_seconds: int


# Per client bucket unless said otherwise.
LOGIN_PER_ADDRESS = Rule("login:address", limit=30, window_seconds=60)  # failed password checks, any account
LOGIN_PER_ACCOUNT = Rule("login:account", limit=10, window_seconds=300)  # failed checks per (account, client)
# Failures on one account from every client without its device cookie. Past this, the account is under a
# spread-out attack: a client that has already failed for it in the current LOGIN_PER_ACCOUNT window is refused
# (one guess per window and address), while clients that have not been failing still get in.
LOGIN_ACCOUNT_WIDE = Rule("login:account-wide", limit=100, window_seconds=3600)
ANONYMOUS_CREATE = Rule("create:address", limit=60, window_seconds=60)
PASSWORD_RESET = Rule("reset:address", limit=10, window_seconds=3600)
CODE_ATTEMPTS = Rule("code:address", limit=20, window_seconds=600)


def _too_many(rule: Rule, hit: RateLimitHit) -> AppError:
    retry_after = max(1, math.ceil(rule.window_seconds - hit.elapsed))
    return AppError(429, "Too many requests, try again later", headers={"Retry-After": str(retry_after)})


class RateLimiter:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    async def _count(self, buckets: dict[str, Rule]) -> dict[str, RateLimitHit]:
        names = sorted(buckets)
        async with autocommit_connection(self.pool) as conn:
            return await WebRepository(conn).hit_rate_limits(names, [buckets[n].window_seconds for n in names])

    async def hit(self, rule: Rule, subject: str) -> None:
        if not self.settings.rate_limits:
            return
        bucket = f"{rule.name}:{subject}"
        hit = (await self._count({bucket: rule}))[bucket]
        if hit.hits > rule.limit:
            raise _too_many(rule, hit)

    async def hit_address(self, rule: Rule, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        await self.hit(rule, client_key(connection, self.settings))

    @asynccontextmanager
    async def password_check(self, connection: ASGIConnection[Any, Any, Any, Any], account: str) -> AsyncIterator[None]:
        """Wraps one password (or current-password) check of `account`: the resolved user id, or the normalised
        login when no account has it, so that unknown accounts answer alike.

        The attempt is counted *before* the check and taken back when the block exits without raising: a burst
        of concurrent guesses is held to the budget (counting after the check would let them all through), and
        only failures stay counted. A 429 goes only to a client that has been failing: for this account (the
        pair), or for any (its own bucket; a device cookie, valid for this account alone, is exempt)."""
        if not self.settings.rate_limits:
            yield
            return
        device = device_id(connection, self.settings, account)
        if device is not None:
            pair = f"{LOGIN_PER_ACCOUNT.name}:{account}:device:{device}"
            buckets = {pair: LOGIN_PER_ACCOUNT}
        else:
            client = client_key(connection, self.settings)
            pair = f"{LOGIN_PER_ACCOUNT.name}:{account}:client:{client}"
            buckets = {
                pair: LOGIN_PER_ACCOUNT,
                f"{LOGIN_PER_ADDRESS.name}:{client}": LOGIN_PER_ADDRESS,
                f"{LOGIN_ACCOUNT_WIDE.name}:{account}": LOGIN_ACCOUNT_WIDE,
            }
        hits = await self._count(buckets)
        for bucket, rule in buckets.items():
            if rule is not LOGIN_ACCOUNT_WIDE and hits[bucket].hits > rule.limit:
                raise _too_many(rule, hits[bucket])
        wide = hits.get(f"{LOGIN_ACCOUNT_WIDE.name}:{account}")
        if wide is not None and wide.hits > LOGIN_ACCOUNT_WIDE.limit and hits[pair].hits > 1:
            raise _too_many(LOGIN_PER_ACCOUNT, hits[pair])
        yield
        async with autocommit_connection(self.pool) as conn:
            await WebRepository(conn).refund_rate_limits(list(hits.values()))


@refuses(Refusal(429, "too many attempts from this client (or on this account); Retry-After says when to retry"))
def provide_rate_limiter(state: State) -> RateLimiter:
    return state.rate_limiter
