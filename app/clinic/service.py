"""Rules of the clinic queue that take more than one statement: who may do what, issuing tickets, the desk's
calls and transitions with their live events, invitations and activation."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from psycopg import AsyncConnection

from app.auth.principal import Principal
from app.clinic.cache import TOPIC as SERVICES_CACHE_TOPIC
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import (
    Access,
    ClinicOut,
    CreateTicket,
    InvitationResult,
    StepOut,
    TicketIssued,
    Transition,
)
from app.config import Settings
from app.mail.outbox import queue_mail
from app.realtime.repository import publish
from app.security import code_hash, new_numeric_code, token_hash
from app.users.repository import UsersRepository
from app.web.client import client_address
from app.web.errors import AppError, conflict, forbidden, invalid_field, not_found, status_conflict, unprocessable

MANAGE_CLINICS = "clinics:manage"
INVITATION_TTL = 24 * 3600
ACTIVATION_MAX_ATTEMPTS = 5
INVITE_PURPOSE = "clinic-invite"
PRIORITY_RANK = {"emergency": 3, "preferential": 2, "normal": 1}
KIOSK_COOKIE = "kiosk"
KIOSK_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def display_topic(clinic_id: int) -> str:
    return f"clinic:{clinic_id}:display"


def queue_topic(clinic_id: int) -> str:
    return f"clinic:{clinic_id}:queue"


# Who may do what ------------------------------------------------------------------------------------------------


async def clinic_access(repo: ClinicRepository, clinic_id: int, caller: Principal | None) -> Access:
    """The caller's rights in the clinic (404 when the clinic does not exist). `clinics:manage` is clinic admin
    everywhere; a clinic admin has every staff right."""
    access = await repo.caller_access(clinic_id, caller.id if caller else None)
    if access is None:
        raise not_found("Clinic not found")
    if caller is not None and caller.has(MANAGE_CLINICS):
        access.is_admin = True
    if access.is_admin:
        access.is_staff = True
    return access


async def require_staff(repo: ClinicRepository, clinic_id: int, caller: Principal | None) -> Access:
    """Staff of this clinic; anyone else gets the 404 of an unknown clinic (401 when not logged in)."""
    if caller is None:
        raise NotAuthorizedException("Authentication required")
    access = await clinic_access(repo, clinic_id, caller)
    if not access.is_staff:
        raise not_found("Clinic not found")
    return access


async def require_admin(repo: ClinicRepository, clinic_id: int, caller: Principal | None) -> Access:
    access = await require_staff(repo, clinic_id, caller)
    if not access.is_admin:
        raise forbidden("Only a clinic admin may do this")
    return access


async def check_service_ids(repo: ClinicRepository, clinic_id: int, service_ids: list[int], key: str) -> None:
    unknown = await repo.unknown_service_ids(clinic_id, sorted(set(service_ids)))
    if unknown:
        raise invalid_field(key, f"Unknown services: {', '.join(map(str, unknown))}")


async def services_changed(conn: AsyncConnection[Any], clinic_id: int) -> None:
    """In the transaction that changed a clinic's services: every process drops its cached kiosk list."""
    await publish(conn, SERVICES_CACHE_TOPIC, {"clinic_id": clinic_id})


# Live events ----------------------------------------------------------------------------------------------------


async def announce_call(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int, *, recall: bool
) -> None:
    """A call or recall: the display event (its seq is what the TV resumes from) and the `calls` row."""
    announcement = await repo.call_announcement(step_id)
    payload = {"type": "ticket.called", **msgspec.to_builtins(announcement), "recall": recall}
    seq = await publish(conn, display_topic(clinic_id), payload)
    await repo.record_call(step_id, recall, seq)


async def queue_changed(conn: AsyncConnection[Any], clinic_id: int, reason: str, step_id: int, service_id: int) -> None:
    await publish(
        conn,
        queue_topic(clinic_id),
        {"type": "queue.changed", "reason": reason, "step_id": step_id, "service_id": service_id},
    )


