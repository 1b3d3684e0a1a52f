"""Bodies and answers of the clinic API (docs/rules/clinic.md); rows only repositories return are in rows.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.web.types import Email, Name, Password, Strict
from app.web.validation import Check

Priority = Literal["normal", "preferential", "emergency"]
Accepts = Literal["all", "normal", "priority"]
Direction = Literal["left", "right", "straight", "up", "down"]
Status = Literal["waiting", "called", "in_service", "no_show", "done", "forwarded", "cancelled"]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("Not a known time zone (an IANA name such as America/Sao_Paulo)") from None
    return value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("Lower-case letters, digits and '-', starting with a letter or digit")
    return value


def _prefix(value: str) -> str:
    value = value.upper()
    if not re.fullmatch(r"[A-Z]{1,3}", value):
        raise ValueError("1 to 3 letters")
    return value


Id = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63), Check(_slug)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64), Check(_timezone)]
Prefix = Annotated[str, msgspec.Meta(min_length=1, max_length=3), Check(_prefix)]
RouteText = Annotated[str, msgspec.Meta(max_length=200)]
MaxPerDay = Annotated[int, msgspec.Meta(ge=1, le=999)]
Specialty = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Notes = Annotated[str, msgspec.Meta(max_length=2000)]
ServiceIds = Annotated[list[Id], msgspec.Meta(max_length=100)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


# Clinics ------------------------------------------------------------------------------------------------------


class CreateClinic(Strict):
    name: Name
    slug: Slug
    timezone: TimeZone = "America/Sao_Paulo"
    admin_email: Email | None = None


class ClinicOut(msgspec.Struct):
    id: int
    name: str
    slug: str
    timezone: str
    active: bool
    created_at: datetime


class CreatedClinic(ClinicOut):
    admin_invitation: InvitationResult | None = None


# Services -----------------------------------------------------------------------------------------------------


class ServiceOut(msgspec.Struct):
    id: int
    name: str
    prefix: str
    active: bool
    accepts: Accepts
    max_per_day: int | None
    route_text: str
    direction: Direction


class CreateService(Strict):
    name: Name
    prefix: Prefix
    active: bool = True
    accepts: Accepts = "all"
    max_per_day: MaxPerDay | None = None
    route_text: RouteText = ""
    direction: Direction = "straight"


class UpdateService(Strict):
    name: Name | None = None
    prefix: Prefix | None = None
    active: bool | None = None
    accepts: Accepts | None = None
    # Absent: unchanged; null: no daily cap.
    max_per_day: MaxPerDay | msgspec.UnsetType | None = msgspec.UNSET
    route_text: RouteText | None = None
    direction: Direction | None = None


# Rooms and staff ----------------------------------------------------------------------------------------------


class RoomOut(msgspec.Struct):
    id: int
    name: str
    route_text: str | None  # null: the TV shows the service's route for calls to this room
    direction: Direction | None
    occupied_by: UUID | None
    occupied_by_name: str | None
    occupied_at: datetime | None


class CreateRoom(Strict):
    name: Name
    route_text: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None  # the TV shows it
    direction: Direction | None = None  # with route_text; default "straight"


class UpdateRoom(Strict):
    name: Name | None = None
    # Absent: unchanged; null: no route of its own (the service's is shown); a text: the room's route.
    route_text: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType | None = msgspec.UNSET
    direction: Direction | None = None


class StaffOut(msgspec.Struct):
    user_id: UUID
    name: str | None
    email: str
    is_admin: bool
    specialty: str | None
    active: bool
    service_ids: list[int]


class UpdateStaff(Strict):
    is_admin: bool | None = None
    specialty: Specialty | None = None
    active: bool | None = None
    service_ids: ServiceIds | None = None


class CreateInvitation(Strict):
    email: Email
    name: Name | None = None
    is_admin: bool = False
    service_ids: ServiceIds = []


class InvitationOut(msgspec.Struct):
    id: int
    email: str
    name: str | None
    is_admin: bool
    service_ids: list[int]
    expires_at: datetime
    created_at: datetime
    sent_count: int


class InvitationResult(msgspec.Struct):
    """`invited`: an activation code was e-mailed; `added`: the account existed and was added as staff."""

    status: Literal["invited", "added"]
    email: str
    user_id: UUID
    invitation: InvitationOut | None = None


class Activate(Strict):
    email: Email
    code: Code
    password: Password
    first_name: Name
    last_name: Name
    specialty: Specialty | None = None


class Activated(msgspec.Struct):
    message: str
    user_id: UUID
    clinic_ids: list[int]


# Tickets ------------------------------------------------------------------------------------------------------


class CreateKiosk(Strict):
    name: Name


class KioskOut(msgspec.Struct):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class RegisteredKiosk(KioskOut):
    """`token` is shown once; the registering browser also gets it as the `kiosk` cookie (docs/rules/clinic.md)."""

    token: str


class CreateTicket(Strict):
    service_id: Id
    priority: Priority = "normal"
    patient_name: Name | None = None


class TicketIssued(msgspec.Struct):
    public_token: str
    follow_url: str  # the ticket's public page (PUBLIC_BASE_URL + path; the path alone when unset), for the QR
    code: str
    service: str
    service_id: int
    priority: Priority
    issued_at: datetime
    waiting_ahead: int


class TicketStatus(msgspec.Struct):
    code: str
    priority: Priority
    issued_at: datetime
    clinic_id: int
    status: Status
    service_id: int
    service: str
    room: str | None
    position: int | None
    route: list[dict[str, Any]]


# Queue and desk -----------------------------------------------------------------------------------------------


class WaitingStep(msgspec.Struct):
    step_id: int
    code: str
    priority: Priority
    service_id: int
    service: str
    patient_name: str | None
    queued_at: datetime
    target_attendant_id: UUID | None


class QueueStep(msgspec.Struct):
    """A step as the staff's queue feed shows it (the snapshot's lists, a queue.changed event's `step`)."""

    step_id: int
    code: str
    priority: Priority
    status: Status
    service_id: int
    service: str
    arrived_at: datetime
    queued_at: datetime
    target_attendant_id: UUID | None
    attendant_id: UUID | None
    room_id: int | None
    room: str | None
    called_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class CallNext(Strict):
    service_ids: ServiceIds | None = None


class Transition(Strict):
    """finish and forward: forward to `service_id` (and only to `attendant_id` when given)."""

    service_id: Id | None = None
    attendant_id: UUID | None = None
    notes: Notes | None = None


class StepOut(msgspec.Struct):
    id: int
    ticket_id: int
    code: str
    priority: Priority
    patient_name: str | None
    status: Status
    service_id: int
    service: str
    parent_id: int | None
    target_attendant_id: UUID | None
    attendant_id: UUID | None
    room_id: int | None
    room: str | None
    arrived_at: datetime
    called_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    notes: str | None


class Forwarded(msgspec.Struct):
    step: StepOut
    next_step: StepOut


# Display ------------------------------------------------------------------------------------------------------


class DisplayOut(msgspec.Struct):
    current: dict[str, Any] | None
    history: list[dict[str, Any]]
    next: dict[str, Any] | None
    seq: int
