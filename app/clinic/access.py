"""Who may do what in a clinic (docs/rules/clinic.md, "Who may do what"), declared by the routes.

A route names the access it needs as a parameter, resolved by the dependencies of `CLINIC_DEPENDENCIES`:
`staff_access` (staff of the clinic of the path) or `admin_access` (its clinic admin), both a `StaffAccess`;
`clinic_access` is anyone's `ClinicAccess`, for a route open to all that treats staff differently. Refusals come
in the order the rules give: 401 when not logged in, then 404 as if the clinic did not exist, then 403. They are
resolved after the path, the query and the body, as any dependency is, so a malformed request stays a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath
from psycopg import AsyncConnection

from app.auth.claims import MANAGE_CLINICS
from app.auth.principal import NOT_LOGGED_IN, Principal
from app.clinic.repository import ClinicRepository
from app.clinic.stats_repository import provide_clinic_stats
from app.web.errors import Refusal, forbidden, not_found, refuses

CLINIC_NOT_FOUND = "Clinic not found"
NO_SUCH_CLINIC = Refusal(404, "no clinic has this id")
NOT_STAFF = Refusal(404, "no clinic has this id, or the caller is not on its staff")
NOT_CLINIC_ADMIN = Refusal(403, "the caller is staff of the clinic but not its clinic admin")


@dataclass(frozen=True, slots=True)
class ClinicAccess:
    """Anyone's rights in an existing clinic: a clinic admin has every staff right."""

    clinic_id: int
    timezone: str
    caller: Principal | None
    is_staff: bool
    is_admin: bool


@dataclass(frozen=True, slots=True)
class StaffAccess:
    """A logged-in member of the clinic's staff; `is_admin` for its clinic admins."""

    clinic_id: int
    timezone: str
    caller: Principal
    is_admin: bool


async def resolve_access(clinics: ClinicRepository, clinic_id: int, caller: Principal | None) -> ClinicAccess:
    """The caller's rights in the clinic (404 when the clinic does not exist). `clinics:manage` is clinic admin
    everywhere."""
    row = await clinics.caller_access(clinic_id, caller.id if caller else None)
    if row is None:
        raise not_found(CLINIC_NOT_FOUND)
    is_admin = row.is_admin or (caller is not None and caller.has(MANAGE_CLINICS))
    return ClinicAccess(row.clinic_id, row.timezone, caller, is_staff=row.is_staff or is_admin, is_admin=is_admin)


async def resolve_staff(clinics: ClinicRepository, clinic_id: int, caller: Principal | None) -> StaffAccess:
    """Staff of this clinic; anyone else gets the 404 of an unknown clinic (401 when not logged in)."""
    if caller is None:
        raise NotAuthorizedException("Authentication required")
    access = await resolve_access(clinics, clinic_id, caller)
    if not access.is_staff:
        raise not_found(CLINIC_NOT_FOUND)
    return StaffAccess(access.clinic_id, access.timezone, caller, access.is_admin)


async def resolve_admin(clinics: ClinicRepository, clinic_id: int, caller: Principal | None) -> StaffAccess:
    """A clinic admin of this clinic: staff who are not get 403."""
    access = await resolve_staff(clinics, clinic_id, caller)
    if not access.is_admin:
        raise forbidden("Only a clinic admin may do this")
    return access


def provide_clinics(db: NamedDependency[AsyncConnection[Any]]) -> ClinicRepository:
    return ClinicRepository(db)


@refuses(NO_SUCH_CLINIC)
async def provide_clinic_access(
    clinic_id: FromPath[int],
    clinics: NamedDependency[ClinicRepository],
    maybe_caller: NamedDependency[Principal | None],
) -> ClinicAccess:
    return await resolve_access(clinics, clinic_id, maybe_caller)


@refuses(NOT_LOGGED_IN, NOT_STAFF)
async def provide_staff_access(
    clinic_id: FromPath[int],
    clinics: NamedDependency[ClinicRepository],
    maybe_caller: NamedDependency[Principal | None],
) -> StaffAccess:
    return await resolve_staff(clinics, clinic_id, maybe_caller)


@refuses(NOT_LOGGED_IN, NOT_STAFF, NOT_CLINIC_ADMIN)
async def provide_admin_access(
    clinic_id: FromPath[int],
    clinics: NamedDependency[ClinicRepository],
    maybe_caller: NamedDependency[Principal | None],
) -> StaffAccess:
    return await resolve_admin(clinics, clinic_id, maybe_caller)


CLINIC_DEPENDENCIES = {
    "clinics": Provide(provide_clinics, sync_to_thread=False),
    "clinic_stats": Provide(provide_clinic_stats, sync_to_thread=False),
    "clinic_access": Provide(provide_clinic_access),
    "staff_access": Provide(provide_staff_access),
    "admin_access": Provide(provide_admin_access),
}
