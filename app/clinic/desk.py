"""The desk (docs/rules/clinic.md, "Desk"): calls and the status machine of a step, with their live events,
and what ending a session or leaving the staff releases. A step is one stop of a ticket's route: the URL and
the table call it an attendance, the code and the wire a step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from app.clinic.access import StaffAccess
from app.clinic.events import announce_call, queue_changed, rooms_changed
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import StepOut, Transition
from app.clinic.service_ids import check_service_ids
from app.web.errors import AppError, Refusal, conflict, invalid_field, not_found, status_conflict

STEP_STATUS = Refusal(409, "the attendance's status does not allow this (named in `extra`)")
NEEDS_A_ROOM = Refusal(409, "the caller has taken no room")
NOTHING_WAITING = Refusal(204, "nobody is waiting for the caller's services")
HOLDS_ANOTHER = Refusal(409, "the caller holds another ticket, or this one was forwarded to another attendant")


async def _refuse(repo: ClinicRepository, clinic_id: int, step_id: int) -> AppError:
    """Why a conditional UPDATE touched nothing: an unknown step (404) or its current status (409)."""
    status = await repo.step_status(clinic_id, step_id)
    if status is None:
        return not_found("Attendance not found")
    return status_conflict(status)


async def _view(repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    step = await repo.step_view(clinic_id, step_id)
    assert step is not None
    return step


async def _desk_room(repo: ClinicRepository, staff: StaffAccess) -> int:
    room = await repo.room_of_user(staff.clinic_id, staff.caller.id)
    if room is None:
        raise conflict("Take a room before calling", key="room")
    return room.id


async def call_next(
    conn: AsyncConnection[Any], repo: ClinicRepository, staff: StaffAccess, service_ids: list[int] | None
) -> tuple[StepOut, bool] | None:
    """(the called step, False), or (the step the caller already holds, True) re-announced, or None."""
    clinic_id, caller = staff.clinic_id, staff.caller
    room_id = await _desk_room(repo, staff)  # locks the room: one desk action at a time per attendant
    held = await repo.held_step(clinic_id, caller.id)
    if held is not None:
        await announce_call(conn, repo, clinic_id, held, recall=True, by=caller.id)
        return await _view(repo, clinic_id, held), True
    if service_ids:
        await check_service_ids(repo, clinic_id, service_ids, "service_ids")
    else:
        service_ids = await repo.staff_service_ids(clinic_id, caller.id) or await repo.active_service_ids(clinic_id)
    step_id = await repo.call_next(clinic_id, caller.id, room_id, service_ids)
    if step_id is None:
        return None
    await announce_call(conn, repo, clinic_id, step_id, recall=False, by=caller.id)
    return await _view(repo, clinic_id, step_id), False


async def call_step(conn: AsyncConnection[Any], repo: ClinicRepository, staff: StaffAccess, step_id: int) -> StepOut:
    clinic_id, caller = staff.clinic_id, staff.caller
    room_id = await _desk_room(repo, staff)
    held = await repo.held_step(clinic_id, caller.id)
    if held is not None and held != step_id:
        raise conflict("Finish, forward or cancel the ticket you hold before calling another", key="attendant")
    if await repo.call_step(clinic_id, step_id, caller.id, room_id) is None:
        if await repo.step_status(clinic_id, step_id) == "waiting":
            raise conflict("This ticket was forwarded to another attendant", key="attendant_id")
        raise await _refuse(repo, clinic_id, step_id)
    await announce_call(conn, repo, clinic_id, step_id, recall=False, by=caller.id)
    return await _view(repo, clinic_id, step_id)


async def recall(conn: AsyncConnection[Any], repo: ClinicRepository, staff: StaffAccess, step_id: int) -> StepOut:
    clinic_id = staff.clinic_id
    if not await repo.lock_held_step(clinic_id, step_id):
        raise await _refuse(repo, clinic_id, step_id)
    await announce_call(conn, repo, clinic_id, step_id, recall=True, by=staff.caller.id)
    return await _view(repo, clinic_id, step_id)


async def start(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _transition(conn, repo, clinic_id, step_id, repo.start_step, "started")


async def _transition(
    conn: AsyncConnection[Any],
    repo: ClinicRepository,
    clinic_id: int,
    step_id: int,
    transition: Callable[[int, int], Awaitable[object | None]],
    reason: str,
) -> StepOut:
    """A conditional transition of a step's status, announced on the queue feed."""
    if await transition(clinic_id, step_id) is None:
        raise await _refuse(repo, clinic_id, step_id)
    await queue_changed(conn, repo, clinic_id, reason, step_id)
    return await _view(repo, clinic_id, step_id)


