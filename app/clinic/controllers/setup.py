"""A clinic's set-up (docs/rules/clinic.md, "Clinics", "Services and rooms", "Kiosks and the daily quota"): the
clinic, its services, its rooms and who occupies them, its registered kiosks."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import psycopg.errors
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.auth.claims import MANAGE_CLINICS
from app.auth.principal import Principal, claim_required
from app.clinic.access import CLINIC_DEPENDENCIES, CLINIC_NOT_FOUND, StaffAccess, resolve_admin
from app.clinic.cache import ServiceCache, services_changed
from app.clinic.events import rooms_changed
from app.clinic.invitations import invite
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import (
    ClinicOut,
    CreateClinic,
    CreatedClinic,
    CreateKiosk,
    CreateRoom,
    CreateService,
    KioskOut,
    RegisteredKiosk,
    RoomOut,
    ServiceOut,
    UpdateRoom,
    UpdateService,
)
from app.clinic.tickets import kiosk_cookie
from app.config import Settings
from app.security import new_token, token_hash
from app.web.errors import Refusal, conflict, forbidden, invalid_field, not_found, refuses
from app.web.pagination import Cursor, Limit, Page, decode_cursor, page_of
from app.web.responses import AppResponse

PREFIX_TAKEN = "Another service of this clinic has this prefix"
ROOM_NAME_TAKEN = "The clinic already has a room with this name"


def _route(route_text: str | None, direction: str | None) -> dict[str, str | None]:
    """A room's route as stored: text and direction together (straight by default), or none of its own."""
    if route_text is None and direction is not None:
        raise invalid_field("direction", "Only with route_text")
    return {"route_text": route_text, "direction": None if route_text is None else direction or "straight"}


PREFIX_CONFLICT = Refusal(409, "another service of the clinic has this prefix")
ROOM_NAME_CONFLICT = Refusal(409, "another room of the clinic has this name")


async def _room(clinics: ClinicRepository, clinic_id: int, room_id: int) -> RoomOut:
    room = await clinics.room_view(clinic_id, room_id)
    if room is None:
        raise not_found("Room not found")
    return room


async def _services_changed(request: Request[Any, Any, Any], db: AsyncConnection[Any], clinic_id: int) -> None:
    """Every process drops its cached kiosk list at commit; this one at once."""
    await services_changed(db, clinic_id)
    request.app.state.clinic_services.invalidate("local", {"clinic_id": clinic_id})


