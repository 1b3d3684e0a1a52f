"""Staff invitations and their activation (docs/rules/clinic.md, "Staff and invitations"): an e-mailed code
that works once, for 24 hours."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from app.areas import AccountHooks
from app.audit import AuditLog
from app.auth.codes import code_refused
from app.auth.repository import AuthRepository
from app.auth.service import end_sessions, open_session
from app.clinic.repository import ClinicRepository
from app.clinic.schemas import Activate, Activated, ClinicOut, InvitationResult
from app.config import Settings
from app.mail.outbox import queue_mail
from app.security import Passwords, code_hash, new_numeric_code
from app.users.repository import UsersRepository
from app.web.errors import Refusal, conflict, not_found

INVITATION_TTL = 24 * 3600
ACTIVATION_MAX_ATTEMPTS = 5
INVITE_PURPOSE = "clinic-invite"


def _invitation_body(clinic: ClinicOut, code: str) -> str:
    return (
        f"You are invited to the staff of {clinic.name}.\n\n"
        f"Your activation code is {code}. It works once, for 24 hours.\n"
        "Activate your account with it (POST /api/v1/auth/activate with your e-mail, the code, a password and "
        "your name); you will be logged in.\n\nIf you did not expect this message, ignore it."
    )


INVITE_REFUSED = Refusal(409, "a concurrent request is changing the account of this e-mail")


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
    account = await UsersRepository(conn).user_by_email(email)
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
            again = await UsersRepository(conn).user_by_email(email)
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
    account = await UsersRepository(conn).user_by_email(invitation.email)
    assert account is not None
    return InvitationResult(status="invited", email=invitation.email, user_id=account.id, invitation=invitation)


async def accept(
    conn: AsyncConnection[Any],
    repo: ClinicRepository,
    passwords: Passwords,
    settings: Settings,
    account_hooks: AccountHooks,
    data: Activate,
) -> tuple[Activated, str] | None:
    """Activation with a code: the account gets its password and name, joins the clinic's staff and is logged in
    (the answer and the new session's token). None when the code is wrong, expired or used up: the attempt
    counted against the e-mail's invitations stays, so the caller answers without raising."""
    attempts = await repo.count_activation_attempt(
        data.email, code_hash(settings.secret_key, INVITE_PURPOSE, data.code), ACTIVATION_MAX_ATTEMPTS
    )
    invitation = next((a for a in attempts if a.matched), None)
    if invitation is None:
        return None
    users = UsersRepository(conn)
    name = f"{data.first_name} {data.last_name}"[:100]
    previous = await users.activate_account(invitation.user_id, await passwords.hash(data.password), name)
    if previous is None:  # raised: the invitation stays pending, for when authority re-activates the account
        raise code_refused(await users.account_state(invitation.user_id))
    if previous == "invited":
        await AuditLog(users.conn).record(
            invitation.user_id, "user.activate", f"user:{invitation.user_id}", by="invitation"
        )
    await end_sessions(conn, account_hooks, user_id=invitation.user_id)  # the password may have changed
    await repo.add_staff(
        invitation.clinic_id, invitation.user_id, is_admin=invitation.is_admin, specialty=data.specialty
    )
    if invitation.service_ids:
        await repo.set_staff_services(invitation.clinic_id, invitation.user_id, invitation.service_ids)
    token, _ = await open_session(AuthRepository(conn), settings, invitation.user_id, "cookie")
    activated = Activated(message="account activated", user_id=invitation.user_id, clinic_ids=[invitation.clinic_id])
    return activated, token
