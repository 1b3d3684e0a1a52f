"""What every WebSocket of the app gets from the platform, whatever area serves it: an honest answer when the
database is unavailable, and a 1001 close when the process is told to stop.

- Database unavailable. Litestar closes a socket whose handler raised with code 4500, which uvicorn turns into a
  bare HTTP 403 before the handshake, so a client would take an outage for a refusal and give up. Here a pool
  timeout or a lost database connection becomes, before accept, an HTTP 503 with the error envelope and
  `Retry-After` (the ASGI WebSocket Denial Response extension, which uvicorn supports), and after accept a close
  with 1013 (try again later). Other errors are logged with their traceback (Litestar does not log them).
- Going away. uvicorn's graceful shutdown lets in-flight HTTP requests finish, but closes WebSockets itself with
  1012 and only then runs the app's shutdown. Clients of this API reconnect on 1001 ("going away": another
  instance, resuming with `?since=`), so the close must come first and from us: when a stop signal arrives, each
  accepted socket is closed with 1001. uvicorn then puts the matching `websocket.disconnect` into the handler's
  receive queue, so every handler ends the usual way; what it still tries to send is dropped. The signal handler
  is chained in front of the server's own (uvicorn's), on the main thread only, and removed when the app stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from psycopg import OperationalError
from psycopg_pool import PoolTimeout

from app.web.errors import DATABASE_UNAVAILABLE, RETRY_AFTER, websocket_denial
from app.web.observability import loggable_path

log = logging.getLogger("app.sockets")

# Every close code the app's WebSockets send, in one place (uvicorn itself sends 1009 for a frame over
# MAX_WS_FRAME_BYTES). Clients resume with `?since=` after 1001 and 1013, and must log in again after 4401.
CLOSE_NORMAL = 1000  # the feed's subject is over (a finished auction)
CLOSE_GOING_AWAY = 1001  # this process is stopping: reconnect (to another one)
CLOSE_POLICY = 1008  # refused before accept where the server cannot answer with an HTTP status
CLOSE_TRY_AGAIN_LATER = 1013  # too slow a reader, or the database unavailable: reconnect shortly
CLOSE_SESSION_ENDED = 4401  # the session the feed needs ended or expired (docs/rules/realtime.md guarantee 7)
CLOSE_RIGHT_LOST = 4403  # the right that opened the feed was taken away (docs/rules/realtime.md guarantee 7)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_ERROR_KEY = "app.socket_error"


async def remember_socket_error(exc: Exception, scope: Scope) -> None:
    """Litestar `after_exception` hook: keep a WebSocket handler's exception for `SocketLifecycle` (and log the
    unexpected ones, which Litestar would swallow)."""
    if scope.get("type") != "websocket":
        return
    scope[_ERROR_KEY] = exc  # type: ignore[literal-required]
    if not isinstance(exc, PoolTimeout | OperationalError) and not hasattr(exc, "status_code"):
        log.error("unhandled error on WebSocket %s", loggable_path(scope.get("path", "")), exc_info=exc)


class _Socket:
    def __init__(self, scope: Scope, send: Send) -> None:
        self._scope = scope
        self._send = send
        self.accepted = False
        self.closed = False

    def _database_unavailable(self) -> bool:
        return isinstance(self._scope.get(_ERROR_KEY), PoolTimeout | OperationalError)

    async def send(self, message: Message) -> None:
        if self.closed:
            return  # closed by the shutdown: the handler learns it from its receive queue
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
        elif kind == "websocket.close":
            self.closed = True
            if self._database_unavailable():
                if self.accepted:
                    message = {"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": DATABASE_UNAVAILABLE}
                elif "websocket.http.response" in self._scope.get("extensions", {}):
                    await self._deny_503()
                    return
        await self._send(message)

    async def _deny_503(self) -> None:
        for message in websocket_denial(503, DATABASE_UNAVAILABLE, RETRY_AFTER):
            await self._send(message)  # type: ignore[arg-type]

    async def go_away(self) -> None:
        if self.accepted and not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):  # the client may be gone already
                await self._send({"type": "websocket.close", "code": CLOSE_GOING_AWAY, "reason": "shutting down"})


class SocketLifecycle:
    """ASGI wrapper: `app.asgi_handler = lifecycle(app.asgi_handler)`; `install_signal_handlers()` at start-up."""

    def __init__(self) -> None:
        self._sockets: set[_Socket] = set()
        self._tasks: set[asyncio.Task[int]] = set()

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def track(scope: Scope, receive: Receive, send: Send) -> None:
            tracked = _Socket(scope, send)
            self._sockets.add(tracked)
            try:
                await app(scope, receive, tracked.send)
            finally:
                self._sockets.discard(tracked)

        def handle(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            # HTTP goes straight to the app: returning its coroutine adds no frame to the request.
            return track(scope, receive, send) if scope["type"] == "websocket" else app(scope, receive, send)

        return handle

    async def close_all(self) -> int:
        """Close every accepted WebSocket with 1001; returns how many."""
        sockets = [s for s in self._sockets if s.accepted and not s.closed]
        for tracked in sockets:
            await tracked.go_away()
        if sockets:
            log.info("closed %d WebSocket(s) with 1001 (going away)", len(sockets))
        return len(sockets)

    def install_signal_handlers(self) -> Callable[[], None]:
        """Chain a handler for SIGTERM/SIGINT in front of the server's (uvicorn's); returns the undo. Nothing is
        chained when no server handles SIGTERM in this process (a test's in-process server, say)."""
        if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGTERM)):
            return lambda: None
        loop = asyncio.get_running_loop()
        previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(self._start_closing)
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)

        for signum in _STOP_SIGNALS:
            if callable(previous[signum]):
                signal.signal(signum, on_signal)

        def undo() -> None:
            for signum, handler in previous.items():
                if signal.getsignal(signum) is on_signal:
                    signal.signal(signum, handler)

        return undo

    def _start_closing(self) -> None:
        task = asyncio.get_running_loop().create_task(self.close_all())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
