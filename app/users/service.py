"""Rules of the users area that are logic rather than SQL: who may grant what, account creation."""

from __future__ import annotations

from uuid import UUID

from app.auth.principal import Principal
from app.security import Passwords, generate_password
from app.users.repository import UsersRepository
from app.web.errors import conflict, forbidden, invalid_field

MANAGE_USERS = "users:manage"
# Claims the code checks by name (guards of the users, clinic, cashback and auctions areas): renaming one would
# silently switch its feature off for everyone, and deactivating users:manage would leave nobody able to undo it.
BUILT_IN_CLAIMS = frozenset({MANAGE_USERS, "clinics:manage", "purchases:manage", "auctions:sell"})


def ensure_can_grant(actor: Principal, claims: set[str]) -> None:
    """Nobody may grant a claim they do not hold, nor a role whose claims they do not all hold."""
    missing = sorted(claims - actor.claims)
    if missing:
        raise forbidden(f"You cannot grant claims you do not hold: {', '.join(missing)}")


async def ensure_role_grantable(users: UsersRepository, actor: Principal | None, role_id: int) -> None:
    if actor is None or not actor.has(MANAGE_USERS):
        raise forbidden("Setting role_id requires the 'users:manage' claim")
    if not await users.role_exists(role_id):
        raise invalid_field("role_id", f"Unknown role {role_id}")
    ensure_can_grant(actor, await users.role_claim_names(role_id))


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
        raise conflict("An account with this e-mail already exists", key="email")
    return user_id, generated
