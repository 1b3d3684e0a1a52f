"""Answers of GET /api/v1/clinics/{id}/stats (docs/rules/clinic.md, "Statistics")."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec


class DayCount(msgspec.Struct):
    day: date
    tickets: int


class ServiceStats(msgspec.Struct):
    service_id: int
    service: str
    steps: int
    served: int
    avg_wait_seconds: float | None
    avg_service_seconds: float | None


class AttendantStats(msgspec.Struct):
    attendant_id: UUID
    name: str | None
    steps: int
    served: int
    avg_service_seconds: float | None


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
