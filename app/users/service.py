"""Rules of the users area that are logic rather than SQL: who may grant what, account creation, and the
transitions of "Account states" (docs/rules/users.md) with what follows from each."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from app.areas import AccountHooks
from app.auth.claims import MANAGE_USERS
from app.auth.principal import Principal
from app.auth.service import close_account
from app.security import Passwords, generate_password
from app.users.repository import UsersRepository
from app.web.errors import Refusal, conflict, forbidden, invalid_field

# The role the first migration creates with id 1: the Administrador, whatever its description says.
ADMINISTRADOR = 1
INVITED_ADDRESS = (
    "This address was invited and has no password yet: ask for a password reset "
    "(POST /api/v1/auth/password-reset) to set one and activate the account"
)


def ensure_can_grant(actor: Principal, claims: set[str]) -> None:
    """Nobody may grant a claim they do not hold, nor a role whose claims they do not all hold."""
    missing = sorted(claims - actor.claims)
    if missing:
        raise forbidden(f"You cannot grant claims you do not hold: {', '.join(missing)}")


async def ensure_role_grantable(users: UsersRepository, actor: Principal | None, role_id: int) -> None:
    if actor is None or not actor.has(MANAGE_USERS):
        raise forbidden(f"Setting role_id requires the {MANAGE_USERS!r} claim")
    if not await users.role_exists(role_id):
        raise invalid_field("role_id", f"Unknown role {role_id}")
    ensure_can_grant(actor, await users.role_claim_names(role_id))


EMAIL_TAKEN = Refusal(409, "an account with this e-mail already exists (or is invited)")
ROLE_NOT_GRANTABLE = Refusal(403, "role_id without the users:manage claim, or claims the caller does not hold")
# What the areas' account hooks refuse when an account is closed (AccountHooks, e.g. an open auction it leads).
WRONG_PASSWORD = Refusal(403, "the password is not correct")
ACCOUNT_IN_USE = Refusal(409, "the account leads an open auction, or sells one with bids")


async def create_account(
    users: UsersRepository,
    passwords: Passwords,
    *,
    email: str,
    password: str | None,
    name: str | None = None,
    role_id: int | None = None,
    bio: str | None = None,
) -> tuple[UUID, str | None]:
    """Creates the user; returns its id and the generated password when none was given (shown once)."""
    generated = None
    if not password:
        password = generated = generate_password()
    user_id = await users.create_user(
        email=email, password_hash=await passwords.hash(password), name=name, role_id=role_id, bio=bio
    )
    if user_id is None:
        # An invitation never takes the address from its owner: the reset code proves it and activates the account.
        taken = await users.user_by_email(email)
        if taken is not None and taken.state == "invited":
            raise conflict(INVITED_ADDRESS, key="email")
        raise conflict("An account with this e-mail already exists", key="email")
    return user_id, generated


# Transitions. Each runs in the caller's transaction and returns False when the account was not in a state it
# leaves from; what follows from a transition (sessions ended, ...) is done here, so every path that makes it
# does the same. set_role, change_state and anonymize_user raise LastAdministrator when the database refuses.


async def deactivate_account(conn: AsyncConnection[Any], hooks: AccountHooks, user_id: UUID) -> bool:
    """active -> deactivated, by authority: the account's sessions end with it, and every area lets go of it
    (bids withdrawn, bidless auctions cancelled, desks freed: app.auth.service.close_account)."""
    if not await UsersRepository(conn).change_state(user_id, "deactivated", from_states=("active",)):
        return False
    await close_account(conn, hooks, user_id, deleting=False)
    return True


async def reactivate_account(conn: AsyncConnection[Any], user_id: UUID) -> bool:
    """deactivated -> active, by authority only: never by a code, link or token."""
    return await UsersRepository(conn).change_state(user_id, "active", from_states=("deactivated",))


async def delete_account(conn: AsyncConnection[Any], hooks: AccountHooks, user_id: UUID) -> bool:
    """-> deleted, by the owner (with its password) or by authority: sessions ended and every area consulted
    first (409 while the account leads an auction or sells one with bids), then personal data anonymised."""
    await close_account(conn, hooks, user_id, deleting=True)
    return await UsersRepository(conn).anonymize_user(user_id)
