"""The kiosk's service list, cached in every process and dropped in every process at once (docs/rules/realtime.md, 6).

A change to a clinic's services publishes an event on `cache:clinic-services` in its transaction; the hub of
each process hands it to `ServiceCache.invalidate` (registered with `hub.on_prefix`), and after the hub lost
its LISTEN connection it calls `invalidate(None, None)`, which drops everything. A load that raced with an
invalidation is not stored (the generation counter moved on meanwhile).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from app.clinic.schemas import ServiceOut
from app.realtime.repository import publish

TOPIC = "cache:clinic-services"


class ServiceCache:
    def __init__(self) -> None:
        self._entries: dict[int, list[ServiceOut]] = {}
        self._generation = 0

    def invalidate(self, topic: str | None, payload: dict[str, Any] | None) -> None:
        self._generation += 1
        clinic_id = (payload or {}).get("clinic_id")
        if topic is None or not isinstance(clinic_id, int):
            self._entries.clear()
        else:
            self._entries.pop(clinic_id, None)

    async def get(self, clinic_id: int, load: Callable[[], Awaitable[list[ServiceOut]]]) -> list[ServiceOut]:
        entry = self._entries.get(clinic_id)
        if entry is not None:
            return entry
        generation = self._generation
        value = await load()
        if generation == self._generation:
            self._entries[clinic_id] = value
        return value


async def services_changed(conn: AsyncConnection[Any], clinic_id: int) -> None:
    """In the transaction that changed a clinic's services: every process drops its cached kiosk list."""
    await publish(conn, TOPIC, {"clinic_id": clinic_id})
