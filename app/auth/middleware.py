"""Resolves the caller before routing: `scope["user"]` is a Principal or None.

A browser sends the session cookie; an API client sends `Authorization: Bearer <token>`. Both name a row of
`sessions` by the token's hash. Requests without credentials never touch the database here.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.principal import SESSION_COOKIE
from app.auth.repository import AuthRepository
from app.db.pool import SHARED_CONNECTION, LentConnection, keeps_connection
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
    # One pass over the raw headers (the last of a repeated header wins), decoding only the two that matter:
    # this runs on every request.
    authorization = cookie_header = b""
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            authorization = value
        elif key == b"cookie":
            cookie_header = value
    token = bearer_token({"authorization": authorization.decode("latin-1")}) if authorization else None
    if token:
        return token, False
    cookie = _cookie(cookie_header.decode("latin-1"), SESSION_COOKIE) if cookie_header else None
    return cookie, cookie is not None


class AuthenticationMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __call__(self, app: ASGIApp) -> ASGIApp:
        # Nothing is excluded from it, so ASGIMiddleware's per-request exclusion checks are skipped: one call
        # layer less on every request (docs/performance.md, profile).
        handle = self.handle

        def wrapped(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            return handle(scope, receive, send, app)

        return wrapped

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope["user"] = None
        token, _ = credentials(scope)
        if not token or len(token) > 200:
            await next_app(scope, receive, send)
            return
        app: Any = scope["litestar_app"]
        lent = await LentConnection.borrow(app.state.pool)
        try:
            scope["user"] = await AuthRepository(lent.conn).session_principal(
                token_hash(token), app.state.settings.session_idle_ttl
            )
            if not keeps_connection(scope):
                await lent.release()
                await next_app(scope, receive, send)
                return
            # The read's own statements run on this connection (provide_db): one pool checkout per authenticated
            # read instead of two (docs/performance.md, "Cost of authentication"). Given back at the latest when
            # the response starts, for handlers that do not take it.
            scope[SHARED_CONNECTION] = lent

            async def send_releasing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await lent.release()
                await send(message)

            await next_app(scope, receive, send_releasing)
        finally:
            await lent.release()
