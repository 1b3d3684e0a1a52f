"""Rights are live (docs/rules/realtime.md, guarantee 7): the sockets of this process that act for a session are
re-checked against the database, together, whenever their rights may have changed.

- Told at once: database triggers (migration 0012) announce on the hub's channel, topic `rights`, the users
  whose sessions ended (logout, revocation, password change or reset, deactivation, deletion, expiry clean-up)
  or whose rights changed (role, claims, clinic staff); the hub hands the notification to `changed`. No code path
  has to remember to announce anything.
- Not depending on one notification: after the hub re-established a lost LISTEN connection it calls `changed`
  with nothing (every socket is re-checked), and every socket is re-checked every RIGHTS_RECHECK_INTERVAL seconds
  anyway (expiry by time is announced by nobody).
- One batched query per re-check, not one per socket: the live sessions among the sockets' session hashes with
  their principal now (sql/auth.sql session_principal), then one query per kind of extra right (staff of a
  clinic) for the sockets that need one.
- A feed in use (a staff feed) refreshes its session's idle timer at each re-check, as requests do.

A socket registers a `Holder`; the re-check updates `holder.principal` (None once the session ended) and calls
`holder.on_change` with the verdict, which the feed helper (app/realtime/feed.py) turns into a close or a
downgrade to anonymous watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.auth.principal import Principal
from app.auth.repository import AuthRepository

log = logging.getLogger("app.realtime")

RIGHTS_TOPIC = "rights"
# A socket whose handshake read its session just before a notification about its user is re-checked when it
# registers: notifications of the last RECENT_SECONDS are remembered (a handshake takes far less).
RECENT_SECONDS = 60.0
RETRY_SECONDS = 1.0


class Standing(enum.Enum):
    LIVE = "live"
    SESSION_ENDED = "session ended"  # logged out, revoked, expired, account deactivated or deleted
    RIGHT_LOST = "right lost"  # the session lives, the feed's right (staff of a clinic, say) is gone


# Of these holders (their principal just refreshed, their session live), the ones that still hold the right.
RightCheck = Callable[[AsyncConnection[Any], list["Holder"]], Awaitable[set["Holder"]]]


class Holder:
    """One socket's standing: whom it acts for now, and what it needs beyond a live session."""

    __slots__ = ("in_use", "on_change", "principal", "right", "session_hash", "subject", "user_id")

    def __init__(
        self,
        principal: Principal,
        on_change: Callable[[Standing], None],
        *,
        right: RightCheck | None = None,
        subject: Any = None,
        in_use: bool = False,
    ) -> None:
        self.principal: Principal | None = principal
        self.session_hash = principal.session_hash
        self.user_id = principal.id
        self.on_change = on_change
        self.right = right
        self.subject = subject  # what the right is about (a clinic's id)
        self.in_use = in_use  # its use refreshes the session's idle timer


class RightsWatch:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], idle_seconds: int, interval: float) -> None:
        self.pool = pool
        self.idle_seconds = idle_seconds
        self.interval = interval
        self._by_user: dict[UUID, set[Holder]] = {}
        self._pending: set[Holder] = set()
        self._wake = asyncio.Event()
        self._recent: dict[UUID, float] = {}
        self._recent_all = float("-inf")
        self.stats = {"rechecks": 0, "sessions_ended": 0, "rights_lost": 0}

    def holders(self) -> list[Holder]:
        return [h for holders in self._by_user.values() for h in holders]

    def add(self, holder: Holder) -> None:
        self._by_user.setdefault(holder.user_id, set()).add(holder)
        since = time.monotonic() - RECENT_SECONDS
        if self._recent_all > since or self._recent.get(holder.user_id, since) > since:
            self._mark([holder])

    def remove(self, holder: Holder) -> None:
        holders = self._by_user.get(holder.user_id)
        if holders is not None:
            holders.discard(holder)
            if not holders:
                del self._by_user[holder.user_id]
        self._pending.discard(holder)

    def _registered(self, holder: Holder) -> bool:
        return holder in self._by_user.get(holder.user_id, ())

    def changed(self, topic: str | None, payload: dict[str, Any] | None) -> None:
        """Hub callback: a `rights` notification, or (None, None) after the LISTEN connection came back."""
        now = time.monotonic()
        if payload is None or payload.get("all"):
            self._recent_all = now
            self._mark(self.holders())
            return
        for raw in payload.get("users") or ():
            try:
                user_id = UUID(str(raw))
            except ValueError:
                continue
            self._recent[user_id] = now
            self._mark(self._by_user.get(user_id, ()))

    def _mark(self, holders: Iterable[Holder]) -> None:
        self._pending.update(holders)
        if self._pending:
            self._wake.set()

    async def run(self) -> None:
        """Background loop: re-checks the marked sockets as soon as they are marked, and all of them every
        `interval` seconds."""
        next_tick = time.monotonic() + self.interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.interval
                self._mark(self.holders())
                self._forget_old_notifications()
            batch, self._pending = self._pending, set()
            if not batch:
                continue
            try:
                await self.recheck(batch)
            except Exception as exc:  # the database away: keep the rights as they were, try again shortly
                log.warning("re-checking the rights of %d socket(s) failed (%s); retrying", len(batch), exc)
                self._mark(h for h in batch if self._registered(h))
                await asyncio.sleep(RETRY_SECONDS)

    def _forget_old_notifications(self) -> None:
        since = time.monotonic() - RECENT_SECONDS
        self._recent = {user_id: at for user_id, at in self._recent.items() if at > since}

    async def recheck(self, holders: set[Holder]) -> None:
        self.stats["rechecks"] += 1
        hashes = list({h.session_hash for h in holders})
        touch = list({h.session_hash for h in holders if h.in_use})
        async with self.pool.connection() as conn:
            principals = {
                p.session_hash: p for p in await AuthRepository(conn).live_principals(hashes, touch, self.idle_seconds)
            }
            alive = [h for h in holders if h.session_hash in principals]
            for holder in alive:
                holder.principal = principals[holder.session_hash]
            keep: set[Holder] = {h for h in alive if h.right is None}
            checks: dict[RightCheck, list[Holder]] = {}
            for holder in alive:
                if holder.right is not None:
                    checks.setdefault(holder.right, []).append(holder)
            for check, checked in checks.items():
                keep |= await check(conn, checked)
        for holder in holders:
            if not self._registered(holder):
                continue  # the socket went away meanwhile
            if holder in keep:
                holder.on_change(Standing.LIVE)
                continue
            standing = Standing.RIGHT_LOST if holder.session_hash in principals else Standing.SESSION_ENDED
            self.stats["rights_lost" if standing is Standing.RIGHT_LOST else "sessions_ended"] += 1
            holder.principal = None
            self.remove(holder)  # nothing left to watch: the socket is closed or watches anonymously
            holder.on_change(standing)
