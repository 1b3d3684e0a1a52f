"""The /stats statements of sql/clinic.sql (docs/rules/clinic.md, "Statistics"): what the API and the manager's
dashboard show, read with one method per statement."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar.di import NamedDependency
from psycopg import AsyncConnection

from app.clinic.stats_schemas import AttendantStats, DayCount, LiveStats, ServiceStats, TimeStats
from app.db.sql import Repository


class StatsRepository(Repository):
    area = "clinic"

    async def stats_per_day(self, clinic_id: int, date_from: date, date_to: date) -> list[DayCount]:
        return await self.fetch_all(
            "stats_per_day", DayCount, clinic_id=clinic_id, date_from=date_from, date_to=date_to
        )

    async def stats_per_service(self, clinic_id: int, date_from: date, date_to: date) -> list[ServiceStats]:
        return await self.fetch_all(
            "stats_per_service", ServiceStats, clinic_id=clinic_id, date_from=date_from, date_to=date_to
        )

    async def stats_per_attendant(self, clinic_id: int, date_from: date, date_to: date) -> list[AttendantStats]:
        return await self.fetch_all(
            "stats_per_attendant", AttendantStats, clinic_id=clinic_id, date_from=date_from, date_to=date_to
        )

    async def stats_now(self, clinic_id: int) -> LiveStats:
        row = await self.fetch_one("stats_now", LiveStats, clinic_id=clinic_id)
        assert row is not None
        return row

    async def stats_times(self, clinic_id: int, date_from: date, date_to: date) -> TimeStats:
        row = await self.fetch_one("stats_times", TimeStats, clinic_id=clinic_id, date_from=date_from, date_to=date_to)
        assert row is not None
        return row


def provide_clinic_stats(db: NamedDependency[AsyncConnection[Any]]) -> StatsRepository:
    return StatsRepository(db)
