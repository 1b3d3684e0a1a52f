"""The live-feed protocol, written once: every WebSocket feed (an auction, a clinic's display and queue) is a
`Feed` served by `serve_feed`, which does, in this order:

1. Refusals before accept, each an HTTP status with the error envelope: a foreign Origin (403), a bad
   `?since=` (400), the feed's own parameters (`make_feed` raises `Refused`), anonymous on a feed that needs a
   session (401).
2. Subscribe to the topic, BEFORE reading anything: an event committed after the read is then queued on the
   subscription, and one the read already reflects is skipped by its seq. (Subscribing after the read would
   leave a window in which an event is neither in the snapshot nor delivered until the next event fills the gap.)
3. Read, still before accept, so that an unknown resource or a lost right is a 404 and an unavailable database
   a 503 (app/web/sockets.py): with `?since=N` the events after N, then `Feed.start` (existence, access, and
   the snapshot when there is no replay, stamped with its seq; `reset: true` when N could not be replayed).
4. Accept; send the snapshot or the replay. A feed whose subject is already over sends its final message and
   closes normally (1000).
5. Pump the topic's events and the replies in order; hand each inbound frame to `Feed.receive`.
6. Rights are live (docs/rules/realtime.md guarantee 7): a socket with a session registers with the process's
   RightsWatch (app/realtime/rights.py), so `LiveSocket.principal` is the session's principal *now*. When the
   session ends or the right goes, a feed that needs them (Rights.REQUIRED) is closed with 4401 (session ended)
   or 4403 (right lost) and receives nothing more; a public feed (Rights.OPTIONAL) stays open as an anonymous
   watcher.

Refusal texts are the same on every feed (the constants below).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from psycopg import AsyncConnection

from app.auth.csrf import origin_allowed
from app.auth.principal import Principal
from app.realtime.hub import Hub, Subscription
from app.realtime.repository import Event
from app.realtime.rights import Holder, RightCheck, RightsWatch, Standing
from app.realtime.sockets import close, deny, pump, send_json
from app.web.sockets import CLOSE_NORMAL, CLOSE_RIGHT_LOST, CLOSE_SESSION_ENDED

FOREIGN_ORIGIN = "WebSocket from a foreign Origin refused"
BAD_SINCE = "since must be a whole number >= 0 (the seq of the last event received)"
LOGIN_REQUIRED = "Authentication required"
READ_ONLY = "This feed is read-only"
SESSION_ENDED = "Your session has ended: log in again"
RIGHT_LOST = "You no longer have access to this feed"

_CLOSES = {
    Standing.SESSION_ENDED: (CLOSE_SESSION_ENDED, SESSION_ENDED),
    Standing.RIGHT_LOST: (CLOSE_RIGHT_LOST, RIGHT_LOST),
}


class Refused(Exception):
    """Refuse the upgrade with this HTTP status (before accept)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class Rights(enum.Enum):
    IGNORED = "ignored"  # the feed does not care who watches (the TV display)
    OPTIONAL = "optional"  # anyone watches; a session adds rights (bidding) that go when the session goes
    REQUIRED = "required"  # a session and a right are needed; losing either closes the socket (4401/4403)


@dataclass
class Start:
    """What a feed reads before accept: its snapshot (None when a replay replaces it) stamped with `seq`, and its
    final message when its subject is already over."""

    seq: int
    snapshot: dict[str, Any] | None = None
    final: dict[str, Any] | None = None


class LiveSocket:
    """One accepted feed socket, as the feed sees it."""

    def __init__(self, socket: WebSocket[Any, Any, Any], subscription: Subscription) -> None:
        self.socket = socket
        self.subscription = subscription
        self.holder: Holder | None = None

    @property
    def principal(self) -> Principal | None:
        """Whom the socket acts for now: None when anonymous, or once its session ended."""
        return self.holder.principal if self.holder is not None else None

    @property
    def session_ended(self) -> bool:
        return self.holder is not None and self.holder.principal is None

    def reply(self, message: dict[str, Any]) -> None:
        """A message that is not an event (a refusal, an error), sent in order with the events."""
        self.subscription.reply(message)


