"""Routes of the users area: sign-up, user management, roles and claims, the caller's own account."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from psycopg import AsyncConnection

from app.areas import AccountHooks
from app.audit import AuditLog
from app.auth.claims import MANAGE_USERS
from app.auth.principal import Principal, claim_required, login_required
from app.auth.service import end_sessions
from app.security import Passwords
from app.users import authority as rules
from app.users import service
from app.users.authority import Authority, provide_authority
from app.users.repository import LastAdministrator, UsersRepository
from app.users.schemas import (
    ClaimOut,
    CreateClaim,
    CreatedUser,
    CreateRole,
    CreateUser,
    DbId,
    DeleteAccount,
    RoleOut,
    SignupResult,
    SignupUser,
    UpdateClaim,
    UpdateUser,
    UserOut,
    UserRole,
)
from app.web.errors import AppError, Refusal, conflict, forbidden, invalid_field, not_found, refuses
from app.web.idempotency import KEY_REUSED, idempotent
from app.web.pagination import Cursor, Limit, Page, decode_cursor, page_of
from app.web.ratelimit import ANONYMOUS_CREATE, RateLimiter

_Found = TypeVar("_Found")


def provide_users(db: NamedDependency[AsyncConnection[Any]]) -> UsersRepository:
    return UsersRepository(db)


async def _visible(caller: Principal, user_id: UUID, read: Callable[[UUID], Awaitable[_Found | None]]) -> _Found:
    """`read`'s row of the user (no more than the route needs), for self or users:manage; else a 404 as if unknown."""
    if caller.id != user_id and not caller.has(MANAGE_USERS):
        raise not_found("User not found")
    found = await read(user_id)
    if found is None:
        raise not_found("User not found")
    return found


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    dependencies = {
        "users": Provide(provide_users, sync_to_thread=False),
        "authority": Provide(provide_authority, sync_to_thread=False),
    }

    @post("/signupuser", status_code=HTTP_201_CREATED, summary="Sign up (Gobid)")
    @refuses(service.EMAIL_TAKEN, KEY_REUSED)
    async def signup_user(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignupUser],
        users: NamedDependency[UsersRepository],
        passwords: NamedDependency[Passwords],
        rate_limiter: NamedDependency[RateLimiter],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[SignupResult]:
        await rate_limiter.hit_address(ANONYMOUS_CREATE, request)

        async def create() -> Response[SignupResult]:
            user_id, _ = await service.create_account(
                users, passwords, email=data.email, password=data.password, name=data.user_name, bio=data.bio
            )
            return Response(SignupResult(user_id=user_id), status_code=HTTP_201_CREATED)

        return await idempotent(request, db, create)

    # The alias answers as /signupuser does (the same function); it stays out of the OpenAPI document, so a
    # generated client gets one operation per action (docs/rules/README.md, "Operation ids").
    signup_user_alias = post(
        "/signup", status_code=HTTP_201_CREATED, summary="Sign up (alias of /signupuser)", include_in_schema=False
    )(signup_user.fn)

    @post("/", status_code=HTTP_201_CREATED, summary="Create a user (PillTrackr, Shipay)")
    @refuses(service.EMAIL_TAKEN, KEY_REUSED, service.ROLE_NOT_GRANTABLE)
    async def create_user(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateUser],
        users: NamedDependency[UsersRepository],
        passwords: NamedDependency[Passwords],
        maybe_caller: NamedDependency[Principal | None],
        rate_limiter: NamedDependency[RateLimiter],
        db: NamedDependency[AsyncConnection[Any]],
    ) -> Response[CreatedUser]:
        if data.role_id is not None:
            await service.ensure_role_grantable(users, maybe_caller, data.role_id)
        if maybe_caller is None:
            await rate_limiter.hit_address(ANONYMOUS_CREATE, request)
        if data.password and len(data.password) < 8:
            raise invalid_field("password", "Expected `str` of length >= 8")

        async def create() -> Response[CreatedUser]:
            user_id, generated = await service.create_account(
                users, passwords, email=data.email, password=data.password, name=data.name, role_id=data.role_id
            )
            if data.role_id is not None and maybe_caller is not None:
                await AuditLog(db).record(maybe_caller.id, "role.grant", f"user:{user_id}", role_id=data.role_id)
            user = await users.user_view(user_id)
            assert user is not None
            body = CreatedUser(**{f: getattr(user, f) for f in user.__struct_fields__}, generated_password=generated)
            return Response(body, status_code=HTTP_201_CREATED, headers={"Location": f"/api/v1/users/{user_id}"})

        return await idempotent(request, db, create)

    @get("/", guards=[claim_required(MANAGE_USERS)], summary="Users with their role and claims")
    async def list_users(
        self,
        users: NamedDependency[UsersRepository],
        limit: Limit = 50,
        cursor: Cursor = None,
        role_id: Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)] = None,
    ) -> Page[UserOut]:
        after = decode_cursor(cursor, (datetime, UUID))
        rows = await users.list_users(role_id=role_id, after=after, limit=limit)  # type: ignore[arg-type]
        return page_of(rows, limit, lambda u: (u.created_at.isoformat(), str(u.id)))

    @get("/me", guards=[login_required], summary="The caller, with role and effective claims")
    async def get_me(self, users: NamedDependency[UsersRepository], caller: NamedDependency[Principal]) -> UserOut:
        return await _visible(caller, caller.id, users.user_view)

    @get("/me/export", guards=[login_required], summary="Everything stored about the caller (LGPD)")
    async def export_user(
        self, users: NamedDependency[UsersRepository], caller: NamedDependency[Principal]
    ) -> dict[str, Any]:
        return await users.export_user(caller.id)

    @delete(
        "/me",
        guards=[login_required],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete (deactivate and anonymize) the caller's account",
    )
    @refuses(service.WRONG_PASSWORD, service.ACCOUNT_IN_USE, rules.LAST_ADMIN)
    async def delete_me(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[DeleteAccount],
        users: NamedDependency[UsersRepository],
        passwords: NamedDependency[Passwords],
        caller: NamedDependency[Principal],
        rate_limiter: NamedDependency[RateLimiter],
        authority: NamedDependency[Authority],
        db: NamedDependency[AsyncConnection[Any]],
        account_hooks: NamedDependency[AccountHooks],
    ) -> None:
        # Limited like a login: a stolen session must not become a way to guess the password.
        async with rate_limiter.password_check(request, str(caller.id)):
            matches, _ = await passwords.verify(await users.password_hash(caller.id), data.password)
            if not matches:
                raise AppError(403, "The password is not correct")
        try:
            await service.delete_account(db, account_hooks, caller.id)  # 409 while leading or selling
        except LastAdministrator:
            raise await authority.last_administrator("user.delete", f"user:{caller.id}") from None
        await AuditLog(db).record(caller.id, "user.delete", f"user:{caller.id}")

    @delete(
        "/{user_id:uuid}",
        guards=[login_required],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete (deactivate and anonymize) a user (users:manage, with authority over the account)",
    )
    @refuses(rules.NO_AUTHORITY, rules.STATE_REFUSED, service.ACCOUNT_IN_USE, rules.LAST_ADMIN)
    async def delete_user(
        self,
        user_id: FromPath[UUID],
        users: NamedDependency[UsersRepository],
        caller: NamedDependency[Principal],
        authority: NamedDependency[Authority],
    ) -> None:
        await _visible(caller, user_id, users.account_state)
        await authority.delete(user_id)

    @get("/{user_id:uuid}", guards=[login_required], summary="One user (self or users:manage)")
    async def get_user(
        self, user_id: FromPath[UUID], users: NamedDependency[UsersRepository], caller: NamedDependency[Principal]
    ) -> UserOut:
        return await _visible(caller, user_id, users.user_view)

    @get("/{user_id:uuid}/role", guards=[login_required], summary="The role of a user (Shipay)")
    async def get_role(
        self, user_id: FromPath[UUID], users: NamedDependency[UsersRepository], caller: NamedDependency[Principal]
    ) -> UserRole:
        return await _visible(caller, user_id, users.user_role)

    @patch("/{user_id:uuid}", guards=[login_required], summary="Update a user")
    @refuses(rules.NOT_OWNER, rules.NO_AUTHORITY, rules.STATE_REFUSED, rules.LAST_ADMIN)
    async def update_user(
        self,
        request: Request[Any, Any, Any],
        user_id: FromPath[UUID],
        data: JSONBody[UpdateUser],
        users: NamedDependency[UsersRepository],
        passwords: NamedDependency[Passwords],
        caller: NamedDependency[Principal],
        rate_limiter: NamedDependency[RateLimiter],
        authority: NamedDependency[Authority],
        db: NamedDependency[AsyncConnection[Any]],
        account_hooks: NamedDependency[AccountHooks],
    ) -> UserOut:
        await _visible(caller, user_id, users.account_state)
        if caller.id != user_id and (data.name, data.bio, data.password) != (None, None, None):
            error = forbidden("Only the account's owner can change its name, bio or password")
            raise await authority.refuse("user.update", f"user:{user_id}", error)
        if data.role_id is not None or data.active is not None:
            await authority.change_role_and_state(user_id, role_id=data.role_id, active=data.active)
        new_hash = None
        if data.password is not None:
            async with rate_limiter.password_check(request, str(user_id)):  # limited like a login
                matches, _ = await passwords.verify(await users.password_hash(user_id), data.current_password or "")
                if not matches:
                    raise invalid_field("current_password", "The current password is not correct")
            new_hash = await passwords.hash(data.password)
            await end_sessions(db, account_hooks, user_id=user_id)
        await users.update_profile(user_id, name=data.name, bio=data.bio, password_hash=new_hash)
        user = await users.user_view(user_id)
        assert user is not None
        return user

    @put(
        "/{user_id:uuid}/claims/{claim_id:int}",
        guards=[claim_required(MANAGE_USERS)],
        status_code=HTTP_204_NO_CONTENT,
        summary="Grant a claim (idempotent)",
    )
    @refuses(rules.NO_AUTHORITY)
    async def grant_claim(
        self,
        user_id: FromPath[UUID],
        claim_id: FromPath[int],
        users: NamedDependency[UsersRepository],
        authority: NamedDependency[Authority],
    ) -> None:
        claim = await users.claim_view(claim_id)
        if claim is None:
            raise not_found("User or claim not found")
        await authority.change_claim(user_id, claim, grant=True)

    @delete(
        "/{user_id:uuid}/claims/{claim_id:int}",
        guards=[claim_required(MANAGE_USERS)],
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke a claim (idempotent)",
    )
    @refuses(rules.NO_AUTHORITY)
    async def revoke_claim(
        self,
        user_id: FromPath[UUID],
        claim_id: FromPath[int],
        users: NamedDependency[UsersRepository],
        authority: NamedDependency[Authority],
    ) -> None:
        claim = await users.claim_view(claim_id)
        if claim is None:
            raise not_found("User or claim not found")
        await authority.change_claim(user_id, claim, grant=False)


