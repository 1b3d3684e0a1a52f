"""Who is calling: resolved once per request (or socket) from the session cookie or the bearer token."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope

from app.web.errors import Refusal, forbidden, refuses

SESSION_COOKIE = "session"
NOT_LOGGED_IN = Refusal(401, "no credentials, or the session or token expired or was revoked")


class Principal(msgspec.Struct, frozen=True):
    id: UUID
    email: str
    name: str | None
    role_id: int
    role_description: str
    session_kind: str  # 'cookie' | 'bearer'
    claims: frozenset[str]
    # The SHA-256 of the session's token: what a long-lived socket re-checks its session by, and what a bid's
    # transaction checks (docs/rules/realtime.md guarantee 7). Never part of a response.
    session_hash: bytes

    def has(self, claim: str) -> bool:
        return claim in self.claims


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return connection.scope.get("user")


def require_user(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    user = current_user(connection)
    if user is None:
        raise NotAuthorizedException("Authentication required")
    return user


# Guards are coroutines on purpose: Litestar runs a plain-function guard in a worker thread (anyio's
# to_thread), which cost ~9 % of the server's CPU per bid in the profile (docs/performance.md).


@refuses(NOT_LOGGED_IN)
async def login_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any logged-in user."""
    require_user(connection)


def claim_required(claim: str):  # type: ignore[no-untyped-def]
    """Guard factory: a logged-in user holding `claim`."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not require_user(connection).has(claim):
            raise forbidden(f"Requires the {claim!r} claim")

    guard.__name__ = f"requires_{claim.replace(':', '_')}"
    return refuses(NOT_LOGGED_IN, Refusal(403, f"the caller lacks the {claim!r} claim"))(guard)


@refuses(NOT_LOGGED_IN)
def provide_user(scope: Scope) -> Principal:
    """Dependency for handlers behind login_required (HTTP and WebSocket alike)."""
    user = scope.get("user")
    if user is None:
        raise NotAuthorizedException("Authentication required")
    return user


def provide_optional_user(scope: Scope) -> Principal | None:
    return scope.get("user")
