"""Bounds on what one client holds open in a server process (issue 11, finding 15; docs/security.md).

- A request head must arrive whole within HEADER_TIMEOUT seconds of connecting, or of the end of the previous
  response on a kept-alive connection; otherwise the connection is closed. uvicorn 0.54 has no such timeout: its
  `timeout_keep_alive` starts only after a first response and is cancelled by any byte received, so a client
  that connects and trickles a header byte now and then (slowloris) holds its connection for ever. Hence a thin
  subclass of uvicorn's httptools protocol, which `app serve` runs (`http=` in app/cli.py).
- One client address holds at most MAX_CONNECTIONS_PER_CLIENT HTTP connections (that protocol again: it counts
  connections, which the app never sees), answered 429 with the error envelope and closed beyond that. The peer
  address is all a connection has, so a peer in TRUSTED_PROXIES (nginx in front) is not capped: its clients are
  capped by the proxy (docs/deploy.md) and, for WebSockets, here. A connection upgraded to a WebSocket leaves this
  count for the next one.
- One client holds at most MAX_SOCKETS_PER_CLIENT WebSockets, keyed on the resolved client address (X-Forwarded-For
  believed only from TRUSTED_PROXIES), refused before accept with 429 and the envelope. This one is ASGI
  middleware, so it holds in every server that runs the app.

Counts are per process (as the server's own resources are); 0 switches a cap or the timeout off (the benchmarks
do, loadtest/harness.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from typing import Any, ClassVar

import msgspec
from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, get_settings
from app.web.client import client_bucket, client_key, is_trusted_proxy
from app.web.errors import ErrorBody, websocket_denial

TOO_MANY_CONNECTIONS = "Too many open connections from this client; close one first"
TOO_MANY_SOCKETS = "Too many open WebSockets from this client; close one first"
RETRY_AFTER = "5"


def _too_many_connections_response() -> bytes:
    body = msgspec.json.encode(ErrorBody(status_code=429, detail=TOO_MANY_CONNECTIONS))
    head = (
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: {RETRY_AFTER}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the header timeout and the per-client connection cap (module docstring)."""

    _open: ClassVar[Counter[str]] = Counter()  # connections per peer address, in this process
    _refusal: ClassVar[bytes] = _too_many_connections_response()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()  # `app serve` builds the app from the same settings
        self._header_timeout = settings.header_timeout
        self._cap = settings.max_connections_per_client
        self._settings = settings
        self._head_timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if self._cap and address is not None and not is_trusted_proxy(address, self._settings):
            peer = client_bucket(address, self._settings)  # an IPv6 client owns its /64, like the rate limits
            if self._open[peer] >= self._cap:
                transport.write(self._refusal)
                transport.close()
                return
            self._open[peer] += 1
            self._counted = peer
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        self._uncount()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        idle = not self.pipeline  # no pipelined request waits: the next head is still to come
        super().on_response_complete()
        if idle and not self.transport.is_closing():
            self._wait_for_head()

    def handle_websocket_upgrade(self) -> None:
        self._uncount()  # from now on a WebSocket, counted by SocketsPerClient
        super().handle_websocket_upgrade()

    def _wait_for_head(self) -> None:
        if self._header_timeout > 0:
            self._head_arrived()
            self._head_timer = self.loop.call_later(self._header_timeout, self._head_timed_out)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _uncount(self) -> None:
        if self._counted is not None:
            self._open[self._counted] -= 1
            if self._open[self._counted] <= 0:
                del self._open[self._counted]
            self._counted = None


class SocketsPerClient:
    """ASGI wrapper: at most `max_sockets_per_client` open WebSockets per resolved client address."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.open: Counter[str] = Counter()

    def __call__(self, app: ASGIApp) -> ASGIApp:
        cap = self.settings.max_sockets_per_client
        if cap <= 0:
            return app

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            client = client_key(ASGIConnection(scope), self.settings)
            if self.open[client] >= cap:
                await receive()  # websocket.connect
                if "websocket.http.response" in scope.get("extensions", {}):
                    for message in websocket_denial(429, TOO_MANY_SOCKETS, {"Retry-After": RETRY_AFTER}):
                        await send(message)  # type: ignore[arg-type]
                else:
                    await send({"type": "websocket.close", "code": 1008, "reason": TOO_MANY_SOCKETS[:120]})
                return
            self.open[client] += 1
            try:
                await app(scope, receive, send)
            finally:
                self.open[client] -= 1
                if self.open[client] <= 0:
                    del self.open[client]

        def handle(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            # HTTP goes straight to the app: returning its coroutine adds no frame to the request.
            return guarded(scope, receive, send) if scope["type"] == "websocket" else app(scope, receive, send)

        return handle
