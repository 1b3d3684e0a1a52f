"""Rows only the clinic repository returns (never an API body or answer as such): what the rules read to decide,
to announce a change on a live feed or to build an answer of schemas.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.clinic.schemas import Accepts, Priority


class AccessRow(msgspec.Struct):
    """A row only when the clinic exists; staff and admin from the caller's active staff row there."""

    clinic_id: int
    timezone: str
    is_staff: bool
    is_admin: bool


class TicketService(msgspec.Struct):
    id: int
    name: str
    prefix: str
    accepts: Accepts
    max_per_day: int | None


class RoomRef(msgspec.Struct):
    id: int
    name: str


class ActivationAttempt(msgspec.Struct):
    id: int
    clinic_id: int
    user_id: UUID
    is_admin: bool
    service_ids: list[int]
    matched: bool


class IssuedRow(msgspec.Struct):
    public_token: str
    code: str
    priority: Priority
    issued_at: datetime
    service_id: int
    step_id: int


class ForwardedRow(msgspec.Struct):
    id: int
    ticket_id: int
    priority_rank: int


class RequeuedStep(msgspec.Struct):
    id: int
    clinic_id: int
    service_id: int


class Announcement(msgspec.Struct):
    code: str
    room: str
    service: str
    service_id: int
    route_text: str
    direction: str
    priority: str
    called_at: datetime


class QueueSnapshot(msgspec.Struct):
    seq: int
    waiting: list[dict[str, Any]]
    in_progress: list[dict[str, Any]]
    rooms: list[dict[str, Any]]


class FreedRoom(msgspec.Struct):
    id: int
    clinic_id: int
