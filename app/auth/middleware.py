"""Resolves the caller before routing: `scope["user"]` is a Principal or None.

A browser sends the session cookie; an API client sends `Authorization: Bearer <token>`. Both name a row of
`sessions` by the token's hash. Requests without credentials never touch the database here.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import SESSION_COOKIE
from app.auth.repository import AuthRepository
from app.security import token_hash


def bearer_token(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value or None
    return None


def credentials(scope: Scope) -> tuple[str | None, bool]:
    """(token, came_from_cookie) of a request or socket handshake."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
    token = bearer_token(headers)
    if token:
        return token, False
    cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
    return cookie, cookie is not None


class AuthenticationMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope["user"] = None
        token, _ = credentials(scope)
        if token and len(token) <= 200:
            app: Any = scope["litestar_app"]
            async with app.state.pool.connection() as conn:
                scope["user"] = await AuthRepository(conn).session_principal(
                    token_hash(token), app.state.settings.session_idle_ttl
                )
        await next_app(scope, receive, send)
