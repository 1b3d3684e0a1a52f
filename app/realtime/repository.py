"""Statements of sql/realtime.sql."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.db.sql import Repository


class Event(msgspec.Struct, frozen=True):
    topic: str
    seq: int
    payload: dict[str, Any]


class ReplayWindow(msgspec.Struct):
    oldest_seq: int
    last_seq: int


class RealtimeRepository(Repository):
    area = "realtime"

    async def publish(self, topic: str, payload: dict[str, Any]) -> int:
        return await self.fetch_value("publish_event", topic=topic, payload=Jsonb(payload))

    async def last_seq(self, topic: str) -> int:
        return await self.fetch_value("last_seq", topic=topic)

    async def events_after(self, topic: str, after_seq: int, limit: int = 10_000) -> list[Event]:
        return await self.fetch_all("events_after", Event, topic=topic, after_seq=after_seq, limit=limit)

    async def last_event(self, topic: str) -> Event | None:
        return await self.fetch_one("last_event", Event, topic=topic)

    async def replay_window(self, topic: str) -> ReplayWindow:
        window = await self.fetch_one("replay_window", ReplayWindow, topic=topic)
        assert window is not None
        return window

    async def prune_events(
        self, retention_seconds: int, after_created_at: datetime | None, batch_size: int
    ) -> tuple[int, datetime | None]:
        """One batch: how many events past the retention it examined, and the last one's created_at."""
        row = (
            await self.fetch_rows(
                "prune_events",
                retention_seconds=retention_seconds,
                after_created_at=after_created_at,
                batch_size=batch_size,
            )
        )[0]
        return row["examined"], row["last_created_at"]


async def publish(conn: AsyncConnection[Any], topic: str, payload: dict[str, Any]) -> int:
    """Write an event in the caller's transaction; it is announced when (and only if) that commits.
    Returns the event's seq."""
    return await RealtimeRepository(conn).publish(topic, payload)