class SetupController(Controller):
    path = "/api/v1/clinics"
    tags = ["clinic"]
    dependencies = CLINIC_DEPENDENCIES

    # Clinics ----------------------------------------------------------------------------------------------------

    @post("/", guards=[claim_required(MANAGE_CLINICS)], status_code=HTTP_201_CREATED, summary="Create a clinic")
    @refuses(Refusal(409, "a clinic with this slug already exists"))
    async def create_clinic(
        self,
        data: JSONBody[CreateClinic],
        clinics: NamedDependency[ClinicRepository],
        caller: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> CreatedClinic:
        clinic = await clinics.create_clinic(data.name, data.slug, data.timezone)
        if clinic is None:
            raise conflict("A clinic with this slug already exists", key="slug")
        invitation = None
        if data.admin_email is not None:
            invitation = await invite(
                db,
                settings,
                clinics,
                clinic=clinic,
                email=data.admin_email,
                name=None,
                is_admin=True,
                service_ids=[],
                created_by=caller.id,
            )
        return CreatedClinic(**msgspec.structs.asdict(clinic), admin_invitation=invitation)

    @get("/{clinic_id:int}", summary="A clinic's public card (name, time zone)")
    async def get_clinic(self, clinic_id: FromPath[int], clinics: NamedDependency[ClinicRepository]) -> ClinicOut:
        clinic = await clinics.clinic_view(clinic_id)
        if clinic is None or not clinic.active:
            raise not_found(CLINIC_NOT_FOUND)
        return clinic

    # Services ---------------------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/services", summary="Active services (the kiosk's list); all of them for an admin")
    @refuses(
        Refusal(401, "include_inactive=true without credentials"),
        Refusal(403, "include_inactive=true by staff who are not a clinic admin"),
    )
    async def list_services(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        clinics: NamedDependency[ClinicRepository],
        maybe_caller: NamedDependency[Principal | None],
        include_inactive: Annotated[bool, QueryParameter(description="clinic admin: inactive ones too")] = False,
    ) -> list[ServiceOut]:
        if include_inactive:  # the one route whose access depends on a query parameter
            await resolve_admin(clinics, clinic_id, maybe_caller)
            return await clinics.list_services(clinic_id, 0, 1000)
        cache: ServiceCache = request.app.state.clinic_services
        if await clinics.clinic_view(clinic_id) is None:
            raise not_found(CLINIC_NOT_FOUND)
        return await cache.get(clinic_id, lambda: clinics.active_services(clinic_id))

    @post("/{clinic_id:int}/services", status_code=HTTP_201_CREATED, summary="Add a service (clinic admin)")
    @refuses(PREFIX_CONFLICT)
    async def create_service(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateService],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> ServiceOut:
        created = await clinics.create_service(admin_access.clinic_id, **msgspec.structs.asdict(data))
        if created is None:
            raise conflict(PREFIX_TAKEN, key="prefix")
        await _services_changed(request, db, admin_access.clinic_id)
        return created

    @patch("/{clinic_id:int}/services/{service_id:int}", summary="Change a service (clinic admin)")
    @refuses(PREFIX_CONFLICT)
    async def update_service(
        self,
        request: Request[Any, Any, Any],
        service_id: FromPath[int],
        data: JSONBody[UpdateService],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> ServiceOut:
        clinic_id = admin_access.clinic_id
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
            raise conflict(PREFIX_TAKEN, key="prefix")
        await _services_changed(request, db, clinic_id)
        return updated

    # Rooms ------------------------------------------------------------------------------------------------------

    @get("/{clinic_id:int}/rooms", summary="Rooms and who occupies them (staff)")
    async def list_rooms(
        self,
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[RoomOut]:
        after = decode_cursor(cursor, (int,))
        rows = await clinics.list_rooms(staff_access.clinic_id, after[0] if after else 0, limit)
        return page_of(rows, limit, lambda r: (r.id,))

    @post("/{clinic_id:int}/rooms", status_code=HTTP_201_CREATED, summary="Add a room (clinic admin)")
    @refuses(ROOM_NAME_CONFLICT)
    async def create_room(
        self,
        data: JSONBody[CreateRoom],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
    ) -> RoomOut:
        route = _route(data.route_text, data.direction)
        room_id = await clinics.create_room(admin_access.clinic_id, data.name, **route)
        if room_id is None:
            raise conflict(ROOM_NAME_TAKEN, key="name")
        return await _room(clinics, admin_access.clinic_id, room_id)

    @patch("/{clinic_id:int}/rooms/{room_id:int}", summary="Rename a room or set its route (clinic admin)")
    @refuses(ROOM_NAME_CONFLICT)
    async def update_room(
        self,
        room_id: FromPath[int],
        data: JSONBody[UpdateRoom],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
    ) -> RoomOut:
        await _room(clinics, admin_access.clinic_id, room_id)
        keep = isinstance(data.route_text, msgspec.UnsetType)
        route = _route(None if isinstance(data.route_text, msgspec.UnsetType) else data.route_text, data.direction)
        if await clinics.update_room(admin_access.clinic_id, room_id, data.name, set_route=not keep, **route) is None:
            raise conflict(ROOM_NAME_TAKEN, key="name")
        return await _room(clinics, admin_access.clinic_id, room_id)

    @post("/{clinic_id:int}/rooms/{room_id:int}/take", status_code=HTTP_200_OK, summary="Occupy a room (staff)")
    @refuses(Refusal(409, "the room is occupied, or the caller is taking another room at the same time"))
    async def take_room(
        self,
        room_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> RoomOut:
        clinic_id, user_id = staff_access.clinic_id, staff_access.caller.id
        await _room(clinics, clinic_id, room_id)
        await clinics.release_other_rooms(clinic_id, user_id, room_id)
        try:
            taken = await clinics.take_room(clinic_id, room_id, user_id)
        except psycopg.errors.UniqueViolation:  # the caller took another room concurrently
            raise conflict("You are taking another room at the same time", key="room") from None
        if not taken:
            raise conflict("The room is occupied", key="room")
        await rooms_changed(db, clinics, clinic_id, room_id)
        return await _room(clinics, clinic_id, room_id)

    @post("/{clinic_id:int}/rooms/{room_id:int}/leave", status_code=HTTP_200_OK, summary="Free a room")
    @refuses(Refusal(403, "only the occupant or a clinic admin may free the room"))
    async def leave_room(
        self,
        room_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> RoomOut:
        clinic_id = staff_access.clinic_id
        await _room(clinics, clinic_id, room_id)
        if not await clinics.leave_room(clinic_id, room_id, staff_access.caller.id, staff_access.is_admin):
            raise forbidden("Only the occupant or a clinic admin may free this room")
        await rooms_changed(db, clinics, clinic_id, room_id)
        return await _room(clinics, clinic_id, room_id)

    # Kiosks -----------------------------------------------------------------------------------------------------

    @post("/{clinic_id:int}/kiosks", status_code=HTTP_201_CREATED, summary="Register this browser as a kiosk (admin)")
    async def register_kiosk(
        self,
        data: JSONBody[CreateKiosk],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        settings: NamedDependency[Settings],
    ) -> Response[RegisteredKiosk]:
        """The token is answered once and set as the `kiosk` cookie of the calling browser (for this clinic's
        API only); tickets asked with it draw from the whole daily quota."""
        clinic_id, token = admin_access.clinic_id, new_token()
        kiosk = await clinics.create_kiosk(clinic_id, data.name, token_hash(token), admin_access.caller.id)
        body = RegisteredKiosk(**msgspec.structs.asdict(kiosk), token=token)
        return AppResponse(body, status_code=HTTP_201_CREATED, cookies=[kiosk_cookie(settings, clinic_id, token)])

    @get("/{clinic_id:int}/kiosks", summary="The clinic's registered kiosks (clinic admin)")
    async def list_kiosks(
        self, admin_access: NamedDependency[StaffAccess], clinics: NamedDependency[ClinicRepository]
    ) -> list[KioskOut]:
        return await clinics.list_kiosks(admin_access.clinic_id)

    @delete("/{clinic_id:int}/kiosks/{kiosk_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Revoke a kiosk (admin)")
    async def revoke_kiosk(
        self,
        kiosk_id: FromPath[int],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
    ) -> None:
        if not await clinics.delete_kiosk(admin_access.clinic_id, kiosk_id):
            raise not_found("Kiosk not found")
