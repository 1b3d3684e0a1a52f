"""Security headers on every response; a content security policy for pages; HSTS when HTTPS is configured."""

from __future__ import annotations

from collections.abc import Awaitable

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_PAGE_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The OpenAPI UI page is Litestar's, with an inline bootstrap script.
_DOCS_POLICY = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]


class SecurityHeadersMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, https: bool) -> None:
        self.https = https

    def __call__(self, app: ASGIApp) -> ASGIApp:
        # Wraps the whole app, so ASGIMiddleware's per-request exclusion checks have nothing to exclude: a plain
        # wrapper is one call layer less on every request (docs/performance.md, profile).
        handle = self.handle

        def wrapped(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            # Returns the next coroutine instead of awaiting it: no frame of ours stays alive for the life of
            # a WebSocket (idle sockets' memory is a benchmark target).
            if scope["type"] == "http":
                return handle(scope, receive, send, app)
            return app(scope, receive, send)

        return wrapped

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        docs = scope["path"].startswith("/schema")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *_ALWAYS]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", _DOCS_POLICY if docs else _PAGE_POLICY))
                if self.https:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_headers)
