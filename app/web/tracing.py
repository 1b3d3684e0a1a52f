"""The server span of each HTTP request (imported and installed only with TRACING=on; app/tracing.py has the
span table).

A `traceparent` (and `tracestate`, baggage) is continued only when the socket peer is one of TRUSTED_PROXIES: from
anyone else it would let a client pick our trace ids, or join its requests to another client's trace. Behind a
proxy that passes its clients' headers through, the proxy must drop or replace them (docs/operations.md, "Traces").
WebSockets get no request span (a socket lives for hours); their deliveries have `hub.deliver` spans.
"""

from __future__ import annotations

from collections.abc import Awaitable

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from app import tracing
from app.config import Settings
from app.web.client import is_trusted_proxy
from app.web.observability import loggable_path

_PROPAGATED = (b"traceparent", b"tracestate", b"baggage")


class TracingMiddleware:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, app: ASGIApp) -> ASGIApp:
        handle = self.handle

        def wrapped(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            if scope["type"] != "http":
                return app(scope, receive, send)
            return handle(scope, receive, send, app)

        return wrapped

    def _parent(self, scope: Scope) -> Context | None:
        peer = (scope.get("client") or ("", 0))[0]
        if not is_trusted_proxy(peer, self.settings):
            return None
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _PROPAGATED}
        return propagate.extract(carrier) if carrier else None

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        method = scope["method"]
        attributes = {
            "http.request.method": method,
            "url.path": loggable_path(scope["path"]),  # never the query: codes and tokens may travel there
            "url.scheme": scope.get("scheme", "http"),
            "network.peer.address": (scope.get("client") or ("", 0))[0],
        }
        with tracing.span(method, "server", attributes, context=self._parent(scope)) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                    for name, value in message.get("headers", ()):
                        if name == b"x-request-id":  # RequestContextMiddleware's, inside this one
                            span.set_attribute("app.request_id", value.decode("latin-1"))
                await send(message)

            try:
                await next_app(scope, receive, send_traced)
            finally:
                route = scope.get("path_template")  # set by the router once it matched
                if route:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
