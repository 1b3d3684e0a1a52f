"""WebSocket plumbing for live feeds: refusing an upgrade with an HTTP status, and pumping a subscription into
a socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from app.realtime.hub import Dropped, Subscription
from app.realtime.repository import Event
from app.web.errors import websocket_denial
from app.web.sockets import CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TRY_AGAIN_LATER

_encode = msgspec.json.Encoder(decimal_format="number").encode


async def deny(socket: WebSocket[Any, Any, Any], status_code: int, detail: str) -> None:
    """Refuse the upgrade before accept with an HTTP status (the ASGI WebSocket Denial Response extension,
    which uvicorn supports); where the server lacks it, a close before accept (the client sees 403)."""
    if "websocket.http.response" in socket.scope.get("extensions", {}):
        for message in websocket_denial(status_code, detail):
            await socket.send(message)  # type: ignore[arg-type]
    else:
        await socket.close(code=CLOSE_POLICY, reason=detail[:120])


async def send_json(socket: WebSocket[Any, Any, Any], message: Any) -> None:
    await socket.send_data(_encode(message).decode(), mode="text")


async def pump(
    socket: WebSocket[Any, Any, Any],
    subscription: Subscription,
    render: Callable[[Event], dict[str, Any] | str | None],
    *,
    final: Callable[[Event], bool] | None = None,
) -> None:
    """Send the subscription's events (rendered for this socket) and replies, in order, until the socket goes
    away or the subscription is dropped for being too slow (close 1013: reconnect with ?since=).

    `render` returns the dict to send, or an already encoded JSON text (so that many sockets can share one
    encoding of an event), or None to skip the event. When `final(event)` is true for an event just sent, the
    socket is closed normally (1000) after it and the pump returns (a finished auction, say)."""
    current = asyncio.current_task()

    def on_drop() -> None:
        # The pump may be blocked writing to a client that does not read: stop it; it then closes the socket.
        if current is not None:
            current.cancel()

    subscription.on_drop = on_drop
    with contextlib.suppress(Dropped, WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        async for item in subscription:
            message = render(item) if isinstance(item, Event) else item
            if message is None:
                continue
            if isinstance(message, str):
                await socket.send_data(message, mode="text")
            else:
                await send_json(socket, message)
            if final is not None and isinstance(item, Event) and final(item):
                subscription.on_drop = None
                await close(socket, CLOSE_NORMAL, "")
                return
    if subscription.dropped:
        await close(socket, CLOSE_TRY_AGAIN_LATER, "too slow; resume with since")


async def close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    """Close, whatever state the client left the socket in."""
    with contextlib.suppress(Exception):
        await socket.close(code=code, reason=reason)