# Tickets ----------------------------------------------------------------------------------------------------------


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def ticket_origin(
    repo: ClinicRepository, access: Access, connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
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


async def issue_ticket(
    conn: AsyncConnection[Any],
    repo: ClinicRepository,
    access: Access,
    data: CreateTicket,
    caller: Principal | None,
    *,
    origin: str,
    web_share: float,
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
        issued_by=caller.id if caller is not None and reception else None,
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
    await queue_changed(conn, access.clinic_id, "issued", issued.step_id, service.id)
    return TicketIssued(
        public_token=issued.public_token,
        code=issued.code,
        service=service.name,
        service_id=service.id,
        priority=issued.priority,
        issued_at=issued.issued_at,
        waiting_ahead=ahead,
    )


# The desk ---------------------------------------------------------------------------------------------------------


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


async def _desk_room(repo: ClinicRepository, clinic_id: int, caller: Principal) -> int:
    room = await repo.room_of_user(clinic_id, caller.id)
    if room is None:
        raise conflict("Take a room before calling", key="room")
    return room.id


async def call_next(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, caller: Principal, service_ids: list[int] | None
) -> tuple[StepOut, bool] | None:
    """(the called step, False), or (the step the caller already holds, True) re-announced, or None."""
    room_id = await _desk_room(repo, clinic_id, caller)  # locks the room: one desk action at a time per attendant
    held = await repo.held_step(clinic_id, caller.id)
    if held is not None:
        await announce_call(conn, repo, clinic_id, held, recall=True)
        return await _view(repo, clinic_id, held), True
    if service_ids:
        await check_service_ids(repo, clinic_id, service_ids, "service_ids")
    else:
        service_ids = await repo.staff_service_ids(clinic_id, caller.id) or await repo.active_service_ids(clinic_id)
    step_id = await repo.call_next(clinic_id, caller.id, room_id, service_ids)
    if step_id is None:
        return None
    step = await _view(repo, clinic_id, step_id)
    await announce_call(conn, repo, clinic_id, step_id, recall=False)
    await queue_changed(conn, clinic_id, "called", step_id, step.service_id)
    return step, False


async def call_step(
    conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, caller: Principal, step_id: int
) -> StepOut:
    room_id = await _desk_room(repo, clinic_id, caller)
    held = await repo.held_step(clinic_id, caller.id)
    if held is not None and held != step_id:
        raise conflict("Finish, forward or cancel the ticket you hold before calling another", key="attendant")
    if await repo.call_step(clinic_id, step_id, caller.id, room_id) is None:
        if await repo.step_status(clinic_id, step_id) == "waiting":
            raise conflict("This ticket was forwarded to another attendant", key="attendant_id")
        raise await _refuse(repo, clinic_id, step_id)
    step = await _view(repo, clinic_id, step_id)
    await announce_call(conn, repo, clinic_id, step_id, recall=False)
    await queue_changed(conn, clinic_id, "called", step_id, step.service_id)
    return step


async def recall(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    if not await repo.lock_held_step(clinic_id, step_id):
        raise await _refuse(repo, clinic_id, step_id)
    await announce_call(conn, repo, clinic_id, step_id, recall=True)
    return await _view(repo, clinic_id, step_id)


async def start(repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    if await repo.start_step(clinic_id, step_id) is None:
        raise await _refuse(repo, clinic_id, step_id)
    return await _view(repo, clinic_id, step_id)


async def _change_waiting_list(
    conn: AsyncConnection[Any],
    repo: ClinicRepository,
    clinic_id: int,
    step_id: int,
    transition: Callable[[int, int], Awaitable[object | None]],
    reason: str,
) -> StepOut:
    """A conditional transition that changes who is waiting, announced on the queue feed."""
    if await transition(clinic_id, step_id) is None:
        raise await _refuse(repo, clinic_id, step_id)
    step = await _view(repo, clinic_id, step_id)
    await queue_changed(conn, clinic_id, reason, step_id, step.service_id)
    return step


async def no_show(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _change_waiting_list(conn, repo, clinic_id, step_id, repo.no_show_step, "no_show")


async def cancel(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _change_waiting_list(conn, repo, clinic_id, step_id, repo.cancel_step, "cancelled")


async def reactivate(conn: AsyncConnection[Any], repo: ClinicRepository, clinic_id: int, step_id: int) -> StepOut:
    return await _change_waiting_list(conn, repo, clinic_id, step_id, repo.reactivate_step, "reactivated")


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
        ticket_id=row.ticket_id,
        clinic_id=clinic_id,
        service_id=service_id,
        parent_id=step_id,
        priority_rank=row.priority_rank,
        target_attendant_id=data.attendant_id,
    )
    await queue_changed(conn, clinic_id, "forwarded", next_id, service_id)
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
        return await _view(repo, clinic_id, step_id), None
    return await forward(
        conn, repo, clinic_id, step_id, Transition(service_id=data.service_id, attendant_id=data.attendant_id)
    )


async def release_desk(conn: AsyncConnection[Any], user_id: UUID, clinic_id: int | None = None) -> None:
    """The user's sessions ended (every clinic), or they left one clinic's staff: their rooms are free and a
    ticket they called but did not start is back in the line, announced on the queue feed ("Account states")."""
    repo = ClinicRepository(conn)
    await repo.free_rooms_of_user(user_id, clinic_id)  # first: waits for a desk action in progress
    for step in await repo.requeue_called_steps_of_user(user_id, clinic_id):
        await queue_changed(conn, step.clinic_id, "requeued", step.id, step.service_id)


async def release_forwarded_steps(conn: AsyncConnection[Any], user_id: UUID, clinic_id: int | None = None) -> None:
    """The user is gone for good from a clinic's staff (or every clinic's: account closed): tickets forwarded to
    them by name go back to their service's common line instead of waiting for nobody."""
    for step in await ClinicRepository(conn).untarget_steps_of_user(user_id, clinic_id):
        await queue_changed(conn, step.clinic_id, "requeued", step.id, step.service_id)


async def leave_staff(conn: AsyncConnection[Any], user_id: UUID, clinic_id: int) -> None:
    """Removed from one clinic's staff: its desk is released and nothing waits for them there any more."""
    await release_desk(conn, user_id, clinic_id)
    await release_forwarded_steps(conn, user_id, clinic_id)


async def close_account(conn: AsyncConnection[Any], user_id: UUID, deleting: bool) -> None:
    """Account hook: a deactivated or deleted account is nobody's attendant any more, in any clinic."""
    await release_forwarded_steps(conn, user_id)


# Invitations and activation ---------------------------------------------------------------------------------------


def _invitation_body(clinic: ClinicOut, code: str) -> str:
    return (
        f"You are invited to the staff of {clinic.name}.\n\n"
        f"Your activation code is {code}. It works once, for 24 hours.\n"
        "Activate your account with it (POST /api/v1/auth/activate with your e-mail, the code, a password and "
        "your name); you will be logged in.\n\nIf you did not expect this message, ignore it."
    )


async def invite(
    conn: AsyncConnection[Any],
    settings: Settings,
    repo: ClinicRepository,
    *,
    clinic: ClinicOut,
    email: str,
    name: str | None,
    is_admin: bool,
    service_ids: list[int],
    created_by: UUID | None,
) -> InvitationResult:
    """E-mail an activation code; an account that already has a password is added as staff and notified."""
    account = await repo.account_by_email(email)
    if account is not None and account.activated:
        await repo.add_staff(clinic.id, account.id, is_admin=is_admin, specialty=None)
        if service_ids:
            await repo.set_staff_services(clinic.id, account.id, service_ids)
        await queue_mail(
            conn,
            to=email,
            subject=f"You were added to the staff of {clinic.name}",
            body=f"You were added to the staff of {clinic.name}"
            + (" as an administrator" if is_admin else "")
            + ". Log in with your usual password.",
        )
        return InvitationResult(status="added", email=email, user_id=account.id)
    if account is not None:
        user_id = account.id
    else:
        created = await UsersRepository(conn).create_user(email=email, password_hash=None, name=name, state="invited")
        if created is None:  # created by a concurrent request meanwhile
            again = await repo.account_by_email(email)
            if again is None:
                raise conflict("The account is being changed; try again", key="email")
            created = again.id
        user_id = created
    code = new_numeric_code(8)
    invitation = await repo.upsert_invitation(
        clinic.id,
        user_id,
        email=email,
        name=name,
        is_admin=is_admin,
        service_ids=service_ids,
        code_hash=code_hash(settings.secret_key, INVITE_PURPOSE, code),
        ttl_seconds=INVITATION_TTL,
        created_by=created_by,
    )
    await queue_mail(conn, to=email, subject=f"Your invitation to {clinic.name}", body=_invitation_body(clinic, code))
    return InvitationResult(status="invited", email=email, user_id=user_id, invitation=invitation)


async def resend_invitation(
    conn: AsyncConnection[Any], settings: Settings, repo: ClinicRepository, clinic: ClinicOut, invitation_id: int
) -> InvitationResult:
    code = new_numeric_code(8)
    invitation = await repo.renew_invitation_code(
        clinic.id, invitation_id, code_hash(settings.secret_key, INVITE_PURPOSE, code), INVITATION_TTL
    )
    if invitation is None:
        raise not_found("Invitation not found")
    await queue_mail(
        conn, to=invitation.email, subject=f"Your invitation to {clinic.name}", body=_invitation_body(clinic, code)
    )
    account = await repo.account_by_email(invitation.email)
    assert account is not None
    return InvitationResult(status="invited", email=invitation.email, user_id=account.id, invitation=invitation)
