"""The desk (docs/rules/clinic.md, "Desk", "Statuses"): staff call the next patient or a given one and move each
step through its statuses. A step is one stop of a ticket's route; the URL calls it an attendance."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.clinic import desk
from app.clinic.access import CLINIC_DEPENDENCIES, StaffAccess
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import CallNext, Forwarded, StepOut, Transition
from app.web.errors import refuses
from app.web.responses import AppResponse

STEP = "/{clinic_id:int}/attendances/{step_id:int}"


class DeskController(Controller):
    path = "/api/v1/clinics"
    tags = ["clinic"]
    dependencies = CLINIC_DEPENDENCIES

    @post("/{clinic_id:int}/desk/call-next", status_code=HTTP_200_OK, summary="Call the next patient (staff)")
    @refuses(desk.NOTHING_WAITING, desk.NEEDS_A_ROOM)
    async def call_next(
        self,
        data: JSONBody[CallNext],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[StepOut]:
        called = await desk.call_next(db, clinics, staff_access, data.service_ids)
        if called is None:
            return Response(None, status_code=HTTP_204_NO_CONTENT)
        step, recalled = called
        return AppResponse(step, headers={"X-Recall": "true" if recalled else "false"})

    @post(f"{STEP}/call", status_code=HTTP_200_OK, summary="Call a given ticket")
    @refuses(desk.NEEDS_A_ROOM, desk.HOLDS_ANOTHER, desk.STEP_STATUS)
    async def call_step(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        return await desk.call_step(db, clinics, staff_access, step_id)

    @post(f"{STEP}/recall", status_code=HTTP_200_OK, summary="Announce again")
    @refuses(desk.STEP_STATUS)
    async def recall(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        return await desk.recall(db, clinics, staff_access, step_id)

    @post(f"{STEP}/start", status_code=HTTP_200_OK, summary="Start serving")
    @refuses(desk.STEP_STATUS)
    async def start(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        return await desk.start(db, clinics, staff_access.clinic_id, step_id)

    @post(f"{STEP}/no-show", status_code=HTTP_200_OK, summary="Did not come")
    @refuses(desk.STEP_STATUS)
    async def no_show(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        return await desk.no_show(db, clinics, staff_access.clinic_id, step_id)

    @post(f"{STEP}/finish", status_code=HTTP_200_OK, summary="Finish (and optionally forward)")
    @refuses(desk.STEP_STATUS)
    async def finish(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
        data: JSONBody[Transition | None] = None,
    ) -> Forwarded:
        clinic_id = staff_access.clinic_id
        step, next_step = await desk.finish(db, clinics, clinic_id, step_id, data or Transition())
        return Forwarded(step=step, next_step=next_step)

    @post(f"{STEP}/forward", status_code=HTTP_200_OK, summary="Forward to another service (same code)")
    @refuses(desk.STEP_STATUS)
    async def forward(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
        data: JSONBody[Transition | None] = None,
    ) -> Forwarded:
        clinic_id = staff_access.clinic_id
        step, next_step = await desk.forward(db, clinics, clinic_id, step_id, data or Transition())
        return Forwarded(step=step, next_step=next_step)

    @post(f"{STEP}/cancel", status_code=HTTP_200_OK, summary="Cancel")
    @refuses(desk.STEP_STATUS)
    async def cancel(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        return await desk.cancel(db, clinics, staff_access.clinic_id, step_id)

    @post(f"{STEP}/reactivate", status_code=HTTP_200_OK, summary="Back in line")
    @refuses(desk.STEP_STATUS)
    async def reactivate(
        self,
        step_id: FromPath[int],
        staff_access: NamedDependency[StaffAccess],
        clinics: NamedDependency[ClinicRepository],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> StepOut:
        return await desk.reactivate(db, clinics, staff_access.clinic_id, step_id)
