"""CSRF for cookie sessions, and the refusal of cross-site browser requests.

Any unsafe request that carries the session cookie (valid, expired or unknown) must send the token from
`GET /api/v1/csrftoken` in `X-CSRF-Token`, equal to the `csrftoken` cookie (`__Host-csrftoken` when cookies are
Secure) and signed by us. The token does not
depend on the session, so csrftoken -> loginuser (which rotates the session) -> protected call keeps working.
Requests without the cookie (bearer or anonymous) need no token: a browser cannot be tricked into sending a
bearer header. Litestar's CSRFConfig cannot express "only when the cookie is present", hence this middleware.

Independently, an unsafe request whose `Origin` is not allowed, or that a browser marks `Sec-Fetch-Site:
cross-site`, is refused; so is a WebSocket upgrade from a foreign Origin (see `origin_allowed`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth.middleware import credentials
from app.config import Settings
from app.security import cookie_name, sign, unsign
from app.web.errors import Refusal, forbidden

CSRF_COOKIE = "csrftoken"  # "__Host-csrftoken" when cookies are Secure: see csrf_cookie_name
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# What any unsafe request can be refused with here (in the OpenAPI document of every unsafe operation).
CROSS_SITE_OR_NO_CSRF_TOKEN = Refusal(
    403, "a cross-site request (foreign Origin), or the session cookie without the X-CSRF-Token of its csrftoken"
)


def csrf_cookie_name(settings: Settings) -> str:
    """With Secure cookies the `__Host-` prefix: a sibling subdomain or a plain-http page cannot plant a token
    cookie of its own choosing (the attack that double-submit tokens unbound to the session are open to)."""
    return cookie_name(settings, CSRF_COOKIE)


def new_csrf_token(settings: Settings) -> str:
    return sign(settings.secret_key, "csrf:" + secrets.token_urlsafe(24))


def csrf_token_valid(settings: Settings, token: str | None) -> bool:
    return bool(token) and (unsign(settings.secret_key, token or "") or "").startswith("csrf:")


def origin_allowed(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> bool:
    """No Origin (a non-browser client) is fine; otherwise it must be allowed: ALLOWED_ORIGINS when set, else the
    server's own origin (the Host the browser talked to)."""
    # Read from the raw headers: `connection.headers` would build (and keep in the scope for the connection's
    # life) a multidict of every header, ~1.7 KiB per open WebSocket.
    origin = host = None
    for key, value in connection.scope["headers"]:
        if key == b"origin":
            origin = value.decode("latin-1")
        elif key == b"host":
            host = value.decode("latin-1")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if settings.allowed_origins:
        return origin in settings.allowed_origins
    return urlsplit(origin).netloc == (host or "")


class CSRFMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __call__(self, app: ASGIApp) -> ASGIApp:
        # Safe methods (most requests) go straight through, without ASGIMiddleware's per-request checks.
        handle = self.handle

        def wrapped(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            # Returns the next coroutine rather than awaiting it: no frame of ours held per open WebSocket.
            if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
                return handle(scope, receive, send, app)
            return app(scope, receive, send)

        return wrapped

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["method"] not in SAFE_METHODS:
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            settings: Settings = connection.app.state.settings
            if connection.headers.get("sec-fetch-site") == "cross-site" or not origin_allowed(connection, settings):
                raise forbidden("Cross-site request refused")
            _, from_cookie = credentials(scope)
            if from_cookie:
                header = connection.headers.get(CSRF_HEADER)
                cookie = connection.cookies.get(csrf_cookie_name(settings))
                if not (
                    header
                    and cookie
                    and hmac.compare_digest(header.encode(), cookie.encode())
                    and csrf_token_valid(settings, header)
                ):
                    raise forbidden(
                        "CSRF token missing or invalid: send the token of GET /api/v1/csrftoken "
                        "in the X-CSRF-Token header"
                    )
        await next_app(scope, receive, send)
