"""Routes of the clinic queue (docs/rules/clinic.md): clinics, kiosk, desk, management, stats, activation, pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import msgspec
import psycopg.errors
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.areas import AccountHooks
from app.auth.controller import _session_cookie
from app.auth.principal import Principal, claim_required
from app.auth.repository import AuthRepository
from app.auth.service import end_sessions, open_session
from app.clinic import service
from app.clinic.cache import ServiceCache
from app.clinic.pages import page
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import (
    Activate,
    Activated,
    CallNext,
    ClinicOut,
    CreateClinic,
    CreatedClinic,
    CreateInvitation,
    CreateKiosk,
    CreateRoom,
    CreateService,
    CreateTicket,
    DisplayOut,
    Forwarded,
    InvitationOut,
    InvitationResult,
    KioskOut,
    RegisteredKiosk,
    RoomOut,
    ServiceOut,
    StaffOut,
    StatsOut,
    StepOut,
    TicketIssued,
    TicketStatus,
    Transition,
    UpdateRoom,
    UpdateService,
    UpdateStaff,
    WaitingStep,
)
from app.clinic.service import MANAGE_CLINICS
from app.config import Settings
from app.security import Passwords, code_hash, new_token, token_hash
from app.users.repository import UsersRepository
from app.users.service import code_refused
from app.web.errors import conflict, error_response, forbidden, invalid_field, not_found
from app.web.idempotency import idempotent
from app.web.pagination import Cursor, Limit, Page, decode_cursor, page_of
from app.web.ratelimit import ANONYMOUS_CREATE, CODE_ATTEMPTS, RateLimiter
from app.web.responses import AppResponse
from app.web.validation import decode_strict

MAX_STATS_DAYS = 366


def provide_clinics(db: NamedDependency[AsyncConnection[Any]]) -> ClinicRepository:
    return ClinicRepository(db)


def parse_service_filter(raw: str | None) -> list[int] | None:
    """`?services=1,2,3` -> [1, 2, 3]; a malformed list is a 400."""
    if raw is None or not raw.strip():
        return None
    try:
        ids = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise invalid_field("services", "A comma-separated list of service ids") from None
    if not ids or len(ids) > 100 or any(i < 1 for i in ids):
        raise invalid_field("services", "A comma-separated list of 1 to 100 service ids")
    return ids


async def _transition(request: Request[Any, Any, Any]) -> Transition:
    """finish and forward take an optional body: none at all is a plain finish. A body is validated strictly
    (the app-wide hook only handles required bodies)."""
    raw = await request.body()
    return decode_strict(raw, Transition) if raw.strip() else Transition()  # type: ignore[return-value]


class ClinicsController(Controller):
    path = "/api/v1/clinics"
    tags = ["clinic"]
    dependencies = {
        "clinics": Provide(provide_clinics, sync_to_thread=False),
    }

    # Clinics ----------------------------------------------------------------------------------------------------

    @post("/", guards=[claim_required(MANAGE_CLINICS)], status_code=HTTP_201_CREATED, summary="Create a clinic")
    async def create_clinic(
        self,
        data: JSONBody[CreateClinic],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> CreatedClinic:
        clinic = await clinics.create_clinic(data.name, data.slug, data.timezone)
        if clinic is None:
            raise conflict("A clinic with this slug already exists", key="slug")
        invitation = None
        if data.admin_email is not None:
            invitation = await service.invite(
                db,
                settings,
                clinics,
                clinic=clinic,
                email=data.admin_email,
                name=None,
                is_admin=True,
                service_ids=[],
                created_by=maybe_caller.id if maybe_caller else None,
            )
        return CreatedClinic(**{f: getattr(clinic, f) for f in clinic.__struct_fields__}, admin_invitation=invitation)

    @get("/{clinic_id:int}", summary="A clinic's public card (name, time zone)")
    async def get_clinic(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> ClinicOut:
        clinic = await clinics.clinic_view(clinic_id)
        if clinic is None or not clinic.active:
            raise not_found("Clinic not found")
        return clinic

    # Services ---------------------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/services", summary="Active services (the kiosk's list); all of them for an admin")
    async def list_services(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        include_inactive: Annotated[bool, QueryParameter(description="clinic admin: inactive ones too")] = False,
    ) -> list[ServiceOut]:
        if include_inactive:
            await service.require_admin(clinics, clinic_id, maybe_caller)
            rows = await clinics.list_services(clinic_id, 0, 1000)
            return rows
        cache: ServiceCache = request.app.state.clinic_services
        if await clinics.clinic_view(clinic_id) is None:
            raise not_found("Clinic not found")
        return await cache.get(clinic_id, lambda: clinics.active_services(clinic_id))

    @post("/{clinic_id:int}/services", status_code=HTTP_201_CREATED, summary="Add a service (clinic admin)")
    async def create_service(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        data: JSONBody[CreateService],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> ServiceOut:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        created = await clinics.create_service(
            clinic_id,
            name=data.name,
            prefix=data.prefix,
            active=data.active,
            accepts=data.accepts,
            max_per_day=data.max_per_day,
            route_text=data.route_text,
            direction=data.direction,
        )
        if created is None:
            raise conflict("Another service of this clinic has this prefix", key="prefix")
        await service.services_changed(db, clinic_id)
        request.app.state.clinic_services.invalidate("local", {"clinic_id": clinic_id})
        return created

    @patch("/{clinic_id:int}/services/{service_id:int}", summary="Change a service (clinic admin)")
    async def update_service(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        service_id: FromPath[int],
        data: JSONBody[UpdateService],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> ServiceOut:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        if await clinics.service_view(clinic_id, service_id) is None:
            raise not_found("Service not found")
        updated = await clinics.update_service(
            clinic_id,
            service_id,
            name=data.name,
            prefix=data.prefix,
            active=data.active,
            accepts=data.accepts,
            set_max_per_day=data.max_per_day is not msgspec.UNSET,
            max_per_day=None if data.max_per_day is msgspec.UNSET else data.max_per_day,
            route_text=data.route_text,
            direction=data.direction,
        )
        if updated is None:
            raise conflict("Another service of this clinic has this prefix", key="prefix")
        await service.services_changed(db, clinic_id)
        request.app.state.clinic_services.invalidate("local", {"clinic_id": clinic_id})
        return updated

    # Rooms ------------------------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/rooms", summary="Rooms and who occupies them (staff)")
    async def list_rooms(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[RoomOut]:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        after = decode_cursor(cursor, (int,))
        rows = await clinics.list_rooms(clinic_id, after[0] if after else 0, limit)
        return page_of(rows, limit, lambda r: (r.id,))

    @post("/{clinic_id:int}/rooms", status_code=HTTP_201_CREATED, summary="Add a room (clinic admin)")
    async def create_room(
        self,
        clinic_id: FromPath[int],
        data: JSONBody[CreateRoom],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> RoomOut:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        room_id = await clinics.create_room(clinic_id, data.name)
        if room_id is None:
            raise conflict("The clinic already has a room with this name", key="name")
        room = await clinics.room_view(clinic_id, room_id)
        assert room is not None
        return room

    @patch("/{clinic_id:int}/rooms/{room_id:int}", summary="Rename a room (clinic admin)")
    async def update_room(
        self,
        clinic_id: FromPath[int],
        room_id: FromPath[int],
        data: JSONBody[UpdateRoom],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> RoomOut:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        if await clinics.room_view(clinic_id, room_id) is None:
            raise not_found("Room not found")
        if await clinics.rename_room(clinic_id, room_id, data.name) is None:
            raise conflict("The clinic already has a room with this name", key="name")
        room = await clinics.room_view(clinic_id, room_id)
        assert room is not None
        return room

    @post("/{clinic_id:int}/rooms/{room_id:int}/take", status_code=HTTP_200_OK, summary="Occupy a room (staff)")
    async def take_room(
        self,
        clinic_id: FromPath[int],
        room_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> RoomOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        assert maybe_caller is not None
        if await clinics.room_view(clinic_id, room_id) is None:
            raise not_found("Room not found")
        await clinics.release_other_rooms(clinic_id, maybe_caller.id, room_id)
        try:
            taken = await clinics.take_room(clinic_id, room_id, maybe_caller.id)
        except psycopg.errors.UniqueViolation:  # the caller took another room concurrently
            raise conflict("You are taking another room at the same time", key="room") from None
        if not taken:
            raise conflict("The room is occupied", key="room")
        room = await clinics.room_view(clinic_id, room_id)
        assert room is not None
        return room

    @post("/{clinic_id:int}/rooms/{room_id:int}/leave", status_code=HTTP_200_OK, summary="Free a room")
    async def leave_room(
        self,
        clinic_id: FromPath[int],
        room_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> RoomOut:
        access = await service.require_staff(clinics, clinic_id, maybe_caller)
        assert maybe_caller is not None
        if await clinics.room_view(clinic_id, room_id) is None:
            raise not_found("Room not found")
        if not await clinics.leave_room(clinic_id, room_id, maybe_caller.id, access.is_admin):
            raise forbidden("Only the occupant or a clinic admin may free this room")
        room = await clinics.room_view(clinic_id, room_id)
        assert room is not None
        return room

    # Staff and invitations ----------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/staff", summary="The clinic's staff (clinic admin)")
    async def list_staff(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[StaffOut]:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        after = decode_cursor(cursor, (UUID,))
        rows = await clinics.list_staff(clinic_id, after[0] if after else None, limit)
        return page_of(rows, limit, lambda s: (str(s.user_id),))

    @patch("/{clinic_id:int}/staff/{user_id:uuid}", summary="Change a staff member (clinic admin)")
    async def update_staff(
        self,
        clinic_id: FromPath[int],
        user_id: FromPath[UUID],
        data: JSONBody[UpdateStaff],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StaffOut:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        if data.service_ids is not None:
            await service.check_service_ids(clinics, clinic_id, data.service_ids, "service_ids")
        if not await clinics.update_staff(
            clinic_id, user_id, is_admin=data.is_admin, specialty=data.specialty, active=data.active
        ):
            raise not_found("Staff member not found")
        if data.active is False:  # off this clinic's staff: its rooms, called and forwarded tickets go back
            await service.leave_staff(db, user_id, clinic_id)
        if data.service_ids is not None:
            await clinics.set_staff_services(clinic_id, user_id, data.service_ids)
        staff = await clinics.staff_view(clinic_id, user_id)
        assert staff is not None
        return staff

    @post(
        ["/{clinic_id:int}/staff/invitations", "/{clinic_id:int}/staff"],
        status_code=HTTP_201_CREATED,
        summary="Invite a staff member by e-mail (clinic admin)",
    )
    async def invite(
        self,
        clinic_id: FromPath[int],
        data: JSONBody[CreateInvitation],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> InvitationResult:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        assert maybe_caller is not None
        await service.check_service_ids(clinics, clinic_id, data.service_ids, "service_ids")
        clinic = await clinics.clinic_view(clinic_id)
        assert clinic is not None
        return await service.invite(
            db,
            settings,
            clinics,
            clinic=clinic,
            email=data.email,
            name=data.name,
            is_admin=data.is_admin,
            service_ids=sorted(set(data.service_ids)),
            created_by=maybe_caller.id,
        )

    @get("/{clinic_id:int}/staff/invitations", summary="Pending invitations (clinic admin)")
    async def list_invitations(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InvitationOut]:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        after = decode_cursor(cursor, (int,))
        rows = await clinics.list_invitations(clinic_id, after[0] if after else 0, limit)
        return page_of(rows, limit, lambda i: (i.id,))

    @post(
        "/{clinic_id:int}/staff/invitations/{invitation_id:int}/resend",
        status_code=HTTP_200_OK,
        summary="E-mail a new activation code (clinic admin)",
    )
    async def resend_invitation(
        self,
        clinic_id: FromPath[int],
        invitation_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> InvitationResult:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        clinic = await clinics.clinic_view(clinic_id)
        assert clinic is not None
        return await service.resend_invitation(db, settings, clinics, clinic, invitation_id)

    @delete(
        "/{clinic_id:int}/staff/invitations/{invitation_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke an invitation (clinic admin)",
    )
    async def revoke_invitation(
        self,
        clinic_id: FromPath[int],
        invitation_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> None:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        if not await clinics.revoke_invitation(clinic_id, invitation_id):
            raise not_found("Invitation not found")

    # Kiosks (docs/rules/clinic.md, "Kiosks and the daily quota") ----------------------------------------------------

    @post("/{clinic_id:int}/kiosks", status_code=HTTP_201_CREATED, summary="Register this browser as a kiosk (admin)")
    async def register_kiosk(
        self,
        clinic_id: FromPath[int],
        data: JSONBody[CreateKiosk],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        settings: NamedDependency[Settings],
    ) -> Response[RegisteredKiosk]:
        """The token is answered once and set as the `kiosk` cookie of the calling browser (for this clinic's
        API only); tickets asked with it draw from the whole daily quota."""
        access = await service.require_admin(clinics, clinic_id, maybe_caller)
        token = new_token()
        created_by = maybe_caller.id if maybe_caller else None
        kiosk = await clinics.create_kiosk(access.clinic_id, data.name, token_hash(token), created_by)
        cookie = Cookie(
            key=service.KIOSK_COOKIE,
            value=token,
            max_age=service.KIOSK_COOKIE_MAX_AGE,
            path=f"/api/v1/clinics/{clinic_id}/",
            httponly=True,
            samesite="strict",
            secure=settings.cookie_secure,
        )
        body = RegisteredKiosk(**msgspec.structs.asdict(kiosk), token=token)
        return AppResponse(body, status_code=HTTP_201_CREATED, cookies=[cookie])

    @get("/{clinic_id:int}/kiosks", summary="The clinic's registered kiosks (clinic admin)")
    async def list_kiosks(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> list[KioskOut]:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        return await clinics.list_kiosks(clinic_id)

    @delete("/{clinic_id:int}/kiosks/{kiosk_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Revoke a kiosk (admin)")
    async def revoke_kiosk(
        self,
        clinic_id: FromPath[int],
        kiosk_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> None:
        await service.require_admin(clinics, clinic_id, maybe_caller)
        if not await clinics.delete_kiosk(clinic_id, kiosk_id):
            raise not_found("Kiosk not found")

    # Tickets (kiosk and reception) ------------------------------------------------------------------------------

    @post("/{clinic_id:int}/tickets", status_code=HTTP_201_CREATED, summary="Issue a ticket (kiosk or reception)")
    async def issue_ticket(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        data: JSONBody[CreateTicket],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        rate_limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> TicketIssued:
        access = await service.clinic_access(clinics, clinic_id, maybe_caller)
        origin = await service.ticket_origin(clinics, access, request, settings)
        if origin == "online":
            await rate_limiter.hit_address(ANONYMOUS_CREATE, request)

        async def create() -> Response[Any]:
            issued = await service.issue_ticket(
                db, clinics, access, data, maybe_caller, origin=origin, web_share=settings.web_ticket_share
            )
            return Response(issued, status_code=HTTP_201_CREATED)

        return await idempotent(request, db, create)  # type: ignore[return-value]

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

    # Queue and desk ---------------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/queue", summary="Waiting steps in call order (staff)")
    async def queue(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        service_id: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> list[WaitingStep]:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        return await clinics.waiting_steps(clinic_id, service_id)

    @post("/{clinic_id:int}/desk/call-next", status_code=HTTP_200_OK, summary="Call the next patient (staff)")
    async def call_next(
        self,
        clinic_id: FromPath[int],
        data: JSONBody[CallNext],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[Any]:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        assert maybe_caller is not None
        called = await service.call_next(db, clinics, clinic_id, maybe_caller, data.service_ids)
        if called is None:
            return Response(None, status_code=HTTP_204_NO_CONTENT)
        step, recalled = called
        return AppResponse(step, headers={"X-Recall": "true" if recalled else "false"})

    @post("/{clinic_id:int}/attendances/{step_id:int}/call", status_code=HTTP_200_OK, summary="Call a given ticket")
    async def call(
        self,
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        assert maybe_caller is not None
        return await service.call_step(db, clinics, clinic_id, maybe_caller, step_id)

    @post("/{clinic_id:int}/attendances/{step_id:int}/recall", status_code=HTTP_200_OK, summary="Announce again")
    async def recall(
        self,
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        return await service.recall(db, clinics, clinic_id, step_id)

    @post("/{clinic_id:int}/attendances/{step_id:int}/start", status_code=HTTP_200_OK, summary="Start serving")
    async def start(
        self,
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
    ) -> StepOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        return await service.start(clinics, clinic_id, step_id)

    @post("/{clinic_id:int}/attendances/{step_id:int}/no-show", status_code=HTTP_200_OK, summary="Did not come")
    async def no_show(
        self,
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        return await service.no_show(db, clinics, clinic_id, step_id)

    @post(
        "/{clinic_id:int}/attendances/{step_id:int}/finish",
        status_code=HTTP_200_OK,
        summary="Finish (and optionally forward)",
    )
    async def finish(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
        data: JSONBody[Transition | None] = None,
    ) -> Forwarded:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        step, next_step = await service.finish(db, clinics, clinic_id, step_id, await _transition(request))
        return Forwarded(step=step, next_step=next_step)

    @post(
        "/{clinic_id:int}/attendances/{step_id:int}/forward",
        status_code=HTTP_200_OK,
        summary="Forward to another service (same code)",
    )
    async def forward(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
        data: JSONBody[Transition | None] = None,
    ) -> Forwarded:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        step, next_step = await service.forward(db, clinics, clinic_id, step_id, await _transition(request))
        return Forwarded(step=step, next_step=next_step)

    @post("/{clinic_id:int}/attendances/{step_id:int}/cancel", status_code=HTTP_200_OK, summary="Cancel")
    async def cancel(
        self,
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        return await service.cancel(db, clinics, clinic_id, step_id)

    @post("/{clinic_id:int}/attendances/{step_id:int}/reactivate", status_code=HTTP_200_OK, summary="Back in line")
    async def reactivate(
        self,
        clinic_id: FromPath[int],
        step_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        await service.require_staff(clinics, clinic_id, maybe_caller)
        return await service.reactivate(db, clinics, clinic_id, step_id)

    # Display and statistics ---------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/display", summary="What the TV shows: current call, last 5 calls, next ticket")
    async def display(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        services: Annotated[str | None, QueryParameter(max_length=1000, description="e.g. 1,2")] = None,
    ) -> DisplayOut:
        service_ids = parse_service_filter(services)
        clinic = await clinics.clinic_view(clinic_id)
        if clinic is None or not clinic.active:
            raise not_found("Clinic not found")
        snap = await clinics.display_snapshot(clinic_id, service.display_topic(clinic_id), service_ids)
        return DisplayOut(current=snap.current, history=snap.history, next=snap.next, seq=snap.seq)

    @get("/{clinic_id:int}/stats", summary="Tickets and times (clinic admin; dates in the clinic's time zone)")
    async def stats(
        self,
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        date_from: Annotated[date, QueryParameter(name="from", description="YYYY-MM-DD")],
        date_to: Annotated[date, QueryParameter(name="to", description="YYYY-MM-DD")],
    ) -> StatsOut:
        access = await service.require_admin(clinics, clinic_id, maybe_caller)
        if date_to < date_from:
            raise invalid_field("to", "Must not be before 'from'")
        if (date_to - date_from).days >= MAX_STATS_DAYS:
            raise invalid_field("to", f"At most {MAX_STATS_DAYS} days")
        return StatsOut(
            date_from=date_from,
            date_to=date_to,
            timezone=access.timezone,
            per_day=await clinics.stats_per_day(clinic_id, date_from, date_to),
            per_service=await clinics.stats_per_service(clinic_id, date_from, date_to),
            per_attendant=await clinics.stats_per_attendant(clinic_id, date_from, date_to),
            times=await clinics.stats_times(clinic_id, date_from, date_to),
        )


class ActivationController(Controller):
    path = "/api/v1/auth"
    tags = ["auth", "clinic"]
    dependencies = {"clinics": Provide(provide_clinics, sync_to_thread=False)}

    @post("/activate", status_code=HTTP_200_OK, summary="Activate an invited account with its code (logs in)")
    async def activate(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[Activate],
        clinics: NamedDependency[ClinicRepository],
        passwords: NamedDependency[Passwords],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
        db: NamedDependency[AsyncConnection[Any]],
        account_hooks: NamedDependency[AccountHooks],
    ) -> Response[Any]:
        await rate_limiter.hit_address(CODE_ATTEMPTS, request)
        attempts = await clinics.count_activation_attempt(
            data.email,
            code_hash(settings.secret_key, service.INVITE_PURPOSE, data.code),
            service.ACTIVATION_MAX_ATTEMPTS,
        )
        accepted = [a for a in attempts if a.matched]
        if not accepted:
            # Returned, not raised: the attempts counted above must be committed.
            return error_response(invalid_field("code", "The code is wrong, expired or already used"))
        invitation = accepted[0]
        name = f"{data.first_name} {data.last_name}"[:100]
        previous = await clinics.activate_account(invitation.user_id, await passwords.hash(data.password), name)
        if previous is None:  # raised: the invitation stays pending, for when authority re-activates the account
            raise code_refused(await UsersRepository(db).account_state(invitation.user_id))
        if previous == "invited":
            await UsersRepository(db).audit(
                invitation.user_id, "user.activate", f"user:{invitation.user_id}", by="invitation"
            )
        await end_sessions(db, account_hooks, user_id=invitation.user_id)  # the password may have changed
        await clinics.add_staff(
            invitation.clinic_id, invitation.user_id, is_admin=invitation.is_admin, specialty=data.specialty
        )
        if invitation.service_ids:
            await clinics.set_staff_services(invitation.clinic_id, invitation.user_id, invitation.service_ids)
        token, _ = await open_session(AuthRepository(db), settings, invitation.user_id, "cookie")
        return AppResponse(
            Activated(message="account activated", user_id=invitation.user_id, clinic_ids=[invitation.clinic_id]),
            cookies=[_session_cookie(settings, token, settings.session_ttl)],
        )


class PagesController(Controller):
    path = "/clinics"
    include_in_schema = False
    dependencies = {"clinics": Provide(provide_clinics, sync_to_thread=False)}

    @get("/{clinic_id:int}/tv", summary="The TV panel")
    async def tv(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> Response[bytes]:
        return await page(clinics, clinic_id, "tv.html")

    @get("/{clinic_id:int}/totem", summary="The kiosk")
    async def totem(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> Response[bytes]:
        return await page(clinics, clinic_id, "totem.html")
