"""Tickets and what is read about them (docs/rules/clinic.md, "Tickets", "Queue order", "TV", "Statistics"):
issuing one (kiosk, web or reception), a ticket's status by its token, the waiting line, the display and the
statistics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED
from psycopg import AsyncConnection

from app.clinic import tickets
from app.clinic.access import CLINIC_DEPENDENCIES, CLINIC_NOT_FOUND, ClinicAccess, StaffAccess
from app.clinic.events import display_topic
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import CreateTicket, DisplayOut, TicketIssued, TicketStatus, WaitingStep
from app.clinic.service_ids import parse_service_filter
from app.clinic.stats_repository import StatsRepository
from app.clinic.stats_schemas import StatsOut
from app.config import Settings
from app.web.errors import invalid_field, not_found, refuses
from app.web.idempotency import KEY_REUSED, idempotent
from app.web.ratelimit import ANONYMOUS_CREATE, RateLimiter

MAX_STATS_DAYS = 366


class TicketsController(Controller):
    path = "/api/v1/clinics"
    tags = ["clinic"]
    dependencies = CLINIC_DEPENDENCIES

    @post("/{clinic_id:int}/tickets", status_code=HTTP_201_CREATED, summary="Issue a ticket (kiosk or reception)")
    @refuses(*tickets.ISSUE_REFUSALS, KEY_REUSED)
    async def issue_ticket(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateTicket],
        clinic_access: NamedDependency[ClinicAccess],
        clinics: NamedDependency[ClinicRepository],
        rate_limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[TicketIssued]:
        origin = await tickets.ticket_origin(clinics, clinic_access, request, settings)
        if origin == "online":
            await rate_limiter.hit_address(ANONYMOUS_CREATE, request)

        async def create() -> Response[TicketIssued]:
            issued = await tickets.issue_ticket(
                db,
                clinics,
                clinic_access,
                data,
                origin=origin,
                web_share=settings.web_ticket_share,
                public_base_url=settings.public_base_url,
            )
            return Response(issued, status_code=HTTP_201_CREATED)

        return await idempotent(request, db, create)

    @get("/{clinic_id:int}/tickets/{public_token:str}", summary="A ticket's status, by its random token")
    async def ticket_status(
        self, clinic_id: FromPath[int], public_token: FromPath[str], clinics: NamedDependency[ClinicRepository]
    ) -> TicketStatus:
        ticket = None
        if 20 <= len(public_token) <= 64:
            ticket = await clinics.ticket_by_token(public_token)
        if ticket is None or ticket.clinic_id != clinic_id:
            raise not_found("Ticket not found")
        return ticket

    @get("/{clinic_id:int}/queue", summary="Waiting steps in call order (staff)")
    async def queue(
        self,
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        service_id: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> list[WaitingStep]:
        return await clinics.waiting_steps(staff_access.clinic_id, service_id)

    @get("/{clinic_id:int}/display", summary="What the TV shows: current call, last 5 distinct tickets, next ticket")
    async def display(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        services: Annotated[str | None, QueryParameter(max_length=1000, description="e.g. 1,2")] = None,
    ) -> DisplayOut:
        service_ids = parse_service_filter(services)
        clinic = await clinics.clinic_view(clinic_id)
        if clinic is None or not clinic.active:
            raise not_found(CLINIC_NOT_FOUND)
        return await clinics.display_snapshot(clinic_id, display_topic(clinic_id), service_ids)

    @get("/{clinic_id:int}/stats", summary="Tickets and times (clinic admin; dates in the clinic's time zone)")
    async def stats(
        self,
        admin_access: NamedDependency[StaffAccess],
        clinic_stats: NamedDependency[StatsRepository],
        date_from: Annotated[
            date | None, QueryParameter(name="from", description="YYYY-MM-DD; default: today in the clinic's zone")
        ] = None,
        date_to: Annotated[
            date | None, QueryParameter(name="to", description="YYYY-MM-DD; default: today in the clinic's zone")
        ] = None,
    ) -> StatsOut:
        today = datetime.now(ZoneInfo(admin_access.timezone)).date()
        date_from = date_from or today
        date_to = date_to or today
        if date_to < date_from:
            raise invalid_field("to", "Must not be before 'from'")
        if (date_to - date_from).days >= MAX_STATS_DAYS:
            raise invalid_field("to", f"At most {MAX_STATS_DAYS} days")
        clinic_id = admin_access.clinic_id
        return StatsOut(
            date_from=date_from,
            date_to=date_to,
            timezone=admin_access.timezone,
            per_day=await clinic_stats.stats_per_day(clinic_id, date_from, date_to),
            per_service=await clinic_stats.stats_per_service(clinic_id, date_from, date_to),
            per_attendant=await clinic_stats.stats_per_attendant(clinic_id, date_from, date_to),
            times=await clinic_stats.stats_times(clinic_id, date_from, date_to),
            live=await clinic_stats.stats_now(clinic_id),
        )