class Feed:
    """One kind of live feed: its topic, what it reads before accept, how it renders an event, and what it does
    with a client's frame."""

    rights: ClassVar[Rights] = Rights.IGNORED
    # For Rights.REQUIRED: the right beyond a live session, checked for many sockets at once; `subject` is what
    # it is about (a clinic's id).
    right: ClassVar[RightCheck | None] = None
    subject: Any = None

    def __init__(self, topic: str) -> None:
        self.topic = topic

    async def start(self, conn: AsyncConnection[Any], principal: Principal | None, *, snapshot: bool) -> Start:
        """Check that the feed exists and the caller may watch it (raise Refused), and read the snapshot when
        `snapshot` (else only the seq is needed, or nothing: return Start(seq=0))."""
        raise NotImplementedError

    def render(self, event: Event, live: LiveSocket) -> dict[str, Any] | str | None:
        """The event as this socket sees it (an encoded text may be shared by many sockets); None skips it."""
        return {**event.payload, "seq": event.seq}

    def is_final(self, event: Event) -> bool:
        """Whether the socket closes normally after this event (the end of an auction)."""
        return False

    async def receive(self, raw: str, live: LiveSocket) -> None:
        live.reply({"type": "error", "detail": READ_ONLY})


def parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Refused(400, BAD_SINCE)
    return int(raw)


async def serve_feed(socket: WebSocket[Any, Any, Any], make_feed: Callable[[WebSocket[Any, Any, Any]], Feed]) -> None:
    """Serve one feed socket from handshake to close (see the module's docstring for the order)."""
    app = socket.app
    principal: Principal | None = socket.scope.get("user")
    try:
        if not origin_allowed(socket, app.state.settings):
            raise Refused(403, FOREIGN_ORIGIN)
        since = parse_since(socket.query_params.get("since"))
        feed = make_feed(socket)
        if feed.rights is Rights.REQUIRED and principal is None:
            raise Refused(401, LOGIN_REQUIRED)
    except Refused as refused:
        await deny(socket, refused.status_code, refused.detail)
        return
    hub: Hub = app.state.hub
    subscription = hub.subscribe(feed.topic)
    try:
        live = await _open(socket, feed, subscription, principal, since)
        if live is not None:
            await _serve(live, feed, principal, app.state.rights)
    finally:
        hub.unsubscribe(subscription)


async def _open(
    socket: WebSocket[Any, Any, Any],
    feed: Feed,
    subscription: Subscription,
    principal: Principal | None,
    since: int | None,
) -> LiveSocket | None:
    """Steps 3 and 4: None when the socket is done already (refused, closed, or gone)."""
    hub: Hub = socket.app.state.hub
    live = LiveSocket(socket, subscription)
    replayed = await hub.replay(feed.topic, since) if since is not None else None
    try:
        async with socket.app.state.pool.connection() as conn:
            start = await feed.start(conn, principal, snapshot=replayed is None)
    except Refused as refused:
        await deny(socket, refused.status_code, refused.detail)
        return None
    try:
        await socket.accept()
        finish_sent = False
        if replayed is None:
            assert start.snapshot is not None
            await send_json(socket, start.snapshot | ({"reset": True} if since is not None else {}))
            subscription.last_seq = start.seq
        else:
            for event in replayed:
                message = feed.render(event, live)
                if message is not None:
                    await _send(socket, message)
                finish_sent = finish_sent or feed.is_final(event)
            subscription.last_seq = replayed[-1].seq if replayed else since or 0
        if start.final is not None:
            if not finish_sent:
                await send_json(socket, start.final)
            await close(socket, CLOSE_NORMAL, "")
            return None
    except (WebSocketDisconnect, OSError, RuntimeError):
        return None  # the client went away while we were starting
    return live


async def _send(socket: WebSocket[Any, Any, Any], message: dict[str, Any] | str) -> None:
    if isinstance(message, str):
        await socket.send_data(message, mode="text")
    else:
        await send_json(socket, message)


async def _serve(live: LiveSocket, feed: Feed, principal: Principal | None, watch: RightsWatch) -> None:
    """Step 5 and 6: pump events, read frames, follow the socket's rights, until one of them ends it."""
    lost: asyncio.Future[Standing] = asyncio.get_running_loop().create_future()

    def on_change(standing: Standing) -> None:
        if standing is not Standing.LIVE and feed.rights is Rights.REQUIRED and not lost.done():
            lost.set_result(standing)

    if principal is not None and feed.rights is not Rights.IGNORED:
        live.holder = Holder(
            principal,
            on_change,
            right=feed.right,
            subject=feed.subject,
            in_use=feed.rights is Rights.REQUIRED,
        )
        watch.add(live.holder)

    async def frames() -> None:
        async for raw in live.socket.iter_data("text"):
            await feed.receive(raw, live)

    tasks = [
        asyncio.create_task(pump(live.socket, live.subscription, lambda e: feed.render(e, live), final=feed.is_final)),
        asyncio.create_task(frames()),
    ]
    try:
        await asyncio.wait([*tasks, lost], return_when=asyncio.FIRST_COMPLETED)
    finally:
        if live.holder is not None:
            watch.remove(live.holder)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if lost.done():
        await close(live.socket, *_CLOSES[lost.result()])
