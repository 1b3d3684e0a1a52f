"""Changes to accounts and claims by someone with authority over them (docs/rules/users.md, "Authority over other
accounts").

Changing a user's role, claims or state needs users:manage and every claim the target is assigned now and after
the change (through its role or its own grants, active or not), compared with the claims the actor is assigned:
an inactive claim still marks an account as out of reach of whoever lacks it. The last active Administrador is
kept by the database (trigger of migration 0010), which this module turns into a 409. Every change is audited in
the request's transaction; every refused attempt on its own short connection, committed at once, so that the
request's rollback does not erase it (as rate limits are counted).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.datastructures import State
from litestar.di import NamedDependency
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.areas import AccountHooks
from app.audit import AuditLog
from app.auth.claims import BUILT_IN_CLAIMS, MANAGE_USERS
from app.auth.principal import Principal
from app.db.pool import autocommit_connection
from app.users.repository import LastAdministrator, LockedAccount, UsersRepository
from app.users.schemas import ClaimOut
from app.users.service import (
    deactivate_account,
    delete_account,
    reactivate_account,
)
from app.web.errors import (
    AppError,
    Refusal,
    conflict,
    forbidden,
    invalid_field,
    not_found,
    state_conflict,
    unprocessable,
)

LAST_ADMINISTRATOR_DETAIL = (
    "The last active Administrador cannot be demoted, deactivated or deleted: make another one Administrador first"
)


# What `Authority` refuses, declared by the routes that use it.
NO_AUTHORITY = Refusal(403, "the caller lacks users:manage, or a claim the account holds or would hold")
STATE_REFUSED = Refusal(409, "the account's state does not allow this (named in `extra`)")
NOT_OWNER = Refusal(403, "changing another account's name, bio or password")
LAST_ADMIN = Refusal(409, "the change would leave no active administrator")
CLAIM_TAKEN = Refusal(409, "a claim with this description already exists")
CLAIM_REFUSED = Refusal(403, "the caller does not hold the claim, or switches a built-in one without all four")
CLAIM_BUILT_IN = Refusal(422, "renaming a built-in claim, or deactivating users:manage")


class Authority:
    """One request's actor changing accounts or claims, on the request's connection."""

    def __init__(
        self,
        conn: AsyncConnection[Any],
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        actor: Principal,
        hooks: AccountHooks,
    ) -> None:
        self.conn = conn
        self.hooks = hooks
        self.users = UsersRepository(conn)
        self.audit = AuditLog(conn)
        self.pool = pool
        self.actor = actor

    async def refuse(self, action: str, subject: str, error: AppError, **detail: Any) -> AppError:
        """Audits the refused attempt (committed whatever happens to the request) and returns the error to raise."""
        async with autocommit_connection(self.pool) as conn:
            await AuditLog(conn).record(self.actor.id, f"{action}.refused", subject, reason=error.detail, **detail)
        return error

    async def last_administrator(self, action: str, subject: str, **detail: Any) -> AppError:
        return await self.refuse(action, subject, conflict(LAST_ADMINISTRATOR_DETAIL), **detail)

    async def require(self, action: str, subject: str, claims: set[str], **detail: Any) -> None:
        """users:manage, and every claim of `claims` (the target's, now and after the change) assigned to the actor."""
        if not self.actor.has(MANAGE_USERS):
            raise await self.refuse(action, subject, forbidden(f"Requires the {MANAGE_USERS!r} claim"), **detail)
        missing = sorted(claims - await self.users.assigned_claims(self.actor.id))
        if missing:
            error = forbidden(f"The account holds or would hold claims you do not hold: {', '.join(missing)}")
            raise await self.refuse(action, subject, error, **detail)

    async def _lock(self, user_id: UUID) -> LockedAccount:
        target = await self.users.lock_account(user_id)
        if target is None:
            raise not_found("User not found")
        return target

    async def change_role_and_state(self, user_id: UUID, *, role_id: int | None, active: bool | None) -> None:
        """PATCH /users/{id} with role_id and/or active: active <-> deactivated, nothing else (an invited account is
        activated by its owner's code, a deleted one stays deleted)."""
        subject = f"user:{user_id}"
        detail = {k: v for k, v in (("role_id", role_id), ("active", active)) if v is not None}
        if not self.actor.has(MANAGE_USERS):
            error = forbidden(f"Changing role_id or active requires the {MANAGE_USERS!r} claim")
            raise await self.refuse("user.update", subject, error, **detail)
        target = await self._lock(user_id)
        after: set[str] = set()
        if role_id is not None:
            if not await self.users.role_exists(role_id):
                raise invalid_field("role_id", f"Unknown role {role_id}")
            after = await self.users.role_claim_names(role_id)
        await self.require("user.update", subject, await self.users.assigned_claims(user_id) | after, **detail)
        moves = active is not None and active != (target.state == "active")
        if moves and target.state not in ("active", "deactivated"):
            raise await self.refuse("user.update", subject, state_conflict(target.state), **detail)
        try:
            if role_id is not None and await self.users.set_role(user_id, role_id):
                await self.audit.record(self.actor.id, "role.grant", subject, role_id=role_id)
            if moves:
                if active:
                    await reactivate_account(self.conn, user_id)
                else:
                    await deactivate_account(self.conn, self.hooks, user_id)
                await self.audit.record(self.actor.id, "user.activate" if active else "user.deactivate", subject)
        except LastAdministrator:
            raise await self.last_administrator("user.update", subject, **detail) from None

    async def delete(self, user_id: UUID) -> None:
        """DELETE /users/{id}: -> deleted, by authority."""
        subject = f"user:{user_id}"
        target = await self._lock(user_id)
        await self.require("user.delete", subject, await self.users.assigned_claims(user_id))
        if target.state == "deleted":
            raise await self.refuse("user.delete", subject, state_conflict(target.state))
        try:
            await delete_account(self.conn, self.hooks, user_id)
        except LastAdministrator:
            raise await self.last_administrator("user.delete", subject) from None
        await self.audit.record(self.actor.id, "user.delete", subject)

    async def change_claim(self, user_id: UUID, claim: ClaimOut, *, grant: bool) -> None:
        """PUT/DELETE /users/{id}/claims/{claim_id}, idempotent: audited only when something changed."""
        action = "claim.grant" if grant else "claim.revoke"
        subject = f"user:{user_id}"
        await self._lock(user_id)
        now = await self.users.assigned_claims(user_id)
        await self.require(action, subject, now | {claim.description}, claim=claim.description)
        change = self.users.grant_user_claim if grant else self.users.revoke_user_claim
        if await change(user_id, claim.id):
            await self.audit.record(self.actor.id, action, subject, claim=claim.description)

    async def update_claim(self, current: ClaimOut, *, description: str | None, active: bool | None) -> ClaimOut:
        """PATCH /claims/{id}: by the claim's holders; the built-in claims keep their names, users:manage stays on,
        and the other three are switched only by an actor assigned all four (switching one off takes a feature
        away from everybody)."""
        subject = f"claim:{current.id}"
        detail = {k: v for k, v in (("description", description), ("active", active)) if v is not None}
        held = await self.users.assigned_claims(self.actor.id)
        error: AppError | None = None
        # Holding it counts even while it is inactive: otherwise a deactivated claim could never come back.
        if current.description not in held:
            error = forbidden(f"You cannot manage a claim you do not hold: {current.description}")
        elif current.description in BUILT_IN_CLAIMS:
            if description is not None and description != current.description:
                error = unprocessable("The claims the application checks by name cannot be renamed", key="description")
            elif current.description == MANAGE_USERS and active is False:
                error = unprocessable(f"{MANAGE_USERS} cannot be deactivated: nobody could manage users", key="active")
            elif current.description != MANAGE_USERS and active is not None and not held >= BUILT_IN_CLAIMS:
                error = forbidden(
                    f"Only an actor assigned all of {', '.join(sorted(BUILT_IN_CLAIMS))} switches a built-in claim"
                )
        if error is not None:
            raise await self.refuse("claim.update", subject, error, **detail)
        claim = await self.users.update_claim(current.id, description, active)
        if claim is None:
            raise conflict("A claim with this description already exists", key="description")
        await self.audit.record(
            self.actor.id, "claim.update", subject, description=claim.description, active=claim.active
        )
        return claim


def provide_authority(
    state: State, db: NamedDependency[AsyncConnection[Any]], caller: NamedDependency[Principal]
) -> Authority:
    return Authority(db, state.pool, caller, state.account_hooks)
