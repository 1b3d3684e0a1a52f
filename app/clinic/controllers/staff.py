"""A clinic's staff (docs/rules/clinic.md, "Staff and invitations"): the staff list, invitations by e-mail, and
the activation of an invited account with its code."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.areas import AccountHooks
from app.auth.codes import CODE_REFUSALS
from app.auth.cookies import session_cookie
from app.clinic import invitations
from app.clinic.access import CLINIC_DEPENDENCIES, StaffAccess
from app.clinic.desk import leave_staff
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import (
    Activate,
    ClinicOut,
    CreateInvitation,
    InvitationOut,
    InvitationResult,
    StaffOut,
    UpdateStaff,
)
from app.clinic.service_ids import check_service_ids
from app.config import Settings
from app.security import Passwords
from app.web.errors import Refusal, error_response, invalid_field, not_found, refuses
from app.web.pagination import Cursor, Limit, Page, decode_cursor, page_of
from app.web.ratelimit import CODE_ATTEMPTS, RateLimiter
from app.web.responses import AppResponse


async def _clinic(clinics: ClinicRepository, access: StaffAccess) -> ClinicOut:
    clinic = await clinics.clinic_view(access.clinic_id)
    assert clinic is not None  # the access was resolved for an existing clinic
    return clinic


class StaffController(Controller):
    path = "/api/v1/clinics"
    tags = ["clinic"]
    dependencies = CLINIC_DEPENDENCIES

    @get("/{clinic_id:int}/staff", summary="The clinic's staff (clinic admin)")
    async def list_staff(
        self,
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[StaffOut]:
        after = decode_cursor(cursor, (UUID,))
        rows = await clinics.list_staff(admin_access.clinic_id, after[0] if after else None, limit)
        return page_of(rows, limit, lambda s: (str(s.user_id),))

    @patch("/{clinic_id:int}/staff/{user_id:uuid}", summary="Change a staff member (clinic admin)")
    async def update_staff(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UpdateStaff],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StaffOut:
        clinic_id = admin_access.clinic_id
        if data.service_ids is not None:
            await check_service_ids(clinics, clinic_id, data.service_ids, "service_ids")
        if not await clinics.update_staff(
            clinic_id, user_id, is_admin=data.is_admin, specialty=data.specialty, active=data.active
        ):
            raise not_found("Staff member not found")
        if data.active is False:  # off this clinic's staff: its rooms, called and forwarded tickets go back
            await leave_staff(db, user_id, clinic_id)
        if data.service_ids is not None:
            await clinics.set_staff_services(clinic_id, user_id, data.service_ids)
        staff = await clinics.staff_view(clinic_id, user_id)
        assert staff is not None
        return staff

    @post(
        "/{clinic_id:int}/staff/invitations",
        status_code=HTTP_201_CREATED,
        summary="Invite a staff member by e-mail (clinic admin)",
    )
    @refuses(invitations.INVITE_REFUSED)
    async def invite(
        self,
        data: JSONBody[CreateInvitation],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> InvitationResult:
        await check_service_ids(clinics, admin_access.clinic_id, data.service_ids, "service_ids")
        return await invitations.invite(
            db,
            settings,
            clinics,
            clinic=await _clinic(clinics, admin_access),
            email=data.email,
            name=data.name,
            is_admin=data.is_admin,
            service_ids=sorted(set(data.service_ids)),
            created_by=admin_access.caller.id,
        )

    # The alias answers as /staff/invitations does (the same function); it stays out of the OpenAPI document, so a
    # generated client gets one operation per action.
    invite_alias = post(
        "/{clinic_id:int}/staff",
        status_code=HTTP_201_CREATED,
        summary="Invite a staff member (alias of /staff/invitations)",
        include_in_schema=False,
    )(invite.fn)

    @get("/{clinic_id:int}/staff/invitations", summary="Pending invitations (clinic admin)")
    async def list_invitations(
        self,
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[InvitationOut]:
        after = decode_cursor(cursor, (int,))
        rows = await clinics.list_invitations(admin_access.clinic_id, after[0] if after else 0, limit)
        return page_of(rows, limit, lambda i: (i.id,))

    @post(
        "/{clinic_id:int}/staff/invitations/{invitation_id:int}/resend",
        status_code=HTTP_200_OK,
        summary="E-mail a new activation code (clinic admin)",
    )
    async def resend_invitation(
        self,
        invitation_id: FromPath[int],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> InvitationResult:
        clinic = await _clinic(clinics, admin_access)
        return await invitations.resend_invitation(db, settings, clinics, clinic, invitation_id)

    @delete(
        "/{clinic_id:int}/staff/invitations/{invitation_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke an invitation (clinic admin)",
    )
    async def revoke_invitation(
        self,
        invitation_id: FromPath[int],
        admin_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
    ) -> None:
        if not await clinics.revoke_invitation(admin_access.clinic_id, invitation_id):
            raise not_found("Invitation not found")


class ActivationController(Controller):
    path = "/api/v1/auth"
    tags = ["auth", "clinic"]
    dependencies = CLINIC_DEPENDENCIES

    @post("/activate", status_code=HTTP_200_OK, summary="Activate an invited account with its code (logs in)")
    @refuses(Refusal(400, "the code is wrong, expired or already used"), *CODE_REFUSALS)
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
        accepted = await invitations.accept(db, clinics, passwords, settings, account_hooks, data)
        if accepted is None:
            # Returned, not raised: the attempt counted must be committed.
            return error_response(invalid_field("code", "The code is wrong, expired or already used"))
        activated, token = accepted
        return AppResponse(activated, cookies=[session_cookie(settings, token, settings.session_ttl)])
