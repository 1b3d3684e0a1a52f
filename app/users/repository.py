"""Statements of sql/users.sql."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg.errors import CheckViolation

from app.db.sql import Repository
from app.users.schemas import ClaimOut, RoleOut, UserOut, UserRole

# The name the trigger users_keep_an_administrador (migration 0010) gives its refusal.
LAST_ADMINISTRATOR = "users_last_administrator"


class LastAdministrator(Exception):
    """The database refused to demote, deactivate or delete the last active Administrador."""


@contextmanager
def _keeping_an_administrador() -> Iterator[None]:
    try:
        yield
    except CheckViolation as exc:
        if exc.diag.constraint_name == LAST_ADMINISTRATOR:
            raise LastAdministrator from None
        raise


class LockedAccount(msgspec.Struct):
    id: UUID
    state: str
    role_id: int


class AccountByEmail(msgspec.Struct):
    id: UUID
    name: str | None
    state: str
    active: bool
    activated: bool  # it has a password


class UsersRepository(Repository):
    area = "users"

    async def create_user(
        self,
        *,
        email: str,
        password_hash: str | None,
        name: str | None = None,
        role_id: int | None = None,
        bio: str | None = None,
        state: str = "active",
    ) -> UUID | None:
        """The new user's id, or None when the e-mail is taken."""
        return await self.fetch_value(
            "create_user", name=name, email=email, password_hash=password_hash, role_id=role_id, bio=bio, state=state
        )

    async def user_view(self, user_id: UUID) -> UserOut | None:
        return await self.fetch_one("user_view", UserOut, user_id=user_id)

    async def list_users(
        self, *, role_id: int | None, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[UserOut]:
        after_created_at, after_id = after or (None, None)
        if role_id is None:  # one statement per filter shape (tests/test_sql_plans.py)
            return await self.fetch_all(
                "list_users", UserOut, after_created_at=after_created_at, after_id=after_id, limit=limit
            )
        return await self.fetch_all(
            "list_users_by_role",
            UserOut,
            role_id=role_id,
            after_created_at=after_created_at,
            after_id=after_id,
            limit=limit,
        )

    async def user_role(self, user_id: UUID) -> UserRole | None:
        return await self.fetch_one("user_role", UserRole, user_id=user_id)

    async def password_hash(self, user_id: UUID) -> str | None:
        return await self.fetch_value("user_password_hash", user_id=user_id)

    async def update_profile(
        self, user_id: UUID, *, name: str | None, bio: str | None, password_hash: str | None
    ) -> None:
        await self.execute("update_profile", user_id=user_id, name=name, bio=bio, password_hash=password_hash)

    async def lock_account(self, user_id: UUID) -> LockedAccount | None:
        return await self.fetch_one("lock_account", LockedAccount, user_id=user_id)

    async def assigned_claims(self, user_id: UUID) -> set[str]:
        return set(await self.fetch_value("assigned_claims", user_id=user_id) or ())

    async def set_role(self, user_id: UUID, role_id: int) -> bool:
        """False when the role was already that one; LastAdministrator when the database refuses."""
        with _keeping_an_administrador():
            return await self.fetch_value("set_role", user_id=user_id, role_id=role_id) is not None

    async def change_state(self, user_id: UUID, state: str, *, from_states: tuple[str, ...]) -> bool:
        """False when the account is in none of `from_states`; LastAdministrator when the database refuses."""
        with _keeping_an_administrador():
            changed = await self.fetch_value(
                "change_state", user_id=user_id, state=state, from_states=list(from_states)
            )
        return changed is not None

    async def anonymize_user(self, user_id: UUID) -> bool:
        """False when the account was already deleted; LastAdministrator when the database refuses."""
        with _keeping_an_administrador():
            return await self.fetch_value("anonymize_user", user_id=user_id) is not None

    async def account_state(self, user_id: UUID) -> str | None:
        return await self.fetch_value("account_state", user_id=user_id)

    async def user_by_email(self, email: str) -> AccountByEmail | None:
        return await self.fetch_one("user_by_email", AccountByEmail, email=email)

    async def activate_account(self, user_id: UUID, password_hash: str, name: str) -> str | None:
        """An invitation accepted: the state the account was in ('invited' or 'active'); None when a code may not
        activate it."""
        return await self.fetch_value("activate_account", user_id=user_id, password_hash=password_hash, name=name)

    async def role_exists(self, role_id: int) -> bool:
        return bool(await self.fetch_value("role_exists", role_id=role_id))

    async def role_claim_names(self, role_id: int) -> set[str]:
        return set(await self.fetch_value("role_claim_names", role_id=role_id) or ())

    async def list_roles(self, *, after_id: int | None, limit: int) -> list[RoleOut]:
        return await self.fetch_all("list_roles", RoleOut, after_id=after_id, limit=limit)

    async def create_role(self, description: str, claim_ids: list[int]) -> RoleOut | None:
        role_id = await self.fetch_value("create_role", description=description)
        if role_id is None:
            return None
        if claim_ids:
            await self.execute("add_role_claims", role_id=role_id, claim_ids=claim_ids)
        return await self.fetch_one("role_view", RoleOut, role_id=role_id)

    async def list_claims(self, *, after_id: int | None, limit: int) -> list[ClaimOut]:
        return await self.fetch_all("list_claims", ClaimOut, after_id=after_id, limit=limit)

    async def claims_by_ids(self, claim_ids: list[int]) -> list[ClaimOut]:
        return await self.fetch_all("claims_by_ids", ClaimOut, claim_ids=claim_ids)

    async def claim_view(self, claim_id: int) -> ClaimOut | None:
        return await self.fetch_one("claim_view", ClaimOut, claim_id=claim_id)

    async def create_claim(self, description: str, active: bool) -> ClaimOut | None:
        return await self.fetch_one("create_claim", ClaimOut, description=description, active=active)

    async def update_claim(self, claim_id: int, description: str | None, active: bool | None) -> ClaimOut | None:
        return await self.fetch_one("update_claim", ClaimOut, claim_id=claim_id, description=description, active=active)

    async def grant_user_claim(self, user_id: UUID, claim_id: int) -> bool:
        return await self.execute("grant_user_claim", user_id=user_id, claim_id=claim_id) > 0

    async def revoke_user_claim(self, user_id: UUID, claim_id: int) -> bool:
        return await self.execute("revoke_user_claim", user_id=user_id, claim_id=claim_id) > 0

    async def has_administrator(self) -> bool:
        return bool(await self.fetch_value("has_administrator"))

    async def restore_administrator(self, email: str, password_hash: str) -> UUID | None:
        return await self.fetch_value("restore_administrator", email=email, password_hash=password_hash)

    async def export_user(self, user_id: UUID) -> dict[str, Any]:
        return await self.fetch_value("export_user", user_id=user_id)
