"""Issuing tickets (docs/rules/clinic.md, "Kiosks and the daily quota"): who is asking decides the quota the
ticket draws from; the registered kiosks are known by their cookie."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from psycopg import AsyncConnection

from app.clinic.access import ClinicAccess
from app.clinic.events import publish_step
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import CreateTicket, QueueStep, TicketIssued
from app.config import Settings
from app.security import token_hash
from app.web.client import client_address
from app.web.errors import Refusal, conflict, forbidden, invalid_field, unprocessable

KIOSK_COOKIE = "kiosk"
KIOSK_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def kiosk_cookie(settings: Settings, clinic_id: int, token: str) -> Cookie:
    """A registered kiosk's token, sent back with the clinic's API calls only."""
    return Cookie(
        key=KIOSK_COOKIE,
        value=token,
        max_age=KIOSK_COOKIE_MAX_AGE,
        path=f"/api/v1/clinics/{clinic_id}/",
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
    )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def ticket_origin(
    repo: ClinicRepository, access: ClinicAccess, connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> str:
    """Who is asking for a ticket, which decides the quota it draws from (docs/rules/clinic.md, "Kiosks and the daily
    quota"): 'reception' (staff of the clinic) and 'totem' (one of the clinic's registered kiosks, by its cookie)
    draw from the whole day; 'online' (anyone else) from the web share only. In development a client on this
    machine counts as a registered kiosk, so the kiosk page and the tests work with no set-up."""
    if access.is_staff:
        return "reception"
    token = connection.cookies.get(KIOSK_COOKIE)
    if token and len(token) <= 100 and await repo.use_kiosk(access.clinic_id, token_hash(token)):
        return "totem"
    if not settings.production and _is_loopback(client_address(connection, settings)):
        return "totem"
    return "online"


ISSUE_REFUSALS = (
    Refusal(403, "an emergency ticket from anyone but the reception"),
    Refusal(409, "the service's daily ticket limit (or its share for web clients) is reached"),
    Refusal(422, "the service does not accept this priority"),
)


async def issue_ticket(
    conn: AsyncConnection[Any],
    repo: ClinicRepository,
    access: ClinicAccess,
    data: CreateTicket,
    *,
    origin: str,
    web_share: float,
    public_base_url: str | None = None,
    now: datetime | None = None,
) -> TicketIssued:
    reception = origin == "reception"
    if data.priority == "emergency" and not reception:
        raise forbidden("Only the reception may issue emergency tickets")
    service = await repo.service_for_ticket(access.clinic_id, data.service_id)
    if service is None:
        raise invalid_field("service_id", "Unknown or inactive service")
    if (service.accepts == "normal" and data.priority != "normal") or (
        service.accepts == "priority" and data.priority == "normal"
    ):
        raise unprocessable(f"This service does not accept {data.priority} tickets", key="priority")
    issued = await repo.issue_ticket(
        clinic_id=access.clinic_id,
        service_id=service.id,
        priority=data.priority,
        patient_name=data.patient_name,
        origin=origin,
        issued_by=access.caller.id if access.caller is not None and reception else None,
        public_token=secrets.token_urlsafe(24),  # 192 random bits
        web_share=web_share,
        now=now,
    )
    if issued is None and origin == "online":
        raise conflict(
            "No more tickets of this service today for web clients: please use the clinic's kiosk or reception",
            key="service_id",
        )
    if issued is None:
        raise conflict("The service's daily ticket limit is reached", key="service_id")
    ahead = await repo.waiting_ahead(issued.step_id)
    waiting = QueueStep(
        step_id=issued.step_id,
        code=issued.code,
        priority=issued.priority,
        status="waiting",
        service_id=service.id,
        service=service.name,
        arrived_at=issued.issued_at,
        queued_at=issued.issued_at,
        target_attendant_id=None,
        attendant_id=None,
        room_id=None,
        room=None,
        called_at=None,
        started_at=None,
        finished_at=None,
    )
    await publish_step(conn, access.clinic_id, "issued", waiting)
    return TicketIssued(
        public_token=issued.public_token,
        follow_url=f"{(public_base_url or '').rstrip('/')}/clinics/{access.clinic_id}/tickets/{issued.public_token}",
        code=issued.code,
        service=service.name,
        service_id=service.id,
        priority=issued.priority,
        issued_at=issued.issued_at,
        waiting_ahead=ahead,
    )