async def no_show(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _transition(conn, repo, clinic_id, step_id, repo.no_show_step, "no_show")


async def cancel(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _transition(conn, repo, clinic_id, step_id, repo.cancel_step, "cancelled")


async def reactivate(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _transition(conn, repo, clinic_id, step_id, repo.reactivate_step, "reactivated")


async def _check_forward_target(repo: ClinicRepository, clinic_id: int, data: Transition) -> int:
    if data.service_id is None:
        raise invalid_field("service_id", "Field required to forward")
    if await repo.service_for_ticket(clinic_id, data.service_id) is None:
        raise invalid_field("service_id", "Unknown or inactive service")
    if data.attendant_id is not None and not await repo.is_active_staff(clinic_id, data.attendant_id):
        raise invalid_field("attendant_id", "Not an active staff member of this clinic")
    return data.service_id


async def forward(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int, data: Transition
) -> tuple[StepOut, StepOut]:
    """This step becomes `forwarded`; a new waiting step of the same ticket (same code) opens in the target
    service, offered only to `attendant_id` when given."""
    service_id = await _check_forward_target(repo, clinic_id, data)
    row = await repo.forward_step(clinic_id, step_id, data.notes)
    if row is None:
        raise await _refuse(repo, clinic_id, step_id)
    next_id = await repo.open_next_step(
        clinic_id,
        ticket_id=row.ticket_id,
        service_id=service_id,
        parent_id=step_id,
        priority_rank=row.priority_rank,
        target_attendant_id=data.attendant_id,
    )
    await queue_changed(conn, repo, clinic_id, "finished", step_id)
    await queue_changed(conn, repo, clinic_id, "forwarded", next_id)
    return await _view(repo, clinic_id, step_id), await _view(repo, clinic_id, next_id)


async def finish(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int, data: Transition
) -> tuple[StepOut, StepOut | None]:
    if data.service_id is not None:
        await _check_forward_target(repo, clinic_id, data)
    elif data.attendant_id is not None:
        raise invalid_field("attendant_id", "Forwarding to an attendant needs service_id")
    if await repo.finish_step(clinic_id, step_id, data.notes) is None:
        raise await _refuse(repo, clinic_id, step_id)
    if data.service_id is None:
        await queue_changed(conn, repo, clinic_id, "finished", step_id)
        return await _view(repo, clinic_id, step_id), None
    return await forward(
        conn, repo, clinic_id, step_id, Transition(service_id=data.service_id, attendant_id=data.attendant_id)
    )


async def release_desk(conn: AsyncConnection[Any], user_id: UUID, clinic_id: int | None = None) -> None:
    """The user's sessions ended (every clinic), or they left one clinic's staff: their rooms are free and a
    ticket they called but did not start is back in the line, announced on the queue feed ("Account states")."""
    repo = ClinicRepository(conn)
    freed = await repo.free_rooms_of_user(user_id, clinic_id)  # first: waits for a desk action in progress
    for step in await repo.requeue_called_steps_of_user(user_id, clinic_id):
        await queue_changed(conn, repo, step.clinic_id, "requeued", step.id)
    for room in freed:
        await rooms_changed(conn, repo, room.clinic_id, room.id)


async def release_forwarded_steps(conn: AsyncConnection[Any], user_id: UUID, clinic_id: int | None = None) -> None:
    """The user is gone for good from a clinic's staff (or every clinic's: account closed): tickets forwarded to
    them by name go back to their service's common line instead of waiting for nobody."""
    repo = ClinicRepository(conn)
    for step in await repo.untarget_steps_of_user(user_id, clinic_id):
        await queue_changed(conn, repo, step.clinic_id, "requeued", step.id)


async def leave_staff(conn: AsyncConnection[Any], user_id: UUID, clinic_id: int) -> None:
    """Removed from one clinic's staff: its desk is released and nothing waits for them there any more."""
    await release_desk(conn, user_id, clinic_id)
    await release_forwarded_steps(conn, user_id, clinic_id)


async def close_account(conn: AsyncConnection[Any], user_id: UUID, deleting: bool) -> None:
    """Account hook: a deactivated or deleted account is nobody's attendant any more, in any clinic."""
    await release_forwarded_steps(conn, user_id)
