"""The statistics' answer (docs/rules/clinic.md, "Statistics"): what GET /stats returns and the dashboard draws.
Durations are in seconds; every figure comes from one statement of sql/clinic.sql (stats_*)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import msgspec


class DayCount(msgspec.Struct):
    day: date
    tickets: int


class ServiceStats(msgspec.Struct):
    """Times in seconds over the service's steps; `tickets` and the total times over the tickets that began
    here (their first service)."""

    service_id: int
    service: str
    tickets: int
    steps: int
    served: int
    avg_wait_seconds: float | None
    p90_wait_seconds: float | None
    avg_walk_seconds: float | None
    p90_walk_seconds: float | None
    avg_service_seconds: float | None
    p90_service_seconds: float | None
    completed_tickets: int
    avg_total_seconds: float | None
    p90_total_seconds: float | None


class AttendantStats(msgspec.Struct):
    """`calls`: the call and recall announcements this person made (`recalls` of them recalls)."""

    attendant_id: UUID
    name: str | None
    steps: int
    served: int
    avg_service_seconds: float | None
    calls: int
    recalls: int


class LiveStats(msgspec.Struct):
    """Now, whatever the range: steps waiting and the longest wait among them (seconds, null when none)."""

    waiting: int
    longest_wait_seconds: float | None
    at: datetime


class TimeStats(msgspec.Struct):
    avg_wait_seconds: float | None
    p90_wait_seconds: float | None
    avg_walk_seconds: float | None
    p90_walk_seconds: float | None
    avg_service_seconds: float | None
    p90_service_seconds: float | None
    avg_total_seconds: float | None
    p90_total_seconds: float | None
    completed_tickets: int


class StatsOut(msgspec.Struct):
    date_from: date = msgspec.field(name="from")
    date_to: date = msgspec.field(name="to")
    timezone: str = ""
    per_day: list[DayCount] = []
    per_service: list[ServiceStats] = []
    per_attendant: list[AttendantStats] = []
    times: TimeStats | None = None
    live: LiveStats | None = None