class RolesController(Controller):
    path = "/api/v1"
    tags = ["roles and claims"]
    guards = [claim_required(MANAGE_USERS)]
    dependencies = {
        "users": Provide(provide_users, sync_to_thread=False),
        "authority": Provide(provide_authority, sync_to_thread=False),
    }

    @get("/roles", summary="Roles with their default claims")
    async def list_roles(
        self, users: NamedDependency[UsersRepository], limit: Limit = 50, cursor: Cursor = None
    ) -> Page[RoleOut]:
        after = decode_cursor(cursor, (DbId,))  # bounded: the id is cast to integer in SQL
        rows = await users.list_roles(after_id=after[0] if after else None, limit=limit)
        return page_of(rows, limit, lambda role: (role.id,))

    @post("/roles", status_code=HTTP_201_CREATED, summary="Create a role")
    @refuses(service.ROLE_NOT_GRANTABLE, Refusal(409, "a role with this description already exists"))
    async def create_role(
        self, data: JSONBody[CreateRole], users: NamedDependency[UsersRepository], caller: NamedDependency[Principal]
    ) -> RoleOut:
        claims = await users.claims_by_ids(sorted(set(data.claim_ids)))
        unknown = sorted(set(data.claim_ids) - {c.id for c in claims})
        if unknown:
            raise invalid_field("claim_ids", f"Unknown claims: {', '.join(map(str, unknown))}")
        service.ensure_can_grant(caller, {c.description for c in claims})
        role = await users.create_role(data.description, [c.id for c in claims])
        if role is None:
            raise conflict("A role with this description already exists", key="description")
        await AuditLog(users.conn).record(caller.id, "role.create", f"role:{role.id}", claims=role.claims)
        return role

    @get("/claims", summary="Claims")
    async def list_claims(
        self, users: NamedDependency[UsersRepository], limit: Limit = 50, cursor: Cursor = None
    ) -> Page[ClaimOut]:
        after = decode_cursor(cursor, (DbId,))  # bounded: the id is cast to integer in SQL
        rows = await users.list_claims(after_id=after[0] if after else None, limit=limit)
        return page_of(rows, limit, lambda claim: (claim.id,))

    @post("/claims", status_code=HTTP_201_CREATED, summary="Create a claim")
    @refuses(rules.CLAIM_TAKEN)
    async def create_claim(
        self, data: JSONBody[CreateClaim], users: NamedDependency[UsersRepository], caller: NamedDependency[Principal]
    ) -> ClaimOut:
        claim = await users.create_claim(data.description, data.active)
        if claim is None:
            raise conflict("A claim with this description already exists", key="description")
        await AuditLog(users.conn).record(caller.id, "claim.create", f"claim:{claim.id}", description=claim.description)
        return claim

    @patch("/claims/{claim_id:int}", summary="Rename, activate or deactivate a claim")
    @refuses(rules.CLAIM_TAKEN, rules.CLAIM_REFUSED, rules.CLAIM_BUILT_IN)
    async def update_claim(
        self,
        claim_id: FromPath[int],
        data: JSONBody[UpdateClaim],
        users: NamedDependency[UsersRepository],
        authority: NamedDependency[Authority],
    ) -> ClaimOut:
        current = await users.claim_view(claim_id)
        if current is None:
            raise not_found("Claim not found")
        return await authority.update_claim(current, description=data.description, active=data.active)
